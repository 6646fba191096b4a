"""SCN and SCN-CS training objectives (S3 eqs 2-6, as SPEC §5 reads them).

``alpha`` is the per-sample importance from S3 eq 1 (:mod:`vclass.models.nets`),
shape ``(N,)``. The pieces:

- :func:`rank_regularization` (eq 2) and :func:`scaled_delta1` (its margin at a given batch size);
- :func:`low_importance_mask` and :func:`relabel` (eq 3), with a scalar or per-sample threshold;
- :func:`batch_calibration_weights` and :func:`update_calibration_ema` (eq 4), and
  :func:`calibrated_cross_entropy`, the eq 4 classification loss ``mean_i(cw_i * CE_i)``;
- :func:`cs_loss` (eq 5), replacing ``L_RR`` in SCN-CS;
- :func:`calibrated_threshold` and :func:`adapt_delta2` (eq 6).

All functions are pure (no state); :mod:`vclass.models.train` keeps the per-sample
calibration weights and ``delta2`` between batches and epochs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# SPEC §5 defaults (the training config holds the values a run uses).
RR_REFERENCE_BATCH = 1024  # delta1 = 0.15 is quoted at this batch size
RR_REFERENCE_DELTA1 = 0.15
RR_DELTA1_PER_DOUBLING = 0.02  # gives "about 0.07 at batch 64"


def scaled_delta1(batch_size: int, delta1_at_1024: float = RR_REFERENCE_DELTA1) -> float:
    """Rank-regularization margin for a batch size (S3 eq 2's ``delta1``).

    SPEC gives 0.15 at batch 1024 and about 0.07 at batch 64: the gap between
    the group means shrinks with the batch because small batches hold fewer
    outliers. We read that as linear in ``log2(batch)``, 0.02 per doubling,
    clipped to ``[0.01, 2 * delta1_at_1024]``.
    """
    value = delta1_at_1024 - RR_DELTA1_PER_DOUBLING * math.log2(RR_REFERENCE_BATCH / max(batch_size, 2))
    return float(min(max(value, 0.01), 2 * delta1_at_1024))


def high_group_size(n: int, beta: float) -> int:
    """Samples in the high-importance group: ``round(beta * n)``, at least 1 and at most ``n - 1``."""
    return int(min(max(round(beta * n), 1), n - 1))


def rank_regularization(alpha: torch.Tensor, beta: float = 0.7, delta1: float = 0.15) -> torch.Tensor:
    """S3 eq 2: ``L_RR = max(0, delta1 - (mean_H - mean_L))``.

    ``alpha`` is sorted within the batch; the top ``beta`` fraction is the high
    group H, the rest the low group L. A batch of one sample gives 0.

    :param alpha: importance weights, shape ``(N,)``.
    :param beta: share of the batch in the high group.
    :param delta1: required margin between the group means.
    """
    n = alpha.shape[0]
    if n < 2:
        return alpha.sum() * 0.0
    k = high_group_size(n, beta)
    ordered, _ = torch.sort(alpha, descending=True)
    gap = ordered[:k].mean() - ordered[k:].mean()
    return torch.clamp(delta1 - gap, min=0.0)


def low_importance_mask(alpha: torch.Tensor, beta: float = 0.7) -> torch.Tensor:
    """Boolean ``(N,)``: the samples outside the top-``beta`` importance group (eq 2's L group).

    Ties are broken by position (stable sort), so exactly ``N - high_group_size(N, beta)`` are True.
    """
    n = alpha.shape[0]
    mask = torch.zeros(n, dtype=torch.bool, device=alpha.device)
    if n < 2:
        return mask
    order = torch.argsort(alpha.detach(), descending=True, stable=True)
    mask[order[high_group_size(n, beta) :]] = True
    return mask


def relabel(
    probs: torch.Tensor, labels: torch.Tensor, low_mask: torch.Tensor, threshold: float | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """S3 eq 3 (and eq 6 with a per-sample threshold): relabel uncertain, confidently-contradicted samples.

    A sample in the low-importance group whose ``P_max - P_label > threshold``
    takes the predicted label ``argmax P``; every other label is kept.

    :param probs: softmax probabilities, ``(N, C)``.
    :param labels: current labels, ``(N,)`` int64.
    :param low_mask: ``(N,)`` bool, from :func:`low_importance_mask`.
    :param threshold: ``delta2`` (scalar, eq 3) or ``delta2 * cw_i`` (``(N,)``, eq 6).
    :returns: ``(new_labels, changed)`` where ``changed`` is a ``(N,)`` bool mask.
    """
    probs = probs.detach()
    p_max, predicted = probs.max(dim=1)
    p_label = probs.gather(1, labels.view(-1, 1)).squeeze(1)
    changed = low_mask & (p_max - p_label > threshold) & (predicted != labels)
    return torch.where(changed, predicted, labels), changed


def batch_calibration_weights(alpha: torch.Tensor, max_weight: float = 3.0) -> torch.Tensor:
    """S3 eq 4 (batch part): ``cw_i = clip(alpha_i / mean_batch(alpha), 0, max_weight)``, detached."""
    alpha = alpha.detach()
    return torch.clamp(alpha / alpha.mean().clamp_min(1e-12), 0.0, max_weight)


def update_calibration_ema(ema: torch.Tensor, batch_cw: torch.Tensor, momentum: float = 0.9) -> torch.Tensor:
    """S3 eq 4 (across epochs): ``cw <- momentum * cw + (1 - momentum) * cw_batch`` for the batch's samples.

    :param ema: the stored weights of the batch's samples (start at 1).
    :param batch_cw: this batch's :func:`batch_calibration_weights`.
    :returns: the new stored weights (detached).
    """
    return (momentum * ema + (1.0 - momentum) * batch_cw).detach()


def calibrated_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """S3 eq 4 classification loss ``mean_i(cw_i * CE_i)``; plain mean CE when ``weights`` is None."""
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    if weights is None:
        return per_sample.mean()
    return (weights.detach() * per_sample).mean()


def cs_loss(
    alpha: torch.Tensor,
    logits: torch.Tensor,
    labels: torch.Tensor,
    beta: float = 0.7,
    delta1: float = 0.15,
    gamma: float = 0.1,
) -> torch.Tensor:
    """S3 eq 5: ``L_CS = L_RR + gamma * (1/M) * sum_{i misclassified} alpha_i`` (0 extra when M = 0).

    Pushing misclassified samples' importance down keeps confidently wrong
    (likely mislabeled) samples out of the high group.
    """
    loss = rank_regularization(alpha, beta, delta1)
    wrong = logits.detach().argmax(dim=1) != labels
    if bool(wrong.any()):
        loss = loss + gamma * alpha[wrong].mean()
    return loss


def calibrated_threshold(delta2: float, weights: torch.Tensor, reading: str = "multiply") -> torch.Tensor:
    """S3 eq 6: the per-sample relabel threshold ``delta2 * cw_i`` (SPEC's reading, ``multiply``).

    Under that reading a low-importance sample (``cw_i < 1``) is relabeled on a *smaller* margin than SCN's
    fixed ``delta2``. The ``divide`` reading, ``delta2 / cw_i``, asks it for a wider one instead (``cw_i``
    floored at 1e-6, so the threshold stays finite).
    """
    if reading == "multiply":
        return delta2 * weights
    if reading == "divide":
        return delta2 / weights.clamp_min(1e-6)
    raise ValueError(f"reading must be 'multiply' or 'divide', got {reading!r}")


def adapt_delta2(
    delta2: float,
    val_acc: float,
    previous_val_acc: float | None,
    grow: float = 1.1,
    shrink: float = 0.95,
    low: float = 0.05,
    high: float = 0.5,
) -> float:
    """S3 eq 6's adaptive ``delta2``, once per epoch on validation accuracy.

    Relabel more cautiously when accuracy fell (``x grow``), more freely when it
    rose (``x shrink``); unchanged on the first epoch or a tie; clipped to ``[low, high]``.
    """
    if previous_val_acc is not None:
        if val_acc < previous_val_acc:
            delta2 *= grow
        elif val_acc > previous_val_acc:
            delta2 *= shrink
    return float(min(max(delta2, low), high))
