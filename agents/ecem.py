"""The Emotional Compensation and Encouragement Model (S3 Fig. 7; SPEC §1, §6).

For each reachable student, from the belief ``A``:

1. the emotion axis ``x(A)`` (S3 eq 13);
2. the motivation condition (eq 14): act when ``level(x(A)) + phi < level(x_lo)``, levels being the nearest of the
   eight sorted state axis values. SPEC keeps the paper's gap: a belief whose axis lies between 0 and ``x_lo`` (0.6)
   has the level of ``x_lo`` (0.7, relaxation), so it is outside the target region (TEA) yet not acted on;
3. the ECEA look-ahead: predict ``A' = A · A_k^h`` under each factor ``m`` (eq 11) for ``h = 1`` tick; take the
   cheapest factor whose prediction lies inside the TEA, ``x_lo <= x(A') <= x_hi``; if none does, look one tick
   further, up to ``max_lookahead`` (6) ticks, then apply the factor with the highest predicted ``x(A')``.

``A_k`` is the teacher's model of the student's chain, the one the belief filter predicts with
(:class:`vclass.sim.teacher.TeacherModel`): the shared base chain tilted by the context the teacher knows (the
segment's difficulty against the mean ability, the mean fatigue, online tests) and by the intensities the teacher has
applied, fading at the median dilution over the look-ahead, with the candidate factor entering at the strength it
would really have (``h^n`` for the n-th repeat within the habituation window, :attr:`Observation.next_strength`).
It never uses a student's own chain, ability, fatigue or dilution. Its cost order: the factors' ``cost_weights``,
cheapest first; equal costs keep SPEC's factor order.
"""

from __future__ import annotations

import numpy as np

from vclass.agents.params import require_int
from vclass.sim.classroom import NO_CHECKIN, Action, LessonRecord, Observation
from vclass.sim.config import EmotionConfig, SimConfig
from vclass.sim.emotion import N_FACTORS, N_STATES, axis_values
from vclass.sim.measures import Measure
from vclass.sim.teacher import TeacherModel

DIVERGENCE_MEASURE = Measure("ecem_divergence", "ECEM decisions differing from truth", "{:.3f}")


def emotion_levels(cfg: EmotionConfig) -> np.ndarray:
    """The axis cut into ``n = 8`` levels at the sorted state values."""
    return np.sort(axis_values(cfg))


