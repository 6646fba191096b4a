"""Simulator speed: lessons/s at 30 students and student-ticks/s at 30, 300 and 3,000 students.

Policy ``none``, no rendering, 45-minute lessons (270 ticks), each timed
lesson a fresh seed; the figure is the median of repeated timings.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from vclass.agents.baselines import NoIntervention
from vclass.experiments.bench.load import stamped
from vclass.sim.classroom import simulate
from vclass.sim.config import ClassroomConfig, SimConfig

NOTES = (
    "Cost per student-tick should stay flat or fall as the class grows (linear cost in students); "
    "the `note` column gives microseconds per student-tick."
)


def _time_lessons(students: int, min_seconds: float, min_lessons: int) -> list[float]:
    cfg = SimConfig(classroom=ClassroomConfig(students=students, minutes=45.0))
    simulate(cfg, 10_000, NoIntervention())  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    seed = 0
    while len(times) < min_lessons or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        simulate(cfg, seed, NoIntervention())
        times.append(time.perf_counter() - t0)
        seed += 1
    return times


def run(quick: bool = False) -> list[dict[str, Any]]:
    ticks = ClassroomConfig(minutes=45.0).n_ticks
    seconds = 0.3 if quick else 4.0
    rows = []
    small = statistics.median(_time_lessons(30, seconds, 3 if quick else 30))
    rows.append(
        stamped(
            {
                "benchmark": "sim",
                "case": "30 students, 45 min lesson",
                "value": 1.0 / small,
                "unit": "lessons/s",
                "target": ">= 50",
            }
        )
    )
    for students in (30, 300, 3000):
        per_lesson = small if students == 30 else statistics.median(_time_lessons(students, seconds, 2 if quick else 5))
        rate = students * ticks / per_lesson
        rows.append(
            stamped(
                {
                    "benchmark": "sim",
                    "case": f"{students} students",
                    "value": rate,
                    "unit": "student-ticks/s",
                    "target": ">= 2,000,000" if students == 3000 else "",
                    "note": f"{1e6 / rate:.3f} us per student-tick",
                }
            )
        )
    return rows
