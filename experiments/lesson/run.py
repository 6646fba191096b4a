"""``vclass run``: simulate a lesson with the recognizer in the loop, compare policies, write a run folder.

The folder (default ``runs/<timestamp>/``) holds, for the configured policy:
``summary.json`` (class measures, in-loop accuracies, seed, resolved config),
``timeline.csv`` (one row per tick), ``students.csv`` (one row per student),
``recognitions.npz`` (true state, shown and recognized expression and belief
argmax per tick and student, for ``vclass fit-hmm``), ``run.json``
(provenance) and plots; the comparison policy (default ``none``, same seed,
same students) gets the same files under ``compare-<name>/``;
``comparison.json`` and ``report.html`` put them side by side. Every file is
written atomically; the config is validated before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np


SUMMARY_ROWS = (("tea_share", "share of student-time in the TEA", "{:.3f}"),
                ("mean_attention", "mean attention", "{:.3f}"),
                ("participation", "participation", "{:.3f}"),
                ("effective_participation_min", "effective participation (min/student)", "{:.1f}"),
                ("mean_axis", "mean emotion axis", "{:+.3f}"),
                ("learning_gain", "learning gain (per student)", "{:.3f}"),
                ("interventions", "incentives applied", "{:d}"),
                ("checkins", "check-ins", "{:d}"),
                ("intervention_cost", "intervention cost", "{:.1f}"),
                ("recognition_accuracy", "recognition accuracy in the loop", "{:.3f}"),
                ("belief_accuracy", "belief accuracy (argmax vs truth)", "{:.3f}"),
                ("ecem_divergence", "ECEM decisions differing from truth", "{:.3f}"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (defaults: SPEC's)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--students", type=int, help="class size (default 30)")
    parser.add_argument("--minutes", type=float, help="lesson length in minutes (default 45)")
    parser.add_argument("--policy", help="policy name, e.g. ecem, none, always-fun, or module:Class (default ecem)")
    parser.add_argument("--recognizer", help="oracle, surrogate or scn-cs (default scn-cs, the shipped model)")
    parser.add_argument("--backend", help="onnxruntime (default), torch, torch-cuda or tensorrt")
    parser.add_argument("--compare", default="none",
                        help="baseline policy run on the same seed and students (default none; '' to skip)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set classroom.presentation=slides (repeatable)")
    parser.add_argument("--out", help="run folder (default runs/<timestamp>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")


def resolve_config(args: argparse.Namespace):
    """The run config from ``--config``, the dedicated flags and ``--set`` overrides (later wins)."""
    from vclass.experiments.lesson.config import load_run_config
    from vclass.config import parse_override

    overrides: list[tuple[list[str], Any]] = []
    for flag, keys in (("seed", ["seed"]), ("students", ["classroom", "students"]),
                       ("minutes", ["classroom", "minutes"]), ("policy", ["policy", "name"]),
                       ("recognizer", ["recognizer", "kind"]), ("backend", ["recognizer", "backend"])):
        if getattr(args, flag, None) is not None:
            overrides.append((keys, getattr(args, flag)))
    overrides += [parse_override(text) for text in args.set]
    return load_run_config(args.config, overrides)


def csv_text(columns: dict[str, np.ndarray]) -> str:
    """CSV of equal-length columns; floats written with full precision (``repr``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(c.tolist() for c in columns.values())))
    return buf.getvalue()


def simulate_run(run_cfg, policy_name: str, params: dict[str, Any], quiet: bool = True):
    """One lesson of ``run_cfg`` under ``policy_name``: returns (record, observer, summary)."""
    from tqdm import tqdm

    from vclass.agents.ecem import ECEM, decision_divergence
    from vclass.agents.registry import make_policy
    from vclass.sim.classroom import simulate
    from vclass.sim.measures import class_summary

    policy = make_policy(policy_name, params, run_cfg.sim)
    observer = run_cfg.make_observer()
    with tqdm(total=run_cfg.sim.classroom.n_ticks, desc=f"lesson ({policy_name})", unit="tick", disable=quiet,
              leave=False) as bar:
        record = simulate(run_cfg.sim, run_cfg.seed, policy, observer, on_tick=lambda _: bar.update())
    summary = class_summary(record)
    ecem = policy if isinstance(policy, ECEM) else ECEM(run_cfg.sim.emotion, run_cfg.sim.incentives)
    divergence = decision_divergence(ecem, record) if run_cfg.recognizer.kind != "oracle" else None
    summary.update(seed=run_cfg.seed, policy=policy_name, recognizer=run_cfg.recognizer.kind,
                   ecem_divergence=divergence, config=run_cfg.as_dict())
    return record, observer, summary


