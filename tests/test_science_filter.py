"""Known answers for SPEC §4: the emission model composed with the recognizer's confusion, the forward filter
(S3 eq 9), the teacher's chain the filter predicts with (context and the teacher's own incentives), the attention
estimate, Baum-Welch's stopping rule (eq 10) and the surrogate recognizer's draws.

The confusion matrix is far from symmetric (:data:`spec_tables.ASYMMETRIC_CONFUSION`), so a transposed matrix gives
other beliefs. The filter of a whole lesson is recomputed by a few-line reference from what the lesson recorded.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from spec_tables import (
    A_STAR,
    ASYMMETRIC_CONFUSION,
    NEGATIVE_HIGH_AROUSAL,
    NEGATIVE_LOW_AROUSAL,
    TAU,
    TENSION,
    B,
    Scripted,
    W,
    base_chain,
    normalized,
)

from vclass.config import replace_nested
from vclass.env.observers import RecognitionLog, RecognitionObserver, in_loop_accuracy
from vclass.models.hmm import EPSILON, BeliefFilter, compose_emission, fit_baum_welch
from vclass.models.surrogate import SurrogateRecognizer
from vclass.sim.classroom import simulate
from vclass.sim.config import SimConfig

C = ASYMMETRIC_CONFUSION


def test_fixture_confusion_is_asymmetric_enough_to_tell_a_transpose():
    assert np.abs(B @ C - normalized(B @ C.T)).max() > 0.2


def test_emission_model_is_p_recognized_given_state_sum_over_shown_classes_of_b_times_c():
    expected = np.zeros((8, 7))
    for s in range(8):
        for r in range(7):
            expected[s, r] = sum(B[s, y] * C[y, r] for y in range(7))  # P(shown y | s) P(recognized r | shown y)
    np.testing.assert_allclose(compose_emission(B, C), expected, atol=1e-12)
    np.testing.assert_allclose(compose_emission(B, np.eye(7)), B, atol=1e-12)


def test_forward_filter_step_is_prior_times_likelihood_normalized_eq9():
    rng = np.random.default_rng(0)
    chains = np.stack([normalized(rng.random((8, 8)) ** 3) for _ in range(3)])  # distinct per-student chains
    emission = compose_emission(B, C)
    initial = np.array([0.3, 0.1, 0.05, 0.05, 0.2, 0.1, 0.1, 0.1])
    filt = BeliefFilter(chains, emission, initial, n_students=3)
    belief, log_likelihood = None, np.zeros(3)
    for t, (symbols, has_frame) in enumerate(
        [([1, 0, 6], [T, T, T]), ([2, 3, 0], [T, F, T]), ([0, 0, 4], [F, F, T]), ([5, 1, 1], [T, T, T])]
    ):
        got = filt.step(np.array(symbols), np.array(has_frame))
        prior = np.tile(initial, (3, 1)) if t == 0 else np.stack([belief[k] @ chains[k] for k in range(3)])
        likelihood = np.stack([emission[:, y] if seen else np.ones(8) for y, seen in zip(symbols, has_frame)])
        joint = prior * likelihood
        log_likelihood += np.where(has_frame, np.log(joint.sum(axis=1)), 0.0)
        belief = normalized(joint)
        np.testing.assert_allclose(got, belief, atol=1e-12)
    np.testing.assert_allclose(filt.log_likelihood, log_likelihood, rtol=1e-12)


def test_filter_step_without_frame_flags_uses_every_frame_and_a_given_chain_replaces_the_stored_one():
    emission = compose_emission(B, C)
    initial = np.full(8, 1 / 8)
    other = normalized(np.arange(1.0, 65.0).reshape(8, 8))  # the chain of the second tick, unlike A0
    filt = BeliefFilter(base_chain(), emission, initial, n_students=2)
    symbols = [np.array([1, 3]), np.array([6, 0]), np.array([2, 2])]
    first = filt.step(symbols[0])
    second = filt.step(symbols[1], transitions=other)
    third = filt.step(symbols[2])  # the replaced chain stays
    belief = normalized(initial * emission[:, symbols[0]].T)
    log_likelihood = np.log((initial * emission[:, symbols[0]].T).sum(axis=1))
    np.testing.assert_allclose(first, belief, atol=1e-12)
    for got, y in ((second, symbols[1]), (third, symbols[2])):
        joint = (belief @ other) * emission[:, y].T
        log_likelihood += np.log(joint.sum(axis=1))
        belief = normalized(joint)
        np.testing.assert_allclose(got, belief, atol=1e-12)
    np.testing.assert_allclose(filt.log_likelihood, log_likelihood, rtol=1e-12)


T, F = True, False


def _confusion_file(tmp_path, attributes=None) -> str:
    path = tmp_path / "confusion.json"
    data = {"confusion": C.tolist()}
    if attributes is not None:
        data["attributes"] = attributes
    path.write_text(json.dumps(data))
    return str(path)


def _teacher_intensity(applications, tick: int, n: int, dt: float = 10.0, fading: float = 1.0) -> np.ndarray:
    """What the teacher applied, faded at the median dilution 0.5: sum of I0 exp(-0.5 d (t - t_a)) during tick t."""
    intensity = np.zeros((n, 4))
    for applied_tick, k, factor, strength in applications:
        if applied_tick <= tick:
            intensity[k, factor - 1] += strength * math.exp(-0.5 * fading * (tick - applied_tick) * dt / 60.0)
    return intensity


def _hand_filter(record, recognized, with_incentives: bool = True):
    """The teacher's filter by hand: SPEC's A0 tilted by the average student's context (ability 0.5, fatigue rate
    1.0 = the middle of U(0.5, 1.5)) and by the teacher's own faded incentives; emission B @ C; the first step
    starts from A0's stationary distribution. Returns the beliefs (T, N, 8)."""
    n_ticks, n = recognized.shape
    a0 = base_chain()
    initial = np.linalg.matrix_power(a0, 4096)[0]
    emission = B @ C
    plan = record.plan
    beliefs = np.empty((n_ticks, n, 8))
    belief = np.tile(initial, (n, 1))
    for t in range(n_ticks):
        intensity = _teacher_intensity(record.applications, t, n) if with_incentives else np.zeros((n, 4))
        difficulty = np.maximum(plan.difficulty[t] - 0.3 * (intensity[:, 0] > 0.1), 0.0)
        for k in range(n):
            log_tilt = 1.5 * (difficulty[k] - 0.5) * NEGATIVE_HIGH_AROUSAL
            log_tilt = log_tilt + plan.fatigue_drift[t] * 1.0 * (t / n_ticks) * NEGATIVE_LOW_AROUSAL
            log_tilt = log_tilt + 0.8 * plan.online_test[t] * (np.arange(8) == TENSION) + TAU * intensity[k] @ W
            chain = normalized(a0 * np.exp(log_tilt)[None, :])
            prior = initial if t == 0 else belief[k] @ chain
            y = recognized[t, k]
            belief[k] = normalized(prior * (emission[:, y] if y >= 0 else 1.0))
        beliefs[t] = belief
    return beliefs


