"""Known answers for SPEC §2 (the incentives' costs) and §3 (attention, behaviour, learning, online faults), as the
SimPy classroom carries them out.

Each test runs a small lesson and checks the record against a hand formula applied to what the record shows
(attention, state, presence) and to the students' drawn traits; nothing expected is computed with the simulator's
own helpers. Fixtures break symmetry: students of different abilities, distinct costs, non-default constants.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from spec_tables import A_STAR, LOW_AROUSAL, POSITIVE, Scripted

from vclass.agents.baselines import NoIntervention
from vclass.config import replace_nested
from vclass.sim.attention import attention_step, behaviour_events, learning_gain, learning_rate_by_state
from vclass.sim.classroom import Action, Lesson, outage_schedule, simulate
from vclass.sim.config import AttentionConfig, BehaviourConfig, LearningConfig, SegmentConfig, SimConfig
from vclass.sim.measures import class_summary, intervention_cost


def _cfg(students: int, minutes: float = 10.0, difficulty: float = 0.8, **changes) -> SimConfig:
    quiet = {
        "classroom.students": students,
        "classroom.minutes": minutes,
        "classroom.connection_drop_prob": 0.0,
        "classroom.camera_off_prob": 0.0,
        "classroom.late_join_prob": 0.0,
        "classroom.dropout_prob": 0.0,
    }
    cfg = replace_nested(SimConfig(), **{**quiet, **changes})
    segments = (SegmentConfig("exercise", 1.0, difficulty),)
    return SimConfig(**{**cfg.__dict__, "lesson": cfg.lesson.__class__(segments=segments)})


def _run(cfg: SimConfig, policy, abilities=None, seed: int = 0):
    lesson = Lesson(cfg, seed, policy)
    if abilities is not None:
        lesson.room.population.ability[:] = abilities
    return lesson.run(), lesson.room


def _hand_gain(record, difficulty: np.ndarray, rate_kept: np.ndarray) -> np.ndarray:
    """S0 §3.2.4 by hand: 0.01 a (1 + 0.3 [positive]) (1 - |D - D*|) times the cost factors ``rate_kept``."""
    positive = POSITIVE[record.state]
    match = np.maximum(1.0 - np.abs(difficulty - record.population.ability[None, :]), 0.0)
    return 0.01 * record.attention * (1.0 + 0.3 * positive) * match * rate_kept


# -- learning and its costs -----------------------------------------------------------------------------------------
def test_learning_gain_per_tick_is_001_a_times_positive_bonus_times_difficulty_match():
    record, _ = _run(_cfg(3), Scripted({}), abilities=[0.45, 0.8, 0.15])
    expected = _hand_gain(record, np.full((60, 3), 0.8), np.ones((60, 3)))
    np.testing.assert_allclose(record.learning, expected, rtol=1e-12, atol=1e-15)
    assert record.learning[:, 0].sum() > 0 and POSITIVE[record.state].any() and (~POSITIVE[record.state]).any()
    np.testing.assert_allclose(learning_rate_by_state(LearningConfig()), np.where(POSITIVE, 0.013, 0.01))
    got = learning_gain(np.array([0.5, 0.9]), np.array([0.013, 0.01]), np.array([-0.3, 1.4]), np.array([1.0, 1.0]))
    np.testing.assert_allclose(got, [0.013 * 0.5 * 0.7, 0.0])  # a gap beyond 1 teaches nothing (match floored at 0)


def test_reduce_difficulty_lowers_d_by_03_and_costs_30_percent_of_the_learning_rate_while_intensity_above_01():
    cfg = _cfg(3)
    record, room = _run(cfg, Scripted({0: {0: 1}}), abilities=[0.45, 0.6, 0.2])
    psi = room.population.dilution[0]
    intensity = np.exp(-psi * 1.0 * np.arange(60) * 10.0 / 60.0)  # during tick t, I0 = 1 applied at t = 0
    active = intensity > 0.1
    assert 5 < active.sum() < 60  # the test sees both phases
    difficulty = np.full((60, 3), 0.8)
    difficulty[active, 0] = 0.5
    kept = np.ones((60, 3))
    kept[active, 0] = 0.7
    np.testing.assert_allclose(record.learning, _hand_gain(record, difficulty, kept), rtol=1e-12, atol=1e-15)


def test_reduced_difficulty_is_floored_at_zero():
    record, room = _run(_cfg(2, difficulty=0.2), Scripted({0: {0: 1, 1: 1}}), abilities=[0.3, 0.05])
    active = np.exp(-room.population.dilution[None, :] * np.arange(60)[:, None] / 6.0) > 0.1
    difficulty = np.where(active, 0.0, 0.2)  # max(0.2 - 0.3, 0)
    kept = np.where(active, 0.7, 1.0)
    np.testing.assert_allclose(record.learning, _hand_gain(record, difficulty, kept), rtol=1e-12, atol=1e-15)


def test_remove_problems_takes_one_of_20_problems_and_fun_costs_20_seconds_counted_once_per_decision():
    plan = {0: {0: 3, 1: 2, 2: 3}, 3: {1: 2}, 6: {2: 3}}
    record, _ = _run(_cfg(3), Scripted(plan), abilities=[0.45, 0.6, 0.2])
    kept = np.ones((60, 3))
    kept[0:3, 1] = 1 - 1 / 20
    kept[3:, 1] = 1 - 2 / 20
    kept[0:2, [0, 2]] = 0.0  # fun at t = 0 for 20 s: the ticks at 0 s and 10 s teach nothing
    kept[6:8, 2] = 0.0
    np.testing.assert_allclose(record.learning, _hand_gain(record, np.full((60, 3), 0.8), kept), rtol=1e-12)
    assert record.fun_decisions == 2  # two students at tick 0 count once
    summary = class_summary(record)
    assert summary["interventions_by_factor"] == {
        "reduce-difficulty": 0,
        "remove-problems": 2,
        "fun": 3,
        "teaching-quality": 0,
    }


def test_a_shorter_fun_break_costs_only_its_own_ticks_and_coverage_never_goes_below_zero():
    cfg = _cfg(2, **{"incentives.fun_seconds": 5.0, "incentives.lesson_problems": 2})
    plan = {0: {0: 3, 1: 2}, 3: {1: 2}, 6: {1: 2}}
    record, _ = _run(cfg, Scripted(plan), abilities=[0.5, 0.5])
    kept = np.ones((60, 2))
    kept[0, 0] = 0.0  # 5 s: only the tick at 0 s
    kept[0:3, 1] = 0.5
    kept[3:, 1] = 0.0  # two of two problems gone, and a third removal changes nothing
    np.testing.assert_allclose(record.learning, _hand_gain(record, np.full((60, 2), 0.8), kept), rtol=1e-12)


@pytest.mark.parametrize("budget", [10, 3])
def test_teaching_quality_draws_on_the_budget_and_is_refused_beyond_it_lowest_index_first(budget):
    cfg = _cfg(5, minutes=2.0, **({} if budget == 10 else {"incentives.teacher_budget": budget}))
    plan = {tick: {k: 4 for k in range(4)} for tick in range(0, 12, 3)}  # 4 decisions x 4 students
    record, room = _run(cfg, Scripted(plan))
    given = [(tick, k) for tick, k, factor, _ in record.applications if factor == 4]
    expected = [(tick, k) for tick in range(0, 12, 3) for k in range(4)][:budget]
    assert given == expected
    assert record.refused_teaching_quality == 16 - budget and room.teacher_budget_left == 0


def test_intervention_cost_weighs_each_factor_and_fun_once_per_decision():
    cfg = _cfg(5, minutes=2.0, **{"incentives.cost_weights": (1.5, 2.0, 3.0, 5.0)})
    plan = {0: {0: 1, 1: 2, 2: 3, 3: 3, 4: 4}, 3: {2: 3, 4: 3}, 6: {0: 2}}
    record, _ = _run(cfg, Scripted(plan))
    # factor 1 once, factor 2 twice, fun at two decisions (4 applications), teaching quality once.
    assert intervention_cost(record) == pytest.approx(1.5 + 2 * 2.0 + 2 * 3.0 + 5.0)
    assert class_summary(record)["intervention_cost"] == pytest.approx(16.5)


def test_only_present_connected_students_receive_incentives_and_check_ins():
    cfg = _cfg(3, minutes=1.0)
    lesson = Lesson(cfg, 0, None)
    room = lesson.room
    room.connected[1] = False
    room.present[2] = False
    room.apply(Action(np.array([3, 3, 3]), 1))
    assert [k for _, k, _, _ in room.record.applications] == [0]
    assert room.record.checkins == [] and not room.boost.any()
    room.apply(Action(np.zeros(3, dtype=np.int64), 0))
    assert room.record.checkins == [(0, 0)] and room.boost.tolist() == [0.25, 0.0, 0.0]


# -- attention ------------------------------------------------------------------------------------------------------
def test_attention_step_is_rho_pull_to_a_star_times_one_minus_g_f_plus_boost_and_noise_clipped():
    cfg = AttentionConfig(rate=0.35, noise=0.05)
    a = np.array([0.5, 0.9, 0.05, 0.98])
    state = np.array([0, 5, 3, 1])
    fatigue, g = np.array([0.4, 1.0, 0.0, 0.2]), np.array([0.3, 0.5, 0.2, 0.6])
    boost, eps = np.array([0.0, 0.1, 0.0, 0.25]), np.array([1.0, -2.0, -6.0, 0.5])
    raw = a + 0.35 * (A_STAR[state] * (1 - g * fatigue) - a) + boost + 0.05 * eps
    got = attention_step(a, state, fatigue, g, boost, eps, cfg)
    np.testing.assert_allclose(got, np.clip(raw, 0.0, 1.0), atol=1e-15)
    assert got[2] == 0.0 and got[3] == 1.0  # the hand numbers reach both clips


def test_classroom_attention_follows_the_pull_exactly_without_noise():
    cfg = _cfg(50, **{"attention.rate": 0.35, "attention.noise": 0.0})
    record, room = _run(cfg, Scripted({}))
    pop = room.population
    fatigue = pop.fatigue_rate[None, :] * (np.arange(60) / 60)[:, None]
    previous = np.vstack([A_STAR[pop.initial_state][None, :], record.attention[:-1]])
    target = A_STAR[record.state] * (1 - pop.attention_fatigue[None, :] * fatigue)
    np.testing.assert_allclose(record.attention, previous + 0.35 * (target - previous), atol=1e-12)


def test_classroom_attention_noise_has_sd_003():
    """2,000 students x 60 ticks. Residuals of the noiseless pull, where that lies in [0.2, 0.8] (the clips are
    more than 6 sd away): mean within 5 standard errors of 0, sd within 2% of 0.03 (se of a sample sd is
    sd / sqrt(2 n), under 0.3% for the ~100,000 residuals)."""
    record, room = _run(_cfg(2000), Scripted({}))
    pop = room.population
    fatigue = pop.fatigue_rate[None, :] * (np.arange(60) / 60)[:, None]
    previous = np.vstack([A_STAR[pop.initial_state][None, :], record.attention[:-1]])
    pulled = previous + 0.2 * (A_STAR[record.state] * (1 - pop.attention_fatigue[None, :] * fatigue) - previous)
    inside = (pulled > 0.2) & (pulled < 0.8)
    residual = (record.attention - pulled)[inside]
    assert residual.size > 50_000
    assert abs(residual.mean()) < 5 * 0.03 / math.sqrt(residual.size)
    assert residual.std() == pytest.approx(0.03, rel=0.02)


def test_checkin_boost_of_025_fades_like_an_incentive_at_the_students_dilution():
    """Same seed with and without check-ins (common random numbers: the check-in changes nothing but attention).
    Without noise and with low targets nothing clips, so the difference d obeys d_t = (1 - rho) d_(t-1) + boost_t,
    and boost_t = 0.25 exp(-psi d (t - t_c)) summed over the check-ins at ticks 0 and 6 (rho = 0.5, d = 2 / min)."""
    changes = {
        "attention.noise": 0.0,
        "attention.rate": 0.5,
        "attention.targets": (0.02,) * 8,
        "incentives.fading_per_minute": 2.0,
    }
    cfg = _cfg(3, minutes=3.0, **changes)
    quiet, _ = _run(cfg, Scripted({}))
    checked, room = _run(cfg, Scripted({}, checkins={0: 1, 6: 1}))
    assert checked.checkins == [(0, 1), (6, 1)] and checked.attention.max() < 1.0
    np.testing.assert_array_equal(quiet.state, checked.state)
    psi = room.population.dilution[1]
    ticks = np.arange(18)
    boost = 0.25 * np.exp(-psi * 2.0 * ticks * 10 / 60) + np.where(
        ticks >= 6, 0.25 * np.exp(-psi * 2.0 * (ticks - 6) * 10 / 60), 0.0
    )
    difference = checked.attention[:, 1] - quiet.attention[:, 1]
    np.testing.assert_allclose(difference[0], boost[0], atol=1e-12)
    np.testing.assert_allclose(difference[1:] - 0.5 * difference[:-1], boost[1:], atol=1e-12)
    np.testing.assert_array_equal(quiet.attention[:, [0, 2]], checked.attention[:, [0, 2]])


# -- behaviour ------------------------------------------------------------------------------------------------------
def _behaviour_chances(attention, state, fatigue):
    """SPEC §3 by hand, (..., 4): look away 0.3 (1 - a); eyes closed 0.5 if a < 0.2; yawn 0.05 + 0.2 F in
    low-arousal states; hand raise 0.05 a in positive states."""
    return np.stack(
        [
            0.3 * (1 - attention),
            np.where(attention < 0.2, 0.5, 0.0),
            np.where(LOW_AROUSAL[state], 0.05 + 0.2 * fatigue, 0.0),
            np.where(POSITIVE[state], 0.05 * attention, 0.0),
        ],
        axis=-1,
    )


def test_behaviour_events_are_bernoulli_with_the_spec_chances_in_every_state():
    rng = np.random.default_rng(8)
    state = np.repeat(np.arange(8), 6 * 2 * 500)
    attention = np.tile(np.repeat([0.05, 0.19, 0.2, 0.45, 0.8, 1.0], 2 * 500), 8)
    fatigue = np.tile(np.repeat([0.0, 0.9], 500), 8 * 6)
    uniforms = rng.random((state.size, 4))
    got = behaviour_events(uniforms, attention, state, fatigue, BehaviourConfig())
    np.testing.assert_array_equal(got, uniforms < _behaviour_chances(attention, state, fatigue))
    # Every chance is exercised: no yawns out of low arousal, no hand raised in negative states, eyes closed only
    # below 0.2, and each of them does happen where allowed.
    assert not got[~LOW_AROUSAL[state], 2].any() and got[LOW_AROUSAL[state], 2].any()
    assert not got[~POSITIVE[state], 3].any() and got[POSITIVE[state], 3].any()
    assert not got[attention >= 0.2, 1].any() and got[attention < 0.2, 1].mean() == pytest.approx(0.5, abs=0.03)


def test_classroom_behaviour_rates_per_state_match_the_spec_chances():
    """500 students x 270 ticks; per behaviour and state the event count is within 5 sd (+2) of the sum of the
    hand chances over the student-ticks (a Poisson-binomial count)."""
    record, room = _run(_cfg(500, minutes=45.0), Scripted({}))
    fatigue = room.population.fatigue_rate[None, :] * (np.arange(270) / 270)[:, None]
    chances = _behaviour_chances(record.attention, record.state, fatigue)
    for behaviour in range(4):
        for state in range(8):
            here = record.state == state
            p = chances[..., behaviour][here]
            observed = record.behaviour[..., behaviour][here].sum()
            assert abs(observed - p.sum()) < 5 * math.sqrt((p * (1 - p)).sum()) + 2, (behaviour, state)


# -- online faults --------------------------------------------------------------------------------------------------
def test_outages_start_with_the_per_tick_hazard_and_last_exponential_times():
    """Hazard 0.1 a 10 s tick, 30 s mean outage (not the defaults), 4,000 students: P(first outage within a tick)
    = 0.1 and durations have mean and sd 30 s; each within 5 standard errors."""
    n = 4000
    events = outage_schedule(np.random.default_rng(9), n, 0.1, 10.0, 30.0, 5000.0)
    first_off = np.full(n, np.inf)
    went_off: dict[int, float] = {}
    durations = []
    for time, k, back_on in events:
        if not back_on:
            first_off[k] = min(first_off[k], time)
            went_off[k] = time
        else:
            durations.append(time - went_off.pop(k))
    within_a_tick = (first_off < 10.0).mean()
    assert abs(within_a_tick - 0.1) < 5 * math.sqrt(0.09 / n)
    assert abs((first_off < 20.0).mean() - 0.19) < 5 * math.sqrt(0.19 * 0.81 / n)  # 1 - 0.9^2
    durations = np.asarray(durations)
    assert abs(durations.mean() - 30.0) < 5 * 30.0 / math.sqrt(durations.size)
    assert durations.std() == pytest.approx(30.0, rel=0.05)


def test_connection_and_camera_faults_follow_their_own_hazards_and_means_in_a_lesson():
    """2,000 students, 45 min. A two-state process started on is off at time t with chance
    pi_off (1 - exp(-(lambda + mu) t)), lambda = -log(1 - p)/dt, mu = 1/mean. The recorded off-shares are within
    5 standard errors of the average of that over the recorded ticks (se from each process's correlation time)."""
    n = 2000
    cfg = replace_nested(
        _cfg(n, minutes=45.0),
        **{
            "classroom.connection_drop_prob": 0.05,
            "classroom.reconnect_mean_seconds": 20.0,
            "classroom.camera_off_prob": 0.01,
            "classroom.camera_back_mean_seconds": 200.0,
        },
    )
    record, _ = _run(cfg, Scripted({}))
    times = np.arange(270) * 10.0
    for flags, p, mean in ((record.connected, 0.05, 20.0), (record.camera_on, 0.01, 200.0)):
        rate_off, rate_on = -math.log(1 - p) / 10.0, 1 / mean
        pi_off = rate_off / (rate_off + rate_on)
        expected = (pi_off * (1 - np.exp(-(rate_off + rate_on) * times))).mean()
        tau = 1 / (rate_off + rate_on)
        se = math.sqrt(2 * pi_off * (1 - pi_off) * tau / 2700.0 / n)
        assert abs((~flags).mean() - expected) < 5 * se, (p, mean)
    assert np.all(record.learning[~record.connected] == 0)


# -- what the teacher sees, who is there ------------------------------------------------------------------------------
def test_observation_shows_the_teachers_faded_record_of_its_incentives_and_the_budget_left():
    cfg = _cfg(3, minutes=2.0)
    lesson = Lesson(cfg, 0, None)
    room = lesson.room
    room.apply(Action(np.array([3, 4, 0]), 2))
    lesson.run_until(30.0)
    obs = room.observation()
    assert (obs.tick, obs.t_seconds, obs.segment, obs.difficulty) == (3, 30.0, "exercise", 0.8)
    expected = np.zeros((3, 4))
    expected[0, 2] = expected[1, 3] = math.exp(-0.5 * 1.0 * 30 / 60)  # the median dilution, 30 s
    np.testing.assert_allclose(obs.intensity, expected, rtol=1e-12)
    assert obs.teacher_budget_left == 9
    np.testing.assert_array_equal(obs.belief, np.eye(8)[room.state])  # the oracle: one-hot on the true state
    np.testing.assert_array_equal(obs.attention, room.attention)
    assert obs.present.all() and obs.connected.all() and obs.camera_on.all() and obs.reachable.all()
    obs.intensity[:] = 5.0  # a copy: the teacher's record is not the policy's to change
    assert room.observation().intensity.max() < 1.0
    assert room.record.checkins == [(0, 2)]


def test_late_joiners_and_leavers_are_present_from_join_to_leave():
    """300 students, half join late at U(0, 5 min), a third leave at U(0, T): a student is present at tick t when
    join <= t dt < leave; the shares are within 5 binomial standard errors of the chances."""
    cfg = _cfg(300, **{"classroom.late_join_prob": 0.5, "classroom.dropout_prob": 0.3})
    record, room = _run(cfg, Scripted({}))
    pop = room.population
    times = np.arange(60)[:, None] * 10.0
    expected = (pop.join_seconds[None, :] <= times) & (pop.leave_seconds[None, :] > times)
    np.testing.assert_array_equal(record.present, expected)
    late, leaves = pop.join_seconds > 0, np.isfinite(pop.leave_seconds)
    assert abs(late.mean() - 0.5) < 5 * math.sqrt(0.25 / 300) and abs(leaves.mean() - 0.3) < 5 * math.sqrt(0.21 / 300)
    assert pop.join_seconds.max() <= 300.0 and np.all(pop.leave_seconds >= pop.join_seconds)
    assert np.all(record.learning[~record.present] == 0)


def test_decisions_record_the_belief_the_policy_acted_on():
    record, _ = _run(_cfg(2, minutes=1.0), Scripted({}))
    assert [obs.tick for obs in record.decisions] == [0, 3]
    initial = record.population.initial_state
    np.testing.assert_array_equal(record.decisions[0].belief, np.eye(8)[initial])
    np.testing.assert_array_equal(record.decisions[1].belief, np.eye(8)[record.state[2]])


def test_a_late_joiner_within_the_first_second_is_present_from_the_next_tick():
    cfg = _cfg(20, minutes=1.0, **{"classroom.late_join_prob": 1.0, "classroom.late_join_max_minutes": 1 / 60})
    record, room = _run(cfg, Scripted({}))
    assert np.all((room.population.join_seconds > 0) & (room.population.join_seconds <= 1.0))
    assert not record.present[0].any() and record.present[1:].all()


def test_the_same_seed_gives_the_same_lesson_and_the_last_observation_reads_the_last_tick():
    segments = (SegmentConfig("exercise", 5 / 6, 0.5), SegmentConfig("discussion", 1 / 6, 0.9))
    base = _cfg(4, minutes=1.0)
    cfg = SimConfig(**{**base.__dict__, "lesson": base.lesson.__class__(segments=segments)})
    ticks: list[int] = []
    one = simulate(cfg, 21, NoIntervention(), on_tick=ticks.append)
    assert ticks == list(range(6))
    lesson = Lesson(cfg, 21, NoIntervention())
    lesson.run_until(0.0)  # nothing to do yet: a no-op
    two = lesson.run()
    np.testing.assert_array_equal(one.state, two.state)
    np.testing.assert_array_equal(one.attention, two.attention)
    last = lesson.room.observation()  # after the lesson: the last tick's segment
    assert (last.tick, last.segment, last.difficulty) == (6, "discussion", 0.9)
    with pytest.raises(RuntimeError, match="no policy"):
        Lesson(cfg, 0, None).room.decide()
    assert Action.nothing(3).incentives.dtype == np.int64 and Action.nothing(3).checkin == -1


def test_actions_are_checked_before_anything_changes():
    lesson = Lesson(_cfg(3, minutes=1.0), 0, None)
    room = lesson.room
    bad = [
        (Action(np.zeros(2, dtype=np.int64)), r"integer array of shape \(3,\), got int64 \(2,\)"),
        (Action(np.zeros(3)), r"integer array of shape \(3,\), got float64"),
        (Action(np.array([0, 5, 1])), r"in 0\.\.4, got 0\.\.5"),
        (Action(np.array([-2, 0, 1])), r"in 0\.\.4, got -2\.\.1"),
        (Action(np.zeros(3, dtype=np.int64), True), r"checkin must be an integer, -1 or a student index, got True"),
        (Action(np.zeros(3, dtype=np.int64), 1.0), r"checkin must be an integer"),  # type: ignore[arg-type]
        (Action(np.zeros(3, dtype=np.int64), 3), r"checkin must be -1 or in 0\.\.2, got 3"),
        ("nothing", r"must return an Action\(incentives, checkin\), got str"),
    ]
    for action, message in bad:
        with pytest.raises(ValueError, match=message):
            room.apply(action)  # type: ignore[arg-type]
    assert room.record.applications == [] and room.record.checkins == []
    room.apply(Action(np.array([0, 3, 0], dtype=np.int32), np.int16(2)))  # other integer types are fine
    assert room.record.applications == [(0, 1, 3, 1.0)] and room.record.checkins == [(0, 2)]
