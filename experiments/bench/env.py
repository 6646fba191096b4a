"""Environment speed: env steps/s of the motivation and attention environments at 30 students.

One step is one 30-second decision (three ticks of the whole class, recognition and the belief
filter included). Cases: the surrogate recognizer in one process (the env class stepped directly,
and through ``gymnasium.make``'s wrappers), vectorized (SB3's ``DummyVecEnv`` of 8 in one process and
``SubprocVecEnv`` of 2 processes), the batched environments (``gymnasium.make_vec(...,
vectorization_mode="vector_entry_point")``: B lessons in one numpy tick, B = 8, 16, 64), and ``scn-cs`` on
ONNX Runtime (single and ``SubprocVecEnv`` of 2) when the shipped model is present. Actions are random
(seeded); 45-minute lessons, reset included (and the lesson summary at each end).

Training throughput: env steps/s of ``vclass train-policy --task motivation`` (the shipped policy's recipe,
per-student PPO), on the batched lessons with the recipe's settings, beside the path before issue 15
(``StudentVecEnv`` of 8 lessons one at a time, SB3's ``MlpPolicy``, 5 epochs of 2048-minibatches), over a few
rollouts each.
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
from vclass.env.vector import AttentionVectorEnv, MotivationVectorEnv
from vclass.experiments.bench.load import stamped

NOTES = (
    "One env step = one 30 s decision = 3 ticks of 30 students with recognition in the loop and the HMM "
    "belief filter. Targets: 2,000 steps/s for the surrogate in one process, 15,000 for the batched "
    "environment of 64 lessons. Vectorized and batched figures are total steps/s over all lessons; the load "
    "column says whether other work shared the cores."
)
STUDENTS = 30
TARGET = 2_000
BATCHED_TARGET = 15_000  # issue 15: the batched environment at B = 64
BATCHES = (8, 16, 64)


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


def _time_batched(envs, seconds: float) -> float:
    """Env steps/s of a Gymnasium vector env (all its lessons' steps)."""
    envs.reset(seed=0)
    envs.action_space.seed(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or steps < 10 * envs.num_envs:
        envs.step(envs.action_space.sample())
        steps += envs.num_envs
    rate = steps / (time.perf_counter() - start)
    envs.close()
    return rate


def _training_rate(options: dict[str, Any], rollouts: int) -> float:
    """Env steps/s of ``vclass train-policy --task motivation`` with the recipe's settings (its own ``train``)."""
    from vclass.agents.drl import TrainConfig, train

    recipe = TrainConfig(task="motivation", progress_bar=False)
    lessons, steps = recipe.lessons(), recipe.rollout_steps()
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            task="motivation",
            timesteps=rollouts * lessons * steps,
            out=out,
            progress_bar=False,
            env_kwargs={k: v for k, v in options.items() if k != "students"},
        )
        return train(cfg)["steps_per_second"]


def _old_training_rate(options: dict[str, Any], rollouts: int) -> float:
    """Env steps/s of the recipe before issue 15: SB3's PPO with ``MlpPolicy`` on :class:`StudentVecEnv` (8 lessons
    one at a time), 64 steps a rollout, 5 epochs of 2048-minibatches."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from vclass.agents.drl import TASK_DEFAULTS, StudentVecEnv

    torch.set_num_threads(1)
    venv = StudentVecEnv({**options, "recognizer": "surrogate"}, 8)
    venv.seed(0)
    defaults = TASK_DEFAULTS["motivation"]
    model = PPO(
        "MlpPolicy",
        VecMonitor(venv),
        n_steps=64,
        batch_size=2048,
        n_epochs=5,
        learning_rate=defaults["learning_rate"],
        gamma=defaults["gamma"],
        gae_lambda=defaults["gae_lambda"],
        ent_coef=defaults["ent_coef"],
        policy_kwargs={"net_arch": [64, 64]},
        seed=0,
        device="cpu",
    )
    start = time.perf_counter()
    model.learn(rollouts * 64 * venv.num_envs)
    return model.num_timesteps / venv.n_students / (time.perf_counter() - start)


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
    for lessons in BATCHES:
        row(
            f"motivation, surrogate, batched x{lessons}",
            _time_batched(MotivationVectorEnv(lessons, **options), seconds),
            f">= {BATCHED_TARGET:,}" if lessons == BATCHES[-1] else "",
            note="one process, B lessons in one numpy tick",
        )
    row(
        f"attention, surrogate, batched x{BATCHES[-1]}",
        _time_batched(AttentionVectorEnv(BATCHES[-1], **options), seconds),
        note="one process",
    )
    rollouts = 1 if quick else 4
    old = _old_training_rate(options, rollouts if quick else 2 * rollouts)
    row(
        "train-policy motivation recipe, before issue 15",
        old,
        note="StudentVecEnv x8 lessons, MlpPolicy, 5 epochs; PPO updates included",
    )
    new = _training_rate(options, rollouts)
    row(
        "train-policy motivation recipe, batched",
        new,
        ">= 3x before",
        note=f"batched lessons, PerStudentPolicy, the recipe's settings; {new / old:.1f}x before",
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
