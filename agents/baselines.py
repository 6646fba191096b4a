"""Baseline policies (SPEC §6): none, random, always-<factor>, round-robin and greedy-attention check-ins.

All act on observations only (beliefs and attention estimates), never on the
true state, and only on students they can reach (present and connected).
"""

from __future__ import annotations

import numpy as np

from vclass.agents.params import require_probability
from vclass.sim.classroom import NO_CHECKIN, Action, Observation
from vclass.sim.config import EmotionConfig
from vclass.sim.emotion import FACTOR_NAMES, N_FACTORS, emotion_axis


class NoIntervention:
    """Never applies an incentive nor checks in."""

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        self.n_students = n_students

    def act(self, obs: Observation) -> Action:
        return Action.nothing(obs.n_students)


class RandomPolicy:
    """Each reachable student gets a uniformly random factor with ``incentive_prob``; a random
    reachable student is checked in with ``checkin_prob``.

    :param incentive_prob: chance per student and decision of an incentive.
    :param checkin_prob: chance per decision of a check-in.
    """

    def __init__(self, incentive_prob: float = 0.1, checkin_prob: float = 0.5):
        require_probability("policy.params.incentive_prob", incentive_prob)
        require_probability("policy.params.checkin_prob", checkin_prob)
        self.incentive_prob = incentive_prob
        self.checkin_prob = checkin_prob

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        self.rng = rng

    def act(self, obs: Observation) -> Action:
        n = obs.n_students
        give = (self.rng.random(n) < self.incentive_prob) & obs.reachable
        factors = np.where(give, self.rng.integers(1, N_FACTORS + 1, n), 0)
        reachable = np.flatnonzero(obs.reachable)
        checkin = NO_CHECKIN
        if reachable.size and self.rng.random() < self.checkin_prob:
            checkin = int(self.rng.choice(reachable))
        return Action(factors.astype(np.int64), checkin)


class AlwaysFactor:
    """Applies one factor to every reachable student whose believed emotion is below the TEA,
    at every decision (``always-fun`` applies factor 3).

    :param factor: factor number 1..4 (SPEC §2 order).
    :param emotion: the emotion config (for the axis and the TEA).
    """

    def __init__(self, factor: int, emotion: EmotionConfig):
        self.factor = factor
        self.emotion = emotion

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        pass

    def act(self, obs: Observation) -> Action:
        below = emotion_axis(obs.belief, self.emotion) < self.emotion.tea_low
        return Action(np.where(below & obs.reachable, self.factor, 0).astype(np.int64), NO_CHECKIN)


class RoundRobinCheckin:
    """Checks in with the next reachable student in index order, one per decision."""

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        self.next_student = 0

    def act(self, obs: Observation) -> Action:
        n = obs.n_students
        order = (self.next_student + np.arange(n)) % n
        candidates = order[obs.reachable[order]]
        checkin = NO_CHECKIN
        if candidates.size:
            checkin = int(candidates[0])
            self.next_student = (checkin + 1) % n
        return Action.nothing(n) if checkin == NO_CHECKIN else Action(np.zeros(n, dtype=np.int64), checkin)


class GreedyAttentionCheckin:
    """Checks in with the reachable student of lowest estimated attention."""

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        pass

    def act(self, obs: Observation) -> Action:
        n = obs.n_students
        if not obs.reachable.any():
            return Action.nothing(n)
        estimate = np.where(obs.reachable, obs.attention, np.inf)
        return Action(np.zeros(n, dtype=np.int64), int(np.argmin(estimate)))


ALWAYS_NAMES = {f"always-{name}": m + 1 for m, name in enumerate(FACTOR_NAMES)}
