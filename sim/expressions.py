"""What each student's face shows at a tick (SPEC §4): a fact of the world, drawn before anyone looks.

Each tick every student's hidden state ``s`` emits an expression class ``y ~ B(s, ·)`` over the seven classes,
at an intensity ``~ Beta(m c, (1 - m) c)`` whose mean ``m = expressiveness_k * level`` rises with arousal (the
config's ``intensity_high_arousal`` or ``intensity_low_arousal``) and with the student's expressiveness; low
intensities make genuinely ambiguous faces. The classroom draws them (:meth:`vclass.sim.classroom.Classroom.advance`)
for the observer watching the class; only students who are online with their camera on show them to it.
"""

from __future__ import annotations

import functools

import numpy as np

from vclass.sim.config import FramesConfig
from vclass.sim.emotion import HIGH_AROUSAL


def sample_rows(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Draw one index per row of ``probabilities`` (n, k) with the given U(0,1) draws (n,)."""
    cumulative = np.cumsum(probabilities, axis=1)
    return np.minimum((uniforms[:, None] * cumulative[:, -1:] > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def sample_cumulative(cumulative: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """:func:`sample_rows` from the rows' cumulative sums ``np.cumsum(probabilities, axis=1)``, for rows of
    non-negative probabilities (the same draws, faster).

    Callers sampling rows of a fixed table keep the table's cumulative sum (the cumulative sum of picked
    rows is the picked rows of the cumulative sum). With non-negative probabilities the cumulative rows do
    not decrease, so the entries below ``u * total`` are a prefix of the row, and ``u < 1`` keeps the last
    entry out of it: the index :func:`sample_rows` counts is the first entry not below.
    """
    return (uniforms[:, None] * cumulative[:, -1:] > cumulative).argmin(axis=1)


class ExpressionDraws:
    """The expressions and intensities of one lesson's students, drawn tick by tick.

    :param frames: the frames config (emission ``B`` and the intensity law).
    :param expressiveness: each student's expressiveness (N,).
    """

    def __init__(self, frames: FramesConfig, expressiveness: np.ndarray):
        n = expressiveness.shape[0]
        self._emission_cumulative = np.cumsum(np.asarray(frames.emission), axis=1)
        self._uniforms = np.empty(n)
        # Beta parameters of each student's intensity, (high-arousal, low-arousal) states:
        # mean = expressiveness * level, a = max(mean c, 1e-3), b = max((1 - mean) c, 1e-3).
        c = frames.intensity_concentration
        means = [expressiveness * level for level in (frames.intensity_high_arousal, frames.intensity_low_arousal)]
        self._a = [np.maximum(mean * c, 1e-3) for mean in means]
        self._b = [np.maximum((1 - mean) * c, 1e-3) for mean in means]
        # The same draws as chi-square pairs (N, 2), df = 2a and 2b, when every Beta takes that route (see draw).
        by_gamma = all((np.maximum(a, b) > 1.0).all() for a, b in zip(self._a, self._b, strict=True))
        self._dfs = (
            [2.0 * np.column_stack([a, b]) for a, b in zip(self._a, self._b, strict=True)]
            if by_gamma and _beta_is_chisquare_ratio()
            else None
        )

    def draw(
        self, state: np.ndarray, rng: np.random.Generator, intensity: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Every student's expression class (N,) and, with ``intensity``, its intensity (N,) at states ``state``.

        A fixed count of draws per tick, whatever is shown to whom: N uniforms for the classes, then (with
        ``intensity``) the intensities' gamma draws; draws nobody uses are not made. When every Beta has
        ``max(a, b) > 1``, numpy draws it as ``Ga / (Ga + Gb)`` from two standard gammas in a row, and a chi-square
        with ``2a`` degrees of freedom is ``2 Ga`` from the same gamma draw: one chi-square call on the (2a, 2b)
        pairs makes the same draws as ``beta`` and gives the same ratio, at a third of the per-call overhead (numpy
        checks its arguments in Python).
        """
        uniforms = rng.random(out=self._uniforms)  # drawn into a scratch array, read only here
        expression = sample_cumulative(self._emission_cumulative.take(state, axis=0), uniforms)
        if not intensity:
            return expression, None
        high = HIGH_AROUSAL.take(state)
        if self._dfs is None:
            return expression, rng.beta(np.where(high, *self._a), np.where(high, *self._b))
        doubled = rng.chisquare(np.where(high[:, None], *self._dfs))  # 2 Ga, 2 Gb per student
        return expression, doubled[:, 0] / (doubled[:, 0] + doubled[:, 1])


@functools.cache
def _beta_is_chisquare_ratio() -> bool:
    """Whether this numpy draws ``Beta(a, b)`` with ``max(a, b) > 1`` as ``Ga / (Ga + Gb)`` from two standard gamma
    draws in a row, and ``chisquare(2a)`` as ``2 Ga`` from one (its algorithms), so that chi-square pairs use the
    generator exactly as ``beta`` does and give the same ratios; checked once."""
    a, b = np.array([0.5, 2.0, 5.5, 1.5, 3.0, 1e-3]), np.array([3.0, 0.2, 0.5, 4.5, 3.0, 5.999])
    one, two = np.random.default_rng(12345), np.random.default_rng(12345)
    beta = one.beta(a, b)
    doubled = two.chisquare(2.0 * np.column_stack([a, b]))
    return bool(np.array_equal(beta, doubled[:, 0] / (doubled[:, 0] + doubled[:, 1])) and one.random() == two.random())