def level_of(x: np.ndarray | float, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest level to each axis value."""
    return np.abs(np.asarray(x)[..., None] - levels).argmin(axis=-1)


class ECEM:
    """The ECEM rule acting per student on beliefs.

    :param sim_config: the lessons' simulator config (the axis and TEA, the factors' profiles, costs and
        habituation, the lesson plan the teacher knows).
    :param phi: integer tolerance of the motivation condition (eq 14).
    :param max_lookahead: look-ahead ticks before settling for the best factor (SPEC: 6).
    """

    def __init__(self, sim_config: SimConfig, phi: int = 0, max_lookahead: int = 6):
        require_int("policy.params.phi", phi, 0, 7)
        require_int("policy.params.max_lookahead", max_lookahead, 1, 100)
        self.emotion = sim_config.emotion
        self.phi, self.max_lookahead = phi, max_lookahead
        self.levels = emotion_levels(self.emotion)
        self.target_level = int(level_of(self.emotion.tea_low, self.levels))
        self.axis = axis_values(self.emotion)
        self.model = TeacherModel(sim_config)
        # Cheapest first; equal costs keep SPEC's factor order.
        self.cost_order = np.argsort(np.asarray(sim_config.incentives.cost_weights), kind="stable")
        self._in_cost_order = bool((self.cost_order == np.arange(N_FACTORS)).all())  # SPEC's order is the cost order
        self._identity = np.eye(N_FACTORS)
        self._without_teaching_quality = np.array([True, True, True, False])  # the factors once the budget is spent

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        pass

    def needs_motivation(self, belief: np.ndarray) -> np.ndarray:
        """Eq 14 per student: below the TEA by more than ``phi`` levels."""
        x = belief @ self.axis  # emotion_axis(belief, self.emotion), the axis values kept
        return level_of(x, self.levels) < self.target_level - self.phi

    def predicted_axes(
        self, belief: np.ndarray, tick: int | np.ndarray, intensity: np.ndarray, strength: np.ndarray
    ) -> np.ndarray:
        """``x(A')`` after ``h = 1 .. max_lookahead`` ticks under each factor applied now: (H, 4, S).

        :param belief: (S, 8) beliefs; ``tick``: the decision's tick (or each row's); ``intensity``: (S, 4) the
            teacher's estimates of the intensities acting; ``strength``: (S, 4) each factor's strength if applied now.
        """
        s = belief.shape[0]
        # The four candidates of every student in one batch: row m * S + k is factor m for student k, its intensities
        # with the factor's strength added in column m (and 0 elsewhere, which leaves them as they are).
        candidate = (strength.T[:, :, None] * self._identity[:, None, :] + intensity).reshape(-1, N_FACTORS)
        ticks = np.concatenate((tick,) * N_FACTORS) if np.ndim(tick) else tick
        predicted = self.model.look_ahead(np.concatenate((belief,) * N_FACTORS), ticks, candidate, self.max_lookahead)
        return (predicted @ self.axis).reshape(self.max_lookahead, N_FACTORS, s)

    def choose(
        self,
        belief: np.ndarray,
        tick: int | np.ndarray,
        intensity: np.ndarray,
        strength: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ECEA look-ahead for beliefs (S, 8): a factor 1..4 per student and its predicted ``x(A')``.

        :param strength: (S, 4) each factor's strength if applied now (default 1: no earlier uses).
        :param allowed: factors (0-based) that may be used, a bool mask (4,) or per student (S, 4); default all.
        """
        s = belief.shape[0]
        strength = np.ones((s, N_FACTORS)) if strength is None else strength
        x = self.predicted_axes(belief, tick, intensity, strength)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            # A factor's every row (a mask (4,)), or its row of each student (a mask (S, 4)).
            x[:, ~(allowed if allowed.ndim == 1 else np.broadcast_to(allowed, (s, N_FACTORS)).T)] = -np.inf
        # "Reaches the region": inside the TEA. The first (h, factor) inside, factors cheapest first within each h.
        inside = (x >= self.emotion.tea_low) & (x <= self.emotion.tea_high)
        by_cost = (inside if self._in_cost_order else inside[:, self.cost_order]).reshape(-1, s)  # (H * 4, S)
        first = by_cost.argmax(axis=0)
        reached = np.logical_or.reduce(by_cost, axis=0)  # by_cost.any(axis=0)
        h, m = np.divmod(first, N_FACTORS)
        m = m if self._in_cost_order else self.cost_order.take(m)
        best = x[-1].argmax(axis=0)  # none reaches it within the look-ahead: the highest predicted x(A')
        m = np.where(reached, m, best)
        h = np.where(reached, h, self.max_lookahead - 1)
        return m + 1, x[h, m, np.arange(s)]

    def act(self, obs: Observation) -> Action:
        n = obs.n_students
        factors = np.zeros(n, dtype=np.int64)
        predicted = np.full(n, np.nan)
        act_on = (obs.reachable & self.needs_motivation(obs.belief)).nonzero()[0]
        if act_on.size:
            allowed = None if obs.teacher_budget_left > 0 else self._without_teaching_quality
            strength = None if obs.next_strength is None else obs.next_strength[act_on]
            factors[act_on], predicted[act_on] = self.choose(
                obs.belief[act_on], obs.tick, obs.intensity[act_on], strength, allowed
            )
        return Action(factors, NO_CHECKIN, predicted_axis=predicted)


def decision_divergence(ecem: ECEM, record: LessonRecord) -> float | None:
    """Share of (decision, reachable student) pairs where ECEM's choice on the observer's belief differs from its
    choice on the truth (a one-hot belief on the true state), with the same context (tick, intensities, strengths,
    budget). Every decision of the lesson in one batch. None without recorded decisions.

    :param record: a lesson record with the observations of its decisions (``record.decisions``).
    """
    beliefs, truths, ticks, intensity, strength, allowed = [], [], [], [], [], []
    for obs in record.decisions:
        state = record.population.initial_state if obs.tick == 0 else record.state[min(obs.tick, len(record.state)) - 1]
        students = np.flatnonzero(obs.reachable)
        if not students.size:
            continue
        beliefs.append(obs.belief[students])
        truths.append(np.eye(N_STATES)[state[students]])
        ticks.append(np.full(students.size, obs.tick))
        intensity.append(obs.intensity[students])
        strength.append(
            np.ones((students.size, N_FACTORS)) if obs.next_strength is None else obs.next_strength[students]
        )
        budget = np.ones((students.size, N_FACTORS), dtype=bool)
        budget[:, 3] = obs.teacher_budget_left > 0
        allowed.append(budget)
    if not beliefs:
        return None
    context = (np.concatenate(ticks), np.concatenate(intensity), np.concatenate(strength), np.concatenate(allowed))
    decisions = []
    for belief in (np.concatenate(beliefs), np.concatenate(truths)):
        choice, _ = ecem.choose(belief, *context)
        decisions.append(np.where(ecem.needs_motivation(belief), choice, 0))
    return float(np.mean(decisions[0] != decisions[1]))
