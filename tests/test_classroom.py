"""The SimPy classroom (SPEC §2-3): context drift, attention, faults, costs and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from vclass.agents.baselines import AlwaysFactor, NoIntervention
from vclass.config import replace_nested
from vclass.sim.classroom import Action, Classroom, outage_schedule, simulate
from vclass.sim.config import SegmentConfig, SimConfig
from vclass.sim.emotion import NEGATIVE_HIGH_AROUSAL, POSITIVE
from vclass.sim.measures import class_summary


class FixedAction:
    """Applies the same action at every decision (for testing costs)."""

    def __init__(self, factor: int = 0, checkin: int = -1):
        self.factor, self.checkin = factor, checkin

    def reset(self, n, rng):
        pass

    def act(self, obs):
        return Action(np.where(obs.reachable, self.factor, 0).astype(np.int64), self.checkin)


def _one_segment(cfg: SimConfig, difficulty: float, kind: str = "exercise") -> SimConfig:
    lesson = cfg.lesson.__class__(segments=(SegmentConfig(kind, 1.0, difficulty),))
    return cfg.__class__(**{**cfg.__dict__, "lesson": lesson})


def test_higher_difficulty_raises_tension_and_anger_occupancy():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 200, "classroom.minutes": 20.0})
    occupancy = {}
    for difficulty in (0.2, 0.9):
        rec = simulate(_one_segment(cfg, difficulty), 11, NoIntervention())
        occupancy[difficulty] = NEGATIVE_HIGH_AROUSAL[rec.state].mean()
    # Same students and noise (same seed): eta_D*(0.9-0.2) = 1.05 multiplies tension/anger columns by ~2.9.
    assert occupancy[0.9] > occupancy[0.2] * 1.5


def test_online_tests_raise_tension_over_the_no_test_condition():
    base = replace_nested(SimConfig(), **{"classroom.students": 300, "classroom.minutes": 45.0})
    tension = {}
    for tests in (True, False):
        cfg = replace_nested(base, **{"classroom.online_tests": tests})
        rec = simulate(cfg, 3, NoIntervention())
        in_test_window = rec.plan.time_fraction >= 0.6
        tension[tests] = (rec.state[in_test_window] == 6).mean()
    assert tension[True] > tension[False] * 1.2


def test_slides_lectures_tire_more_than_video_lectures():
    base = replace_nested(SimConfig(), **{"classroom.students": 400, "classroom.minutes": 45.0})
    low_arousal_negative = {}
    for mode in ("video", "slides"):
        rec = simulate(replace_nested(base, **{"classroom.presentation": mode}), 8, NoIntervention())
        lecture = rec.plan.segment == 0
        low_arousal_negative[mode] = np.isin(rec.state[lecture], (4, 5)).mean()
    assert low_arousal_negative["slides"] > low_arousal_negative["video"]


def test_same_seed_same_record_and_different_seed_different(small_cfg):
    a = simulate(small_cfg, 7, NoIntervention())
    b = simulate(small_cfg, 7, NoIntervention())
    c = simulate(small_cfg, 8, NoIntervention())
    assert np.array_equal(a.state, b.state) and np.array_equal(a.attention, b.attention)
    assert np.array_equal(a.connected, b.connected) and np.array_equal(a.behaviour, b.behaviour)
    assert not np.array_equal(a.state, c.state)


def test_policies_meet_the_same_students_on_the_same_seed(small_cfg):
    quiet = simulate(small_cfg, 2, NoIntervention())
    busy = simulate(small_cfg, 2, FixedAction(factor=3, checkin=0))
    np.testing.assert_array_equal(quiet.population.ability, busy.population.ability)
    np.testing.assert_array_equal(quiet.connected, busy.connected)
    assert not np.array_equal(quiet.state, busy.state)


def test_checkin_boosts_that_students_attention():
    cfg = replace_nested(
        SimConfig(),
        **{
            "classroom.students": 5,
            "classroom.minutes": 10.0,
            "classroom.connection_drop_prob": 0.0,
            "classroom.late_join_prob": 0.0,
            "classroom.dropout_prob": 0.0,
        },
    )
    gaps = []
    for seed in range(10):
        quiet = simulate(cfg, seed, NoIntervention())
        checked = simulate(cfg, seed, FixedAction(checkin=2))
        gaps.append(checked.attention[:, 2].mean() - quiet.attention[:, 2].mean())
    assert min(gaps) > 0.1


def test_fun_costs_its_students_learning_time():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 20, "classroom.minutes": 10.0})
    quiet = simulate(cfg, 4, NoIntervention())
    fun = simulate(cfg, 4, FixedAction(factor=3))
    # With fun every 30 s and a 20 s break each time, two of every three ticks teach nothing.
    taught = (fun.learning > 0).mean()
    assert taught == pytest.approx((quiet.learning > 0).mean() / 3, abs=0.03)
    assert class_summary(fun)["fun_decisions"] == cfg.classroom.n_ticks // cfg.classroom.ticks_per_decision


def test_teaching_quality_is_refused_beyond_the_teacher_budget(small_cfg):
    rec = simulate(small_cfg, 1, FixedAction(factor=4))
    summary = class_summary(rec)
    assert summary["interventions_by_factor"]["teaching-quality"] == small_cfg.incentives.teacher_budget
    assert summary["refused_teaching_quality"] > 0


def test_remove_problems_lowers_coverage_and_learning(small_cfg):
    quiet = simulate(small_cfg, 6, NoIntervention())
    removing = simulate(small_cfg, 6, FixedAction(factor=2))
    assert removing.learning.sum() < quiet.learning.sum()
    assert class_summary(removing)["interventions_by_factor"]["remove-problems"] > 0


def test_reduce_difficulty_lowers_the_learning_rate_while_active():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 30, "classroom.minutes": 10.0})
    cfg = _one_segment(cfg, 0.5)
    quiet = simulate(cfg, 9, NoIntervention())
    reduced = simulate(cfg, 9, FixedAction(factor=1))
    per_tick_quiet = quiet.learning[quiet.learning > 0].mean()
    per_tick_reduced = reduced.learning[reduced.learning > 0].mean()
    assert per_tick_reduced < per_tick_quiet


def test_incentives_move_students_towards_the_target_region():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 60, "classroom.minutes": 20.0})
    shares = {}
    for name, policy in (("none", NoIntervention()), ("fun", AlwaysFactor(3, cfg.emotion))):
        shares[name] = np.mean([class_summary(simulate(cfg, s, policy))["tea_share"] for s in range(3)])
    assert shares["fun"] > shares["none"] + 0.1


def test_outages_follow_the_per_tick_hazard_and_exponential_durations():
    rng = np.random.default_rng(0)
    events = outage_schedule(rng, 4000, 0.002, 10.0, 60.0, 2700.0)
    offs = [e for e in events if not e[2]]
    # Expected outages per student in 2700 s: about horizon / (mean up + mean down).
    mean_up = 10.0 / -np.log1p(-0.002)
    expected = 4000 * 2700.0 / (mean_up + 60.0)
    assert abs(len(offs) - expected) < 5 * np.sqrt(expected)
    # Per student, events alternate off, on, off... in time order.
    by_student: dict[int, list[bool]] = {}
    for _, k, back_on in events:
        by_student.setdefault(k, []).append(back_on)
    assert all(seq == [bool(i % 2) for i in range(len(seq))] for seq in by_student.values())


def test_dropped_students_are_not_reached_and_do_not_learn():
    cfg = replace_nested(
        SimConfig(), **{"classroom.students": 200, "classroom.minutes": 45.0, "classroom.connection_drop_prob": 0.02}
    )
    rec = simulate(cfg, 0, FixedAction(factor=2))
    offline = ~rec.connected
    assert offline.mean() > 0.05
    assert np.all(rec.learning[offline] == 0)
    applied = {(t, k) for t, k, _, _ in rec.applications}
    # A decision at tick t sees the flags that tick t records (outages never coincide with ticks).
    assert all(rec.connected[t, k] and rec.present[t, k] for t, k in applied if t < rec.plan.n_ticks)


def test_late_joiners_and_dropouts_change_presence():
    cfg = replace_nested(
        SimConfig(), **{"classroom.students": 300, "classroom.late_join_prob": 0.5, "classroom.dropout_prob": 0.3}
    )
    rec = simulate(cfg, 0, NoIntervention())
    pop = rec.population
    late = pop.join_seconds > 0
    assert 0.4 < late.mean() < 0.6
    assert not rec.present[0, late].any()
    leavers = np.isfinite(pop.leave_seconds) & (pop.leave_seconds < 2000) & (pop.leave_seconds > pop.join_seconds)
    assert not rec.present[-1, leavers].any()
    assert np.all(rec.learning[~rec.present] == 0)


def test_invalid_policy_action_is_rejected_with_a_clear_error(small_cfg):
    room = Classroom(small_cfg, 0, NoIntervention())
    with pytest.raises(ValueError, match="shape"):
        room.apply(Action(np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match="in 0..4"):
        room.apply(Action(np.full(small_cfg.classroom.students, 5)))
    with pytest.raises(ValueError, match="checkin"):
        room.apply(Action(np.zeros(small_cfg.classroom.students, dtype=np.int64), 99))


def test_students_start_near_their_own_stationary_distribution():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 5000})
    room = Classroom(cfg, 0, NoIntervention())
    from vclass.sim.emotion import stationary_distribution

    expected = stationary_distribution(room.population.transitions)[:, POSITIVE].sum(1).mean()
    assert POSITIVE[room.state].mean() == pytest.approx(expected, abs=4 * np.sqrt(0.25 / 5000))


def test_stepping_with_an_external_teacher_equals_running_the_policy(small_cfg):
    from vclass.sim.classroom import Lesson

    policy = FixedAction(factor=3, checkin=1)
    whole = simulate(small_cfg, 12, policy)
    lesson = Lesson(small_cfg, 12, policy=None)
    step = small_cfg.classroom.decision_seconds
    while not lesson.done:
        lesson.room.apply(policy.act(lesson.room.observation()))
        lesson.run_until(lesson.now + step)
    stepped = lesson.room.record
    np.testing.assert_array_equal(whole.state, stepped.state)
    np.testing.assert_array_equal(whole.attention, stepped.attention)
    assert whole.applications == stepped.applications and whole.checkins == stepped.checkins
