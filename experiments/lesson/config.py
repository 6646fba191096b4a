"""The run config: seed, policy, recognizer and the simulator sections, loaded from TOML and CLI overrides.

TOML layout (every key optional; defaults are SPEC's)::

    seed = 0
    [policy]
    name = "ecem"
    params = { phi = 0 }
    [recognizer]
    kind = "surrogate"
    [classroom]
    students = 30
    minutes = 45
    presentation = "slides"

The sections live with the layer that uses them: ``[policy]`` is :class:`vclass.agents.registry.PolicyConfig`,
``[recognizer]`` :class:`vclass.env.observers.RecognizerConfig`, the simulator sections
:class:`vclass.sim.config.SimConfig`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vclass.agents.registry import PolicyConfig
from vclass.config import ConfigError, bounded, from_dict, load_toml, set_path, to_dict
from vclass.env.observers import RecognizerConfig
from vclass.sim.config import SimConfig


@dataclass(frozen=True)
class RunConfig:
    """A whole run: seed, policy, recognizer and simulator config."""

    seed: int = bounded(0, ge=0, le=2**32 - 1)
    policy: PolicyConfig = bounded(factory=PolicyConfig)
    recognizer: RecognizerConfig = bounded(factory=RecognizerConfig)
    sim: SimConfig = bounded(factory=SimConfig)

    def as_dict(self) -> dict[str, Any]:
        """Flat TOML-shaped view: seed, policy, recognizer, then the simulator sections at top level."""
        return {
            "seed": self.seed,
            "policy": to_dict(self.policy),
            "recognizer": to_dict(self.recognizer),
            **to_dict(self.sim),
        }


_RUN_KEYS = ("seed", "policy", "recognizer")


def run_config_from_dict(data: dict[str, Any]) -> RunConfig:
    """Validate a TOML-shaped dict (simulator sections at top level)."""
    sim_keys = {f.name for f in dataclasses.fields(SimConfig)}
    for key in data:
        if key not in sim_keys and key not in _RUN_KEYS:
            allowed = ", ".join(sorted(sim_keys | set(_RUN_KEYS)))
            raise ConfigError(key, f"unknown key; allowed top-level keys: {allowed}")
    run_part = {k: data[k] for k in _RUN_KEYS if k in data}
    sim_part = {k: v for k, v in data.items() if k in sim_keys}
    run = from_dict(RunConfig, run_part)
    return dataclasses.replace(run, sim=from_dict(SimConfig, sim_part))


def load_run_config(path: str | Path | None = None, overrides: Sequence[tuple[list[str], Any]] = ()) -> RunConfig:
    """Load ``path`` (or the defaults), apply ``(dotted keys, value)`` overrides, validate."""
    data = load_toml(path) if path else {}
    for keys, value in overrides:
        set_path(data, keys, value)
    return run_config_from_dict(data)
