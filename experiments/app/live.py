"""One lesson taught live in the workbench: a :class:`~vclass.sim.classroom.Lesson` stepped decision by decision with
:meth:`~vclass.sim.classroom.Lesson.run_until`, and after each step a :class:`Frame` of what the page shows.

The lesson is the one ``vclass run`` teaches for the same run config (the same policy, observer and seed; stepping it
changes nothing, tested): a :class:`LiveLesson` only looks at it between steps. A frame holds each student's tile as
:func:`~vclass.env.classroom_env.render_tiles` draws it (the face last shown, the teacher's belief as bars, the
attention estimate), the class recognized by the recognizer, the interventions since the last frame (the rows of
:func:`~vclass.sim.measures.intervention_table`), and the class curves so far: TEA share and attention per tick
(:func:`~vclass.sim.measures.timeline`, the truth) and the TEA share the teacher believes at each decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vclass.env.classroom_env import render_tiles
from vclass.env.observers import in_loop_accuracy, observer_from_config
from vclass.experiments.lesson.config import RunConfig
from vclass.experiments.lesson.runner import SUMMARY_KEYS, build_policy
from vclass.experiments.sweep.spec import import_path
from vclass.sim.classroom import Lesson, Observer, Policy
from vclass.sim.emotion import FACTOR_NAMES, STATE_NAMES, emotion_axis, in_tea
from vclass.sim.faces import EXPRESSIONS, sample_identities
from vclass.sim.measures import class_summary, intervention_table, timeline


@dataclass
class StudentView:
    """One student at the end of a step.

    :ivar recognized: the expression the recognizer read from the student's last frame, '' without one (or under the
        oracle, which reads no frame).
    :ivar believed: the state the teacher's belief puts most weight on.
    :ivar given: what the teacher gave the student at the step's decisions (factor names, ``check-in``).
    """

    index: int
    present: bool
    reachable: bool
    recognized: str
    believed: str
    belief_axis: float
    attention: float
    given: list[str] = field(default_factory=list)


@dataclass
class Frame:
    """What the page shows after a step.

    :ivar tiles: (N, height, width, 3) uint8, each student's tile.
    :ivar interventions: rows given since the previous frame, oldest first: ``minute``, ``student``, ``what`` (a
        factor's name or ``check-in``), ``strength`` (the habituated I0; None for a check-in), ``belief_axis``,
        ``true_state``.
    :ivar curves: ``minute``, ``tea_share`` and ``mean_attention`` per tick so far (the truth);
        ``decision_minute`` and ``believed_tea_share`` per decision so far (the teacher's belief).
    :ivar summary: at the end of the lesson, the measures of ``vclass run``'s table (None before).
    """

    tick: int
    minute: float
    minutes: float
    segment: str
    done: bool
    tiles: np.ndarray
    students: list[StudentView]
    interventions: list[dict[str, Any]]
    curves: dict[str, list[float]]
    summary: dict[str, Any] | None = None


class LiveLesson:
    """A lesson of ``run_cfg`` taught by ``policy`` and seen through ``observer``, stepped by the page.

    :param run_cfg: the validated run config (its seed, simulator and recognizer).
    :param policy: ``run_cfg.policy`` built (:func:`~vclass.experiments.lesson.runner.build_policy`).
    :param observer: the observer of ``run_cfg.recognizer`` (:func:`~vclass.env.observers.observer_from_config`).
    """

    def __init__(self, run_cfg: RunConfig, policy: Policy, observer: Observer):
        self.run_cfg = run_cfg
        self.lesson = Lesson(run_cfg.sim, run_cfg.seed, policy, observer)
        self.room = self.lesson.room
        self.observer = observer
        n = self.room.n_students
        identities = getattr(observer, "identities", None)
        # Without rendered faces (surrogate, oracle) the tiles draw faces of their own, from a stream of their own.
        self.identities = identities if identities is not None else sample_identities(n, np.random.default_rng(0))
        self._rows_shown = 0
        self._emotion = run_cfg.sim.emotion

    @classmethod
    def start(cls, run_cfg: RunConfig, import_paths: tuple[str, ...] = ()) -> LiveLesson:
        """Build the policy (a designer's module imported from ``import_paths``) and the observer, and set the lesson
        up at minute 0.

        :raises ConfigError: as ``vclass run`` would, for the policy or the recognizer.
        """
        with import_path(import_paths):
            policy = build_policy(run_cfg)
        return cls(run_cfg, policy, observer_from_config(run_cfg.recognizer, run_cfg.sim))

    @property
    def done(self) -> bool:
        return self.lesson.done

    def step(self, decisions: int = 1) -> Frame:
        """Teach ``decisions`` decision intervals (or to the end of the lesson) and return the frame after them.

        :raises ConfigError: a designer's strategy failed (one line, with the file and line).
        """
        seconds = decisions * self.run_cfg.sim.classroom.decision_seconds
        self.lesson.run_until(self.lesson.now + seconds)
        return self.frame()

    def frame(self) -> Frame:
        """What the page shows now."""
        room = self.room
        c = self.run_cfg.sim.classroom
        ticks = room.tick_index
        obs = room.observation()
        log = getattr(self.observer, "log", None)
        last = max(ticks - 1, 0)
        recognized = log.recognized[last] if log is not None and ticks else np.full(room.n_students, -1)
        axis = emotion_axis(obs.belief, self._emotion)
        new_rows = self._new_interventions()
        given: dict[int, list[str]] = {}
        latest = new_rows[-1]["tick"] if new_rows else None
        for row in new_rows:
            if row["tick"] == latest:
                given.setdefault(row["student"], []).append(row["what"])
        students = [
            StudentView(
                index=k,
                present=bool(obs.present[k]),
                reachable=bool(obs.reachable[k]),
                recognized=EXPRESSIONS[recognized[k]] if recognized[k] >= 0 else "",
                believed=STATE_NAMES[int(obs.belief[k].argmax())],
                belief_axis=float(axis[k]),
                attention=float(obs.attention[k]),
                given=given.get(k, []),
            )
            for k in range(room.n_students)
        ]
        done = self.lesson.done
        return Frame(
            tick=ticks,
            minute=ticks * c.tick_seconds / 60.0,
            minutes=float(c.minutes),
            segment=obs.segment,
            done=done,
            tiles=render_tiles(self.lesson, obs, self.identities),
            students=students,
            interventions=new_rows,
            curves=self._curves(ticks),
            summary=self._summary() if done else None,
        )

    def _new_interventions(self) -> list[dict[str, Any]]:
        table = intervention_table(self.room.record)
        rows = []
        for i in range(self._rows_shown, len(table["tick"])):
            factor = table["factor"][i]
            rows.append(
                {
                    "tick": int(table["tick"][i]),
                    "minute": float(table["t_seconds"][i]) / 60.0,
                    "student": int(table["student"][i]),
                    "what": FACTOR_NAMES[factor - 1] if factor is not None else "check-in",
                    "strength": table["strength"][i],
                    "belief_axis": table["belief_axis"][i],
                    "true_state": table["true_state"][i],
                }
            )
        self._rows_shown = len(table["tick"])
        return rows

    def _curves(self, ticks: int) -> dict[str, list[float]]:
        columns = timeline(self.room.record)
        minute_per_decision = self.run_cfg.sim.classroom.decision_seconds / 60.0
        believed = []
        for obs in self.room.record.decisions:
            present = obs.present
            inside = in_tea(emotion_axis(obs.belief, self._emotion), self._emotion)
            believed.append(float(inside[present].mean()) if present.any() else 0.0)
        return {
            "minute": columns["minute"][:ticks].tolist(),
            "tea_share": columns["tea_share"][:ticks].tolist(),
            "mean_attention": columns["mean_attention"][:ticks].tolist(),
            "decision_minute": [i * minute_per_decision for i in range(len(believed))],
            "believed_tea_share": believed,
        }

    def _summary(self) -> dict[str, Any]:
        """The lesson's measures, as :func:`~vclass.experiments.lesson.runner.run_lesson` computes them (but ECEM's
        decision divergence, which replays ECEM on every decision)."""
        record = self.room.record
        summary = {**class_summary(record), **in_loop_accuracy(record, getattr(self.observer, "log", None))}
        return {key: summary.get(key) for key in SUMMARY_KEYS if key != "ecem_divergence"}
