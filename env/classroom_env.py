"""What the motivation and attention environments share: the lesson loop, the observation encoder,
the per-step reward terms and the rendering.

* :class:`ObservationEncoder` turns a :class:`vclass.sim.classroom.Observation` (beliefs and estimates from the
  recognizer path, never the true state) into the flat ``float32`` vector both environments return. The
  trained-policy adapter in ``vclass.agents.drl`` uses the same encoder, so a policy sees in ``vclass run``
  exactly what it saw in training.
* :func:`reward_terms` computes SPEC §7's measures over the ticks one step covered, from the lesson
  record's rows. Summed over a lesson they equal ``vclass.sim.measures``' lesson values (tested).
* :class:`ClassroomEnv` runs one :class:`vclass.sim.classroom.Lesson` per episode, the agent being the teacher:
  each step applies an action and advances one decision interval (30 s, three ticks by default).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np

from vclass.config import ConfigError, from_dict, load_toml, replace_nested
from vclass.env.observers import AUTO_BACKEND, RecognizerConfig, in_loop_accuracy, observer_from_config
from vclass.models.recognizer import BACKENDS
from vclass.sim.classroom import Action, Lesson, Observation
from vclass.sim.config import SimConfig
from vclass.sim.emotion import N_FACTORS, N_STATES, POSITIVE, axis_values, in_tea
from vclass.sim.faces import render_faces, sample_face_params, sample_identities
from vclass.sim.lesson import SEGMENT_KINDS
from vclass.sim.measures import class_summary

ENV_RECOGNIZERS = ("surrogate", "scn-cs")  # never the oracle: observations come from the recognizer path

GLOBAL_FEATURES = ("time_fraction", *(f"segment_{kind}" for kind in SEGMENT_KINDS), "difficulty", "teacher_budget_left")
STUDENT_FEATURES = (
    *(f"belief_{i}" for i in range(N_STATES)),
    "belief_axis",
    "attention_estimate",
    "reachable",
    "camera_on",
    *(f"intensity_{m + 1}" for m in range(N_FACTORS)),
    "checkin_estimate",
)
INTENSITY_CAP = 10.0  # intensities and check-in estimates are clipped here (habituation keeps them near 3)


class ObservationEncoder:
    """The environments' observation: global features, then each student's features, flattened.

    Layout (``float32``)::

        [time_fraction, segment one-hot (4), difficulty, teacher_budget_left,
         student 0: belief (8), belief_axis, attention_estimate, reachable, camera_on, intensity (4),
                    checkin_estimate,
         student 1: ...]

    ``belief_axis`` is ``x(A)`` of the belief (S3 eq 13); ``teacher_budget_left`` is the share of the
    teaching-quality budget left; ``checkin_estimate`` is the teacher's own record of its check-ins,
    faded at the class's median dilution like the incentive intensities (the teacher knows what it
    did, not how each student fades). Everything comes from the :class:`Observation` and the
    teacher's own actions, never from the true state.

    :param cfg: the lesson's simulator config.
    :param n_students: class size.
    """

    def __init__(self, cfg: SimConfig, n_students: int):
        self.cfg, self.n_students = cfg, n_students
        self.n_global, self.n_student = len(GLOBAL_FEATURES), len(STUDENT_FEATURES)
        self.size = self.n_global + n_students * self.n_student
        self.axis = axis_values(cfg.emotion)
        self.n_ticks = cfg.classroom.n_ticks
        rate = cfg.students.dilution_median * cfg.incentives.fading_per_minute * cfg.classroom.tick_seconds / 60.0
        self.checkin_decay_per_tick = float(np.exp(-rate))
        self.budget = cfg.incentives.teacher_budget
        low = np.zeros((n_students, self.n_student), dtype=np.float32)
        high = np.ones((n_students, self.n_student), dtype=np.float32)
        low[:, N_STATES], high[:, N_STATES] = self.axis.min(), self.axis.max()
        high[:, N_STATES + 4 :] = INTENSITY_CAP
        self.low = np.concatenate([np.zeros(self.n_global, np.float32), low.ravel()])
        self.high = np.concatenate([np.ones(self.n_global, np.float32), high.ravel()])
        self._buffer = np.zeros(self.size, dtype=np.float32)
        self._students = s = self._buffer[self.n_global :].reshape(n_students, self.n_student)
        # The buffer's per-student columns, kept as views (writing through them skips slicing every step).
        self._columns = SimpleNamespace(
            belief=s[:, :N_STATES],
            axis=s[:, N_STATES],
            attention=s[:, N_STATES + 1],
            reachable=s[:, N_STATES + 2],
            camera_on=s[:, N_STATES + 3],
            intensity=s[:, N_STATES + 4 : N_STATES + 4 + N_FACTORS],
            checkins=s[:, -1],
            capped=s[:, N_STATES + 4 :],
        )
        self._cap = np.array(INTENSITY_CAP, dtype=np.float32)  # 0-d (see vclass.sim.attention.ONE)
        self.reset()

    def space(self) -> gym.spaces.Box:
        return gym.spaces.Box(self.low.copy(), self.high.copy(), dtype=np.float32)

    def reset(self) -> None:
        """Start a lesson: no check-ins yet."""
        self.checkins = np.zeros(self.n_students)
        self._tick = 0

    def note_checkin(self, student: int, obs: Observation) -> None:
        """Record the teacher's check-in with ``student`` decided on ``obs`` (it happens if reachable)."""
        if 0 <= student < self.n_students and obs.reachable[student]:
            self.checkins[student] += 1.0

    def encode(self, obs: Observation) -> np.ndarray:
        """The observation vector for ``obs`` (a fresh array)."""
        if obs.n_students != self.n_students:
            raise ValueError(f"observation has {obs.n_students} students, the encoder {self.n_students}")
        if obs.tick > self._tick:
            self.checkins *= self.checkin_decay_per_tick ** (obs.tick - self._tick)
            self._tick = obs.tick
        g, c = self._buffer, self._columns
        g[: self.n_global] = 0.0
        g[0] = min(obs.tick / self.n_ticks, 1.0)
        g[1 + SEGMENT_KINDS.index(obs.segment)] = 1.0
        g[5] = obs.difficulty
        g[6] = obs.teacher_budget_left / self.budget if self.budget else 0.0
        c.belief[...] = obs.belief
        c.axis[...] = obs.belief @ self.axis
        c.attention[...] = obs.attention
        c.reachable[...] = obs.reachable
        c.camera_on[...] = obs.camera_on
        c.intensity[...] = obs.intensity
        c.checkins[...] = self.checkins
        np.minimum(c.capped, self._cap, out=c.capped)
        return self._buffer.copy()


