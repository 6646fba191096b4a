"""SCN / SCN-CS objectives on hand-built inputs (S3 eqs 2-6 as SPEC §5 reads them)."""

from __future__ import annotations

import math

import pytest
import torch

from vclass.models import losses


def test_rank_regularization_eq2_on_a_hand_built_alpha_vector():
    # 10 samples, beta 0.7: high group = the 7 largest, low group = the 3 smallest
    alpha = torch.tensor([0.9, 0.1, 0.8, 0.7, 0.2, 0.6, 0.5, 0.3, 0.4, 0.55])
    mean_high = (0.9 + 0.8 + 0.7 + 0.6 + 0.55 + 0.5 + 0.4) / 7
    mean_low = (0.3 + 0.2 + 0.1) / 3
    gap = mean_high - mean_low  # 0.4214...
    assert losses.rank_regularization(alpha, beta=0.7, delta1=0.5).item() == pytest.approx(0.5 - gap, abs=1e-6)
    assert losses.rank_regularization(alpha, beta=0.7, delta1=0.15).item() == 0.0  # margin already met


def test_rank_regularization_pushes_the_groups_apart():
    alpha = torch.full((8,), 0.5, requires_grad=True)
    with torch.no_grad():
        alpha += torch.linspace(0, 0.01, 8)
    loss = losses.rank_regularization(alpha, beta=0.5, delta1=0.15)
    loss.backward()
    ordered = torch.argsort(alpha.detach(), descending=True)
    assert loss.item() > 0
    assert bool((alpha.grad[ordered[:4]] < 0).all()) and bool((alpha.grad[ordered[4:]] > 0).all())


def test_rank_regularization_of_a_single_sample_is_zero():
    assert losses.rank_regularization(torch.tensor([0.3])).item() == 0.0


def test_delta1_is_015_at_batch_1024_and_about_007_at_batch_64():
    assert losses.scaled_delta1(1024) == pytest.approx(0.15)
    assert losses.scaled_delta1(64) == pytest.approx(0.07)
    assert losses.scaled_delta1(128) < losses.scaled_delta1(256) < losses.scaled_delta1(512)


def test_relabeling_changes_exactly_the_low_group_samples_over_the_threshold_eq3():
    alpha = torch.tensor([0.9, 0.8, 0.7, 0.2, 0.1, 0.15])  # beta 0.5 -> low group = samples 3, 4, 5
    probs = torch.tensor(
        [
            [0.1, 0.8, 0.1],  # high group, contradicts its label strongly -> kept (not in the low group)
            [0.6, 0.3, 0.1],
            [0.2, 0.2, 0.6],
            [0.1, 0.7, 0.2],  # low, label 0: 0.7 - 0.1 = 0.6 > 0.2 -> becomes 1
            [0.35, 0.45, 0.2],  # low, label 0: 0.45 - 0.35 = 0.1 <= 0.2 -> kept
            [0.05, 0.15, 0.8],  # low, label 2 already the max -> kept
        ]
    )
    labels = torch.tensor([0, 0, 2, 0, 0, 2])
    low = losses.low_importance_mask(alpha, beta=0.5)
    assert low.tolist() == [False, False, False, True, True, True]
    new, changed = losses.relabel(probs, labels, low, threshold=0.2)
    assert changed.tolist() == [False, False, False, True, False, False]
    assert new.tolist() == [0, 0, 2, 1, 0, 2]


def test_calibrated_threshold_eq6_relabels_by_per_sample_weight():
    probs = torch.tensor([[0.2, 0.7, 0.1], [0.2, 0.7, 0.1]])
    labels = torch.tensor([0, 0])
    low = torch.tensor([True, True])
    weights = torch.tensor([0.5, 3.0])  # thresholds 0.1 and 0.6; the margin is 0.5
    threshold = losses.calibrated_threshold(0.2, weights)
    torch.testing.assert_close(threshold, torch.tensor([0.1, 0.6]))
    _, changed = losses.relabel(probs, labels, low, threshold)
    assert changed.tolist() == [True, False]


