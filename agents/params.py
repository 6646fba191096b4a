"""Checks for policy parameters given in a config's ``[policy.params]`` table."""

from __future__ import annotations

from typing import Any

from vclass.config import ConfigError


def require_int(field: str, value: Any, low: int, high: int) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(field, f"must be an integer >= {low} and <= {high}, got {value!r}")


def require_probability(field: str, value: Any) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(field, f"must be a number >= 0 and <= 1, got {value!r}")
