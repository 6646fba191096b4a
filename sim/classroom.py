"""The SimPy virtual classroom: a lesson of N students, ticking every dt.

Processes (SimPy generator functions, named after what they model):

* :func:`teacher` - every ``decision_seconds`` asks the policy for an action
  on the current observation and applies it (decisions at a time ``t`` come
  before the tick at ``t``, so an incentive acts on that tick's transition);
* :func:`lesson_clock` - every ``tick_seconds`` advances all students at once
  (vectorized with numpy: emotion transition, attention, behaviour, learning);
* :func:`attendance` - a late joiner arrives, a drop-out leaves for good;
* :func:`connection` and :func:`camera` - online faults: the connection or
  camera goes off with a per-tick hazard and comes back after an exponential
  time.

Random streams are split from the seed by purpose (students, dynamics,
faults, policy, observer, camera), so a policy's choices never shift the
class it meets or the noise the students see: two policies run on the same
seed face the same students (common random numbers), and two recognizers are
shown the same expressions.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import simpy

from vclass.sim.attention import (
    N_BEHAVIOURS,
    ONE,
    as_arrays,
    attention_step,
    behaviour_events,
    behaviour_scales,
    difficulty_match,
    learning_gain,
    learning_rate_by_state,
    zero_d,
)
from vclass.sim.config import SimConfig
from vclass.sim.emotion import N_FACTORS, N_STATES, IncentiveLedger, drift_features, drift_matrix
from vclass.sim.expressions import ExpressionDraws
from vclass.sim.lesson import SEGMENT_KINDS, LessonPlan, build_lesson
from vclass.sim.students import Population, sample_population

NO_CHECKIN = -1
# Integers as 0-d arrays, for arithmetic with the class's arrays (see vclass.sim.attention.ONE): 1, and action codes.
_ONE_INT = np.array(1)
_NO_FACTOR, _REMOVE_PROBLEMS, _FUN, _TEACHING_QUALITY = (np.array(code) for code in (0, 2, 3, 4))


@dataclass
class Observation:
    """What a policy sees at a decision point. Never the true emotional state.

    :ivar belief: (N, 8) belief over the emotional states (one-hot under the oracle observer).
    :ivar attention: (N,) attention estimate.
    :ivar present: (N,) joined and not yet left; ``connected``, ``camera_on`` likewise.
    :ivar intensity: (N, 4) the teacher's estimate of incentive intensities: what it applied, faded at
        the class's median dilution (each student's own fading rate is hidden).
    :ivar next_strength: (N, 4) the strength ``I0 = h^n`` each factor would have if applied now (``n`` earlier uses
        of it on the student within the habituation window: the teacher knows what it gave); None: unknown (1).
    """

    tick: int
    t_seconds: float
    segment: str
    difficulty: float
    belief: np.ndarray
    attention: np.ndarray
    present: np.ndarray
    connected: np.ndarray
    camera_on: np.ndarray
    intensity: np.ndarray
    teacher_budget_left: int
    next_strength: np.ndarray | None = None

    @property
    def n_students(self) -> int:
        return self.belief.shape[0]

    @property
    def reachable(self) -> np.ndarray:
        """Students an action can reach: present and connected."""
        return self.present & self.connected


@dataclass
class Action:
    """A policy's decision: ``incentives[k]`` is 0 (none) or factor m in 1..4; ``checkin`` a student or -1.

    ``predicted_axis`` (optional, (N,)) is the policy's prediction of each student's emotion axis after the action,
    where it makes one (ECEM does); the intervention log records it beside each application.
    """

    incentives: np.ndarray
    checkin: int = NO_CHECKIN
    predicted_axis: np.ndarray | None = None

    @classmethod
    def nothing(cls, n_students: int) -> Action:
        return cls(np.zeros(n_students, dtype=np.int64), NO_CHECKIN)


def check_action(action: object, n_students: int) -> tuple[np.ndarray, int]:
    """The factors (int64, one per student) and the check-in of a valid :class:`Action` for a class of
    ``n_students``; a ValueError that says what is wrong otherwise.

    Valid: ``incentives`` an integer array (not bool) of shape (N,) with values 0..4; ``checkin`` an integer
    (Python or numpy, not bool or float) that is -1 or a student index.
    """
    if not isinstance(action, Action):
        raise ValueError(f"act() must return an Action(incentives, checkin), got {type(action).__name__}")
    factors = np.asarray(action.incentives)
    if factors.shape != (n_students,) or factors.dtype.kind not in "iu":
        raise ValueError(
            f"action.incentives must be an integer array of shape ({n_students},), got {factors.dtype} {factors.shape}"
        )
    lowest, highest = np.minimum.reduce(factors), np.maximum.reduce(factors)
    if lowest < 0 or highest > N_FACTORS:
        raise ValueError(f"action.incentives must be in 0..{N_FACTORS}, got {min(lowest, 0)}..{max(highest, 0)}")
    if factors.dtype != np.int64:
        factors = factors.astype(np.int64)  # (valid codes: the same values) for arithmetic with int64 codes
    checkin = action.checkin
    if isinstance(checkin, (bool, np.bool_)) or not isinstance(checkin, (int, np.integer)):
        raise ValueError(f"action.checkin must be an integer, -1 or a student index, got {checkin!r}")
    if checkin != NO_CHECKIN and not 0 <= checkin < n_students:
        raise ValueError(f"action.checkin must be -1 or in 0..{n_students - 1}, got {checkin}")
    return factors, int(checkin)


class Policy(Protocol):
    """The contract every policy keeps (built-ins live in ``agents``)."""

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        """Start a lesson; ``rng`` is the policy's own random stream."""

    def act(self, obs: Observation) -> Action:
        """Decide incentives and a check-in from an observation."""