@pytest.fixture
def filtered_lesson(tmp_path_factory):
    """A 4-student, 6-minute lesson seen through the surrogate (perfect attribute detection) with cameras that go
    off often; the teacher gives fun, reduce-difficulty and teaching quality. Beliefs and attention estimates are
    kept after every tick. Run again for every test (a fraction of a second): mutation testing maps the code a
    fixture runs to the test that set it up, so a shared run would hide the code from the other tests."""
    cfg = replace_nested(
        SimConfig(),
        **{
            "classroom.students": 4,
            "classroom.minutes": 6.0,
            "classroom.camera_off_prob": 0.08,
            "classroom.camera_back_mean_seconds": 25.0,
            "classroom.late_join_prob": 0.0,
            "classroom.dropout_prob": 0.0,
            "behaviour.eyes_closed_below": 0.7,  # closed eyes are common, to test their cap of the estimate
        },
    )
    observer = RecognitionObserver("surrogate", confusion_path=_confusion_file(tmp_path_factory.mktemp("c")))
    beliefs, attention = [], []

    def keep(tick):
        beliefs.append(observer.belief())
        attention.append(observer.attention())

    plan = {0: {0: 3, 1: 1}, 3: {0: 3, 2: 4}, 6: {1: 1, 3: 2}, 12: {3: 3}}
    record = simulate(cfg, 5, Scripted(plan), observer, on_tick=keep)
    return record, observer.log, np.array(beliefs), np.array(attention)


