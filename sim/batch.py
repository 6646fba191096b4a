"""Many lessons of one config stepped together: the classroom's tick over B classes in one numpy pass.

:class:`ClassroomBatch` runs B lessons of the same :class:`vclass.sim.config.SimConfig` in lockstep, with an external
teacher (a vectorized environment): at each decision the teacher calls :meth:`ClassroomBatch.apply`, then
:meth:`ClassroomBatch.run_step` advances every lesson to the next decision. Each lesson is the lesson
:class:`vclass.sim.classroom.Lesson` would run on its seed, number for number:

* every lesson keeps its own random streams, the SeedSequence children of its seed, and draws from each of them
  what a :class:`vclass.sim.classroom.Classroom` draws, in the same order (per lesson, so per-lesson generator
  calls); the arithmetic is done for all B x N students at once, elementwise as the classroom does it, and the
  few matrix products stacked by lesson (``(B, N, 7) @ (7, 8)``), so that BLAS computes each lesson's block as
  it computes a single classroom's;
* the SimPy processes of a lesson (late joins and drop-outs, connection and camera outages, whose schedules are
  drawn when the lesson starts) are replayed as flag timelines: :func:`flag_timelines` computes, from the same
  pre-drawn events and the same floating-point times SimPy would compute, which ticks and which decisions see
  each event, with SimPy's order at equal times (:func:`first_ticks`); a tick then reads its row.

Lockstep: the lessons share the config, so they share the clock (tick and decision times) and end together;
:meth:`ClassroomBatch.start` (re)starts them all at once.

The observer is batched too (:class:`BatchObserver`; the surrogate recognizer's lives in :mod:`vclass.env.vector`);
the batch draws the expressions it is shown, as the classroom does for an ``expressions`` watcher.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vclass.sim.attention import (
    N_BEHAVIOURS,
    ONE,
    attention_step,
    behaviour_events,
    learning_gain,
)
from vclass.sim.classroom import (
    NO_CHECKIN,
    DifficultyTerms,
    LessonRecord,
    LessonTables,
    outage_schedule,
)
from vclass.sim.config import SimConfig
from vclass.sim.emotion import N_FACTORS, N_STATES, IncentiveLedger, drift_features
from vclass.sim.expressions import sample_cumulative
from vclass.sim.lesson import build_lesson
from vclass.sim.students import Population, sample_population

PRESENT, CONNECTED, CAMERA_ON = 0, 1, 2  # the flags the SimPy processes set, rows of the flag timelines
_REMOVE_PROBLEMS, _FUN, _TEACHING_QUALITY = 2, 3, 4


# -- row-wise helpers ---------------------------------------------------------------------------------------------
# numpy's reductions along a short last axis (argmax of a student's 8 states, argmin over 7 classes) pay per row; on a
# batch's thousands of rows these compute the same results with a few operations over whole columns.
_BYTE_INDEX = np.uint64(0x0001020304050607)  # 2 ** (8 j) times this, shifted right by 56, is j (j in 0..7)
_ONE_U64, _TOP_BYTE = np.uint64(1), np.uint64(56)
ROW_ARGMAX_FROM = 1536  # rows; argmax is faster below (measured on the 2-core machine; both give the same result)
COLUMNS_FROM = 256  # rows from which TableSampler and vclass.env.vector's row sums go column-wise


def row_argmax(x: np.ndarray) -> np.ndarray:
    """``x.argmax(axis=1)`` of a C-contiguous (M, 8) float array: each row's first maximum (int64 (M,)).

    The rows' maxima come from a tree of elementwise maxima; the entries equal to their row's maximum are a bool
    (M, 8), one byte an entry, read as one little-endian uint64 a row, whose lowest set byte is the first of them.
    Arrays with NaN (whose maximum argmax finds otherwise), other shapes and fewer rows than :data:`ROW_ARGMAX_FROM`
    (where argmax is faster) go to ``argmax``.
    """
    if x.ndim != 2 or x.shape[1] != 8 or x.shape[0] < ROW_ARGMAX_FROM or not x.flags.c_contiguous:
        return x.argmax(axis=1)
    if sys.byteorder != "little":
        return x.argmax(axis=1)
    pairs = np.maximum(x[:, 0::2], x[:, 1::2])
    quads = np.maximum(pairs[:, 0::2], pairs[:, 1::2])
    top = np.maximum(quads[:, 0], quads[:, 1])  # NaN where a row has NaN: no entry equals it
    first = (x.reshape(-1) == np.repeat(top, 8)).view(np.uint64)
    if not first.all():
        return x.argmax(axis=1)
    first &= ~first + _ONE_U64  # the lowest set bit: 2 ** (8 j), j the first maximum
    first *= _BYTE_INDEX
    first >>= _TOP_BYTE
    return first.view(np.int64)


class TableSampler:
    """:func:`vclass.sim.expressions.sample_cumulative` for rows of one fixed table (the same draws), faster.

    ``sample_cumulative`` returns, for each picked row, the first entry of its cumulative sums not below ``u *
    total``: the entries below form a prefix of the row (non-negative probabilities), so it is their count. The
    table's columns are kept transposed, so that a draw compares whole columns with the thresholds and counts
    down the columns.

    :param cumulative: (R, K) the rows' cumulative sums ``np.cumsum(probabilities, axis=1)``, K <= 128.
    """

    def __init__(self, cumulative: np.ndarray):
        if cumulative.shape[1] > 128:
            raise ValueError(f"at most 128 columns, got {cumulative.shape[1]}")
        self._cumulative = cumulative
        self._total = np.ascontiguousarray(cumulative[:, -1])
        self._columns = np.ascontiguousarray(cumulative[:, :-1].T)  # the total is never below u * total (u < 1)

    def sample(self, rows: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """One index a row, int64 (M,): row ``rows[i]`` sampled with the U(0, 1) draw ``uniforms[i]`` (by
        ``sample_cumulative`` itself for fewer than :data:`COLUMNS_FROM` rows, where it is faster)."""
        if rows.size < COLUMNS_FROM:
            return sample_cumulative(self._cumulative.take(rows, axis=0), uniforms)
        below = self._columns.take(rows, axis=1) < uniforms * self._total.take(rows)
        return np.add.reduce(below.view(np.int8), 0, dtype=np.int8).astype(np.int64)


class UniformBlocks:
    """Each lesson's U(0, 1) draws of one shape a tick, from its own stream, drawn for many ticks in one call a lesson.

    For a stream that gives nothing but these draws (a lesson's camera stream, its observer stream): a generator's
    doubles take one 64-bit output each, in order, so a block of ticks drawn at once holds the numbers drawn tick by
    tick. Blocks hold up to about ``max_bytes``; :meth:`at` is read tick after tick from 0.

    :param rngs: each lesson's stream.
    :param n_ticks: the lessons' ticks.
    :param shape: the draws of one lesson a tick.
    """

    def __init__(self, rngs: Sequence[np.random.Generator], n_ticks: int, shape: tuple[int, ...], max_bytes=1 << 23):
        self.rngs, self.n_ticks = list(rngs), n_ticks
        per_tick = len(self.rngs) * math.prod(shape) * 8
        self._buffer = np.empty((len(self.rngs), max(1, min(n_ticks, max_bytes // per_tick)), *shape))
        self._first, self._stop = 0, 0  # the ticks the buffer holds

    def at(self, tick: int) -> np.ndarray:
        """Every lesson's draws of tick ``tick`` (B, *shape), a view (the ticks come in order)."""
        if tick >= self._stop:
            if tick != self._stop:
                raise ValueError(f"tick {tick} read after tick {self._stop - 1}: the draws come in order")
            count = min(self._buffer.shape[1], self.n_ticks - tick)
            for lesson, rng in enumerate(self.rngs):
                rng.random(out=self._buffer[lesson, :count])
            self._first, self._stop = tick, tick + count
        return self._buffer[:, tick - self._first]


class BatchObserver(Protocol):
    """A batched observer: what :class:`vclass.sim.classroom.Observer` is to a classroom, for a batch.

    The batch shows it :attr:`ClassroomBatch.visible` and :attr:`ClassroomBatch.shown_expression` (B * N, lesson
    by lesson) after every tick's dynamics, as a classroom does for a watcher of ``expressions``, and the tick's
    behaviour events :attr:`ClassroomBatch.shown_behaviour` (B * N, 4).
    """

    def reset(self, batch: ClassroomBatch, rngs: Sequence[np.random.Generator]) -> None:
        """Start the batch's lessons; ``rngs[b]`` is lesson b's observer stream."""

    def begin_step(self, batch: ClassroomBatch, ticks: range) -> None:
        """Called before the ticks of a step (to draw what they need in one call per lesson)."""

    def observe(self, batch: ClassroomBatch, tick: int) -> None:
        """Called after every tick's dynamics."""


# -- the clock --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LessonClock:
    """The times SimPy gives a lesson's ticks and decisions, computed as SimPy computes them (``now + delay``).

    :ivar tick_times: the time of each tick, ``t_0 = 0``, ``t_{k+1} = t_k + dt``.
    :ivar decision_times: ``d_0 = 0``, ``d_{j+1} = min(d_j + decision_seconds, T)``, up to the lesson's end ``T``
        (an environment's step runs ``Lesson.run_until(now + decision_seconds)``).
    :ivar step_ticks: the ticks each step advances: those at ``d_j <= t < d_{j+1}`` (SimPy stops before the
        events at its ``until`` time).
    """

    tick_times: tuple[float, ...]
    decision_times: tuple[float, ...]
    step_ticks: tuple[range, ...]

    @classmethod
    def of(cls, cfg: SimConfig) -> LessonClock:
        c = cfg.classroom
        n_ticks = build_lesson(cfg).n_ticks
        end = n_ticks * c.tick_seconds
        ticks: list[float] = []
        now: float = 0
        for _ in range(n_ticks):
            ticks.append(now)
            now = now + c.tick_seconds
        decisions: list[float] = [0]
        while decisions[-1] < end:
            decisions.append(min(decisions[-1] + c.decision_seconds, end))
        steps = []
        for start, stop in itertools.pairwise(decisions):
            first, last = bisect.bisect_left(ticks, start), bisect.bisect_left(ticks, stop)
            steps.append(range(first, last))
        return cls(tuple(ticks), tuple(decisions), tuple(steps))

    @property
    def n_steps(self) -> int:
        return len(self.step_ticks)


# -- the SimPy processes, replayed ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlagEvents:
    """Events of a lesson's SimPy processes, process by process, each process's in its order: at ``time`` (as SimPy
    computes it) flag ``flag`` of ``student`` becomes ``value``. The process scheduled the event at ``scheduled_at``,
    while processing its event ``previous`` (an index; -1: at the process's start, time 0)."""

    time: np.ndarray
    scheduled_at: np.ndarray
    previous: np.ndarray
    flag: np.ndarray
    student: np.ndarray
    value: np.ndarray

    @classmethod
    def joined(cls, parts: Sequence[FlagEvents]) -> FlagEvents:
        """The events of several processes, one after the other."""
        offsets = np.cumsum([0] + [part.time.size for part in parts[:-1]])
        previous = [np.where(part.previous >= 0, part.previous + offset, -1) for part, offset in zip(parts, offsets)]
        return cls(
            np.concatenate([part.time for part in parts]),
            np.concatenate([part.scheduled_at for part in parts]),
            np.concatenate(previous),
            np.concatenate([part.flag for part in parts]),
            np.concatenate([part.student for part in parts]),
            np.concatenate([part.value for part in parts]),
        )


def attendance_events(population: Population) -> FlagEvents:
    """The events of :func:`vclass.sim.classroom.attendance` for every late joiner or drop-out: it yields
    ``timeout(join)``, sets ``present = leave > now``, then yields ``timeout(max(leave - now, 0))`` and sets
    ``present = False`` (SimPy's clock starts at 0: the join comes at ``join``, the leave at ``now + delay``)."""
    return _attendance(population.join_seconds, population.leave_seconds)


def _attendance(join: np.ndarray, leave: np.ndarray) -> FlagEvents:
    """:func:`attendance_events` of students with these join and leave times (one class's, or several classes'
    one after the other: the students are then numbered across them)."""
    students = np.flatnonzero((join > 0) | np.isfinite(leave))
    join, leave = join[students], leave[students]
    late, leaves = join > 0, np.isfinite(leave)
    now = np.where(late, join, 0.0)  # the clock after the join (0 + join is join)
    leave_time = now + np.maximum(leave - now, 0.0)
    # Student by student: the join (late joiners), then the leave (drop-outs).
    time = np.column_stack([join, leave_time])
    scheduled = np.column_stack([np.zeros(students.size), now])
    value = np.column_stack([leave > join, np.zeros(students.size, dtype=bool)])
    happens = np.column_stack([late, leaves])
    index = np.cumsum(happens.ravel()).reshape(-1, 2) - 1  # each event's index among those that happen
    previous = np.column_stack([np.full(students.size, -1), np.where(late, index[:, 0], -1)])
    chosen = happens.ravel()
    return FlagEvents(
        time.ravel()[chosen],
        scheduled.ravel()[chosen],
        previous.ravel()[chosen],
        np.full(int(chosen.sum()), PRESENT),
        np.repeat(students, 2)[chosen],
        value.ravel()[chosen],
    )


def replayed_events(schedule: list[tuple[float, int, bool]], flag: int) -> FlagEvents:
    """The events of a :func:`vclass.sim.classroom.connection` or :func:`vclass.sim.classroom.camera` process
    replaying ``schedule`` (``(time, student, back_on)``): it yields ``timeout(time - now)``, so each event comes at
    SimPy's ``now + (time - now)``, computed here as SimPy computes it."""
    times = np.array([event[0] for event in schedule], dtype=np.float64)
    earlier = np.concatenate([[0.0], times])[:-1]
    simpy_times = earlier + (times - earlier)
    if not np.array_equal(simpy_times, times):  # a rounding somewhere: the clock's own sums, one by one
        now, rounded = 0.0, []
        for time in times.tolist():
            now = now + (time - now)
            rounded.append(now)
        simpy_times = np.array(rounded)
    # (Else every now + (time - now) gives time back, and so, by induction from now = 0, does the clock's own sum.)
    return FlagEvents(
        simpy_times,
        np.concatenate([[0.0], simpy_times])[:-1],  # one an event (none for an empty schedule)
        np.arange(times.size) - 1,
        np.full(times.size, flag),
        np.array([event[1] for event in schedule], dtype=np.int64),
        np.array([event[2] for event in schedule], dtype=bool),
    )


def outage_schedules(
    cfg: SimConfig, n_students: int, faults_rng: np.random.Generator, end_seconds: float
) -> list[list[tuple[float, int, bool]]]:
    """A lesson's connection and camera outage schedules, drawn from ``faults_rng`` as the lesson draws them
    (connection first, then camera)."""
    c = cfg.classroom
    return [
        outage_schedule(faults_rng, n_students, prob, c.tick_seconds, mean, end_seconds)
        for prob, mean in (
            (c.connection_drop_prob, c.reconnect_mean_seconds),
            (c.camera_off_prob, c.camera_back_mean_seconds),
        )
    ]


def lesson_events(
    cfg: SimConfig, population: Population, faults_rng: np.random.Generator, end_seconds: float
) -> FlagEvents:
    """The events of a lesson's processes (attendance, then connection, then camera, as
    :class:`vclass.sim.classroom.Lesson` creates them); draws the outage schedules from ``faults_rng`` as the lesson
    does (connection first, then camera)."""
    connection, camera = outage_schedules(cfg, population.size, faults_rng, end_seconds)
    return FlagEvents.joined(
        [attendance_events(population), replayed_events(connection, CONNECTED), replayed_events(camera, CAMERA_ON)]
    )


def batch_events(
    populations: Sequence[Population], schedules: Sequence[Sequence[list[tuple[float, int, bool]]]]
) -> tuple[FlagEvents, np.ndarray]:
    """Every lesson's :func:`lesson_events`, computed for all lessons at once: the attendance events of all
    lessons, then their connection events, then their camera events (each process's events in its order, which is
    all :func:`flag_timelines` needs), and each event's lesson.

    :param schedules: each lesson's :func:`outage_schedules`.
    """
    n = populations[0].size
    attendance = _attendance(
        np.concatenate([pop.join_seconds for pop in populations]),
        np.concatenate([pop.leave_seconds for pop in populations]),
    )
    lessons, students = np.divmod(attendance.student, n)
    parts, lesson = [dataclasses.replace(attendance, student=students)], [lessons]
    for flag, of_flag in ((CONNECTED, [pair[0] for pair in schedules]), (CAMERA_ON, [pair[1] for pair in schedules])):
        parts.append(_replayed_schedules(of_flag, flag))
        lesson.append(np.repeat(np.arange(len(of_flag)), [len(schedule) for schedule in of_flag]))
    return FlagEvents.joined(parts), np.concatenate(lesson)


def _replayed_schedules(schedules: Sequence[list[tuple[float, int, bool]]], flag: int) -> FlagEvents:
    """:func:`replayed_events` of several schedules (one process each), one after the other."""
    sizes = [len(schedule) for schedule in schedules]
    table = np.array(list(itertools.chain.from_iterable(schedules)), dtype=np.float64).reshape(-1, 3)
    times = table[:, 0]
    first = np.zeros(times.size, dtype=bool)  # each process's first event
    first[np.cumsum([0, *sizes[:-1]])[np.array(sizes) > 0]] = True
    # SimPy's clock: now_i = now_{i-1} + (time_i - now_{i-1}), from now = 0 at each process's start. Iterated over
    # all events at once until nothing changes: each round settles at least the first event still off in every
    # schedule, and where nothing changes every event satisfies the recurrence, so these are the clock's own sums.
    simpy_times = times
    for _ in range(times.size + 1):
        earlier = np.where(first, 0.0, np.roll(simpy_times, 1))
        settled = earlier + (times - earlier)
        if np.array_equal(settled, simpy_times):
            break
        simpy_times = settled
    index = np.arange(times.size)
    return FlagEvents(
        simpy_times,
        np.where(first, 0.0, np.roll(simpy_times, 1)),
        np.where(first, -1, index - 1),
        np.full(times.size, flag),
        table[:, 1].astype(np.int64),
        table[:, 2].astype(bool),
    )


def first_ticks(events: FlagEvents, tick_times: np.ndarray) -> np.ndarray:
    """The first tick that sees each event.

    A tick at ``t`` sees the events before ``t``; an event at exactly ``t`` is processed before the tick when it
    was scheduled first (SimPy orders equal times by scheduling order): when its process scheduled it before the
    tick before, or at that tick's time while processing an event that itself came before that tick. The tick at
    time 0 runs first of all (the lesson clock starts before the other processes), so it sees no event.
    """
    k = np.searchsorted(tick_times, events.time, side="left")
    tie = np.append(tick_times, np.inf)[k] == events.time
    first = k + tie  # an event at a tick's time: after the tick, unless scheduled before it
    before = np.zeros(events.time.size, dtype=bool)
    for i in np.flatnonzero(tie & (k > 0)).tolist():  # in order: an event's previous comes before it
        previous_tick, scheduled = tick_times[k[i] - 1], events.scheduled_at[i]
        previous = events.previous[i]
        before[i] = scheduled < previous_tick or (scheduled == previous_tick and previous >= 0 and before[previous])
        first[i] -= before[i]
    return first


def flag_timelines(
    events: Sequence[FlagEvents], initial: np.ndarray, clock: LessonClock
) -> tuple[np.ndarray, np.ndarray]:
    """The flags (present, connected, camera on) each tick and each decision of each lesson sees.

    :param events: each lesson's events.
    :param initial: (3, B, N) the flags when the lessons start.
    :return: ``(at_ticks (3, B, T, N), at_decisions (3, B, S + 1, N))``; a decision at ``d`` (and the observation
        made then) sees the events before ``d`` (SimPy stops before the events at its ``until`` time).
    """
    lesson = np.repeat(np.arange(len(events)), [e.time.size for e in events])
    return lesson_flag_timelines(FlagEvents.joined(events), lesson, initial, clock)


def lesson_flag_timelines(
    joined: FlagEvents, lesson: np.ndarray, initial: np.ndarray, clock: LessonClock
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`flag_timelines` of events already joined (:func:`batch_events`), each with its lesson ``lesson``."""
    tick_times, decision_times = np.array(clock.tick_times), np.array(clock.decision_times)
    at_ticks = _timeline(initial, joined, lesson, first_ticks(joined, tick_times), tick_times.size)
    decisions = np.searchsorted(decision_times, joined.time, side="right")
    return at_ticks, _timeline(initial, joined, lesson, decisions, decision_times.size)


def _timeline(initial: np.ndarray, events: FlagEvents, lesson: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    """(3, B, n_rows, N): the initial flags, each event's value from its row on.

    A (flag, lesson, student)'s events come from one process, in time order (so in row order): each changes the flag
    by its value minus the one before it, from its row on; the flags are the initial ones plus the running sum of
    the changes (events at the same row add up to the last one's value). Only the flags with events are summed;
    the others keep their initial value throughout."""
    _, n_lessons, n = initial.shape
    group = (events.flag * n_lessons + lesson) * n + events.student
    order = np.argsort(group, kind="stable")  # group by group, each in its events' order
    group, rows, value = group[order], rows[order], events.value[order].astype(np.int8)
    first_of_group = np.ones(group.size, dtype=bool)
    first_of_group[1:] = group[1:] != group[:-1]
    before = np.where(first_of_group, initial.reshape(-1).take(group).astype(np.int8), np.roll(value, 1))
    keep = rows < n_rows
    out = np.repeat(initial[:, :, None, :], n_rows, axis=2)
    changed, which = np.unique(group[keep], return_inverse=True)
    changes = np.zeros((changed.size, n_rows), dtype=np.int8)
    np.add.at(changes, (which, rows[keep]), (value - before)[keep])
    flag_lesson, student = np.divmod(changed, n)
    flag, lesson = np.divmod(flag_lesson, n_lessons)
    out[flag, lesson, :, student] = np.cumsum(changes, axis=1, dtype=np.int8) + initial[flag, lesson, student, None] > 0
    return out


class _BatchLedger(IncentiveLedger):
    """:class:`vclass.sim.emotion.IncentiveLedger` for a batch's decisions: a decision gives a student one factor at
    most, so an application's (student, factor) cells are distinct and adding by index is what ``np.add.at`` adds."""

    def add(self, students: np.ndarray, factors: np.ndarray, strength: np.ndarray) -> None:
        self.intensity[students, factors] += strength


# -- the batch --------------------------------------------------------------------------------------------------------
@dataclass
class _Step:
    """What one decision applied, over the batch: global student indices (lesson * N + student), factors,
    strengths and the students' true states; check-ins as (lesson, student, true state)."""

    tick: int
    students: np.ndarray
    factors: np.ndarray
    strengths: np.ndarray
    states: np.ndarray
    checkins: list[tuple[int, int, int]]


class ClassroomBatch:
    """B lessons of one config, stepped together by an external teacher (see the module's docstring).

    :param cfg: the lessons' simulator config (the same for all).
    :param n_lessons: B.
    :param observer: the batched observer (sees expressions); None: nobody watches (no expressions drawn).
    """

    def __init__(self, cfg: SimConfig, n_lessons: int, observer: BatchObserver | None = None):
        self.cfg, self.n_lessons = cfg, n_lessons
        self.n_students = cfg.classroom.students
        self.plan = build_lesson(cfg)
        self.clock = LessonClock.of(cfg)
        self.tables = LessonTables.of(cfg)
        self.observer = observer
        self._expressions = TableSampler(np.cumsum(np.asarray(cfg.frames.emission), axis=1))
        self.seeds: list[int] = []

    # -- starting -------------------------------------------------------------------------------------------------
    def start(self, seeds: Sequence[int]) -> None:
        """(Re)start every lesson, lesson b on ``seeds[b]``: the class, streams and schedules
        :class:`vclass.sim.classroom.Classroom` and :class:`vclass.sim.classroom.Lesson` draw from that seed."""
        cfg, c = self.cfg, self.cfg.classroom
        if len(seeds) != self.n_lessons:
            raise ValueError(f"start() needs {self.n_lessons} seeds, got {len(seeds)}")
        self.seeds = [int(s) for s in seeds]
        b, n = self.n_lessons, self.n_students
        end_seconds = self.plan.n_ticks * c.tick_seconds
        populations, dynamics, observers, cameras, schedules = [], [], [], [], []
        for seed in self.seeds:
            streams = np.random.SeedSequence(seed).spawn(6)
            del streams[3]  # the policy's stream: the teacher is outside
            students_rng, dynamics_rng, faults_rng, observer_rng, camera_rng = (
                np.random.default_rng(s) for s in streams
            )
            pop = sample_population(cfg, students_rng)
            populations.append(pop)
            dynamics.append(dynamics_rng)
            observers.append(observer_rng)
            cameras.append(camera_rng)
            schedules.append(outage_schedules(cfg, n, faults_rng, end_seconds))
        self.populations = populations

        def joined(name: str) -> np.ndarray:
            return np.concatenate([getattr(pop, name) for pop in populations])

        # Per student (B * N, lesson by lesson).
        self.log_transition_rows = np.concatenate([pop.log_transitions for pop in populations]).reshape(-1, N_STATES)
        self.fatigue_rate = joined("fatigue_rate")
        self.attention_fatigue = joined("attention_fatigue")
        self._row_starts = np.arange(b * n) * N_STATES
        self.state = joined("initial_state")
        self.attention = np.asarray(cfg.attention.targets)[self.state]
        # The flags: (3, B, T, N) at ticks, (3, B, S + 1, N) at decisions.
        initial = np.ones((3, b, n), dtype=bool)
        initial[PRESENT] = (joined("join_seconds") <= 0).reshape(b, n) & (joined("leave_seconds") > 0).reshape(b, n)
        self.flags_at_ticks, self.flags_at_decisions = lesson_flag_timelines(
            *batch_events(populations, schedules), initial, self.clock
        )
        # Who is online (present and connected), and visible too (camera on), tick by tick: (T, B * N).
        present, connected, camera_on = (np.ascontiguousarray(f.transpose(1, 0, 2)) for f in self.flags_at_ticks)
        self._online_at_ticks = (present & connected).reshape(-1, b * n)
        self._visible_at_ticks = self._online_at_ticks & camera_on.reshape(-1, b * n)
        inc = cfg.incentives
        self.ledger = _BatchLedger(joined("dilution"), inc, c.tick_seconds, c.decision_seconds)
        self.teacher_ledger = _BatchLedger(
            np.full(b * n, cfg.students.dilution_median), inc, c.tick_seconds, c.decision_seconds
        )
        self.boost = np.zeros(b * n)
        self.problems_removed = np.zeros(b * n, dtype=np.int64)
        self.coverage = np.ones(b * n)
        self.fun_until = np.full(b * n, -np.inf)
        self.teacher_budget_left = np.full(b, inc.teacher_budget, dtype=np.int64)
        self.fun_decisions = np.zeros(b, dtype=np.int64)
        self.refused_teaching_quality = np.zeros(b, dtype=np.int64)
        self._difficulty = DifficultyTerms(joined("ability"), inc.difficulty_reduction)
        self._features = np.empty((b * n, self.tables.drift.shape[0]))
        self._gumbel = np.empty((b, n, N_STATES))
        self._normal = np.empty((b, n))
        self._uniforms = np.empty((b, n, N_BEHAVIOURS))
        # A tick's draws, lesson by lesson: each stream's methods and the rows they fill (bound once).
        self._draws = [
            (
                rng.standard_exponential,
                self._gumbel[i],
                rng.standard_normal,
                self._normal[i],
                rng.random,
                self._uniforms[i],
            )
            for i, rng in enumerate(dynamics)
        ]
        self._camera_uniforms = UniformBlocks(cameras, self.plan.n_ticks, (n,))
        t = self.plan.n_ticks
        # The lessons' records, lesson by lesson: lesson b's LessonRecord holds views [b] of these.
        self.state_record = np.zeros((b, t, n), dtype=np.int8)
        self.attention_record = np.zeros((b, t, n))
        self.behaviour_record = np.zeros((b, t, n, N_BEHAVIOURS), dtype=bool)
        self.learning_record = np.zeros((b, t, n))
        self.expression_record = np.full((b, t, n), -1, dtype=np.int8)
        self.steps: list[_Step] = []
        self._sorted: tuple[int, list, dict] | None = None
        self.tick_index = 0
        self.decision_index = 0
        self.visible = np.zeros(b * n, dtype=bool)
        self.shown_expression = np.full(b * n, -1, dtype=np.int64)
        self.shown_behaviour = np.zeros((b * n, N_BEHAVIOURS), dtype=bool)
        if self.observer is not None:
            self.observer.reset(self, observers)

    # -- what the teacher sees ---------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.decision_index >= self.clock.n_steps

    def decision_flags(self, flag: int) -> np.ndarray:
        """Flag ``flag`` (:data:`PRESENT`, ...) of every student (B, N) as the current decision sees it."""
        return self.flags_at_decisions[flag, :, self.decision_index]

    @property
    def t_seconds(self) -> float:
        """The time of the current decision (what :meth:`vclass.sim.classroom.Classroom.apply` uses)."""
        return self.tick_index * self.cfg.classroom.tick_seconds

    # -- decisions ------------------------------------------------------------------------------------------------
    def apply(self, factors: np.ndarray, checkins: np.ndarray | None = None) -> None:
        """Carry out every lesson's action, as :meth:`vclass.sim.classroom.Classroom.apply` does for one.

        :param factors: (B, N) int64 in 0..4 (checked by the caller).
        :param checkins: (B,) a student or -1 per lesson; None: nobody.
        """
        n, inc = self.n_students, self.cfg.incentives
        t = self.t_seconds
        reachable = self.decision_flags(PRESENT) & self.decision_flags(CONNECTED)
        chosen = (factors > 0) & reachable
        teaching = chosen & (factors == _TEACHING_QUALITY)
        uses = teaching.sum(axis=1)
        if (uses > self.teacher_budget_left).any():  # uses beyond the budget are refused, lowest index first
            over = teaching & (np.cumsum(teaching, axis=1) > self.teacher_budget_left[:, None])
            self.refused_teaching_quality += over.sum(axis=1)
            chosen &= ~over
        self.teacher_budget_left -= np.minimum(uses, self.teacher_budget_left)
        students = np.flatnonzero(chosen)  # lesson by lesson, students in index order: the classroom's order
        given = factors.reshape(-1).take(students)
        strengths = np.zeros(0)
        if students.size:
            factor = given - 1
            strengths = self.ledger.apply(t, students, factor)
            # The teacher knows what it gave: the same applications, so the same habituated strengths.
            self.teacher_ledger.add(students, factor, strengths)
            removing = students[given == _REMOVE_PROBLEMS]
            if removing.size:
                problems = self.tables.lesson_problems
                self.problems_removed[removing] = np.minimum(self.problems_removed[removing] + 1, problems)
                self.coverage = ONE - self.problems_removed / problems
            fun = students[given == _FUN]
            if fun.size:
                self.fun_until[fun] = t + inc.fun_seconds
                self.fun_decisions += np.bincount(fun // n, minlength=self.n_lessons) > 0
        done_checkins = []
        if checkins is not None:
            for lesson in np.flatnonzero(checkins != NO_CHECKIN).tolist():
                student = int(checkins[lesson])
                if reachable[lesson, student]:
                    self.boost[lesson * n + student] += self.cfg.attention.checkin_boost
                    done_checkins.append((lesson, student, int(self.state[lesson * n + student])))
        self.steps.append(_Step(self.tick_index, students, given, strengths, self.state.take(students), done_checkins))

    # -- the ticks ------------------------------------------------------------------------------------------------
    def run_step(self) -> range:
        """Advance every lesson to the next decision; returns the ticks advanced."""
        if self.done:
            raise RuntimeError("the lessons are over; start() them again")
        ticks = self.clock.step_ticks[self.decision_index]
        if self.observer is not None:
            self.observer.begin_step(self, ticks)
        for tick in ticks:
            self._advance(tick)
        self.decision_index += 1
        return ticks

    def _advance(self, tick: int) -> None:
        """:meth:`vclass.sim.classroom.Classroom.advance` for every lesson at once."""
        b, n = self.n_lessons, self.n_students
        tables = self.tables
        t, time_fraction, difficulty, fatigue_drift, online_test = tables.plan_ticks[tick]
        fatigue = self.fatigue_rate * time_fraction
        intensity = self.ledger.intensity
        reduced = intensity[:, 0] > tables.active_threshold
        terms = self._difficulty.at(difficulty)
        gap, match = np.where(reduced, terms.reduced, terms.plain) if reduced.any() else terms.plain
        features = drift_features(gap, fatigue_drift * fatigue, online_test, intensity, out=self._features)
        logits = self.log_transition_rows.take(self._row_starts + self.state, axis=0)
        # BLAS computes each row of an (M, 7) @ (7, 8) product alike for any M >= 2, but a one-row product otherwise:
        # one-student classes stacked by lesson, as a single classroom computes them.
        logits += features @ tables.drift if n > 1 else (features[:, None] @ tables.drift).reshape(b, N_STATES)
        gumbel, normal, uniforms = self._gumbel, self._normal, self._uniforms
        for exponential, to_gumbel, standard_normal, to_normal, uniform, to_uniforms in self._draws:
            exponential(out=to_gumbel)  # each lesson's stream, in the classroom's order
            standard_normal(out=to_normal)
            uniform(out=to_uniforms)
        flat_gumbel = gumbel.reshape(b * n, N_STATES)
        logits -= np.log(flat_gumbel, out=flat_gumbel)
        self.state = state = row_argmax(logits)
        self.attention = attention = attention_step(
            self.attention,
            state,
            fatigue,
            self.attention_fatigue,
            self.boost,  # a zero boost adds nothing (a + 0.0 == a): the classroom skips it until a check-in
            normal.reshape(b * n),
            tables.attention,
        )
        events = behaviour_events(
            uniforms.reshape(b * n, N_BEHAVIOURS), attention, state, fatigue, tables.behaviour, tables.behaviour_scales
        )
        online = self._online_at_ticks[tick]
        rate_factor = (online & (self.fun_until <= t)) * tables.rate_kept.take(reduced.view(np.int8))
        rate_factor *= self.coverage
        self.state_record[:, tick] = state.reshape(b, n)
        self.attention_record[:, tick] = attention.reshape(b, n)
        self.shown_behaviour = events
        self.behaviour_record[:, tick] = events.reshape(b, n, N_BEHAVIOURS)
        self.learning_record[:, tick] = learning_gain(
            attention, tables.learning_rate.take(state), gap, rate_factor, match
        ).reshape(b, n)
        self.ledger.decay()
        self.teacher_ledger.decay()
        self.boost *= self.ledger.decay_per_tick
        self.tick_index = tick + 1
        if self.observer is not None:
            self.visible = visible = self._visible_at_ticks[tick]
            self.shown_expression = self._expressions.sample(state, self._camera_uniforms.at(tick).reshape(b * n))
            self.expression_record[:, tick] = np.where(visible, self.shown_expression, -1).reshape(b, n)
            self.observer.observe(self, tick)

    # -- records ----------------------------------------------------------------------------------------------------
    def record(self, lesson: int) -> LessonRecord:
        """Lesson ``lesson``'s :class:`vclass.sim.classroom.LessonRecord` so far (its arrays are views of the
        batch's; its lists are built now, in the classroom's order)."""
        flags = self.flags_at_ticks[:, lesson]
        record = LessonRecord(
            cfg=self.cfg,
            seed=self.seeds[lesson],
            plan=self.plan,
            population=self.populations[lesson],
            state=self.state_record[lesson],
            attention=self.attention_record[lesson],
            present=flags[PRESENT],
            connected=flags[CONNECTED],
            camera_on=flags[CAMERA_ON],
            behaviour=self.behaviour_record[lesson],
            learning=self.learning_record[lesson],
            expression=self.expression_record[lesson],
            fun_decisions=int(self.fun_decisions[lesson]),
            refused_teaching_quality=int(self.refused_teaching_quality[lesson]),
        )
        applications, checkins = self._by_lesson()
        ticks, students, factors, strengths, states = applications[lesson]
        record.applications.extend(zip(ticks, students, factors, strengths))
        record.application_context.extend(zip(states, itertools.repeat(math.nan, len(states))))
        for tick, student, state in checkins.get(lesson, ()):
            record.checkins.append((tick, student))
            record.checkin_states.append(state)
        return record

    def _by_lesson(self) -> tuple[list[tuple[list, ...]], dict[int, list[tuple[int, int, int]]]]:
        """Every lesson's applications (ticks, students, factors, strengths, states as lists, in the classroom's
        order: decision by decision, students in index order) and check-ins, built once per decision."""
        if self._sorted is not None and self._sorted[0] == len(self.steps):
            return self._sorted[1], self._sorted[2]
        n, steps = self.n_students, self.steps
        students = np.concatenate([step.students for step in steps]) if steps else np.zeros(0, dtype=np.int64)
        ticks = np.repeat([step.tick for step in steps], [step.students.size for step in steps])
        columns = [ticks, students % n]
        for name in ("factors", "strengths", "states"):
            columns.append(np.concatenate([getattr(step, name) for step in steps]) if steps else np.zeros(0))
        lessons = students // n
        order = np.argsort(lessons, kind="stable")  # decision by decision within each lesson, students in order
        bounds = np.searchsorted(lessons[order], np.arange(self.n_lessons + 1))
        sorted_columns = [column[order] for column in columns]
        applications = [
            tuple(column[low:high].tolist() for column in sorted_columns) for low, high in itertools.pairwise(bounds)
        ]
        checkins: dict[int, list[tuple[int, int, int]]] = {}
        for step in steps:
            for lesson, student, state in step.checkins:
                checkins.setdefault(lesson, []).append((step.tick, student, state))
        self._sorted = (len(steps), applications, checkins)
        return applications, checkins

    def factor_uses(self) -> np.ndarray:
        """How many applications of each factor every lesson had so far, int64 (B, 4) in ``FACTOR_NAMES`` order
        (:func:`vclass.sim.measures.factor_uses` of each lesson's record)."""
        width = N_FACTORS + 1
        cells = [step.students // self.n_students * width + step.factors for step in self.steps]
        given = np.concatenate(cells) if cells else np.zeros(0, dtype=np.int64)
        return np.bincount(given, minlength=self.n_lessons * width).reshape(self.n_lessons, width)[:, 1:]

    def checkin_counts(self) -> np.ndarray:
        """How many check-ins every lesson had so far (B,)."""
        counts = np.zeros(self.n_lessons, dtype=np.int64)
        for step in self.steps:
            for lesson, _, _ in step.checkins:
                counts[lesson] += 1
        return counts

    def step_applications(self) -> _Step:
        """What the last decision applied."""
        return self.steps[-1]
