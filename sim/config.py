"""Simulator configuration: SPEC's defaults, one source of truth.

Each section is a frozen dataclass; fields carry their allowed range (see
:func:`vclass.config.bounded`). A TOML file names sections as tables, e.g.
``[classroom] students = 40``. Choices SPEC leaves open are documented on the
field that makes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vclass.config import ConfigError, bounded

SegmentKind = Literal["lecture", "exercise", "online-test", "discussion"]


@dataclass(frozen=True)
class ClassroomConfig:
    """Class size, lesson length, clock, S0's 2x2 condition and online faults (SPEC §2-3)."""

    students: int = bounded(30, ge=1, le=100_000, doc="students in the class")
    minutes: float = bounded(45.0, gt=0, le=600, doc="lesson length T in minutes")
    tick_seconds: float = bounded(10.0, gt=0, le=600, doc="simulation tick dt")
    decision_seconds: float = bounded(30.0, gt=0, le=3600, doc="policy decision interval; a multiple of dt")
    presentation: Literal["video", "slides"] = bounded("video", doc="S0 condition: how the lecture is presented")
    online_tests: bool = bounded(True, doc="S0 condition: online-test segments (false turns them into exercise)")
    late_join_prob: float = bounded(0.1, ge=0, le=1, doc="chance a student joins late")
    late_join_max_minutes: float = bounded(5.0, ge=0, le=600, doc="a late join happens U(0, this) minutes in")
    dropout_prob: float = bounded(0.03, ge=0, le=1, doc="chance a student leaves for good, at U(0, T)")
    connection_drop_prob: float = bounded(0.002, ge=0, lt=1, doc="per-tick chance the connection drops (< 1)")
    reconnect_mean_seconds: float = bounded(60.0, gt=0, le=3600, doc="dropped connection returns after Exp(mean)")
    camera_off_prob: float = bounded(0.002, ge=0, lt=1, doc="per-tick chance the camera goes off (< 1)")
    camera_back_mean_seconds: float = bounded(60.0, gt=0, le=3600, doc="camera comes back after Exp(mean)")

    def check(self) -> None:
        ratio = self.decision_seconds / self.tick_seconds
        if abs(ratio - round(ratio)) > 1e-9:
            raise ConfigError(
                "classroom.decision_seconds",
                f"decision_seconds ({self.decision_seconds:g}) must be a whole multiple of tick_seconds "
                f"({self.tick_seconds:g})",
                involves=("decision_seconds", "tick_seconds"),
            )
        if self.minutes * 60 < self.tick_seconds:
            raise ConfigError(
                "classroom.minutes",
                f"the lesson ({self.minutes:g} min) must last at least one tick ({self.tick_seconds:g} s)",
                involves=("minutes", "tick_seconds"),
            )

    @property
    def n_ticks(self) -> int:
        return int(round(self.minutes * 60 / self.tick_seconds))

    @property
    def ticks_per_decision(self) -> int:
        return int(round(self.decision_seconds / self.tick_seconds))


@dataclass(frozen=True)
class SegmentConfig:
    """One lesson segment: its kind, share of the lesson and difficulty D(t)."""

    kind: SegmentKind = bounded("lecture")
    share: float = bounded(0.25, gt=0, le=1, doc="fraction of the lesson")
    difficulty: float = bounded(0.5, ge=0, le=1, doc="lesson difficulty D(t) during the segment")


def _default_segments() -> tuple[SegmentConfig, ...]:
    return (
        SegmentConfig("lecture", 0.35, 0.5),
        SegmentConfig("exercise", 0.25, 0.6),
        SegmentConfig("online-test", 0.2, 0.7),
        SegmentConfig("discussion", 0.2, 0.4),
    )


@dataclass(frozen=True)
class LessonConfig:
    """The lesson timeline: segments in order; shares must add up to 1."""

    segments: tuple[SegmentConfig, ...] = bounded(factory=_default_segments)

    def check(self) -> None:
        if not self.segments:
            raise ConfigError("lesson.segments", "must list at least one segment")
        total = sum(s.share for s in self.segments)
        if abs(total - 1.0) > 1e-6:
            raise ConfigError("lesson.segments", f"shares must add up to 1, got {total:g}")


