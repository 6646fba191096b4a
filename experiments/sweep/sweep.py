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
import signal
import sys
from pathlib import Path
from typing import Any

from vclass.config import ConfigError, parse_override
from vclass.experiments.sweep.report import write_report
from vclass.experiments.sweep.runner import run_sweep
from vclass.experiments.sweep.spec import expand, load_spec
from vclass.experiments.sweep.store import RESULTS, RESULTS_CSV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="experiment spec (TOML), e.g. experiments/specs/s0-2x2.toml")
    parser.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local processes (default) or Ray (pip install -e .[cluster])",
    )
    parser.add_argument(
        "--address",
        default="",
        help="Ray cluster address (ray://host:10001, host:6379 or auto); "
        "default: a local Ray instance started for the sweep",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="parallel workers (default: this machine's cores; with --address, the cluster's CPUs)",
    )
    parser.add_argument(
        "--chunk",
        type=int,
        default=0,
        help="lessons per task (default: automatic, up to 32, so each worker gets >= 16 tasks)",
    )
    parser.add_argument("--out", help="output folder (default runs/sweep-<spec name>)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the spec's base config for every lesson (repeatable)",
    )
    parser.add_argument("--fresh", action="store_true", help="discard the folder's earlier results and start over")
    parser.add_argument("--retry-failed", action="store_true", help="run lessons that failed before again")
    parser.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
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
        stats = run_sweep(
            spec,
            Path(args.spec),
            entries,
            out,
            args.executor,
            args.workers,
            args.address,
            args.chunk,
            args.fresh,
            args.retry_failed,
            args.quiet,
            args.set,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; finished lessons are kept in {out}; run the same command again to resume", file=sys.stderr
        )
        return 130
    rate = stats["ran"] / stats["seconds"] if stats["seconds"] > 0 else float("nan")
    print(
        f"{spec.name}: {stats['total']} lessons ({stats['done_before']} done before, {stats['ran']} run now "
        f"at {rate:.1f} lessons/s on {stats['workers']} {stats['executor']} workers), "
        f"{stats['failed_total']} failed"
    )
    print(f"results: {out / RESULTS} (and {RESULTS_CSV})")
    if not args.no_report:
        index = write_report(out)
        print(f"report: {index}")
    if stats["failed_total"]:
        print(
            f"{stats['failed_total']} lessons failed; their errors are in the table's 'error' column "
            "(rerun with --retry-failed once fixed)",
            file=sys.stderr,
        )
        return 1
    return 0
