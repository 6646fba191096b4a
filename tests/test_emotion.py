"""Emotion dynamics (SPEC §1-2): rows are distributions, incentives tilt them, fading and habituation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vclass.sim.config import EmotionConfig, IncentiveConfig, SimConfig
from vclass.sim.emotion import (
    N_FACTORS,
    N_STATES,
    POSITIVE,
    IncentiveLedger,
    axis_values,
    base_transition_matrix,
    drift_features,
    drift_matrix,
    stationary_distribution,
    student_transition_matrices,
    transition_rows,
)

EMO, INC = EmotionConfig(), IncentiveConfig()
DRIFT = drift_matrix(EMO, INC)
LOG_BASE = np.log(base_transition_matrix(EMO))


def test_axis_values_match_spec():
    np.testing.assert_allclose(axis_values(EMO), [1.3, 1.1, 0.9, 0.7, -1.1, -1.3, -0.9, -0.7])


def test_base_chain_rows_are_distributions_with_spec_blocks():
    a0 = base_transition_matrix(EMO)
    np.testing.assert_allclose(a0.sum(axis=1), 1.0)
    assert a0[0, 0] == 0.92 and a0[0, 1] == 0.02 and a0[0, 4] == 0.005


@settings(max_examples=200, deadline=None)
@given(
    state=st.integers(0, N_STATES - 1),
    intensity=arrays(np.float64, (N_FACTORS,), elements=st.floats(0.0, 20.0)),
    gap=st.floats(-1.0, 1.0),
    fatigue=st.floats(0.0, 5.0),
    online_test=st.booleans(),
)
def test_transition_rows_are_distributions_under_any_incentive_and_context(state, intensity, gap, fatigue, online_test):
    features = drift_features(np.array([gap]), np.array([fatigue]), online_test, intensity[None, :])
    rows = transition_rows(LOG_BASE[[state]], features, DRIFT)
    assert rows.shape == (1, N_STATES)
    assert np.all(np.isfinite(rows)) and np.all(rows >= 0)
    assert rows.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("factor", range(N_FACTORS))
@pytest.mark.parametrize("state", range(N_STATES))
def test_incentive_raises_next_tick_probability_of_its_positive_destinations(factor, state):
    profile = np.asarray(INC.profiles[factor])
    none = drift_features(np.zeros(1), np.zeros(1), False, np.zeros((1, N_FACTORS)))
    intensity = np.zeros((1, N_FACTORS))
    intensity[0, factor] = 1.0
    applied = drift_features(np.zeros(1), np.zeros(1), False, intensity)
    before = transition_rows(LOG_BASE[[state]], none, DRIFT)[0]
    after = transition_rows(LOG_BASE[[state]], applied, DRIFT)[0]
    assert after[profile > 0].sum() > before[profile > 0].sum()
    assert after[profile < 0].sum() < before[profile < 0].sum()


def test_student_chains_scatter_around_the_base_chain():
    rng = np.random.default_rng(0)
    chains = student_transition_matrices(EMO, np.zeros(4000), rng)
    np.testing.assert_allclose(chains.sum(axis=2), 1.0)
    # Dirichlet(kappa*p) entries have sd sqrt(p(1-p)/(kappa+1)); the mean of 4000 is within 5 of its se.
    a0 = base_transition_matrix(EMO)
    se = np.sqrt(a0 * (1 - a0) / (EMO.heterogeneity_kappa + 1) / 4000)
    assert np.all(np.abs(chains.mean(axis=0) - a0) < 5 * se)
    # Each student differs from the base (heterogeneity is real), by about the Dirichlet sd.
    sd = chains[:, 0, 0].std()
    assert sd == pytest.approx(np.sqrt(0.92 * 0.08 / 501), rel=0.1)


def test_temperament_shifts_mass_towards_positive_states():
    rng = np.random.default_rng(1)
    cheerful = student_transition_matrices(EMO, np.full(500, 0.6), rng)
    gloomy = student_transition_matrices(EMO, np.full(500, -0.6), rng)
    assert (
        stationary_distribution(cheerful)[:, POSITIVE].sum(1).mean()
        > stationary_distribution(gloomy)[:, POSITIVE].sum(1).mean() + 0.3
    )


def test_stationary_distribution_is_fixed_by_the_chain():
    chains = student_transition_matrices(EMO, np.random.default_rng(2).normal(0, 0.3, 20), np.random.default_rng(3))
    dist = stationary_distribution(chains)
    np.testing.assert_allclose(np.einsum("ni,nij->nj", dist, chains), dist, atol=1e-12)


def test_incentive_intensity_fades_at_rate_psi_times_d():
    dilution = np.array([0.2, 0.5, 1.3])
    ledger = IncentiveLedger(dilution, INC, tick_seconds=10.0, decision_seconds=30.0)
    ledger.apply(0.0, np.arange(3), np.array([2, 2, 2]))
    history = []
    for _ in range(30):
        history.append(ledger.intensity[:, 2].copy())
        ledger.decay()
    minutes = np.arange(30) * 10.0 / 60.0
    slope = np.polyfit(minutes, np.log(np.array(history)), 1)[0]
    np.testing.assert_allclose(-slope, dilution * INC.fading_per_minute, rtol=1e-9)
    assert np.all(ledger.intensity[:, [0, 1, 3]] == 0)


def test_repeated_applications_add_and_habituate_within_the_window():
    ledger = IncentiveLedger(np.array([1e-9]), INC, tick_seconds=10.0, decision_seconds=30.0)
    strengths = [ledger.apply(30.0 * i, np.array([0]), np.array([1]))[0] for i in range(4)]
    np.testing.assert_allclose(strengths, [1.0, 0.7, 0.49, 0.343])
    assert ledger.intensity[0, 1] == pytest.approx(sum(strengths), rel=1e-6)
    # Another factor on the same student is not habituated.
    assert ledger.apply(120.0, np.array([0]), np.array([3]))[0] == 1.0


def test_habituation_forgets_applications_older_than_the_window():
    ledger = IncentiveLedger(np.array([0.5]), INC, tick_seconds=10.0, decision_seconds=30.0)
    ledger.apply(0.0, np.array([0]), np.array([0]))
    ledger.apply(30.0, np.array([0]), np.array([0]))
    # "within 10 min" means less than 600 s before: at 620 s only the t=30 application counts.
    assert ledger.apply(620.0, np.array([0]), np.array([0]))[0] == pytest.approx(0.7)
    assert ledger.apply(1300.0, np.array([0]), np.array([0]))[0] == 1.0


def test_habituation_counts_many_repeats_without_losing_any():
    # More applications than the ring of remembered times ever needs (one per decision within 10 min).
    ledger = IncentiveLedger(np.array([0.5]), INC, tick_seconds=10.0, decision_seconds=30.0)
    strengths = [ledger.apply(30.0 * i, np.array([0]), np.array([2]))[0] for i in range(40)]
    # Fewer than 600 s before t hold the 19 previous decisions (t - 570 ... t - 30).
    assert strengths[19] == pytest.approx(0.7**19)
    assert strengths[20] == pytest.approx(0.7**19)
    assert strengths[39] == pytest.approx(0.7**19)


def test_gumbel_sampling_in_the_classroom_follows_transition_rows():
    """The tick samples with Gumbel-max; the empirical next-state law must equal transition_rows."""
    from vclass.sim.classroom import Action, Classroom

    class Idle:
        def reset(self, n, rng):
            pass

        def act(self, obs):
            return Action.nothing(obs.n_students)

    cfg = SimConfig()
    room = Classroom(cfg.__class__(classroom=cfg.classroom.__class__(students=20000)), 5, Idle())
    room.state[:] = 6  # everyone in tension
    room.ledger.intensity[:, 2] = 1.0
    pop, plan = room.population, room.plan
    fatigue = pop.fatigue_rate * plan.time_fraction[0]
    features = drift_features(
        plan.difficulty[0] - pop.ability,
        plan.fatigue_drift[0] * fatigue,
        bool(plan.online_test[0]),
        room.ledger.intensity,
    )
    expected = transition_rows(pop.log_transitions[:, 6], features, drift_matrix(cfg.emotion, cfg.incentives))
    room.advance(0)
    observed = np.bincount(room.state, minlength=N_STATES)
    want = expected.sum(axis=0)
    # Poisson-binomial counts: |obs - exp| < 5 sd for every state.
    sd = np.sqrt((expected * (1 - expected)).sum(axis=0))
    assert np.all(np.abs(observed - want) < 5 * sd + 1)