def student_views(vectors: np.ndarray) -> np.ndarray:
    """Each student's view of encoded observations (..., G + N F) -> (..., N, G + 2 F): the global features,
    the student's own features and the class mean of every student's features. A policy acting per
    student (parameter sharing) reads these."""
    g, f = len(GLOBAL_FEATURES), len(STUDENT_FEATURES)
    vectors = np.asarray(vectors, dtype=np.float32)
    students = vectors[..., g:].reshape(*vectors.shape[:-1], -1, f)
    glob = np.broadcast_to(vectors[..., None, :g], (*students.shape[:-1], g))
    mean = np.broadcast_to(students.mean(axis=-2, keepdims=True), students.shape)
    return np.concatenate([glob, students, mean], axis=-1)


def student_reward_terms(record, first_tick: int, end_tick: int, first_application: int = 0) -> dict[str, np.ndarray]:
    """SPEC §7's measures over ticks ``[first_tick, end_tick)`` of a lesson record, one entry per student,
    split so that the class value is their mean (cost: their sum); see :func:`reward_terms`.

    :param first_application: index in ``record.applications`` of the first application to count.
    :return: arrays (N,): ``learning_gain`` (knowledge the student gained), ``tea_share`` (N x the student's
        share of each tick's present students in the TEA, summed over the ticks, over the lesson's ticks),
        ``effective_participation_min`` (minutes present, connected and attending), ``intervention_cost``
        (weights of the factors the student got; a fun decision's weight is split among its recipients).
    """
    c = _lesson_constants(record)
    rows = slice(first_tick, end_tick)
    present = record.present[rows]
    # (np.add.reduce(x, axis) is x.sum(axis) without the method's wrapper; these run every env step.)
    in_region = c.tea_by_state.take(record.state[rows]) & present
    tea = np.add.reduce(in_region * (c.n / np.maximum(np.add.reduce(present, 1), c.one))[:, None], 0) / c.n_ticks
    attending = present & record.connected[rows] & (record.attention[rows] >= c.participation_threshold)
    return {
        "learning_gain": np.add.reduce(record.learning[rows], 0),
        "tea_share": tea,
        "effective_participation_min": np.add.reduce(attending, 0) * c.minutes_per_tick,
        "intervention_cost": _student_costs(
            record.applications[first_application:], c.n_students, record.cfg.incentives.cost_weights
        ),
    }