WATCHES = ("nothing", "expressions", "faces")


class Observer(Protocol):
    """Turns what the classroom shows into beliefs (the oracle here; recognizers in ``vclass.env``).

    ``watches`` says what the world must draw for it every tick (:data:`WATCHES`): ``nothing`` (it reads the
    truth), ``expressions`` (each visible student's expression class) or ``faces`` (class and intensity, to
    render). The classroom draws them before :meth:`observe` as :attr:`Classroom.shown_expression` and
    :attr:`Classroom.shown_intensity`, for the students in :attr:`Classroom.visible`.
    """

    watches: str

    def reset(self, room: Classroom, rng: np.random.Generator) -> None: ...

    def observe(self, room: Classroom, tick: int) -> None:
        """Called after every tick's dynamics."""

    def belief(self) -> np.ndarray: ...

    def attention(self) -> np.ndarray: ...


class OracleObserver:
    """Sees the true state and attention: belief is one-hot on the true state."""

    watches = "nothing"

    def reset(self, room: Classroom, rng: np.random.Generator) -> None:
        self._room = room
        self._eye = np.eye(N_STATES)

    def observe(self, room: Classroom, tick: int) -> None:
        pass

    def belief(self) -> np.ndarray:
        return self._eye[self._room.state]

    def attention(self) -> np.ndarray:
        return self._room.attention.copy()


@dataclass
class LessonRecord:
    """Everything a lesson produced, per tick (rows) and student (columns)."""

    cfg: SimConfig
    seed: int
    plan: LessonPlan
    population: Population
    state: np.ndarray  # (T, N) int8, state during the tick (after its transition)
    attention: np.ndarray  # (T, N)
    present: np.ndarray  # (T, N) bool
    connected: np.ndarray  # (T, N) bool
    camera_on: np.ndarray  # (T, N) bool
    behaviour: np.ndarray  # (T, N, 4) bool, BEHAVIOUR_NAMES order
    learning: np.ndarray  # (T, N) knowledge gained in the tick
    expression: np.ndarray  # (T, N) int8 expression shown to the camera, -1 without a frame or a watcher
    decisions: list[Observation] = field(default_factory=list)  # what the policy saw at each decision (vclass run)
    applications: list[tuple[int, int, int, float]] = field(default_factory=list)  # (tick, student, factor 1..4, I0)
    checkins: list[tuple[int, int]] = field(default_factory=list)  # (tick, student)
    # Beside each application: (the student's true state then, the policy's predicted axis or NaN); beside each
    # check-in: the true state. For the intervention log (vclass.sim.measures.intervention_table).
    application_context: list[tuple[int, float]] = field(default_factory=list)
    checkin_states: list[int] = field(default_factory=list)
    fun_decisions: int = 0
    refused_teaching_quality: int = 0

    @classmethod
    def allocate(cls, cfg: SimConfig, seed: int, plan: LessonPlan, population: Population) -> LessonRecord:
        t, n = plan.n_ticks, population.size
        return cls(
            cfg=cfg,
            seed=seed,
            plan=plan,
            population=population,
            state=np.zeros((t, n), dtype=np.int8),
            attention=np.zeros((t, n)),
            present=np.zeros((t, n), dtype=bool),
            connected=np.zeros((t, n), dtype=bool),
            camera_on=np.zeros((t, n), dtype=bool),
            behaviour=np.zeros((t, n, N_BEHAVIOURS), dtype=bool),
            learning=np.zeros((t, n)),
            expression=np.full((t, n), -1, dtype=np.int8),
        )


