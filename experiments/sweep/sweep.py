"""``vclass sweep SPEC.toml``: run an experiment spec's grid in parallel into one results table.

Every lesson of the spec (cell x policy x seed, see :mod:`vclass.experiments.sweep.spec`)
is validated first; then the lessons run on the chosen executor (``local``
processes by default, or ``ray``) and each finished one is appended at once
to ``journal.jsonl`` in the output folder (default ``runs/sweep-<name>``).
From the journal the folder keeps one table, ``results.parquet`` with a copy
``results.csv`` (one row per lesson, in run order), rewritten atomically as
runs finish (every few seconds) and at the end; ``sweep.json`` records the
spec, the sweep's fingerprint and provenance; ``report/`` gets the report
(``vclass report``) unless ``--no-report``.

Resuming: run the same command again. Lessons whose rows are in the journal
are not run again; a journal line cut short by a kill is dropped (that lesson
runs again, with the same result, since a lesson is a deterministic function
of its config and seed). A folder holding a different sweep is refused.

Failures: a lesson that raises is recorded with ``status = "error"`` and the
error text, and the sweep goes on; a lesson that kills its worker process is
retried alone, and recorded as an error if it kills that one too. Failed
lessons are kept on resume unless ``--retry-failed``. The command exits 1
when any lesson failed (after writing everything), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any


RESULTS = "results.parquet"
RESULTS_CSV = "results.csv"
JOURNAL = "journal.jsonl"
SWEEP_META = "sweep.json"
STRING_COLUMNS = ("run_id", "cell", "policy", "policy_name", "status", "error")
SNAPSHOT_MIN_SECONDS = 5.0      # rewrite the table at most this often ...
SNAPSHOT_COST_FACTOR = 10.0     # ... and no more often than 10x the last rewrite took (bounds the cost to ~10%)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="experiment spec (TOML), e.g. experiments/specs/s0-2x2.toml")
    parser.add_argument("--executor", default="local", choices=["local", "ray"],
                        help="local processes (default) or Ray (pip install -e .[cluster])")
    parser.add_argument("--address", default="", help="Ray cluster address (ray://host:10001, host:6379 or auto); "
                                                      "default: a local Ray instance started for the sweep")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel workers (default: this machine's cores; with --address, the cluster's CPUs)")
    parser.add_argument("--chunk", type=int, default=0,
                        help="lessons per task (default: automatic, up to 32, so each worker gets >= 16 tasks)")
    parser.add_argument("--out", help="output folder (default runs/sweep-<spec name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of the spec's base config for every lesson (repeatable)")
    parser.add_argument("--fresh", action="store_true", help="discard the folder's earlier results and start over")
    parser.add_argument("--retry-failed", action="store_true", help="run lessons that failed before again")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


# -- one lesson (runs in a worker) --------------------------------------------------------------------------------

def run_entry(entry) -> dict[str, Any]:
    """Run one lesson of a sweep and return its results row (never raises for the lesson's own errors)."""
    from vclass.experiments.sweep.spec import MEASURES, import_path

    start, cpu_start = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {"run_index": entry.index, "run_id": entry.run_id, "cell": entry.cell,
                           **{k: _cell_value(v) for k, v in entry.conditions.items()},
                           "policy": entry.policy, "policy_name": entry.config["policy"]["name"], "seed": entry.seed}
    try:
        from vclass.experiments.lesson.config import run_config_from_dict
        from vclass.experiments.lesson.run import simulate_run

        with import_path(entry.import_paths):
            run_cfg = run_config_from_dict(entry.config)
            _, _, summary = simulate_run(run_cfg, run_cfg.policy.name, run_cfg.policy.params)
        row.update(status="ok", error="")
        row.update({k: _number(summary.get(k)) for k in MEASURES})
    except Exception as err:  # noqa: BLE001 - a failing lesson is a result, not the sweep's end
        where = traceback.extract_tb(err.__traceback__)[-1]
        row.update(status="error", error=f"{type(err).__name__}: {err} (at {Path(where.filename).name}:{where.lineno})"
                   [:2000])
    row.update(duration_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu_start)
    return row


def run_chunk(entries: list) -> list[dict[str, Any]]:
    """Run several lessons in one task (less scheduling per lesson)."""
    return [run_entry(e) for e in entries]


def _cell_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value if isinstance(value, (int, float)) else None


def error_row(entry, message: str) -> dict[str, Any]:
    """The row of a lesson that returned nothing (its worker died)."""
    return {"run_index": entry.index, "run_id": entry.run_id, "cell": entry.cell,
            **{k: _cell_value(v) for k, v in entry.conditions.items()}, "policy": entry.policy,
            "policy_name": entry.config["policy"]["name"], "seed": entry.seed, "status": "error",
            "error": message[:2000], "duration_s": float("nan"), "cpu_s": float("nan")}


# -- the results store ---------------------------------------------------------------------------------------------

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
    from vclass.experiments.sweep.spec import MEASURES, RUN_COLUMNS

    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    conditions = [k for k in seen if k not in RUN_COLUMNS and k not in MEASURES]
    head = list(RUN_COLUMNS[:3]) + conditions + list(RUN_COLUMNS[3:])
    return head + [m for m in MEASURES if m in seen]


def write_table(out: Path, rows: list[dict[str, Any]]) -> None:
    """``results.parquet`` and ``results.csv`` from ``rows``, in run order, each written atomically."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from vclass.io import atomic_write_bytes

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
    from vclass.config import ConfigError

    path = Path(path)
    if path.is_dir():
        if not (path / RESULTS).exists() and (path / JOURNAL).exists():
            return sorted(read_journal(path / JOURNAL), key=lambda r: r["run_index"])
        path = path / RESULTS
    if not path.exists():
        raise ConfigError("RESULTS", f"not found: {path} (a sweep folder, results.parquet or results.csv)")
    try:
        if path.suffix == ".csv":
            import pyarrow as pa
            import pyarrow.csv as pa_csv

            types = {c: pa.string() for c in STRING_COLUMNS}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types,
                                                                                strings_can_be_null=False))
        else:
            import pyarrow.parquet as pq

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
        from vclass.io import atomic_write_text

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


# -- running a sweep -----------------------------------------------------------------------------------------------

def auto_chunk(pending: int, workers: int) -> int:
    """Lessons per task: large enough to hide the scheduling cost, small enough that every worker gets >= 16."""
    return max(1, min(32, pending // max(1, workers * 16)))


def prepare_out(out: Path, meta: dict[str, Any], fresh: bool) -> None:
    """Create the sweep folder, or check that it holds this sweep; ``fresh`` discards what it holds."""
    from vclass.config import ConfigError
    from vclass.io import write_json

    meta_path = out / SWEEP_META
    if fresh:
        for name in (JOURNAL, RESULTS, RESULTS_CSV, SWEEP_META):
            (out / name).unlink(missing_ok=True)
    elif meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except ValueError:
            old = {}
        if old.get("fingerprint") != meta["fingerprint"]:
            raise ConfigError("--out", f"{out} holds another sweep ({old.get('name', '?')}, {old.get('runs', '?')} "
                                       f"runs, fingerprint {old.get('fingerprint', '?')}); use another --out, "
                                       "or --fresh to discard it")
        return
    elif (out / JOURNAL).exists():
        raise ConfigError("--out", f"{out} has a journal but no {SWEEP_META}; use another --out, or --fresh")
    out.mkdir(parents=True, exist_ok=True)
    write_json(meta_path, meta)


def sweep_meta(spec, spec_path: str, entries: list, overrides: list[str]) -> dict[str, Any]:
    from vclass.experiments.sweep.spec import as_dict, condition_names, flatten_grid, spec_fingerprint
    from vclass.io import git_commit, package_versions

    return {"name": spec.name, "description": spec.description, "spec_file": str(spec_path), "spec": as_dict(spec),
            "overrides": list(overrides), "fingerprint": spec_fingerprint(spec, entries), "runs": len(entries),
            "measures": list(spec.measures), "reference": spec.reference_label,
            "rank_by": spec.rank_by or spec.measures[0], "policies": [p.shown for p in spec.policies],
            "seeds": [spec.seed_start, spec.seed_start + spec.seeds - 1],
            "conditions": {v: k for k, v in condition_names(flatten_grid(spec.grid)).items()},
            "git_commit": git_commit(), "versions": package_versions()}


def execute(entries: list, store: ResultStore, executor, chunk: int = 0, progress=None) -> dict[str, float]:
    """Run the entries not yet in ``store`` on ``executor``; lessons whose worker died are retried alone.

    :returns: counts and timing of this session: ``ran``, ``failed``, ``seconds``.
    """
    from vclass.experiments.pool import LocalExecutor, WorkerLost

    pending = [e for e in entries if e.run_id not in store.done]
    size = chunk or auto_chunk(len(pending), executor.workers)
    chunks = [pending[i:i + size] for i in range(0, len(pending), size)]
    start = time.perf_counter()
    ran = failed = 0
    suspects: list = []

    def record(rows: list[dict[str, Any]]) -> None:
        nonlocal ran, failed
        fresh = store.add(rows)
        ran += len(fresh)
        failed += sum(r["status"] != "ok" for r in fresh)
        if progress is not None:
            progress.update(len(fresh))
            progress.set_postfix(failed=failed, refresh=False)

    for task, result in executor.imap_unordered(run_chunk, chunks):
        if isinstance(result, WorkerLost):
            suspects.extend(task)
        else:
            record(result)
    if suspects:  # a worker died: run each of its lessons alone, so only the culprit is recorded as failed
        isolated = executor if executor.name == "ray" else LocalExecutor(1, isolated=True)
        try:
            for task, result in isolated.imap_unordered(run_chunk, [[e] for e in suspects]):
                record([error_row(task[0], f"WorkerLost: {result}")] if isinstance(result, WorkerLost) else result)
        finally:
            if isolated is not executor:
                isolated.close()
    return {"ran": ran, "failed": failed, "seconds": time.perf_counter() - start}


def run_sweep(spec, spec_path: Path, entries: list, out: Path, executor_kind: str = "local", workers: int | None = None,
              address: str = "", chunk: int = 0, fresh: bool = False, retry_failed: bool = False, quiet: bool = False,
              overrides: list[str] = ()) -> dict[str, Any]:
    """Run (or resume) a validated sweep into ``out``; returns this session's stats and the final counts."""
    from tqdm import tqdm

    from vclass.experiments.pool import make_executor

    if not (executor_kind == "ray" and address):  # on a cluster, the default is all of its CPUs
        workers = workers or os.cpu_count() or 1
    executor = make_executor(executor_kind, workers, address)
    try:
        prepare_out(out, sweep_meta(spec, str(spec_path), entries, overrides), fresh)
        store = ResultStore(out)
        if retry_failed:
            store.drop_failed()
        done_before = sum(e.run_id in store.done for e in entries)
        if done_before and not quiet:
            print(f"resuming: {done_before} of {len(entries)} lessons already done in {out}", file=sys.stderr)
        try:
            with tqdm(total=len(entries), initial=done_before, desc=f"{spec.name} [{executor.name}]", unit="lesson",
                      disable=quiet, file=sys.stderr, smoothing=0.05) as bar:
                stats = execute(entries, store, executor, chunk, bar)
        finally:
            store.close()
    finally:
        executor.close()
    stats.update(done_before=done_before, total=len(entries),
                 failed_total=sum(r.get("status") != "ok" for r in store.rows),
                 workers=executor.workers, executor=executor.name)
    return stats


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    from vclass.experiments.sweep.spec import expand, load_spec
    from vclass.config import ConfigError, parse_override

    if args.workers is not None and not 1 <= args.workers <= 4096:
        raise ConfigError("--workers", f"must be an integer >= 1 and <= 4096, got {args.workers}")
    if not 0 <= args.chunk <= 100_000:
        raise ConfigError("--chunk", f"must be an integer >= 0 and <= 100000, got {args.chunk}")
    spec, spec_dir = load_spec(args.spec)
    overrides = [parse_override(text) for text in args.set]
    entries = expand(spec, spec_dir, validate=True, overrides=overrides)  # every lesson checked before any runs
    out = Path(args.out) if args.out else Path("runs") / f"sweep-{spec.name}"
    signal.signal(signal.SIGTERM, _interrupt)  # a polite kill keeps what finished, like Ctrl-C
    try:
        stats = run_sweep(spec, Path(args.spec), entries, out, args.executor, args.workers, args.address, args.chunk,
                          args.fresh, args.retry_failed, args.quiet, args.set)
    except KeyboardInterrupt:
        print(f"\ninterrupted; finished lessons are kept in {out}; run the same command again to resume",
              file=sys.stderr)
        return 130
    rate = stats["ran"] / stats["seconds"] if stats["seconds"] > 0 else float("nan")
    print(f"{spec.name}: {stats['total']} lessons ({stats['done_before']} done before, {stats['ran']} run now "
          f"at {rate:.1f} lessons/s on {stats['workers']} {stats['executor']} workers), "
          f"{stats['failed_total']} failed")
    print(f"results: {out / RESULTS} (and {RESULTS_CSV})")
    if not args.no_report:
        from vclass.experiments.sweep.report import write_report

        index = write_report(out)
        print(f"report: {index}")
    if stats["failed_total"]:
        print(f"{stats['failed_total']} lessons failed; their errors are in the table's 'error' column "
              "(rerun with --retry-failed once fixed)", file=sys.stderr)
        return 1
    return 0
