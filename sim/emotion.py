"""Emotion space and emotion dynamics (SPEC §1-2; S3 eqs 7-13).

The eight hidden states are vertices of the pleasure-arousal-dominance cube.
Each tick a student's next state is drawn from the row of their own base
transition matrix, tilted by the lesson context and by the incentives acting
on them::

    A_k(i, j)  ∝  A0_k(i, j) * exp(context_kj + tau * sum_m I_km * W_m(j))

All functions are vectorized over students and work in log space so the
simulator can sample a row with the Gumbel-max trick without normalizing it.
"""

from __future__ import annotations

import numpy as np

from vclass.sim.config import EmotionConfig, IncentiveConfig

STATE_NAMES = ("excitement", "joy", "happiness", "relaxation", "calmness", "depression", "tension", "anger")
FACTOR_NAMES = ("reduce-difficulty", "remove-problems", "fun", "teaching-quality")
N_STATES = len(STATE_NAMES)
N_FACTORS = len(FACTOR_NAMES)
_N_FACTORS = np.array(N_FACTORS)  # 0-d, for arithmetic with index arrays (see vclass.sim.attention.ONE)

# S3 Fig. 5: (pleasure, arousal, dominance) of each state.
PAD = np.array(
    [[+1, +1, +1], [+1, +1, -1], [+1, -1, +1], [+1, -1, -1], [-1, -1, +1], [-1, -1, -1], [-1, +1, -1], [-1, +1, +1]],
    dtype=np.float64,
)
POSITIVE = PAD[:, 0] > 0
HIGH_AROUSAL = PAD[:, 1] > 0
NEGATIVE_HIGH_AROUSAL = ~POSITIVE & HIGH_AROUSAL  # tension, anger
NEGATIVE_LOW_AROUSAL = ~POSITIVE & ~HIGH_AROUSAL  # calmness, depression
LOW_AROUSAL = ~HIGH_AROUSAL
TENSION = STATE_NAMES.index("tension")


def axis_values(cfg: EmotionConfig) -> np.ndarray:
    """Emotion-axis value of each state, ``C · v_i`` (S3 eq 13)."""
    return PAD @ np.asarray(cfg.axis_weights)


def emotion_axis(belief: np.ndarray, cfg: EmotionConfig) -> np.ndarray:
    """Axis value ``x(A) = sum_i A_i (C · v_i)`` of belief vectors (..., 8) (S3 eq 13)."""
    return belief @ axis_values(cfg)


def in_tea(x: np.ndarray, cfg: EmotionConfig) -> np.ndarray:
    """Whether axis values lie in the target emotion region [tea_low, tea_high]."""
    return (x >= cfg.tea_low) & (x <= cfg.tea_high)


def base_transition_matrix(cfg: EmotionConfig) -> np.ndarray:
    """The shared base chain A0: stay, same-category and other-category probabilities."""
    same = POSITIVE[:, None] == POSITIVE[None, :]
    a0 = np.where(same, cfg.same_category_prob, cfg.other_category_prob)
    np.fill_diagonal(a0, cfg.stay_prob)
    return a0