class DifficultyTerms:
    """Each student's difficulty gap ``D_k(t) - D*_k`` and match (:func:`vclass.sim.attention.difficulty_match`) at a
    lesson difficulty, without and with reduce-difficulty active (``D`` lowered, floored at 0; SPEC §2).

    The lesson difficulty is constant within a segment, so the arrays are recomputed only when it changes;
    a tick picks each student's entry by whether the reduction is active for them.

    :param ability: ``D*_k`` per student.
    :param reduction: how much reduce-difficulty lowers ``D``.
    """

    def __init__(self, ability: np.ndarray, reduction: float):
        self.ability, self.reduction = ability, reduction
        self.difficulty: float | None = None

    def at(self, difficulty: float) -> DifficultyTerms:
        """The terms at lesson difficulty ``difficulty`` (self, updated if it changed): ``plain`` and ``reduced``,
        each (2, N): the gap, then the match."""
        if difficulty != self.difficulty:
            self.difficulty = difficulty
            # D - reduction * active, as a (N,) sum would compute it for active = 0 and 1.
            gap = np.maximum(difficulty - self.reduction * 0.0, 0.0) - self.ability
            gap_reduced = np.maximum(difficulty - self.reduction * 1.0, 0.0) - self.ability
            self.plain = np.stack([gap, difficulty_match(gap)])
            self.reduced = np.stack([gap_reduced, difficulty_match(gap_reduced)])
        return self


class LessonTables:
    """What the ticks of a lesson need of its config, prepared once per config (:meth:`of`; an env starts every
    lesson with the same one): the plan's per-tick values, and the config's numbers as numpy 0-d arrays, which a
    tick reads and computes with without numpy's scalar conversions (see :data:`vclass.sim.attention.ONE`).

    :ivar plan_ticks: per tick: (seconds, t/T, D(t), eta_F(t), online test), 0-d arrays but D (a float, a cache
        key) and the online-test flag.
    :ivar segments: per tick, the segment's kind.
    """

    @classmethod
    def of(cls, cfg: SimConfig) -> LessonTables:
        """The tables of ``cfg``, kept for the configs used last."""
        try:
            return _lesson_tables(cfg)
        except TypeError:  # an unhashable config (a list where the fields hold tuples)
            return cls(cfg, build_lesson(cfg))

    def __init__(self, cfg: SimConfig, plan: LessonPlan):
        self.plan_ticks = list(
            zip(
                zero_d(np.arange(plan.n_ticks) * cfg.classroom.tick_seconds),
                zero_d(plan.time_fraction),
                plan.difficulty.tolist(),
                zero_d(plan.fatigue_drift),
                plan.online_test.tolist(),
            )
        )
        self.segments = [SEGMENT_KINDS[kind] for kind in plan.segment]
        self.drift = drift_matrix(cfg.emotion, cfg.incentives)
        self.active_threshold = np.asarray(cfg.incentives.active_threshold)
        self.learning_rate = learning_rate_by_state(cfg.learning)
        self.attention, self.behaviour = as_arrays(cfg.attention), as_arrays(cfg.behaviour)
        self.behaviour_scales = behaviour_scales(cfg.behaviour)
        # Share of the learning rate kept without / with reduce-difficulty, looked up by the active flag (0 or 1).
        self.rate_kept = 1.0 - cfg.incentives.learning_rate_penalty * np.array([0.0, 1.0])
        self.lesson_problems = np.asarray(cfg.incentives.lesson_problems)


