"""The batch's column-wise helpers compute exactly what the numpy calls they stand for compute, edge cases included."""

from __future__ import annotations

import numpy as np
import pytest

from vclass.config import replace_nested
from vclass.env.vector import _row_sums
from vclass.sim.batch import (
    CAMERA_ON,
    CONNECTED,
    FlagEvents,
    TableSampler,
    UniformBlocks,
    batch_events,
    lesson_events,
    outage_schedules,
    replayed_events,
    row_argmax,
)
from vclass.sim.expressions import sample_cumulative
from vclass.sim.students import sample_population


def test_row_argmax_is_argmax_ties_signed_zeros_infinities_and_nan_included():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 8))  # above ROW_ARGMAX_FROM
    x[::3, 5] = x[::3].max(axis=1)  # ties with the maximum: the first one wins
    x[1] = 0.0
    x[1, 4] = -0.0
    x[2] = -np.inf
    x[4, 6] = np.inf
    x[5] = 1.0
    for rows in (x, x[:1], x[:300], np.round(x, 1)):
        result = row_argmax(np.ascontiguousarray(rows))
        assert result.dtype == np.int64
        np.testing.assert_array_equal(result, rows.argmax(axis=1))
    with_nan = x.copy()
    with_nan[7, 3] = np.nan
    np.testing.assert_array_equal(row_argmax(with_nan), with_nan.argmax(axis=1))
    other = rng.standard_normal((20, 7))
    np.testing.assert_array_equal(row_argmax(other), other.argmax(axis=1))


def test_row_sums_add_a_row_of_eight_as_numpy_does():
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.random((300, 8)) ** 7 * 10.0 ** rng.integers(-12, 12, (300, 8))
        np.testing.assert_array_equal(_row_sums(x), np.add.reduce(x, 1))
    for odd in (rng.random((300, 5)), rng.random((10, 8))):
        np.testing.assert_array_equal(_row_sums(odd), np.add.reduce(odd, 1))


def test_table_sampler_draws_what_sample_cumulative_draws():
    rng = np.random.default_rng(2)
    probabilities = rng.random((8, 7)) * (rng.random((8, 7)) < 0.7)  # zeros: ties in the cumulative rows
    probabilities[3] = 0.0
    cumulative = np.cumsum(probabilities, axis=1)
    sampler = TableSampler(cumulative)
    rows = rng.integers(0, 8, 5000)
    uniforms = rng.random(5000)
    uniforms[:3] = (0.0, np.nextafter(1.0, 0.0), 0.5)
    expected = sample_cumulative(cumulative.take(rows, axis=0), uniforms)
    for few in (slice(None), slice(0, 10)):  # column-wise, and by sample_cumulative itself for few rows
        result = sampler.sample(rows[few], uniforms[few])
        assert result.dtype == expected.dtype
        np.testing.assert_array_equal(result, expected[few])
    with pytest.raises(ValueError, match="128"):
        TableSampler(np.zeros((2, 129)))


def test_uniform_blocks_hold_the_draws_tick_by_tick():
    shape, ticks = (3, 4), 11
    blocks = UniformBlocks([np.random.default_rng(s) for s in (5, 6)], ticks, shape, max_bytes=2 * 12 * 8 * 4)
    streams = [np.random.default_rng(s) for s in (5, 6)]
    for tick in range(ticks):
        np.testing.assert_array_equal(blocks.at(tick), np.stack([rng.random(shape) for rng in streams]))
    with pytest.raises(ValueError, match="in order"):
        UniformBlocks([np.random.default_rng(0)], ticks, shape).at(3)


def test_batch_events_are_the_lessons_own_events(small_cfg):
    """All lessons' events built together: the same events as each lesson's, process by process and in order,
    with SimPy's clock sums where ``now + (time - now)`` rounds (here, on purpose, in most schedules)."""
    cfg = replace_nested(
        small_cfg,
        **{"classroom.connection_drop_prob": 0.05, "classroom.late_join_prob": 0.5, "classroom.dropout_prob": 0.3},
    )
    end = 600.0
    populations, schedules, expected = [], [], []
    for seed in range(5):
        pop = sample_population(cfg, np.random.default_rng(seed))
        populations.append(pop)
        schedules.append(outage_schedules(cfg, pop.size, np.random.default_rng(100 + seed), end))
        expected.append(lesson_events(cfg, pop, np.random.default_rng(100 + seed), end))
    joined, lesson = batch_events(populations, schedules)
    assert joined.time.size == lesson.size == sum(e.time.size for e in expected)
    for one, events in enumerate(expected):
        mine = lesson == one
        for flag in np.unique(events.flag):
            theirs, ours = events.flag == flag, mine & (joined.flag == flag)
            for name in ("time", "scheduled_at", "flag", "student", "value"):
                np.testing.assert_array_equal(getattr(joined, name)[ours], getattr(events, name)[theirs], name)
    # 84.03... + (221.07... - 84.03...) is not 221.07...: SimPy's clock is off from there on.
    rounding = [
        [(84.03253188079704, 0, False), (221.07173423611383, 0, True), (250.5, 1, False)],
        [],
        [(0.3, 1, False)],
    ]
    times = np.array([event[0] for event in rounding[0]])
    assert times[0] + (times[1] - times[0]) != times[1]
    flat = FlagEvents.joined([replayed_events(schedule, CAMERA_ON) for schedule in rounding])
    pops = [populations[0]] * 3
    ours = batch_events(pops, [([], schedule) for schedule in rounding])[0]
    camera = ours.flag == CAMERA_ON
    assert not (ours.flag == CONNECTED).any()
    np.testing.assert_array_equal(ours.time[camera], flat.time)
    np.testing.assert_array_equal(ours.scheduled_at[camera], flat.scheduled_at)
    offset = int(np.argmax(camera))
    previous = ours.previous[camera]
    np.testing.assert_array_equal(np.where(previous >= 0, previous - offset, -1), flat.previous)
