"""The Gymnasium environments: registration, the checkers, spaces, seeding, rewards, vectorized runs, rendering."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest

import vclass  # noqa: F401  (registers the ids)
from vclass.config import ConfigError
from vclass.env.attention import AttentionEnv
from vclass.env.classroom_env import GLOBAL_FEATURES, STUDENT_FEATURES, ObservationEncoder, reward_terms
from vclass.env.motivation import MotivationEnv
from vclass.sim.measures import class_summary, intervention_cost, timeline

IDS = ("vclass/Motivation-v0", "vclass/Attention-v0")
N = 6


@pytest.fixture(scope="module")
def options(confusion) -> dict:
    return {"students": N, "minutes": 5.0, "confusion_path": confusion}


def _rollout(made, seed: int, actions: list) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = made.reset(seed=seed)
    observations, rewards = [obs], []
    for action in actions:
        obs, reward, terminated, _, _ = made.step(action)
        observations.append(obs)
        rewards.append(reward)
        if terminated:
            break
    return observations, rewards


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_make_works_after_import_env_and_by_module_prefix(env_id, options):
    made = gymnasium.make(env_id, **options)
    assert made.observation_space.shape == (len(GLOBAL_FEATURES) + N * len(STUDENT_FEATURES),)
    assert gymnasium.make(f"vclass:{env_id}", **options).spec.id == env_id


@pytest.mark.parametrize("env_id", IDS)
def test_env_passes_gymnasium_and_sb3_checkers(env_id, options):
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checkers' warnings count as failures
        gym_check_env(gymnasium.make(env_id, **options).unwrapped, skip_render_check=False)
        sb3_check_env(gymnasium.make(env_id, **options).unwrapped, warn=True)


def test_action_spaces_are_one_incentive_per_student_and_one_checkin(options):
    assert MotivationEnv(**options).action_space == gymnasium.spaces.MultiDiscrete([5] * N)
    assert AttentionEnv(**options).action_space == gymnasium.spaces.Discrete(N + 1)
    space = MotivationEnv(**options).observation_space
    assert space.dtype == np.float32 and np.all(space.low <= space.high)


@pytest.mark.parametrize("env_id", IDS)
def test_reset_with_a_seed_and_the_same_actions_repeat_observations_and_rewards(env_id, options):
    made = gymnasium.make(env_id, **options)
    made.action_space.seed(3)
    actions = [made.action_space.sample() for _ in range(10)]
    first = _rollout(made, 7, actions)
    second = _rollout(gymnasium.make(env_id, **options), 7, actions)
    other = _rollout(made, 8, actions)
    for a, b in zip(first[0], second[0]):
        np.testing.assert_array_equal(a, b)
    assert first[1] == second[1]
    assert any(not np.array_equal(a, b) for a, b in zip(first[0], other[0]))


def test_episodes_after_a_seeded_reset_are_deterministic(options):
    a, b = MotivationEnv(**options), MotivationEnv(**options)
    a.reset(seed=1)
    b.reset(seed=1)
    seeds_a = [a.reset()[1]["lesson_seed"] for _ in range(3)]
    seeds_b = [b.reset()[1]["lesson_seed"] for _ in range(3)]
    assert seeds_a == seeds_b and len(set(seeds_a)) == 3


def test_one_episode_is_one_lesson_of_30_second_decisions(options):
    made = AttentionEnv(**options)
    made.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        _, _, terminated, truncated, info = made.step(0)
        assert not truncated
        steps += 1
    assert steps == 10 and info["tick"] == 30 and "summary" in info


def test_rewards_sum_to_the_lesson_measures(options):
    made = MotivationEnv(**options)
    made.reset(seed=2)
    made.action_space.seed(0)
    totals = {"learning_gain": 0.0, "tea_share": 0.0, "effective_participation_min": 0.0, "intervention_cost": 0.0}
    ret, terminated = 0.0, False
    while not terminated:
        _, reward, terminated, _, info = made.step(made.action_space.sample())
        ret += reward
        for key in totals:
            totals[key] += info[key]
    record = made.lesson.room.record
    summary = class_summary(record)
    assert totals["learning_gain"] == pytest.approx(summary["learning_gain"])
    assert totals["effective_participation_min"] == pytest.approx(summary["effective_participation_min"])
    assert totals["intervention_cost"] == pytest.approx(intervention_cost(record)) and totals["intervention_cost"] > 0
    assert totals["tea_share"] == pytest.approx(np.nan_to_num(timeline(record)["tea_share"]).mean())
    whole = reward_terms(record, 0, record.plan.n_ticks)
    assert whole == pytest.approx(totals)
    cfg = made.sim_config
    expected = 100 * (
        whole["learning_gain"] / (cfg.learning.rate * cfg.classroom.n_ticks)
        + whole["tea_share"]
        - whole["intervention_cost"] / (N * 10)
    )
    assert ret == pytest.approx(expected)


def test_attention_return_is_effective_participation_time(options):
    made = AttentionEnv(**options)
    made.reset(seed=4)
    ret, terminated, k = 0.0, False, 0
    while not terminated:
        _, reward, terminated, _, info = made.step(1 + k % N)
        ret += reward
        k += 1
    assert ret == pytest.approx(info["summary"]["effective_participation_min"])
    assert info["summary"]["checkins"] > 0


def test_lesson_seed_option_gives_the_class_of_vclass_run_with_that_seed(options):
    """Driving the env with a baseline's actions reproduces simulate() with that baseline (same seed)."""
    from vclass.agents.baselines import GreedyAttentionCheckin
    from vclass.env.observers import make_observer
    from vclass.sim.classroom import simulate

    made = AttentionEnv(**options)
    made.reset(options={"lesson_seed": 11})
    policy = GreedyAttentionCheckin()
    policy.reset(N, np.random.default_rng(0))
    terminated = False
    while not terminated:
        action = policy.act(made.lesson.room.observation())
        _, _, terminated, _, info = made.step(action.checkin + 1)
    record = simulate(
        made.sim_config,
        11,
        GreedyAttentionCheckin(),
        make_observer("surrogate", confusion_path=options["confusion_path"]),
    )
    assert info["summary"]["effective_participation_min"] == class_summary(record)["effective_participation_min"]
    assert record.checkins == made.lesson.room.record.checkins