@functools.lru_cache(maxsize=16)
def _lesson_tables(cfg: SimConfig) -> LessonTables:
    return LessonTables(cfg, build_lesson(cfg))


class Classroom:
    """State of one lesson and the vectorized step that advances it.

    :param cfg: simulator config.
    :param seed: run seed; all randomness derives from it.
    :param policy: the teacher's policy (None when an external teacher calls :meth:`apply`).
    :param observer: how the teacher sees the class (default :class:`OracleObserver`).
    """

    def __init__(self, cfg: SimConfig, seed: int, policy: Policy | None, observer: Observer | None = None):
        self.cfg = cfg
        self.seed = seed
        streams = np.random.SeedSequence(seed).spawn(6)
        students_rng, dynamics_rng, self.faults_rng, policy_rng, observer_rng, camera_rng = (
            np.random.default_rng(s) for s in streams
        )
        self.population = pop = sample_population(cfg, students_rng)
        self.plan = build_lesson(cfg)
        self.rng = dynamics_rng
        n = pop.size
        self.n_students = n
        self.tick_index = 0
        self.state = pop.initial_state.copy()
        self.attention = np.asarray(cfg.attention.targets)[self.state]
        self.present = (pop.join_seconds <= 0) & (pop.leave_seconds > 0)
        self.connected = np.ones(n, dtype=bool)
        self.camera_on = np.ones(n, dtype=bool)
        self.online = self.present & self.connected  # present and connected, as of the last tick
        self.ledger = IncentiveLedger(
            pop.dilution, cfg.incentives, cfg.classroom.tick_seconds, cfg.classroom.decision_seconds
        )
        # What the teacher knows of its incentives: what it applied and when, faded at the class's median
        # dilution (a student's own psi_k is hidden). Observations carry this, never the true intensities.
        self.teacher_ledger = IncentiveLedger(
            np.full(n, cfg.students.dilution_median),
            cfg.incentives,
            cfg.classroom.tick_seconds,
            cfg.classroom.decision_seconds,
        )
        self.boost = np.zeros(n)
        self._boosted = False  # whether any check-in has boosted anyone yet (boost is all zeros until then)
        self.problems_removed = np.zeros(n, dtype=np.int64)
        self.coverage = np.ones(n)  # share of the lesson's problems left to each student
        self.fun_until = np.full(n, -np.inf)
        self.teacher_budget_left = cfg.incentives.teacher_budget
        self.record = LessonRecord.allocate(cfg, seed, self.plan, pop)
        self._tables = LessonTables.of(cfg)
        self._features = np.empty((n, self._tables.drift.shape[0]))
        self._row_starts = np.arange(n) * N_STATES  # first row of each student's chain in the (N*8, 8) view
        self._gumbel = np.empty((n, N_STATES))
        self._uniforms = np.empty((n, N_BEHAVIOURS))
        self._difficulty = DifficultyTerms(pop.ability, cfg.incentives.difficulty_reduction)
        self._no_students = np.zeros(0, dtype=np.int64)
        self.policy = policy
        self.observer = observer if observer is not None else OracleObserver()
        watches = getattr(self.observer, "watches", "faces")
        if watches not in WATCHES:
            raise ValueError(f"observer.watches must be one of {', '.join(WATCHES)}, got {watches!r}")
        # What each face shows is the world's draw, on a stream of its own: every observer, whatever it recognizes
        # with, is shown the same expressions (the observer draws its recognition noise from its own stream).
        self._expressions = ExpressionDraws(cfg.frames, pop.expressiveness) if watches != "nothing" else None
        self._shows_intensity = watches == "faces"
        self._camera_rng = camera_rng
        self.visible = np.zeros(n, dtype=bool)
        self.shown_expression = np.full(n, -1, dtype=np.int64)
        self.shown_intensity: np.ndarray | None = None
        if policy is not None:
            policy.reset(n, policy_rng)
        self.observer.reset(self, observer_rng)
        self.last_action: Action | None = None

    # -- the tick -------------------------------------------------------------------------------------------------
    def advance(self, tick: int) -> None:
        """Advance every student by one tick (SPEC §2-3)."""
        pop, rng, tables = self.population, self.rng, self._tables
        t, time_fraction, difficulty, fatigue_drift, online_test = tables.plan_ticks[tick]
        fatigue = pop.fatigue_rate * time_fraction  # F_k(t) = f_k t / T
        reduced = self.ledger.intensity[:, 0] > tables.active_threshold
        terms = self._difficulty.at(difficulty)
        gap, match = np.where(reduced, terms.reduced, terms.plain)
        features = drift_features(gap, fatigue_drift * fatigue, online_test, self.ledger.intensity, out=self._features)
        # Sample the next state by Gumbel-max on the row's logits (same law as transition_rows());
        # -log(Exp(1)) is a standard Gumbel draw, and numpy draws exponentials faster than gumbels.
        logits = pop.log_transitions.reshape(-1, N_STATES).take(self._row_starts + self.state, axis=0)
        logits += features @ tables.drift
        logits -= np.log(rng.standard_exponential(out=self._gumbel), out=self._gumbel)
        self.state = state = logits.argmax(axis=1)
        self.attention = attention_step(
            self.attention,
            state,
            fatigue,
            pop.attention_fatigue,
            self.boost if self._boosted else None,
            rng.standard_normal(self.n_students),
            tables.attention,
        )
        events = behaviour_events(
            rng.random(out=self._uniforms), self.attention, state, fatigue, tables.behaviour, tables.behaviour_scales
        )
        self.online = online = self.present & self.connected
        rate_factor = (online & (self.fun_until <= t)) * tables.rate_kept.take(reduced.view(np.int8))
        rate_factor *= self.coverage
        rec = self.record
        rec.state[tick] = state
        rec.attention[tick] = self.attention
        rec.present[tick] = self.present
        rec.connected[tick] = self.connected
        rec.camera_on[tick] = self.camera_on
        rec.behaviour[tick] = events
        rec.learning[tick] = learning_gain(self.attention, tables.learning_rate.take(state), gap, rate_factor, match)
        self.ledger.decay()
        self.teacher_ledger.decay()
        if self._boosted:
            self.boost *= self.ledger.decay_per_tick
        self.tick_index = tick + 1
        if self._expressions is not None:
            self.visible = visible = online & self.camera_on
            self.shown_expression, self.shown_intensity = self._expressions.draw(
                state, self._camera_rng, self._shows_intensity
            )
            rec.expression[tick] = np.where(visible, self.shown_expression, -1)
        self.observer.observe(self, tick)

    # -- decisions ------------------------------------------------------------------------------------------------
    def observation(self) -> Observation:
        """The current observation, built from the observer's beliefs."""
        tick = min(self.tick_index, self.plan.n_ticks - 1)
        return Observation(
            tick=self.tick_index,
            t_seconds=self.tick_index * self.cfg.classroom.tick_seconds,
            segment=self._tables.segments[tick],
            difficulty=self._tables.plan_ticks[tick][2],
            belief=self.observer.belief(),
            attention=self.observer.attention(),
            present=self.present.copy(),
            connected=self.connected.copy(),
            camera_on=self.camera_on.copy(),
            intensity=self.teacher_ledger.intensity.copy(),
            teacher_budget_left=self.teacher_budget_left,
            next_strength=self.teacher_ledger.next_strengths(self.tick_index * self.cfg.classroom.tick_seconds),
        )

    def apply(self, action: Action) -> None:
        """Carry out a policy's action on the students it can reach (present and connected).

        Costs (SPEC §2): reduce-difficulty acts through its intensity in
        :meth:`advance`; remove-problems takes one of the lesson's problems;
        fun costs its students ``fun_seconds`` of learning (counted once per
        decision); teaching-quality draws on the teacher budget, and uses
        beyond it are refused (lowest student index first).
        """
        n, inc = self.n_students, self.cfg.incentives
        factors, checkin = check_action(action, n)
        highest = np.maximum.reduce(factors)
        t = self.tick_index * self.cfg.classroom.tick_seconds
        reachable = self.present & self.connected
        chosen = ((factors > _NO_FACTOR) & reachable).nonzero()[0] if highest > 0 else self._no_students
        given = factors.take(chosen)  # factor 1..4 of each chosen student
        teaching = (given == _TEACHING_QUALITY).nonzero()[0]
        budget = self.teacher_budget_left
        if teaching.size > budget:
            self.record.refused_teaching_quality += teaching.size - budget
            if budget:
                keep = np.ones(chosen.size, dtype=bool)
                keep[teaching[budget:]] = False
            else:
                keep = given != _TEACHING_QUALITY
            chosen, given = chosen[keep], given[keep]
        self.teacher_budget_left -= min(teaching.size, budget)
        if chosen.size:
            factor = given - _ONE_INT  # 0-based
            strength = self.ledger.apply(t, chosen, factor)
            # The teacher knows what it gave: the same applications, so the same habituated strengths.
            self.teacher_ledger.apply(t, chosen, factor)  # the same applications: the same strengths
            removing = chosen[given == _REMOVE_PROBLEMS]
            if removing.size:
                problems = self._tables.lesson_problems
                self.problems_removed[removing] = np.minimum(self.problems_removed[removing] + _ONE_INT, problems)
                self.coverage = ONE - self.problems_removed / problems
            fun = chosen[given == _FUN]
            if fun.size:
                self.fun_until[fun] = t + inc.fun_seconds
                self.record.fun_decisions += 1
            self.record.applications.extend(
                zip(itertools.repeat(self.tick_index, chosen.size), chosen.tolist(), given.tolist(), strength.tolist())
            )
            predicted = action.predicted_axis
            self.record.application_context.extend(
                zip(
                    self.state.take(chosen).tolist(),
                    np.asarray(predicted, dtype=np.float64).take(chosen).tolist()
                    if predicted is not None
                    else itertools.repeat(math.nan, chosen.size),
                )
            )
        if checkin != NO_CHECKIN:
            if reachable[checkin]:
                self.boost[checkin] += self.cfg.attention.checkin_boost
                self._boosted = True
                self.record.checkins.append((self.tick_index, checkin))
                self.record.checkin_states.append(int(self.state[checkin]))
        self.last_action = action

    def decide(self) -> None:
        """One decision point: observe, ask the policy, apply."""
        if self.policy is None:
            raise RuntimeError("this classroom has no policy: its teacher calls apply() itself")
        obs = self.observation()
        self.record.decisions.append(obs)
        self.apply(self.policy.act(obs))


