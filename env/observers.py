"""Recognition in the loop: the teacher sees the class through camera frames (SPEC §4; S3 Fig. 7).

Every tick, each present, connected, camera-on student shows an expression
drawn from ``B(state, ·)`` at an intensity that rises with arousal and the
student's expressiveness, together with this tick's behaviour (eyes closed,
yawning, looking away). The recognizer turns that into a recognized class
and attribute probabilities:

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
student's own chain, ability, fatigue or fading rate. Attention is estimated from the attribute outputs: the looking-away
probability inverts SPEC's ``P(look away) = 0.3 (1 - a)``, closed eyes cap it,
and the per-tick value is smoothed by an exponential moving average
(weight ``ATTENTION_SMOOTHING``) started at the belief's expected attention.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from vclass.models.hmm import BeliefFilter, compose_emission
from vclass.models.recognizer import SHIPPED_CONFUSION, SHIPPED_MODEL
from vclass.models.surrogate import SurrogateRecognizer, sample_cumulative
from vclass.sim.attention import BEHAVIOUR_NAMES, ONE, ZERO
from vclass.sim.classroom import Classroom
from vclass.sim.emotion import HIGH_AROUSAL, base_transition_matrix, drift_matrix, stationary_distribution

RECOGNIZERS = ("oracle", "surrogate", "scn-cs")
ATTENTION_SMOOTHING = 0.3
SAMPLE_FRAMES = 24  # frames kept for the report's sample grid
TRACKED_STUDENTS = 4  # students whose full belief is kept every tick, for the belief-vs-truth plot

_LOOK, _EYES, _YAWN = (BEHAVIOUR_NAMES.index(n) for n in ("looking_away", "eyes_closed", "yawning"))
_ATTRIBUTE_COLUMNS = np.array([_EYES, _YAWN, _LOOK])  # behaviour columns in the recognizer's attribute order


class RecognitionObserver:
    """Frames -> recognizer -> HMM filter -> beliefs and attention estimates.

    :param recognizer: ``surrogate`` or ``scn-cs``.
    :param backend: inference backend for ``scn-cs`` (``onnxruntime``, ``torch``, ``torch-cuda``, ``tensorrt``).
    :param model_path: ONNX file (or training folder) of the recognizer; default the shipped model.
    :param confusion_path: measured confusion of that model; default the shipped one.
    """

    def __init__(self, recognizer: str = "scn-cs", backend: str = "onnxruntime", model_path: str | Path | None = None,
                 confusion_path: str | Path | None = None, service=None):
        if recognizer not in ("surrogate", "scn-cs"):
            raise ValueError(f"recognizer must be 'surrogate' or 'scn-cs', got {recognizer!r}")
        self.kind = recognizer
        self.surrogate = SurrogateRecognizer.from_file(confusion_path or SHIPPED_CONFUSION)
        self._config = None  # the config last prepared for (see _prepare)
        self.model = None
        self.service = service  # a RecognitionService batching frames across classrooms, or None
        if recognizer == "scn-cs" and service is None:
            from vclass.models.recognizer import load_recognizer

            self.model = load_recognizer(model_path or SHIPPED_MODEL, backend=backend)

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
        self.identities = None
        if self.kind == "scn-cs":
            from vclass.sim.faces import sample_identities

            self.identities = sample_identities(n, rng)
        self.samples: list[dict[str, Any]] = []
        self.tracked = np.zeros((room.plan.n_ticks, min(TRACKED_STUDENTS, n), transitions.shape[0]))

    def observe(self, room: Classroom, tick: int) -> None:
        n, rec, rng = room.n_students, room.record, self.rng
        visible = room.online & room.camera_on
        behaviour = rec.behaviour[tick]
        # The face the student shows (world draws: a fixed count per tick, whatever is visible).
        uniforms = rng.random(out=self._uniforms)  # drawn into a scratch array, read only here
        expression = sample_cumulative(self._emission_cumulative.take(room.state, axis=0), uniforms)
        intensity = self._draw_intensity(HIGH_AROUSAL.take(room.state), rng, needed=self.kind != "surrogate")
        attributes = behaviour.take(_ATTRIBUTE_COLUMNS, axis=1)
        self._pending = (tick, visible, expression)
        if self.kind == "surrogate":
            self.complete(*self.surrogate.recognize(expression, attributes, rng))
            return
        seen = np.flatnonzero(visible)
        frames = self._render(seen, expression[seen], intensity[seen], attributes[seen]) if seen.size else None
        self._pending_frames = (seen, frames)
        if self.service is not None:
            self.service.submit(self, frames)  # the service calls recognized() then complete() after its batch
        else:
            self.recognized(*(self.model.predict(frames) if seen.size else (np.zeros((0, 7)), np.zeros((0, 3)))))

    def recognized(self, probs: np.ndarray, attrs: np.ndarray) -> None:
        """Recognizer outputs for the frames rendered this tick (in the order of the visible students)."""
        tick, _, expression = self._pending
        seen, frames = self._pending_frames
        n = expression.shape[0]
        recognized = np.zeros(n, dtype=np.int64)
        attribute_probs = np.zeros((n, 3))
        if seen.size:
            recognized[seen] = probs.argmax(axis=1)
            attribute_probs[seen] = attrs
            self._keep_samples(tick, seen, frames, expression[seen], recognized[seen], self.room.state[seen])
        self.complete(recognized, attribute_probs)

    def complete(self, recognized: np.ndarray, attribute_probs: np.ndarray) -> None:
        """Second half of a tick: filter the recognized classes into beliefs and update attention estimates."""
        tick, visible, expression = self._pending
        room, rec = self.room, self.room.record
        no_frame = self._no_frame
        rec.expression[tick] = np.where(visible, expression, no_frame)
        rec.recognized[tick] = shown = np.where(visible, recognized, no_frame)
        belief = self.filter.update(shown, visible, self._teacher_transitions(room, tick))
        self._update_attention(belief, attribute_probs, visible)
        rec.belief_state[tick] = belief.argmax(axis=1)
        self.tracked[tick] = belief[: self.tracked.shape[1]]

    def belief(self) -> np.ndarray:
        return self.filter.belief.copy()

    def attention(self) -> np.ndarray:
        return self._attention.copy()

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _render(self, students: np.ndarray, expression: np.ndarray, intensity: np.ndarray,
                attributes: np.ndarray) -> np.ndarray:
        from vclass.sim.faces import render_faces, sample_face_params

        params = sample_face_params(students.size, self.rng, identity=self.identities.take(students),
                                    expression=expression, intensity=intensity, eyes_closed=attributes[:, 0],
                                    yawning=attributes[:, 1], looking_away=attributes[:, 2])
        return render_faces(params, self.rng, size=self.room.cfg.frames.size)

    def _prepare(self, cfg, plan) -> None:
        """What the observer needs of a config (and its lesson plan), for every lesson with that config."""
        self._config = cfg
        self.emission = np.asarray(cfg.frames.emission)
        self.base_transitions = base_transition_matrix(cfg.emotion)
        self.drift = drift_matrix(cfg.emotion, cfg.incentives)
        self.mean_ability = cfg.students.ability_mean
        self.mean_fatigue_rate = 0.5 * (cfg.students.fatigue_min + cfg.students.fatigue_max)
        self._initial = stationary_distribution(self.base_transitions[None])[0]
        self._emission_model = compose_emission(self.emission, self.surrogate.confusion)
        self.attention_targets = np.asarray(cfg.attention.targets)
        self.look_away_scale = cfg.behaviour.look_away_scale
        # Numbers as 0-d arrays (see vclass.sim.attention.ONE).
        self._constants = SimpleNamespace(
            look_away_scale=np.asarray(self.look_away_scale), eyes_closed_weight=np.asarray(0.9), half=np.asarray(0.5),
            smoothing=np.asarray(ATTENTION_SMOOTHING), active_threshold=np.asarray(cfg.incentives.active_threshold))
        # Expression sampling: cumulative rows of B, one row looked up per student.
        self._emission_cumulative = np.cumsum(self.emission, axis=1)
        # The teacher's chain, per tick: the average student's difficulty gap without and with reduce-difficulty
        # (D lowered, floored at 0; entry `active` is looked up by each student's flag), the fatigue drive
        # eta_F(t) * mean f * t / T, and whether the tick is an online test.
        active = np.array([0.0, 1.0])
        reduced = plan.difficulty[:, None] - cfg.incentives.difficulty_reduction * active
        gaps = np.maximum(reduced, 0.0) - self.mean_ability
        drives = plan.fatigue_drift * (self.mean_fatigue_rate * plan.time_fraction)
        self._teacher_ticks = list(zip(gaps, drives.tolist(), plan.online_test.astype(np.float64).tolist()))

    def _lesson_constants(self, room: Classroom) -> None:
        """Per-lesson tables, so that a tick looks up what does not change from tick to tick."""
        cfg, n = room.cfg, room.n_students
        self._no_frame = np.full(n, -1)  # what the record shows (and the filter reads) for a student without a frame
        self._uniforms = np.empty(n)
        # Beta parameters of expression intensity for each student, (high-arousal, low-arousal) states:
        # mean = expressiveness * level, a = max(mean c, 1e-3), b = max((1 - mean) c, 1e-3).
        frames = cfg.frames
        c = frames.intensity_concentration
        means = [room.population.expressiveness * level
                 for level in (frames.intensity_high_arousal, frames.intensity_low_arousal)]
        self._intensity_a = [np.maximum(mean * c, 1e-3) for mean in means]
        self._intensity_b = [np.maximum((1 - mean) * c, 1e-3) for mean in means]
        # The same draws as chi-square pairs (N, 2), df = 2a and 2b, when every Beta takes that route (see
        # _draw_intensity).
        by_gamma = all((np.maximum(a, b) > 1.0).all() for a, b in zip(self._intensity_a, self._intensity_b))
        self._intensity_dfs = ([2.0 * np.column_stack([a, b]) for a, b in zip(self._intensity_a, self._intensity_b)]
                               if by_gamma and _beta_is_chisquare_ratio() else None)
        self._teacher_features = np.empty((n, self.drift.shape[0]))
        # The base chain stacked once per student, (N*8, 8), to multiply by each student's column tilt row by row,
        # into a buffer of the chains' rows (row k*8 + i: student k, state i); its columns for the row sums.
        states = self.base_transitions.shape[0]
        self._base_stacked = np.tile(self.base_transitions, (n, 1))
        self._chains_shape = (n, states, states)
        self._teacher_rows = np.empty_like(self._base_stacked)
        self._teacher_row_columns = (list(self._teacher_rows.T) if states == 8 and _sums_eight_pairwise() else None)

    def _draw_intensity(self, high: np.ndarray, rng: np.random.Generator, needed: bool = True) -> np.ndarray | None:
        """Expression intensities ~ Beta(a_k, b_k) (a fixed count of world draws per tick, used or not).

        When every Beta has ``max(a, b) > 1``, numpy draws it as ``Ga / (Ga + Gb)`` from two standard gammas in
        a row, and a chi-square with ``2a`` degrees of freedom is ``2 Ga`` from the same gamma draw: one
        chi-square call on the (2a, 2b) pairs makes the same draws as ``beta`` and gives the same ratio, at a
        third of the per-call overhead (numpy checks its arguments in Python). The ratio is skipped when the
        intensities are not needed (the surrogate renders no faces).

        :param high: whether each student's state is high-arousal.
        :return: the intensities, or None when not ``needed``.
        """
        if self._intensity_dfs is None:
            return rng.beta(np.where(high, *self._intensity_a), np.where(high, *self._intensity_b))
        doubled = rng.chisquare(np.where(high[:, None], *self._intensity_dfs))  # 2 Ga, 2 Gb per student
        return doubled[:, 0] / (doubled[:, 0] + doubled[:, 1]) if needed else None

    def _teacher_transitions(self, room: Classroom, tick: int) -> np.ndarray:
        """The chain the teacher believes moved the class at ``tick``: (N, 8, 8)."""
        gaps, drive, online_test = self._teacher_ticks[tick]
        features = self._teacher_features  # drift features, as vclass.sim.emotion.drift_features lays them out
        # Intensities as they stood during the tick's transition, in the features' intensity columns.
        intensity = room.teacher_ledger.before_decay(out=features[:, 3:])
        features[:, 0] = gaps.take((intensity[:, 0] > self._constants.active_threshold).view(np.int8))
        features[:, 1] = drive
        features[:, 2] = online_test
        # A0(i, j) * tilt_k(j): each student's tilt row repeated for the 8 rows of the chain, then normalized.
        tilt = np.exp(features @ self.drift)
        rows = np.multiply(tilt.repeat(self._chains_shape[1], axis=0), self._base_stacked, out=self._teacher_rows)
        if self._teacher_row_columns is None:
            rows /= np.add.reduce(rows, 1, keepdims=True)
        else:  # the same sums, from the columns
            rows /= _pairwise_sum_eight(self._teacher_row_columns)[:, None]
        return rows.reshape(self._chains_shape)  # a buffer reused every tick: the filter reads it in this tick

    def _update_attention(self, belief: np.ndarray, attribute_probs: np.ndarray, visible: np.ndarray) -> None:
        c = self._constants  # numbers as 0-d arrays (see vclass.sim.attention.ONE)
        expected = belief @ self.attention_targets
        # clip(1 - p_look / scale, 0, 1), capped by closed eyes at 1 - 0.9 p_eyes <= 1 (probabilities are >= 0,
        # so the cap makes the upper clip redundant).
        from_face = np.minimum(np.maximum(ONE - attribute_probs[:, 2] / c.look_away_scale, ZERO),
                               ONE - c.eyes_closed_weight * attribute_probs[:, 0])
        observed = c.half * expected + c.half * from_face
        target = np.where(visible, observed, expected)
        self._attention += c.smoothing * (target - self._attention)

    def _keep_samples(self, tick: int, students: np.ndarray, frames: np.ndarray, expression: np.ndarray,
                      recognized: np.ndarray, state: np.ndarray) -> None:
        if len(self.samples) >= SAMPLE_FRAMES or tick % 30:
            return
        for i in range(min(3, students.size, SAMPLE_FRAMES - len(self.samples))):
            self.samples.append({"tick": tick, "student": int(students[i]), "frame": frames[i],
                                 "expression": int(expression[i]), "recognized": int(recognized[i]),
                                 "state": int(state[i])})


def _pairwise_sum_eight(terms: list[np.ndarray]) -> np.ndarray:
    """``((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))`` for 8 arrays: numpy's pairwise summation of 8
    contiguous float64s, that is ``np.add.reduce`` over a last axis of length 8 (see :func:`_sums_eight_pairwise`).
    On arrays of many short rows, 7 additions of columns cost less than the reduction's per-row loop."""
    x = terms
    return ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]))


