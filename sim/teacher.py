"""The teacher's model of a student (SPEC §6; S3 eqs 9, 11): what the belief filter and ECEM both predict with.

The teacher does not know any student's own chain, ability, fatigue or fading rate. Its model of how a student's
emotion moves at tick ``t`` is SPEC's shared base chain ``A0`` with every column ``j`` tilted by what it knows::

    A(t)(i, j)  ∝  A0(i, j) * exp(eta_D * (D(t) - mean ability) * [j negative, high arousal]
                                 + eta_F(t) * mean fatigue(t) * [j negative, low arousal]
                                 + eta_T * [online test at t] * [j == tension]
                                 + tau * sum_m I_m(t) * W_m(j))

``D(t)`` is the segment's difficulty, lowered by reduce-difficulty while the teacher's own estimate of its intensity
is above the active threshold; the mean fatigue is ``mean f * t / T``; ``I_m(t)`` are the teacher's estimates of the
intensities acting: what it applied, each application faded at the class's median dilution (it cannot know a
student's own ``psi_k``). The belief filter moves beliefs through ``A(t)`` every tick (:meth:`TeacherModel.chains`);
ECEM looks ahead through ``A(t), A(t+1), ...`` with a candidate incentive added at the strength it would really have,
``h^n`` after ``n`` earlier uses within the habituation window, and every intensity fading tick by tick
(:meth:`TeacherModel.predict`).
"""

from __future__ import annotations

import functools

import numpy as np

from vclass.sim.config import SimConfig
from vclass.sim.emotion import base_transition_matrix, drift_matrix, stationary_distribution
from vclass.sim.lesson import LessonPlan, build_lesson


class TeacherModel:
    """The teacher's chains of one lesson config, tick by tick.

    :param cfg: the lesson's simulator config.
    :param plan: its lesson plan (default: built from ``cfg``).
    """

    def __init__(self, cfg: SimConfig, plan: LessonPlan | None = None):
        plan = plan if plan is not None else build_lesson(cfg)
        inc, st = cfg.incentives, cfg.students
        self.base = base_transition_matrix(cfg.emotion)
        self.drift = drift_matrix(cfg.emotion, cfg.incentives)
        self.initial = stationary_distribution(self.base[None])[0]
        self.n_ticks = plan.n_ticks
        self.active_threshold = np.asarray(inc.active_threshold)
        # Per tick: the average student's difficulty gap without and with reduce-difficulty (D lowered, floored at 0;
        # entry `active` looked up by each student's flag), the fatigue drive eta_F(t) * mean f * t / T, and whether
        # the tick is an online test.
        mean_fatigue_rate = 0.5 * (st.fatigue_min + st.fatigue_max)
        active = np.array([0.0, 1.0])
        gaps = np.maximum(plan.difficulty[:, None] - inc.difficulty_reduction * active, 0.0) - st.ability_mean
        drives = plan.fatigue_drift * (mean_fatigue_rate * plan.time_fraction)
        self._gaps, self._drives, self._online = gaps, drives, plan.online_test.astype(np.float64)
        # What an intensity keeps from one tick to the next, at the median dilution (S3 eq 12).
        self.decay_per_tick = float(
            np.exp(-st.dilution_median * inc.fading_per_minute * cfg.classroom.tick_seconds / 60)
        )
        self._buffers: dict[int, _Buffers] = {}

    def chains(self, tick: int | np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Each student's chain ``A(tick)`` (N, 8, 8) given the intensities acting during the tick (N, 4).

        :param tick: the tick, or each student's tick (N,) (ticks past the lesson's end read its last tick).
        :return: a buffer reused at the next call with as many students: read it before calling again.
        """
        n = intensity.shape[0]
        buffers = self._buffers.get(n)
        if buffers is None:
            buffers = self._buffers[n] = _Buffers(self.base, self.drift.shape[0], n)
        tick = np.minimum(tick, self.n_ticks - 1)
        active = (intensity[:, 0] > self.active_threshold).view(np.int8)
        features = buffers.features  # drift features, as vclass.sim.emotion.drift_features lays them out
        features[:, 3:] = intensity
        features[:, 0] = self._gaps[tick, active] if np.ndim(tick) else self._gaps[tick].take(active)
        features[:, 1] = self._drives[tick]
        features[:, 2] = self._online[tick]
        # A0(i, j) * tilt_k(j): each student's tilt row repeated for the 8 rows of the chain, then normalized.
        tilt = np.exp(features @ self.drift)
        rows = np.multiply(tilt.repeat(buffers.shape[1], axis=0), buffers.base_stacked, out=buffers.rows)
        if buffers.row_columns is None:
            rows /= np.add.reduce(rows, 1, keepdims=True)
        else:  # the same sums, from the columns
            rows /= _pairwise_sum_eight(buffers.row_columns)[:, None]
        return rows.reshape(buffers.shape)

    def predict(
        self, belief: np.ndarray, tick: int | np.ndarray, intensity: np.ndarray, steps: int
    ) -> list[np.ndarray]:
        """Beliefs (S, 8) after 1, 2, ..., ``steps`` ticks from a decision at ``tick`` (or each row's tick):
        ``A' = A · A(t) ··· A(t+h-1)``, the intensities (S, 4) (those acting, plus any candidate application) fading
        tick by tick."""
        predicted = []
        for h in range(steps):
            belief = np.einsum("ni,nij->nj", belief, self.chains(tick + h, intensity))
            predicted.append(belief)
            intensity = intensity * self.decay_per_tick
        return predicted


class _Buffers:
    """Scratch arrays for the chains of a class of ``n`` students."""

    def __init__(self, base: np.ndarray, n_features: int, n: int):
        states = base.shape[0]
        self.features = np.empty((n, n_features))
        # The base chain stacked once per student, (N*8, 8), to multiply by each student's column tilt row by row,
        # into a buffer of the chains' rows (row k*8 + i: student k, state i); its columns for the row sums.
        self.base_stacked = np.tile(base, (n, 1))
        self.shape = (n, states, states)
        self.rows = np.empty_like(self.base_stacked)
        self.row_columns = list(self.rows.T) if states == 8 and _sums_eight_pairwise() else None


def _pairwise_sum_eight(terms: list[np.ndarray]) -> np.ndarray:
    """``((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))`` for 8 arrays: numpy's pairwise summation of 8
    contiguous float64s, that is ``np.add.reduce`` over a last axis of length 8 (see :func:`_sums_eight_pairwise`).
    On arrays of many short rows, 7 additions of columns cost less than the reduction's per-row loop."""
    x = terms
    return ((x[0] + x[1]) + (x[2] + x[3])) + ((x[4] + x[5]) + (x[6] + x[7]))


@functools.cache
def _sums_eight_pairwise() -> bool:
    """Whether this numpy's ``np.add.reduce`` over a last axis of 8 float64s adds them as
    :func:`_pairwise_sum_eight` does, checked once on rows of widely spread magnitudes."""
    rng = np.random.default_rng(0)
    x = rng.random((4096, 8)) * np.exp(rng.normal(0.0, 8.0, (4096, 8)))
    return bool(np.array_equal(np.add.reduce(x, axis=1), _pairwise_sum_eight(list(x.T))))
