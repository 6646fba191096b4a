"""Attention, behaviour events and learning (SPEC §3; S0 §3.2.2, §3.2.4).

Pure vectorized functions of the current per-student arrays; they work on
any leading shape, so the classroom can call them per tick.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np

from vclass.sim.config import AttentionConfig, BehaviourConfig, LearningConfig
from vclass.sim.emotion import LOW_AROUSAL, POSITIVE

N_BEHAVIOURS = 4
BEHAVIOUR_NAMES = ("looking_away", "eyes_closed", "yawning", "hand_raised")
_LOW_AROUSAL = LOW_AROUSAL.astype(np.float64)  # 1.0 / 0.0 per state, for tables looked up per tick
_POSITIVE = POSITIVE.astype(np.float64)
# Constants as numpy 0-d arrays: on a class's small arrays, converting a Python float operand costs numpy about as
# much as the operation itself; a 0-d float64 operand gives the same float64 results without it.
ZERO, ONE = np.array(0.0), np.array(1.0)


def as_arrays(cfg):
    """A config section with its numbers as numpy 0-d arrays and its tuples as arrays (see :data:`ONE`), for
    the functions here that run every tick: same results, less overhead. Takes any dataclass config."""
    return SimpleNamespace(**{f.name: np.asarray(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)})


def zero_d(values: np.ndarray) -> list[np.ndarray]:
    """The entries of a 1-D array as a list of 0-d arrays (see :data:`ONE`), e.g. a lesson plan's per-tick
    values: a tick then reads one without numpy creating a scalar, and computes with it without converting it."""
    return [np.asarray(value) for value in values]


def attention_step(
    attention: np.ndarray,
    state: np.ndarray,
    fatigue: np.ndarray,
    attention_fatigue: np.ndarray,
    boost: np.ndarray | None,
    noise: np.ndarray,
    cfg: AttentionConfig,
) -> np.ndarray:
    """One tick: ``a <- clip(a + rho*(a*(s)*(1 - g_k F_k) - a) + boost_k + sd*eps, 0, 1)``.

    :param boost: check-in boosts, or None when every student's is 0 (adding zeros would change nothing:
        ``a + rho*(...)`` is never -0.0, as attention never is).
    :param noise: standard normal draws ``eps``, one per student.
    :param cfg: the attention config, or :func:`as_arrays` of it.
    """
    target = np.asarray(cfg.targets).take(state) * (ONE - attention_fatigue * fatigue)
    out = attention + cfg.rate * (target - attention)
    if boost is not None:
        out += boost
    out += cfg.noise * noise
    return np.minimum(np.maximum(out, ZERO), ONE)


def behaviour_scales(cfg: BehaviourConfig) -> np.ndarray:
    """Per state (8, 4), what multiplies each behaviour's drive in :func:`behaviour_events`: the look-away scale,
    the eyes-closed chance, 1 in low-arousal states (yawning) and the hand-raise scale in positive states."""
    scales = np.empty((len(POSITIVE), N_BEHAVIOURS))
    scales[:, 0] = cfg.look_away_scale
    scales[:, 1] = cfg.eyes_closed_prob
    scales[:, 2] = _LOW_AROUSAL
    scales[:, 3] = _POSITIVE * cfg.hand_raise_scale
    return scales


def behaviour_events(
    uniforms: np.ndarray,
    attention: np.ndarray,
    state: np.ndarray,
    fatigue: np.ndarray,
    cfg: BehaviourConfig,
    scales: np.ndarray | None = None,
) -> np.ndarray:
    """Bernoulli behaviour events, bool array (..., 4) in :data:`BEHAVIOUR_NAMES` order.

    P(looking away) = scale*(1 - a); P(eyes closed) = p if a < threshold;
    P(yawning) = base + scale*F in low-arousal states; P(hand raised) = scale*a
    in positive states. Each is a drive (1 - a, [a < threshold], base + scale*F, a)
    times a per-state factor from :func:`behaviour_scales`.

    :param uniforms: U(0,1) draws of shape (..., 4).
    :param cfg: the behaviour config, or :func:`as_arrays` of it.
    :param scales: ``behaviour_scales(cfg)``, when the caller keeps it.
    """
    if scales is None:
        scales = behaviour_scales(cfg)
    chance = np.empty(uniforms.shape)
    chance[..., 0] = ONE - attention
    chance[..., 1] = attention < cfg.eyes_closed_below
    chance[..., 2] = cfg.yawn_base + cfg.yawn_fatigue_scale * fatigue
    chance[..., 3] = attention
    chance *= scales.take(state, axis=0)
    return uniforms < chance


def learning_rate_by_state(cfg: LearningConfig) -> np.ndarray:
    """Gain per tick at full attention and matched difficulty, per state: ``rate * (1 + bonus*[positive])``."""
    return cfg.rate * (1.0 + cfg.positive_bonus * POSITIVE)


def difficulty_match(difficulty_gap: np.ndarray) -> np.ndarray:
    """How well the difficulty suits each student: ``max(1 - |D_k - D*_k|, 0)`` (a fresh array)."""
    match = np.abs(difficulty_gap)
    np.subtract(1.0, match, out=match)
    return np.maximum(match, 0.0, out=match)


def learning_gain(
    attention: np.ndarray,
    state_rate: np.ndarray,
    difficulty_gap: np.ndarray,
    rate_factor: np.ndarray,
    match: np.ndarray | None = None,
) -> np.ndarray:
    """Knowledge gained this tick: ``state_rate * a * (1 - |D_k - D*_k|) * rate_factor``.

    :param state_rate: :func:`learning_rate_by_state` at each student's state.
    :param rate_factor: the incentive costs (reduced learning rate, lost coverage,
        time spent on a fun break) and presence, multiplied together.
    :param match: :func:`difficulty_match` of ``difficulty_gap``, when the caller already has it.
    """
    if match is None:
        match = difficulty_match(difficulty_gap)
    return state_rate * attention * match * rate_factor
