"""The batched environments: B lessons in one numpy tick give, number for number, what B single environments give."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest
import simpy
from gymnasium.vector import AutoresetMode

import vclass  # noqa: F401  (registers the ids and their vector entry points)
from vclass.config import ConfigError
from vclass.env.classroom_env import InvalidAction
from vclass.env.vector import AttentionVectorEnv, MotivationVectorEnv
from vclass.sim.batch import (
    CONNECTED,
    ClassroomBatch,
    FlagEvents,
    LessonClock,
    first_ticks,
    flag_timelines,
    replayed_events,
)
from vclass.sim.classroom import _replay

IDS = ("vclass/Motivation-v0", "vclass/Attention-v0")
N = 6
B = 3
# Faults, late joins, drop-outs and a small teaching budget, so that a short lesson exercises every path.
BUSY = {
    "classroom": {"connection_drop_prob": 0.05, "camera_off_prob": 0.05, "late_join_prob": 0.5, "dropout_prob": 0.3},
    "incentives": {"teacher_budget": 3},
}


@pytest.fixture(scope="module")
def options(confusion) -> dict:
    return {"students": N, "minutes": 5.0, "confusion_path": confusion, "config": BUSY}


def assert_same(ours, theirs, where: str = "") -> None:
    """Equal, bit for bit and type for type: arrays (dtype, shape, values, NaN where NaN), dicts key by key."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and set(ours) == set(theirs), f"{where}: keys {set(ours) ^ set(theirs)}"
        for key in theirs:
            assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif dataclasses.is_dataclass(theirs) and not isinstance(theirs, type):
        assert type(ours) is type(theirs), where
        assert_same(vars(ours), vars(theirs), where)
    elif isinstance(theirs, (tuple, list)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype and ours.shape == theirs.shape, where
        if theirs.dtype == object:
            for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
                assert_same(a, b, f"{where}[{i}]")
        else:
            np.testing.assert_array_equal(ours, theirs, err_msg=where, strict=True)
    else:
        assert type(ours) is type(theirs) and (ours == theirs or (ours != ours and theirs != theirs)), where


def busy_actions(env_id: str, steps: int, seed: int) -> list[np.ndarray]:
    """Random actions with many incentives (every factor, repeats: habituation, refusals) or check-ins."""
    rng = np.random.default_rng(seed)
    if env_id.startswith("vclass/Motivation"):
        return [rng.integers(0, 5, (B, N)) * (rng.random((B, N)) < 0.6) for _ in range(steps)]
    return [rng.integers(0, N + 1, B) for _ in range(steps)]


def test_make_vec_gives_the_batched_environment_of_each_id(options):
    for env_id, cls in zip(IDS, (MotivationVectorEnv, AttentionVectorEnv), strict=True):
        envs = gymnasium.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", **options)
        single = gymnasium.make(env_id, **options)
        assert isinstance(envs, cls) and envs.num_envs == 4
        assert envs.single_observation_space == single.observation_space
        assert envs.single_action_space == single.action_space
        assert envs.observation_space.shape == (4, *single.observation_space.shape)
        assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        assert type(gymnasium.make_vec(env_id, num_envs=2, **options)) is cls  # the default for these ids
        obs, _ = envs.reset(seed=0)
        assert obs in envs.observation_space
        envs.close()


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
@pytest.mark.parametrize("env_id", IDS)
def test_batched_env_gives_what_separate_envs_give_bit_for_bit(env_id, mode, options):
    """Observations, rewards, terminations, truncations and infos (terms, student_rewards, the lesson summary,
    final observations and infos) equal SyncVectorEnv's of the single envs on the same seeds, through two lesson
    ends and their autoresets; so do the lessons' records at their end."""
    ours = gymnasium.make_vec(
        env_id, num_envs=B, vectorization_mode="vector_entry_point", autoreset_mode=mode, **options
    )
    theirs = gymnasium.make_vec(
        env_id, num_envs=B, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}, **options
    )
    assert_same(ours.reset(seed=[3, 11, 40]), theirs.reset(seed=[3, 11, 40]), "reset")
    ends = 0
    for step, action in enumerate(busy_actions(env_id, 24, seed=1)):
        result, expected = ours.step(action), theirs.step(action)
        assert_same(result, expected, f"step {step}")
        if expected[2].all():
            ends += 1
            if mode == AutoresetMode.NEXT_STEP:  # the lessons are still there: compare their records
                for lesson, single in enumerate(theirs.envs):
                    assert_same(ours.batch.record(lesson), single.unwrapped.lesson.room.record, f"record {lesson}")
    assert ends == 2


