"""stable-baselines3 views of the batched environments (:mod:`vclass.env.vector`), for ``vclass train-policy``.

* :class:`BatchedStudentVecEnv` - the motivation task's per-student agents (parameter sharing, as
  :class:`vclass.agents.drl.StudentVecEnv` presents them), every student of B lessons stepped in one batch;
* :class:`BatchedVecEnv` - one agent per lesson (the attention task, ``--net mlp``), as SB3's ``DummyVecEnv`` of
  the single environments presents them.

Each gives, on the same seeds and actions, what its one-lesson-at-a-time counterpart gives (observations,
rewards, dones, terminal observations; tested), so training on it is training on the same environment, faster.
SB3 autoresets: at a lesson's end the lessons restart at once (they end together) and the info of each agent holds
its ``terminal_observation``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from vclass.env.classroom_env import GLOBAL_FEATURES, STUDENT_FEATURES, student_views
from vclass.env.vector import AttentionVectorEnv, ClassroomVectorEnv, MotivationVectorEnv


def student_view_space(space: gym.spaces.Box) -> gym.spaces.Box:
    """The space of one student's view (:func:`vclass.env.classroom_env.student_views`) of a class observation in
    ``space``: the global features, the student's own and the class mean (bounded as the student's own)."""
    g, f = len(GLOBAL_FEATURES), len(STUDENT_FEATURES)
    own_low, own_high = space.low[g : g + f], space.high[g : g + f]
    low = np.concatenate([space.low[:g], own_low, own_low])
    high = np.concatenate([space.high[:g], own_high, own_high])
    return gym.spaces.Box(low, high, dtype=np.float32)


class _BatchedVecEnvBase(VecEnv):
    """What both views share: one batched environment, forwarded attributes, seeding at the first reset."""

    env: ClassroomVectorEnv

    def __init__(self, env: ClassroomVectorEnv, agents_per_lesson: int, observation_space, action_space):
        self.env = env
        self.agents_per_lesson = agents_per_lesson
        super().__init__(env.num_envs * agents_per_lesson, observation_space, action_space)
        self._actions: np.ndarray = np.zeros(0)

    def reset(self) -> Any:
        # Lesson i takes the seed of its first agent, as StudentVecEnv and DummyVecEnv seed their environments.
        obs, _ = self.env.reset(seed=self._seeds[:: self.agents_per_lesson])
        self._reset_seeds()
        return self._view(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self):
        obs, rewards, terminated, _, per_student = self.env.step_lessons(self._lesson_actions(self._actions))
        agents = self._agent_rewards(rewards, per_student)
        dones = np.full(self.num_envs, terminated)
        infos: list[dict[str, Any]]
        if terminated:
            final = self._view(obs)
            infos = [{"terminal_observation": final[i], "TimeLimit.truncated": False} for i in range(self.num_envs)]
            obs = self.env.start_lessons()
        else:
            infos = [{} for _ in range(self.num_envs)]
        return self._view(obs), agents, dones, infos

    def close(self) -> None:
        self.env.close()

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self.env.single_env, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self.env.single_env, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        method = getattr(self.env.single_env, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    # -- for subclasses --------------------------------------------------------------------------------------------
    def _view(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _lesson_actions(self, actions: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _agent_rewards(self, rewards: np.ndarray, per_student: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError


class BatchedStudentVecEnv(_BatchedVecEnvBase):
    """Motivation lessons as per-student agents (see :class:`vclass.agents.drl.StudentVecEnv`, which this equals),
    the lessons stepped together in a :class:`vclass.env.vector.MotivationVectorEnv`.

    :param options: :class:`vclass.env.motivation.MotivationEnv` arguments (the surrogate recognizer).
    :param n_lessons: lessons stepped together.
    """

    env: MotivationVectorEnv

    def __init__(self, options: dict[str, Any], n_lessons: int):
        env = MotivationVectorEnv(n_lessons, **options)
        self.n_students = n = env.n_students
        space = env.single_observation_space
        assert isinstance(space, gym.spaces.Box)
        choices = int(env.single_action_space.nvec[0])  # type: ignore[attr-defined]
        super().__init__(env, n, student_view_space(space), gym.spaces.Discrete(choices))

    def _view(self, obs: np.ndarray) -> np.ndarray:
        return student_views(obs).reshape(self.num_envs, -1)

    def _lesson_actions(self, actions: np.ndarray) -> np.ndarray:
        return actions.astype(np.int64, copy=False).reshape(self.env.num_envs, self.n_students)

    def _agent_rewards(self, rewards: np.ndarray, per_student: dict[str, np.ndarray]) -> np.ndarray:
        return self.env.student_rewards(per_student).astype(np.float32).reshape(self.num_envs)


class BatchedVecEnv(_BatchedVecEnvBase):
    """One agent per lesson (as SB3's ``DummyVecEnv`` of single environments, which this equals), the lessons
    stepped together in a :class:`vclass.env.vector.ClassroomVectorEnv`.

    :param task_env: :class:`vclass.env.vector.MotivationVectorEnv` or :class:`vclass.env.vector.AttentionVectorEnv`.
    :param options: the single environment's arguments (the surrogate recognizer).
    :param n_lessons: lessons stepped together.
    """

    def __init__(self, task_env: type[ClassroomVectorEnv], options: dict[str, Any], n_lessons: int):
        env = task_env(n_lessons, **options)
        super().__init__(env, 1, env.single_observation_space, env.single_action_space)

    def _view(self, obs: np.ndarray) -> np.ndarray:
        return obs

    def _lesson_actions(self, actions: np.ndarray) -> np.ndarray:
        if isinstance(self.env, AttentionVectorEnv):
            return actions.astype(np.int64, copy=False).reshape(self.num_envs)
        return actions.astype(np.int64, copy=False).reshape(self.num_envs, -1)

    def _agent_rewards(self, rewards: np.ndarray, per_student: dict[str, np.ndarray]) -> np.ndarray:
        return rewards.astype(np.float32)