def student_transition_matrices(cfg: EmotionConfig, temperament: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-student base chains A0_k, shape (N, 8, 8), rows summing to 1.

    Each row is drawn from ``Dirichlet(kappa * A0_row)``, then column j is
    multiplied by ``exp(b_k * P_j)`` (temperament) and the row renormalized.
    """
    alpha = cfg.heterogeneity_kappa * base_transition_matrix(cfg)
    n = temperament.shape[0]
    # Dirichlet rows via normalized gammas: one call for all students and rows.
    draws = rng.standard_gamma(np.broadcast_to(alpha, (n, N_STATES, N_STATES)))
    draws = np.maximum(draws, 1e-300)  # a zero gamma draw would make log(A0) -inf
    draws *= np.exp(temperament[:, None, None] * PAD[None, None, :, 0])
    return draws / draws.sum(axis=2, keepdims=True)


def stationary_distribution(transitions: np.ndarray, squarings: int = 12) -> np.ndarray:
    """Stationary distribution of each chain in (..., 8, 8): a row of ``A^(2^squarings)``.

    The chains are ergodic (every entry positive), so 4096 steps converge far
    below float precision for any mixing time of practical interest.
    """
    power = transitions
    for _ in range(squarings):
        power = power @ power
    dist = power[..., 0, :]
    return dist / dist.sum(axis=-1, keepdims=True)


def drift_matrix(cfg: EmotionConfig, inc: IncentiveConfig) -> np.ndarray:
    """Rows that turn drift features into log multipliers of the 8 columns, shape (7, 8).

    Feature order: difficulty gap, fatigue drive, online test, then the four
    incentive intensities. Feature weights that vary in time (eta_F by
    segment) are folded into the features, constant ones (eta_D, eta_T, tau)
    into this matrix.
    """
    rows = np.zeros((3 + N_FACTORS, N_STATES))
    rows[0] = cfg.difficulty_drift * NEGATIVE_HIGH_AROUSAL  # S3/SPEC: eta_D
    rows[1] = NEGATIVE_LOW_AROUSAL  # eta_F carried by the feature
    rows[2, TENSION] = cfg.test_tension_drift  # eta_T
    rows[3:] = cfg.incentive_gain * np.asarray(inc.profiles)  # S3 eq 11: tau * W_m
    return rows


def drift_features(
    difficulty_gap: np.ndarray,
    fatigue_drive: np.ndarray,
    online_test: bool,
    intensity: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Stack the per-student drift features (N, 7) that :func:`drift_matrix` maps to log multipliers.

    :param difficulty_gap: ``D_k(t) - D*_k``.
    :param fatigue_drive: ``eta_F(t) * F_k(t)``.
    :param online_test: whether the current segment is an online test.
    :param intensity: incentive intensities ``I_km(t)``, shape (N, 4).
    """
    if out is None:
        out = np.empty((intensity.shape[0], 3 + N_FACTORS))
    out[:, 0] = difficulty_gap
    out[:, 1] = fatigue_drive
    out[:, 2] = float(online_test)
    out[:, 3:] = intensity
    return out


def transition_rows(log_base_rows: np.ndarray, features: np.ndarray, drift: np.ndarray) -> np.ndarray:
    """Normalized next-state distributions (N, 8) for the current rows of A0_k.

    :param log_base_rows: ``log A0_k(s_k, ·)``, shape (N, 8).
    :param features: output of :func:`drift_features`.
    :param drift: output of :func:`drift_matrix`.
    """
    logits = log_base_rows + features @ drift
    logits -= logits.max(axis=-1, keepdims=True)
    rows = np.exp(logits)
    return rows / rows.sum(axis=-1, keepdims=True)


def predict_belief(
    belief: np.ndarray, transitions: np.ndarray, features: np.ndarray, drift: np.ndarray, ticks: int = 1
) -> np.ndarray:
    """Propagate beliefs (N, 8) through the tilted chains for ``ticks`` ticks: ``A' = A · A_k``.

    ``transitions`` are the students' base chains (N, 8, 8); the tilt of every
    row uses the same ``features`` (held fixed over the look-ahead).
    """
    tilt = np.exp(features @ drift)  # (N, 8), column multipliers
    rows = transitions * tilt[:, None, :]
    rows /= rows.sum(axis=-1, keepdims=True)
    for _ in range(ticks):
        belief = np.einsum("ni,nij->nj", belief, rows)
    return belief


class IncentiveLedger:
    """Intensities ``I_km(t)`` of the four factors on each student, with fading and habituation.

    S3 eq 12: an application at ``t_a`` with strength ``I0`` contributes
    ``I0 * exp(-psi_k * d * (t - t_a))``; contributions add. Because the decay
    is exponential the sum is kept as one running value per (student, factor),
    multiplied by ``exp(-psi_k * d * dt)`` each tick. Habituation: an
    application that is the n-th repeat of the same factor on the same student
    within the window (n = 0 for the first) has ``I0 = h^n``.
    """

    def __init__(self, dilution: np.ndarray, cfg: IncentiveConfig, tick_seconds: float, decision_seconds: float):
        n = dilution.shape[0]
        self.cfg = cfg
        self.intensity = np.zeros((n, N_FACTORS))
        self.decay_per_tick = np.exp(-dilution * cfg.fading_per_minute * tick_seconds / 60.0)
        # Each student's factor repeated over the four columns: a plain elementwise product is faster than
        # broadcasting a column over small rows.
        self._decay = np.repeat(self.decay_per_tick[:, None], N_FACTORS, axis=1)
        window_s = cfg.habituation_window_minutes * 60.0
        slots = int(np.ceil(window_s / decision_seconds)) + 1
        # Times of the recent applications of each (student, factor) cell, row student * 4 + factor; -inf: none.
        # A slot more than a window can hold: the oldest time is always out of the window, and is replaced next.
        self._recent = np.full((n * N_FACTORS, slots), -np.inf)
        self._window_s = window_s
        self._habituation = np.asarray(cfg.habituation)  # 0-d (see vclass.sim.attention.ONE)

    def apply(self, t_seconds: float, students: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """Apply factor ``factors[i]`` (0-based) to student ``students[i]`` at ``t_seconds`` (applications come in
        time order).

        :return: the strengths ``I0`` given, after habituation.
        """
        cells = students * _N_FACTORS + factors
        recent = self._recent.take(cells, axis=0)
        strength = self._habituation ** np.add.reduce(recent > np.asarray(t_seconds - self._window_s), 1)
        self.add(students, factors, strength)
        self._recent[cells, recent.argmin(axis=1)] = t_seconds  # the oldest time gives way
        return strength

    def next_strengths(self, t_seconds: float) -> np.ndarray:
        """The strength ``I0 = h^n`` each factor (columns) would have on each student (rows) if applied at
        ``t_seconds``: ``n`` earlier applications of it within the window."""
        repeats = np.add.reduce(self._recent > np.asarray(t_seconds - self._window_s), 1)
        return (self._habituation**repeats).reshape(-1, N_FACTORS)

    def add(self, students: np.ndarray, factors: np.ndarray, strength: np.ndarray) -> None:
        """Add applications of known strengths (habituation already applied, e.g. by another ledger that
        recorded the same applications)."""
        np.add.at(self.intensity, (students, factors), strength)

    def decay(self) -> None:
        """Advance one tick of fading."""
        self.intensity *= self._decay

    def before_decay(self, out: np.ndarray | None = None) -> np.ndarray:
        """The intensities as they stood before the last :meth:`decay` (during the tick's transition)."""
        return np.divide(self.intensity, self._decay, out=out)
