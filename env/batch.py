"""Many classrooms at once, their frames recognized together (issue: the GPU inference path).

:class:`RecognitionService` gathers the frames every classroom rendered in a
tick and runs the recognizer once on the whole batch; :func:`run_classrooms`
runs K lessons in one SimPy environment, with a ``recognition`` process that
flushes the service after every classroom's tick (so beliefs are updated
before the next decision, exactly as with per-classroom recognition).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import simpy

from vclass.config import ConfigError
from vclass.env.observers import RecognizerConfig, check_model_fits, load_recognition_model
from vclass.models.recognizer import BackendUnavailable, RecognizerLoadError
from vclass.sim.classroom import Lesson, LessonRecord, Policy
from vclass.sim.config import SimConfig
from vclass.sim.faces import FaceParams, render_face_groups


class RecognitionService:
    """Renders the frames of many observers in one batch and recognizes them in one recognizer call.

    Each observer's faces keep their own random stream (:func:`vclass.sim.faces.render_face_groups`), so every
    classroom sees, byte for byte, the frames and recognitions it would see on its own.

    With ``overlap`` (the default), a tick's recognizer call runs on a worker thread (the recognizers' inference
    releases the GIL) while the lessons go on to the next tick and render its frames; the recognitions are handed
    to the observers, in order, before the next call and before any observer is read (:meth:`resolve`: a policy
    reading beliefs waits for them). Nothing depends on when they arrive, so the lessons are the same as without
    overlap, bit for bit; on two cores a tick costs about its rendering or its inference, not both.

    :param model: a :class:`vclass.models.recognizer.Recognizer` (any backend).
    :param max_batch: frames per recognizer call at most (larger batches are split).
    :param path: the recognition path runs record (:func:`vclass.env.observers.load_recognition_model`).
    :param overlap: run each call on a worker thread, overlapping the next tick's rendering.
    """

    def __init__(self, model: Any, max_batch: int = 8192, path: dict[str, str] | None = None, overlap: bool = True):
        self.model = model
        self.max_batch = max_batch
        self.path = path
        self.overlap = overlap
        self._pending: list[tuple[Any, FaceParams | None, np.random.Generator]] = []
        self._size: int | None = None
        self._in_flight: tuple[Future | None, list[Any], list[int]] | None = None
        self._worker: ThreadPoolExecutor | None = None
        self.batches = 0
        self.frames = 0

    def submit(self, observer: Any, params: FaceParams | None, rng: np.random.Generator, size: int) -> None:
        """Queue one classroom's faces of this tick (None when no student is visible), their sensor noise to be
        drawn from ``rng``, at ``size`` pixels (the same for every classroom of a batch)."""
        if self._size is not None and size != self._size:
            raise ValueError(f"one batch renders one frame size: {self._size} and {size} pixels were queued")
        self._size = size
        self._pending.append((observer, params, rng))

    def flush(self) -> None:
        """Render everything queued and hand each observer its frames; start recognizing them (handing over the
        previous call's recognitions first). Without ``overlap``, the recognitions are handed over at once."""
        pending, self._pending = self._pending, []
        size, self._size = self._size, None
        if not pending or size is None:
            return
        groups = [(params, rng) for _, params, rng in pending if params is not None]
        frames = render_face_groups(groups, size)
        sizes = [0 if params is None else len(params) for _, params, _ in pending]
        start = 0
        for (observer, _, _), n in zip(pending, sizes):
            observer.rendered(frames[start : start + n])
            start += n
        self.resolve()
        future = None
        if frames.shape[0]:
            if self.overlap:
                if self._worker is None:
                    self._worker = ThreadPoolExecutor(1, thread_name_prefix="vclass-recognition")
                future = self._worker.submit(self._predict, frames)
            else:
                future = Future()
                future.set_result(self._predict(frames))
        self._in_flight = (future, [observer for observer, _, _ in pending], sizes)
        if not self.overlap:
            self.resolve()

    def resolve(self) -> None:
        """Wait for the recognizer call in flight, if any, and hand its recognitions to the observers (re-raising
        the recognizer's error, if it failed)."""
        if self._in_flight is None:
            return
        future, observers, sizes = self._in_flight
        self._in_flight = None
        probs, attrs = future.result() if future is not None else (np.zeros((0, 7)), np.zeros((0, 3)))
        start = 0
        for observer, n in zip(observers, sizes):
            observer.recognized(probs[start : start + n], attrs[start : start + n])
            start += n

    def close(self) -> None:
        """Hand over what is in flight and stop the worker thread."""
        try:
            self.resolve()
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None

    def abandon(self) -> None:
        """Drop what is in flight (a lesson failed) and stop the worker thread."""
        self._in_flight = None
        self._pending = []
        if self._worker is not None:
            self._worker.shutdown(wait=True, cancel_futures=True)
            self._worker = None

    def _predict(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = frames.shape[0]
        parts = [self.model.predict(frames[i : i + self.max_batch]) for i in range(0, total, self.max_batch)]
        self.batches += len(parts)
        self.frames += total
        return np.concatenate([p for p, _ in parts]), np.concatenate([a for _, a in parts])


def recognition_service(config: RecognizerConfig, sim: SimConfig) -> RecognitionService | None:
    """The service that batches the frames of lessons seen by ``config``'s scn-cs recognizer (None for the oracle
    and the surrogate, which render nothing), with the model loaded and checked as
    :func:`vclass.env.observers.observer_from_config` checks it.

    :raises ConfigError: naming ``recognizer.model``, ``recognizer.backend`` or ``frames.size``.
    """
    if config.kind != "scn-cs":
        return None
    try:
        model, path = load_recognition_model(config.backend, config.model or None)
    except RecognizerLoadError as err:
        raise ConfigError("recognizer.model", str(err)) from None
    except BackendUnavailable as err:
        raise ConfigError("recognizer.backend", str(err)) from None
    service = RecognitionService(model, path=path)
    check_model_fits(model, sim)
    return service


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
    try:
        env.run(until=lessons[0].end_seconds)
    except BaseException:
        if service is not None:
            service.abandon()
        raise
    if service is not None:
        service.close()
    return [lesson.room.record for lesson in lessons]