def test_divide_reading_of_eq6_asks_low_importance_samples_for_a_wider_margin():
    probs = torch.tensor([[0.2, 0.7, 0.1], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1]])
    labels = torch.tensor([0, 0, 0])
    low = torch.tensor([True, True, True])
    weights = torch.tensor([0.5, 2.0, 0.0])  # thresholds 0.4, 0.1 and (floored cw) huge; the margin is 0.5
    threshold = losses.calibrated_threshold(0.2, weights, "divide")
    torch.testing.assert_close(threshold[:2], torch.tensor([0.4, 0.1]))
    assert torch.isfinite(threshold).all() and threshold[2] > 1
    _, changed = losses.relabel(probs, labels, low, threshold)
    assert changed.tolist() == [True, True, False]
    # the same weights under SPEC's reading: 0.1, 0.4, 0.0
    _, changed = losses.relabel(probs, labels, low, losses.calibrated_threshold(0.2, weights))
    assert changed.tolist() == [True, True, True]
    with pytest.raises(ValueError, match="multiply"):
        losses.calibrated_threshold(0.2, weights, "add")


def test_calibration_weights_are_alpha_over_batch_mean_clipped_to_3_and_detached_eq4():
    alpha = torch.tensor([0.1, 0.1, 0.1, 0.9], requires_grad=True)  # mean 0.3
    cw = losses.batch_calibration_weights(alpha)
    torch.testing.assert_close(cw, torch.tensor([1 / 3, 1 / 3, 1 / 3, 3.0]))
    assert not cw.requires_grad
    alpha2 = torch.tensor([0.01, 0.01, 0.01, 0.01, 0.96])  # 0.96 / 0.2 = 4.8 -> clipped
    assert losses.batch_calibration_weights(alpha2)[-1].item() == pytest.approx(3.0)


def test_calibration_ema_moves_a_tenth_of_the_way_each_epoch_eq4():
    stored = torch.ones(2)
    for _ in range(2):
        stored = losses.update_calibration_ema(stored, torch.tensor([0.0, 2.0]), momentum=0.9)
    torch.testing.assert_close(stored, torch.tensor([0.81, 1.19]))


def test_calibrated_cross_entropy_weights_each_sample():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 0])
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    weighted = losses.calibrated_cross_entropy(logits, labels, torch.tensor([2.0, 0.5]))
    assert weighted.item() == pytest.approx(((2.0 * ce[0] + 0.5 * ce[1]) / 2).item())
    assert losses.calibrated_cross_entropy(logits, labels).item() == pytest.approx(ce.mean().item())


def test_cs_loss_adds_gamma_times_mean_alpha_of_misclassified_samples_eq5():
    alpha = torch.tensor([0.9, 0.8, 0.3, 0.2])
    logits = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.0, 3.0]])
    labels = torch.tensor([0, 0, 0, 0])  # samples 1 and 3 are misclassified
    rr = losses.rank_regularization(alpha, 0.5, 0.7)
    expected = rr + 0.1 * (0.8 + 0.2) / 2
    assert losses.cs_loss(alpha, logits, labels, beta=0.5, delta1=0.7, gamma=0.1).item() == pytest.approx(
        expected.item()
    )
    all_right = torch.tensor([0, 1, 0, 1])
    assert losses.cs_loss(alpha, logits, all_right, 0.5, 0.7, 0.1).item() == pytest.approx(rr.item())


@pytest.mark.parametrize(
    "previous, now, expected",
    [
        (None, 0.8, 0.2),  # first epoch: unchanged
        (0.80, 0.70, 0.22),  # accuracy fell: x1.1
        (0.70, 0.80, 0.19),  # accuracy rose: x0.95
        (0.80, 0.80, 0.2),  # tie: unchanged
    ],
)
def test_delta2_adapts_on_validation_accuracy_eq6(previous, now, expected):
    assert losses.adapt_delta2(0.2, now, previous) == pytest.approx(expected)


def test_delta2_is_clipped_to_005_05():
    assert losses.adapt_delta2(0.49, 0.1, 0.9) == 0.5
    assert losses.adapt_delta2(0.051, 0.9, 0.1) == 0.05
    value = 0.2
    for _ in range(100):
        value = losses.adapt_delta2(value, 0.5, 0.6)
    assert math.isclose(value, 0.5)
