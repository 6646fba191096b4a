"""The machine's load beside every benchmark figure, so that a figure taken on a busy machine is known as such.

Each row a suite measures is stamped (:func:`stamped`) with the 1-minute load average at the moment its
measurement ended. A row is *busy* when that load exceeds the cores by :data:`BUSY_MARGIN`: more runnable work
than cores means something else competed with the benchmark for them (a benchmark's own threads count too, and
never exceed the cores). ``vclass bench`` waits for a quiet start, marks busy rows, and refuses to write
``BENCHMARKS.md`` with them unless told to (``--allow-busy``), in which case the rows say so.
"""

from __future__ import annotations

import os
import time
from typing import Any

BUSY_MARGIN = 0.25
QUIET_START = 0.5  # a suite starts once the load has fallen below this (or after the wait below)
QUIET_WAIT_SECONDS = 90.0


def load_now() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def busy_load() -> float:
    """The load above which a figure is marked busy: the cores plus :data:`BUSY_MARGIN`."""
    return (os.cpu_count() or 1) + BUSY_MARGIN


def stamped(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with the load average at this moment (``load``)."""
    row["load"] = round(load_now(), 2)
    return row


def wait_for_quiet(seconds: float = QUIET_WAIT_SECONDS) -> float:
    """Wait (at most ``seconds``) for the load to fall below :data:`QUIET_START`; return the load then."""
    deadline = time.monotonic() + seconds
    while load_now() >= QUIET_START and time.monotonic() < deadline:
        time.sleep(2.0)
    return load_now()
