"""Running a sweep's lessons: each lesson in a worker, its row into the folder's journal, resumable.

Every lesson of a validated spec (:func:`vclass.experiments.sweep.spec.expand`) runs on an executor of
:mod:`vclass.experiments.pool` through :func:`vclass.experiments.lesson.runner.run_lesson`; each finished one is
appended at once to the folder's journal (:class:`vclass.experiments.sweep.store.ResultStore`). A lesson that raises
is recorded with ``status = "error"`` and the error text; a lesson that kills its worker process is retried alone,
and recorded as an error if it kills that one too.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from vclass.config import ConfigError
from vclass.experiments.lesson.config import run_config_from_dict
from vclass.experiments.lesson.runner import run_lesson
from vclass.experiments.pool import LocalExecutor, WorkerLost, make_executor
from vclass.experiments.sweep.spec import (
    MEASURES,
    as_dict,
    condition_names,
    flatten_grid,
    import_path,
    spec_fingerprint,
)
from vclass.experiments.sweep.store import JOURNAL, SWEEP_META, ResultStore
from vclass.io import check_output_path, folder_lock, git_commit, package_versions, write_json

# -- one lesson (runs in a worker) --------------------------------------------------------------------------------


def run_entry(entry) -> dict[str, Any]:
    """Run one lesson of a sweep and return its results row (never raises for the lesson's own errors)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {
        "run_index": entry.index,
        "run_id": entry.run_id,
        "cell": entry.cell,
        **{k: _cell_value(v) for k, v in entry.conditions.items()},
        "policy": entry.policy,
        "policy_name": entry.config["policy"]["name"],
        "seed": entry.seed,
    }
    try:
        with import_path(entry.import_paths):
            summary = run_lesson(run_config_from_dict(entry.config), divergence=entry.divergence).summary
        row.update(status="ok", error="")
        row.update({k: _number(summary.get(k)) for k in MEASURES})
    except ConfigError as err:  # a designer's strategy or a bad input: the message names what and where
        row.update(status="error", error=f"ConfigError: {err}"[:2000])
    except Exception as err:  # noqa: BLE001 - a failing lesson is a result, not the sweep's end
        row.update(status="error", error=f"{type(err).__name__}: {err} (at {_where(err)})"[:2000])
    row.update(duration_s=time.perf_counter() - start, cpu_s=time.process_time() - cpu_start)
    return row


