"""Policies by name: built-ins and designers' own classes (``my_module:MyStrategy``).

``make_policy(name, params, sim_cfg)`` builds a policy; ``params`` come from
the ``[policy.params]`` table of a run config and are passed as keyword
arguments. A designer's class is imported from ``module:Class``; if its
constructor takes ``sim_config`` it receives the simulator config.

Designers' code runs behind a guard (:class:`GuardedPolicy`): whatever it raises
while importing, constructing, in ``reset()`` or in ``act()``, and every action it
returns that is not a valid :class:`~vclass.sim.classroom.Action` (shape, dtype,
range, a check-in that is not an integer), becomes one
:class:`~vclass.config.ConfigError` that names the strategy and the line of the
designer's own file where it happened.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

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
from vclass.sim.classroom import Action, Observation, Policy, check_action
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
    "ecem": lambda cfg, **kw: ECEM(cfg, **kw),
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
    designers = ":" in name and not name.startswith(RULES_PREFIX)  # a designer's own code: run behind the guard
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
    except ConfigError:
        raise
    except TypeError as err:
        if designers and _designer_frames(err):  # raised inside the constructor, not by calling it
            raise designer_error(name, "__init__()", err) from None
        raise ConfigError("policy.params", f"{name}: {err}") from None
    except Exception as err:
        if designers:
            raise designer_error(name, "__init__()", err) from None
        raise
    for method in ("reset", "act"):
        if not callable(getattr(policy, method, None)):
            raise ConfigError("policy.name", f"{name} has no {method}() method; a policy needs reset() and act()")
    return GuardedPolicy(policy, name) if designers else policy


def _rules_builder(spec: str) -> Callable[..., Policy]:
    return lambda cfg, **kw: rule_strategy(spec, cfg, kw)


def _import_policy(spec: str) -> Callable[..., Policy]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError("policy.name", f"a designer's class is named module:Class, got {spec!r}")
    if os.getcwd() not in sys.path:  # a designer's module in the working folder
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise ConfigError(
                "policy.name", f"cannot import {spec!r}: no module {err.name!r} in the working folder or on the path"
            ) from None
        raise designer_error(spec, "import", err) from None
    except Exception as err:  # noqa: BLE001 - importing a designer's module runs their code
        raise designer_error(spec, "import", err) from None
    target = getattr(module, attr, None)
    if target is None:
        raise ConfigError("policy.name", f"cannot import {spec!r}: module {module_name!r} has no {attr!r}")
    if not callable(target):
        raise ConfigError("policy.name", f"{spec!r} is not a class or function that builds a policy")
    try:
        takes_cfg = "sim_config" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        takes_cfg = False

    def build(cfg: SimConfig, **kw: Any) -> Policy:
        return target(sim_config=cfg, **kw) if takes_cfg else target(**kw)

    return build


def designer_error(name: str, where: str, err: BaseException) -> ConfigError:
    """One line for an error in a designer's code: the strategy, what it was doing, the error and the innermost line
    of the designer's own code (not of vclass or the libraries it called)."""
    location = _designer_location(err)
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if isinstance(err, SyntaxError) and err.filename:
        location = f"{Path(err.filename).name}:{err.lineno}"
        text = f"SyntaxError: {err.msg}"
    return ConfigError(f"policy {name}", f"{where} raised {text}" + (f" (at {location})" if location else ""))


_VCLASS = Path(__file__).resolve().parents[1] / "vclass"  # in a source tree; in an installed one, vclass/ itself
_OURS = tuple(
    {str(Path(__file__).resolve().parent.parent)}
    if not _VCLASS.is_dir()
    else {str((_VCLASS / part).resolve()) for part in ("sim", "models", "env", "agents", "experiments")}
    | {str(_VCLASS)}
) + (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])


def _designer_frames(err: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``err``'s traceback in the designer's code (not vclass's, numpy's or the interpreter's)."""
    return [
        frame
        for frame in traceback.extract_tb(err.__traceback__)
        if not str(Path(frame.filename).resolve()).startswith(tuple(d + os.sep for d in _OURS))
        and "<frozen" not in frame.filename
    ]


def _designer_location(err: BaseException) -> str:
    frames = _designer_frames(err) or traceback.extract_tb(err.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""


class GuardedPolicy:
    """A designer's policy behind a guard: errors in its ``reset()`` and ``act()``, and invalid actions, become one
    :class:`ConfigError` naming the strategy (see :func:`designer_error`); valid actions pass through unchanged.

    :param policy: the designer's policy object.
    :param name: how the user named it (``module:Class``).
    """

    def __init__(self, policy: Any, name: str):
        self.policy, self.name = policy, name

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        self.n_students = n_students
        try:
            self.policy.reset(n_students, rng)
        except Exception as err:  # noqa: BLE001 - the designer's code may raise anything
            raise designer_error(self.name, "reset()", err) from None

    def act(self, obs: Observation) -> Action:
        try:
            action = self.policy.act(obs)
        except Exception as err:  # noqa: BLE001 - the designer's code may raise anything
            raise designer_error(self.name, "act()", err) from None
        try:
            check_action(action, obs.n_students)
        except ValueError as err:
            raise ConfigError(
                f"policy {self.name}", f"act() returned an invalid action at tick {obs.tick}: {err}"
            ) from None
        return action
