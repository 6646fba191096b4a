"""Known answers for SPEC §1-2: the emotion axis (eq 13), levels (eq 14), the base chain A0, each student's chain,
context drift, the incentive tilt (eq 11), fading (eq 12) and habituation.

Expected values come from SPEC's numbers typed in again (:mod:`spec_tables`) and hand formulas; fixtures break
symmetry (non-default constants, distinct students) so that a constant read from the wrong place, a transposed
table or a sign error gives a different number. Statistical tests use fixed seeds; each says why its tolerance is
what it is.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from spec_tables import (
    A_STAR,
    AXIS,
    NEGATIVE_HIGH_AROUSAL,
    NEGATIVE_LOW_AROUSAL,
    PAD,
    TAU,
    TENSION,
    B,
    W,
    base_chain,
    normalized,
)

from vclass.agents.ecem import emotion_levels, level_of
from vclass.config import replace_nested
from vclass.sim.classroom import Action, Classroom
from vclass.sim.config import (
    AttentionConfig,
    BehaviourConfig,
    ClassroomConfig,
    EmotionConfig,
    FramesConfig,
    IncentiveConfig,
    LearningConfig,
    SegmentConfig,
    SimConfig,
    StudentConfig,
)
from vclass.sim.emotion import (
    IncentiveLedger,
    axis_values,
    base_transition_matrix,
    drift_features,
    drift_matrix,
    emotion_axis,
    in_tea,
    predict_belief,
    stationary_distribution,
    student_transition_matrices,
    transition_rows,
)
from vclass.sim.lesson import build_lesson
from vclass.sim.students import sample_population


# -- SPEC's defaults --------------------------------------------------------------------------------------------------
def test_config_defaults_are_the_numbers_spec_gives():
    emo, inc = EmotionConfig(), IncentiveConfig()
    assert (emo.stay_prob, emo.same_category_prob, emo.other_category_prob) == (0.92, 0.02, 0.005)
    assert (emo.heterogeneity_kappa, emo.temperament_sd) == (500.0, 0.3)
    assert (emo.difficulty_drift, emo.fatigue_drift, emo.test_tension_drift) == (1.5, 1.0, 0.8)
    assert (emo.lecture_fatigue_drift_video, emo.lecture_fatigue_drift_slides) == (0.8, 1.2)
    assert emo.incentive_gain == TAU and tuple(emo.axis_weights) == (1.0, 0.2, 0.1)
    assert (emo.tea_low, emo.tea_high) == (0.6, 1.4)
    np.testing.assert_array_equal(np.asarray(inc.profiles), W)
    assert (inc.fading_per_minute, inc.habituation, inc.habituation_window_minutes) == (1.0, 0.7, 10.0)
    assert (inc.difficulty_reduction, inc.active_threshold, inc.learning_rate_penalty) == (0.3, 0.1, 0.3)
    assert (inc.lesson_problems, inc.fun_seconds, inc.teacher_budget) == (20, 20.0, 10)
    st = StudentConfig()
    assert (st.dilution_median, st.dilution_sigma) == (0.5, 0.3)
    assert (st.attention_fatigue_min, st.attention_fatigue_max) == (0.2, 0.6)
    att = AttentionConfig()
    assert (att.rate, att.noise, att.checkin_boost, att.participation_threshold) == (0.2, 0.03, 0.25, 0.6)
    np.testing.assert_array_equal(att.targets, A_STAR)
    beh = BehaviourConfig()
    assert (beh.look_away_scale, beh.eyes_closed_below, beh.eyes_closed_prob) == (0.3, 0.2, 0.5)
    assert (beh.yawn_base, beh.yawn_fatigue_scale, beh.hand_raise_scale) == (0.05, 0.2, 0.05)
    assert (LearningConfig().rate, LearningConfig().positive_bonus) == (0.01, 0.3)
    room = ClassroomConfig()
    assert (room.tick_seconds, room.decision_seconds) == (10.0, 30.0)
    assert (room.connection_drop_prob, room.reconnect_mean_seconds) == (0.002, 60.0)
    assert (room.camera_off_prob, room.camera_back_mean_seconds) == (0.002, 60.0)
    np.testing.assert_array_equal(np.asarray(FramesConfig().emission), B)


# -- eq 13, eq 14 -----------------------------------------------------------------------------------------------------
def test_axis_value_of_each_state_is_c_dot_its_vertex_eq13():
    np.testing.assert_allclose(axis_values(EmotionConfig()), AXIS, atol=1e-12)
    weights = (0.5, -0.3, 2.0)  # every weight matters and none equals another
    expected = [0.5 * p - 0.3 * a + 2.0 * d for p, a, d in PAD]
    np.testing.assert_allclose(axis_values(EmotionConfig(axis_weights=weights)), expected, atol=1e-12)


def test_axis_of_a_belief_is_the_belief_weighted_sum_of_state_values_eq13():
    belief = np.array([[0.1, 0.0, 0.2, 0.0, 0.3, 0.0, 0.4, 0.0], [0.0, 0.5, 0.0, 0.0, 0.0, 0.25, 0.0, 0.25]])
    expected = [0.1 * 1.3 + 0.2 * 0.9 + 0.3 * -1.1 + 0.4 * -0.9, 0.5 * 1.1 + 0.25 * -1.3 + 0.25 * -0.7]
    np.testing.assert_allclose(emotion_axis(belief, EmotionConfig()), expected, atol=1e-12)


def test_target_region_is_the_closed_interval_from_tea_low_to_tea_high():
    x = np.array([0.5999, 0.6, 1.0, 1.4, 1.4001, -1.0])
    assert in_tea(x, EmotionConfig()).tolist() == [False, True, True, True, False, False]
    narrow = EmotionConfig(tea_low=0.8, tea_high=1.2)
    assert in_tea(np.array([0.79, 0.8, 1.2, 1.21]), narrow).tolist() == [False, True, True, False]


def test_levels_are_the_sorted_state_values_and_a_value_takes_the_nearest_level_eq14():
    levels = emotion_levels(EmotionConfig())
    np.testing.assert_allclose(levels, [-1.3, -1.1, -0.9, -0.7, 0.7, 0.9, 1.1, 1.3], atol=1e-12)
    x = np.array([-2.0, -1.15, -0.75, -0.2, 0.3, 0.6, 0.85, 1.25, 3.0])
    assert level_of(x, levels).tolist() == [0, 1, 3, 3, 4, 4, 5, 7, 7]
    # The TEA's lower end (0.6) sits on level 4 (0.7): a belief at x = 0.3 is outside the TEA but on that level
    # (SPEC §6's gap of eq 14).
    assert int(level_of(0.6, levels)) == 4 and int(level_of(0.3, levels)) == 4
    other = emotion_levels(EmotionConfig(axis_weights=(0.5, -0.3, 2.0)))
    np.testing.assert_allclose(other, np.sort([0.5 * p - 0.3 * a + 2.0 * d for p, a, d in PAD]), atol=1e-12)


# -- A0 and each student's chain ---------------------------------------------------------------------------------------
def test_base_chain_stays_with_092_and_moves_002_within_and_0005_across_categories():
    np.testing.assert_allclose(base_transition_matrix(EmotionConfig()), base_chain(), atol=0)
    other = EmotionConfig(stay_prob=0.8, same_category_prob=0.05, other_category_prob=0.0125)
    np.testing.assert_allclose(base_transition_matrix(other), base_chain(0.8, 0.05, 0.0125), atol=1e-15)


def test_student_chain_rows_scatter_as_dirichlet_of_kappa_times_the_base_row():
    """Dirichlet(kappa p) has mean p and sd sqrt(p (1-p) / (kappa + 1)); kappa = 50 (not the default) so that a
    chain built with another kappa is far off. 20,000 students: the mean is within 5 standard errors; the sd within
    6% (the sd of a sample sd of a Beta(1, 49), the heaviest-tailed entry tested, is about 1% at this n)."""
    kappa, n = 50.0, 20_000
    chains = student_transition_matrices(
        EmotionConfig(heterogeneity_kappa=kappa), np.zeros(n), np.random.default_rng(4)
    )
    p = base_chain()
    np.testing.assert_allclose(chains.sum(axis=2), 1.0, atol=1e-12)
    sd = np.sqrt(p * (1 - p) / (kappa + 1))
    assert np.all(np.abs(chains.mean(axis=0) - p) < 5 * sd / np.sqrt(n))
    for i, j in ((0, 0), (5, 5), (1, 3), (6, 7)):  # stay and same-category entries of both categories
        assert chains[:, i, j].std() == pytest.approx(sd[i, j], rel=0.06)


def test_temperament_multiplies_column_j_by_exp_b_times_its_pleasure():
    # kappa = 1e12: the Dirichlet scatter (sd ~ 1e-7) vanishes, leaving the temperament's tilt alone.
    temperament = np.array([0.4, -0.7, 0.0])
    chains = student_transition_matrices(EmotionConfig(heterogeneity_kappa=1e12), temperament, np.random.default_rng(5))
    pleasure = PAD[:, 0]
    for k, b in enumerate(temperament):
        np.testing.assert_allclose(chains[k], normalized(base_chain() * np.exp(b * pleasure)[None, :]), atol=1e-5)


def test_stationary_distribution_is_the_left_eigenvector_of_each_chain_and_students_start_from_their_own():
    rng = np.random.default_rng(15)
    chains = student_transition_matrices(EmotionConfig(), rng.normal(0, 0.5, 3), rng)
    got = stationary_distribution(chains)
    for k in range(3):
        values, vectors = np.linalg.eig(chains[k].T)
        pi = np.real(vectors[:, np.argmin(np.abs(values - 1))])
        np.testing.assert_allclose(got[k], pi / pi.sum(), atol=1e-10)
    # 20,000 students on one chain (kappa huge, no temperament): the first states follow its stationary law
    # within 5 binomial standard errors per state.
    n = 20_000
    cfg = replace_nested(
        SimConfig(), **{"classroom.students": n, "emotion.heterogeneity_kappa": 1e12, "emotion.temperament_sd": 0.0}
    )
    first = sample_population(cfg, np.random.default_rng(16)).initial_state
    pi = np.linalg.matrix_power(base_chain(), 4096)[0]
    counts = np.bincount(first, minlength=8)
    assert np.all(np.abs(counts - n * pi) < 5 * np.sqrt(n * pi * (1 - pi)))


def test_student_traits_follow_their_laws():
    """20,000 students with non-default laws. Tolerances: 5 standard errors of each statistic (sd of a normal's
    sample sd is sd / sqrt(2n), 0.5% here; a uniform's mean has se (hi - lo) / sqrt(12 n))."""
    n = 20_000
    cfg = replace_nested(
        SimConfig(),
        **{
            "classroom.students": n,
            "emotion.temperament_sd": 0.45,
            "students.dilution_median": 0.8,
            "students.dilution_sigma": 0.2,
            "students.attention_fatigue_min": 0.1,
            "students.attention_fatigue_max": 0.5,
            "students.fatigue_min": 0.7,
            "students.fatigue_max": 1.9,
        },
    )
    pop = sample_population(cfg, np.random.default_rng(6))
    assert abs(pop.temperament.mean()) < 5 * 0.45 / math.sqrt(n)
    assert pop.temperament.std() == pytest.approx(0.45, rel=5 / math.sqrt(2 * n))
    log_psi = np.log(pop.dilution)  # psi_k ~ LogNormal(log median, sigma)
    assert abs(log_psi.mean() - math.log(0.8)) < 5 * 0.2 / math.sqrt(n)
    assert log_psi.std() == pytest.approx(0.2, rel=5 / math.sqrt(2 * n))
    for values, lo, hi in ((pop.attention_fatigue, 0.1, 0.5), (pop.fatigue_rate, 0.7, 1.9)):
        assert lo <= values.min() and values.max() <= hi
        assert abs(values.mean() - (lo + hi) / 2) < 5 * (hi - lo) / math.sqrt(12 * n)
        assert values.min() < lo + 0.01 and values.max() > hi - 0.01


# -- context drift and the incentive tilt (eq 11) -------------------------------------------------------------------
def _row(state: int, gap: float, fatigue_drive: float, online_test: bool, intensity, emo: EmotionConfig):
    """The code's tilted row for one student (the function under test)."""
    features = drift_features(np.array([gap]), np.array([fatigue_drive]), online_test, np.asarray([intensity], float))
    drift = drift_matrix(emo, IncentiveConfig())
    return transition_rows(np.log(base_chain())[[state]], features, drift)[0]


def test_incentive_tilt_multiplies_each_column_by_exp_tau_sum_of_intensity_times_profile_eq11():
    emo = EmotionConfig()
    # From depression, fun at intensity 1 and teaching quality at 0.5: column j is multiplied by
    # exp(1.5 * (W3_j + 0.5 * W4_j)); written out per column.
    a0 = base_chain()[5]
    tilt = [1.5 * (1.0 + 0.25), 1.5 * (1.0 + 0.25), 1.5 * (0.5 + 0.5), 1.5 * (0.0 + 0.25)]
    tilt += [1.5 * (-0.5 + 0.0), 1.5 * (-1.0 - 0.25), 1.5 * (0.0 - 0.25), 1.5 * (0.0 - 0.25)]
    expected = normalized(a0 * np.exp(tilt))
    np.testing.assert_allclose(_row(5, 0.0, 0.0, False, [0, 0, 1.0, 0.5], emo), expected, atol=1e-12)
    # All four factors, unequal intensities, another tau: exp(tau * sum_m I_m W_m(j)).
    intensity = np.array([0.3, 0.9, 0.2, 0.6])
    tau = 0.9
    expected = normalized(base_chain()[2] * np.exp(tau * (intensity @ W)))
    np.testing.assert_allclose(
        _row(2, 0.0, 0.0, False, intensity, EmotionConfig(incentive_gain=tau)), expected, atol=1e-12
    )


def test_context_drift_tilts_tension_anger_by_difficulty_calm_depression_by_fatigue_and_tension_by_tests():
    emo = EmotionConfig(difficulty_drift=0.7, test_tension_drift=1.9)  # distinct from each other and the defaults
    gap, drive = 0.35, 0.6  # D - D*, eta_F * F
    for state in (0, 4, 6):
        for online_test in (False, True):
            log_tilt = 0.7 * gap * NEGATIVE_HIGH_AROUSAL + drive * NEGATIVE_LOW_AROUSAL
            log_tilt = log_tilt + 1.9 * online_test * (np.arange(8) == TENSION)
            expected = normalized(base_chain()[state] * np.exp(log_tilt))
            got = _row(state, gap, drive, online_test, [0, 0, 0, 0], emo)
            np.testing.assert_allclose(got, expected, atol=1e-12)
    # An easy lesson (D below D*) lowers tension and anger.
    easy = _row(0, -0.4, 0.0, False, [0, 0, 0, 0], emo)
    assert easy[6:].sum() < base_chain()[0, 6:].sum()


def test_rows_of_many_students_are_tilted_each_by_its_own_features_even_at_extreme_intensities():
    states = np.array([5, 0, 3])
    intensity = np.array([[0, 0, 300.0, 0], [0.5, 0, 0, 0], [0, 2.0, 0, 1.0]])  # 300: exp(450) on its own
    features = drift_features(np.array([0.4, -0.3, 0.0]), np.array([0.0, 0.9, 0.2]), False, intensity)
    rows = transition_rows(np.log(base_chain())[states], features, drift_matrix(EmotionConfig(), IncentiveConfig()))
    for k, state in enumerate(states):
        log_row = np.log(base_chain()[state]) + 1.5 * features[k, 0] * NEGATIVE_HIGH_AROUSAL
        log_row = log_row + features[k, 1] * NEGATIVE_LOW_AROUSAL + TAU * intensity[k] @ W
        expected = np.exp(log_row - log_row.max())  # in log space: exp(450) would overflow the product
        np.testing.assert_allclose(rows[k], expected / expected.sum(), atol=1e-12)
    assert np.isfinite(rows).all()


def test_prediction_multiplies_the_belief_by_the_tilted_chain_h_times():
    emo, inc = EmotionConfig(), IncentiveConfig()
    rng = np.random.default_rng(7)
    chains = student_transition_matrices(emo, np.array([0.2, -0.3]), rng)
    belief = np.array([[0.5, 0, 0, 0, 0.5, 0, 0, 0], [0, 0, 0.1, 0, 0, 0.6, 0.3, 0]])
    intensity = np.array([[0, 0, 1.0, 0], [0.7, 0, 0, 0.2]])
    features = drift_features(np.array([0.1, -0.2]), np.array([0.3, 0.0]), True, intensity)
    for k in range(2):
        log_tilt = 1.5 * features[k, 0] * NEGATIVE_HIGH_AROUSAL + features[k, 1] * NEGATIVE_LOW_AROUSAL
        log_tilt = log_tilt + 0.8 * (np.arange(8) == TENSION) + TAU * intensity[k] @ W
        rows = normalized(chains[k] * np.exp(log_tilt)[None, :])
        expected = belief[k] @ rows @ rows @ rows
        got = predict_belief(belief, chains, features, drift_matrix(emo, inc), ticks=3)[k]
        np.testing.assert_allclose(got, expected, atol=1e-12)
        one = predict_belief(belief, chains, features, drift_matrix(emo, inc))[k]  # one tick by default
        np.testing.assert_allclose(one, belief[k] @ rows, atol=1e-12)


def test_lesson_plan_sets_eta_f_by_segment_and_presentation():
    segments = (
        SegmentConfig("lecture", 0.25, 0.5),
        SegmentConfig("exercise", 0.25, 0.6),
        SegmentConfig("online-test", 0.25, 0.7),
        SegmentConfig("discussion", 0.25, 0.4),
    )
    base = replace_nested(SimConfig(), **{"classroom.minutes": 10.0})
    base = SimConfig(classroom=base.classroom, lesson=base.lesson.__class__(segments=segments))
    for presentation, lecture_eta in (("video", 0.8), ("slides", 1.2)):
        plan = build_lesson(replace_nested(base, **{"classroom.presentation": presentation}))
        # 60 ticks, 15 per segment; t/T = tick / 60.
        np.testing.assert_allclose(plan.fatigue_drift, [lecture_eta] * 15 + [1.0] * 45)
        np.testing.assert_allclose(plan.difficulty, [0.5] * 15 + [0.6] * 15 + [0.7] * 15 + [0.4] * 15)
        assert plan.online_test.tolist() == [False] * 30 + [True] * 15 + [False] * 15
        np.testing.assert_allclose(plan.time_fraction, np.arange(60) / 60)
    no_tests = build_lesson(replace_nested(base, **{"classroom.online_tests": False}))
    assert not no_tests.online_test.any() and no_tests.difficulty[30:45].tolist() == [0.7] * 15
    custom = replace_nested(base, **{"emotion.lecture_fatigue_drift_slides": 2.5, "emotion.fatigue_drift": 0.4})
    plan = build_lesson(replace_nested(custom, **{"classroom.presentation": "slides"}))
    np.testing.assert_allclose(plan.fatigue_drift, [2.5] * 15 + [0.4] * 45)


class Idle:
    def reset(self, n, rng):
        pass

    def act(self, obs):
        return Action.nothing(obs.n_students)


def _quiet_room(cfg: SimConfig, seed: int = 0, policy=None) -> Classroom:
    return Classroom(cfg, seed, policy if policy is not None else Idle())


def _no_faults(cfg: SimConfig, **changes) -> SimConfig:
    quiet = {
        "classroom.connection_drop_prob": 0.0,
        "classroom.camera_off_prob": 0.0,
        "classroom.late_join_prob": 0.0,
        "classroom.dropout_prob": 0.0,
    }
    return replace_nested(cfg, **{**quiet, **changes})


def _one_segment(cfg: SimConfig, kind: str, difficulty: float) -> SimConfig:
    return SimConfig(
        **{**cfg.__dict__, "lesson": cfg.lesson.__class__(segments=(SegmentConfig(kind, 1.0, difficulty),))}
    )


@pytest.mark.parametrize(
    "kind, presentation, eta_f, eta_t, changes",
    [
        ("lecture", "video", 0.8, 0.0, {}),
        ("lecture", "slides", 1.2, 0.0, {}),
        ("exercise", "slides", 1.0, 0.0, {}),
        ("online-test", "slides", 1.0, 0.8, {}),
        ("online-test", "video", 0.4, 2.0, {"emotion.fatigue_drift": 0.4, "emotion.test_tension_drift": 2.0}),
    ],
)
def test_classroom_tick_draws_the_next_state_from_the_row_tilted_by_context_and_incentives(
    kind, presentation, eta_f, eta_t, changes
):
    """40,000 students in calmness at tick 45 of 60 (t/T = 0.75), ability 0.3, fatigue rate 1.2, all on SPEC's A0;
    half have fun at intensity 0.8, the other half reduce-difficulty at 0.5 (active: D lowered by 0.3).
    The next-state counts of each half are within 5 binomial sd (+1) of the hand-computed row, in every column."""
    n = 40_000
    cfg = _one_segment(replace_nested(SimConfig(), **{"classroom.students": n, "classroom.minutes": 10.0}), kind, 0.7)
    cfg = replace_nested(cfg, **{"classroom.presentation": presentation, **changes})
    room = _quiet_room(cfg)
    pop = room.population
    pop.log_transitions[:] = np.log(base_chain())
    pop.ability[:] = 0.3
    pop.fatigue_rate[:] = 1.2
    room.state[:] = 4
    half = np.arange(n) < n // 2
    room.ledger.intensity[:] = 0.0
    room.ledger.intensity[half, 2] = 0.8
    room.ledger.intensity[~half, 0] = 0.5
    room.advance(45)
    for group, gap, incentive in ((half, 0.7 - 0.3, 0.8 * W[2]), (~half, 0.7 - 0.3 - 0.3, 0.5 * W[0])):
        log_tilt = 1.5 * gap * NEGATIVE_HIGH_AROUSAL + eta_f * 1.2 * 0.75 * NEGATIVE_LOW_AROUSAL
        log_tilt = log_tilt + eta_t * (np.arange(8) == TENSION) + TAU * incentive
        expected = normalized(base_chain()[4] * np.exp(log_tilt))
        counts = np.bincount(room.state[group], minlength=8)
        m = group.sum()
        assert np.all(np.abs(counts - m * expected) < 5 * np.sqrt(m * expected * (1 - expected)) + 1), (
            counts,
            m * expected,
        )


# -- eq 12: fading; habituation -------------------------------------------------------------------------------------
def test_incentive_intensity_fades_at_rate_psi_times_d():
    """d = 2.5 / min and psi = (0.3, 0.8, 1.7), none of them defaults: after k ticks of 10 s an application of
    strength 1 has intensity exp(-psi d k / 6); a second one 60 s later adds h = 0.6 faded from its own time."""
    psi = np.array([0.3, 0.8, 1.7])
    inc = IncentiveConfig(fading_per_minute=2.5, habituation=0.6)
    ledger = IncentiveLedger(psi, inc, tick_seconds=10.0, decision_seconds=30.0)
    ledger.apply(0.0, np.arange(3), np.array([1, 1, 1]))
    for k in range(1, 13):
        ledger.decay()
        if k == 6:
            ledger.apply(60.0, np.arange(3), np.array([1, 1, 1]))
        minutes = k * 10.0 / 60.0
        expected = np.exp(-psi * 2.5 * minutes)
        if k >= 6:
            expected = expected + 0.6 * np.exp(-psi * 2.5 * (minutes - 1.0))
        np.testing.assert_allclose(ledger.intensity[:, 1], expected, rtol=1e-12)
    assert not ledger.intensity[:, [0, 2, 3]].any()


def test_nth_repeat_of_a_factor_within_the_window_has_strength_h_to_the_n():
    inc = IncentiveConfig(habituation=0.6, habituation_window_minutes=4.0)
    ledger = IncentiveLedger(np.array([0.5, 0.5]), inc, tick_seconds=10.0, decision_seconds=30.0)
    one, two = np.array([0]), np.array([1])
    got = [ledger.apply(t, one, np.array([2]))[0] for t in (0.0, 30.0, 60.0)]
    np.testing.assert_allclose(got, [1.0, 0.6, 0.36], rtol=1e-12)
    # Another factor on the same student, or the same factor on another student, is a first application.
    assert ledger.apply(60.0, one, np.array([3]))[0] == 1.0
    assert ledger.apply(60.0, two, np.array([2]))[0] == 1.0
    # At 250 s the window (4 min: after 10 s) holds the applications at 30 and 60 s: n = 2.
    assert ledger.apply(250.0, one, np.array([2]))[0] == pytest.approx(0.36)


def test_habituation_resets_once_the_earlier_applications_are_older_than_the_window():
    inc = IncentiveConfig(habituation=0.6, habituation_window_minutes=4.0)
    ledger = IncentiveLedger(np.array([0.5]), inc, tick_seconds=10.0, decision_seconds=30.0)
    for t in (0.0, 30.0, 60.0):
        ledger.apply(t, np.array([0]), np.array([0]))
    assert ledger.apply(290.0, np.array([0]), np.array([0]))[0] == pytest.approx(0.6)  # only 60 s is within 240 s
    assert ledger.apply(600.0, np.array([0]), np.array([0]))[0] == 1.0  # 290 s is 310 s back: none within
    # "Within the window" is less than the window back: an application exactly 240 s before does not count.
    assert ledger.apply(840.0, np.array([0]), np.array([0]))[0] == 1.0
    assert ledger.apply(840.0 + 239.0, np.array([0]), np.array([0]))[0] == pytest.approx(0.6)


class EveryDecision:
    """Applies ``factor`` to the students in ``students`` at every decision, and checks in with ``checkin``."""

    def __init__(self, factor: int, students, checkin: int = -1):
        self.factor, self.students, self.checkin = factor, list(students), checkin

    def reset(self, n, rng):
        pass

    def act(self, obs):
        factors = np.zeros(obs.n_students, dtype=np.int64)
        factors[self.students] = self.factor
        return Action(factors, self.checkin)


def test_classroom_gives_repeats_habituated_strengths_and_fades_them_at_each_students_own_dilution():
    cfg = _no_faults(
        replace_nested(SimConfig(), **{"classroom.students": 4, "classroom.minutes": 15.0}),
        **{"incentives.fading_per_minute": 1.7, "incentives.habituation": 0.8},
    )
    from vclass.sim.classroom import simulate

    policy = EveryDecision(3, [1, 2])
    room_record = simulate(cfg, 3, policy)
    strengths = [s for _, k, _, s in room_record.applications if k == 1]
    # 30 decisions in 15 min; within 10 min (less than 600 s back) lie at most the 19 previous ones.
    np.testing.assert_allclose(strengths, [0.8 ** min(i, 19) for i in range(30)], rtol=1e-12)
    # The intensity on a student is the sum of its applications, each faded at exp(-psi_k d (t - t_a)).
    room = _quiet_room(cfg, 3, EveryDecision(3, [1, 2]))
    psi = room.population.dilution
    applied: list[tuple[float, float]] = []
    for tick in range(12):
        if tick % 3 == 0:
            room.decide()
            applied.append((tick * 10.0, room.record.applications[-1][3]))
        t = (tick + 1) * 10.0  # after the tick's fading
        expected = sum(s * np.exp(-psi * 1.7 * (t - ta) / 60.0) for ta, s in applied)
        room.advance(tick)
        np.testing.assert_allclose(room.ledger.intensity[[1, 2], 2], expected[[1, 2]], rtol=1e-12)
        assert not room.ledger.intensity[[0, 3]].any()