def test_lesson_seeds_given_as_options_start_the_lessons_of_those_seeds(options):
    ours = MotivationVectorEnv(B, **options)
    obs, info = ours.reset(options={"lesson_seed": [1000, 1001, 7]})
    singles = [gymnasium.make("vclass/Motivation-v0", **options) for _ in range(B)]
    expected = [env.reset(options={"lesson_seed": seed}) for env, seed in zip(singles, (1000, 1001, 7), strict=True)]
    assert info["lesson_seed"].tolist() == [1000, 1001, 7]
    np.testing.assert_array_equal(obs, np.stack([o for o, _ in expected]))
    for action in busy_actions("vclass/Motivation-v0", 10, seed=2):
        obs, rewards, terminated, _, info = ours.step(action)
        for lesson, env in enumerate(singles):
            one_obs, reward, one_terminated, _, one_info = env.step(action[lesson])
            np.testing.assert_array_equal(obs[lesson], one_obs)
            assert rewards[lesson] == reward and terminated[lesson] == one_terminated
            np.testing.assert_array_equal(info["student_rewards"][lesson], one_info["student_rewards"])
    assert terminated.all()
    same = MotivationVectorEnv(B, **options)
    same.reset(options={"lesson_seed": 5})
    assert same.lesson_seeds.tolist() == [5, 5, 5]  # one seed for all, as SyncVectorEnv passes its options


def test_a_large_class_batch_matches_too(confusion):
    """30 students (the default class), 8 lessons, the default config: a few steps and an end."""
    opts = {"minutes": 2.0, "confusion_path": confusion}
    ours = gymnasium.make_vec("vclass/Motivation-v0", num_envs=8, vectorization_mode="vector_entry_point", **opts)
    theirs = gymnasium.make_vec("vclass/Motivation-v0", num_envs=8, vectorization_mode="sync", **opts)
    assert_same(ours.reset(seed=123), theirs.reset(seed=123))
    rng = np.random.default_rng(0)
    for step in range(5):
        action = rng.integers(0, 5, (8, 30)) * (rng.random((8, 30)) < 0.3)
        assert_same(ours.step(action), theirs.step(action), f"step {step}")


def test_one_student_classes_match(confusion):
    """One-row matrix products take another BLAS path: the batch computes them lesson by lesson."""
    opts = {"students": 1, "minutes": 2.0, "confusion_path": confusion, "config": BUSY}
    ours = gymnasium.make_vec("vclass/Motivation-v0", num_envs=4, vectorization_mode="vector_entry_point", **opts)
    theirs = gymnasium.make_vec("vclass/Motivation-v0", num_envs=4, vectorization_mode="sync", **opts)
    assert_same(ours.reset(seed=9), theirs.reset(seed=9))
    rng = np.random.default_rng(0)
    for step in range(5):
        action = rng.integers(0, 5, (4, 1))
        assert_same(ours.step(action), theirs.step(action), f"step {step}")


@pytest.mark.parametrize("late_join_prob", [0.0, 1.0])
def test_summaries_are_the_lessons_own_also_when_a_measure_is_undefined(late_join_prob, confusion):
    """The lesson summaries, computed for all lessons at once, are what each lesson's gives, batched as Gymnasium
    batches infos; lessons nobody attends (students who join after the end: undefined measures) are summarized
    lesson by lesson, and match too."""
    late = {"late_join_prob": late_join_prob, "late_join_max_minutes": 600.0}
    opts = {"students": 2, "minutes": 2.0, "confusion_path": confusion, "config": {"classroom": late}}
    ours = gymnasium.make_vec("vclass/Motivation-v0", num_envs=4, vectorization_mode="vector_entry_point", **opts)
    theirs = gymnasium.make_vec("vclass/Motivation-v0", num_envs=4, vectorization_mode="sync", **opts)
    assert_same(ours.reset(seed=21), theirs.reset(seed=21))
    rng = np.random.default_rng(3)
    terminated = np.zeros(4, dtype=bool)
    while not terminated.all():
        action = rng.integers(0, 5, (4, 2))
        result = ours.step(action)
        assert_same(result, theirs.step(action))
        terminated = result[2]
    summaries = result[4]["summary"]
    assert summaries["_tea_share"].all()
    assert ("undefined" in summaries) == (late_join_prob == 1.0)


def test_observations_come_from_the_recognizer_never_the_true_state(options):
    envs = MotivationVectorEnv(B, **options)
    envs.reset(seed=0)
    for action in busy_actions("vclass/Motivation-v0", 3, seed=0):
        obs, *_ = envs.step(action)
    batch = envs.batch
    batch.state[:] = (batch.state + 4) % 8  # change the hidden truth, not what was recognized
    batch.attention[:] = 0.01
    np.testing.assert_array_equal(obs, envs._encode())
    with pytest.raises(ConfigError, match="surrogate"):
        MotivationVectorEnv(2, **{**options, "recognizer": "oracle"})
    with pytest.raises(ConfigError) as err:
        MotivationVectorEnv(2, **{**options, "recognizer": "scn-cs"})
    assert err.value.field == "recognizer" and "sync" in err.value.message