def _student_costs(applications, n: int, weights) -> np.ndarray:
    """Each student's intervention cost from ``(tick, student, factor, I0)`` applications: the factor's weight,
    and for fun a share of its weight (counted once per decision) among that decision's recipients.

    Summed in Python floats, in the order of the applications and then of the fun decisions (the order of
    ``np.add.at``), which is cheaper than numpy scalar updates for the few applications of a step.
    """
    cost = [0.0] * n
    fun_by_tick: dict[int, list[int]] = {}
    for tick, student, factor, _ in applications:
        if factor == 3:  # fun costs once per decision: its recipients share that cost
            fun_by_tick.setdefault(tick, []).append(student)
        else:
            cost[student] += weights[factor - 1]
    for students in fun_by_tick.values():
        share = weights[2] / len(students)
        for student in students:
            cost[student] += share
    return np.array(cost)


def reward_terms(record, first_tick: int, end_tick: int, first_application: int = 0) -> dict[str, float]:
    """SPEC §7's class measures over ticks ``[first_tick, end_tick)`` of a lesson record.

    Summed over a whole lesson (``0, n_ticks``) they give ``vclass.sim.measures``' values:
    ``learning_gain`` and ``effective_participation_min`` equal :func:`vclass.sim.measures.class_summary`'s,
    ``intervention_cost`` equals :func:`vclass.sim.measures.intervention_cost`, and ``tea_share`` is the lesson
    mean of :func:`vclass.sim.measures.timeline`'s per-tick TEA share (a tick with nobody present counts 0).

    :return: ``learning_gain`` (class mean knowledge gained), ``tea_share`` (per-tick TEA share summed
        over the ticks, over the lesson's ticks), ``effective_participation_min`` (minutes per student
        present, connected and attending), ``intervention_cost`` (weighted uses of the factors; fun
        counts once per decision).
    """
    return class_terms(student_reward_terms(record, first_tick, end_tick, first_application))


def class_terms(per_student: dict[str, np.ndarray]) -> dict[str, float]:
    """Class terms from :func:`student_reward_terms`: means, and the total intervention cost."""
    # np.add.reduce(values) / size is what values.sum() and values.mean() compute, without their wrappers.
    return {
        key: float(np.add.reduce(values) if key == "intervention_cost" else np.add.reduce(values) / values.size)
        for key, values in per_student.items()
    }


_constants_cache: dict[tuple[int, int], tuple[SimConfig, SimpleNamespace]] = {}