def write_lesson(out: Path, record, observer, summary: dict[str, Any], run_cfg) -> None:
    """Write one lesson's files into ``out``."""
    from vclass.experiments.lesson import plots
    from vclass.sim.measures import student_table, timeline
    from vclass.io import atomic_write_bytes, atomic_write_text, provenance, write_json

    ticks = timeline(record)
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "timeline.csv", csv_text(ticks))
    atomic_write_text(out / "students.csv", csv_text(student_table(record)))
    buf = io.BytesIO()
    np.savez_compressed(buf, state=record.state, expression=record.expression, recognized=record.recognized,
                        belief_state=record.belief_state, present=record.present)
    atomic_write_bytes(out / "recognitions.npz", buf.getvalue())
    write_json(out / "run.json", provenance(summary["config"], run_cfg.seed))
    plots.plot_emotions(ticks, out / "emotions.png")
    plots.plot_attention(ticks, out / "attention_tea.png")
    plots.plot_interventions(record, out / "interventions.png")
    if getattr(observer, "tracked", None) is not None:
        plots.plot_beliefs(record, observer, out / "beliefs.png")
    if getattr(observer, "samples", None):
        plots.plot_frames(observer.samples, out / "frames.png")


def format_summary(summaries: dict[str, dict[str, Any]]) -> str:
    """A text table with one column per policy."""
    names = list(summaries)
    width = max(len(label) for _, label, _ in SUMMARY_ROWS)
    lines = [f"{'measure':<{width}}  " + "  ".join(f"{n:>10}" for n in names),
             f"{'-' * width}  " + "  ".join("-" * 10 for _ in names)]
    for key, label, fmt in SUMMARY_ROWS:
        cells = []
        for n in names:
            value = summaries[n].get(key)
            cells.append(f"{'-':>10}" if value is None else f"{fmt.format(value):>10}")
        lines.append(f"{label:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from vclass.agents.registry import make_policy
    from vclass.experiments.lesson.report import write_report
    from vclass.io import new_run_dir, write_json

    run_cfg = resolve_config(args)
    make_policy(run_cfg.policy.name, run_cfg.policy.params, run_cfg.sim)   # validate before writing anything
    run_cfg.make_observer()                                                # the recognizer loads
    compare = args.compare if args.compare and args.compare != run_cfg.policy.name else None
    if compare:
        make_policy(compare, {}, run_cfg.sim)
    out = Path(args.out) if args.out else new_run_dir()
    out.mkdir(parents=True, exist_ok=True)
    record, observer, summary = simulate_run(run_cfg, run_cfg.policy.name, run_cfg.policy.params, args.quiet)
    write_lesson(out, record, observer, summary, run_cfg)
    summaries = {run_cfg.policy.name: summary}
    if compare:
        other = simulate_run(run_cfg, compare, {}, args.quiet)
        write_lesson(out / f"compare-{compare}", *other, run_cfg)
        summaries[compare] = other[2]
    comparison = {name: {k: s[k] for k, _, _ in SUMMARY_ROWS} for name, s in summaries.items()}
    write_json(out / "comparison.json", comparison)
    write_report(out, summaries, run_cfg, compare)
    if not args.quiet:
        c = run_cfg.sim.classroom
        print(f"{c.students} students, {c.minutes:g} min, recognizer {run_cfg.recognizer.kind}, seed {run_cfg.seed}")
        print(format_summary(summaries))
    print(f"run folder: {out}")
    return 0
