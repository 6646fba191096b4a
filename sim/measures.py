"""Outcome measures of a lesson (SPEC §7; S0 §3.2.4): class, per tick and per student.

Denominators: emotion measures (TEA share, axis) count student-ticks while the
student is present (joined, not left); attention counts present and connected
student-ticks; participation counts all enrolled student-ticks, so absence
and dropped connections lower it; effective participation time is the time a
student is present, connected and attending (``a >= threshold``).
Interaction time counts ``hand_raise_seconds`` per hand raise and
``checkin_seconds`` per check-in.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from vclass.sim.attention import BEHAVIOUR_NAMES
from vclass.sim.classroom import LessonRecord
from vclass.sim.emotion import FACTOR_NAMES, N_FACTORS, STATE_NAMES, axis_values
from vclass.sim.lesson import SEGMENT_KINDS


class Measure(NamedTuple):
    """A scalar lesson measure: its key in a summary, how tables name it, and how they format a value."""

    key: str
    label: str
    fmt: str


# The class measures of :func:`class_summary` that are single numbers, in the order tables show them.
CLASS_MEASURES = (
    Measure("tea_share", "share of student-time in the TEA", "{:.3f}"),
    Measure("mean_attention", "mean attention", "{:.3f}"),
    Measure("participation", "participation", "{:.3f}"),
    Measure("effective_participation_min", "effective participation (min/student)", "{:.1f}"),
    Measure("mean_axis", "mean emotion axis", "{:+.3f}"),
    Measure("learning_gain", "learning gain (per student)", "{:.3f}"),
    Measure("interventions", "incentives applied", "{:d}"),
    Measure("checkins", "check-ins", "{:d}"),
    Measure("intervention_cost", "intervention cost", "{:.1f}"),
    Measure("hand_raises_per_student", "hand raises per student", "{:.2f}"),
    Measure("connected_share", "share of present time connected", "{:.3f}"),
    Measure("camera_on_share", "share of present time with the camera on", "{:.3f}"),
    Measure("fun_decisions", "decisions with a fun break", "{:d}"),
    Measure("refused_teaching_quality", "teaching-quality uses refused (budget spent)", "{:d}"),
)


@dataclass(frozen=True)
class _Masks:
    axis: np.ndarray  # (T, N) axis value of the true state
    in_tea: np.ndarray  # (T, N)
    online: np.ndarray  # present and connected
    attending: np.ndarray  # online and attention above the participation threshold
    hand_raises: np.ndarray  # (T, N) hand raised while online


def _masks(record: LessonRecord) -> _Masks:
    cfg = record.cfg
    axis = axis_values(cfg.emotion)[record.state]
    online = record.present & record.connected
    return _Masks(
        axis=axis,
        in_tea=(axis >= cfg.emotion.tea_low) & (axis <= cfg.emotion.tea_high),
        online=online,
        attending=online & (record.attention >= cfg.attention.participation_threshold),
        hand_raises=record.behaviour[..., BEHAVIOUR_NAMES.index("hand_raised")] & online,
    )


def _safe_mean(values: np.ndarray, mask: np.ndarray, axis: int | None = None) -> Any:
    count = mask.sum(axis=axis)
    total = np.where(mask, values, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _per_tick_factor_counts(record: LessonRecord) -> np.ndarray:
    counts = np.zeros((record.plan.n_ticks, N_FACTORS), dtype=np.int64)
    for tick, _, factor, _ in record.applications:
        if tick < record.plan.n_ticks:
            counts[tick, factor - 1] += 1
    return counts


def factor_uses(applications: list[tuple[int, int, int, float]]) -> np.ndarray:
    """How many applications each factor had, int64 (4,) in FACTOR_NAMES order."""
    factors = np.fromiter(map(itemgetter(2), applications), np.int64, len(applications))
    return np.bincount(factors, minlength=N_FACTORS + 1)[1 : N_FACTORS + 1]


def intervention_cost(record: LessonRecord) -> float:
    """Weighted cost: each application of factors 1, 2, 4 costs its weight; fun costs its weight per decision."""
    weights = record.cfg.incentives.cost_weights
    uses = factor_uses(record.applications).astype(np.float64)
    uses[2] = record.fun_decisions  # S3/SPEC: class-wide fun counts once per decision
    return float(np.dot(weights, uses))


NOBODY_PRESENT = "no student was ever present"
NOBODY_ONLINE = "no student was ever present and connected"


def class_summary(record: LessonRecord) -> dict[str, Any]:
    """Class-level measures (the keys of ``summary.json``).

    A measure a lesson leaves undefined (a mean over no student-ticks: nobody was ever present, or connected) is
    None, never NaN, and ``undefined`` maps it to the reason; the key is there only when some measure is undefined.
    """
    cfg = record.cfg
    dt_min = cfg.classroom.tick_seconds / 60.0
    m = _masks(record)
    by_factor = factor_uses(record.applications)
    n = record.population.size
    undefined: dict[str, str] = {}

    def mean_over(key: str, values: np.ndarray, mask: np.ndarray, reason: str) -> float | None:
        if not mask.any():
            undefined[key] = reason
            return None
        return float(_safe_mean(values, mask))

    summary: dict[str, Any] = {
        "students": n,
        "minutes": cfg.classroom.minutes,
        "tea_share": mean_over("tea_share", m.in_tea, record.present, NOBODY_PRESENT),
        "mean_attention": mean_over("mean_attention", record.attention, m.online, NOBODY_ONLINE),
        "participation": float(m.attending.mean()),
        "effective_participation_min": float(m.attending.sum(axis=0).mean() * dt_min),
        "mean_axis": mean_over("mean_axis", m.axis, record.present, NOBODY_PRESENT),
        "learning_gain": float(record.learning.sum(axis=0).mean()),
        "interventions": int(by_factor.sum()),
        "interventions_by_factor": {name: int(c) for name, c in zip(FACTOR_NAMES, by_factor)},
        "fun_decisions": int(record.fun_decisions),
        "refused_teaching_quality": int(record.refused_teaching_quality),
        "intervention_cost": intervention_cost(record),
        "checkins": len(record.checkins),
        "hand_raises_per_student": float(m.hand_raises.sum() / n),
        "connected_share": mean_over("connected_share", record.connected, record.present, NOBODY_PRESENT),
        "camera_on_share": mean_over("camera_on_share", record.camera_on, record.present, NOBODY_PRESENT),
    }
    if undefined:
        summary["undefined"] = undefined
    return summary


INTERVENTION_COLUMNS = (
    "tick",
    "t_seconds",
    "student",
    "kind",
    "factor",
    "strength",
    "belief_axis",
    "predicted_axis",
    "true_state",
    "cost",
)


def intervention_table(record: LessonRecord) -> dict[str, np.ndarray]:
    """One row per applied incentive or check-in, in time order (the columns of ``interventions.csv``).

    ``kind`` is ``incentive`` or ``checkin``; ``factor`` 1..4 (empty for a check-in); ``strength`` the habituated
    ``I0`` actually applied (empty for a check-in); ``belief_axis`` x(A) of the belief the decision used (empty when
    the lesson kept no decisions, e.g. in an environment); ``predicted_axis`` the policy's prediction where it made
    one; ``true_state`` the student's true state at the decision; ``cost`` the application's share of the
    intervention cost (a factor's weight; fun's weight, counted once per decision, shared by its recipients; a
    check-in costs nothing), so that the column sums to :func:`intervention_cost`.
    """
    cfg = record.cfg
    weights = cfg.incentives.cost_weights
    axis = axis_values(cfg.emotion)
    beliefs = {obs.tick: obs.belief for obs in record.decisions}
    fun_recipients = Counter(tick for tick, _, factor, _ in record.applications if factor == 3)
    rows: list[tuple[Any, ...]] = []
    for (tick, student, factor, strength), (state, predicted) in zip(record.applications, record.application_context):
        cost = weights[2] / fun_recipients[tick] if factor == 3 else weights[factor - 1]
        rows.append(
            (tick, student, "incentive", factor, strength, None if math.isnan(predicted) else predicted, state, cost)
        )
    for (tick, student), state in zip(record.checkins, record.checkin_states):
        rows.append((tick, student, "checkin", None, None, None, state, 0.0))
    rows.sort(key=lambda row: (row[0], row[2] != "incentive", row[1]))
    tick_seconds = cfg.classroom.tick_seconds

    def belief_axis(tick: int, student: int) -> float | None:
        belief = beliefs.get(tick)
        return float(belief[student] @ axis) if belief is not None else None

    return {
        "tick": np.array([r[0] for r in rows], dtype=np.int64),
        "t_seconds": np.array([r[0] * tick_seconds for r in rows], dtype=np.float64),
        "student": np.array([r[1] for r in rows], dtype=np.int64),
        "kind": np.array([r[2] for r in rows], dtype=object),
        "factor": np.array([r[3] for r in rows], dtype=object),
        "strength": np.array([r[4] for r in rows], dtype=object),
        "belief_axis": np.array([belief_axis(r[0], r[1]) for r in rows], dtype=object),
        "predicted_axis": np.array([r[5] for r in rows], dtype=object),
        "true_state": np.array([STATE_NAMES[r[6]] for r in rows], dtype=object),
        "cost": np.array([r[7] for r in rows], dtype=np.float64),
    }


def timeline(record: LessonRecord) -> dict[str, np.ndarray]:
    """Class-level measures per tick (columns of ``timeline.csv``)."""
    cfg = record.cfg
    m = _masks(record)
    n_ticks = record.plan.n_ticks
    columns: dict[str, np.ndarray] = {
        "tick": np.arange(n_ticks),
        "minute": np.arange(n_ticks) * cfg.classroom.tick_seconds / 60.0,
        "segment": np.array([SEGMENT_KINDS[i] for i in record.plan.segment]),
        "difficulty": record.plan.difficulty,
        "present": record.present.sum(axis=1),
        "connected": m.online.sum(axis=1),
        "camera_on": (m.online & record.camera_on).sum(axis=1),
        "mean_attention": _safe_mean(record.attention, m.online, axis=1),
        "participation": m.attending.mean(axis=1),
        "tea_share": _safe_mean(m.in_tea, record.present, axis=1),
        "mean_axis": _safe_mean(m.axis, record.present, axis=1),
        "learning": record.learning.mean(axis=1),
    }
    present_count = np.maximum(record.present.sum(axis=1), 1)
    for i, name in enumerate(STATE_NAMES):
        columns[f"share_{name}"] = ((record.state == i) & record.present).sum(axis=1) / present_count
    counts = _per_tick_factor_counts(record)
    for i, name in enumerate(FACTOR_NAMES):
        columns[f"incentive_{name}"] = counts[:, i]
    checkins = np.zeros(n_ticks, dtype=np.int64)
    for tick, _ in record.checkins:
        if tick < n_ticks:
            checkins[tick] += 1
    columns["checkins"] = checkins
    return columns


def student_table(record: LessonRecord) -> dict[str, np.ndarray]:
    """Individual measures, one entry per student (columns of ``students.csv``)."""
    cfg, pop = record.cfg, record.population
    n = pop.size
    dt_min = cfg.classroom.tick_seconds / 60.0
    m = _masks(record)
    hand_raises = m.hand_raises.sum(axis=0)
    checkins = np.bincount([k for _, k in record.checkins], minlength=n)
    received = np.zeros((n, N_FACTORS), dtype=np.int64)
    for _, k, factor, _ in record.applications:
        received[k, factor - 1] += 1
    columns: dict[str, np.ndarray] = {
        "student": np.arange(n),
        "ability": pop.ability,
        "dilution": pop.dilution,
        "join_min": pop.join_seconds / 60.0,
        "leave_min": np.where(np.isfinite(pop.leave_seconds), pop.leave_seconds / 60.0, np.nan),
        "present_min": record.present.sum(axis=0) * dt_min,
        "connected_share": _safe_mean(record.connected, record.present, axis=0),
        "mean_attention": _safe_mean(record.attention, m.online, axis=0),
        "effective_participation_min": m.attending.sum(axis=0) * dt_min,
        "tea_share": _safe_mean(m.in_tea, record.present, axis=0),
        "mean_axis": _safe_mean(m.axis, record.present, axis=0),
        "learning_gain": record.learning.sum(axis=0),
        "hand_raises": hand_raises,
        "checkins": checkins,
        "interaction_count": hand_raises + checkins,
        "interaction_s": hand_raises * cfg.behaviour.hand_raise_seconds + checkins * cfg.behaviour.checkin_seconds,
    }
    for i, name in enumerate(FACTOR_NAMES):
        columns[f"incentive_{name}"] = received[:, i]
    return columns