def _lesson_constants(record) -> SimpleNamespace:
    """What :func:`student_reward_terms` needs of a lesson's config, with numbers as numpy 0-d arrays (see
    vclass.sim.attention.ONE), kept per config object and class size: they are asked for every env step, where
    hashing a config for a cache lookup would cost more than the step's work that needs them."""
    cfg, n = record.cfg, record.population.size
    config, constants = _constants_cache.get((id(cfg), n), (None, None))
    if config is not cfg or constants is None:
        constants = SimpleNamespace(
            n_students=n,
            n=np.asarray(n),
            one=np.asarray(1),
            n_ticks=np.asarray(record.plan.n_ticks),
            tea_by_state=in_tea(axis_values(cfg.emotion), cfg.emotion),
            participation_threshold=np.asarray(cfg.attention.participation_threshold),
            minutes_per_tick=np.asarray(cfg.classroom.tick_seconds / 60.0),
        )
        if len(_constants_cache) >= 64:
            _constants_cache.clear()
        _constants_cache[(id(cfg), n)] = (cfg, constants)
    return constants


def build_sim_config(
    config: SimConfig | dict | str | Path | None, students: int | None, minutes: float | None
) -> SimConfig:
    """The env's simulator config: ``config`` (a SimConfig, TOML-shaped dict of simulator sections or a
    TOML file) with ``students`` and ``minutes`` overriding.

    :raises ConfigError: naming the option or config field at fault.
    """
    if config is None:
        cfg = SimConfig()
    elif isinstance(config, SimConfig):
        cfg = config
    elif isinstance(config, dict):
        cfg = from_dict(SimConfig, config)
    elif isinstance(config, (str, Path)):
        cfg = from_dict(SimConfig, load_toml(config))
    else:
        raise ConfigError(
            "config", f"must be a SimConfig, a dict of simulator sections or a TOML path, got {type(config).__name__}"
        )
    changes: dict[str, Any] = {}
    if students is not None:
        if isinstance(students, bool) or not isinstance(students, (int, np.integer)) or not 1 <= students <= 10_000:
            raise ConfigError("students", f"must be an integer >= 1 and <= 10000, got {students!r}")
        changes["classroom.students"] = int(students)
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes <= 600:
            raise ConfigError("minutes", f"must be a number > 0 and <= 600, got {minutes!r}")
        changes["classroom.minutes"] = float(minutes)
    return replace_nested(cfg, **changes) if changes else cfg


