"""Recognition in the loop: the teacher sees the class through camera frames (SPEC §4; S3 Fig. 7).

Every tick, each present, connected, camera-on student shows an expression
drawn by the world (:mod:`vclass.sim.expressions`: ``B(state, ·)`` at an
intensity that rises with arousal and the student's expressiveness),
together with this tick's behaviour (eyes closed, yawning, looking away).
The recognizer turns that into a recognized class and attribute
probabilities:

* ``scn-cs`` renders the faces (``vclass.sim.faces``) and runs the real recognizer on
  the whole class in one batch through the chosen backend;
* ``surrogate`` skips the pixels and draws the recognized class from the real
  model's measured confusion matrix (fast, for policy training).

A per-student HMM forward filter (S3 eq 9) turns recognized classes into the
belief ``A``; students without a frame are predicted only. The filter's model
is what a teacher can know: SPEC's shared base chain ``A0`` tilted each tick
by the lesson context for an average student (segment difficulty against the
mean ability, the mean fatigue, online tests) and by the incentives the
teacher applied (its own record, faded at the median dilution); emissions are
SPEC's ``B`` composed with the recognizer's confusion matrix. It never uses a
student's own chain, ability, fatigue or fading rate. Attention is estimated
from the attribute outputs: the looking-away probability inverts SPEC's
``P(look away) = 0.3 (1 - a)``, closed eyes cap it, and the per-tick value is smoothed by an exponential moving average
(weight ``ATTENTION_SMOOTHING``) started at the belief's expected attention.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np

from vclass.config import ConfigError, bounded
from vclass.models.fastest import fastest_cpu_recognizer
from vclass.models.hmm import BeliefFilter, compose_emission
from vclass.models.recognizer import (
    SHIPPED_CONFUSION,
    SHIPPED_MODEL,
    BackendUnavailable,
    RecognizerLoadError,
    load_recognizer,
)
from vclass.models.surrogate import SurrogateRecognizer
from vclass.sim.attention import BEHAVIOUR_NAMES, ONE, ZERO
from vclass.sim.classroom import Classroom, LessonRecord, OracleObserver
from vclass.sim.config import SimConfig
from vclass.sim.faces import FaceIdentity, FaceParams, render_faces, sample_face_params, sample_identities
from vclass.sim.measures import Measure
from vclass.sim.teacher import TeacherModel

RECOGNIZERS = ("oracle", "surrogate", "scn-cs")
ATTENTION_SMOOTHING = 0.3
AUTO_BACKEND = "auto"  # the fastest CPU path installed (vclass.models.fastest)
SAMPLE_FRAMES = 24  # frames kept for the report's sample grid
SURROGATE_DRAWS_BLOCK = 1 << 18  # the surrogate's draws made in one call, at most (or one tick's, if more)
TRACKED_STUDENTS = 4  # students whose full belief is kept every tick, for the belief-vs-truth plot

_LOOK, _EYES, _YAWN = (BEHAVIOUR_NAMES.index(n) for n in ("looking_away", "eyes_closed", "yawning"))
_ATTRIBUTE_COLUMNS = np.array([_EYES, _YAWN, _LOOK])  # behaviour columns in the recognizer's attribute order
# A surrogate's detections (eyes closed, yawning, looking away) coded 2 [eyes closed] + [looking away] (yawning does
# not enter the attention estimate), and the detections of each code.
_DETECTION_CODE = np.array([2.0, 0.0, 1.0])
_DETECTION_PATTERNS = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]])


@dataclass(frozen=True)
class RecognizerConfig:
    """How the teacher sees the class (SPEC §4): the recognizer in the loop and its backend (the ``[recognizer]``
    table of a run config).

    ``model`` and ``confusion`` default (empty) to the shipped model and its measured confusion.
    """

    kind: Literal["oracle", "surrogate", "scn-cs"] = bounded("scn-cs")
    backend: Literal["auto", "onnxruntime", "openvino", "torch", "torch-cuda", "tensorrt"] = bounded(
        "auto", doc="auto: the fastest CPU path installed (vclass.models.fastest)"
    )
    model: str = bounded("", doc="ONNX file or training folder; empty: the shipped model")
    confusion: str = bounded("", doc="confusion.json for the surrogate and the filter; empty: the shipped one")


# The in-loop measures of :func:`in_loop_accuracy`.
IN_LOOP_MEASURES = (
    Measure("recognition_accuracy", "recognition accuracy in the loop", "{:.3f}"),
    Measure("belief_accuracy", "belief accuracy (argmax vs truth)", "{:.3f}"),
    Measure("frames_share", "share of present time with a frame", "{:.3f}"),
)


@dataclass
class RecognitionLog:
    """What the recognizer and the belief filter made of one lesson, per tick (rows) and student (columns).

    :ivar recognized: (T, N) int8 recognized expression class, -1 without a frame.
    :ivar belief_state: (T, N) int8 argmax of the belief after the tick.
    :ivar tracked: (T, k, 8) the whole belief of the first k students (``TRACKED_STUDENTS``).
    :ivar samples: a few rendered frames with their shown and recognized class (``scn-cs`` only).
    """

    recognized: np.ndarray
    belief_state: np.ndarray
    tracked: np.ndarray
    samples: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def allocate(cls, n_ticks: int, n_students: int, n_states: int) -> RecognitionLog:
        return cls(
            recognized=np.full((n_ticks, n_students), -1, dtype=np.int8),
            belief_state=np.full((n_ticks, n_students), -1, dtype=np.int8),
            tracked=np.zeros((n_ticks, min(TRACKED_STUDENTS, n_students), n_states)),
        )


def in_loop_accuracy(record: LessonRecord, log: RecognitionLog | None) -> dict[str, float | None]:
    """Recognition accuracy (recognized vs shown expression, over frames) and belief accuracy (argmax belief
    vs true state, over present student-ticks); both None without a log (the oracle recognizes nothing).
    ``frames_share``: the share of present student-ticks with a frame."""
    if log is None:
        return {
            "recognition_accuracy": None,
            "belief_accuracy": None,
            "frames_share": float(((record.expression >= 0)[record.present]).mean()) if record.present.any() else 0.0,
        }
    framed = log.recognized >= 0
    recognition = float((log.recognized[framed] == record.expression[framed]).mean()) if framed.any() else None
    believed = (log.belief_state >= 0) & record.present
    belief = float((log.belief_state[believed] == record.state[believed]).mean()) if believed.any() else None
    return {
        "recognition_accuracy": recognition,
        "belief_accuracy": belief,
        "frames_share": float(framed[record.present].mean()) if record.present.any() else 0.0,
    }


class RecognitionObserver:
    """Frames -> recognizer -> HMM filter -> beliefs and attention estimates.

    :param recognizer: ``surrogate`` or ``scn-cs``.
    :param backend: inference backend for ``scn-cs``: ``auto`` (the fastest CPU path installed here: OpenVINO INT8
        when it can, see :func:`vclass.models.fastest.fastest_cpu_recognizer`), ``onnxruntime``, ``openvino``,
        ``torch``, ``torch-cuda`` or ``tensorrt`` (the model file as given).
    :param model_path: ONNX file (or training folder) of the recognizer; default the shipped model.
    :param confusion_path: measured confusion of that model; default the shipped one.
    """

    def __init__(
        self,
        recognizer: str = "scn-cs",
        backend: str = "auto",
        model_path: str | Path | None = None,
        confusion_path: str | Path | None = None,
        service=None,
    ):
        if recognizer not in ("surrogate", "scn-cs"):
            raise ValueError(f"recognizer must be 'surrogate' or 'scn-cs', got {recognizer!r}")
        self.kind = recognizer
        self.watches = "faces" if recognizer == "scn-cs" else "expressions"
        self.surrogate = SurrogateRecognizer.from_file(confusion_path or SHIPPED_CONFUSION)
        self._config = None  # the config last prepared for (see _prepare)
        self.model = None
        self.service = service  # a RecognitionService batching frames across classrooms, or None
        # Which recognizer runs, as a run records it: backend, model file, precision, and why.
        self.path: dict[str, str] | None = getattr(service, "path", None)
        if recognizer == "scn-cs" and service is None:
            self.model, self.path = load_recognition_model(backend, model_path)

    def check_fits(self, cfg: SimConfig) -> None:
        """Refuse a recognizer that cannot read the frames of lessons with config ``cfg``, before any lesson runs.

        :raises ConfigError: naming ``recognizer.model`` (or ``frames.size``) and both sizes.
        """
        model = self.model if self.model is not None else getattr(self.service, "model", None)
        if model is not None:
            check_model_fits(model, cfg)

    # -- Observer protocol ------------------------------------------------------------------------------------------
    def reset(self, room: Classroom, rng: np.random.Generator) -> None:
        cfg = room.cfg
        n = room.n_students
        self.room, self.rng = room, rng
        if self._config is not cfg:  # an env resets with the same config every lesson: prepare it once
            self._prepare(cfg, room.plan)
        transitions, initial = self.base_transitions, self._initial
        self.filter = BeliefFilter(transitions, self._emission_model, initial, n)
        self._attention = np.full(n, initial @ self.attention_targets)
        self._lesson_constants(room)
        self.identities = sample_identities(n, rng) if self.kind == "scn-cs" else None
        self.log = RecognitionLog.allocate(room.plan.n_ticks, n, transitions.shape[0])
        # The surrogate's U(0, 1) draws, (1 + 3) a face a tick, drawn a block of ticks at a time (the whole lesson,
        # unless the class is large): the same numbers, in the same order, as SurrogateRecognizer.recognize drawing
        # them tick by tick.
        self._draws_block = max(1, min(room.plan.n_ticks, SURROGATE_DRAWS_BLOCK // (4 * n)))
        self._draws = np.empty((0, n, 4))
        self._draws_used = 0  # of the block
        self._rendered: collections.deque = collections.deque()  # ticks rendered, their recognitions still to come

    def observe(self, room: Classroom, tick: int) -> None:
        visible, expression, intensity = room.visible, room.shown_expression, room.shown_intensity
        attributes = room.record.behaviour[tick].take(_ATTRIBUTE_COLUMNS, axis=1)
        self._pending = (tick, visible, expression)
        if self.kind == "surrogate":
            self.complete(*self.surrogate.recognize_with(expression, attributes, self._next_draws()))
            return
        seen = np.flatnonzero(visible)
        if intensity is None or self.identities is None:
            raise RuntimeError("scn-cs renders faces: the classroom must draw intensities (watches = 'faces')")
        self._pending_seen = seen
        params = self._face_params(seen, expression[seen], intensity[seen], attributes[seen], self.identities)
        if self.service is not None:  # the service renders, calls rendered(), then recognized() after its batch
            self.service.submit(self, params, self.rng, room.cfg.frames.size)
            return
        size = room.cfg.frames.size
        frames = np.zeros((0, size, size), np.uint8) if params is None else render_faces(params, self.rng, size=size)
        self.rendered(frames)
        if self.model is not None:
            self.recognized(*self.model.predict(frames))

    def rendered(self, frames: np.ndarray) -> None:
        """The frames rendered this tick, uint8 (S, size, size), in the order of the visible students.

        Keeps what :meth:`recognized` needs of this tick (the true states for the frame samples, the intensities
        of the teacher's own incentives during the tick), so that a service may hand the recognitions over later,
        after the next tick has begun (:class:`vclass.env.batch.RecognitionService` overlaps a tick's inference
        with the next tick's rendering); recognitions come in the order the frames were rendered.
        """
        tick, visible, expression = self._pending
        seen = self._pending_seen
        room = self.room
        self._rendered.append(
            (tick, visible, expression, seen, frames, room.state.take(seen), room.teacher_ledger.before_decay())
        )

    def recognized(self, probs: np.ndarray, attrs: np.ndarray) -> None:
        """Recognizer outputs for the frames of the earliest rendered tick not yet recognized (in the order of the
        visible students)."""
        tick, visible, expression, seen, frames, state, intensity = self._rendered.popleft()
        n = expression.shape[0]
        recognized = np.zeros(n, dtype=np.int64)
        attribute_probs = np.zeros((n, 3))
        if seen.size:
            recognized[seen] = probs.argmax(axis=1)
            attribute_probs[seen] = attrs
            self._keep_samples(tick, seen, frames, expression[seen], recognized[seen], state)
        self._filter(tick, visible, recognized, attribute_probs, intensity)

    def complete(self, recognized: np.ndarray, attribute_probs: np.ndarray) -> None:
        """Second half of a tick: filter the recognized classes into beliefs and update attention estimates."""
        tick, visible, _ = self._pending
        self._filter(tick, visible, recognized, attribute_probs, self.room.teacher_ledger.before_decay())

    def _filter(
        self, tick: int, visible: np.ndarray, recognized: np.ndarray, attribute_probs: np.ndarray, intensity
    ) -> None:
        """A tick's recognitions into beliefs and attention estimates; ``intensity``: the teacher's incentives'
        intensities during the tick's transition."""
        log = self.log
        log.recognized[tick] = shown = np.where(visible, recognized, self._no_frame)
        # S3 eq 9 with the teacher's chain: the prior is the belief moved one tick by the teacher's model.
        prior = self.teacher.step(self.filter.belief, tick, intensity)
        belief = self.filter.update(shown, visible, prior=prior)
        self._update_attention(belief, attribute_probs, visible)
        log.belief_state[tick] = belief.argmax(axis=1)
        log.tracked[tick] = belief[: log.tracked.shape[1]]

    def belief(self) -> np.ndarray:
        if self._rendered and self.service is not None:  # recognitions still on their way: wait for them
            self.service.resolve()
        return self.filter.belief.copy()

    def attention(self) -> np.ndarray:
        if self._rendered and self.service is not None:
            self.service.resolve()
        return self._attention.copy()

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _next_draws(self) -> np.ndarray:
        """The surrogate's draws (n, 4) for this tick, the next of the block (a new block drawn when it is used up)."""
        if self._draws_used == self._draws.shape[0]:
            self._draws = self.rng.random((self._draws_block, *self._draws.shape[1:]))
            self._draws_used = 0
        self._draws_used += 1
        return self._draws[self._draws_used - 1]

    def _face_params(
        self,
        students: np.ndarray,
        expression: np.ndarray,
        intensity: np.ndarray,
        attributes: np.ndarray,
        identities: FaceIdentity,
    ) -> FaceParams | None:
        """This tick's face parameters of ``students`` (drawn from the observer's stream), None when nobody is seen."""
        if not students.size:
            return None
        return sample_face_params(
            students.size,
            self.rng,
            identity=identities.take(students),
            expression=expression,
            intensity=intensity,
            eyes_closed=attributes[:, 0],
            yawning=attributes[:, 1],
            looking_away=attributes[:, 2],
        )

    def _prepare(self, cfg, plan) -> None:
        """What the observer needs of a config (and its lesson plan), for every lesson with that config."""
        self._config = cfg
        self.emission = np.asarray(cfg.frames.emission)
        self.teacher = TeacherModel(cfg, plan)  # the chain the filter predicts with; ECEM looks ahead with the same
        self.base_transitions = self.teacher.base
        self._initial = self.teacher.initial
        self._emission_model = compose_emission(self.emission, self.surrogate.confusion)
        self.attention_targets = np.asarray(cfg.attention.targets)
        self.look_away_scale = cfg.behaviour.look_away_scale
        self._constants = attention_constants(cfg)
        # face_attention() of the surrogate's four detection patterns, by code 2 [eyes closed] + [looking away].
        self._face_attention = face_attention(_DETECTION_PATTERNS, self._constants)

    def _lesson_constants(self, room: Classroom) -> None:
        """Per-lesson tables, so that a tick looks up what does not change from tick to tick."""
        self._no_frame = np.full(room.n_students, -1)  # what the log shows (and the filter reads) without a frame

    def _teacher_transitions(self, room: Classroom, tick: int) -> np.ndarray:
        """The chain the teacher believes moved the class at ``tick``: (N, 8, 8), from the intensities of its own
        applications as they stood during the tick's transition (what the filter's prior moves beliefs through)."""
        return self.teacher.chains(tick, room.teacher_ledger.before_decay())

    def _update_attention(self, belief: np.ndarray, attribute_probs: np.ndarray, visible: np.ndarray) -> None:
        from_face = None
        if self.kind == "surrogate":  # detections 0 or 1: what a face shows is one of four numbers, looked up
            from_face = self._face_attention.take((attribute_probs @ _DETECTION_CODE).astype(np.intp))
        update_attention_estimate(
            self._attention, belief @ self.attention_targets, attribute_probs, visible, self._constants, from_face
        )

    def _keep_samples(
        self,
        tick: int,
        students: np.ndarray,
        frames: np.ndarray,
        expression: np.ndarray,
        recognized: np.ndarray,
        state: np.ndarray,
    ) -> None:
        samples = self.log.samples
        if len(samples) >= SAMPLE_FRAMES or tick % 30:
            return
        for i in range(min(3, students.size, SAMPLE_FRAMES - len(samples))):
            samples.append(
                {
                    "tick": tick,
                    "student": int(students[i]),
                    "frame": frames[i],
                    "expression": int(expression[i]),
                    "recognized": int(recognized[i]),
                    "state": int(state[i]),
                }
            )


def check_model_fits(model: Any, cfg: SimConfig) -> None:
    """Refuse a recognizer that cannot read the frames of lessons with config ``cfg``.

    :raises ConfigError: naming ``frames.size`` and both sizes.
    """
    size = cfg.frames.size
    if tuple(model.input_size) != (size, size):
        height, width = model.input_size
        raise ConfigError(
            "frames.size",
            f"the recognizer {model.source} reads {height}x{width} frames, but frames.size is {size}: set "
            f"frames.size = {height}, or give a recognizer trained on {size}x{size} faces",
        )


def load_recognition_model(
    backend: str = AUTO_BACKEND, model_path: str | Path | None = None
) -> tuple[Any, dict[str, str]]:
    """The scn-cs recognizer ``backend`` runs (``auto``: the fastest CPU path installed) and its recognition path
    (backend, model file, precision, and why), as runs record it.

    :raises RecognizerLoadError: a model file that does not load or run.
    :raises BackendUnavailable: a backend missing here.
    """
    if backend == AUTO_BACKEND:
        choice = fastest_cpu_recognizer(model_path or SHIPPED_MODEL)
        model = load_recognizer(choice.model_path, backend=choice.backend)
        return model, {
            "backend": choice.backend,
            "model": str(choice.model_path),
            "precision": choice.precision,
            "note": choice.note,
        }
    model = load_recognizer(model_path or SHIPPED_MODEL, backend=backend)
    return model, {
        "backend": backend,
        "model": str(model.source),
        "precision": "as given",
        "note": "the backend and model file given",
    }


def attention_constants(cfg: SimConfig) -> SimpleNamespace:
    """The numbers :func:`update_attention_estimate` computes with, as 0-d arrays (see vclass.sim.attention.ONE)."""
    return SimpleNamespace(
        look_away_scale=np.asarray(cfg.behaviour.look_away_scale),
        eyes_closed_weight=np.asarray(0.9),
        half=np.asarray(0.5),
        smoothing=np.asarray(ATTENTION_SMOOTHING),
    )


def face_attention(attribute_probs: np.ndarray, constants: SimpleNamespace) -> np.ndarray:
    """What the face shows of attention (N,), from the attribute outputs (N, 3) (eyes closed, yawning, looking away):
    ``clip(1 - p_look / scale, 0, 1)``, capped by closed eyes at ``1 - 0.9 p_eyes``.

    :param constants: :func:`attention_constants` of the lesson's config.
    """
    c = constants
    # Probabilities are >= 0, so the cap (<= 1) makes the upper clip redundant.
    return np.minimum(
        np.maximum(ONE - attribute_probs[:, 2] / c.look_away_scale, ZERO),
        ONE - c.eyes_closed_weight * attribute_probs[:, 0],
    )


def update_attention_estimate(
    attention: np.ndarray,
    expected: np.ndarray,
    attribute_probs: np.ndarray,
    visible: np.ndarray,
    constants: SimpleNamespace,
    from_face: np.ndarray | None = None,
) -> None:
    """One tick of the attention estimate (in place): the belief's expected attention ``expected``, averaged with
    what the face shows where there is a frame, smoothed into ``attention``.

    :param attribute_probs: (N, 3) eyes closed, yawning, looking away.
    :param constants: :func:`attention_constants` of the lesson's config.
    :param from_face: :func:`face_attention` of ``attribute_probs`` when the caller has it (default: computed here).
    """
    c = constants
    if from_face is None:
        from_face = face_attention(attribute_probs, c)
    observed = c.half * expected + c.half * from_face
    target = np.where(visible, observed, expected)
    attention += c.smoothing * (target - attention)


def make_observer(
    recognizer: str,
    backend: str = "auto",
    model_path: str | Path | None = None,
    confusion_path: str | Path | None = None,
    service=None,
):
    """The observer for a ``--recognizer`` choice: ``oracle``, ``surrogate`` or ``scn-cs``.

    :param service: a :class:`vclass.env.batch.RecognitionService` that batches this observer's frames with other
        classrooms' (scn-cs only).
    """
    if recognizer == "oracle":
        return OracleObserver()
    return RecognitionObserver(recognizer, backend, model_path, confusion_path, service)


def observer_from_config(config: RecognizerConfig, sim: SimConfig, service=None):
    """The observer a run config's ``[recognizer]`` table names, checked against the lessons' config ``sim``: the
    model loads and runs, reads frames of ``frames.size``, and its confusion file is a 7x7 row-stochastic matrix with
    attribute rates in [0, 1]. It may serve several lessons one after another (each ``reset`` starts a fresh log).

    :raises ConfigError: naming ``recognizer.model``, ``recognizer.confusion``, ``recognizer.backend`` or
        ``frames.size``, when anything of that does not hold.
    """
    try:
        observer = make_observer(config.kind, config.backend, config.model or None, config.confusion or None, service)
    except RecognizerLoadError as err:
        raise ConfigError("recognizer.model", str(err)) from None
    except BackendUnavailable as err:
        raise ConfigError("recognizer.backend", str(err)) from None
    except (ValueError, OSError) as err:  # the confusion file
        raise ConfigError("recognizer.confusion", str(err)) from None
    if isinstance(observer, RecognitionObserver):
        observer.check_fits(sim)
    return observer
