"""``vclass experiment s0-2x2``: S0's 2x2 design with and without ECEM.

Presentation (video, slides) x online tests (yes, no), 30 students a cell,
each cell run with ``none`` and with ``ecem`` on the same seeds (so the two
policies meet the same students and noise, and cells share students too),
with the recognizer in the loop. Reports per cell and policy the mean and
95% t confidence interval of TEA share, attention and learning gain over
seeds, and ECEM's paired difference against no intervention.
"""

from __future__ import annotations

import argparse
import itertools
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np


MEASURES = (("tea_share", "TEA share"), ("mean_attention", "attention"), ("learning_gain", "learning gain"))
POLICIES = ("none", "ecem")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", choices=["s0-2x2"], help="which experiment")
    parser.add_argument("--config", help="TOML config the cells start from (defaults: SPEC's)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per cell and policy (default 5)")
    parser.add_argument("--students", type=int, default=30, help="students a cell (default 30)")
    parser.add_argument("--minutes", type=float, help="lesson length (default 45)")
    parser.add_argument("--recognizer", help="oracle, surrogate or scn-cs (default scn-cs)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--out", default="runs/s0-2x2", help="output folder (default runs/s0-2x2)")


def _lesson(job: tuple[dict[str, Any], str, str, bool, int]) -> dict[str, Any]:
    from vclass.experiments.lesson.config import run_config_from_dict
    from vclass.experiments.lesson.run import simulate_run

    base, policy, presentation, tests, seed = job
    data = {**base, "seed": seed, "classroom": {**base.get("classroom", {}), "presentation": presentation,
                                                   "online_tests": tests}}
    run_cfg = run_config_from_dict(data)
    _, _, summary = simulate_run(run_cfg, policy, {})
    return {"presentation": presentation, "online_tests": tests, "policy": policy, "seed": seed,
            **{key: summary[key] for key, _ in MEASURES}, "belief_accuracy": summary["belief_accuracy"]}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per cell and policy: mean and CI of each measure; for ECEM also the paired difference vs none."""
    from vclass.experiments.stats import mean_ci, paired_difference

    table = []
    for presentation, tests in itertools.product(("video", "slides"), (True, False)):
        cell = [r for r in rows if r["presentation"] == presentation and r["online_tests"] == tests]
        by_policy = {p: sorted((r for r in cell if r["policy"] == p), key=lambda r: r["seed"]) for p in POLICIES}
        for policy in POLICIES:
            entry: dict[str, Any] = {"presentation": presentation, "online_tests": tests, "policy": policy,
                                     "n": len(by_policy[policy])}
            for key, _ in MEASURES:
                values = np.array([r[key] for r in by_policy[policy]])
                entry[key] = mean_ci(values)
                if policy == "ecem":
                    entry[f"{key}_vs_none"] = paired_difference(values, np.array([r[key] for r in by_policy["none"]]))
            table.append(entry)
    return table


def markdown(table: list[dict[str, Any]]) -> str:
    head = "| presentation | online tests | policy | " + " | ".join(label for _, label in MEASURES) + \
           " | ECEM − none (TEA share) |"
    lines = [head, "|" + "---|" * (4 + len(MEASURES))]
    for e in table:
        cells = [f"{e[k][0]:.3f} [{e[k][1]:.3f}, {e[k][2]:.3f}]" for k, _ in MEASURES]
        diff = e.get("tea_share_vs_none")
        gap = f"{diff['mean']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}]" if diff else ""
        lines.append(f"| {e['presentation']} | {'yes' if e['online_tests'] else 'no'} | {e['policy']} | "
                     + " | ".join(cells) + f" | {gap} |")
    return "\n".join(lines)


def plot(table: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vclass.io import save_figure

    fig, axes = plt.subplots(1, len(MEASURES), figsize=(13, 3.8))
    cells = [(p, t) for p, t in itertools.product(("video", "slides"), (True, False))]
    x = np.arange(len(cells))
    for ax, (key, label) in zip(axes, MEASURES):
        for offset, policy, colour in ((-0.18, "none", "#7f7f7f"), (0.18, "ecem", "#2ca02c")):
            entries = [next(e for e in table if (e["presentation"], e["online_tests"], e["policy"]) == (p, t, policy))
                       for p, t in cells]
            means = np.array([e[key][0] for e in entries])
            err = np.array([[e[key][0] - e[key][1] for e in entries], [e[key][2] - e[key][0] for e in entries]])
            ax.bar(x + offset, means, 0.36, yerr=err, capsize=3, color=colour, label=policy)
        ax.set_xticks(x, [f"{p}\n{'tests' if t else 'no tests'}" for p, t in cells], fontsize=8)
        ax.set_title(label)
    axes[0].legend()
    fig.suptitle("S0 2x2: mean and 95% CI over seeds")
    save_figure(fig, path)


def main(args: argparse.Namespace) -> int:
    import csv
    import io

    from tqdm import tqdm

    from vclass.experiments.lesson.config import load_run_config
    from vclass.config import ConfigError, parse_override, to_dict
    from vclass.io import atomic_write_text, provenance, write_json

    if not 2 <= args.seeds <= 1000:
        raise ConfigError("--seeds", f"must be an integer >= 2 and <= 1000, got {args.seeds}")
    if not 1 <= args.workers <= 64:
        raise ConfigError("--workers", f"must be an integer >= 1 and <= 64, got {args.workers}")
    overrides = [(["classroom", "students"], args.students)]
    if args.minutes is not None:
        overrides.append((["classroom", "minutes"], args.minutes))
    if args.recognizer is not None:
        overrides.append((["recognizer", "kind"], args.recognizer))
    overrides += [parse_override(text) for text in args.set]
    run_cfg = load_run_config(args.config, overrides)
    run_cfg.make_observer()  # fail early if the recognizer cannot load
    base = run_cfg.as_dict()
    jobs = [(base, policy, presentation, tests, seed) for presentation, tests in
            itertools.product(("video", "slides"), (True, False)) for policy in POLICIES for seed in range(args.seeds)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with get_context("spawn").Pool(args.workers) as pool:
        rows = list(tqdm(pool.imap(_lesson, jobs), total=len(jobs), desc="lessons", unit="lesson"))
    table = summarize(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "lessons.csv", buf.getvalue())
    write_json(out / "table.json", table)
    text = markdown(table)
    atomic_write_text(out / "table.md", text + "\n")
    plot(table, out / "s0_2x2.png")
    write_json(out / "run.json", provenance(to_dict(base), 0))
    print(f"S0 2x2, {args.students} students a cell, {args.seeds} seeds, recognizer {run_cfg.recognizer.kind}")
    print(text)
    print(f"written: {out}")
    return 0
