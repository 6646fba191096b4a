"""Policies by name: built-ins and designers' own classes (``my_module:MyStrategy``).

``make_policy(name, params, sim_cfg)`` builds a policy; ``params`` come from
the ``[policy.params]`` table of a run config and are passed as keyword
arguments. A designer's class is imported from ``module:Class``; if its
constructor takes ``sim_config`` it receives the simulator config.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vclass.agents.baselines import (
    ALWAYS_NAMES,
    AlwaysFactor,
    GreedyAttentionCheckin,
    NoIntervention,
    RandomPolicy,
    RoundRobinCheckin,
)
from vclass.agents.ecem import ECEM
from vclass.agents.rules import RULES_PREFIX, rule_strategy
from vclass.config import ConfigError, bounded
from vclass.sim.classroom import Policy
from vclass.sim.config import SimConfig

DEFAULT_POLICY = "ecem"


@dataclass(frozen=True)
class PolicyConfig:
    """Which policy acts, and its keyword parameters (the ``[policy]`` table of a run config)."""

    name: str = bounded(DEFAULT_POLICY, doc="a built-in name or module:Class")
    params: dict = bounded(factory=dict, doc="keyword arguments of the policy")


_BUILDERS: dict[str, Callable[..., Policy]] = {
    "none": lambda cfg, **kw: NoIntervention(**kw),
    "random": lambda cfg, **kw: RandomPolicy(**kw),
    "round-robin": lambda cfg, **kw: RoundRobinCheckin(**kw),
    "greedy-attention": lambda cfg, **kw: GreedyAttentionCheckin(**kw),
    "ecem": lambda cfg, **kw: ECEM(cfg.emotion, cfg.incentives, **kw),
}
for _name, _factor in ALWAYS_NAMES.items():
    _BUILDERS[_name] = lambda cfg, _f=_factor, **kw: AlwaysFactor(_f, cfg.emotion, **kw)


def _shipped_drl(name: str) -> Callable[..., Policy]:
    def build(cfg: SimConfig, **kw: Any) -> Policy:
        from vclass.agents.drl import shipped_policy  # torch and stable-baselines3 load only when asked for

        return shipped_policy(name, cfg, **kw)

    return build


for _name in ("ppo-motivation", "ppo-attention"):
    _BUILDERS[_name] = _shipped_drl(_name)


def register_policy(name: str, builder: Callable[..., Policy]) -> None:
    """Add a named policy; ``builder(sim_cfg, **params)`` returns it."""
    _BUILDERS[name] = builder


def list_policies() -> list[str]:
    return sorted(_BUILDERS)


def make_policy(name: str, params: dict[str, Any] | None = None, sim_cfg: SimConfig | None = None) -> Policy:
    """Build the policy called ``name`` (a built-in, ``rules:FILE`` or ``module:Class``).

    :raises ConfigError: unknown name, unimportable class or bad parameters, naming ``policy.*``.
    """
    params = dict(params or {})
    sim_cfg = sim_cfg or SimConfig()
    if name.startswith(RULES_PREFIX):  # a rule file (vclass.agents.rules)
        builder = _rules_builder(name.removeprefix(RULES_PREFIX))
    elif ":" in name:
        builder = _import_policy(name)
    elif name in _BUILDERS:
        builder = _BUILDERS[name]
    else:
        raise ConfigError(
            "policy.name",
            f"unknown policy {name!r}; built-ins: {', '.join(list_policies())}, or a designer's class as module:Class",
        )
    try:
        policy = builder(sim_cfg, **params)
    except TypeError as err:
        raise ConfigError("policy.params", f"{name}: {err}") from None
    for method in ("reset", "act"):
        if not callable(getattr(policy, method, None)):
            raise ConfigError("policy.name", f"{name} has no {method}() method; a policy needs reset() and act()")
    return policy


def _rules_builder(spec: str) -> Callable[..., Policy]:
    return lambda cfg, **kw: rule_strategy(spec, cfg, kw)


def _import_policy(spec: str) -> Callable[..., Policy]:
    module_name, _, attr = spec.partition(":")
    if os.getcwd() not in sys.path:  # a designer's module in the working folder
        sys.path.insert(0, os.getcwd())
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError("policy.name", f"cannot import {spec!r}: {err}") from None
    takes_cfg = "sim_config" in inspect.signature(target).parameters

    def build(cfg: SimConfig, **kw: Any) -> Policy:
        return target(sim_config=cfg, **kw) if takes_cfg else target(**kw)

    return build
