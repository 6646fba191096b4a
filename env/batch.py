"""Many classrooms at once, their frames recognized together (issue: the GPU inference path).

:class:`RecognitionService` gathers the frames every classroom rendered in a
tick and runs the recognizer once on the whole batch; :func:`run_classrooms`
runs K lessons in one SimPy environment, with a ``recognition`` process that
flushes the service after every classroom's tick (so beliefs are updated
before the next decision, exactly as with per-classroom recognition).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import simpy

from vclass.sim.classroom import Lesson, LessonRecord, Policy
from vclass.sim.config import SimConfig


class RecognitionService:
    """Batches frames from many observers into one recognizer call.

    :param model: a :class:`vclass.models.recognizer.Recognizer` (any backend).
    :param max_batch: frames per recognizer call at most (larger batches are split).
    """

    def __init__(self, model: Any, max_batch: int = 8192):
        self.model = model
        self.max_batch = max_batch
        self._pending: list[tuple[Any, np.ndarray | None]] = []
        self.batches = 0
        self.frames = 0

    def submit(self, observer: Any, frames: np.ndarray | None) -> None:
        """Queue one classroom's frames of this tick (None when no student is visible)."""
        self._pending.append((observer, frames))

    def flush(self) -> None:
        """Recognize everything queued in one batch and hand each observer its share."""
        pending, self._pending = self._pending, []
        sizes = [0 if f is None else f.shape[0] for _, f in pending]
        total = sum(sizes)
        probs, attrs = np.zeros((0, 7)), np.zeros((0, 3))
        if total:
            batch = np.concatenate([f for _, f in pending if f is not None])
            parts = [self.model.predict(batch[i : i + self.max_batch]) for i in range(0, total, self.max_batch)]
            probs = np.concatenate([p for p, _ in parts])
            attrs = np.concatenate([a for _, a in parts])
            self.batches += len(parts)
            self.frames += total
        start = 0
        for (observer, _), size in zip(pending, sizes):
            observer.recognized(probs[start : start + size], attrs[start : start + size])
            start += size


def recognition(env: simpy.Environment, service: RecognitionService, tick_seconds: float):
    """Flush the service after every classroom's tick (created after the lessons, so it runs last)."""
    while True:
        service.flush()
        yield env.timeout(tick_seconds)


def run_classrooms(
    cfg: SimConfig,
    seeds: Sequence[int],
    policies: Sequence[Policy],
    observers: Sequence[Any],
    service: RecognitionService | None = None,
) -> list[LessonRecord]:
    """Run one lesson per seed together in one SimPy environment; frames go through ``service``.

    :param observers: one per lesson; with a service, ``RecognitionObserver(..., service=service)``.
    """
    env = simpy.Environment()
    lessons = [
        Lesson(cfg, seed, policy, observer, env=env) for seed, policy, observer in zip(seeds, policies, observers)
    ]
    if service is not None:
        env.process(recognition(env, service, cfg.classroom.tick_seconds))
    env.run(until=lessons[0].end_seconds)
    return [lesson.room.record for lesson in lessons]
