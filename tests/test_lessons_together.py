"""Lessons run together (one SimPy environment, one render and one recognizer call a tick for all of them) are, bit
for bit, the lessons run alone; and the forked copy ``vclass run`` writes its comparison folder in returns or raises
what its function does."""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time

import numpy as np
import pytest

from vclass.agents.baselines import NoIntervention
from vclass.agents.registry import PolicyConfig
from vclass.config import ConfigError
from vclass.env.batch import RecognitionService, run_classrooms
from vclass.env.observers import RecognitionObserver
from vclass.experiments.lesson.config import load_run_config
from vclass.experiments.lesson.runner import build_policy, prepare_observers, run_lesson, run_lessons
from vclass.experiments.pool import WorkerLost, forked_call
from vclass.io import to_json
from vclass.sim.faces import CHUNK, render_face_groups, render_faces, sample_face_params

RECORD_FIELDS = ("state", "attention", "present", "connected", "camera_on", "behaviour", "learning", "expression")


@pytest.mark.parametrize("size", [48, 37])  # 37 * 37 is not a multiple of 8: the noise draw rounds up per chunk
def test_face_groups_render_as_each_group_alone(size):
    rng = np.random.default_rng(5)
    sizes = (30, 0, CHUNK + 9, 3)  # an empty group, and one that spans two chunks on its own
    groups = [sample_face_params(n, rng) for n in sizes]
    alone = [render_faces(params, np.random.default_rng(100 + i), size=size) for i, params in enumerate(groups)]
    together = render_face_groups([(params, np.random.default_rng(100 + i)) for i, params in enumerate(groups)], size)
    assert together.shape == (sum(sizes), size, size)
    assert np.array_equal(together, np.concatenate(alone))
    # Each generator is left where rendering its group alone leaves it.
    streams = [np.random.default_rng(100 + i) for i in range(len(groups))]
    render_face_groups(list(zip(groups, streams, strict=True)), size)
    for i, (params, stream) in enumerate(zip(groups, streams, strict=True)):
        reference = np.random.default_rng(100 + i)
        render_faces(params, reference, size=size)
        assert stream.random() == reference.random()


def _cfgs(recognizer: str):
    overrides = [
        (["classroom", "students"], 7),
        (["classroom", "minutes"], 4.0),
        (["recognizer", "kind"], recognizer),
        (["seed"], 11),
    ]
    base = load_run_config(None, overrides)
    # Another policy and another seed: nothing the lessons share can hide a mix-up between them.
    return [base, dataclasses.replace(base, policy=PolicyConfig("always-fun"), seed=12)]


@pytest.mark.parametrize("recognizer", ["scn-cs", "surrogate", "oracle"])
def test_lessons_together_are_the_lessons_alone(recognizer):
    cfgs = _cfgs(recognizer)
    alone = [run_lesson(cfg) for cfg in cfgs]
    together = run_lessons(cfgs, [build_policy(cfg) for cfg in cfgs])
    for a, b in zip(alone, together, strict=True):
        assert to_json(a.summary) == to_json(b.summary)
        for name in RECORD_FIELDS:
            assert np.array_equal(getattr(a.record, name), getattr(b.record, name)), name
        assert a.record.applications == b.record.applications
        assert a.record.checkins == b.record.checkins
        if recognizer == "oracle":
            assert a.recognition is None and b.recognition is None
            continue
        assert a.recognition is not None and b.recognition is not None
        assert np.array_equal(a.recognition.recognized, b.recognition.recognized)
        assert np.array_equal(a.recognition.tracked, b.recognition.tracked)
        assert len(a.recognition.samples) == len(b.recognition.samples)
        for x, y in zip(a.recognition.samples, b.recognition.samples, strict=True):
            assert np.array_equal(x["frame"], y["frame"]) and x["recognized"] == y["recognized"]
    assert [r.summary["recognition_path"] for r in together] == [r.summary["recognition_path"] for r in alone]


class _Model:
    """A recognizer that records what it was given (and when), and fails on a chosen call."""

    def __init__(self, model, fail_on: int = 0):
        self.model, self.fail_on, self.calls = model, fail_on, 0
        self.input_size = model.input_size

    def predict(self, frames):
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("the recognizer broke")
        return self.model.predict(frames)


def _classrooms(service: RecognitionService, seeds=(3, 4)):
    cfgs = _cfgs("scn-cs")
    sim = cfgs[0].sim
    observers = [RecognitionObserver("scn-cs", service=service) for _ in seeds]
    policies = [build_policy(cfgs[0]), NoIntervention()]
    records = run_classrooms(sim, list(seeds), policies, observers, service)
    return records, observers


