"""The lesson timeline: segments, difficulty D(t) and S0's 2x2 conditions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vclass.sim.config import SimConfig

SEGMENT_KINDS = ("lecture", "exercise", "online-test", "discussion")


@dataclass(frozen=True)
class LessonPlan:
    """Per-tick view of the lesson: which segment, its difficulty and drifts.

    All arrays have one entry per tick.
    """

    segment: np.ndarray  # index into SEGMENT_KINDS
    difficulty: np.ndarray  # D(t)
    online_test: np.ndarray  # bool
    fatigue_drift: np.ndarray  # eta_F(t): the presentation's value during lectures
    time_fraction: np.ndarray  # t / T at the tick

    @property
    def n_ticks(self) -> int:
        return self.segment.shape[0]


def build_lesson(cfg: SimConfig) -> LessonPlan:
    """Lay the configured segments over the lesson's ticks.

    Without online tests (S0 condition "no"), online-test segments run as
    exercise segments of the same difficulty. The presentation mode sets the
    lecture's fatigue drift (video 0.8, slides 1.2); other segments use the
    default ``emotion.fatigue_drift``.
    """
    room, emo = cfg.classroom, cfg.emotion
    n_ticks = room.n_ticks
    kinds = [s.kind if (s.kind != "online-test" or room.online_tests) else "exercise" for s in cfg.lesson.segments]
    bounds = np.cumsum([s.share for s in cfg.lesson.segments])
    time_fraction = np.arange(n_ticks) / n_ticks
    index = np.searchsorted(bounds, time_fraction, side="right").clip(0, len(kinds) - 1)
    segment = np.array([SEGMENT_KINDS.index(k) for k in kinds])[index]
    difficulty = np.array([s.difficulty for s in cfg.lesson.segments])[index]
    lecture_drift = (
        emo.lecture_fatigue_drift_video if room.presentation == "video" else emo.lecture_fatigue_drift_slides
    )
    fatigue_drift = np.where(segment == SEGMENT_KINDS.index("lecture"), lecture_drift, emo.fatigue_drift)
    return LessonPlan(
        segment=segment,
        difficulty=difficulty,
        online_test=segment == SEGMENT_KINDS.index("online-test"),
        fatigue_drift=fatigue_drift,
        time_fraction=time_fraction,
    )
