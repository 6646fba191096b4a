"""The Emotional Compensation and Encouragement Model (S3 Fig. 7; SPEC §1, §6).

For each reachable student, from the belief ``A``:

1. the emotion axis ``x(A)`` (S3 eq 13); inside the target emotion region
   (TEA) nothing is done;
2. the motivation condition (eq 14): act when
   ``level(x(A)) + phi < level(x_lo)``, levels being the nearest of the eight
   sorted state axis values;
3. the ECEA look-ahead: predict ``A' = A · A_m^h`` under each factor ``m``
   (eq 11) for ``h = 1`` tick; take the cheapest factor whose prediction
   reaches the region (``level(x(A')) + phi >= level(x_lo)``); if none does,
   look one tick further, up to ``max_lookahead`` ticks, then apply the
   factor with the best prediction.

The teacher's model of a student (an ECEM choice SPEC leaves open): the
shared base chain ``A0`` tilted by one fresh application (intensity 1) of
factor ``m``, held over the look-ahead. It uses no per-student truths
(no ``A0_k``, ability or fatigue), only the belief.
"""

from __future__ import annotations

import numpy as np

from vclass.agents.params import require_int
from vclass.sim.classroom import NO_CHECKIN, Action, Observation
from vclass.sim.config import EmotionConfig, IncentiveConfig
from vclass.sim.emotion import N_FACTORS, axis_values, base_transition_matrix, emotion_axis
from vclass.sim.measures import Measure

DIVERGENCE_MEASURE = Measure("ecem_divergence", "ECEM decisions differing from truth", "{:.3f}")


def emotion_levels(cfg: EmotionConfig) -> np.ndarray:
    """The axis cut into ``n = 8`` levels at the sorted state values."""
    return np.sort(axis_values(cfg))


def level_of(x: np.ndarray | float, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest level to each axis value."""
    return np.abs(np.asarray(x)[..., None] - levels).argmin(axis=-1)


class ECEM:
    """The ECEM rule acting per student on beliefs.

    :param emotion: emotion config (axis weights, TEA).
    :param incentives: incentive config (profiles, cost weights, teacher budget).
    :param phi: integer tolerance of the motivation condition (eq 14).
    :param max_lookahead: look-ahead ticks before settling for the best factor (SPEC: 6).
    """

    def __init__(self, emotion: EmotionConfig, incentives: IncentiveConfig, phi: int = 0, max_lookahead: int = 6):
        require_int("policy.params.phi", phi, 0, 7)
        require_int("policy.params.max_lookahead", max_lookahead, 1, 100)
        self.emotion, self.incentives = emotion, incentives
        self.phi, self.max_lookahead = phi, max_lookahead
        self.levels = emotion_levels(emotion)
        self.target_level = int(level_of(emotion.tea_low, self.levels))
        base = base_transition_matrix(emotion)
        axis = axis_values(emotion)
        # predicted_axis[h-1, m] = (A_m^h · axis): x(A') for a belief A is A @ predicted_axis[h-1, m].
        predicted = np.empty((max_lookahead, N_FACTORS, axis.size))
        for m in range(N_FACTORS):
            tilted = base * np.exp(emotion.incentive_gain * np.asarray(incentives.profiles[m]))[None, :]
            tilted /= tilted.sum(axis=1, keepdims=True)
            power = np.eye(axis.size)
            for h in range(max_lookahead):
                power = power @ tilted
                predicted[h, m] = power @ axis
        self.predicted_axis = predicted
        # Cheapest first; equal costs keep SPEC's factor order.
        self.cost_order = np.argsort(np.asarray(incentives.cost_weights), kind="stable")

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        pass

    def needs_motivation(self, belief: np.ndarray) -> np.ndarray:
        """Eq 14 per student: below the TEA by more than ``phi`` levels."""
        x = emotion_axis(belief, self.emotion)
        return level_of(x, self.levels) + self.phi < self.target_level

    def choose(self, belief: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
        """ECEA look-ahead for beliefs (S, 8): a factor 1..4 per student.

        :param allowed: factors (0-based) that may be used, as a bool mask (4,); default all.
        """
        allowed = np.ones(N_FACTORS, dtype=bool) if allowed is None else allowed
        order = self.cost_order[allowed[self.cost_order]]
        choice = np.zeros(belief.shape[0], dtype=np.int64)
        undecided = np.ones(belief.shape[0], dtype=bool)
        for h in range(self.max_lookahead):
            x_next = belief @ self.predicted_axis[h].T  # (S, 4)
            reaches = level_of(x_next, self.levels) + self.phi >= self.target_level
            for m in order:
                take = undecided & reaches[:, m]
                choice[take] = m + 1
                undecided &= ~take
            if not undecided.any():
                return choice
        x_last = belief @ self.predicted_axis[-1].T
        x_last[:, ~allowed] = -np.inf
        choice[undecided] = x_last[undecided].argmax(axis=1) + 1
        return choice

    def act(self, obs: Observation) -> Action:
        n = obs.n_students
        factors = np.zeros(n, dtype=np.int64)
        act_on = np.flatnonzero(obs.reachable & self.needs_motivation(obs.belief))
        if act_on.size:
            allowed = np.ones(N_FACTORS, dtype=bool)
            allowed[3] = obs.teacher_budget_left > 0
            factors[act_on] = self.choose(obs.belief[act_on], allowed)
        return Action(factors, NO_CHECKIN)


def decision_divergence(ecem: ECEM, record) -> float | None:
    """Share of (decision, reachable student) pairs where ECEM's choice on the observer's belief differs
    from its choice on the truth (a one-hot belief on the true state). None without recorded decisions.

    :param record: a :class:`vclass.sim.classroom.LessonRecord` (beliefs at decisions, states, presence).
    """
    differ, total = 0, 0
    eye = np.eye(axis_values(ecem.emotion).size)
    for tick, belief in record.decision_beliefs:
        if tick == 0:
            state, reachable = record.population.initial_state, record.present[0] & record.connected[0]
        else:
            if tick > record.state.shape[0]:
                continue
            state = record.state[tick - 1]
            row = min(tick, record.state.shape[0] - 1)
            reachable = record.present[row] & record.connected[row]
        students = np.flatnonzero(reachable)
        if not students.size:
            continue
        truth = eye[state[students]]
        on_truth = np.where(ecem.needs_motivation(truth), ecem.choose(truth), 0)
        on_belief = np.where(ecem.needs_motivation(belief[students]), ecem.choose(belief[students]), 0)
        differ += int((on_truth != on_belief).sum())
        total += students.size
    return differ / total if total else None