@dataclass(frozen=True)
class EmotionConfig:
    """HMM over the eight states, context drift, incentive gain and the emotion axis (SPEC §1-2)."""

    stay_prob: float = bounded(0.92, ge=0, le=1, doc="base chance to keep the state each tick")
    same_category_prob: float = bounded(0.02, ge=0, le=1, doc="to each other state of the same category")
    other_category_prob: float = bounded(0.005, ge=0, le=1, doc="to each state of the other category")
    heterogeneity_kappa: float = bounded(500.0, gt=0, doc="Dirichlet concentration of each student's rows")
    temperament_sd: float = bounded(0.3, ge=0, le=5, doc="sd of temperament b_k ~ N(0, sd)")
    difficulty_drift: float = bounded(1.5, ge=-10, le=10, doc="eta_D: difficulty above ability -> tension, anger")
    fatigue_drift: float = bounded(1.0, ge=-10, le=10, doc="eta_F outside lectures: fatigue -> calmness, depression")
    lecture_fatigue_drift_video: float = bounded(0.8, ge=-10, le=10, doc="eta_F of a video lecture (S0)")
    lecture_fatigue_drift_slides: float = bounded(1.2, ge=-10, le=10, doc="eta_F of a slides lecture (S0)")
    test_tension_drift: float = bounded(0.8, ge=-10, le=10, doc="eta_T: online test -> tension")
    incentive_gain: float = bounded(1.5, ge=0, le=20, doc="tau, S3 eq 11")
    axis_weights: tuple[float, ...] = bounded(
        factory=lambda: (1.0, 0.2, 0.1),
        length=3,
        ge=-10,
        le=10,
        doc="C, weights of (P, A, D) on the emotion axis, S3 eq 13",
    )
    tea_low: float = bounded(0.6, ge=-10, le=10, doc="lower end of the target emotion region")
    tea_high: float = bounded(1.4, ge=-10, le=10, doc="upper end of the target emotion region")

    def check(self) -> None:
        total = self.stay_prob + 3 * self.same_category_prob + 4 * self.other_category_prob
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(
                "emotion.stay_prob",
                f"stay_prob + 3*same_category_prob + 4*other_category_prob must equal 1, got {total:g}",
                involves=("stay_prob", "same_category_prob", "other_category_prob"),
            )
        if self.tea_low >= self.tea_high:
            raise ConfigError(
                "emotion.tea_low",
                f"tea_low ({self.tea_low:g}) must be < tea_high ({self.tea_high:g})",
                involves=("tea_low", "tea_high"),
            )


def _default_profiles() -> tuple[tuple[float, ...], ...]:
    # SPEC §2 table: destination profiles W_m over (exc, joy, hap, rel, calm, dep, ten, ang).
    return (
        (0.0, 0.0, 0.5, 1.0, 0.5, 0.0, -1.0, -0.5),  # reduce-difficulty
        (0.0, 0.5, 0.5, 0.5, 0.0, -0.5, -1.0, -1.0),  # remove-problems
        (1.0, 1.0, 0.5, 0.0, -0.5, -1.0, 0.0, 0.0),  # fun
        (0.5, 0.5, 1.0, 0.5, 0.0, -0.5, -0.5, -0.5),
    )  # teaching-quality