def lesson_steps(cfg: SimConfig) -> int:
    """Decisions (env steps) in a lesson."""
    c = cfg.classroom
    return -(-c.n_ticks // c.ticks_per_decision)


class InvalidAction(ValueError):
    """An action outside the environment's action space (the message says what was given and what is allowed)."""


def integer_action(action: Any, what: str) -> np.ndarray:
    """``action`` as an integer array, or :class:`InvalidAction` when it holds anything else (floats, bools, None,
    strings): an environment never rounds or casts an action silently."""
    array = np.asarray(action)
    if array.dtype.kind not in "iu":
        shown = repr(action) if len(repr(action)) <= 80 else repr(action)[:77] + "..."
        raise InvalidAction(f"{what} must be integers, got {array.dtype} {shown}")
    return array


class ClassroomEnv(gym.Env):
    """Base of the classroom environments; the subclasses' docstrings are the manuals.

    Subclasses define ``action_space`` and :meth:`_to_action` (env action -> :class:`Action`) and
    :meth:`_reward` (reward terms -> float).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 2}  # noqa: RUF012 - Gymnasium's shape

    def __init__(
        self,
        students: int | None = None,
        minutes: float | None = None,
        recognizer: str = "surrogate",
        backend: str = "auto",
        model_path: str | None = None,
        confusion_path: str | None = None,
        config: SimConfig | dict | str | None = None,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ConfigError("render_mode", f"must be None or 'rgb_array', got {render_mode!r}")
        if recognizer not in ENV_RECOGNIZERS:
            raise ConfigError(
                "recognizer",
                f"must be one of {', '.join(ENV_RECOGNIZERS)} (observations come from "
                f"the recognizer path, never the true state), got {recognizer!r}",
            )
        self.sim_config = cfg = build_sim_config(config, students, minutes)
        self.n_students = cfg.classroom.students
        self.recognizer = recognizer

        if backend not in (AUTO_BACKEND, *BACKENDS):
            raise ConfigError("backend", f"must be one of {', '.join((AUTO_BACKEND, *BACKENDS))}, got {backend!r}")
        wanted = RecognizerConfig(recognizer, backend, str(model_path or ""), str(confusion_path or ""))  # type: ignore[arg-type]
        try:
            self.observer = observer_from_config(wanted, cfg)
        except ConfigError as err:  # named by this constructor's arguments
            field = {
                "recognizer.model": "model_path",
                "recognizer.confusion": "confusion_path",
                "recognizer.backend": "backend",
            }.get(err.field, err.field)
            raise ConfigError(field, err.message) from None
        self.render_mode = render_mode
        self.encoder = ObservationEncoder(cfg, self.n_students)
        self.observation_space = self.encoder.space()
        self.max_steps = lesson_steps(cfg)
        self.lesson: Lesson | None = None
        self._obs: Observation | None = None

    # -- Gymnasium API -------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"lesson_seed"}
        if unknown:
            raise ConfigError("options", f"unknown reset option(s) {sorted(unknown)}; allowed: lesson_seed")
        lesson_seed = options.get("lesson_seed")
        if lesson_seed is None:
            lesson_seed = int(self.np_random.integers(0, 2**31 - 1))
        elif isinstance(lesson_seed, bool) or not isinstance(lesson_seed, (int, np.integer)) or lesson_seed < 0:
            raise ConfigError("options.lesson_seed", f"must be an integer >= 0, got {lesson_seed!r}")
        self.lesson_seed = int(lesson_seed)
        self.lesson = Lesson(self.sim_config, self.lesson_seed, None, self.observer)
        self.encoder.reset()
        self.steps = 0
        self._obs = self.lesson.room.observation()
        return self.encoder.encode(self._obs), {"lesson_seed": self.lesson_seed, "tick": 0}

    def step(self, action):
        if self.lesson is None:
            raise RuntimeError("call reset() before step()")
        if self.lesson.done:
            raise RuntimeError("the lesson is over; call reset()")
        lesson, room = self.lesson, self.lesson.room
        record = room.record
        first_tick, first_application = room.tick_index, len(record.applications)
        act = self._to_action(action)
        room.apply(act)
        if act.checkin >= 0 and self._obs is not None:
            self.encoder.note_checkin(act.checkin, self._obs)
        lesson.run_until(lesson.now + self.sim_config.classroom.decision_seconds)
        per_student = student_reward_terms(record, first_tick, room.tick_index, first_application)
        terms = class_terms(per_student)
        self.steps += 1
        terminated = lesson.done
        self._obs = room.observation()
        info: dict[str, Any] = {"tick": room.tick_index, **terms, **self._step_info(per_student)}
        if terminated:
            info["summary"] = {**class_summary(record), **in_loop_accuracy(record, getattr(self.observer, "log", None))}
        return self.encoder.encode(self._obs), self._reward(terms), terminated, False, info

    def render(self):
        if self.render_mode != "rgb_array" or self.lesson is None or self._obs is None:
            return None
        return render_class(self.lesson, self._obs, self._render_identities())

    # -- for subclasses --------------------------------------------------------------------------------------------
    def _to_action(self, action) -> Action:
        raise NotImplementedError

    def _reward(self, terms: dict[str, float]) -> float:
        raise NotImplementedError

    def _step_info(self, per_student: dict[str, np.ndarray]) -> dict[str, Any]:
        """Extra per-step info (the motivation env adds each student's share of the reward)."""
        return {}

    def _render_identities(self):
        identities = getattr(self.observer, "identities", None)
        if identities is None or len(identities) != self.n_students:
            if getattr(self, "_identities_seed", None) != self.lesson_seed:
                self._identities = sample_identities(self.n_students, np.random.default_rng(self.lesson_seed))
                self._identities_seed = self.lesson_seed
            identities = self._identities
        return identities


# -- rendering --------------------------------------------------------------------------------------------------------
FACE_PIXELS = 64
BAR_PIXELS = 22
TILE_HEIGHT, TILE_WIDTH = FACE_PIXELS + BAR_PIXELS + 4, FACE_PIXELS + 4  # a student's tile, margin included
STATE_COLOURS = np.where(POSITIVE[:, None], np.array([[60, 170, 80]]), np.array([[200, 70, 60]])).astype(np.uint8)


def render_tiles(lesson: Lesson, obs: Observation, identities) -> np.ndarray:
    """Each student's tile of :func:`render_class`: the face the student last showed (grey without a frame, dimmed
    when unreachable) with the teacher's belief over the eight states as bars (green positive, red negative) and the
    attention estimate as a blue bar under it, on a white margin. Returns (N, TILE_HEIGHT, TILE_WIDTH, 3) uint8."""

    room = lesson.room
    n = room.n_students
    tick = max(room.tick_index - 1, 0)
    expression = room.record.expression[tick].astype(np.int64)
    framed = expression >= 0
    behaviour = room.record.behaviour[tick]
    rng = np.random.default_rng((lesson.room.seed, tick))  # rendering never touches the env's streams
    faces = np.full((n, FACE_PIXELS, FACE_PIXELS), 60, dtype=np.uint8)
    seen = np.flatnonzero(framed)
    if seen.size:
        params = sample_face_params(
            seen.size,
            rng,
            identity=identities.take(seen),
            expression=expression[seen],
            intensity=0.8,
            eyes_closed=behaviour[seen, 1],
            yawning=behaviour[seen, 2],
            looking_away=behaviour[seen, 0],
        )
        params = params.replace(noise_sd=0.0, occluded=False)
        faces[seen] = render_faces(params, rng, size=FACE_PIXELS)
    tiles = np.full((n, TILE_HEIGHT, TILE_WIDTH, 3), 255, dtype=np.uint8)
    bar_w = FACE_PIXELS // N_STATES
    top = left = 2
    for k in range(n):
        tile = tiles[k]
        face = faces[k]
        if not obs.reachable[k]:
            face = face // 3
        tile[top : top + FACE_PIXELS, left : left + FACE_PIXELS] = face[..., None]
        base = top + FACE_PIXELS + BAR_PIXELS - 5
        for i in range(N_STATES):
            height = int(round(obs.belief[k, i] * (BAR_PIXELS - 6)))
            if height:
                tile[base - height : base, left + i * bar_w : left + (i + 1) * bar_w - 1] = STATE_COLOURS[i]
        width = int(round(np.clip(obs.attention[k], 0, 1) * FACE_PIXELS))
        tile[base + 1 : base + 4, left : left + width] = (50, 100, 210)
    return tiles


def render_class(lesson: Lesson, obs: Observation, identities) -> np.ndarray:
    """A grid of the class's tiles (:func:`render_tiles`), row by row, about as many columns as rows. Returns an RGB
    image (H, W, 3) uint8."""
    tiles = render_tiles(lesson, obs, identities)
    n = tiles.shape[0]
    columns = int(np.ceil(np.sqrt(n)))
    rows = -(-n // columns)
    image = np.full((rows * TILE_HEIGHT, columns * TILE_WIDTH, 3), 255, dtype=np.uint8)
    for k in range(n):
        top, left = (k // columns) * TILE_HEIGHT, (k % columns) * TILE_WIDTH
        image[top : top + TILE_HEIGHT, left : left + TILE_WIDTH] = tiles[k]
    return image