def test_observation_is_the_encoded_teacher_observation_never_the_true_state(options):
    made = MotivationEnv(**options)
    obs, _ = made.reset(seed=5)
    for _ in range(3):
        obs, *_ = made.step(made.action_space.sample())
    room = made.lesson.room
    encoder = ObservationEncoder(made.sim_config, N)
    np.testing.assert_array_equal(obs, encoder.encode(room.observation()))
    room.state[:] = (room.state + 4) % 8  # change the hidden truth, not what was recognized
    room.attention[:] = 0.01
    np.testing.assert_array_equal(obs, encoder.encode(room.observation()))


@pytest.mark.slow
def test_runs_under_sb3_subproc_vec_env(options):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    for env_id in IDS:  # default start method (forkserver): the workers import the env package themselves
        venv = make_vec_env(f"vclass:{env_id}", n_envs=2, seed=0, env_kwargs=options, vec_env_cls=SubprocVecEnv)
        try:
            obs = venv.reset()
            assert obs.shape == (2, len(GLOBAL_FEATURES) + N * len(STUDENT_FEATURES))
            ended = np.zeros(2, dtype=bool)
            for _ in range(12):  # through an episode end (auto-reset)
                obs, rewards, dones, _infos = venv.step(np.stack([venv.action_space.sample() for _ in range(2)]))
                ended |= dones
            assert rewards.shape == (2,) and ended.all() and np.isfinite(obs).all()
        finally:
            venv.close()


def test_render_rgb_array_is_a_grid_of_faces_with_belief_bars(options):
    made = gymnasium.make("vclass/Attention-v0", render_mode="rgb_array", **options)
    made.reset(seed=0)
    made.step(1)
    frame = made.render()
    assert frame.dtype == np.uint8 and frame.shape == (2 * 90, 3 * 68, 3)
    assert frame.std() > 10  # faces and bars, not a blank canvas
    plain = gymnasium.make("vclass/Attention-v0", **options)
    plain.reset(seed=0)
    assert plain.render() is None


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"students": 0}, "students"),
        ({"minutes": -1.0}, "minutes"),
        ({"recognizer": "oracle"}, "recognizer"),
        ({"render_mode": "human"}, "render_mode"),
        ({"tea_weight": -1.0}, "tea_weight"),
        ({"config": {"classroom": {"late_join_prob": 2.0}}}, "classroom.late_join_prob"),
        ({"confusion_path": "/nonexistent/confusion.json"}, "confusion_path"),
    ],
)
def test_invalid_options_raise_config_errors_naming_the_option(kwargs, field, options):
    with pytest.raises(ConfigError) as err:
        MotivationEnv(**{**options, **kwargs})
    assert err.value.field == field


def test_invalid_reset_options_and_actions_are_rejected(options):
    made = AttentionEnv(**options)
    with pytest.raises(ConfigError, match="lesson_seed"):
        made.reset(options={"lesson_seed": -1})
    with pytest.raises(ConfigError, match="unknown reset option"):
        made.reset(options={"seed": 1})
    made.reset(seed=0)
    with pytest.raises(ValueError, match="0..6"):
        made.step(7)
    motivation = MotivationEnv(**options)
    motivation.reset(seed=0)
    with pytest.raises(ValueError, match="0..4"):
        motivation.step(np.full(N, 5))


def test_config_sets_the_lesson(options):
    config = {
        "classroom": {"students": 4, "minutes": 2.0},
        "lesson": {"segments": [{"kind": "online-test", "share": 1.0, "difficulty": 0.9}]},
    }
    made = MotivationEnv(config=config, confusion_path=options["confusion_path"])
    obs, _ = made.reset(seed=0)
    assert made.n_students == 4 and made.max_steps == 4
    assert obs[1 + 2] == 1.0 and obs[5] == pytest.approx(0.9)  # online-test segment, its difficulty
