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


def attention_step(attention: np.ndarray, state: np.ndarray, fatigue: np.ndarray, attention_fatigue: np.ndarray,
                   boost: np.ndarray, noise: np.ndarray, cfg: AttentionConfig) -> np.ndarray:
    """One tick: ``a <- clip(a + rho*(a*(s)*(1 - g_k F_k) - a) + boost_k + sd*eps, 0, 1)``.

    :param noise: standard normal draws ``eps``, one per student.
    """
    target = np.asarray(cfg.targets)[state] * (1.0 - attention_fatigue * fatigue)
    out = attention + cfg.rate * (target - attention) + boost + cfg.noise * noise
    np.maximum(out, 0.0, out=out)
    return np.minimum(out, 1.0, out=out)


def behaviour_events(uniforms: np.ndarray, attention: np.ndarray, state: np.ndarray, fatigue: np.ndarray,
                     cfg: BehaviourConfig) -> np.ndarray:
    """Bernoulli behaviour events, bool array (..., 4) in :data:`BEHAVIOUR_NAMES` order.

    :param uniforms: U(0,1) draws of shape (..., 4).
    """
    events = np.empty(uniforms.shape, dtype=bool)
    events[..., 0] = uniforms[..., 0] < cfg.look_away_scale * (1.0 - attention)
    events[..., 1] = (attention < cfg.eyes_closed_below) & (uniforms[..., 1] < cfg.eyes_closed_prob)
    events[..., 2] = LOW_AROUSAL[state] & (uniforms[..., 2] < cfg.yawn_base + cfg.yawn_fatigue_scale * fatigue)
    events[..., 3] = POSITIVE[state] & (uniforms[..., 3] < cfg.hand_raise_scale * attention)
    return events


def learning_gain(attention: np.ndarray, state: np.ndarray, difficulty_gap: np.ndarray, rate_factor: np.ndarray,
                  cfg: LearningConfig) -> np.ndarray:
    """Knowledge gained this tick: ``rate * a * (1 + bonus*[positive]) * (1 - |D_k - D*_k|) * rate_factor``.

    ``rate_factor`` carries the incentive costs (reduced learning rate, lost
    coverage, time spent on a fun break) and presence.
    """
    match = np.maximum(1.0 - np.abs(difficulty_gap), 0.0)
    return cfg.rate * attention * (1.0 + cfg.positive_bonus * POSITIVE[state]) * match * rate_factor
