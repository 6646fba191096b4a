"""``vclass experiment s0-2x2``: S0's 2x2 design with and without ECEM, a thin front over the sweep.

It runs the spec ``experiments/specs/s0-2x2.toml`` (presentation: video, slides x online tests: yes, no; ``none``
and ``ecem`` on the same seeds, so the two policies meet the same students and noise, and cells share students
too) through the sweep machinery into ``--out``, which is a sweep folder (journal, results table, ``sweep.json``;
running the command again resumes it), with this command's defaults: 5 seeds a cell, 30 students, the shipped
recognizer (``scn-cs``) in the loop. It then reports per cell and policy the mean and 95% t confidence interval
over seeds of TEA share, attention and learning gain, and ECEM's paired difference against no intervention:
``table.md``, ``table.json``, ``s0_2x2.png`` and ``lessons.csv`` (one row per lesson).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError, load_toml, parse_override
from vclass.experiments import SPECS_DIR
from vclass.experiments.stats import mean_ci, paired_difference
from vclass.experiments.sweep.runner import run_sweep
from vclass.experiments.sweep.spec import expand, load_spec
from vclass.experiments.sweep.store import read_results
from vclass.io import atomic_write_text, pyplot, save_figure, write_json

SPEC = SPECS_DIR / "s0-2x2.toml"
MEASURES = (("tea_share", "TEA share"), ("mean_attention", "attention"), ("learning_gain", "learning gain"))
POLICIES = ("none", "ecem")
LESSON_COLUMNS = ("presentation", "online_tests", "policy", "seed", *(key for key, _ in MEASURES), "belief_accuracy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["s0-2x2"], help="which experiment")
    parser.add_argument("--config", help="TOML config the cells start from (defaults: the spec's base, SPEC's)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per cell and policy (default 5)")
    parser.add_argument("--students", type=int, default=30, help="students a cell (default 30)")
    parser.add_argument("--minutes", type=float, help="lesson length (default 45)")
    parser.add_argument("--recognizer", default="scn-cs", help="oracle, surrogate or scn-cs (default scn-cs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--out", default="runs/s0-2x2", help="output folder, a sweep folder (default runs/s0-2x2)")
    parser.add_argument("--fresh", action="store_true", help="discard the folder's earlier lessons and start over")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def config_overrides(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[list[str], Any]]:
    """A run config's tables as ``(dotted keys, value)`` overrides of the spec's base (seed and policy left out:
    the experiment sets them)."""
    out: list[tuple[list[str], Any]] = []
    for key, value in data.items():
        if not prefix and key in ("seed", "policy"):
            continue
        if isinstance(value, dict):
            out += config_overrides(value, (*prefix, key))
        else:
            out.append(([*prefix, key], value))
    return out


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell and policy: mean and CI of each measure; for ECEM also the paired difference vs none."""
    table = []
    for presentation, tests in itertools.product(("video", "slides"), (True, False)):
        cell = [r for r in rows if r["presentation"] == presentation and r["online_tests"] == tests]
        by_policy = {p: sorted((r for r in cell if r["policy"] == p), key=lambda r: r["seed"]) for p in POLICIES}
        for policy in POLICIES:
            entry: dict[str, Any] = {
                "presentation": presentation,
                "online_tests": tests,
                "policy": policy,
                "n": len(by_policy[policy]),
            }
            for key, _ in MEASURES:
                values = np.array([r[key] for r in by_policy[policy]])
                entry[key] = mean_ci(values)
                if policy == "ecem":
                    entry[f"{key}_vs_none"] = paired_difference(values, np.array([r[key] for r in by_policy["none"]]))
            table.append(entry)
    return table


def markdown(table: list[dict[str, Any]]) -> str:
    head = (
        "| presentation | online tests | policy | "
        + " | ".join(label for _, label in MEASURES)
        + " | ECEM − none (TEA share) |"
    )
    lines = [head, "|" + "---|" * (4 + len(MEASURES))]
    for e in table:
        cells = [f"{e[k][0]:.3f} [{e[k][1]:.3f}, {e[k][2]:.3f}]" for k, _ in MEASURES]
        diff = e.get("tea_share_vs_none")
        gap = f"{diff['mean']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]" if diff else ""
        lines.append(
            f"| {e['presentation']} | {'yes' if e['online_tests'] else 'no'} | {e['policy']} | "
            + " | ".join(cells)
            + f" | {gap} |"
        )
    return "\n".join(lines)


def plot(table: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(13, 3.8))
    cells = [(p, t) for p, t in itertools.product(("video", "slides"), (True, False))]
    x = np.arange(len(cells))
    for ax, (key, label) in zip(axes, MEASURES):
        for offset, policy, colour in ((-0.18, "none", "#7f7f7f"), (0.18, "ecem", "#2ca02c")):
            entries = [
                next(e for e in table if (e["presentation"], e["online_tests"], e["policy"]) == (p, t, policy))
                for p, t in cells
            ]
            means = np.array([e[key][0] for e in entries])
            err = np.array([[e[key][0] - e[key][1] for e in entries], [e[key][2] - e[key][0] for e in entries]])
            ax.bar(x + offset, means, 0.36, yerr=err, capsize=3, color=colour, label=policy)
        ax.set_xticks(x, [f"{p}\n{'tests' if t else 'no tests'}" for p, t in cells], fontsize=8)
        ax.set_title(label)
    axes[0].legend()
    fig.suptitle("S0 2x2: mean and 95% CI over seeds")
    save_figure(fig, path)


def main(args: argparse.Namespace) -> int:
    if not 2 <= args.seeds <= 1000:
        raise ConfigError("--seeds", f"must be an integer >= 2 and <= 1000, got {args.seeds}")
    if not 1 <= args.workers <= 64:
        raise ConfigError("--workers", f"must be an integer >= 1 and <= 64, got {args.workers}")
    spec, spec_dir = load_spec(SPEC)
    spec = dataclasses.replace(spec, seeds=args.seeds)
    overrides = config_overrides(load_toml(args.config)) if args.config else []
    overrides += [(["classroom", "students"], args.students), (["recognizer", "kind"], args.recognizer)]
    if args.minutes is not None:
        overrides.append((["classroom", "minutes"], args.minutes))
    overrides += [parse_override(text) for text in args.set]
    entries = expand(spec, spec_dir, validate=True, overrides=overrides)  # every lesson checked before any runs
    out = Path(args.out)
    stats = run_sweep(
        spec,
        SPEC,
        entries,
        out,
        "local",
        args.workers,
        fresh=args.fresh,
        quiet=args.quiet,
        overrides=[f"{'.'.join(keys)}={value!r}" for keys, value in overrides],
    )
    if stats["failed_total"]:
        print(f"{stats['failed_total']} lessons failed; their errors are in {out / 'results.csv'}")
        return 1
    rows = [{key: row[key] for key in LESSON_COLUMNS} for row in read_results(out)]
    table = summarize(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(LESSON_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "lessons.csv", buf.getvalue())
    write_json(out / "table.json", table)
    text = markdown(table)
    atomic_write_text(out / "table.md", text + "\n")
    plot(table, out / "s0_2x2.png")
    print(f"S0 2x2, {args.students} students a cell, {args.seeds} seeds, recognizer {args.recognizer}")
    print(text)
    print(f"written: {out}")
    return 0
