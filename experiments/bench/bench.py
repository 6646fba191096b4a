"""``vclass bench``: measure speed and write one table (and the matching section of BENCHMARKS.md).

Benchmarks are never timed tests: they live here and report numbers with
the machine they ran on. Each suite is a module with ``run(quick) -> rows``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vclass.experiments.bench.load import busy_load, load_now, wait_for_quiet
from vclass.io import atomic_write_text, git_commit

SUITES = {
    "sim": "vclass.experiments.bench.sim",
    "faces": "vclass.experiments.bench.faces",
    "recognizer": "vclass.experiments.bench.recognizer",
    "e2e": "vclass.experiments.bench.e2e",
    "env": "vclass.experiments.bench.env",
    "sweep": "vclass.experiments.bench.sweep",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "suite", nargs="?", default="all", choices=["all", *SUITES], help="which benchmark suite (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="short measurements (smoke test)")
    parser.add_argument(
        "--write",
        default="BENCHMARKS.md",
        help="markdown file whose section for each suite is replaced (use '' to skip)",
    )
    parser.add_argument(
        "--allow-busy",
        action="store_true",
        help="write figures taken on a busy machine too (marked busy); by default a suite with any is not written",
    )


def machine_line() -> str:
    return (
        f"{cpu_name()}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, {platform.system()}"
    )


def cpu_name(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The processor as Linux names it, with its family and model numbers (a virtual machine's name can be as bare
    as ``AMD EPYC``; the family tells Zen 4 (25) from Zen 5 (26)); elsewhere, what :mod:`platform` says."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    if "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of benchmark rows, each with the 1-minute load average when it was measured (and ``busy``
    when that was above :func:`vclass.experiments.bench.load.busy_load`)."""
    lines = ["| benchmark | case | value | unit | target | load | note |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        value = r.get("value")
        shown = "not available here" if value is None else (f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}")
        load = r.get("load")
        load_text = "" if load is None else f"{load:.2f}" + (" (busy)" if is_busy(r) else "")
        lines.append(
            f"| {r['benchmark']} | {r['case']} | {shown} | {r.get('unit', '')} | {r.get('target', '')} "
            f"| {load_text} | {r.get('note', '')} |"
        )
    return "\n".join(lines)


def is_busy(row: dict[str, Any]) -> bool:
    """Whether ``row`` was measured on a busy machine (it has a value and its load is above the cores)."""
    return row.get("value") is not None and row.get("load") is not None and row["load"] > busy_load()


def update_markdown(path: Path, suite: str, body: str) -> None:
    """Replace (or append) the block between this suite's markers in ``path``, atomically."""

    start, end = f"<!-- bench:{suite}:start -->", f"<!-- bench:{suite}:end -->"
    block = f"{start}\n{body}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text)


def main(args: argparse.Namespace) -> int:
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    refused = []
    for suite in suites:
        module = importlib.import_module(SUITES[suite])
        start_load = wait_for_quiet() if not args.quick else load_now()
        rows = module.run(quick=args.quick)
        table = format_table(rows)
        busy = [r for r in rows if is_busy(r)]
        print(f"## {suite} (load {start_load:.2f} at the start)\n{table}\n")
        if busy and not args.allow_busy:
            refused.append(f"{suite} ({len(busy)} of {len(rows)} rows busy)")
            continue
        if args.write and not args.quick:
            stamp = dt.date.today().isoformat()
            body = (
                f"### `vclass bench {suite}`\n\nMachine: {machine_line()}; commit {git_commit()}; {stamp}.\n\n"
                f"{table}\n\n{getattr(module, 'NOTES', '')}"
            ).rstrip()
            update_markdown(Path(args.write), suite, body)
    if refused and args.write and not args.quick:
        print(
            f"not written to {args.write}: {', '.join(refused)} measured with the load above {busy_load():.2f} "
            "(more runnable work than cores); run again on a quiet machine, or --allow-busy to write them marked",
            file=sys.stderr,
        )
        return 1
    return 0
