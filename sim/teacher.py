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

import numpy as np

from vclass.sim.config import SimConfig
from vclass.sim.emotion import base_transition_matrix, drift_matrix, stationary_distribution
from vclass.sim.lesson import LessonPlan, build_lesson

LOOK_AHEAD_TICKS = 100  # the look-aheads :meth:`TeacherModel.look_ahead` has tables for (ECEM's at most)


class TeacherModel:
    """The teacher's chains of one lesson config, tick by tick.

    The base chain is the same for every student, so one tick moves a belief without building a chain per student:
    with the tilt ``w_k(j)`` of student ``k``, ``A(i, j) = A0(i, j) w(j) / Z(i)`` and ``Z(i) = sum_j A0(i, j) w(j)``,
    hence ``A' = ((A / Z) · A0) * w`` (:meth:`step`), the same numbers as ``A · A(t)`` (:meth:`chains`) to rounding.

    :param cfg: the lesson's simulator config.
    :param plan: its lesson plan (default: built from ``cfg``).
    """

    def __init__(self, cfg: SimConfig, plan: LessonPlan | None = None):
        plan = plan if plan is not None else build_lesson(cfg)
        inc, st = cfg.incentives, cfg.students
        self.base = base_transition_matrix(cfg.emotion)
        self._base_t = np.ascontiguousarray(self.base.T)
        drift = drift_matrix(cfg.emotion, cfg.incentives)
        self.initial = stationary_distribution(self.base[None])[0]
        self.n_ticks = plan.n_ticks
        self.active_threshold = np.asarray(inc.active_threshold)
        # The context's log multipliers of the columns at each tick, (T, 2, 8): entry [t, active] for a student
        # without / with reduce-difficulty active (D lowered, floored at 0), from the average student's difficulty
        # gap, the fatigue drive eta_F(t) * mean f * t / T and the online test.
        mean_fatigue_rate = 0.5 * (st.fatigue_min + st.fatigue_max)
        active = np.array([0.0, 1.0])
        gaps = np.maximum(plan.difficulty[:, None] - inc.difficulty_reduction * active, 0.0) - st.ability_mean
        drives = plan.fatigue_drift * (mean_fatigue_rate * plan.time_fraction)
        online = plan.online_test.astype(np.float64)
        self._context = (
            gaps[:, :, None] * drift[0] + (drives * 1.0)[:, None, None] * drift[1] + (online[:, None, None] * drift[2])
        )
        self._incentive_drift = np.ascontiguousarray(drift[3:])  # S3 eq 11: tau * W_m
        # What an intensity keeps from one tick to the next, at the median dilution (S3 eq 12).
        rate = st.dilution_median * inc.fading_per_minute * cfg.classroom.tick_seconds / 60.0
        self.decay_per_tick = float(np.exp(-rate))
        # For look-aheads: the context's rows flat, (T * 2, 8), and the first of tick t's two rows, 2 min(t, T - 1),
        # for every tick a look-ahead of up to LOOK_AHEAD_TICKS from within the lesson (or just past it) reaches.
        self._context_rows = np.ascontiguousarray(self._context.reshape(-1, self._context.shape[-1]))
        self._first_row = 2 * np.minimum(np.arange(self.n_ticks + 1 + LOOK_AHEAD_TICKS), self.n_ticks - 1)

    def tilts(self, tick: int | np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Each student's column multipliers ``w(j)`` (N, 8) at ``tick`` (or each student's tick; ticks past the
        lesson's end read its last), given the intensities (N, 4) acting during the tick."""
        active = (intensity[:, 0] > self.active_threshold).view(np.int8)
        if isinstance(tick, (int, np.integer)):  # one tick for every row (the belief filter's, every tick)
            context = self._context[min(tick, self.n_ticks - 1)].take(active, axis=0)
        else:  # each row's tick (or a 0-d array)
            tick = np.minimum(tick, self.n_ticks - 1)
            context = self._context[tick, active] if np.ndim(tick) else self._context[tick].take(active, axis=0)
        return np.exp(context + intensity @ self._incentive_drift)

    def step(self, belief: np.ndarray, tick: int | np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Beliefs (N, 8) one tick on: ``A · A(tick)``, each student's chain tilted by its intensities (N, 4)."""
        tilt = self.tilts(tick, intensity)
        return (belief / (tilt @ self._base_t)) @ self.base * tilt

    def chains(self, tick: int | np.ndarray, intensity: np.ndarray) -> np.ndarray:
        """Each student's chain ``A(tick)`` (N, 8, 8) given the intensities acting during the tick (N, 4)."""
        rows = self.base[None, :, :] * self.tilts(tick, intensity)[:, None, :]
        return rows / rows.sum(axis=2, keepdims=True)

    def predict(
        self, belief: np.ndarray, tick: int | np.ndarray, intensity: np.ndarray, steps: int
    ) -> list[np.ndarray]:
        """Beliefs (S, 8) after 1, 2, ..., ``steps`` ticks from a decision at ``tick`` (or each row's tick):
        ``A' = A · A(t) ··· A(t+h-1)``, the intensities (S, 4) (those acting, plus any candidate application) fading
        tick by tick."""
        return list(self.look_ahead(belief, tick, intensity, steps))

    def look_ahead(self, belief: np.ndarray, tick: int | np.ndarray, intensity: np.ndarray, steps: int) -> np.ndarray:
        """:meth:`predict` as one array (steps, S, 8), in fewer numpy calls: the same numbers, bit for bit.

        Only the beliefs depend on the step before; the intensities, and with them every step's tilt and
        normalizer, are known in advance. So the faded intensities come from one ``multiply.accumulate`` (the same
        products, in the same order, as fading them tick by tick), every step's context from one lookup, and the
        tilts and normalizers of all the steps from one stacked matrix product each (each step's slice of the stack
        has the shape step() multiplies, so BLAS rounds it alike: ``tests/test_ecem.py`` checks it); the loop then
        does three operations a step.
        """
        n, k = intensity.shape
        faded = np.empty((steps, n, k))
        faded[0] = intensity
        faded[1:] = self.decay_per_tick
        np.multiply.accumulate(faded, axis=0, out=faded)  # faded[h] = faded[h - 1] * decay, as tick by tick
        if np.ndim(tick) == 0 and 0 <= tick and tick + steps <= self._first_row.size:
            first_row = self._first_row[tick : tick + steps, None]  # (steps, 1): every row of a step at one tick
        else:
            offsets = np.arange(steps)[:, None]
            first_row = 2 * np.minimum(np.add(offsets, tick), self.n_ticks - 1)  # (steps, 1) or (steps, S)
        # Row 2 t + [reduce-difficulty active] of the context (the rows tilts() picks), for every step and row.
        rows = np.add(first_row, faded[:, :, 0] > self.active_threshold)
        context = self._context_rows.take(rows.reshape(-1), axis=0)  # (steps * S, 8)
        # The products go step by step, as stacks: each step's product has step()'s shape, so BLAS takes the same
        # kernel for it (the same rows among others may round otherwise: OpenBLAS on Zen 5 rounds a 3-row product
        # otherwise than those rows among 18).
        stack = (steps, n, -1)
        incentive = (faded.reshape(stack) @ self._incentive_drift).reshape(-1, context.shape[1])
        tilt = np.exp(np.add(context, incentive, out=context), out=context)
        normalizer = (tilt.reshape(stack) @ self._base_t).reshape(steps, n, -1)
        tilt = tilt.reshape(steps, n, -1)
        predicted = np.empty_like(tilt)
        for scale, step_tilt, out in zip(normalizer, tilt, predicted):  # step(): (belief / Z) @ A0 * w
            belief = np.multiply(np.divide(belief, scale) @ self.base, step_tilt, out=out)
        return predicted
