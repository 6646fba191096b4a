"""``vclass run``: simulate one lesson and write its run folder.

The folder (default ``runs/<timestamp>/``) holds ``summary.json`` (class
measures, seed and resolved config), ``timeline.csv`` (one row per tick),
``students.csv`` (one row per student), ``run.json`` (provenance: config,
seed, package versions, git commit) and three plots. Every file is written
atomically; the config is validated before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

HELP = "Simulate a lesson and write its outcomes, tables and plots to a run folder."

SUMMARY_ROWS = (("tea_share", "share of student-time in the TEA", "{:.3f}"),
                ("mean_attention", "mean attention", "{:.3f}"),
                ("participation", "participation", "{:.3f}"),
                ("effective_participation_min", "effective participation (min/student)", "{:.1f}"),
                ("mean_axis", "mean emotion axis", "{:+.3f}"),
                ("learning_gain", "learning gain (per student)", "{:.3f}"),
                ("interventions", "incentives applied", "{:d}"),
                ("checkins", "check-ins", "{:d}"),
                ("intervention_cost", "intervention cost", "{:.1f}"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (defaults: SPEC's)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--students", type=int, help="class size (default 30)")
    parser.add_argument("--minutes", type=float, help="lesson length in minutes (default 45)")
    parser.add_argument("--policy", help="policy name, e.g. ecem, none, always-fun, or module:Class")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set classroom.presentation=slides (repeatable)")
    parser.add_argument("--out", help="run folder (default runs/<timestamp>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")


def resolve_config(args: argparse.Namespace):
    """The run config from ``--config``, the dedicated flags and ``--set`` overrides (later wins)."""
    from experiments.config import load_run_config
    from vclass.config import parse_override

    overrides: list[tuple[list[str], Any]] = []
    for flag, keys in (("seed", ["seed"]), ("students", ["classroom", "students"]),
                       ("minutes", ["classroom", "minutes"]), ("policy", ["policy", "name"])):
        if getattr(args, flag) is not None:
            overrides.append((keys, getattr(args, flag)))
    overrides += [parse_override(text) for text in args.set]
    return load_run_config(args.config, overrides)


def csv_text(columns: dict[str, np.ndarray]) -> str:
    """CSV of equal-length columns; floats written with full precision (``repr``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    rows = zip(*(c.tolist() for c in columns.values()))
    writer.writerows(rows)
    return buf.getvalue()


def write_run_folder(out: Path, record, run_cfg) -> dict[str, Any]:
    """Write every output of a lesson into ``out``; return the summary."""
    from experiments import plots
    from sim.measures import class_summary, student_table, timeline
    from vclass.io import atomic_write_text, provenance, write_json

    summary = class_summary(record)
    summary.update(seed=run_cfg.seed, policy=run_cfg.policy.name, observer="oracle", config=run_cfg.as_dict())
    ticks = timeline(record)
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "timeline.csv", csv_text(ticks))
    atomic_write_text(out / "students.csv", csv_text(student_table(record)))
    write_json(out / "run.json", provenance(run_cfg.as_dict(), run_cfg.seed))
    plots.plot_emotions(ticks, out / "emotions.png")
    plots.plot_attention(ticks, out / "attention_tea.png")
    plots.plot_interventions(record, out / "interventions.png")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    width = max(len(label) for _, label, _ in SUMMARY_ROWS)
    lines = [f"{'measure':<{width}}  value", f"{'-' * width}  -----"]
    for key, label, fmt in SUMMARY_ROWS:
        lines.append(f"{label:<{width}}  {fmt.format(summary[key])}")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from agents.registry import make_policy
    from sim.classroom import simulate
    from vclass.io import new_run_dir

    run_cfg = resolve_config(args)
    policy = make_policy(run_cfg.policy.name, run_cfg.policy.params, run_cfg.sim)
    out = Path(args.out) if args.out else new_run_dir()
    out.mkdir(parents=True, exist_ok=True)
    n_ticks = run_cfg.sim.classroom.n_ticks
    with tqdm(total=n_ticks, desc=f"lesson ({run_cfg.policy.name})", unit="tick", disable=args.quiet,
              leave=False) as bar:
        record = simulate(run_cfg.sim, run_cfg.seed, policy, on_tick=lambda _: bar.update())
    summary = write_run_folder(out, record, run_cfg)
    if not args.quiet:
        c = run_cfg.sim.classroom
        print(f"{c.students} students, {c.minutes:g} min, policy {run_cfg.policy.name}, seed {run_cfg.seed}")
        print(format_summary(summary))
    print(f"run folder: {out}")
    return 0
