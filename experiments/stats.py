"""Small statistics shared by experiments: t-based confidence intervals, paired differences."""

from __future__ import annotations

import numpy as np
from scipy import stats


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the half-width of its t confidence interval: (mean, low, high); NaN width for n < 2."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
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
    return {"mean": mean, "ci_low": low, "ci_high": high, "effect_size_dz": float(mean / sd) if sd else float("nan"),
            "p_value": p, "n": int(diff.size)}