def test_filter_beliefs_in_the_loop_follow_the_teachers_chain_with_its_own_incentives(filtered_lesson):
    record, log, beliefs, _ = filtered_lesson
    recognized = log.recognized.astype(np.int64)
    visible = record.present & record.connected & record.camera_on
    np.testing.assert_array_equal(recognized >= 0, visible)  # a camera-off or dropped student yields no frame
    assert (~visible).sum() > 10 and len(record.applications) == 7
    np.testing.assert_allclose(beliefs, _hand_filter(record, recognized), atol=1e-9)
    np.testing.assert_allclose(log.tracked, beliefs, atol=0)


def test_filter_that_ignored_the_teachers_incentives_would_believe_otherwise(filtered_lesson):
    record, log, beliefs, _ = filtered_lesson
    ignoring = _hand_filter(record, log.recognized.astype(np.int64), with_incentives=False)
    assert np.abs(ignoring - beliefs).max() > 0.02


def test_attention_estimate_inverts_look_away_caps_by_closed_eyes_and_smooths(filtered_lesson):
    """Per tick: expected = belief . a*; from the face min(clip(1 - p_look / 0.3, 0, 1), 1 - 0.9 p_eyes) (here the
    detections are the true events: hit rate 1, false alarms 0); target their mean with a frame, expected without;
    estimate += 0.3 (target - estimate), starting from the stationary distribution's expected attention."""
    record, log, beliefs, attention = filtered_lesson
    initial = np.linalg.matrix_power(base_chain(), 4096)[0]
    estimate = np.full(4, initial @ A_STAR)
    for t in range(record.plan.n_ticks):
        expected = beliefs[t] @ A_STAR
        look, eyes = record.behaviour[t, :, 0].astype(float), record.behaviour[t, :, 1].astype(float)
        from_face = np.minimum(np.clip(1 - look / 0.3, 0, 1), 1 - 0.9 * eyes)
        target = np.where(log.recognized[t] >= 0, 0.5 * expected + 0.5 * from_face, expected)
        estimate = estimate + 0.3 * (target - estimate)
        np.testing.assert_allclose(attention[t], estimate, atol=1e-12)
    assert record.behaviour[..., 0].any() and record.behaviour[..., 1].any()


def test_surrogate_draws_recognized_classes_from_the_confusion_rows_and_attributes_at_their_rates():
    """20,000 faces per class; every frequency is within 5 binomial standard errors (+1e-4) of its rate."""
    hit, false_alarm = np.array([0.9, 0.6, 0.75]), np.array([0.05, 0.1, 0.2])
    surrogate = SurrogateRecognizer(C, hit, false_alarm)
    rng = np.random.default_rng(11)
    n = 20_000
    shown = np.repeat(np.arange(7), n)
    attributes = rng.random((shown.size, 3)) < 0.5
    recognized, detected = surrogate.recognize(shown, attributes, rng)
    for y in range(7):
        frequency = np.bincount(recognized[shown == y], minlength=7) / n
        assert np.all(np.abs(frequency - C[y]) < 5 * np.sqrt(C[y] * (1 - C[y]) / n) + 1e-4), y
    for a in range(3):
        for present, rate in ((True, hit[a]), (False, false_alarm[a])):
            rows = attributes[:, a] == present
            assert abs(detected[rows, a].mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / rows.sum())


