"""Known answers for SPEC §6's baselines: always-m only below the TEA and only on reachable students, round-robin's
order, greedy-attention's lowest estimate, random's probabilities.

Observations are built by hand; "reachable" is present and connected, and fixtures have students who are present
but disconnected (and the reverse), so a policy that reads only one of the two flags acts on the wrong students.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vclass.agents.baselines import (
    AlwaysFactor,
    GreedyAttentionCheckin,
    NoIntervention,
    RandomPolicy,
    RoundRobinCheckin,
)
from vclass.sim.classroom import NO_CHECKIN, Observation
from vclass.sim.config import EmotionConfig


def _obs(belief, attention=None, present=None, connected=None) -> Observation:
    n = len(belief)
    return Observation(
        tick=0,
        t_seconds=0.0,
        segment="lecture",
        difficulty=0.5,
        belief=np.asarray(belief, dtype=float),
        attention=np.full(n, 0.5) if attention is None else np.asarray(attention, dtype=float),
        present=np.ones(n, dtype=bool) if present is None else np.asarray(present),
        connected=np.ones(n, dtype=bool) if connected is None else np.asarray(connected),
        camera_on=np.ones(n, dtype=bool),
        intensity=np.zeros((n, 4)),
        teacher_budget_left=10,
    )


def _mix(weights: dict[int, float]) -> np.ndarray:
    belief = np.zeros(8)
    for state, weight in weights.items():
        belief[state] = weight
    return belief


def test_always_factor_applies_its_factor_to_reachable_students_strictly_below_the_tea():
    # x(A) from SPEC's state values (exc 1.3, hap 0.9, rel 0.7, calm -1.1, dep -1.3, ten -0.9, ang -0.7).
    beliefs = [
        _mix({3: 1.0}),  # x = 0.7: inside
        _mix({3: 0.9, 4: 0.1}),  # x = 0.63 - 0.11 = 0.52: below
        _mix({0: 0.5, 3: 0.5}),  # x = 1.0: inside
        _mix({2: 0.25, 3: 0.75}),  # x = 0.225 + 0.525 = 0.75: inside
        _mix({5: 1.0}),  # x = -1.3: below, but disconnected
        _mix({6: 1.0}),  # x = -0.9: below, but absent
        _mix({7: 1.0}),  # x = -0.7: below
        _mix({0: 1.0}),  # x = 1.3: inside (above the TEA is never "below")
    ]
    present = [True, True, True, True, True, False, True, True]
    connected = [True, True, True, True, False, True, True, True]
    for factor in (1, 2, 3, 4):
        policy = AlwaysFactor(factor, EmotionConfig())
        policy.reset(8, np.random.default_rng(0))
        action = policy.act(_obs(beliefs, present=present, connected=connected))
        assert action.incentives.tolist() == [0, factor, 0, 0, 0, 0, factor, 0]
        assert action.checkin == NO_CHECKIN
    assert action.incentives.dtype == np.int64  # the Action contract: integer factor codes
    high = AlwaysFactor(3, EmotionConfig(tea_low=0.8, tea_high=1.2))
    high.reset(8, np.random.default_rng(0))
    assert high.act(_obs(beliefs)).incentives.tolist() == [3, 3, 0, 3, 3, 3, 3, 0]


def test_always_factor_leaves_a_belief_exactly_on_the_tea_low_end_alone():
    # Weights whose axis values are exact in binary: relaxation is 1 - 0.5 - 0.25 = 0.25, the TEA's lower end.
    emotion = EmotionConfig(axis_weights=(1.0, 0.5, 0.25), tea_low=0.25, tea_high=1.5)
    policy = AlwaysFactor(2, emotion)
    policy.reset(2, np.random.default_rng(0))
    assert policy.act(_obs([_mix({3: 1.0}), _mix({3: 0.5, 2: 0.25, 4: 0.25})])).incentives.tolist() == [0, 2]


def test_round_robin_checks_in_with_the_next_reachable_student_in_index_order_and_wraps():
    policy = RoundRobinCheckin()
    policy.reset(5, np.random.default_rng(0))
    belief = [_mix({0: 1.0})] * 5
    present = [True, True, False, True, True]
    connected = [True, False, True, True, True]
    actions = [policy.act(_obs(belief, present=present, connected=connected)) for _ in range(5)]
    assert [a.checkin for a in actions] == [0, 3, 4, 0, 3]
    assert all(a.incentives.dtype == np.int64 and not a.incentives.any() for a in actions)
    # After 3, student 1 reconnects: the turn goes on from 4, then wraps to 0 and 1.
    visits = [policy.act(_obs(belief, present=present)).checkin for _ in range(4)]
    assert visits == [4, 0, 1, 3]
    nobody = policy.act(_obs(belief, connected=[False] * 5))
    assert nobody.checkin == NO_CHECKIN and not nobody.incentives.any()


def test_greedy_attention_checks_in_with_the_reachable_student_of_lowest_estimate():
    policy = GreedyAttentionCheckin()
    policy.reset(5, np.random.default_rng(0))
    belief = [_mix({0: 1.0})] * 5
    attention = [0.6, 0.1, 0.2, 0.35, 0.3]
    action = policy.act(
        _obs(belief, attention, present=[True, True, False, True, True], connected=[True, False] + [True] * 3)
    )
    assert action.checkin == 4 and not action.incentives.any() and action.incentives.dtype == np.int64
    assert policy.act(_obs(belief, attention)).checkin == 1
    assert policy.act(_obs(belief, attention, connected=[False] * 5)).checkin == NO_CHECKIN


def test_random_policy_gives_each_reachable_student_a_uniform_factor_with_its_probability():
    """4,000 students, 3 of every 4 reachable, over 25 decisions (75,000 reachable student-decisions). Each rate is
    within 5 binomial standard errors; check-ins land on reachable students only, each equally often (every share
    within 5 standard errors of 1/3)."""
    n = 4000
    policy = RandomPolicy(incentive_prob=0.3, checkin_prob=0.4)
    policy.reset(n, np.random.default_rng(13))
    present = np.arange(n) % 4 != 1
    connected = np.arange(n) % 4 != 2
    reachable = present & connected
    belief = np.tile(_mix({0: 1.0}), (n, 1))
    factors, checkins = [], []
    for _ in range(25):
        action = policy.act(_obs(belief, present=present, connected=connected))
        factors.append(action.incentives)
        checkins.append(action.checkin)
    factors = np.array(factors)
    assert not factors[:, ~reachable].any()
    given = factors[:, reachable]
    m = given.size
    assert abs((given > 0).mean() - 0.3) < 5 * math.sqrt(0.21 / m)
    counts = np.bincount(given[given > 0], minlength=5)[1:]
    share = counts / counts.sum()
    assert np.all(np.abs(share - 0.25) < 5 * math.sqrt(0.25 * 0.75 / counts.sum()))
    made = [c for c in checkins if c != NO_CHECKIN]
    assert all(reachable[c] for c in made)
    assert abs(len(made) / 25 - 0.4) < 5 * math.sqrt(0.24 / 25)
    many = RandomPolicy(incentive_prob=0.0, checkin_prob=1.0)
    many.reset(4, np.random.default_rng(14))
    small = [True, True, False, True]
    picks = [many.act(_obs([_mix({0: 1.0})] * 4, present=small)).checkin for _ in range(3000)]
    share = np.bincount(picks, minlength=4) / 3000
    assert share[2] == 0 and np.all(np.abs(share[[0, 1, 3]] - 1 / 3) < 5 * math.sqrt(2 / 9 / 3000))


def test_no_intervention_does_nothing():
    policy = NoIntervention()
    policy.reset(3, np.random.default_rng(0))
    action = policy.act(_obs([_mix({5: 1.0})] * 3))
    assert not action.incentives.any() and action.checkin == NO_CHECKIN


@pytest.mark.parametrize("name", ["incentive_prob", "checkin_prob"])
@pytest.mark.parametrize("prob", [-0.1, 1.5])
def test_random_policy_refuses_probabilities_outside_0_1_naming_the_parameter(name, prob):
    from vclass.config import ConfigError

    with pytest.raises(ConfigError) as info:
        RandomPolicy(**{name: prob})
    assert info.value.field == f"policy.params.{name}"


def test_random_policy_defaults_are_one_incentive_in_ten_and_a_check_in_every_other_decision():
    policy = RandomPolicy()
    assert (policy.incentive_prob, policy.checkin_prob) == (0.1, 0.5)
