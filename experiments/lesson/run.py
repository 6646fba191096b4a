"""``vclass run``: simulate a lesson with the recognizer in the loop, compare policies, write a run folder.

The folder (default ``runs/<timestamp>/``) holds, for the configured policy:
``summary.json`` (class measures, in-loop accuracies, seed, resolved config),
``timeline.csv`` (one row per tick), ``students.csv`` (one row per student),
``recognitions.npz`` (true state, shown and recognized expression and belief
argmax per tick and student, for ``vclass fit-hmm``), ``run.json``
(provenance) and plots; the comparison policy (default ``none``, same seed,
same students) gets the same files under ``compare-<name>/``;
``comparison.json`` and ``report.html`` put them side by side. The folder is
whole or absent: it is built beside the target and put in place when every
file of the run is written (an earlier folder there is replaced whole, or left
untouched when the run fails or is killed), and a second command writing the
same folder is refused. Everything that can be checked is checked before the
lesson runs: the config, the policies, the recognizer against the frames, the
output folder.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from vclass.agents.registry import PolicyConfig
from vclass.config import ConfigError, parse_override
from vclass.experiments.lesson.config import RunConfig, load_run_config
from vclass.experiments.lesson.output import format_summary, write_lesson
from vclass.experiments.lesson.report import write_report
from vclass.experiments.lesson.runner import SUMMARY_KEYS, build_policy, describe_path, prepare_observers, run_lessons
from vclass.experiments.pool import forked_call
from vclass.io import new_run_dir, output_folder, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML config file (defaults: SPEC's)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--students", type=int, help="class size (default 30)")
    parser.add_argument("--minutes", type=float, help="lesson length in minutes (default 45)")
    parser.add_argument("--policy", help="policy name, e.g. ecem, none, always-fun, or module:Class (default ecem)")
    parser.add_argument("--recognizer", help="oracle, surrogate or scn-cs (default scn-cs, the shipped model)")
    parser.add_argument(
        "--backend",
        help="auto (default: the fastest CPU path installed, OpenVINO INT8 here), onnxruntime, openvino, torch, "
        "torch-cuda or tensorrt",
    )
    parser.add_argument(
        "--compare", default="none", help="baseline policy run on the same seed and students (default none; '' to skip)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set classroom.presentation=slides (repeatable)",
    )
    parser.add_argument("--out", help="run folder (default runs/<timestamp>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")


def resolve_config(args: argparse.Namespace) -> RunConfig:
    """The run config from ``--config``, the dedicated flags and ``--set`` overrides (later wins)."""
    overrides: list[tuple[list[str], Any]] = []
    for flag, keys in (
        ("seed", ["seed"]),
        ("students", ["classroom", "students"]),
        ("minutes", ["classroom", "minutes"]),
        ("policy", ["policy", "name"]),
        ("recognizer", ["recognizer", "kind"]),
        ("backend", ["recognizer", "backend"]),
    ):
        if getattr(args, flag, None) is not None:
            overrides.append((keys, getattr(args, flag)))
    overrides += [parse_override(text) for text in args.set]
    return load_run_config(args.config, overrides)


def main(args: argparse.Namespace) -> int:
    run_cfg = resolve_config(args)
    # Everything is built (and so validated) once, before anything is written: the policies, the recognizer, the
    # output folder.
    compare = args.compare if args.compare and args.compare != run_cfg.policy.name else None
    cfgs = [run_cfg]
    if compare:
        cfgs.append(dataclasses.replace(run_cfg, policy=PolicyConfig(compare)))
    policies = [build_policy(run_cfg)]
    try:
        policies += [build_policy(cfg) for cfg in cfgs[1:]]
    except ConfigError as err:
        raise ConfigError("--compare", err.message) from None
    prepared = prepare_observers(cfgs)
    target = Path(args.out) if args.out else new_run_dir()
    with output_folder(target) as out:
        # The lessons run together, their frames rendered and recognized in one batch a tick.
        results = run_lessons(cfgs, policies, progress=not args.quiet, prepared=prepared)
        result = results[0]
        # The comparison's folder is written by a forked copy of this process while this one writes its own.
        writes = [
            forked_call(write_lesson, out / f"compare-{compare}", other, cfg)
            for other, cfg in zip(results[1:], cfgs[1:])
        ]
        try:
            write_lesson(out, result, run_cfg)
            for write in writes:
                write.result()
        finally:  # a copy still writing when this command fails is ended before the folder is given up
            for write in writes:
                write.close()
        summaries = {cfg.policy.name: r.summary for cfg, r in zip(cfgs, results)}
        comparison = {name: {key: s[key] for key in SUMMARY_KEYS} for name, s in summaries.items()}
        write_json(out / "comparison.json", comparison)
        write_report(out, summaries, run_cfg, compare)
    if not args.quiet:
        c = run_cfg.sim.classroom
        on = f" on {describe_path(result.summary['recognition_path'])}" if run_cfg.recognizer.kind == "scn-cs" else ""
        print(
            f"{c.students} students, {c.minutes:g} min, recognizer {run_cfg.recognizer.kind}{on}, seed {run_cfg.seed}"
        )
        print(format_summary(summaries))
    print(f"run folder: {target}")
    return 0