@dataclass(frozen=True)
class IncentiveConfig:
    """The four incentive factors: profiles (S3 eq 11), fading (eq 12), habituation and costs."""

    profiles: tuple[tuple[float, ...], ...] = bounded(
        factory=_default_profiles, length=4, ge=-5, le=5, doc="W_m rows over the 8 states"
    )
    fading_per_minute: float = bounded(1.0, gt=0, le=60, doc="d in exp(-psi*d*(t - t_a)), per minute")
    habituation: float = bounded(0.7, ge=0, le=1, doc="h: n-th repeat within the window has I0 = h^n")
    habituation_window_minutes: float = bounded(10.0, ge=0, le=600, doc="window for counting repeats")
    difficulty_reduction: float = bounded(0.3, ge=0, le=1, doc="reduce-difficulty lowers D by this")
    active_threshold: float = bounded(0.1, ge=0, le=10, doc="reduce-difficulty acts while intensity above this")
    learning_rate_penalty: float = bounded(0.3, ge=0, le=1, doc="learning rate lost while difficulty is reduced")
    lesson_problems: int = bounded(20, ge=1, le=10_000, doc="problems in a lesson; remove-problems takes one")
    fun_seconds: float = bounded(20.0, ge=0, le=600, doc="lesson time a fun break costs its students")
    teacher_budget: int = bounded(10, ge=0, le=100_000, doc="teaching-quality uses a lesson")
    cost_weights: tuple[float, ...] = bounded(
        factory=lambda: (1.0, 1.0, 1.0, 1.0),
        length=4,
        ge=0,
        le=1000,
        doc="cost of one use of each factor (fun: per decision)",
    )

    def check(self) -> None:
        for m, row in enumerate(self.profiles):
            if len(row) != 8:
                raise ConfigError(f"incentives.profiles[{m}]", f"must have exactly 8 entries, got {len(row)}")


@dataclass(frozen=True)
class StudentConfig:
    """How students differ (SPEC §2-3). Choices beyond SPEC are documented per field."""

    ability_mean: float = bounded(0.5, ge=0, le=1, doc="mean of D*_k (normal, clipped to [0.05, 0.95])")
    ability_sd: float = bounded(0.15, ge=0, le=1, doc="sd of D*_k")
    fatigue_min: float = bounded(0.5, ge=0, le=10, doc="f_k ~ U(fatigue_min, fatigue_max); F_k = f_k t/T")
    fatigue_max: float = bounded(1.5, ge=0, le=10)
    dilution_median: float = bounded(0.5, gt=0, le=100, doc="psi_k ~ LogNormal(log median, sigma)")
    dilution_sigma: float = bounded(0.3, ge=0, le=5)
    attention_fatigue_min: float = bounded(0.2, ge=0, le=1, doc="g_k ~ U(min, max)")
    attention_fatigue_max: float = bounded(0.6, ge=0, le=1)
    expressiveness_min: float = bounded(0.5, ge=0, le=1, doc="facial expressiveness ~ U(min, max), for frames")
    expressiveness_max: float = bounded(1.0, ge=0, le=1)

    def check(self) -> None:
        for lo, hi in (
            ("fatigue_min", "fatigue_max"),
            ("attention_fatigue_min", "attention_fatigue_max"),
            ("expressiveness_min", "expressiveness_max"),
        ):
            if getattr(self, lo) > getattr(self, hi):
                raise ConfigError(
                    f"students.{lo}",
                    f"{lo} ({getattr(self, lo):g}) must be <= {hi} ({getattr(self, hi):g})",
                    involves=(lo, hi),
                )


@dataclass(frozen=True)
class AttentionConfig:
    """Attention dynamics (S0 §3.2.2) and teacher check-ins."""

    rate: float = bounded(0.2, ge=0, le=1, doc="rho, pull towards the state's target")
    targets: tuple[float, ...] = bounded(
        factory=lambda: (0.75, 0.85, 0.80, 0.60, 0.55, 0.25, 0.50, 0.30), length=8, ge=0, le=1, doc="a*(s) per state"
    )
    noise: float = bounded(0.03, ge=0, le=1, doc="sd of the per-tick noise")
    checkin_boost: float = bounded(0.25, ge=0, le=1, doc="boost of a teacher check-in; fades like an incentive")
    participation_threshold: float = bounded(0.6, ge=0, le=1, doc="attending means a >= this")


