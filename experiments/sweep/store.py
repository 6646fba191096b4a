"""A sweep folder's results: the journal of finished lessons and the table rebuilt from it.

``journal.jsonl`` gets one JSON row per finished lesson, appended at once; ``results.parquet`` (with a copy
``results.csv``) is the table of every row in run order, rewritten atomically now and then and at the end;
``sweep.json`` records which sweep the folder holds.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from vclass.config import ConfigError
from vclass.experiments.sweep.spec import MEASURES, RUN_COLUMNS
from vclass.io import atomic_write_bytes, atomic_write_text

RESULTS = "results.parquet"
RESULTS_CSV = "results.csv"
JOURNAL = "journal.jsonl"
SWEEP_META = "sweep.json"
STRING_COLUMNS = ("run_id", "cell", "policy", "policy_name", "status", "error")
SNAPSHOT_MIN_SECONDS = 5.0  # rewrite the table at most this often ...
SNAPSHOT_COST_FACTOR = 10.0  # ... and no more often than 10x the last rewrite took (bounds the cost to ~10%)


def read_journal(path: Path, truncate_partial: bool = False) -> list[dict[str, Any]]:
    """Rows of a journal, first occurrence of each run kept; a last line without its newline is dropped
    (and cut from the file with ``truncate_partial``, so appends start on a fresh line)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if truncate_partial and end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
    rows, seen = [], set()
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            continue  # only a torn write can produce this, and the run it held runs again
        if row.get("run_id") not in seen:
            seen.add(row.get("run_id"))
            rows.append(row)
    return rows


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Column order: run identity, conditions, policy and status, then the measures."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    conditions = [k for k in seen if k not in RUN_COLUMNS and k not in MEASURES]
    head = list(RUN_COLUMNS[:3]) + conditions + list(RUN_COLUMNS[3:])
    return head + [m for m in MEASURES if m in seen]


def write_table(out: Path, rows: list[dict[str, Any]]) -> None:
    """``results.parquet`` and ``results.csv`` from ``rows``, in run order, each written atomically."""
    rows = sorted(rows, key=lambda r: r["run_index"])
    columns = table_columns(rows)
    table = pa.table({c: pa.array([r.get(c) for r in rows]) for c in columns})
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    atomic_write_bytes(out / RESULTS, buf.getvalue())
    buf = io.BytesIO()
    pa_csv.write_csv(table, buf)
    atomic_write_bytes(out / RESULTS_CSV, buf.getvalue())


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a results table: a sweep folder, its ``results.parquet`` or a ``.csv`` copy."""
    path = Path(path)
    if path.is_dir():
        if not (path / RESULTS).exists() and (path / JOURNAL).exists():
            return sorted(read_journal(path / JOURNAL), key=lambda r: r["run_index"])
        path = path / RESULTS
    if not path.exists():
        raise ConfigError("RESULTS", f"not found: {path} (a sweep folder, results.parquet or results.csv)")
    try:
        if path.suffix == ".csv":
            types = {c: pa.string() for c in STRING_COLUMNS}
            table = pa_csv.read_csv(
                path, convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=False)
            )
        else:
            table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's input error
        raise ConfigError("RESULTS", f"cannot read {path}: {err}") from None
    return table.to_pylist()


class ResultStore:
    """A sweep folder's journal and table: append rows as they come, rewrite the table now and then."""

    def __init__(self, out: Path, snapshot_every: float = SNAPSHOT_MIN_SECONDS):
        self.out = out
        self.snapshot_every = snapshot_every
        self.rows = read_journal(out / JOURNAL, truncate_partial=True)
        self.done = {r["run_id"] for r in self.rows}
        self._fh = (out / JOURNAL).open("a", encoding="utf-8")
        self._last_snapshot = time.monotonic()
        self._snapshot_cost = 0.0
        self._dirty = False

    def add(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append rows of runs not yet recorded; returns those appended."""
        fresh = [r for r in rows if r["run_id"] not in self.done]
        if fresh:
            self._fh.write("".join(json.dumps(r, allow_nan=True) + "\n" for r in fresh))
            self._fh.flush()
            self.done.update(r["run_id"] for r in fresh)
            self.rows.extend(fresh)
            self._dirty = True
            now = time.monotonic()
            if now - self._last_snapshot >= max(self.snapshot_every, SNAPSHOT_COST_FACTOR * self._snapshot_cost):
                self.snapshot()
        return fresh

    def snapshot(self) -> None:
        """Rewrite ``results.parquet`` / ``results.csv`` from every row so far."""
        if not self.rows:
            return
        start = time.monotonic()
        os.fsync(self._fh.fileno())
        write_table(self.out, self.rows)
        self._last_snapshot = time.monotonic()
        self._snapshot_cost = self._last_snapshot - start
        self._dirty = False

    def drop_failed(self) -> int:
        """Forget failed runs (``--retry-failed``): the journal is rewritten without them."""
        failed = [r for r in self.rows if r.get("status") != "ok"]
        if failed:
            self._fh.close()
            self.rows = [r for r in self.rows if r.get("status") == "ok"]
            self.done = {r["run_id"] for r in self.rows}
            atomic_write_text(self.out / JOURNAL, "".join(json.dumps(r, allow_nan=True) + "\n" for r in self.rows))
            self._fh = (self.out / JOURNAL).open("a", encoding="utf-8")
            self._dirty = True
        return len(failed)

    def close(self) -> None:
        if self._dirty:
            self.snapshot()
        self._fh.close()
