"""The motivation environment: which incentive, if any, each student gets every 30 seconds."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from vclass.config import ConfigError
from vclass.env.classroom_env import ClassroomEnv, InvalidAction, integer_action
from vclass.sim.classroom import NO_CHECKIN, Action
from vclass.sim.emotion import N_FACTORS


class MotivationEnv(ClassroomEnv):
    """## Description

    One episode is one lesson of the virtual classroom (SPEC §2-4): N students whose emotions follow
    a hidden Markov chain drifting with the lesson's difficulty, fatigue and online tests. The agent
    is the teacher. Every decision interval (30 s, three ticks of 10 s) it gives each student one
    of the four incentive factors of S3 eq 11, or nothing. Incentives fade (eq 12), habituate
    and have real costs (SPEC §2). The teacher sees the class only through the recognizer in
    the loop: per-student HMM beliefs over the eight emotional states, never the true state.

    ## Action Space

    ``MultiDiscrete([5] * N)``. Entry k is what student k gets:

    | value | action |
    |---|---|
    | 0 | nothing |
    | 1 | reduce learning difficulty (D lowered by 0.3 while active; learning rate -30% meanwhile) |
    | 2 | remove difficult problems (one of the lesson's 20 problems gone: coverage -1/20 for good) |
    | 3 | enhance classroom fun (20 s of learning lost by everyone who gets it; counts once a decision) |
    | 4 | improve teaching quality (draws on the teacher's budget of 10 uses a lesson; refused beyond) |

    Incentives for students who are absent or disconnected have no effect and cost nothing.

    ## Observation Space

    ``Box(float32, shape=(7 + 17 N,))``: 7 global features, then 17 per student (see
    :class:`vclass.env.classroom_env.ObservationEncoder`, shared by both environments and by the trained
    policies in ``vclass run``):

    | index | feature | range |
    |---|---|---|
    | 0 | time fraction t/T | [0, 1] |
    | 1-4 | segment one-hot (lecture, exercise, online-test, discussion) | {0, 1} |
    | 5 | lesson difficulty D(t) | [0, 1] |
    | 6 | share of the teaching-quality budget left | [0, 1] |
    | 7 + 17k + (0..7) | student k's belief over the 8 states (HMM filter on recognized faces) | [0, 1] |
    | 7 + 17k + 8 | emotion axis of that belief, x(A) (S3 eq 13) | [-1.3, 1.3] |
    | 7 + 17k + 9 | attention estimate (from the recognizer's attribute outputs) | [0, 1] |
    | 7 + 17k + 10 | reachable (present and connected) | {0, 1} |
    | 7 + 17k + 11 | camera on | {0, 1} |
    | 7 + 17k + (12..15) | the teacher's estimate of the four incentive intensities | [0, 10] |
    | 7 + 17k + 16 | the teacher's estimate of its check-in boost (always 0 here) | [0, 10] |

    ## Rewards

    From SPEC §7's measures over the step's ticks (:func:`vclass.env.classroom_env.reward_terms`)::

        reward = 100 * ( learning_gain / (learning.rate * n_ticks)
                         + tea_weight * tea_share
                         - cost_weight * intervention_cost / (N * n_steps) )

    ``learning_gain`` is the class mean knowledge gained in the step, measured against the most a
    lesson can give at full attention and matched difficulty in a non-positive state; ``tea_share``
    is the step's per-tick share of present students whose true emotion lies in the target region,
    over the lesson's ticks; ``intervention_cost`` weighs each use of a factor by
    ``incentives.cost_weights`` (fun once per decision), per student and decision. Over a lesson the
    return is 100 x (normalized learning gain + ``tea_weight`` x TEA share - ``cost_weight`` x
    incentives per student-decision): with the defaults, doing nothing scores about 79 at 30
    students, and an incentive to every student at every decision would cost 100.

    ## Starting State

    A fresh class drawn from the lesson seed: students' chains, abilities, fatigue, dilution,
    late joins and drop-outs, and their initial states from each chain's stationary distribution.
    The lesson seed comes from the env's ``np_random`` (so ``reset(seed=s)`` is deterministic), or
    from ``options={"lesson_seed": k}``, which gives the same class as ``vclass run --seed k``.

    ## Episode End

    The episode terminates when the lesson ends: ``ceil(T / 30 s)`` steps (90 for 45 minutes).
    There is no truncation. On the last step ``info["summary"]`` holds ``vclass.sim.measures.class_summary``.
    Every step's ``info`` holds the reward terms and ``student_rewards`` (N,), each student's share of
    the reward (their own learning, TEA time and incentives; a fun decision's cost split among its
    recipients), whose mean is the reward.

    ## Arguments

    | argument | default | meaning |
    |---|---|---|
    | ``students`` | config's (30) | class size N |
    | ``minutes`` | config's (45) | lesson length |
    | ``recognizer`` | ``"surrogate"`` | ``surrogate`` (confusion draws, fast) or ``scn-cs`` (faces, real model) |
    | ``backend`` | ``"auto"`` | inference backend of ``scn-cs`` (auto: the fastest CPU path installed) |
    | ``model_path``, ``confusion_path`` | shipped | recognizer model and its measured confusion |
    | ``config`` | SPEC's | a ``SimConfig``, a dict of simulator sections or a TOML file (lesson, incentives, ...) |
    | ``tea_weight`` | 1.0 | weight of the TEA share |
    | ``cost_weight`` | 1.0 | weight of the intervention cost |
    | ``render_mode`` | None | ``"rgb_array"``: the class's faces with belief and attention bars |

    ```python
    import gymnasium, vclass
    e = gymnasium.make("vclass/Motivation-v0", students=30, recognizer="surrogate")
    ```
    """

    def __init__(
        self,
        students: int | None = None,
        minutes: float | None = None,
        recognizer: str = "surrogate",
        backend: str = "auto",
        model_path: str | None = None,
        confusion_path: str | None = None,
        config=None,
        tea_weight: float = 1.0,
        cost_weight: float = 1.0,
        render_mode: str | None = None,
    ):
        for name, value in (("tea_weight", tea_weight), ("cost_weight", cost_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1000:
                raise ConfigError(name, f"must be a number >= 0 and <= 1000, got {value!r}")
        super().__init__(students, minutes, recognizer, backend, model_path, confusion_path, config, render_mode)
        self.tea_weight, self.cost_weight = float(tea_weight), float(cost_weight)
        self.action_space = spaces.MultiDiscrete(np.full(self.n_students, N_FACTORS + 1, dtype=np.int64))
        cfg = self.sim_config
        self._learning_scale = 1.0 / (cfg.learning.rate * cfg.classroom.n_ticks)
        self._cost_scale = 1.0 / (self.n_students * self.max_steps)
        self._student_weights: tuple = (None, None)  # the reward weights, and the same as 0-d arrays

    def _to_action(self, action) -> Action:
        factors = integer_action(action, f"action (MultiDiscrete([5] * {self.n_students}))")
        if factors.shape != (self.n_students,):
            raise InvalidAction(f"action must be {self.n_students} integers in 0..4, got shape {factors.shape}")
        if np.minimum.reduce(factors) < 0 or np.maximum.reduce(factors) > N_FACTORS:
            raise InvalidAction(f"action entries must be in 0..{N_FACTORS}, got {factors.min()}..{factors.max()}")
        return Action(factors if factors.dtype == np.int64 else factors.astype(np.int64), NO_CHECKIN)

    def _reward(self, terms: dict[str, float]) -> float:
        return float(
            motivation_reward(terms, self._learning_scale, self.tea_weight, self.cost_weight, self._cost_scale)
        )

    def _step_info(self, per_student: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # Each student's share: their mean is the reward (the cost is per student, so N x the class scale).
        # The weights go in as numpy 0-d arrays (same values; numpy converts a Python float on every operation).
        weights = (self._learning_scale, self.tea_weight, self.cost_weight, self._cost_scale * self.n_students)
        if weights != self._student_weights[0]:
            self._student_weights = (weights, [np.asarray(w) for w in weights])
        return {"student_rewards": motivation_reward(per_student, *self._student_weights[1])}


def motivation_reward(terms: dict, learning_scale: float, tea_weight: float, cost_weight: float, cost_scale: float):
    """The motivation reward of :class:`MotivationEnv` from :func:`vclass.env.classroom_env.reward_terms` (floats) or,
    per student, from :func:`vclass.env.classroom_env.student_reward_terms` (arrays)."""
    return 100.0 * (
        terms["learning_gain"] * learning_scale
        + tea_weight * terms["tea_share"]
        - cost_weight * terms["intervention_cost"] * cost_scale
    )
