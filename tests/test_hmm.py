"""HMM beliefs (S3 eqs 9-10): the forward filter agrees with hmmlearn, Baum-Welch recovers a known chain."""

from __future__ import annotations

import numpy as np
import pytest
from hmmlearn.hmm import CategoricalHMM

from vclass.models.hmm import EPSILON, BeliefFilter, compose_emission, fit_baum_welch
from vclass.sim.config import FramesConfig, SimConfig
from vclass.sim.emotion import base_transition_matrix, stationary_distribution

A = base_transition_matrix(SimConfig().emotion)
B = np.asarray(FramesConfig().emission)
PI = stationary_distribution(A[None])[0]


def _sample(n: int, ticks: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized draws of n state and symbol sequences from (PI, A, B)."""
    states = np.empty((n, ticks), dtype=np.int64)
    symbols = np.empty((n, ticks), dtype=np.int64)
    state = (rng.random(n)[:, None] > np.cumsum(PI)).sum(1)
    for t in range(ticks):
        if t:
            state = (rng.random(n)[:, None] > np.cumsum(A, 1)[state]).sum(1)
        states[:, t] = state
        symbols[:, t] = np.minimum((rng.random(n)[:, None] > np.cumsum(B, 1)[state]).sum(1), B.shape[1] - 1)
    return states, symbols


def _hmmlearn_model() -> CategoricalHMM:
    model = CategoricalHMM(n_components=8, n_features=7, init_params="")
    model.startprob_, model.transmat_, model.emissionprob_ = PI, A, B
    return model


def test_filtered_beliefs_equal_hmmlearn_posteriors_at_each_prefix_end():
    rng = np.random.default_rng(0)
    _, symbols = _sample(5, 40, rng)
    filt = BeliefFilter(A, B, PI, n_students=5)
    model = _hmmlearn_model()
    for t in range(40):
        belief = filt.step(symbols[:, t])
        if t % 7 == 0 or t == 39:
            for k in range(5):
                prefix = symbols[k, : t + 1, None]
                np.testing.assert_allclose(belief[k], model.predict_proba(prefix)[-1], atol=1e-10)
    for k in range(5):
        assert filt.log_likelihood[k] == pytest.approx(model.score(symbols[k, :, None]), rel=1e-10)


def test_missing_frames_only_predict_and_match_marginalizing_the_observation():
    rng = np.random.default_rng(1)
    _, symbols = _sample(3, 12, rng)
    has_frame = np.ones((3, 12), dtype=bool)
    has_frame[:, 4:7] = False
    filt = BeliefFilter(A, B, PI, n_students=3)
    manual = PI[None].repeat(3, 0)
    for t in range(12):
        prior = manual @ A if t else manual
        belief = filt.step(symbols[:, t], has_frame[:, t])
        manual = prior * np.where(has_frame[:, t, None], B[:, symbols[:, t]].T, 1.0)
        manual /= manual.sum(1, keepdims=True)
        np.testing.assert_allclose(belief, manual, atol=1e-12)
    assert np.all(np.isfinite(filt.belief))


def test_per_student_transitions_are_used_per_student():
    other = np.full((8, 8), 1 / 8)
    filt = BeliefFilter(np.stack([A, other]), B, PI, n_students=2)
    filt.step(np.array([1, 1]))
    belief = filt.step(np.array([0, 0]), np.array([False, False]))
    np.testing.assert_allclose(belief[1], np.full(8, 1 / 8), atol=1e-12)
    assert not np.allclose(belief[0], belief[1])


def test_filter_belief_tracks_the_true_state_better_than_the_prior():
    rng = np.random.default_rng(2)
    states, symbols = _sample(200, 100, rng)
    filt = BeliefFilter(A, B, PI, n_students=200)
    hits = []
    for t in range(100):
        hits.append(filt.step(symbols[:, t]).argmax(1) == states[:, t])
    accuracy = np.mean(hits[20:])
    assert accuracy > 2 * PI.max()  # well above always guessing the most common state


def test_composed_emission_is_b_times_confusion():
    confusion = np.full((7, 7), 0.05) + np.eye(7) * 0.65
    composed = compose_emission(B, confusion)
    np.testing.assert_allclose(composed.sum(1), 1.0)
    np.testing.assert_allclose(composed, B @ confusion / (B @ confusion).sum(1, keepdims=True))
    assert np.allclose(compose_emission(B, np.eye(7)), B)


@pytest.mark.slow
def test_baum_welch_recovers_a_known_eight_state_chain():
    """150 students x 270 ticks (40,500 symbols) from SPEC's chain, started from a perturbed model.

    Tolerance: every transition entry within 0.03 and every emission entry within 0.05 of the truth.
    The stay probabilities are estimated from about 5,000 visits per state, a standard error near 0.004
    for a visible chain; hidden states and 8 states over 7 symbols lose information, hence several times that.
    The start is 2-3x further away than the tolerance, so passing means Baum-Welch moved towards the truth.
    """
    rng = np.random.default_rng(3)
    _, symbols = _sample(150, 270, rng)
    start_a = A * np.exp(rng.normal(0, 0.5, A.shape))
    start_a /= start_a.sum(1, keepdims=True)
    start_b = (B + 0.03) * np.exp(rng.normal(0, 0.4, B.shape))
    start_b /= start_b.sum(1, keepdims=True)
    assert np.abs(start_a - A).max() > 0.06 and np.abs(start_b - B).max() > 0.1
    fitted = fit_baum_welch(list(symbols), start_a, start_b, PI, params="te")
    assert fitted.converged_
    gains = np.diff(fitted.history_)
    assert np.all(gains > -1e-6) and gains[-1] < EPSILON  # eq 10: stops once the gain is below epsilon
    assert np.abs(fitted.transmat_ - A).max() < 0.03
    assert np.abs(fitted.emissionprob_ - B).max() < 0.05
