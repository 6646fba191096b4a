"""Attention, behaviour events and learning (SPEC §3; S0 §3.2.2, §3.2.4).

Pure vectorized functions of the current per-student arrays; they work on
any leading shape, so the classroom can call them per tick.
"""

from __future__ import annotations

import numpy as np

from sim.config import AttentionConfig, BehaviourConfig, LearningConfig
from sim.emotion import LOW_AROUSAL, POSITIVE

N_BEHAVIOURS = 4
BEHAVIOUR_NAMES = ("looking_away", "eyes_closed", "yawning", "hand_raised")
_LOW_AROUSAL = LOW_AROUSAL.astype(np.float64)  # 1.0 / 0.0 per state, for tables looked up per tick
_POSITIVE = POSITIVE.astype(np.float64)


def attention_step(attention: np.ndarray, state: np.ndarray, fatigue: np.ndarray, attention_fatigue: np.ndarray,
                   boost: np.ndarray, noise: np.ndarray, cfg: AttentionConfig,
                   targets: np.ndarray | None = None) -> np.ndarray:
    """One tick: ``a <- clip(a + rho*(a*(s)*(1 - g_k F_k) - a) + boost_k + sd*eps, 0, 1)``.

    :param noise: standard normal draws ``eps``, one per student.
    :param targets: ``np.asarray(cfg.targets)``, when the caller keeps it (saves a conversion per tick).
    """
    if targets is None:
        targets = np.asarray(cfg.targets)
    target = targets.take(state) * (1.0 - attention_fatigue * fatigue)
    out = attention + cfg.rate * (target - attention) + boost + cfg.noise * noise
    return np.minimum(np.maximum(out, 0.0), 1.0)


def behaviour_events(uniforms: np.ndarray, attention: np.ndarray, state: np.ndarray, fatigue: np.ndarray,
                     cfg: BehaviourConfig) -> np.ndarray:
    """Bernoulli behaviour events, bool array (..., 4) in :data:`BEHAVIOUR_NAMES` order.

    P(looking away) = scale*(1 - a); P(eyes closed) = p if a < threshold;
    P(yawning) = base + scale*F in low-arousal states; P(hand raised) = scale*a
    in positive states.

    :param uniforms: U(0,1) draws of shape (..., 4).
    """
    chance = np.empty(uniforms.shape)
    chance[..., 0] = cfg.look_away_scale * (1.0 - attention)
    chance[..., 1] = cfg.eyes_closed_prob * (attention < cfg.eyes_closed_below)
    chance[..., 2] = _LOW_AROUSAL.take(state) * (cfg.yawn_base + cfg.yawn_fatigue_scale * fatigue)
    chance[..., 3] = _POSITIVE.take(state) * cfg.hand_raise_scale * attention
    return uniforms < chance


def learning_rate_by_state(cfg: LearningConfig) -> np.ndarray:
    """Gain per tick at full attention and matched difficulty, per state: ``rate * (1 + bonus*[positive])``."""
    return cfg.rate * (1.0 + cfg.positive_bonus * POSITIVE)


def difficulty_match(difficulty_gap: np.ndarray) -> np.ndarray:
    """How well the difficulty suits each student: ``max(1 - |D_k - D*_k|, 0)`` (a fresh array)."""
    match = np.abs(difficulty_gap)
    np.subtract(1.0, match, out=match)
    return np.maximum(match, 0.0, out=match)


def learning_gain(attention: np.ndarray, state_rate: np.ndarray, difficulty_gap: np.ndarray,
                  rate_factor: np.ndarray, match: np.ndarray | None = None) -> np.ndarray:
    """Knowledge gained this tick: ``state_rate * a * (1 - |D_k - D*_k|) * rate_factor``.

    :param state_rate: :func:`learning_rate_by_state` at each student's state.
    :param rate_factor: the incentive costs (reduced learning rate, lost coverage,
        time spent on a fun break) and presence, multiplied together.
    :param match: :func:`difficulty_match` of ``difficulty_gap``, when the caller already has it.
    """
    if match is None:
        match = difficulty_match(difficulty_gap)
    return state_rate * attention * match * rate_factor