def test_bad_arguments_actions_and_partial_resets_are_refused(options):
    with pytest.raises(ConfigError, match="num_envs"):
        MotivationVectorEnv(0, **options)
    with pytest.raises(ConfigError, match="autoreset_mode"):
        MotivationVectorEnv(2, autoreset_mode="Disabled", **options)
    with pytest.raises(ConfigError) as err:
        AttentionVectorEnv(2, **{**options, "students": 0})
    assert err.value.field == "students"
    envs = MotivationVectorEnv(2, **options)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros((2, N), dtype=np.int64))
    envs.reset(seed=0)
    with pytest.raises(InvalidAction, match="0..4"):
        envs.step(np.full((2, N), 5))
    with pytest.raises(InvalidAction, match="shape"):
        envs.step(np.zeros((3, N), dtype=np.int64))
    with pytest.raises(InvalidAction, match="integers"):
        envs.step(np.zeros((2, N)))
    with pytest.raises(ConfigError, match="reset_mask"):
        envs.reset(options={"reset_mask": np.array([True, False])})
    attention = AttentionVectorEnv(2, **options)
    attention.reset(seed=0)
    with pytest.raises(InvalidAction, match=f"0..{N}"):
        attention.step(np.array([0, N + 1]))


def _simpy_flags(schedules: list[list[tuple[float, int, bool]]], n: int, cfg) -> tuple[np.ndarray, np.ndarray]:
    """What SimPy's ticks and an env's decisions see of the replayed schedules (the classroom's processes)."""
    env = simpy.Environment()
    clock = LessonClock.of(cfg)
    end = len(clock.tick_times) * cfg.classroom.tick_seconds
    flags = np.ones(n, dtype=bool)
    at_ticks, at_decisions = [], []

    def lesson_clock():
        for _ in clock.tick_times:
            at_ticks.append(flags.copy())
            yield env.timeout(cfg.classroom.tick_seconds)

    env.process(lesson_clock())
    for schedule in schedules:
        env.process(_replay(env, flags, schedule))
    while True:
        at_decisions.append(flags.copy())
        if env.now >= end:
            break
        env.run(until=min(env.now + cfg.classroom.decision_seconds, end))
    return np.array(at_ticks), np.array(at_decisions)


def test_replayed_faults_are_seen_by_the_ticks_and_decisions_simpy_shows_them_to(small_cfg):
    """Events exactly at tick and decision times, several at one time, and chains of them: SimPy orders equal
    times by scheduling order; the replay gives every tick and decision the flags SimPy gives them."""
    schedules = [
        [(10.0, 0, False), (20.0, 0, True), (30.0, 1, False), (30.0, 1, True), (30.0, 2, False)],
        [(5.0, 3, False), (10.0, 3, True), (20.0, 4, False), (29.999999, 4, True), (60.0, 5, False)],
        [(0.0, 6, False), (40.0, 6, True), (40.0, 7, False), (50.0, 7, True), (50.0, 7, False), (70.0, 8, False)],
        [(1e-9, 9, False), (12.5, 10, False), (30.0, 9, True), (90.0, 10, True), (599.0, 11, False)],
    ]
    n = 12
    expected_ticks, expected_decisions = _simpy_flags(schedules, n, small_cfg)
    clock = LessonClock.of(small_cfg)
    processes = [replayed_events(s, CONNECTED) for s in schedules]
    at_ticks, at_decisions = flag_timelines([FlagEvents.joined(processes)], np.ones((3, 1, n), dtype=bool), clock)
    np.testing.assert_array_equal(at_ticks[CONNECTED, 0], expected_ticks)
    np.testing.assert_array_equal(at_decisions[CONNECTED, 0], expected_decisions)
    tick_times = np.array(clock.tick_times)
    # 10 s (scheduled at the start): after the tick at 10 s; 20 s, scheduled then: after the tick at 20 s.
    assert first_ticks(processes[0], tick_times)[:2].tolist() == [2, 3]
    assert first_ticks(processes[2], tick_times)[:2].tolist() == [1, 4]  # 40 s, scheduled at 0: before its tick


def test_batch_runs_without_an_observer_and_refuses_steps_after_the_end(small_cfg):
    batch = ClassroomBatch(small_cfg, 2)
    batch.start([1, 2])
    for _ in range(batch.clock.n_steps):
        batch.apply(np.zeros((2, 12), dtype=np.int64))
        batch.run_step()
    assert batch.done and batch.tick_index == small_cfg.classroom.n_ticks
    assert (batch.record(0).expression == -1).all()  # nobody watched: no expressions drawn
    with pytest.raises(RuntimeError, match="over"):
        batch.run_step()
