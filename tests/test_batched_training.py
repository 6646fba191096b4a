"""Training on the batched environments: the SB3 views equal their one-lesson-at-a-time counterparts."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from torch.distributions import Categorical

from vclass.agents.batched import BatchedStudentVecEnv, BatchedVecEnv
from vclass.agents.drl import LeanCategorical, StudentVecEnv, make_vec_env
from vclass.env.vector import AttentionVectorEnv, MotivationVectorEnv

BUSY = {
    "classroom": {"connection_drop_prob": 0.05, "camera_off_prob": 0.05, "late_join_prob": 0.5, "dropout_prob": 0.3}
}


@pytest.fixture(scope="module")
def options(confusion) -> dict:
    return {"students": 6, "minutes": 5.0, "recognizer": "surrogate", "confusion_path": confusion, "config": BUSY}


def assert_same_steps(ours, theirs, actions) -> None:
    np.testing.assert_array_equal(ours.reset(), theirs.reset(), strict=True)
    ends = 0
    for step, action in enumerate(actions):
        (obs, rewards, dones, infos), expected = ours.step(action), theirs.step(action)
        for mine, their in zip((obs, rewards, dones), expected[:3], strict=True):
            np.testing.assert_array_equal(mine, their, err_msg=f"step {step}", strict=True)
        for mine, their in zip(infos, expected[3], strict=True):
            assert mine.get("TimeLimit.truncated", False) == their.get("TimeLimit.truncated", False)  # as SB3 reads it
            if "terminal_observation" in their:
                np.testing.assert_array_equal(mine["terminal_observation"], their["terminal_observation"], strict=True)
            else:
                assert "terminal_observation" not in mine
        ends += dones.all()
    assert ends == 2


def test_batched_student_agents_are_the_student_vec_env_agents(options):
    ours, theirs = BatchedStudentVecEnv(options, 3), StudentVecEnv(options, 3)
    ours.seed(5)
    theirs.seed(5)
    assert ours.num_envs == theirs.num_envs == 18
    assert ours.observation_space == theirs.observation_space and ours.action_space == theirs.action_space
    rng = np.random.default_rng(0)
    assert_same_steps(ours, theirs, [rng.integers(0, 5, 18) for _ in range(22)])


@pytest.mark.parametrize("task, vector_env", [("attention", AttentionVectorEnv), ("motivation", MotivationVectorEnv)])
def test_batched_lessons_are_sb3s_dummy_vec_env_of_the_single_envs(task, vector_env, options):
    ours, theirs = BatchedVecEnv(vector_env, options, 3), make_vec_env(task, options, 3, seed=7)
    ours.seed(7)
    assert ours.observation_space == theirs.observation_space and ours.action_space == theirs.action_space
    ours.action_space.seed(0)
    assert_same_steps(ours, theirs, [np.stack([ours.action_space.sample() for _ in range(3)]) for _ in range(22)])


def test_ppo_learns_the_same_model_on_the_batched_lessons(options):
    """Same seeds, same settings: the same rollouts, so the same weights, to the last bit."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    weights = []
    for lessons in (StudentVecEnv, BatchedStudentVecEnv):
        venv = lessons(options, 2)
        venv.seed(3)
        model = PPO("MlpPolicy", VecMonitor(venv), n_steps=16, batch_size=64, n_epochs=2, seed=1, device="cpu")
        model.learn(16 * 12 * 2)
        weights.append(th.nn.utils.parameters_to_vector(model.policy.parameters()).detach().numpy())
    np.testing.assert_array_equal(*weights)


def test_lean_categorical_is_torchs_categorical():
    logits = th.randn(500, 5) * 3
    actions = th.randint(0, 5, (500,))
    lean, reference = LeanCategorical(5).proba_distribution(logits), Categorical(logits=logits)
    th.testing.assert_close(lean.log_prob(actions), reference.log_prob(actions))
    th.testing.assert_close(lean.entropy(), reference.entropy())
    assert th.equal(lean.mode(), reference.probs.argmax(dim=1))
    th.manual_seed(0)
    draws = LeanCategorical(5).proba_distribution(logits[:1].expand(20_000, 5)).sample()
    frequencies = th.bincount(draws, minlength=5) / 20_000
    th.testing.assert_close(frequencies, reference.probs[0], atol=0.015, rtol=0)


@pytest.mark.parametrize("task", ["motivation", "attention"])
def test_evaluate_runs_a_deep_rl_policys_lessons_batched_with_the_same_numbers(task, confusion):
    """vclass evaluate's rows (return and measures) of the shipped policy: batched lessons, lesson-by-lesson
    lessons, the same numbers."""
    from vclass.experiments.lesson.config import load_run_config
    from vclass.experiments.policy.evaluate import _batched_lessons, _lesson, batchable

    overrides = [
        (["classroom", "students"], 6),
        (["classroom", "minutes"], 5.0),
        (["recognizer", "kind"], "surrogate"),
        (["recognizer", "confusion"], confusion),
        *((["classroom", key], value) for key, value in BUSY["classroom"].items()),
    ]
    base = load_run_config(None, overrides).as_dict()
    name, seeds = f"ppo-{task}", [1000, 1001, 1002]
    assert batchable(base, task, name) and not batchable(base, task, "ecem")
    assert not batchable({**base, "recognizer": {**base["recognizer"], "kind": "scn-cs"}}, task, name)
    rows = _batched_lessons((base, task, name, seeds, 1.0, 2.0))
    assert rows == [_lesson((base, task, name, seed, 1.0, 2.0)) for seed in seeds]
    assert len({row["return"] for row in rows}) == 3


def test_the_motivation_recipe_steps_32_lessons_for_64_decisions_and_2_epochs():
    from vclass.agents.drl import TrainConfig

    recipe = TrainConfig(task="motivation")
    assert (recipe.lessons(), recipe.rollout_steps(), recipe.epochs()) == (32, 64, 2)
    attention = TrainConfig(task="attention")
    assert (attention.lessons(), attention.rollout_steps(), attention.epochs()) == (8, 256, 5)
    assert TrainConfig(task="motivation", n_envs=4, n_steps=16, n_epochs=5).lessons() == 4
    assert TrainConfig(task="attention", algo="a2c").rollout_steps() == 8