def test_overlapped_recognition_gives_the_lessons_of_recognition_in_step():
    model = RecognitionObserver("scn-cs").model
    overlapped, in_step = RecognitionService(_Model(model)), RecognitionService(_Model(model), overlap=False)
    (a, obs_a), (b, obs_b) = _classrooms(overlapped), _classrooms(in_step)
    for x, y, ox, oy in zip(a, b, obs_a, obs_b, strict=True):
        for name in RECORD_FIELDS:
            assert np.array_equal(getattr(x, name), getattr(y, name)), name
        assert x.applications == y.applications
        assert [d.belief.tobytes() for d in x.decisions] == [d.belief.tobytes() for d in y.decisions]
        assert np.array_equal(ox.log.tracked, oy.log.tracked) and np.array_equal(ox.log.recognized, oy.log.recognized)
        assert not ox._rendered  # every rendered tick recognized by the lesson's end
    assert overlapped.frames == in_step.frames > 0 and overlapped._worker is None


def test_a_recognizer_failing_on_its_worker_thread_fails_the_lessons_and_leaves_no_thread():
    before = threading.active_count()
    service = RecognitionService(_Model(RecognitionObserver("scn-cs").model, fail_on=5))
    with pytest.raises(RuntimeError, match="the recognizer broke"):
        _classrooms(service)
    assert service._worker is None and threading.active_count() == before


def test_lessons_together_share_a_recognizer_and_a_tick():
    cfgs = _cfgs("surrogate")
    other = load_run_config(None, [(["recognizer", "kind"], "oracle")])
    with pytest.raises(ConfigError) as err:
        prepare_observers([cfgs[0], other])
    assert err.value.field == "recognizer"
    slower = load_run_config(None, [(["recognizer", "kind"], "surrogate"), (["classroom", "tick_seconds"], 15.0)])
    with pytest.raises(ConfigError) as err:
        prepare_observers([cfgs[0], slower])
    assert err.value.field == "classroom.tick_seconds"


def _square(x: int) -> int:
    return x * x


def _refuse(field: str) -> None:
    raise ConfigError(field, "not allowed here")


def _die() -> None:
    os._exit(3)


def _write_and_say_who(path: str) -> int:
    with open(path, "w") as f:
        f.write("written by the copy")
    return os.getpid()


class _TwoArgumentError(Exception):
    def __init__(self, field: str, why: str):  # unpickling calls it with args=(text,) alone: it would fail there
        super().__init__(f"{field}: {why}")


def _raise_unpicklable() -> None:
    raise _TwoArgumentError("frames", "bad")


def test_a_forked_call_returns_raises_or_reports_its_death(tmp_path):
    path = tmp_path / "out.txt"
    pid = forked_call(_write_and_say_who, str(path)).result()
    assert pid != os.getpid()  # it ran in another process, and its file is there once result() returns
    assert path.read_text() == "written by the copy"
    with pytest.raises(ConfigError) as err:
        forked_call(_refuse, "out").result()
    assert err.value.field == "out"
    assert str(err.value) == "out: not allowed here"
    assert "raised in the forked copy" in err.value.__notes__[0]  # its traceback's text, for vclass --debug
    assert "_refuse" in err.value.__notes__[0]
    with pytest.raises(RuntimeError, match="_TwoArgumentError: frames: bad"):
        forked_call(_raise_unpicklable).result()
    with pytest.raises(WorkerLost):
        forked_call(_die).result()


def test_a_forked_call_nobody_waits_for_is_ended_by_close():
    call = forked_call(time.sleep, 60.0)
    pid = call._pid
    start = time.perf_counter()
    call.close()
    assert time.perf_counter() - start < 5.0
    with pytest.raises(ChildProcessError):  # killed and reaped: no such child is left
        os.waitpid(pid, os.WNOHANG)


class _FinalizedOnlyHere:
    """Garbage whose finalizer must not run in a forked copy (as a dropped OpenVINO model's waits forever for
    threads the copy does not have): there it leaves a mark."""

    def __init__(self, mark: str):
        self.mark, self.owner, self.cycle = mark, os.getpid(), self

    def __del__(self):
        if os.getpid() != self.owner:
            with open(self.mark, "w") as f:
                f.write("finalized in the copy")


def _collect() -> int:
    return gc.collect()


def test_a_forked_copy_does_not_finalize_the_garbage_of_before_the_fork(tmp_path):
    mark = tmp_path / "mark"
    gc.disable()  # the cycle stays uncollected garbage until the fork
    try:
        _FinalizedOnlyHere(str(mark))
        forked_call(_collect).result()
    finally:
        gc.enable()
    assert not mark.exists()
    assert gc.get_freeze_count() == 0  # this process collects as before: the cycle goes here, without a mark
    gc.collect()
    assert not mark.exists()


def test_without_fork_a_forked_call_runs_here(monkeypatch, tmp_path):
    monkeypatch.delattr(os, "fork")
    assert forked_call(_write_and_say_who, str(tmp_path / "here.txt")).result() == os.getpid()
    with pytest.raises(ConfigError):
        forked_call(_refuse, "out").result()