def test_baum_welch_stops_at_the_first_gain_below_epsilon_eq10():
    rng = np.random.default_rng(12)
    a0, initial = base_chain(), np.full(8, 1 / 8)
    symbols = []
    for _ in range(12):
        state, sequence = rng.integers(8), []
        for _ in range(150):
            sequence.append(rng.choice(7, p=B[state]))
            state = rng.choice(8, p=a0[state])
        symbols.append(np.array(sequence))
    start = normalized(a0 + 0.05)
    for epsilon in (0.5, 1e-3):
        fitted = fit_baum_welch(symbols, start, normalized(B + 0.05), initial, epsilon=epsilon, params="t")
        gains = np.diff(fitted.history_)
        assert fitted.converged_ and len(gains) >= 1
        assert np.all(gains[:-1] >= epsilon) and gains[-1] < epsilon
        assert fitted.n_iter_ == len(fitted.history_)
        # params="t": only the chain moves; the start and the emissions stay as given.
        np.testing.assert_allclose(fitted.emissionprob_, normalized(B + 0.05), rtol=1e-12)
        np.testing.assert_allclose(fitted.startprob_, initial, rtol=1e-12)
        assert np.abs(fitted.transmat_ - start).max() > 1e-3
    assert EPSILON == 1e-4


def _em_step(sequences, start, chain, emission):
    """One Baum-Welch iteration by hand (scaled forward-backward, then the re-estimates): the new (start, chain,
    emission) and the log-likelihood of the data under the old ones."""
    start_sum, chain_sum, emission_sum, log_likelihood = np.zeros(8), np.zeros((8, 8)), np.zeros((8, 7)), 0.0
    for obs in sequences:
        n = len(obs)
        alpha, beta, scale = np.zeros((n, 8)), np.ones((n, 8)), np.zeros(n)
        for t in range(n):
            alpha[t] = (start if t == 0 else alpha[t - 1] @ chain) * emission[:, obs[t]]
            scale[t] = alpha[t].sum()
            alpha[t] /= scale[t]
        for t in range(n - 2, -1, -1):
            beta[t] = chain @ (emission[:, obs[t + 1]] * beta[t + 1]) / scale[t + 1]
        gamma = alpha * beta
        start_sum += gamma[0]
        for t in range(n - 1):
            chain_sum += alpha[t][:, None] * chain * (emission[:, obs[t + 1]] * beta[t + 1])[None, :] / scale[t + 1]
        for t in range(n):
            emission_sum[:, obs[t]] += gamma[t]
        log_likelihood += np.log(scale).sum()
    return normalized(start_sum), normalized(chain_sum), normalized(emission_sum), log_likelihood


def test_baum_welch_iterations_are_the_em_re_estimates_of_every_sequence_eq10():
    """Three sequences of unequal length (one of a single symbol), symbol 6 never seen, a start far from uniform:
    each iteration equals one EM step by hand, and the log-likelihood reported is that of the last iteration's
    parameters. ``params`` defaults to all three (start, transitions, emissions)."""
    rng = np.random.default_rng(13)
    sequences = [rng.integers(0, 6, 40), rng.integers(0, 6, 25), np.array([3])]
    start = normalized(rng.random(8) + 0.1)
    chain, emission = normalized(base_chain() + rng.random((8, 8)) * 0.05), normalized(B + 0.02)
    history, params = [], (start, chain, emission)
    for _ in range(3):
        *params, log_likelihood = _em_step(sequences, *params)
        history.append(log_likelihood)
    fitted = fit_baum_welch(sequences, chain, emission, start, epsilon=1e-12, max_iter=3)
    np.testing.assert_allclose(fitted.startprob_, params[0], atol=1e-9)
    np.testing.assert_allclose(fitted.transmat_, params[1], atol=1e-9)
    np.testing.assert_allclose(fitted.emissionprob_, params[2], atol=1e-9)
    np.testing.assert_allclose(fitted.history_, history, rtol=1e-9)
    assert fitted.log_likelihood_ == pytest.approx(history[-1], rel=1e-9) and fitted.n_iter_ == 3
    with pytest.raises(ValueError, match="non-empty"):
        fit_baum_welch([np.array([], dtype=int)], chain, emission, start)


def test_emission_model_rows_are_normalized_even_for_a_confusion_whose_rows_do_not_add_to_one():
    np.testing.assert_allclose(compose_emission(B, 2.5 * C), B @ C, atol=1e-12)


