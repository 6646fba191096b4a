"""HMM beliefs over the eight emotional states (S3 eqs 9-10; SPEC §4).

:class:`BeliefFilter` is the per-student forward filter, vectorized over a
class: each tick it predicts with the transition matrix and, for students
with a frame, weighs by the emission probability of the recognized class;
students without a frame (dropped connection, camera off) are predicted
only. :func:`fit_baum_welch` refits transitions and emissions from
recognized sequences with hmmlearn's ``CategoricalHMM``, iterating until the
log-likelihood gain is below ``epsilon`` (eq 10). The emission model the
filter uses is SPEC's ``B`` composed with the recognizer's confusion matrix
(:func:`compose_emission`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

try:  # the C function np.einsum calls (optimize=False), without its Python wrapper: the filter calls it every tick
    from numpy._core.multiarray import c_einsum as _einsum
except ImportError:  # pragma: no cover - other numpy layouts
    _einsum = np.einsum

EPSILON = 1e-4  # S3 eq 10: stop when the log-likelihood gain is below this
_TINY = np.array(1e-300)  # floor of a step's normalizer (0-d: numpy converts a Python float operand on every call)


def compose_emission(expression_given_state: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """P(recognized class | state) = B @ C, with C rows P(recognized | true class)."""
    composed = np.asarray(expression_given_state) @ np.asarray(confusion)
    return composed / composed.sum(axis=1, keepdims=True)


class BeliefFilter:
    """Forward filter (S3 eq 9) for N students at once.

    ``belief_t ∝ (belief_{t-1} · A) * E[:, y_t]``, the first step using the
    initial distribution in place of ``belief_{t-1} · A`` (hmmlearn's
    convention, so filtered beliefs equal hmmlearn's posterior at the last
    observation of every prefix).

    :param transitions: (S, S) shared, or (N, S, S) per student.
    :param emission: (S, K) P(recognized class | state).
    :param initial: (S,) or (N, S) distribution of the first state.
    :param n_students: number of students filtered together.
    """

    def __init__(self, transitions: np.ndarray, emission: np.ndarray, initial: np.ndarray, n_students: int):
        self.transitions = np.asarray(transitions, dtype=np.float64)
        self.emission = np.asarray(emission, dtype=np.float64)
        self.initial = np.broadcast_to(
            np.asarray(initial, dtype=np.float64), (n_students, self.emission.shape[0])
        ).copy()
        self.n_students = n_students
        # Likelihood of each recognized class (rows of E transposed), and a last row of ones for "no frame".
        self._likelihoods = np.vstack([self.emission.T, np.ones(self.emission.shape[0])])
        self.reset()

    def reset(self) -> None:
        self.belief = self.initial.copy()
        self.started = np.zeros(self.n_students, dtype=bool)
        self._all_started = False  # every student has had a step (the usual case after the first tick)
        self._log_likelihood = np.zeros(self.n_students)
        self._unlogged: list[tuple[np.ndarray, np.ndarray | None]] = []  # (total, has_frame) of steps not yet added

    @property
    def log_likelihood(self) -> np.ndarray:
        """Log-likelihood of each student's recognized sequence so far (N,).

        Steps keep their normalizers and their logs are added when this is read (the filter in the loop never
        reads it, and the per-tick work is worth saving); the sum runs in step order, as if added each step.
        """
        self._add_unlogged()
        return self._log_likelihood

    def _add_unlogged(self) -> None:
        for total, has_frame in self._unlogged:
            self._log_likelihood += np.log(total) if has_frame is None else np.where(has_frame, np.log(total), 0.0)
        self._unlogged.clear()

    def predict(self, belief: np.ndarray) -> np.ndarray:
        """One tick of the chain: ``belief · A``."""
        if self.transitions.ndim == 2:
            return belief @ self.transitions
        return _einsum("ni,nij->nj", belief, self.transitions)

    def step(
        self, recognized: np.ndarray, has_frame: np.ndarray | None = None, transitions: np.ndarray | None = None
    ) -> np.ndarray:
        """Advance one tick with the recognized classes (N,), each in ``0..K-1``; ``has_frame`` False means no
        observation (the class is then ignored).

        :param transitions: this tick's transition matrices, (S, S) or (N, S, S), replacing the stored ones
            (for a chain whose rows change with context).
        :return: the filtered beliefs (N, S).
        """
        if has_frame is None:
            return self.update(recognized, None, transitions)
        has_frame = np.array(has_frame, dtype=bool)  # a copy: kept for the log-likelihood
        return self.update(np.where(has_frame, recognized, -1), has_frame, transitions)

    def update(
        self,
        symbols: np.ndarray,
        has_frame: np.ndarray | None,
        transitions: np.ndarray | None = None,
        prior: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`step` with the recognized classes already -1 where there is no frame (as a lesson record
        keeps them); ``has_frame`` is ``symbols >= 0`` (None: every student has a frame) and is kept, unchanged,
        until :attr:`log_likelihood` is read.

        :param prior: ``belief · A`` already computed by the caller's chain (instead of ``transitions``).
        """
        if transitions is not None:
            self.transitions = np.asarray(transitions, dtype=np.float64)
        if prior is None:
            prior = self.predict(self.belief)
        if not self._all_started:
            prior = np.where(self.started[:, None], prior, self.initial)
            self.started[:] = True
            self._all_started = True
        joint = prior * self._likelihoods.take(symbols, axis=0)  # row -1 (no frame) is all ones
        total = np.maximum(np.add.reduce(joint, 1), _TINY)  # joint.sum(axis=1), at least 1e-300
        self._unlogged.append((total, has_frame))
        if len(self._unlogged) >= 1000:  # bounded memory for long runs that never read it
            self._add_unlogged()
        self.belief = joint / total[:, None]
        return self.belief


