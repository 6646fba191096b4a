"""Shared fixtures: small, fast configs built from SPEC's defaults."""

from __future__ import annotations

import pytest

from sim.config import SimConfig
from vclass.config import replace_nested


@pytest.fixture
def small_cfg() -> SimConfig:
    """A 12-student, 10-minute lesson."""
    return replace_nested(SimConfig(), **{"classroom.students": 12, "classroom.minutes": 10.0})
