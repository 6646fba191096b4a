"""Policies act on observations only, reach only reachable students, and do what their names say."""

from __future__ import annotations

import numpy as np
import pytest

from vclass.agents.baselines import (
    AlwaysFactor,
    GreedyAttentionCheckin,
    NoIntervention,
    RandomPolicy,
    RoundRobinCheckin,
)
from vclass.agents.registry import list_policies, make_policy
from vclass.config import ConfigError, replace_nested
from vclass.sim.classroom import NO_CHECKIN, Observation, simulate
from vclass.sim.config import EmotionConfig, SimConfig
from vclass.sim.emotion import N_STATES
from vclass.sim.measures import class_summary


def _obs(
    belief: np.ndarray, attention: np.ndarray | None = None, reachable: np.ndarray | None = None, budget: int = 10
) -> Observation:
    n = belief.shape[0]
    reach = np.ones(n, dtype=bool) if reachable is None else reachable
    return Observation(
        tick=0,
        t_seconds=0.0,
        segment="lecture",
        difficulty=0.5,
        belief=belief,
        attention=np.full(n, 0.5) if attention is None else attention,
        present=reach.copy(),
        connected=np.ones(n, dtype=bool),
        camera_on=np.ones(n, dtype=bool),
        intensity=np.zeros((n, 4)),
        teacher_budget_left=budget,
    )


def test_registry_lists_every_baseline_and_ecem():
    names = set(list_policies())
    assert {
        "none",
        "random",
        "round-robin",
        "greedy-attention",
        "ecem",
        "always-reduce-difficulty",
        "always-remove-problems",
        "always-fun",
        "always-teaching-quality",
    } <= names


def test_unknown_policy_and_bad_params_are_config_errors():
    with pytest.raises(ConfigError) as info:
        make_policy("telepathy")
    assert info.value.field == "policy.name" and "built-ins" in str(info.value)
    with pytest.raises(ConfigError) as info:
        make_policy("ecem", {"phi": -2})
    assert info.value.field == "policy.params.phi" and ">= 0" in str(info.value)
    with pytest.raises(ConfigError, match="policy.params"):
        make_policy("none", {"volume": 11})
    with pytest.raises(ConfigError, match="cannot import"):
        make_policy("no_such_module_xyz:Strategy")


def test_always_fun_applies_factor_three_only_below_the_region():
    eye = np.eye(N_STATES)
    belief = eye[[0, 3, 4, 5, 6]]  # excitement, relaxation in TEA; calm, depression, tension below
    policy = AlwaysFactor(3, EmotionConfig())
    policy.reset(5, np.random.default_rng(0))
    action = policy.act(_obs(belief, reachable=np.array([True, True, True, False, True])))
    assert action.incentives.tolist() == [0, 0, 3, 0, 3]
    assert action.checkin == NO_CHECKIN


def test_round_robin_visits_every_reachable_student_in_turn():
    policy = RoundRobinCheckin()
    policy.reset(4, np.random.default_rng(0))
    reach = np.array([True, False, True, True])
    visits = [policy.act(_obs(np.eye(N_STATES)[[0] * 4], reachable=reach)).checkin for _ in range(6)]
    assert visits == [0, 2, 3, 0, 2, 3]


def test_greedy_attention_checks_in_with_the_least_attentive_reachable_student():
    policy = GreedyAttentionCheckin()
    policy.reset(4, np.random.default_rng(0))
    action = policy.act(
        _obs(
            np.eye(N_STATES)[[0] * 4],
            attention=np.array([0.5, 0.1, 0.3, 0.9]),
            reachable=np.array([True, False, True, True]),
        )
    )
    assert action.checkin == 2 and not action.incentives.any()


def test_random_policy_rate_matches_its_parameter():
    policy = RandomPolicy(incentive_prob=0.2, checkin_prob=1.0)
    policy.reset(1000, np.random.default_rng(0))
    reach = np.arange(1000) % 2 == 0
    action = policy.act(_obs(np.eye(N_STATES)[[0] * 1000], reachable=reach))
    assert not action.incentives[~reach].any()
    assert action.incentives[reach].astype(bool).mean() == pytest.approx(0.2, abs=4 * np.sqrt(0.16 / 500))
    assert reach[action.checkin]


def test_ecem_raises_tea_share_over_no_intervention():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 30, "classroom.minutes": 30.0})
    gains = []
    for seed in range(4):
        none = class_summary(simulate(cfg, seed, NoIntervention()))["tea_share"]
        ecem = class_summary(simulate(cfg, seed, make_policy("ecem", {}, cfg)))["tea_share"]
        gains.append(ecem - none)
    assert min(gains) > 0.1
