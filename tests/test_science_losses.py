"""Known answers for SPEC §5's SCN-CS objectives (S3 eqs 2-6) and for how the training loop uses them.

The loss functions are checked against hand numbers; the loop is checked by watching a tiny training run (the
loss functions wrapped, never replaced) and recomputing from what they were given: the calibration weights reach
the classification loss, their EMA is stored from epoch to epoch, ``delta2`` adapts on validation accuracy, the
relabel threshold is ``delta2 * cw_i``, and the regularizer is eq 2 / eq 5 at the batch's ``delta1``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vclass.models import losses
from vclass.models.datasets import FaceSplit, dataset_meta, save_dataset
from vclass.models.train import TrainConfig, train_recognizer


# -- the loss functions ----------------------------------------------------------------------------------------------
def test_high_group_is_round_beta_n_kept_between_1_and_n_minus_1():
    assert [losses.high_group_size(n, 0.7) for n in (2, 5, 7, 10, 64)] == [1, 4, 5, 7, 45]
    assert losses.high_group_size(4, 0.99) == 3 and losses.high_group_size(4, 0.01) == 1


def test_rank_regularization_is_delta1_minus_the_gap_of_group_means_or_zero_eq2():
    alpha = torch.tensor([0.2, 0.9, 0.4, 0.8, 0.1])  # beta 0.6: the top 3 are 0.9, 0.8, 0.4
    gap = (0.9 + 0.8 + 0.4) / 3 - (0.2 + 0.1) / 2  # 0.55
    assert losses.rank_regularization(alpha, beta=0.6, delta1=0.7).item() == pytest.approx(0.7 - gap, abs=1e-6)
    assert losses.rank_regularization(alpha, beta=0.6, delta1=0.5).item() == 0.0
    gap_04 = (0.9 + 0.8) / 2 - (0.4 + 0.2 + 0.1) / 3  # beta 0.4: top 2
    assert losses.rank_regularization(alpha, beta=0.4, delta1=1.0).item() == pytest.approx(1.0 - gap_04, abs=1e-6)


def test_low_importance_group_is_everything_below_the_top_beta_ties_by_position():
    alpha = torch.tensor([0.5, 0.9, 0.5, 0.1, 0.5])
    assert losses.low_importance_mask(alpha, beta=0.6).tolist() == [False, False, False, True, True]


def test_relabel_takes_the_prediction_only_in_the_low_group_over_a_strict_margin_eq3():
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    labels = torch.tensor([1, 2, 1, 2])
    low = torch.tensor([True, True, False, True])
    # margins: 0.6 - 0.3 = 0.3, 0.6 - 0.1 = 0.5, (high group), label already the max
    new, changed = losses.relabel(probs, labels, low, threshold=torch.tensor([0.3, 0.4, 0.0, 0.0]))
    assert changed.tolist() == [False, True, False, False] and new.tolist() == [1, 0, 1, 2]


def test_calibration_weight_is_alpha_over_its_batch_mean_clipped_to_max_eq4():
    alpha = torch.tensor([0.2, 0.4, 0.6, 1.8])  # mean 0.75
    torch.testing.assert_close(losses.batch_calibration_weights(alpha), torch.tensor([0.2, 0.4, 0.6, 1.8]) / 0.75)
    torch.testing.assert_close(losses.batch_calibration_weights(alpha, max_weight=2.0)[-1], torch.tensor(2.0))
    stored = losses.update_calibration_ema(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 0.0]), momentum=0.7)
    torch.testing.assert_close(stored, torch.tensor([0.7 * 1 + 0.3 * 3, 0.7 * 2 + 0.3 * 0]))


def test_calibrated_cross_entropy_is_the_weighted_mean_of_per_sample_cross_entropy_eq4():
    logits = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]])
    labels = torch.tensor([0, 2])
    ce = [math.log(math.exp(1) + math.exp(2) + 1) - 1.0, math.log(math.exp(0.5) + math.exp(-1) + math.exp(3)) - 3.0]
    got = losses.calibrated_cross_entropy(logits, labels, torch.tensor([0.4, 2.5]))
    assert got.item() == pytest.approx((0.4 * ce[0] + 2.5 * ce[1]) / 2, rel=1e-6)


def test_cs_loss_is_rank_regularization_plus_gamma_times_mean_alpha_of_the_misclassified_eq5():
    alpha = torch.tensor([0.9, 0.3, 0.6, 0.2])
    logits = torch.tensor([[0.0, 1.0], [2.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # predicted 1, 0, 1, 1
    labels = torch.tensor([0, 0, 1, 0])  # samples 0 and 3 misclassified
    rank = (0.9 + 0.6) / 2 - (0.3 + 0.2) / 2  # beta 0.5
    expected = max(0.0, 0.8 - rank) + 0.3 * (0.9 + 0.2) / 2
    got = losses.cs_loss(alpha, logits, labels, beta=0.5, delta1=0.8, gamma=0.3)
    assert got.item() == pytest.approx(expected, abs=1e-6)


def test_loss_defaults_are_spec_beta_07_delta1_015_and_gamma_01():
    alpha = torch.tensor([0.52, 0.5, 0.51, 0.49, 0.505, 0.495, 0.5, 0.48, 0.515, 0.485])
    logits = torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5)
    labels = torch.tensor([0, 1] * 5)
    ordered = sorted(alpha.tolist(), reverse=True)
    rank = max(0.0, 0.15 - (np.mean(ordered[:7]) - np.mean(ordered[7:])))  # beta 0.7 of 10: the top 7
    wrong = [1, 3, 6, 8]  # predicted 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 against labels 0, 1, 0, 1, ...
    expected = rank + 0.1 * alpha[wrong].mean().item()
    assert losses.cs_loss(alpha, logits, labels).item() == pytest.approx(expected, abs=1e-6)
    assert losses.rank_regularization(alpha).item() == pytest.approx(rank, abs=1e-6)
    assert losses.low_importance_mask(alpha).sum().item() == 3
    cw = torch.tensor([0.5, 5.0])
    assert losses.batch_calibration_weights(cw)[1].item() == pytest.approx(5.0 / 2.75)
    assert losses.batch_calibration_weights(torch.tensor([0.1, 0.1, 0.1, 2.0]))[3].item() == 3.0
    stored = losses.update_calibration_ema(torch.tensor([1.0]), torch.tensor([2.0]))
    assert stored.item() == pytest.approx(1.1)


def test_calibrated_threshold_is_delta2_times_cw_eq6_or_over_cw_in_the_divide_reading():
    weights = torch.tensor([0.5, 2.0, 0.0])
    torch.testing.assert_close(losses.calibrated_threshold(0.3, weights), torch.tensor([0.15, 0.6, 0.0]))
    divided = losses.calibrated_threshold(0.3, weights, "divide")
    torch.testing.assert_close(divided, torch.tensor([0.6, 0.15, 0.3 / 1e-6]))  # cw floored at 1e-6
    with pytest.raises(ValueError, match="'multiply' or 'divide'"):
        losses.calibrated_threshold(0.3, weights, "add")


@pytest.mark.parametrize(
    "delta2, now, previous, expected",
    [(0.2, 0.5, 0.6, 0.22), (0.2, 0.7, 0.6, 0.19), (0.2, 0.6, 0.6, 0.2), (0.2, 0.6, None, 0.2), (0.48, 0.1, 0.2, 0.5)],
)
def test_delta2_grows_by_11_percent_when_accuracy_fell_shrinks_5_percent_when_it_rose_clipped_eq6(
    delta2, now, previous, expected
):
    assert losses.adapt_delta2(delta2, now, previous) == pytest.approx(expected)
    assert losses.adapt_delta2(0.052, 0.9, 0.8) == 0.05


def test_delta1_falls_by_002_per_halving_of_the_batch_from_015_at_1024():
    assert [losses.scaled_delta1(b) for b in (1024, 512, 64, 32, 4096)] == pytest.approx([0.15, 0.13, 0.07, 0.05, 0.19])
    assert losses.scaled_delta1(2) == 0.01 and losses.scaled_delta1(2**20) == pytest.approx(0.3)


# -- the training loop -----------------------------------------------------------------------------------------------
def _split(rng: np.random.Generator, n: int) -> FaceSplit:
    """16x16 frames: a class-dependent blob plus noise, so that a tiny net learns something and its accuracy moves."""
    labels = rng.integers(0, 7, n)
    yy, xx = np.mgrid[:16, :16]
    images = rng.normal(100, 30, (n, 16, 16))
    for i, y in enumerate(labels):
        images[i] += 120 * np.exp(-((yy - 2 * y - 2) ** 2 + (xx - 8) ** 2) / 8)
    return FaceSplit(
        images=np.clip(images, 0, 255).astype(np.uint8),
        labels=labels,
        clean_labels=labels,
        attributes=np.zeros((n, 3), dtype=np.uint8),
        intensity=np.ones(n, dtype=np.float32),
    )


@pytest.fixture(scope="module")
def blobs(tmp_path_factory):
    rng = np.random.default_rng(0)
    splits = {"train": _split(rng, 96), "val": _split(rng, 60), "test": _split(rng, 14)}
    out = tmp_path_factory.mktemp("blobs")
    meta = dataset_meta(seed=0, splits=splits, noise_kind=None, noise_rate=0.0, source="test", has_attributes=False)
    save_dataset(out, splits, meta)
    return out


class Watch:
    """Wraps the loss functions the loop calls and keeps what each call got and gave."""

    NAMES = ("batch_calibration_weights", "update_calibration_ema", "calibrated_cross_entropy", "relabel", "cs_loss")

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, tuple, object]] = []
        for name in self.NAMES:
            monkeypatch.setattr(losses, name, self._wrap(name, getattr(losses, name)))

    def _wrap(self, name, function):
        def watched(*args, **kwargs):
            result = function(*args, **kwargs)
            kept = tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)
            self.calls.append((name, kept, result))
            return result

        return watched

    def steps(self):
        """Per expression step: a dict name -> (args, result)."""
        steps, current = [], {}
        for name, args, result in self.calls:
            if name in current:  # each function is called once per step: a repeat starts the next step
                steps.append(current)
                current = {}
            current[name] = (args, result)
        steps.append(current)
        return steps


def _train(blobs, tmp_path, model: str, monkeypatch, **changes):
    """Train on ``blobs`` watching the loss functions: (history, steps, saved checkpoint)."""
    watch = Watch(monkeypatch)
    settings = {
        "widths": (4, 8, 8, 16),
        "attributes": False,
        "attribute_batches": 0,
        "augment": False,
        "batch_size": 32,
        "epochs": 5,
        "relabel_start_epoch": 2,
        "lr": 1e-2,
        "threads": 1,
        "progress": False,
    }
    config = TrainConfig(model=model, data=str(blobs), out=str(tmp_path / model), **{**settings, **changes})
    result = train_recognizer(config)
    saved = torch.load(tmp_path / model / "checkpoint.pt", weights_only=True)
    return result.history, watch.steps(), saved


def _hand_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return -torch.log_softmax(logits.double(), dim=1).gather(1, labels.view(-1, 1)).squeeze(1)


def _hand_rank_regularization(alpha: torch.Tensor, beta: float, delta1: float) -> float:
    ordered = sorted(alpha.tolist(), reverse=True)
    k = min(max(round(beta * len(ordered)), 1), len(ordered) - 1)
    return max(0.0, delta1 - (np.mean(ordered[:k]) - np.mean(ordered[k:])))


def test_scn_cs_loop_weights_the_loss_by_the_stored_calibration_ema_adapts_delta2_and_regularizes_by_cs_loss(
    blobs, tmp_path, monkeypatch
):
    """One watched scn-cs run (5 epochs; relabeling and eq 5's term from epoch 2; gamma 0.4), three checks: eq 4's
    weights in the loss and their EMA carried from epoch to epoch, eq 6's delta2 and relabel threshold, eq 2/5's
    regularizer. (One test, not three sharing a fixture: mutation testing maps the code a fixture runs to the
    first test that uses it.)"""
    history, steps, saved = _train(blobs, tmp_path, "scn-cs", monkeypatch, gamma=0.4)
    _check_calibration_weights_in_the_loss_and_their_ema_across_epochs(steps, saved)
    _check_delta2_adaptation_and_relabel_threshold(history, steps, saved)
    _check_regularizer_is_cs_loss(history, steps)


def _check_calibration_weights_in_the_loss_and_their_ema_across_epochs(steps, saved):
    assert len(steps) == 5 * 3  # 96 samples in batches of 32, 5 epochs
    outputs_by_epoch = []
    for epoch in range(5):
        for step in steps[3 * epoch : 3 * epoch + 3]:
            (alpha,), batch_cw = step["batch_calibration_weights"][0][:1], step["batch_calibration_weights"][1]
            hand_cw = torch.clamp(alpha / alpha.mean(), 0, 3)
            torch.testing.assert_close(batch_cw, hand_cw)
            (ema_in, _, momentum), ema_out = step["update_calibration_ema"]
            assert momentum == 0.9
            torch.testing.assert_close(ema_out, 0.9 * ema_in + 0.1 * hand_cw)
            (logits, labels, weights), ce = step["calibrated_cross_entropy"]
            assert weights is not None
            torch.testing.assert_close(weights, ema_out)  # eq 4: the loss uses this step's stored weights
            hand = (ema_out.double() * _hand_cross_entropy(logits, labels)).mean()
            assert ce.item() == pytest.approx(hand.item(), rel=1e-5)
            outputs_by_epoch.append((epoch, ema_in, ema_out))
    # Epoch 1 starts every sample at 1; each later epoch starts each sample where the one before left it.
    firsts = {e: torch.cat([i for ep, i, _ in outputs_by_epoch if ep == e]) for e in range(5)}
    lasts = {e: torch.cat([o for ep, _, o in outputs_by_epoch if ep == e]) for e in range(5)}
    assert bool((firsts[0] == 1).all())
    for e in range(1, 5):
        assert not bool((firsts[e] == 1).all())
        torch.testing.assert_close(torch.sort(firsts[e]).values, torch.sort(lasts[e - 1]).values)
    stored = saved["labels"]["calibration"]
    torch.testing.assert_close(torch.sort(stored).values, torch.sort(lasts[4]).values)


def _check_delta2_adaptation_and_relabel_threshold(history, steps, saved):
    delta2 = [r["delta2"] for r in history] + [saved["state"]["delta2"]]
    val = [r["val_acc"] for r in history]
    assert delta2[0] == 0.2 and delta2[1] == 0.2  # the first epoch has nothing to compare with
    for e in range(1, 5):
        factor = 1.1 if val[e] < val[e - 1] else 0.95 if val[e] > val[e - 1] else 1.0
        assert delta2[e + 1] == pytest.approx(min(max(delta2[e] * factor, 0.05), 0.5)), (e, val)
    assert len(set(val)) > 1 and len(set(delta2)) > 1  # the run did move delta2
    for index, step in enumerate(steps):
        epoch = index // 3
        if epoch + 1 < 2:  # relabel_start_epoch = 2
            assert "relabel" not in step
            continue
        (_, _, _, threshold), _ = step["relabel"]
        torch.testing.assert_close(threshold, delta2[epoch] * step["update_calibration_ema"][1])


def _check_regularizer_is_cs_loss(history, steps):
    delta1 = 0.15 - 0.02 * 5  # batch 32 is five halvings below 1024
    for epoch in range(5):
        values = []
        for step in steps[3 * epoch : 3 * epoch + 3]:
            (alpha, logits, labels, beta, d1, gamma), _ = step["cs_loss"]
            assert d1 == pytest.approx(delta1) and beta == 0.7 and gamma == (0.4 if epoch + 1 >= 2 else 0.0)
            wrong = logits.argmax(dim=1) != labels
            extra = gamma * alpha[wrong].mean().item() if wrong.any() else 0.0
            values.append(_hand_rank_regularization(alpha, 0.7, delta1) + extra)
        assert history[epoch]["regularizer"] == pytest.approx(np.mean(values), rel=1e-5, abs=1e-7)


def test_scn_loop_uses_plain_cross_entropy_eq2_and_a_fixed_delta2(blobs, tmp_path, monkeypatch):
    history, steps, _ = _train(blobs, tmp_path, "scn", monkeypatch, epochs=3)
    assert [r["delta2"] for r in history] == [0.2, 0.2, 0.2]
    relabels = 0
    for step in steps:
        assert "batch_calibration_weights" not in step and "cs_loss" not in step
        (logits, labels, weights), ce = step["calibrated_cross_entropy"]
        assert weights is None and ce.item() == pytest.approx(_hand_cross_entropy(logits, labels).mean().item(), 1e-5)
        if "relabel" in step:
            relabels += 1
            assert step["relabel"][0][3] == 0.2
    assert relabels == 6  # epochs 2 and 3


def test_rank_regularization_and_the_low_group_at_the_smallest_batches():
    # A batch of one: no groups, a loss of exactly 0 (with a gradient of 0, not NaN).
    one = torch.tensor([0.3], requires_grad=True)
    loss = losses.rank_regularization(one, beta=0.7, delta1=0.15)
    loss.backward()
    assert loss.item() == 0.0 and one.grad is not None and one.grad.item() == 0.0
    assert not losses.low_importance_mask(torch.tensor([0.3])).any()
    # A batch of two: one sample in each group (round(0.7 * 2) = 1), the gap 0.55 - 0.50.
    two = torch.tensor([0.50, 0.55])
    assert losses.rank_regularization(two, beta=0.7, delta1=0.15).item() == pytest.approx(0.15 - 0.05)
    assert losses.low_importance_mask(two).tolist() == [True, False]


def test_the_margin_of_a_batch_of_one_or_two_is_read_at_two():
    # 0.5 - 0.02 * log2(1024 / 2) = 0.32 (inside the clip [0.01, 1.0]); a batch of one counts as two.
    assert losses.scaled_delta1(2, 0.5) == pytest.approx(0.5 - 0.02 * 9)
    assert losses.scaled_delta1(1, 0.5) == losses.scaled_delta1(2, 0.5)
    assert losses.scaled_delta1(3, 0.5) == pytest.approx(0.5 - 0.02 * math.log2(1024 / 3))
