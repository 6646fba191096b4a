"""The attention environment: which student the teacher checks in with every 30 seconds."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from vclass.env.classroom_env import ClassroomEnv, InvalidAction, integer_action
from vclass.sim.classroom import NO_CHECKIN, Action


class AttentionEnv(ClassroomEnv):
    """## Description

    One episode is one lesson of the virtual classroom (SPEC §2-4), as in S0 §3.2.2: every decision
    interval (30 s, three ticks of 10 s) the teacher may check in with one student, which boosts that
    student's attention by 0.25; the boost fades like an incentive (SPEC §3). Attention is pulled
    each tick towards a target set by the student's emotional state and fatigue. The teacher sees
    the class only through the recognizer in the loop: per-student attention estimates from the
    recognized faces (looking away, eyes closed) and HMM beliefs, never the true attention or state.
    No incentives are given.

    ## Action Space

    ``Discrete(N + 1)``:

    | value | action |
    |---|---|
    | 0 | check in with nobody |
    | k (1..N) | check in with student k - 1 (no effect if that student is absent or disconnected) |

    ## Observation Space

    ``Box(float32, shape=(7 + 17 N,))``, the same layout as :class:`vclass.env.motivation.MotivationEnv`
    (see :class:`vclass.env.classroom_env.ObservationEncoder`):

    | index | feature | range |
    |---|---|---|
    | 0 | time fraction t/T | [0, 1] |
    | 1-4 | segment one-hot (lecture, exercise, online-test, discussion) | {0, 1} |
    | 5 | lesson difficulty D(t) | [0, 1] |
    | 6 | share of the teaching-quality budget left (constant here) | [0, 1] |
    | 7 + 17k + (0..7) | student k's belief over the 8 states | [0, 1] |
    | 7 + 17k + 8 | emotion axis of that belief, x(A) | [-1.3, 1.3] |
    | 7 + 17k + 9 | attention estimate | [0, 1] |
    | 7 + 17k + 10 | reachable (present and connected) | {0, 1} |
    | 7 + 17k + 11 | camera on | {0, 1} |
    | 7 + 17k + (12..15) | incentive intensity estimates (always 0 here) | [0, 10] |
    | 7 + 17k + 16 | the teacher's check-in estimate: 1 a check-in, faded at the median dilution | [0, 10] |

    ## Rewards

    The effective participation time of the step (SPEC §7; S0 §3.2.4): minutes per student that
    students spent present, connected and attending (true attention ``a >= 0.6``)::

        reward = (attending student-ticks in the step) / N * dt / 60

    so a step gives at most 0.5 and the return of a lesson equals ``vclass.sim.measures.class_summary``'s
    ``effective_participation_min`` (at most the lesson's length in minutes).

    ## Starting State

    A fresh class drawn from the lesson seed, as in :class:`vclass.env.motivation.MotivationEnv`; the lesson
    seed comes from ``np_random`` or from ``options={"lesson_seed": k}``.

    ## Episode End

    The episode terminates when the lesson ends (90 steps for 45 minutes); no truncation. On the last
    step ``info["summary"]`` holds ``vclass.sim.measures.class_summary``.

    ## Arguments

    | argument | default | meaning |
    |---|---|---|
    | ``students`` | config's (30) | class size N |
    | ``minutes`` | config's (45) | lesson length |
    | ``recognizer`` | ``"surrogate"`` | ``surrogate`` or ``scn-cs`` |
    | ``backend`` | ``"auto"`` | inference backend of ``scn-cs`` (auto: the fastest CPU path installed) |
    | ``model_path``, ``confusion_path`` | shipped | recognizer model and its measured confusion |
    | ``config`` | SPEC's | a ``SimConfig``, a dict of simulator sections or a TOML file |
    | ``render_mode`` | None | ``"rgb_array"``: the class's faces with belief and attention bars |

    ```python
    import gymnasium, vclass
    e = gymnasium.make("vclass/Attention-v0", students=30)
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
        render_mode: str | None = None,
    ):
        super().__init__(students, minutes, recognizer, backend, model_path, confusion_path, config, render_mode)
        self.action_space = spaces.Discrete(self.n_students + 1)
        self._nothing = np.zeros(self.n_students, dtype=np.int64)

    def _to_action(self, action) -> Action:
        array = integer_action(action, f"action (Discrete({self.n_students + 1}))")
        if array.shape not in ((), (1,)):
            raise InvalidAction(f"action must be one integer in 0..{self.n_students}, got shape {array.shape}")
        choice = int(array.reshape(-1)[0])
        if not 0 <= choice <= self.n_students:
            raise InvalidAction(f"action must be in 0..{self.n_students}, got {choice}")
        return Action(self._nothing, choice - 1 if choice else NO_CHECKIN)

    def _reward(self, terms: dict[str, float]) -> float:
        return terms["effective_participation_min"]
