"""One way to run a lesson: the policy and the observer built once, the lesson simulated, a typed result.

``vclass run``, sweeps, ``vclass evaluate`` and ``vclass experiment`` all run their lessons here, so a lesson's
summary means the same thing everywhere: SPEC §7's class measures (:func:`vclass.sim.measures.class_summary`),
the in-loop measures of the recognizer and the filter (:func:`vclass.env.observers.in_loop_accuracy`) and the
share of ECEM decisions the recognizer changed (:func:`vclass.agents.ecem.decision_divergence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import simpy
from tqdm import tqdm

from vclass.agents.ecem import DIVERGENCE_MEASURE, ECEM, decision_divergence
from vclass.agents.registry import make_policy
from vclass.config import ConfigError
from vclass.env.batch import RecognitionService, recognition, recognition_service
from vclass.env.observers import IN_LOOP_MEASURES, RecognitionLog, in_loop_accuracy, observer_from_config
from vclass.experiments.lesson.config import RunConfig
from vclass.sim.classroom import Lesson, LessonRecord, Observer, Policy, simulate
from vclass.sim.measures import CLASS_MEASURES, NOBODY_PRESENT, Measure, class_summary

# The measures of the summary table ``vclass run`` prints and its report shows, in that order.
SUMMARY_KEYS = (
    "tea_share",
    "mean_attention",
    "participation",
    "effective_participation_min",
    "mean_axis",
    "learning_gain",
    "interventions",
    "checkins",
    "intervention_cost",
    "recognition_accuracy",
    "belief_accuracy",
    "ecem_divergence",
)
_OTHER_KEYS = (
    "hand_raises_per_student",
    "connected_share",
    "camera_on_share",
    "frames_share",
    "fun_decisions",
    "refused_teaching_quality",
)
_BY_KEY = {m.key: m for m in (*CLASS_MEASURES, *IN_LOOP_MEASURES, DIVERGENCE_MEASURE)}
# Every scalar measure of a lesson summary (the ones a spec can name), by key: the summary table's first.
MEASURES: dict[str, Measure] = {key: _BY_KEY[key] for key in (*SUMMARY_KEYS, *_OTHER_KEYS)}


@dataclass(frozen=True)
class LessonResult:
    """What one lesson produced.

    :ivar record: the simulator's record (true states, attention, presence, behaviour, incentives, ...).
    :ivar recognition: the observer's recognition log; None under the oracle, which recognizes nothing.
    :ivar summary: the measures (:data:`MEASURES` and the class summary's tables), with the seed, the policy's
        name, the recognizer kind, the recognition path (backend, model file, precision; None without a model) and the
        resolved config.
    """

    record: LessonRecord
    recognition: RecognitionLog | None
    summary: dict[str, Any]


def build_policy(run_cfg: RunConfig) -> Policy:
    """The policy ``run_cfg.policy`` names, built with its parameters (raises ConfigError naming ``policy.*``)."""
    return make_policy(run_cfg.policy.name, run_cfg.policy.params, run_cfg.sim)


def run_lesson(
    run_cfg: RunConfig,
    policy: Policy | None = None,
    observer: Observer | None = None,
    progress: bool = False,
    divergence: bool = True,
) -> LessonResult:
    """Run the lesson of ``run_cfg`` (its seed, policy, recognizer and simulator config).

    :param policy: ``run_cfg.policy`` already built (:func:`build_policy`), to build it once for several uses;
        default: built here.
    :param observer: the observer of ``run_cfg.recognizer`` already built
        (:func:`vclass.env.observers.observer_from_config`), which loads the recognizer; it may serve several
        lessons one after another; default: built here.
    :param progress: show a progress bar over the lesson's ticks.
    :param divergence: compute ``ecem_divergence`` (ECEM's choices replayed on the beliefs and on the truth at every
        decision); False leaves it None, with the reason, for callers that do not report it.
    """
    policy = policy if policy is not None else build_policy(run_cfg)
    observer = observer if observer is not None else observer_from_config(run_cfg.recognizer, run_cfg.sim)
    with tqdm(
        total=run_cfg.sim.classroom.n_ticks,
        desc=f"lesson ({run_cfg.policy.name})",
        unit="tick",
        disable=not progress,
        leave=False,
    ) as bar:
        on_tick = (lambda _: bar.update()) if progress else None  # no call a tick for a bar nobody sees
        record = simulate(run_cfg.sim, run_cfg.seed, policy, observer, on_tick=on_tick)
    return lesson_result(run_cfg, policy, observer, record, divergence)


def run_lessons(
    run_cfgs: Sequence[RunConfig],
    policies: Sequence[Policy],
    progress: bool = False,
    divergence: bool = True,
    prepared: tuple[RecognitionService | None, Sequence[Observer]] | None = None,
) -> list[LessonResult]:
    """Run several lessons together, tick by tick in one SimPy environment, with every tick's frames of all of them
    rendered and recognized in one batch (:class:`vclass.env.batch.RecognitionService`): each lesson is, bit for
    bit, the one :func:`run_lesson` runs on its own, for less work than running them one after another.

    :param run_cfgs: the lessons; they share one ``[recognizer]`` table and one tick length.
    :param policies: one built policy per lesson (:func:`build_policy`).
    :param prepared: the service and the lessons' observers already built (:func:`prepare_observers`); default:
        built here.
    :raises ConfigError: lessons that cannot run together, or the recognizer's own errors.
    """
    if not run_cfgs:
        return []
    first = run_cfgs[0]
    service, observers = prepared if prepared is not None else prepare_observers(run_cfgs)
    env = simpy.Environment()
    total = sum(cfg.sim.classroom.n_ticks for cfg in run_cfgs)
    names = ", ".join(cfg.policy.name for cfg in run_cfgs)
    with tqdm(total=total, desc=f"lessons ({names})", unit="tick", disable=not progress, leave=False) as bar:
        lessons = [
            Lesson(cfg.sim, cfg.seed, policy, observer, on_tick=lambda _: bar.update(), env=env)
            for cfg, policy, observer in zip(run_cfgs, policies, observers, strict=True)
        ]
        if service is not None:  # created after the lessons: it runs after every lesson's tick at the same time
            env.process(recognition(env, service, first.sim.classroom.tick_seconds))
        try:
            env.run(until=max(lesson.end_seconds for lesson in lessons))
        except BaseException:
            if service is not None:
                service.abandon()
            raise
        if service is not None:  # the last tick's recognitions, and the worker thread stopped
            service.close()
    return [
        lesson_result(cfg, policy, observer, lesson.room.record, divergence)
        for cfg, policy, observer, lesson in zip(run_cfgs, policies, observers, lessons)
    ]


def prepare_observers(run_cfgs: Sequence[RunConfig]) -> tuple[RecognitionService | None, list[Observer]]:
    """The recognition service and one observer per lesson for :func:`run_lessons`, the recognizer loaded and
    checked once (:func:`vclass.env.batch.recognition_service`).

    :raises ConfigError: lessons that cannot run together (another recognizer table, tick length or frame size), or
        the recognizer's own errors.
    """
    first = run_cfgs[0]
    for cfg in run_cfgs[1:]:
        if cfg.recognizer != first.recognizer:
            raise ConfigError("recognizer", "lessons run together share one recognizer table")
        if cfg.sim.classroom.tick_seconds != first.sim.classroom.tick_seconds:
            raise ConfigError("classroom.tick_seconds", "lessons run together share one tick length")
        if cfg.sim.frames.size != first.sim.frames.size:
            raise ConfigError("frames.size", "lessons run together share one frame size")
    service = recognition_service(first.recognizer, first.sim)
    return service, [observer_from_config(cfg.recognizer, cfg.sim, service) for cfg in run_cfgs]


def lesson_result(
    run_cfg: RunConfig, policy: Policy, observer: Observer, record: LessonRecord, divergence: bool = True
) -> LessonResult:
    """The result of a lesson simulated with ``policy`` and ``observer``: its summary measures (see
    :func:`run_lesson`)."""
    log: RecognitionLog | None = getattr(observer, "log", None)
    summary = {**class_summary(record), **in_loop_accuracy(record, log)}
    share = None
    if log is not None and divergence:
        ecem = policy if isinstance(policy, ECEM) else ECEM(run_cfg.sim)
        share = decision_divergence(ecem, record)
    summary.update(ecem_divergence=share)
    _explain_undefined(summary, oracle=log is None)
    if log is not None and not divergence:
        summary["undefined"] = {**summary.get("undefined", {}), "ecem_divergence": "not asked for"}
    summary.update(
        seed=run_cfg.seed,
        policy=run_cfg.policy.name,
        recognizer=run_cfg.recognizer.kind,
        recognition_path=getattr(observer, "path", None),  # which backend, model file and precision recognized
        config=run_cfg.as_dict(),
    )
    return LessonResult(record, log, summary)


def _explain_undefined(summary: dict[str, Any], oracle: bool) -> None:
    """Give every measure the lesson left undefined (None) its reason in ``summary["undefined"]``."""
    reasons = dict(summary.get("undefined", {}))
    for key in ("recognition_accuracy", "belief_accuracy", "ecem_divergence"):
        if summary.get(key) is None and key not in reasons:
            if oracle:
                reasons[key] = "the oracle observer recognizes nothing: it reads the true state"
            elif key == "ecem_divergence":
                reasons[key] = "no decision had a reachable student"
            else:
                reasons[key] = "no student ever showed a frame" if key == "recognition_accuracy" else NOBODY_PRESENT
    if reasons:
        summary["undefined"] = reasons


def describe_path(path: dict[str, str] | None) -> str:
    """The recognition path in a few words, e.g. ``openvino int8 (scn-cs-int8.onnx)``."""
    if not path:
        return "no model"
    return f"{path['backend']} {path['precision']} ({Path(path['model']).name})"