# -- SimPy processes --------------------------------------------------------------------------------------------------
def lesson_clock(env: simpy.Environment, room: Classroom, on_tick: Callable[[int], None] | None = None):
    """Advance all students every tick until the lesson ends."""
    dt = room.cfg.classroom.tick_seconds
    for tick in range(room.plan.n_ticks):
        room.advance(tick)
        if on_tick is not None:
            on_tick(tick)
        yield env.timeout(dt)


def teacher(env: simpy.Environment, room: Classroom):
    """Decide at every decision point (before the tick at the same time)."""
    while True:
        room.decide()
        yield env.timeout(room.cfg.classroom.decision_seconds)


def attendance(env: simpy.Environment, room: Classroom, student: int):
    """A late joiner arrives; a drop-out leaves for good."""
    pop = room.population
    if pop.join_seconds[student] > 0:
        yield env.timeout(pop.join_seconds[student])
        room.present[student] = pop.leave_seconds[student] > env.now
    if np.isfinite(pop.leave_seconds[student]):
        yield env.timeout(max(pop.leave_seconds[student] - env.now, 0.0))
        room.present[student] = False


def outage_schedule(
    rng: np.random.Generator,
    n_students: int,
    hazard_per_tick: float,
    dt: float,
    mean_off_seconds: float,
    horizon_seconds: float,
) -> list[tuple[float, int, bool]]:
    """Pre-draw every student's outages: ``(time, student, back_on)`` events sorted by time.

    A per-tick hazard ``p`` becomes the continuous rate ``-log(1-p)/dt``, so an
    outage never ties with a tick; each outage lasts ``Exp(mean_off_seconds)``.
    """
    if hazard_per_tick <= 0 or n_students == 0:
        return []
    rate = -np.log1p(-hazard_per_tick) / dt
    cycles = 4
    while True:
        up = rng.exponential(1.0 / rate, (n_students, cycles))
        down = rng.exponential(mean_off_seconds, (n_students, cycles))
        ends = np.cumsum(up + down, axis=1)
        if ends[:, -1].min() >= horizon_seconds:
            break
        cycles *= 2  # rare: some student needs more outages than drawn; redraw with room to spare
    off_times = ends - down
    off_student, _ = np.nonzero(off_times < horizon_seconds)
    on_student, _ = np.nonzero(ends < horizon_seconds)
    events = [(float(t), int(k), False) for k, t in zip(off_student, off_times[off_times < horizon_seconds])]
    events += [(float(t), int(k), True) for k, t in zip(on_student, ends[ends < horizon_seconds])]
    events.sort()
    return events