def _where(err: BaseException) -> str:
    """The innermost line of the traceback that is not in a library or the standard library."""
    libraries = tuple({sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")})
    frames = traceback.extract_tb(err.__traceback__)
    ours = [frame for frame in frames if not frame.filename.startswith(libraries)] or frames
    return f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"


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
    return {
        "run_index": entry.index,
        "run_id": entry.run_id,
        "cell": entry.cell,
        **{k: _cell_value(v) for k, v in entry.conditions.items()},
        "policy": entry.policy,
        "policy_name": entry.config["policy"]["name"],
        "seed": entry.seed,
        "status": "error",
        "error": message[:2000],
        "duration_s": float("nan"),
        "cpu_s": float("nan"),
    }


# -- running a sweep -----------------------------------------------------------------------------------------------


class RowStore(Protocol):
    """Where :func:`execute` records rows: a sweep folder's :class:`~vclass.experiments.sweep.store.ResultStore`, or
    ``vclass regress``'s rows in memory."""

    done: set[str]

    def add(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record the rows of runs not yet recorded; return those recorded."""
        ...


def auto_chunk(pending: int, workers: int) -> int:
    """Lessons per task: large enough to hide the scheduling cost, small enough that every worker gets >= 16."""
    return max(1, min(32, pending // max(1, workers * 16)))


REPORT_SETTINGS = ("description", "measures", "reference", "rank_by")  # what a resumed sweep may change


def prepare_out(out: Path, meta: dict[str, Any]) -> None:
    """Check that the sweep folder ``out`` (existing, locked by the caller) holds this sweep, or set it up.

    A folder holding another sweep is refused. A resumed sweep whose report settings changed (measures, reference,
    rank_by, description: they choose what the report shows, not which lessons run) takes the new ones, and says so.
    """
    meta_path = out / SWEEP_META
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text())
        except ValueError:
            old = {}
        old = old if isinstance(old, dict) else {}
        if old.get("fingerprint") != meta["fingerprint"]:
            raise ConfigError(
                "--out",
                f"{out} holds another sweep ({old.get('name', '?')}, {old.get('runs', '?')} "
                f"runs, fingerprint {old.get('fingerprint', '?')}); use another --out, "
                "or --fresh to discard it",
            )
        changed = [key for key in REPORT_SETTINGS if old.get(key) != meta.get(key)]
        if changed:
            print(
                "note: the report settings changed since this sweep began ("
                + "; ".join(f"{key}: {old.get(key)!r} -> {meta.get(key)!r}" for key in changed)
                + "); the lessons are the same, and the table and report use the new settings",
                file=sys.stderr,
            )
            write_json(meta_path, {**old, **{key: meta[key] for key in REPORT_SETTINGS}})
        return
    if (out / JOURNAL).exists():
        raise ConfigError("--out", f"{out} has a journal but no {SWEEP_META}; use another --out, or --fresh")
    write_json(meta_path, meta)


def discard(out: Path) -> None:
    """``--fresh``: move the folder aside in one step (so that an interrupted start leaves nothing of it beside the
    new sweep), then delete it. Refused while another command writes it."""
    if not out.exists():
        return
    with folder_lock(out):
        aside = out.parent / f".{out.name}.discarded-{os.getpid()}"
        os.rename(out, aside)
    shutil.rmtree(aside, ignore_errors=True)


def sweep_meta(spec, spec_path: str, entries: list, overrides: Sequence[str]) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "spec_file": str(spec_path),
        "spec": as_dict(spec),
        "overrides": list(overrides),
        "fingerprint": spec_fingerprint(spec, entries),
        "runs": len(entries),
        "measures": list(spec.measures),
        "reference": spec.reference_label,
        "rank_by": spec.rank_by or spec.measures[0],
        "policies": [p.shown for p in spec.policies],
        "seeds": [spec.seed_start, spec.seed_start + spec.seeds - 1],
        "conditions": {v: k for k, v in condition_names(flatten_grid(spec.grid)).items()},
        "git_commit": git_commit(),
        "versions": package_versions(),
    }


def execute(entries: list, store: RowStore, executor, chunk: int = 0, progress=None) -> dict[str, float]:
    """Run the entries not yet in ``store`` on ``executor``; lessons whose worker died are retried alone.

    :returns: counts and timing of this session: ``ran``, ``failed``, ``seconds``.
    """

    pending = [e for e in entries if e.run_id not in store.done]
    size = chunk or auto_chunk(len(pending), executor.workers)
    chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
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


def run_sweep(
    spec,
    spec_path: Path,
    entries: list,
    out: Path,
    executor_kind: str = "local",
    workers: int | None = None,
    address: str = "",
    chunk: int = 0,
    fresh: bool = False,
    retry_failed: bool = False,
    quiet: bool = False,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Run (or resume) a validated sweep into ``out``; returns this session's stats and the final counts."""

    check_output_path(out)
    if fresh:
        discard(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError("--out", f"cannot create {out}: {err.strerror or err}") from None
    if not (executor_kind == "ray" and address):  # on a cluster, the default is all of its CPUs
        workers = workers or os.cpu_count() or 1
    with folder_lock(out):
        return _run_locked(
            spec, spec_path, entries, out, executor_kind, workers, address, chunk, retry_failed, quiet, overrides
        )


def _run_locked(
    spec, spec_path, entries, out, executor_kind, workers, address, chunk, retry_failed, quiet, overrides
) -> dict[str, Any]:
    prepare_out(out, sweep_meta(spec, str(spec_path), entries, overrides))
    executor = make_executor(executor_kind, workers, address)
    try:
        store = ResultStore(out, known={e.run_id for e in entries})
        if retry_failed:
            store.drop_failed()
        done_before = sum(e.run_id in store.done for e in entries)
        if done_before and not quiet:
            print(f"resuming: {done_before} of {len(entries)} lessons already done in {out}", file=sys.stderr)
        try:
            with tqdm(
                total=len(entries),
                initial=done_before,
                desc=f"{spec.name} [{executor.name}]",
                unit="lesson",
                disable=quiet,
                file=sys.stderr,
                smoothing=0.05,
            ) as bar:
                stats = execute(entries, store, executor, chunk, bar)
        finally:
            store.close()
    finally:
        executor.close()
    stats.update(
        done_before=done_before,
        total=len(entries),
        failed_total=sum(r.get("status") != "ok" for r in store.rows),
        workers=executor.workers,
        executor=executor.name,
    )
    return stats
