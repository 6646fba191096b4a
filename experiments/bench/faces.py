"""Face renderer speed: faces/s for one process, at 64x64 in batches of 1024 (and 256, 30, and 48x48), for both
engines side by side: the compiled loops (numba, what ``engine="auto"`` uses) and the numpy painters.

Each timed call renders a fresh batch of sampled faces (parameters drawn outside the timing); the figure is the
median over repeated calls, the best call is in the note. The two engines give the same bytes (tested); the
compiled engine's row says how many times faster it ran than the numpy row of the same case in the same run.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from vclass.experiments.bench.load import stamped
from vclass.sim.faces import compiled_renderer_available, render_faces, sample_face_params

NOTES = (
    "The renderer target is 20,000 faces/s at 64x64 in one process; the note gives the best call as well "
    "(the median is the figure), and the load column says whether other work shared the cores."
)
TARGET_FACES_PER_S = 20_000
CASES = ((64, 1024), (64, 256), (64, 30), (48, 1024))  # (image side, batch size); 30: one classroom's tick


def _time_renders(size: int, batch: int, repeats: int, engine: str) -> list[float]:
    rng = np.random.default_rng(0)
    batches = [sample_face_params(batch, rng) for _ in range(repeats + 1)]
    render_faces(batches[0], rng, size=size, engine=engine)  # warm-up (and, the first time, numba's compile)
    times = []
    for params in batches[1:]:
        start = time.perf_counter()
        render_faces(params, rng, size=size, engine=engine)
        times.append(time.perf_counter() - start)
    return times


def run(quick: bool = False) -> list[dict[str, Any]]:
    repeats = 3 if quick else 30
    rows = []
    engines = ("compiled", "numpy") if compiled_renderer_available() else ("numpy",)
    for size, batch in CASES:
        calls = repeats if batch > 100 else 10 * repeats
        rates = {engine: batch / statistics.median(_time_renders(size, batch, calls, engine)) for engine in engines}
        for engine in engines:
            note = f"median of {calls} calls; {1e3 * batch / rates[engine]:.2f} ms per batch"
            if engine == "compiled":
                note += f"; {rates['compiled'] / rates['numpy']:.1f}x the numpy engine in this run"
            rows.append(
                stamped(
                    {
                        "benchmark": "renderer",
                        "case": f"{engine}, {size}x{size} batch {batch}",
                        "value": rates[engine],
                        "unit": "faces/s",
                        "target": f">= {TARGET_FACES_PER_S}" if (size, batch) == CASES[0] else "",
                        "note": note,
                    }
                )
            )
    if len(engines) == 1:
        rows.append(
            stamped(
                {
                    "benchmark": "renderer",
                    "case": "compiled engine",
                    "value": None,
                    "unit": "faces/s",
                    "target": "",
                    "note": "not available here: numba does not import",
                }
            )
        )
    return rows
