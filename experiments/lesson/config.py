"""The run config: seed, policy and the simulator sections, loaded from TOML and CLI overrides.

TOML layout (every key optional; defaults are SPEC's)::

    seed = 0
    [policy]
    name = "ecem"
    params = { phi = 0 }
    [classroom]
    students = 30
    minutes = 45
    presentation = "slides"
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vclass.sim.config import SimConfig
from vclass.config import ConfigError, bounded, from_dict, load_toml, set_path, to_dict

DEFAULT_POLICY = "ecem"


@dataclass(frozen=True)
class PolicyConfig:
    """Which policy acts, and its keyword parameters."""

    name: str = bounded(DEFAULT_POLICY, doc="a built-in name or module:Class")
    params: dict = bounded(factory=dict, doc="keyword arguments of the policy")


@dataclass(frozen=True)
class RecognizerConfig:
    """How the teacher sees the class (SPEC §4): the recognizer in the loop and its backend.

    ``model`` and ``confusion`` default (empty) to the shipped model and its measured confusion.
    """

    kind: Literal["oracle", "surrogate", "scn-cs"] = bounded("scn-cs")
    backend: Literal["onnxruntime", "torch", "torch-cuda", "tensorrt"] = bounded("onnxruntime")
    model: str = bounded("", doc="ONNX file or training folder; empty: the shipped model")
    confusion: str = bounded("", doc="confusion.json for the surrogate and the filter; empty: the shipped one")


@dataclass(frozen=True)
class RunConfig:
    """A whole run: seed, policy, recognizer and simulator config."""

    seed: int = bounded(0, ge=0, le=2**32 - 1)
    policy: PolicyConfig = bounded(factory=PolicyConfig)
    recognizer: RecognizerConfig = bounded(factory=RecognizerConfig)
    sim: SimConfig = bounded(factory=SimConfig)

    def as_dict(self) -> dict[str, Any]:
        """Flat TOML-shaped view: seed, policy, recognizer, then the simulator sections at top level."""
        return {"seed": self.seed, "policy": to_dict(self.policy), "recognizer": to_dict(self.recognizer),
                **to_dict(self.sim)}

    def make_observer(self):
        """A fresh observer for one lesson, as the recognizer section says."""
        from vclass.env.observers import make_observer

        r = self.recognizer
        try:
            return make_observer(r.kind, r.backend, r.model or None, r.confusion or None)
        except (ValueError, RuntimeError, OSError) as err:  # unreadable model, missing backend or GPU
            raise ConfigError("recognizer", str(err)) from None


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


def load_run_config(path: str | Path | None = None, overrides: list[tuple[list[str], Any]] = ()) -> RunConfig:
    """Load ``path`` (or the defaults), apply ``(dotted keys, value)`` overrides, validate."""
    data = load_toml(path) if path else {}
    for keys, value in overrides:
        set_path(data, keys, value)
    return run_config_from_dict(data)