@dataclass
class FittedHMM:
    """Result of Baum-Welch: learned parameters end in ``_`` (scikit-learn style)."""

    startprob_: np.ndarray
    transmat_: np.ndarray
    emissionprob_: np.ndarray
    log_likelihood_: float
    n_iter_: int
    converged_: bool
    history_: list[float]


def fit_baum_welch(
    sequences: list[np.ndarray],
    transitions: np.ndarray,
    emission: np.ndarray,
    initial: np.ndarray,
    epsilon: float = EPSILON,
    max_iter: int = 500,
    params: str = "ste",
    seed: int = 0,
) -> FittedHMM:
    """Refit an HMM from recognized sequences by Baum-Welch (S3 eq 10), through hmmlearn.

    :param sequences: integer arrays of recognized classes (one per student), missing frames removed.
    :param transitions: the starting transition matrix (e.g. SPEC's model).
    :param emission: the starting emission matrix.
    :param initial: the starting initial distribution.
    :param epsilon: stop when the log-likelihood gain is below this.
    :param params: which parameters to update: s(tart), t(ransitions), e(missions).
    """
    from hmmlearn.hmm import CategoricalHMM

    sequences = [np.asarray(s, dtype=np.int64) for s in sequences if len(s) > 0]
    if not sequences:
        raise ValueError("fit_baum_welch needs at least one non-empty sequence")
    n_states, n_symbols = np.asarray(emission).shape
    model = CategoricalHMM(
        n_components=n_states,
        n_features=n_symbols,
        n_iter=max_iter,
        tol=epsilon,
        params=params,
        init_params="",
        random_state=seed,
    )
    model.startprob_ = np.asarray(initial, dtype=np.float64)
    model.transmat_ = np.asarray(transitions, dtype=np.float64)
    model.emissionprob_ = np.asarray(emission, dtype=np.float64)
    data = np.concatenate(sequences)[:, None]
    model.fit(data, lengths=[len(s) for s in sequences])
    history = list(model.monitor_.history)
    return FittedHMM(
        startprob_=model.startprob_.copy(),
        transmat_=model.transmat_.copy(),
        emissionprob_=model.emissionprob_.copy(),
        log_likelihood_=float(history[-1]),
        n_iter_=int(model.monitor_.iter),
        converged_=bool(model.monitor_.converged),
        history_=history,
    )
