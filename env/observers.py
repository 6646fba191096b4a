"""Recognition in the loop: the teacher sees the class through camera frames (SPEC §4; S3 Fig. 7).

Every tick, each present, connected, camera-on student shows an expression
drawn from ``B(state, ·)`` at an intensity that rises with arousal and the
student's expressiveness, together with this tick's behaviour (eyes closed,
yawning, looking away). The recognizer turns that into a recognized class
and attribute probabilities:

* ``scn-cs`` renders the faces (``sim.faces``) and runs the real recognizer on
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

from pathlib import Path
from typing import Any

import numpy as np

from models.hmm import BeliefFilter, compose_emission
from models.surrogate import SurrogateRecognizer, sample_cumulative
from sim.attention import BEHAVIOUR_NAMES
from sim.classroom import Classroom
from sim.emotion import HIGH_AROUSAL, base_transition_matrix, drift_matrix, stationary_distribution

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models" / "shipped"
SHIPPED_MODEL = SHIPPED_DIR / "scn-cs.onnx"
SHIPPED_CONFUSION = SHIPPED_DIR / "confusion.json"
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
        self.model = None
        self.service = service  # a RecognitionService batching frames across classrooms, or None
        if recognizer == "scn-cs" and service is None:
            from models.recognizer import load_recognizer

            self.model = load_recognizer(model_path or SHIPPED_MODEL, backend=backend)

    # -- Observer protocol ------------------------------------------------------------------------------------------
    def reset(self, room: Classroom, rng: np.random.Generator) -> None:
        cfg = room.cfg
        n = room.n_students
        self.room, self.rng = room, rng
        self.emission = np.asarray(cfg.frames.emission)
        transitions = base_transition_matrix(cfg.emotion)
        self.base_transitions = transitions
        self.drift = drift_matrix(cfg.emotion, cfg.incentives)
        self.mean_ability = cfg.students.ability_mean
        self.mean_fatigue_rate = 0.5 * (cfg.students.fatigue_min + cfg.students.fatigue_max)
        initial = stationary_distribution(transitions[None])[0]
        self.filter = BeliefFilter(transitions, compose_emission(self.emission, self.surrogate.confusion), initial, n)
        self.attention_targets = np.asarray(cfg.attention.targets)
        self.look_away_scale = cfg.behaviour.look_away_scale
        self._attention = np.full(n, initial @ self.attention_targets)
        self._lesson_constants(room)
        self.identities = None
        if self.kind == "scn-cs":
            from sim.faces import sample_identities

            self.identities = sample_identities(n, rng)
        self.samples: list[dict[str, Any]] = []
        self.tracked = np.zeros((room.plan.n_ticks, min(TRACKED_STUDENTS, n), transitions.shape[0]))

    def observe(self, room: Classroom, tick: int) -> None:
        n, rec, rng = room.n_students, room.record, self.rng
        visible = room.present & room.connected & room.camera_on
        behaviour = rec.behaviour[tick]
        # The face the student shows (world draws: a fixed count per tick, whatever is visible).
        uniforms = rng.random(n)
        expression = sample_cumulative(self._emission_cumulative.take(room.state, axis=0), uniforms)
        high = HIGH_AROUSAL.take(room.state)
        intensity = rng.beta(np.where(high, *self._intensity_a), np.where(high, *self._intensity_b))
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
        belief = self.filter.step(recognized, visible, self._teacher_transitions(room, tick))
        self._update_attention(belief, attribute_probs, visible)
        rec.expression[tick] = np.where(visible, expression, -1)
        rec.recognized[tick] = np.where(visible, recognized, -1)
        rec.belief_state[tick] = belief.argmax(axis=1)
        self.tracked[tick] = belief[: self.tracked.shape[1]]

    def belief(self) -> np.ndarray:
        return self.filter.belief.copy()

    def attention(self) -> np.ndarray:
        return self._attention.copy()

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _render(self, students: np.ndarray, expression: np.ndarray, intensity: np.ndarray,
                attributes: np.ndarray) -> np.ndarray:
        from sim.faces import render_faces, sample_face_params

        params = sample_face_params(students.size, self.rng, identity=self.identities.take(students),
                                    expression=expression, intensity=intensity, eyes_closed=attributes[:, 0],
                                    yawning=attributes[:, 1], looking_away=attributes[:, 2])
        return render_faces(params, self.rng, size=self.room.cfg.frames.size)

    def _lesson_constants(self, room: Classroom) -> None:
        """Per-lesson tables, so that a tick looks up what does not change from tick to tick."""
        cfg, plan, n = room.cfg, room.plan, room.n_students
        # Expression sampling: cumulative rows of B, one row looked up per student.
        self._emission_cumulative = np.cumsum(self.emission, axis=1)
        # Beta parameters of expression intensity for each student, (high-arousal, low-arousal) states:
        # mean = expressiveness * level, a = max(mean c, 1e-3), b = max((1 - mean) c, 1e-3).
        frames = cfg.frames
        c = frames.intensity_concentration
        means = [room.population.expressiveness * level
                 for level in (frames.intensity_high_arousal, frames.intensity_low_arousal)]
        self._intensity_a = [np.maximum(mean * c, 1e-3) for mean in means]
        self._intensity_b = [np.maximum((1 - mean) * c, 1e-3) for mean in means]
        # The teacher's chain: per tick, the average student's difficulty gap without and with reduce-difficulty
        # (D lowered, floored at 0), and the fatigue drive eta_F(t) * mean f * t / T.
        inc = cfg.incentives
        self._teacher_gap = [np.maximum(plan.difficulty - inc.difficulty_reduction * active, 0.0) - self.mean_ability
                             for active in (0.0, 1.0)]
        self._teacher_fatigue_drive = plan.fatigue_drift * (self.mean_fatigue_rate * plan.time_fraction)
        self._teacher_features = np.empty((n, self.drift.shape[0]))
        self._teacher_rows = np.empty((n, *self.base_transitions.shape))

    def _teacher_transitions(self, room: Classroom, tick: int) -> np.ndarray:
        """The chain the teacher believes moved the class at ``tick``: (N, 8, 8).

        The array is reused from tick to tick (the filter reads it once, in the same tick).
        """
        features = self._teacher_features
        # Intensities as they stood during the tick's transition, in the features' intensity columns.
        intensity = room.teacher_ledger.before_decay(out=features[:, 3:])
        reduced = intensity[:, 0] > room.cfg.incentives.active_threshold
        features[:, 0] = np.where(reduced, self._teacher_gap[1][tick], self._teacher_gap[0][tick])
        features[:, 1] = self._teacher_fatigue_drive[tick]
        features[:, 2] = float(room.plan.online_test[tick])
        rows = np.multiply(self.base_transitions, np.exp(features @ self.drift)[:, None, :], out=self._teacher_rows)
        rows /= np.add.reduce(rows, axis=2, keepdims=True)
        return rows

    def _update_attention(self, belief: np.ndarray, attribute_probs: np.ndarray, visible: np.ndarray) -> None:
        expected = belief @ self.attention_targets
        from_face = np.minimum(np.maximum(1.0 - attribute_probs[:, 2] / self.look_away_scale, 0.0), 1.0)  # clip
        from_face = np.minimum(from_face, 1.0 - 0.9 * attribute_probs[:, 0])
        observed = 0.5 * expected + 0.5 * from_face
        target = np.where(visible, observed, expected)
        self._attention += ATTENTION_SMOOTHING * (target - self._attention)

    def _keep_samples(self, tick: int, students: np.ndarray, frames: np.ndarray, expression: np.ndarray,
                      recognized: np.ndarray, state: np.ndarray) -> None:
        if len(self.samples) >= SAMPLE_FRAMES or tick % 30:
            return
        for i in range(min(3, students.size, SAMPLE_FRAMES - len(self.samples))):
            self.samples.append({"tick": tick, "student": int(students[i]), "frame": frames[i],
                                 "expression": int(expression[i]), "recognized": int(recognized[i]),
                                 "state": int(state[i])})


def make_observer(recognizer: str, backend: str = "onnxruntime", model_path: str | Path | None = None,
                  confusion_path: str | Path | None = None, service=None):
    """The observer for a ``--recognizer`` choice: ``oracle``, ``surrogate`` or ``scn-cs``.

    :param service: a :class:`env.batch.RecognitionService` that batches this observer's frames with other
        classrooms' (scn-cs only).
    """
    from sim.classroom import OracleObserver

    if recognizer == "oracle":
        return OracleObserver()
    return RecognitionObserver(recognizer, backend, model_path, confusion_path, service)