@dataclass(frozen=True)
class BehaviourConfig:
    """Per-tick behaviour events (S0 §3.2.4) and how interaction time is counted."""

    look_away_scale: float = bounded(
        0.3, gt=0, le=1, doc="P(look away) = scale * (1 - a); > 0, as the teacher's attention estimate inverts it"
    )
    eyes_closed_below: float = bounded(0.2, ge=0, le=1, doc="eyes may close when a < this")
    eyes_closed_prob: float = bounded(0.5, ge=0, le=1)
    yawn_base: float = bounded(0.05, ge=0, le=1, doc="P(yawn) = base + fatigue_scale * F in low-arousal states")
    yawn_fatigue_scale: float = bounded(0.2, ge=0, le=1)
    hand_raise_scale: float = bounded(0.05, ge=0, le=1, doc="P(raise hand) = scale * a in positive states")
    hand_raise_seconds: float = bounded(10.0, ge=0, le=600, doc="interaction time counted per hand raise")
    checkin_seconds: float = bounded(30.0, ge=0, le=600, doc="interaction time counted per check-in")


@dataclass(frozen=True)
class LearningConfig:
    """Knowledge gain per tick (S0 §3.2.4)."""

    rate: float = bounded(0.01, ge=0, le=1, doc="gain per tick at full attention and matched difficulty")
    positive_bonus: float = bounded(0.3, ge=0, le=10, doc="extra rate in positive states")


def _default_emission() -> tuple[tuple[float, ...], ...]:
    # SPEC §4: P(expression | state); columns neutral, happy, surprise, sad, anger, disgust, fear.
    return (
        (0.05, 0.45, 0.45, 0.00, 0.00, 0.00, 0.05),  # excitement
        (0.15, 0.75, 0.10, 0.00, 0.00, 0.00, 0.00),  # joy
        (0.35, 0.60, 0.05, 0.00, 0.00, 0.00, 0.00),  # happiness
        (0.70, 0.25, 0.00, 0.05, 0.00, 0.00, 0.00),  # relaxation
        (0.75, 0.05, 0.00, 0.15, 0.00, 0.05, 0.00),  # calmness
        (0.25, 0.00, 0.00, 0.65, 0.00, 0.05, 0.05),  # depression
        (0.20, 0.00, 0.10, 0.10, 0.05, 0.05, 0.50),  # tension
        (0.10, 0.00, 0.00, 0.05, 0.65, 0.20, 0.00),
    )  # anger


@dataclass(frozen=True)
class FramesConfig:
    """Faces in the loop (SPEC §4): which expression a state shows, and how strongly.

    Expression intensity ~ Beta(m*c, (1-m)*c) with mean
    ``m = expressiveness_k * (intensity_low_arousal or intensity_high_arousal)``
    and concentration ``c``: it rises with arousal and with the student's
    expressiveness, and low-intensity faces are ambiguous.
    """

    emission: tuple[tuple[float, ...], ...] = bounded(
        factory=_default_emission, length=8, ge=0, le=1, doc="B: P(expression | state), rows over 7 classes"
    )
    size: int = bounded(64, ge=16, le=256, doc="frame side in pixels")
    intensity_low_arousal: float = bounded(0.45, gt=0, lt=1, doc="mean intensity factor, low-arousal states")
    intensity_high_arousal: float = bounded(0.7, gt=0, lt=1, doc="mean intensity factor, high-arousal states")
    intensity_concentration: float = bounded(6.0, gt=0, le=1000, doc="Beta concentration c")

    def check(self) -> None:
        for i, row in enumerate(self.emission):
            if len(row) != 7:
                raise ConfigError(f"frames.emission[{i}]", f"must have exactly 7 entries, got {len(row)}")
            if abs(sum(row) - 1.0) > 1e-6:
                raise ConfigError(f"frames.emission[{i}]", f"must add up to 1, got {sum(row):g}")


@dataclass(frozen=True)
class SimConfig:
    """Everything the classroom simulator needs, section by section."""

    classroom: ClassroomConfig = bounded(factory=ClassroomConfig)
    lesson: LessonConfig = bounded(factory=LessonConfig)
    emotion: EmotionConfig = bounded(factory=EmotionConfig)
    incentives: IncentiveConfig = bounded(factory=IncentiveConfig)
    students: StudentConfig = bounded(factory=StudentConfig)
    attention: AttentionConfig = bounded(factory=AttentionConfig)
    behaviour: BehaviourConfig = bounded(factory=BehaviourConfig)
    learning: LearningConfig = bounded(factory=LearningConfig)
    frames: FramesConfig = bounded(factory=FramesConfig)