@functools.cache
def _sums_eight_pairwise() -> bool:
    """Whether this numpy's ``np.add.reduce`` over a last axis of 8 float64s adds them as
    :func:`_pairwise_sum_eight` does, checked once on rows of widely spread magnitudes."""
    rng = np.random.default_rng(0)
    x = rng.random((4096, 8)) * np.exp(rng.normal(0.0, 8.0, (4096, 8)))
    return bool(np.array_equal(np.add.reduce(x, axis=1), _pairwise_sum_eight(list(x.T))))


@functools.cache
def _beta_is_chisquare_ratio() -> bool:
    """Whether this numpy draws ``Beta(a, b)`` with ``max(a, b) > 1`` as ``Ga / (Ga + Gb)`` from two standard gamma
    draws in a row, and ``chisquare(2a)`` as ``2 Ga`` from one (its algorithms), so that chi-square pairs use the
    generator exactly as ``beta`` does and give the same ratios; checked once."""
    a, b = np.array([0.5, 2.0, 5.5, 1.5, 3.0, 1e-3]), np.array([3.0, 0.2, 0.5, 4.5, 3.0, 5.999])
    one, two = np.random.default_rng(12345), np.random.default_rng(12345)
    beta = one.beta(a, b)
    doubled = two.chisquare(2.0 * np.column_stack([a, b]))
    return bool(np.array_equal(beta, doubled[:, 0] / (doubled[:, 0] + doubled[:, 1])) and one.random() == two.random())


def make_observer(recognizer: str, backend: str = "onnxruntime", model_path: str | Path | None = None,
                  confusion_path: str | Path | None = None, service=None):
    """The observer for a ``--recognizer`` choice: ``oracle``, ``surrogate`` or ``scn-cs``.

    :param service: a :class:`vclass.env.batch.RecognitionService` that batches this observer's frames with other
        classrooms' (scn-cs only).
    """
    from vclass.sim.classroom import OracleObserver

    if recognizer == "oracle":
        return OracleObserver()
    return RecognitionObserver(recognizer, backend, model_path, confusion_path, service)
