"""A sweep folder's results: the journal of finished lessons and the table rebuilt from it.

``journal.jsonl`` gets one JSON row per finished lesson, appended at once; ``results.parquet`` (with a copy
``results.csv``) is the table of every row in run order, rewritten atomically now and then and at the end;
``sweep.json`` records which sweep the folder holds.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from vclass.config import ConfigError
from vclass.experiments.sweep.spec import MEASURES, RUN_COLUMNS
from vclass.io import atomic_write_bytes, atomic_write_text, json_safe

RESULTS = "results.parquet"
RESULTS_CSV = "results.csv"
JOURNAL = "journal.jsonl"
SWEEP_META = "sweep.json"
STRING_COLUMNS = ("run_id", "cell", "policy", "policy_name", "status", "error")
SNAPSHOT_MIN_SECONDS = 5.0  # rewrite the table at most this often ...
SNAPSHOT_COST_FACTOR = 10.0  # ... and no more often than 10x the last rewrite took (bounds the cost to ~10%)


ROW_KEYS = {"run_index": int, "run_id": str, "cell": str, "policy": str, "seed": int, "status": str}


def is_row(row: Any) -> bool:
    """Whether ``row`` is a results row: an object with the run's identity and status (see :data:`ROW_KEYS`)."""
    return isinstance(row, dict) and all(
        isinstance(row.get(key), kind) and not isinstance(row.get(key), bool) for key, kind in ROW_KEYS.items()
    )


def read_journal(
    path: Path, truncate_partial: bool = False, known: set[str] | None = None, warn: bool = False
) -> list[dict[str, Any]]:
    """Rows of a journal, first occurrence of each run kept.

    A last line without its newline (a write cut short by a kill) is dropped, and cut from the file with
    ``truncate_partial`` so that appends start on a fresh line. Lines that are not results rows (not JSON, or JSON
    that is not a row: :func:`is_row`) are skipped, and so are rows of runs not in ``known`` (when given); with
    ``warn`` each kind skipped is said once on stderr.
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if truncate_partial and end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
    rows, seen = [], set()
    malformed = foreign = 0
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            malformed += 1  # a torn write; the run it held runs again
            continue
        if not is_row(row):
            malformed += 1
            continue
        if known is not None and row["run_id"] not in known:
            foreign += 1
            continue
        if row["run_id"] not in seen:
            seen.add(row["run_id"])
            rows.append(row)
    if warn and malformed:
        print(f"warning: {path}: {malformed} lines are not results rows; ignored", file=sys.stderr)
    if warn and foreign:
        print(f"warning: {path}: {foreign} rows belong to no run of this sweep; ignored", file=sys.stderr)
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
        if table_is_stale(path):  # the table is missing or older than the journal: the journal is the truth
            return sorted(read_journal(path / JOURNAL, warn=True), key=lambda r: r["run_index"])
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


def table_is_stale(out: Path) -> bool:
    """Whether ``results.parquet`` or ``results.csv`` is missing or older than the journal."""
    journal = out / JOURNAL
    if not journal.exists():
        return False
    made = journal.stat().st_mtime_ns
    return any(not (out / name).exists() or (out / name).stat().st_mtime_ns < made for name in (RESULTS, RESULTS_CSV))


class ResultStore:
    """A sweep folder's journal and table: append rows as they come, rewrite the table now and then.

    :param known: the run ids of the sweep; journal rows of other runs are ignored (with a warning).
    """

    def __init__(self, out: Path, snapshot_every: float = SNAPSHOT_MIN_SECONDS, known: set[str] | None = None):
        self.out = out
        self.snapshot_every = snapshot_every
        self.rows = read_journal(out / JOURNAL, truncate_partial=True, known=known, warn=True)
        self.done = {r["run_id"] for r in self.rows}
        self._fh = (out / JOURNAL).open("a", encoding="utf-8")
        self._last_snapshot = time.monotonic()
        self._snapshot_cost = 0.0
        self._dirty = table_is_stale(out)  # a deleted or older table is rebuilt from the journal

    def add(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append rows of runs not yet recorded; returns those appended."""
        fresh = [r for r in rows if r["run_id"] not in self.done]
        if fresh:
            self._fh.write("".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in fresh))
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
            atomic_write_text(
                self.out / JOURNAL, "".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in self.rows)
            )
            self._fh = (self.out / JOURNAL).open("a", encoding="utf-8")
            self._dirty = True
        return len(failed)

    def close(self) -> None:
        if self._dirty and self.rows:
            self.snapshot()
        self._fh.close()
