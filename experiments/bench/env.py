"""Environment speed: env steps/s of the motivation and attention environments at 30 students.

One step is one 30-second decision (three ticks of the whole class, recognition and the belief
filter included). Cases: the surrogate recognizer in one process (the env class stepped directly,
and through ``gymnasium.make``'s wrappers), vectorized (SB3's ``DummyVecEnv`` of 8 in one process and
``SubprocVecEnv`` of 2 processes), and ``scn-cs`` on ONNX Runtime (single and ``SubprocVecEnv`` of 2)
when the shipped model is present. Actions are random (seeded); 45-minute lessons, reset included.
"""

from __future__ import annotations

import json
import tempfile
import time
from typing import Any

import gymnasium
import numpy as np

from vclass.env.attention import AttentionEnv
from vclass.env.motivation import MotivationEnv
from vclass.env.observers import SHIPPED_CONFUSION, SHIPPED_MODEL
from vclass.experiments.bench.load import stamped

NOTES = (
    "One env step = one 30 s decision = 3 ticks of 30 students with recognition in the loop and the HMM "
    "belief filter. The surrogate target is 2,000 steps/s in one process; on a shared 2-core machine "
    "other work slows every figure, and vectorized figures are total steps/s over all copies."
)
STUDENTS = 30
TARGET = 2_000


def _time_single(env, seconds: float) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 10:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def _time_vec(venv, seconds: float) -> float:
    venv.seed(0)
    venv.reset()
    venv.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 10 * venv.num_envs:
        venv.step(np.stack([venv.action_space.sample() for _ in range(venv.num_envs)]))
        steps += venv.num_envs
    rate = steps / (time.perf_counter() - start)
    venv.close()
    return rate


def _placeholder_confusion() -> str:
    """A confusion file with 0.8 on the diagonal, for timing before a recognizer is shipped."""

    matrix = np.full((7, 7), 0.2 / 6)
    np.fill_diagonal(matrix, 0.8)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"confusion": matrix.tolist()}, fh)
    return fh.name


def run(quick: bool = False) -> list[dict[str, Any]]:
    seconds = 0.5 if quick else 8.0
    rows: list[dict[str, Any]] = []

    def row(case: str, value: float | None, target: str = "", note: str = "") -> None:
        rows.append(
            stamped(
                {
                    "benchmark": "env",
                    "case": case,
                    "value": value,
                    "unit": "env steps/s",
                    "target": target,
                    "note": note,
                }
            )
        )

    options: dict[str, Any] = {"students": STUDENTS}
    if not SHIPPED_CONFUSION.exists():  # speed does not depend on the confusion's values
        options["confusion_path"] = _placeholder_confusion()
    row("motivation, surrogate, 1 process", _time_single(MotivationEnv(**options), seconds), f">= {TARGET:,}")
    row("attention, surrogate, 1 process", _time_single(AttentionEnv(**options), seconds), f">= {TARGET:,}")
    row(
        "motivation, surrogate, gymnasium.make",
        _time_single(gymnasium.make("vclass/Motivation-v0", **options), seconds),
        note="with Gymnasium's wrappers",
    )
    from vclass.agents.drl import make_vec_env

    row(
        "motivation, surrogate, DummyVecEnv x8",
        _time_vec(make_vec_env("motivation", options, 8, 0), seconds),
        note="one process, SB3 wrappers",
    )
    row(
        "motivation, surrogate, SubprocVecEnv x2",
        _time_vec(make_vec_env("motivation", options, 2, 0, True), seconds),
        note="two worker processes",
    )
    if not SHIPPED_MODEL.exists():
        row("motivation, scn-cs (onnxruntime)", None, note=f"needs the shipped {SHIPPED_MODEL.name}")
        return rows
    scn: dict[str, Any] = {"students": STUDENTS, "recognizer": "scn-cs", "backend": "onnxruntime"}
    row(
        "motivation, scn-cs (onnxruntime), 1 process",
        _time_single(MotivationEnv(**scn), seconds),
        note="renders 30 faces a tick and runs the recognizer on them",
    )
    row(
        "motivation, scn-cs (onnxruntime), SubprocVecEnv x2",
        _time_vec(make_vec_env("motivation", scn, 2, 0, True), seconds),
        note="two worker processes",
    )
    return rows
