"""Shared fixtures: small, fast configs built from SPEC's defaults."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vclass.config import replace_nested
from vclass.sim.config import SimConfig


@pytest.fixture
def small_cfg() -> SimConfig:
    """A 12-student, 10-minute lesson."""
    return replace_nested(SimConfig(), **{"classroom.students": 12, "classroom.minutes": 10.0})


@pytest.fixture(scope="module")
def confusion(tmp_path_factory) -> str:
    """A stand-in recognizer confusion file: 0.8 on the diagonal, the rest spread evenly."""
    matrix = np.full((7, 7), 0.2 / 6)
    np.fill_diagonal(matrix, 0.8)
    path = tmp_path_factory.mktemp("recognizer") / "confusion.json"
    path.write_text(json.dumps({"confusion": matrix.tolist()}))
    return str(path)