def _replay(env: simpy.Environment, flags: np.ndarray, events: list[tuple[float, int, bool]]):
    for time, student, back_on in events:
        yield env.timeout(time - env.now)
        flags[student] = back_on


def connection(env: simpy.Environment, room: Classroom, events: list[tuple[float, int, bool]]):
    """Students' connections drop now and then and come back after Exp(reconnect_mean_seconds)."""
    return _replay(env, room.connected, events)


def camera(env: simpy.Environment, room: Classroom, events: list[tuple[float, int, bool]]):
    """Students' cameras go off now and then and come back after Exp(camera_back_mean_seconds)."""
    return _replay(env, room.camera_on, events)


class Lesson:
    """A SimPy lesson, run whole (:meth:`run`) or stepped by an external teacher (:meth:`run_until`).

    With a ``policy`` the :func:`teacher` process decides at every decision
    point. Without one (a Gymnasium env, say) the caller is the teacher: it
    calls ``room.apply(action)`` at the current time and then
    ``run_until(now + decision_seconds)``.

    :param on_tick: called with the tick index after each tick (progress bars).
    :param env: a SimPy environment shared with other lessons run together (default: a new one).
    """

    def __init__(
        self,
        cfg: SimConfig,
        seed: int,
        policy: Policy | None = None,
        observer: Observer | None = None,
        on_tick: Callable[[int], None] | None = None,
        env: simpy.Environment | None = None,
    ):
        self.env = env = env if env is not None else simpy.Environment()
        self.room = room = Classroom(cfg, seed, policy, observer)
        c = cfg.classroom
        self.end_seconds = room.plan.n_ticks * c.tick_seconds
        if policy is not None:
            env.process(teacher(env, room))
        env.process(lesson_clock(env, room, on_tick))
        pop = room.population
        for k in np.flatnonzero((pop.join_seconds > 0) | np.isfinite(pop.leave_seconds)):
            env.process(attendance(env, room, int(k)))
        env.process(
            connection(
                env,
                room,
                outage_schedule(
                    room.faults_rng,
                    room.n_students,
                    c.connection_drop_prob,
                    c.tick_seconds,
                    c.reconnect_mean_seconds,
                    self.end_seconds,
                ),
            )
        )
        env.process(
            camera(
                env,
                room,
                outage_schedule(
                    room.faults_rng,
                    room.n_students,
                    c.camera_off_prob,
                    c.tick_seconds,
                    c.camera_back_mean_seconds,
                    self.end_seconds,
                ),
            )
        )

    @property
    def now(self) -> float:
        return self.env.now

    @property
    def done(self) -> bool:
        return self.env.now >= self.end_seconds

    def run_until(self, t_seconds: float) -> None:
        """Process every event before ``t_seconds`` (capped at the lesson's end)."""
        t_seconds = min(t_seconds, self.end_seconds)
        if t_seconds > self.env.now:
            self.env.run(until=t_seconds)

    def run(self) -> LessonRecord:
        """Run to the end of the lesson and return its record."""
        self.run_until(self.end_seconds)
        return self.room.record


def simulate(
    cfg: SimConfig,
    seed: int,
    policy: Policy,
    observer: Observer | None = None,
    on_tick: Callable[[int], None] | None = None,
) -> LessonRecord:
    """Run one lesson with ``policy`` as the teacher and return its record.

    :param on_tick: called with the tick index after each tick (progress bars).
    """
    return Lesson(cfg, seed, policy, observer, on_tick).run()
