"""A lesson's files: summary, timeline, students, recognitions, provenance and plots (one folder per lesson)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from vclass.experiments.lesson import plots
from vclass.experiments.lesson.config import RunConfig
from vclass.experiments.lesson.runner import MEASURES, SUMMARY_KEYS, LessonResult
from vclass.io import atomic_write_bytes, atomic_write_text, provenance, write_json
from vclass.sim.measures import intervention_table, student_table, timeline


def csv_text(columns: dict[str, np.ndarray]) -> str:
    """CSV of equal-length columns; floats written with full precision (``repr``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(c.tolist() for c in columns.values()), strict=True))
    return buf.getvalue()


def write_lesson(out: Path, result: LessonResult, run_cfg: RunConfig) -> None:
    """Write one lesson's files into ``out``.

    ``recognitions.npz`` holds, per tick and student, the true state, the expression shown, the recognized one and
    the belief's argmax (-1 without a frame, and everywhere under the oracle), and presence: what
    ``vclass fit-hmm`` refits from.
    """
    record, log = result.record, result.recognition
    ticks = timeline(record)
    write_json(out / "summary.json", result.summary)
    atomic_write_text(out / "timeline.csv", csv_text(ticks))
    atomic_write_text(out / "students.csv", csv_text(student_table(record)))
    atomic_write_text(out / "interventions.csv", csv_text(intervention_table(record)))
    none = np.full(record.state.shape, -1, dtype=np.int8)
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        state=record.state,
        expression=record.expression,
        recognized=log.recognized if log is not None else none,
        belief_state=log.belief_state if log is not None else none,
        present=record.present,
    )
    atomic_write_bytes(out / "recognitions.npz", buf.getvalue())
    write_json(
        out / "run.json",
        {**provenance(result.summary["config"], run_cfg.seed), "recognition_path": result.summary["recognition_path"]},
    )
    plots.plot_emotions(ticks, out / "emotions.png")
    plots.plot_attention(ticks, out / "attention_tea.png")
    plots.plot_interventions(record, out / "interventions.png")
    plots.plot_strengths(record, out / "strengths.png")
    if log is not None:
        plots.plot_beliefs(record, log, out / "beliefs.png")
        if log.samples:
            plots.plot_frames(log.samples, out / "frames.png")


def format_summary(summaries: dict[str, dict[str, Any]]) -> str:
    """A text table of the summary measures with one column per policy."""
    names = list(summaries)
    width = max(len(MEASURES[key].label) for key in SUMMARY_KEYS)
    lines = [
        f"{'measure':<{width}}  " + "  ".join(f"{n:>10}" for n in names),
        f"{'-' * width}  " + "  ".join("-" * 10 for _ in names),
    ]
    for key in SUMMARY_KEYS:
        measure = MEASURES[key]
        cells = []
        for n in names:
            value = summaries[n].get(key)
            cells.append(f"{'-':>10}" if value is None else f"{measure.fmt.format(value):>10}")
        lines.append(f"{measure.label:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)
