"""The batched environments: B lessons of ``vclass/Motivation-v0`` or ``vclass/Attention-v0`` in one numpy tick.

:class:`MotivationVectorEnv` and :class:`AttentionVectorEnv` are Gymnasium ``VectorEnv``\\ s, registered as both ids'
``vector_entry_point``::

    import gymnasium, vclass
    envs = gymnasium.make_vec("vclass/Motivation-v0", num_envs=64, vectorization_mode="vector_entry_point")

Sub-environment ``b`` is, number for number, the single environment ``gymnasium.make(id)`` reset with the same seed
(or ``lesson_seed``) and given the same actions: the same observations, rewards, terminations and infos (the reward
terms, ``student_rewards``, the lesson ``summary``), in the layout :class:`gymnasium.vector.SyncVectorEnv` gives
them. The lessons run in :class:`vclass.sim.batch.ClassroomBatch` (the classroom's tick over all B classes at once,
each lesson with its own random streams); the surrogate recognizer and the belief filter run batched in
:class:`SurrogateBatchObserver`; the encoding and the reward terms are computed for all lessons at once with the
same arithmetic as :class:`vclass.env.classroom_env.ObservationEncoder` and
:func:`vclass.env.classroom_env.student_reward_terms`.

Only the surrogate recognizer is batched (``scn-cs`` renders faces: use ``vectorization_mode="sync"``). The
lessons share their config, so they share the clock and end together: every sub-environment terminates at the same
step, and resets come for all of them at once (``options["reset_mask"]`` must be all true). Autoreset modes
``NextStep`` (Gymnasium's default) and ``SameStep`` (``autoreset_mode=``).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from vclass.config import ConfigError
from vclass.env.attention import AttentionEnv
from vclass.env.classroom_env import (
    INTENSITY_CAP,
    ClassroomEnv,
    InvalidAction,
    _lesson_constants,
    integer_action,
)
from vclass.env.motivation import MotivationEnv, motivation_reward
from vclass.env.observers import (
    _ATTRIBUTE_COLUMNS,
    TRACKED_STUDENTS,
    RecognitionLog,
    attention_constants,
    in_loop_accuracy,
    update_attention_estimate,
)
from vclass.models.hmm import _TINY, compose_emission
from vclass.models.surrogate import SurrogateRecognizer
from vclass.sim.attention import BEHAVIOUR_NAMES
from vclass.sim.batch import (
    CAMERA_ON,
    COLUMNS_FROM,
    CONNECTED,
    PRESENT,
    ClassroomBatch,
    TableSampler,
    UniformBlocks,
    row_argmax,
)
from vclass.sim.classroom import NO_CHECKIN
from vclass.sim.config import SimConfig
from vclass.sim.emotion import FACTOR_NAMES, N_FACTORS, N_STATES, axis_values
from vclass.sim.lesson import SEGMENT_KINDS, LessonPlan
from vclass.sim.measures import class_summary
from vclass.sim.teacher import TeacherModel

REWARD_TERMS = ("learning_gain", "tea_share", "effective_participation_min", "intervention_cost")


class SurrogateBatchObserver:
    """:class:`vclass.env.observers.RecognitionObserver` with the surrogate recognizer, for a batch of lessons: the
    same recognition draws (each lesson's own observer stream), the same belief filter (S3 eq 9, through the
    teacher's chains) and the same attention estimate, computed for every student of every lesson at once.

    The recognizer's draws (:meth:`vclass.models.surrogate.SurrogateRecognizer.recognize_with`) and the filter's
    update (:meth:`vclass.models.hmm.BeliefFilter.update`) are computed here with the same arithmetic, in forms
    that suit B * N rows (:class:`vclass.sim.batch.TableSampler`, :func:`vclass.sim.batch.row_argmax`,
    ``_row_sums``); the filter's log-likelihood, which no environment reads, is not kept.

    :param surrogate: the recognizer (its confusion matrix and attribute rates).
    :param cfg: the lessons' config; ``plan`` its lesson plan.
    """

    def __init__(self, surrogate: SurrogateRecognizer, cfg: SimConfig, plan: LessonPlan):
        self.surrogate = surrogate
        self.teacher = TeacherModel(cfg, plan)
        self.emission_model = compose_emission(np.asarray(cfg.frames.emission), surrogate.confusion)
        self.attention_targets = np.asarray(cfg.attention.targets)
        self.constants = attention_constants(cfg)
        self.initial_attention = self.teacher.initial @ self.attention_targets
        self._recognitions = TableSampler(np.cumsum(surrogate.confusion, axis=1))
        # Each attribute's behaviour column, hit and false-alarm rates (0-d arrays), in the recognizer's order.
        self._attribute_rates = [
            (int(column), np.asarray(hit), np.asarray(false_alarm))
            for column, hit, false_alarm in zip(
                _ATTRIBUTE_COLUMNS, surrogate.attribute_hit, surrogate.attribute_false_alarm, strict=True
            )
        ]
        # BeliefFilter's likelihood of each recognized class (rows of the emission model transposed), and a last
        # row of ones for "no frame" (class -1).
        self._likelihoods = np.vstack([np.asarray(self.emission_model, dtype=np.float64).T, np.ones(N_STATES)])

    def reset(self, batch: ClassroomBatch, rngs: Sequence[np.random.Generator]) -> None:
        b, n = batch.n_lessons, batch.n_students
        self.rngs = list(rngs)
        self.belief = np.broadcast_to(np.asarray(self.teacher.initial, dtype=np.float64), (b * n, N_STATES)).copy()
        self._filtered = False  # the first update starts from the initial distribution (BeliefFilter's convention)
        self.attention = np.full(b * n, self.initial_attention)
        t = batch.plan.n_ticks
        self.recognized = np.full((b, t, n), -1, dtype=np.int8)
        self.belief_state = np.full((b, t, n), -1, dtype=np.int8)
        self.tracked = np.zeros((b, t, min(TRACKED_STUDENTS, n), N_STATES))
        self._uniforms = UniformBlocks(rngs, t, (n, 4))  # the draws of one (N, 4) call a tick
        self._intensity = np.empty((b * n, N_FACTORS))
        self._no_frame = np.full(b * n, -1)
        self._attribute_probs = np.empty((b * n, len(_ATTRIBUTE_COLUMNS)))

    def begin_step(self, batch: ClassroomBatch, ticks: range) -> None:
        """Nothing to prepare: the recognition draws come in blocks of ticks
        (:class:`vclass.sim.batch.UniformBlocks`)."""

    def observe(self, batch: ClassroomBatch, tick: int) -> None:
        b, n = batch.n_lessons, batch.n_students
        uniforms = self._uniforms.at(tick).reshape(b * n, 4)
        # SurrogateRecognizer.recognize_with: a class drawn from the confusion row of the expression shown, and
        # each attribute detected at its hit or false-alarm rate (column by column).
        recognized = self._recognitions.sample(batch.shown_expression, uniforms[:, 0])
        attribute_probs = self._attribute_probs
        for j, (column, hit, false_alarm) in enumerate(self._attribute_rates):
            attribute_probs[:, j] = uniforms[:, 1 + j] < np.where(batch.shown_behaviour[:, column], hit, false_alarm)
        visible = batch.visible
        shown = np.where(visible, recognized, self._no_frame)
        self.recognized[:, tick] = shown.reshape(b, n)
        # S3 eq 9 with the teacher's chain, as RecognitionObserver: the prior is the belief moved one tick by the
        # teacher's model (BeliefFilter.update with prior=; its first update starts from the initial distribution).
        if not self._filtered:
            prior = self.belief
            self._filtered = True
        elif n == 1:  # BLAS computes a one-row product otherwise than a row of a larger one: lesson by lesson
            intensity = batch.teacher_ledger.before_decay(out=self._intensity)
            before = self.belief
            prior = np.concatenate([self.teacher.step(before[i : i + 1], tick, intensity[i : i + 1]) for i in range(b)])
        else:
            intensity = batch.teacher_ledger.before_decay(out=self._intensity)
            prior = self.teacher.step(self.belief, tick, intensity)
        joint = prior * self._likelihoods.take(shown, axis=0)  # row -1 (no frame) is all ones
        total = np.maximum(_row_sums(joint), _TINY)
        self.belief = belief = np.divide(joint, total[:, None], out=joint)
        # Stacked by lesson, as one classroom's (N, 8) @ (8,) (BLAS's result for a row depends on the block).
        expected = (belief.reshape(b, n, N_STATES) @ self.attention_targets).reshape(b * n)
        update_attention_estimate(self.attention, expected, attribute_probs, visible, self.constants)
        self.belief_state[:, tick] = row_argmax(belief).reshape(b, n)
        self.tracked[:, tick] = belief.reshape(b, n, N_STATES)[:, : self.tracked.shape[2]]

    def log(self, lesson: int) -> RecognitionLog:
        """Lesson ``lesson``'s :class:`vclass.env.observers.RecognitionLog` (views of the batch's arrays)."""
        return RecognitionLog(self.recognized[lesson], self.belief_state[lesson], self.tracked[lesson])


class ClassroomVectorEnv(VectorEnv):
    """Base of the batched environments; the single environments' docstrings are the manuals, and the module's
    docstring says what is batched and how.

    :param num_envs: B, the lessons stepped together.
    :param autoreset_mode: ``NextStep`` (default) or ``SameStep`` (:class:`gymnasium.vector.AutoresetMode`).
    :param env_kwargs: the single environment's arguments (``students``, ``minutes``, ``confusion_path``, ...).
    """

    single_env_class: type[ClassroomEnv]

    def __init__(
        self,
        num_envs: int,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        **env_kwargs: Any,
    ):
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or not 1 <= num_envs <= 4096:
            raise ConfigError("num_envs", f"must be an integer >= 1 and <= 4096, got {num_envs!r}")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            mode = None
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ConfigError("autoreset_mode", f"must be NextStep or SameStep, got {autoreset_mode!r}")
        if env_kwargs.get("render_mode") is not None:
            raise ConfigError("render_mode", "the batched environment does not render: use the single environment")
        if env_kwargs.get("recognizer", "surrogate") != "surrogate":
            raise ConfigError(
                "recognizer",
                f"the batched environment runs the surrogate recognizer, got {env_kwargs['recognizer']!r} "
                "(for scn-cs use gymnasium.make_vec(..., vectorization_mode='sync'))",
            )
        # One single environment checks the arguments and gives the spaces, the config and the recognizer.
        self.single_env = single = self.single_env_class(**env_kwargs)
        self.num_envs = b = int(num_envs)
        self.sim_config = cfg = single.sim_config
        self.n_students = n = single.n_students
        self.single_observation_space = single.observation_space
        self.single_action_space = single.action_space
        self.observation_space = batch_space(single.observation_space, b)
        self.action_space = batch_space(single.action_space, b)
        self.metadata = {"autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = None
        self.max_steps = single.max_steps
        surrogate = getattr(single.observer, "surrogate", None)
        assert isinstance(surrogate, SurrogateRecognizer)
        self.batch = ClassroomBatch(cfg, b, None)
        self.observer = SurrogateBatchObserver(surrogate, cfg, self.batch.plan)
        self.batch.observer = self.observer
        # The encoder's constants (vclass.env.classroom_env.ObservationEncoder), for all lessons at once.
        encoder = single.encoder
        self._axis = axis_values(cfg.emotion)
        self._n_global, self._n_student = encoder.n_global, encoder.n_student
        self._checkin_decay = encoder.checkin_decay_per_tick
        self._cap = np.array(INTENSITY_CAP, dtype=np.float32)
        # What the reward terms need of the config (vclass.env.classroom_env.student_reward_terms's constants).
        shape = SimpleNamespace(cfg=cfg, plan=self.batch.plan, population=SimpleNamespace(size=n))
        self._reward_constants = _lesson_constants(shape)
        self._lesson_rngs: list[np.random.Generator | None] = [None] * b
        self._checkins = np.zeros((b, n))
        self._encoded_tick = 0
        self.lesson_seeds = np.zeros(b, dtype=np.int64)
        self._started = False
        self._needs_reset = False
        self.closed = False

    # -- Gymnasium VectorEnv API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Start every lesson. ``seed``: None, an int (lesson ``b`` gets ``seed + b``) or one per lesson, as
        :class:`gymnasium.vector.SyncVectorEnv` seeds its environments; ``options["lesson_seed"]``: one lesson seed
        for all (as the single environments would each get it) or a sequence of one per lesson."""
        b = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * b
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(b)]
        else:
            seeds = list(cast(Sequence, seed))
            if len(seeds) != b:
                raise ValueError(f"seed must be None, an int or {b} seeds, got {len(seeds)}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is not None and not np.all(mask):
            raise ConfigError(
                "options.reset_mask", "the lessons share one clock: the batched environment resets all of them at once"
            )
        unknown = set(options) - {"lesson_seed"}
        if unknown:
            raise ConfigError("options", f"unknown reset option(s) {sorted(unknown)}; allowed: lesson_seed")
        given = options.get("lesson_seed")
        if given is None or isinstance(given, (int, np.integer)):
            lesson_seeds = [given] * b
        else:
            lesson_seeds = list(given)
            if len(lesson_seeds) != b:
                raise ConfigError("options.lesson_seed", f"must be one integer or {b} of them, got {len(lesson_seeds)}")
        for i, (one_seed, lesson_seed) in enumerate(zip(seeds, lesson_seeds, strict=True)):
            if one_seed is not None:
                self._lesson_rngs[i], _ = seeding.np_random(one_seed)  # what gym.Env.reset(seed=...) does
            if lesson_seed is None:
                lesson_seed = self._draw_lesson_seed(i)
            elif isinstance(lesson_seed, bool) or not isinstance(lesson_seed, (int, np.integer)) or lesson_seed < 0:
                raise ConfigError("options.lesson_seed", f"must be an integer >= 0, got {lesson_seed!r}")
            self.lesson_seeds[i] = int(lesson_seed)
        self._start()
        return self._encode(), self._reset_infos()

    def step(self, actions):
        if not self._started:
            raise RuntimeError("call reset() before step()")
        if self._needs_reset:  # NextStep: the step after the lessons ended starts new ones
            self._start_next()
            b = self.num_envs
            return self._encode(), np.zeros(b), np.zeros(b, dtype=bool), np.zeros(b, dtype=bool), self._reset_infos()
        obs, rewards, terminated, terms, per_student = self.step_lessons(actions)
        infos = self._step_infos(terms, per_student)
        truncated = np.zeros(self.num_envs, dtype=bool)
        if terminated:
            infos["summary"], infos["_summary"] = self.summaries(), np.ones(self.num_envs, dtype=bool)
            if self.autoreset_mode == AutoresetMode.SAME_STEP:
                final: dict[str, Any] = {}
                for lesson in range(self.num_envs):
                    final = self._add_info(final, {"final_obs": obs[lesson], "final_info": _one(infos, lesson)}, lesson)
                self._start_next()
                obs = self._encode()
                infos = {**final, **self._reset_infos()}
            else:
                self._needs_reset = True
        return obs, rewards, np.full(self.num_envs, terminated), truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        self.single_env.close()

    # -- the batched step, for the SB3 adapters too ----------------------------------------------------------------
    def step_lessons(self, actions) -> tuple[np.ndarray, np.ndarray, bool, dict[str, np.ndarray], dict]:
        """Apply every lesson's action and advance them to the next decision, without autoreset.

        :return: ``(observations (B, size), rewards (B,), terminated, class terms {name: (B,)}, per-student terms
            {name: (B, N)})``.
        """
        if self.batch.done:
            raise RuntimeError("the lessons are over; call reset()")
        factors, checkins = self._to_actions(actions)
        batch = self.batch
        if checkins is not None:
            self._note_checkins(checkins)
        batch.apply(factors, checkins)
        ticks = batch.run_step()
        per_student = self._student_terms(ticks)
        terms = _class_terms(per_student)
        return self._encode(), self._rewards(terms), batch.done, terms, per_student

    def start_lessons(self, seeds: Sequence[int | None] | None = None) -> np.ndarray:
        """Start new lessons (lesson seeds from each sub-environment's generator, seeded by ``seeds`` where given)
        and return their observations: what every single environment's ``reset(seed=...)`` does."""
        return self.reset(seed=list(seeds) if seeds is not None else None)[0]

    def summary(self, lesson: int) -> dict[str, Any]:
        """Lesson ``lesson``'s ``info["summary"]``, as the single environment gives it at the lesson's end."""
        record = self.batch.record(lesson)
        return {**class_summary(record), **in_loop_accuracy(record, self.observer.log(lesson))}

    def summaries(self) -> dict[str, Any]:
        """Every lesson's :meth:`summary`, batched as ``VectorEnv._add_info`` batches them (``{key: (B,), "_key":
        mask}``, ``interventions_by_factor`` nested): :func:`vclass.sim.measures.class_summary` and
        :func:`vclass.env.observers.in_loop_accuracy` computed for all lessons at once, with the same sums (each
        lesson's (T, N) block reduced as one lesson's arrays are). When a lesson leaves a measure undefined
        (nobody ever present, or no frame), lesson by lesson through :meth:`summary`."""
        batch, cfg, b, n = self.batch, self.sim_config, self.num_envs, self.n_students
        present, connected, camera_on = batch.flags_at_ticks
        online = present & connected
        recognized, belief_state = self.observer.recognized, self.observer.belief_state
        framed = recognized >= 0
        believed = (belief_state >= 0) & present
        counts = [np.add.reduce(mask, (1, 2)) for mask in (present, online, framed, believed)]
        if not all(count.all() for count in counts):
            infos: dict[str, Any] = {}
            for lesson in range(b):
                infos = self._add_info(infos, self.summary(lesson), lesson)
            return infos
        n_present, n_online, n_framed, n_believed = counts
        e = cfg.emotion
        axis = self._axis[batch.state_record]
        in_tea = ((self._axis >= e.tea_low) & (self._axis <= e.tea_high))[batch.state_record]
        attending = online & (batch.attention_record >= cfg.attention.participation_threshold)
        hand_raises = batch.behaviour_record[..., BEHAVIOUR_NAMES.index("hand_raised")] & online

        def mean_over(values: np.ndarray, count: np.ndarray, mask: np.ndarray) -> np.ndarray:
            # class_summary's _safe_mean: the masked values' sum over the lesson's (T, N), over their count (a sum
            # of zeros and ones is the count of ones, whatever the order).
            if values.dtype == bool:
                return np.add.reduce(values & mask, (1, 2)) / count
            return np.add.reduce(np.where(mask, values, 0.0), (1, 2)) / count

        by_factor, fun_decisions = batch.factor_uses(), batch.fun_decisions
        uses = by_factor.astype(np.float64)
        uses[:, 2] = fun_decisions  # class-wide fun counts once per decision (intervention_cost)
        weights = cfg.incentives.cost_weights
        size, dt_min = batch.plan.n_ticks * n, cfg.classroom.tick_seconds / 60.0
        summary: dict[str, Any] = {
            "students": np.full(b, n),
            "minutes": np.full(b, cfg.classroom.minutes, dtype=type(cfg.classroom.minutes)),
            "tea_share": mean_over(in_tea, n_present, present),
            "mean_attention": mean_over(batch.attention_record, n_online, online),
            "participation": np.add.reduce(attending, (1, 2)) / size,
            "effective_participation_min": np.add.reduce(attending, 1).mean(axis=1) * dt_min,
            "mean_axis": mean_over(axis, n_present, present),
            "learning_gain": np.add.reduce(batch.learning_record, 1).mean(axis=1),
            "interventions": np.add.reduce(by_factor, 1),
            "interventions_by_factor": _batched_info(dict(zip(FACTOR_NAMES, by_factor.T, strict=True)), b),
            "fun_decisions": fun_decisions.copy(),
            "refused_teaching_quality": batch.refused_teaching_quality.copy(),
            "intervention_cost": np.array([float(np.dot(weights, row)) for row in uses]),
            "checkins": batch.checkin_counts(),
            "hand_raises_per_student": np.add.reduce(hand_raises, (1, 2)) / n,
            "connected_share": mean_over(connected, n_present, present),
            "camera_on_share": mean_over(camera_on, n_present, present),
            "recognition_accuracy": np.add.reduce(framed & (recognized == batch.expression_record), (1, 2)) / n_framed,
            "belief_accuracy": np.add.reduce(believed & (belief_state == batch.state_record), (1, 2)) / n_believed,
            "frames_share": np.add.reduce(framed & present, (1, 2)) / n_present,
        }
        return _batched_info(summary, b)

    # -- for subclasses --------------------------------------------------------------------------------------------
    def _to_actions(self, actions) -> tuple[np.ndarray, np.ndarray | None]:
        """(factors (B, N), check-ins (B,) or None) from the batched action."""
        raise NotImplementedError

    def _rewards(self, terms: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def _extra_info(self, per_student: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {}

    # -- helpers ----------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        self.batch.start(self.lesson_seeds.tolist())
        self._checkins = np.zeros((self.num_envs, self.n_students))
        self._encoded_tick = 0
        self._started, self._needs_reset = True, False

    def _start_next(self) -> None:
        """New lessons, their seeds drawn from each sub-environment's generator (a reset without a seed)."""
        for i in range(self.num_envs):
            self.lesson_seeds[i] = self._draw_lesson_seed(i)
        self._start()

    def _draw_lesson_seed(self, lesson: int) -> int:
        """A lesson seed from sub-environment ``lesson``'s generator, as :meth:`ClassroomEnv.reset` draws it (a
        generator seeded at random first, as ``gym.Env.np_random`` makes one, if it was never seeded)."""
        rng = self._lesson_rngs[lesson]
        if rng is None:
            rng, _ = seeding.np_random()
            self._lesson_rngs[lesson] = rng
        return int(rng.integers(0, 2**31 - 1))

    def _reset_infos(self) -> dict[str, Any]:
        b = self.num_envs
        everyone = np.ones(b, dtype=bool)
        return {
            "lesson_seed": self.lesson_seeds.copy(),
            "_lesson_seed": everyone,
            "tick": np.zeros(b, dtype=np.int64),
            "_tick": everyone.copy(),
        }

    def _step_infos(self, terms: dict[str, np.ndarray], per_student: dict[str, np.ndarray]) -> dict[str, Any]:
        b = self.num_envs
        infos: dict[str, Any] = {"tick": np.full(b, self.batch.tick_index, dtype=np.int64)}
        infos.update(terms)
        infos.update(self._extra_info(per_student))
        for key in list(infos):
            infos[f"_{key}"] = np.ones(b, dtype=bool)
        return infos

    def _note_checkins(self, checkins: np.ndarray) -> None:
        """The encoder's record of check-ins (:meth:`vclass.env.classroom_env.ObservationEncoder.note_checkin`):
        one for a reachable student, decided on the current observation."""
        batch = self.batch
        reachable = batch.decision_flags(PRESENT) & batch.decision_flags(CONNECTED)
        for lesson in np.flatnonzero(checkins != NO_CHECKIN).tolist():
            student = int(checkins[lesson])
            if reachable[lesson, student]:
                self._checkins[lesson, student] += 1.0

    def _encode(self) -> np.ndarray:
        """Every lesson's observation vector, as :meth:`vclass.env.classroom_env.ObservationEncoder.encode` makes
        it from the lesson's :class:`vclass.sim.classroom.Observation` (a fresh (B, size) array)."""
        batch, cfg = self.batch, self.sim_config
        b, n, g = self.num_envs, self.n_students, self._n_global
        tick = batch.tick_index
        if tick > self._encoded_tick:
            self._checkins *= self._checkin_decay ** (tick - self._encoded_tick)
            self._encoded_tick = tick
        out = np.zeros((b, g + n * self._n_student), dtype=np.float32)
        plan_tick = min(tick, batch.plan.n_ticks - 1)
        out[:, 0] = min(tick / cfg.classroom.n_ticks, 1.0)
        out[:, 1 + SEGMENT_KINDS.index(batch.tables.segments[plan_tick])] = 1.0
        out[:, 5] = batch.tables.plan_ticks[plan_tick][2]
        budget = cfg.incentives.teacher_budget
        out[:, 6] = batch.teacher_budget_left / budget if budget else 0.0
        students = out[:, g:].reshape(b, n, self._n_student)
        belief = self.observer.belief.reshape(b, n, N_STATES)
        students[..., :N_STATES] = belief
        students[..., N_STATES] = belief @ self._axis  # stacked by lesson, as one classroom's (N, 8) @ (8,)
        students[..., N_STATES + 1] = self.observer.attention.reshape(b, n)
        students[..., N_STATES + 2] = batch.decision_flags(PRESENT) & batch.decision_flags(CONNECTED)
        students[..., N_STATES + 3] = batch.decision_flags(CAMERA_ON)
        # Capped as the encoder caps them; capping before the float32 cast gives the same numbers (the cast keeps
        # order, and the cap is a float32 number).
        intensity = batch.teacher_ledger.intensity.reshape(b, n, N_FACTORS)
        np.minimum(intensity, self._cap, out=students[..., N_STATES + 4 : N_STATES + 4 + N_FACTORS])
        np.minimum(self._checkins, self._cap, out=students[..., -1])
        return out

    def _student_terms(self, ticks: range) -> dict[str, np.ndarray]:
        """:func:`vclass.env.classroom_env.student_reward_terms` of the step's ticks, for every lesson: (B, N)."""
        batch = self.batch
        b, n = self.num_envs, self.n_students
        c = self._reward_constants
        rows = slice(ticks.start, ticks.stop)
        present = batch.flags_at_ticks[PRESENT, :, rows]
        in_region = c.tea_by_state.take(batch.state_record[:, rows]) & present
        shares = (c.n / np.maximum(np.add.reduce(present, 2), c.one))[:, :, None]
        tea = np.add.reduce(in_region * shares, 1) / c.n_ticks
        attending = (
            present
            & batch.flags_at_ticks[CONNECTED, :, rows]
            & (batch.attention_record[:, rows] >= c.participation_threshold)
        )
        return {
            "learning_gain": np.add.reduce(batch.learning_record[:, rows], 1),
            "tea_share": tea,
            "effective_participation_min": np.add.reduce(attending, 1) * c.minutes_per_tick,
            "intervention_cost": _step_costs(batch, self.sim_config.incentives.cost_weights).reshape(b, n),
        }


def _step_costs(batch: ClassroomBatch, weights: Sequence[float]) -> np.ndarray:
    """Each student's intervention cost of the last decision (B * N): the factor's weight, and for fun its weight
    shared among the lesson's recipients (:func:`vclass.env.classroom_env._student_costs`; a decision gives a student
    one factor, so each cost is one term)."""
    step = batch.step_applications()
    cost = np.zeros(batch.n_lessons * batch.n_students)
    if step.students.size:
        cost[step.students] = np.asarray(weights, dtype=np.float64).take(step.factors - 1)
        fun = step.factors == 3
        if fun.any():
            recipients = step.students[fun]
            lessons = recipients // batch.n_students
            cost[recipients] = weights[2] / np.bincount(lessons, minlength=batch.n_lessons).take(lessons)
    return cost


def _class_terms(per_student: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`vclass.env.classroom_env.class_terms` of every lesson (B,)."""
    n = next(iter(per_student.values())).shape[1]
    return {
        key: np.add.reduce(values, 1) if key == "intervention_cost" else np.add.reduce(values, 1) / n
        for key, values in per_student.items()
    }


def _row_sums(x: np.ndarray) -> np.ndarray:
    """``np.add.reduce(x, 1)`` of an (M, 8) array, the same sums computed over whole columns: numpy adds a row of
    eight by pairs, ``((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))`` (its pairwise summation), and so does
    this; other widths, and fewer rows than :data:`vclass.sim.batch.COLUMNS_FROM`, go to ``add.reduce``."""
    if x.shape[1] != 8 or x.shape[0] < COLUMNS_FROM:
        return np.add.reduce(x, 1)
    pairs = x[:, 0::2] + x[:, 1::2]
    quads = pairs[:, 0::2] + pairs[:, 1::2]
    return quads[:, 0] + quads[:, 1]


def _batched_info(values: dict[str, Any], b: int) -> dict[str, Any]:
    """Infos every one of the ``b`` lessons has, ``{key: (B,) array}`` (or a dict of them, already batched), in
    ``VectorEnv._add_info``'s layout: each key followed by its all-true mask ``_key``."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        out[key] = value
        out[f"_{key}"] = np.ones(b, dtype=bool)
    return out


def _one(infos: dict[str, Any], lesson: int) -> dict[str, Any]:
    """Sub-environment ``lesson``'s info from batched infos (the keys it has)."""
    out = {}
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            out[key] = _one(value, lesson)
        elif infos[f"_{key}"][lesson]:
            out[key] = value[lesson]
    return out


class MotivationVectorEnv(ClassroomVectorEnv):
    """B lessons of :class:`vclass.env.motivation.MotivationEnv` in one numpy tick (see the module's docstring).

    Actions ``(B, N)`` integers in 0..4; observations ``(B, 7 + 17 N)``; ``infos["student_rewards"]`` ``(B, N)``.

    :param num_envs: B.
    :param env_kwargs: :class:`vclass.env.motivation.MotivationEnv`'s arguments (``tea_weight``, ...).
    """

    single_env_class = MotivationEnv
    single_env: MotivationEnv

    def __init__(self, num_envs: int, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **env_kwargs):
        super().__init__(num_envs, autoreset_mode, **env_kwargs)
        single = self.single_env
        self._reward_scales = (single._learning_scale, single.tea_weight, single.cost_weight, single._cost_scale)
        weights = (single._learning_scale, single.tea_weight, single.cost_weight, single._cost_scale * self.n_students)
        self._student_weights: list[Any] = [np.asarray(w) for w in weights]

    def _to_actions(self, actions) -> tuple[np.ndarray, None]:
        b, n = self.num_envs, self.n_students
        factors = integer_action(actions, f"actions (MultiDiscrete([5] * {n}) for each of {b} lessons)")
        if factors.shape != (b, n):
            raise InvalidAction(f"actions must be ({b}, {n}) integers in 0..4, got shape {factors.shape}")
        if np.minimum.reduce(factors, axis=None) < 0 or np.maximum.reduce(factors, axis=None) > N_FACTORS:
            raise InvalidAction(f"action entries must be in 0..{N_FACTORS}, got {factors.min()}..{factors.max()}")
        return (factors if factors.dtype == np.int64 else factors.astype(np.int64)), None

    def _rewards(self, terms: dict[str, np.ndarray]) -> np.ndarray:
        return motivation_reward(terms, *self._reward_scales)

    def student_rewards(self, per_student: dict[str, np.ndarray]) -> np.ndarray:
        """Each student's share of the reward (B, N) from the step's per-student terms (``info["student_rewards"]``,
        as :class:`vclass.env.motivation.MotivationEnv` computes it)."""
        return motivation_reward(per_student, *self._student_weights)

    def _extra_info(self, per_student: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"student_rewards": self.student_rewards(per_student)}


class AttentionVectorEnv(ClassroomVectorEnv):
    """B lessons of :class:`vclass.env.attention.AttentionEnv` in one numpy tick (see the module's docstring).

    Actions ``(B,)`` integers in 0..N (0: nobody, k: student k - 1); observations ``(B, 7 + 17 N)``.

    :param num_envs: B.
    :param env_kwargs: :class:`vclass.env.attention.AttentionEnv`'s arguments.
    """

    single_env_class = AttentionEnv

    def __init__(self, num_envs: int, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP, **env_kwargs):
        super().__init__(num_envs, autoreset_mode, **env_kwargs)
        self._nothing = np.zeros((self.num_envs, self.n_students), dtype=np.int64)

    def _to_actions(self, actions) -> tuple[np.ndarray, np.ndarray]:
        b, n = self.num_envs, self.n_students
        choices = integer_action(actions, f"actions (Discrete({n + 1}) for each of {b} lessons)")
        if choices.shape not in ((b,), (b, 1)):
            raise InvalidAction(f"actions must be {b} integers in 0..{n}, got shape {choices.shape}")
        choices = choices.reshape(b)
        if np.minimum.reduce(choices) < 0 or np.maximum.reduce(choices) > n:
            raise InvalidAction(f"actions must be in 0..{n}, got {choices.min()}..{choices.max()}")
        return self._nothing, choices.astype(np.int64) - 1

    def _rewards(self, terms: dict[str, np.ndarray]) -> np.ndarray:
        return terms["effective_participation_min"]
