"""Face renderer speed: faces/s for one process, at 64x64 in batches of 1024 (and 256, and 48x48).

Each timed call renders a fresh batch of sampled faces (parameters drawn
outside the timing); the figure is the median over repeated calls, the best
call is in the note.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from vclass.experiments.bench.load import stamped
from vclass.sim.faces import render_faces, sample_face_params

NOTES = (
    "The renderer target is 20,000 faces/s at 64x64 in one process; the note gives the best call as well "
    "(the median is the figure), and the load column says whether other work shared the cores."
)
TARGET_FACES_PER_S = 20_000
CASES = ((64, 1024), (64, 256), (48, 1024))  # (image side, batch size)


def _time_renders(size: int, batch: int, repeats: int) -> list[float]:
    rng = np.random.default_rng(0)
    batches = [sample_face_params(batch, rng) for _ in range(repeats + 1)]
    render_faces(batches[0], rng, size=size)  # warm-up
    times = []
    for params in batches[1:]:
        start = time.perf_counter()
        render_faces(params, rng, size=size)
        times.append(time.perf_counter() - start)
    return times


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeats = 3 if quick else 30
    rows = []
    for size, batch in CASES:
        times = _time_renders(size, batch, repeats)
        rows.append(
            stamped(
                {
                    "benchmark": "renderer",
                    "case": f"{size}x{size} batch {batch}",
                    "value": batch / statistics.median(times),
                    "unit": "faces/s",
                    "target": f">= {TARGET_FACES_PER_S}" if (size, batch) == CASES[0] else "",
                    "note": f"best {batch / min(times):,.0f} faces/s over {repeats} calls",
                }
            )
        )
    return rows
