"""Synthetic students: who they are, drawn once per lesson (SPEC §2-3).

Every per-student trait is drawn here from the ``students`` stream of the
run's seed, so the same seed gives the same class whatever the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vclass.sim.config import SimConfig
from vclass.sim.emotion import stationary_distribution, student_transition_matrices


@dataclass
class Population:
    """Traits of N students. Arrays are indexed by student."""

    transitions: np.ndarray  # A0_k, (N, 8, 8), temperament folded in
    log_transitions: np.ndarray  # log A0_k, for sampling
    temperament: np.ndarray  # b_k
    ability: np.ndarray  # D*_k, ability-matched difficulty
    fatigue_rate: np.ndarray  # f_k, F_k(t) = f_k * t / T
    dilution: np.ndarray  # psi_k, S3 eq 12
    attention_fatigue: np.ndarray  # g_k
    expressiveness: np.ndarray  # scales expression intensity of rendered faces
    initial_state: np.ndarray  # s_0
    join_seconds: np.ndarray  # 0 for on-time students
    leave_seconds: np.ndarray  # inf for students who stay

    @property
    def size(self) -> int:
        return self.ability.shape[0]


def sample_population(cfg: SimConfig, rng: np.random.Generator) -> Population:
    """Draw a class of ``cfg.classroom.students`` students.

    Choices beyond SPEC: ``D*_k ~ N(ability_mean, ability_sd)`` clipped to
    [0.05, 0.95]; the first state is drawn from the stationary distribution of
    the student's own base chain; a late joiner arrives at U(0, max) minutes,
    a drop-out leaves for good at U(0, T).
    """
    n = cfg.classroom.students
    st = cfg.students
    temperament = rng.normal(0.0, cfg.emotion.temperament_sd, n)
    transitions = student_transition_matrices(cfg.emotion, temperament, rng)
    ability = np.clip(rng.normal(st.ability_mean, st.ability_sd, n), 0.05, 0.95)
    fatigue_rate = rng.uniform(st.fatigue_min, st.fatigue_max, n)
    dilution = np.exp(rng.normal(np.log(st.dilution_median), st.dilution_sigma, n))
    attention_fatigue = rng.uniform(st.attention_fatigue_min, st.attention_fatigue_max, n)
    expressiveness = rng.uniform(st.expressiveness_min, st.expressiveness_max, n)
    stationary = stationary_distribution(transitions)
    cumulative = np.cumsum(stationary, axis=1)
    initial_state = (rng.random(n)[:, None] > cumulative).sum(axis=1).clip(0, 7)
    lesson_s = cfg.classroom.minutes * 60.0
    late = rng.random(n) < cfg.classroom.late_join_prob
    join_seconds = np.where(late, rng.uniform(0.0, cfg.classroom.late_join_max_minutes * 60.0, n), 0.0)
    leaves = rng.random(n) < cfg.classroom.dropout_prob
    leave_seconds = np.where(leaves, rng.uniform(0.0, lesson_s, n), np.inf)
    leave_seconds = np.maximum(leave_seconds, join_seconds)
    return Population(
        transitions=transitions,
        log_transitions=np.log(transitions),
        temperament=temperament,
        ability=ability,
        fatigue_rate=fatigue_rate,
        dilution=dilution,
        attention_fatigue=attention_fatigue,
        expressiveness=expressiveness,
        initial_state=initial_state.astype(np.int64),
        join_seconds=join_seconds,
        leave_seconds=leave_seconds,
    )