def test_in_loop_accuracy_counts_frames_for_recognition_and_present_ticks_for_beliefs():
    from test_science_measures import hand_record

    record = hand_record()
    record.expression[:] = np.array([[1, -1, 2], [0, 3, -1], [-1, 4, 5], [6, 0, -1]])
    log = RecognitionLog.allocate(4, 3, 8)
    log.recognized[:] = np.array([[1, -1, 3], [0, 3, -1], [-1, 4, 5], [5, 1, -1]])  # 5 of 8 frames right
    log.belief_state[:] = record.state
    log.belief_state[1, 1] = 0  # wrong, present
    log.belief_state[0, 1] = 0  # wrong, but student 1 is absent at tick 0
    got = in_loop_accuracy(record, log)
    assert got["recognition_accuracy"] == pytest.approx(5 / 8)
    assert got["belief_accuracy"] == pytest.approx(9 / 10)  # over the 10 present student-ticks
    assert got["frames_share"] == pytest.approx(8 / 10)  # present student-ticks with a frame: 2 + 2 + 2 + 2


def test_in_loop_accuracy_without_a_recognizer_or_anyone_present():
    from test_science_measures import hand_record

    record = hand_record()
    record.expression[:] = np.array([[1, -1, 2], [0, 3, -1], [-1, 4, 5], [6, 0, -1]])
    oracle = in_loop_accuracy(record, None)  # the oracle recognizes nothing: frames shown, no accuracies
    assert oracle == {"recognition_accuracy": None, "belief_accuracy": None, "frames_share": pytest.approx(8 / 10)}
    record.present[:] = False
    log = RecognitionLog.allocate(4, 3, 8)  # nothing recognized, no belief kept
    assert in_loop_accuracy(record, log) == {"recognition_accuracy": None, "belief_accuracy": None, "frames_share": 0.0}
    assert in_loop_accuracy(record, None)["frames_share"] == 0.0


def test_a_step_with_a_frame_mask_and_its_own_transitions_moves_beliefs_by_those_transitions():
    stored = np.array([[0.9, 0.1], [0.2, 0.8]])
    given = np.array([[0.3, 0.7], [0.6, 0.4]])  # this tick's chain, not the stored one
    emission = np.array([[0.7, 0.3], [0.1, 0.9]])
    initial = np.array([0.5, 0.5])
    f = BeliefFilter(stored, emission, initial, 2)
    f.step(np.array([0, 1]), np.array([True, True]))  # the first step uses the initial distribution
    before = f.belief.copy()
    after = f.step(np.array([1, 0]), np.array([True, False]), given)
    # Student 0 sees class 1; student 1 has no frame (only the prediction).
    prior = before @ given
    expected0 = prior[0] * emission[:, 1] / (prior[0] * emission[:, 1]).sum()
    np.testing.assert_allclose(after[0], expected0, rtol=1e-12)
    np.testing.assert_allclose(after[1], prior[1] / prior[1].sum(), rtol=1e-12)


@pytest.mark.parametrize("block", [1, 4 * 4 * 7])  # one tick's draws a call; seven ticks' (a lesson is 36 ticks)
def test_the_surrogate_in_the_loop_draws_the_same_numbers_whatever_block_of_ticks_it_draws_at_once(
    tmp_path_factory, monkeypatch, block
):
    """The observer draws the surrogate's U(0, 1) numbers a block of ticks at a time (the whole lesson when it fits in
    SURROGATE_DRAWS_BLOCK): the lesson's recognitions, beliefs and attention estimates are those of drawing them
    tick by tick, bit for bit."""
    import vclass.env.observers as observers

    cfg = replace_nested(SimConfig(), **{"classroom.students": 4, "classroom.minutes": 6.0})
    confusion = _confusion_file(tmp_path_factory.mktemp("c"))
    plan = {0: {0: 3, 1: 1}, 3: {0: 3, 2: 4}}
    logs = []
    for size in (observers.SURROGATE_DRAWS_BLOCK, block):
        monkeypatch.setattr(observers, "SURROGATE_DRAWS_BLOCK", size)
        observer = RecognitionObserver("surrogate", confusion_path=confusion)
        simulate(cfg, 5, Scripted(plan), observer)
        logs.append((observer.log, observer.attention()))
    (whole, attention), (blocks, attention_blocks) = logs
    np.testing.assert_array_equal(whole.recognized, blocks.recognized)
    np.testing.assert_array_equal(whole.tracked, blocks.tracked)
    np.testing.assert_array_equal(attention, attention_blocks)
