"""Small statistics shared by experiments: t-based confidence intervals, paired differences."""

from __future__ import annotations

import numpy as np
from scipy import stats


def _finite_with_mean(values: np.ndarray) -> tuple[np.ndarray, float]:
    """The finite values as float64 and their mean (NaN when none is left)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return values, float(values.mean()) if values.size else float("nan")


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the half-width of its t confidence interval: (mean, low, high); NaN width for n < 2."""
    values, mean = _finite_with_mean(values)
    if values.size < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean of ``a - b`` over paired samples (same seeds), its CI, Cohen's d_z and the paired t-test p-value."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean, low, high = mean_ci(diff, level)
    sd = diff.std(ddof=1) if diff.size > 1 else float("nan")
    p = float(stats.ttest_1samp(diff, 0.0).pvalue) if diff.size > 1 and sd > 0 else float("nan")
    return {
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "effect_size_dz": float(mean / sd) if sd else float("nan"),
        "p_value": p,
        "n": int(diff.size),
    }


BOOTSTRAP_RESAMPLES = 10_000


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``resamples`` resamples (with replacement) of ``values``; drawn in blocks to bound memory."""
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    block = max(1, 2_000_000 // max(1, values.size))
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        means[start:stop] = values[rng.integers(0, values.size, (stop - start, values.size))].mean(axis=1)
    return means


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and its percentile-bootstrap confidence interval over the samples (seeds): (mean, low, high).

    Non-finite values are dropped; NaN bounds for n < 2. Deterministic for a given ``seed``.
    """
    values, mean = _finite_with_mean(values)
    if values.size < 2:
        return mean, float("nan"), float("nan")
    means = _bootstrap_means(values, resamples, seed)
    low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return mean, float(low), float(high)


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, level: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> dict[str, float]:
    """Paired difference ``a - b`` (same seeds): mean, percentile-bootstrap CI, effect sizes and p-value.

    ``effect_size_dz`` is the mean difference over the sd of the differences (Cohen's d_z);
    ``effect_size_dav`` is the mean difference over the average of the two sds (Cumming's d_av, comparable
    with an unpaired d); ``p_value`` is the paired t-test's (1 when every difference is 0, 0 when they are all
    the same non-zero number). Pairs with a non-finite member are dropped.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    diff = a - b
    mean, low, high = bootstrap_ci(diff, level, resamples, seed)
    n = int(diff.size)
    sd_diff = float(diff.std(ddof=1)) if n > 1 else float("nan")
    sd_av = float((a.std(ddof=1) + b.std(ddof=1)) / 2) if n > 1 else float("nan")
    p = float(stats.ttest_1samp(diff, 0.0).pvalue) if n > 1 and sd_diff > 0 else float("nan")
    if n > 1 and sd_diff == 0:
        p = 1.0 if mean == 0 else 0.0
    return {
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "effect_size_dz": mean / sd_diff if sd_diff and np.isfinite(sd_diff) else float("nan"),
        "effect_size_dav": mean / sd_av if sd_av and np.isfinite(sd_av) else float("nan"),
        "p_value": p,
        "n": n,
    }
