"""SPEC's numbers, typed in again from /work/shared/SPEC.md for the science tests (tests/test_science_*.py).

The tests compute their expected values from these and from hand formulas, never from the code's own tables or
helpers, so a wrong constant or a wrong formula in the code cannot agree with itself.
"""

from __future__ import annotations

import numpy as np

from vclass.sim.classroom import Action

# §1: (P, A, D) of excitement, joy, happiness, relaxation, calmness, depression, tension, anger.
PAD = np.array(
    [[1, 1, 1], [1, 1, -1], [1, -1, 1], [1, -1, -1], [-1, -1, 1], [-1, -1, -1], [-1, 1, -1], [-1, 1, 1]], dtype=float
)
AXIS = np.array([1.3, 1.1, 0.9, 0.7, -1.1, -1.3, -0.9, -0.7])  # eq 13 axis values, as SPEC prints them
POSITIVE = np.array([True] * 4 + [False] * 4)
LOW_AROUSAL = np.array([False, False, True, True, True, True, False, False])  # hap, rel, calm, dep
NEGATIVE_HIGH_AROUSAL = np.array([False] * 6 + [True, True])  # tension, anger
NEGATIVE_LOW_AROUSAL = np.array([False] * 4 + [True, True] + [False] * 2)  # calmness, depression
TENSION = 6

# §2 destination profiles W_m.
W = np.array(
    [
        [0, 0, 0.5, 1, 0.5, 0, -1, -0.5],
        [0, 0.5, 0.5, 0.5, 0, -0.5, -1, -1],
        [1, 1, 0.5, 0, -0.5, -1, 0, 0],
        [0.5, 0.5, 1, 0.5, 0, -0.5, -0.5, -0.5],
    ]
)
TAU = 1.5

# §3 attention targets a*(s).
A_STAR = np.array([0.75, 0.85, 0.80, 0.60, 0.55, 0.25, 0.50, 0.30])

# §4 emission B(s, y) over neutral, happy, surprise, sad, anger, disgust, fear.
B = np.array(
    [
        [0.05, 0.45, 0.45, 0, 0, 0, 0.05],
        [0.15, 0.75, 0.10, 0, 0, 0, 0],
        [0.35, 0.60, 0.05, 0, 0, 0, 0],
        [0.70, 0.25, 0, 0.05, 0, 0, 0],
        [0.75, 0.05, 0, 0.15, 0, 0.05, 0],
        [0.25, 0, 0, 0.65, 0, 0.05, 0.05],
        [0.20, 0, 0.10, 0.10, 0.05, 0.05, 0.50],
        [0.10, 0, 0, 0.05, 0.65, 0.20, 0],
    ]
)

# A recognizer confusion (rows: shown class, columns: recognized) that is far from symmetric, so that a transposed
# or misread matrix gives different numbers.
ASYMMETRIC_CONFUSION = np.array(
    [
        [0.60, 0.25, 0.05, 0.05, 0.00, 0.00, 0.05],
        [0.02, 0.90, 0.08, 0.00, 0.00, 0.00, 0.00],
        [0.00, 0.30, 0.50, 0.00, 0.00, 0.00, 0.20],
        [0.40, 0.00, 0.00, 0.55, 0.00, 0.05, 0.00],
        [0.00, 0.00, 0.00, 0.10, 0.70, 0.20, 0.00],
        [0.05, 0.00, 0.00, 0.35, 0.15, 0.45, 0.00],
        [0.10, 0.00, 0.25, 0.15, 0.00, 0.00, 0.50],
    ]
)


def base_chain(stay: float = 0.92, same: float = 0.02, other: float = 0.005) -> np.ndarray:
    """§2's A0: ``stay`` on the diagonal, ``same`` to each other state of the category, ``other`` across."""
    chain = np.empty((8, 8))
    for i in range(8):
        for j in range(8):
            chain[i, j] = stay if i == j else (same if POSITIVE[i] == POSITIVE[j] else other)
    return chain


def normalized(row: np.ndarray) -> np.ndarray:
    return row / row.sum(axis=-1, keepdims=True)


class Scripted:
    """A policy that gives the factors and check-ins of a script: ``plan[tick][student] = factor``."""

    def __init__(self, plan: dict[int, dict[int, int]], checkins: dict[int, int] | None = None):
        self.plan, self.checkins = plan, checkins or {}

    def reset(self, n, rng):
        pass

    def act(self, obs):
        factors = np.zeros(obs.n_students, dtype=np.int64)
        for student, factor in self.plan.get(obs.tick, {}).items():
            factors[student] = factor
        return Action(factors, self.checkins.get(obs.tick, -1))
