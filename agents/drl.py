"""Deep-RL teacher policies: training with stable-baselines3 and acting in ``vclass run``.

Both tasks share their weights across students (``--net students``, the default), so a policy learns
from every student at once and acts on classes of any size:

* motivation: :class:`StudentVecEnv` presents each student of each lesson as one agent of a vectorized
  env (parameter sharing): it sees its own view of the observation (global features, its own, the class
  mean) and gets its own share of the reward, which gives far better credit assignment than one class
  reward for 30 simultaneous choices. SB3's ``MlpPolicy`` acts per student (``Discrete(5)``).
* attention: :class:`StudentPolicy`, an SB3 actor-critic whose network scores each student from their
  features, the global ones and the class mean, and "nobody" from the class mean (``Discrete(N + 1)``).

``--net mlp`` uses SB3's plain ``MlpPolicy`` on the whole flat observation instead (DQN always does).
:func:`train` runs SB3's PPO, A2C or DQN with TensorBoard logs, checkpoint and evaluation callbacks, a
tqdm progress bar and ``resume`` from the last checkpoint. :class:`SB3Policy` wraps a trained model as a
:class:`vclass.sim.classroom.Policy`, building its input with the environment's own encoder, so
``vclass run --policy ppo-motivation`` sees what training saw.

Imports torch and stable-baselines3; import this module only when training or acting.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium
import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.distributions import CategoricalDistribution, MultiCategoricalDistribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv
from torch import nn
from torch.distributions import Categorical
from tqdm import tqdm

from vclass.agents import SHIPPED_DIR
from vclass.agents.batched import BatchedStudentVecEnv, BatchedVecEnv, student_view_space
from vclass.config import ConfigError
from vclass.env.classroom_env import GLOBAL_FEATURES, STUDENT_FEATURES, ObservationEncoder, student_views
from vclass.env.motivation import MotivationEnv
from vclass.env.vector import AttentionVectorEnv, MotivationVectorEnv
from vclass.io import atomic_write_bytes, provenance, write_json
from vclass.sim.classroom import NO_CHECKIN, Action, Observation
from vclass.sim.config import SimConfig

TASKS = {"motivation": "vclass/Motivation-v0", "attention": "vclass/Attention-v0"}
# The shipped policies' settings. Motivation: incentive effects fade within minutes, so a short horizon;
# attention: a check-in's boost fades within a few decisions, and the class reward is a noisy signal for one
# student's choice, so a shorter horizon, less GAE variance and a larger step learn in our budget.
TASK_DEFAULTS = {
    "motivation": {"learning_rate": 3e-4, "gamma": 0.95, "gae_lambda": 0.95, "ent_coef": 0.0},
    "attention": {"learning_rate": 1e-3, "gamma": 0.9, "gae_lambda": 0.8, "ent_coef": 0.0},
}
ALGOS = ("ppo", "a2c", "dqn")
# The shipped motivation policy's recipe on the batched lessons (issue 15): 32 lessons (960 agents) a step, 64 steps
# a rollout (61,440 samples; GAE barely truncated within the 90-step lessons), 2 epochs of 2048-minibatches: under a
# third of the time of 8 lessons one at a time and 5 epochs, with as good a policy (paired over 20 evaluation seeds).
PER_STUDENT_RECIPE = {"n_envs": 32, "n_steps": 64, "n_epochs": 2}
NETS = ("students", "mlp")
META_NAME = "vclass.json"  # our entry inside an SB3 zip: task, algo, env options


# -- the student-wise network -------------------------------------------------------------------------------------
class StudentNetwork(nn.Module):
    """Per-student encoder shared across students, a class-mean context, and heads.

    The actor gives, per student, ``choices`` logits (motivation: none + 4 factors) laid out student
    by student, or for a check-in task (``choices == 0``) one logit per student after a "nobody" logit.
    The critic reads the class mean of the student embeddings and the global features.
    """

    def __init__(self, choices: int, hidden: int = 32):
        super().__init__()
        g, f = len(GLOBAL_FEATURES), len(STUDENT_FEATURES)
        self.n_global, self.n_student, self.choices = g, f, choices
        self.encode = nn.Sequential(nn.Linear(f + g, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.mix = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh())
        self.student_head = nn.Linear(hidden, max(choices, 1))
        self.nobody_head = nn.Linear(hidden + g, 1) if choices == 0 else None
        self.critic = nn.Sequential(nn.Linear(hidden + g, hidden), nn.Tanh())
        self.latent_dim_vf = hidden
        self.latent_dim_pi = 0  # set by StudentPolicy once the class size is known

    def embed(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """(global (B, G), student embeddings (B, N, H), class context (B, H)) of a batch of observations."""
        batch = obs.shape[0]
        glob = obs[:, : self.n_global]
        students = obs[:, self.n_global :].reshape(batch, -1, self.n_student)
        n = students.shape[1]
        h = self.encode(th.cat([students, glob[:, None, :].expand(batch, n, self.n_global)], dim=2))
        context = h.mean(dim=1)
        h = self.mix(th.cat([h, context[:, None, :].expand_as(h)], dim=2))
        return glob, h, h.mean(dim=1)

    def actor_logits(self, glob: th.Tensor, h: th.Tensor, context: th.Tensor) -> th.Tensor:
        per_student = self.student_head(h)  # (B, N, choices or 1)
        if self.nobody_head is None:
            return per_student.reshape(h.shape[0], -1)
        nobody = self.nobody_head(th.cat([context, glob], dim=1))
        return th.cat([nobody, per_student.squeeze(2)], dim=1)

    def forward(self, obs: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        glob, h, context = self.embed(obs)
        return self.actor_logits(glob, h, context), self.critic(th.cat([context, glob], dim=1))

    def forward_actor(self, obs: th.Tensor) -> th.Tensor:
        return self.actor_logits(*self.embed(obs))

    def forward_critic(self, obs: th.Tensor) -> th.Tensor:
        glob, _, context = self.embed(obs)
        return self.critic(th.cat([context, glob], dim=1))


class SharedCategorical(MultiCategoricalDistribution):
    """A MultiDiscrete distribution whose dimensions all have the same number of choices, held as one
    batched ``Categorical`` (B, N, choices) instead of N separate ones (SB3's, much slower at N = 30)."""

    distribution: Categorical  # type: ignore[assignment]  # one batched Categorical, not SB3's list of them

    def __init__(self, n_students: int, choices: int):
        super().__init__([choices] * n_students)
        self.choices = choices

    def proba_distribution(self, action_logits: th.Tensor) -> SharedCategorical:
        self.distribution = Categorical(
            logits=action_logits.reshape(action_logits.shape[0], -1, self.choices), validate_args=False
        )
        return self

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        return self.distribution.log_prob(actions.long()).sum(dim=1)

    def entropy(self) -> th.Tensor:
        return self.distribution.entropy().sum(dim=1)

    def sample(self) -> th.Tensor:
        return self.distribution.sample()

    def mode(self) -> th.Tensor:
        # As SB3's MultiCategoricalDistribution: the argmax of each dimension's probabilities.
        return self.distribution.probs.argmax(dim=2)


class LeanCategorical(CategoricalDistribution):
    """SB3's categorical distribution over one discrete choice, held as its log-probabilities: the same law, log
    probabilities, entropy and sampling (``torch.multinomial``, as ``torch.distributions.Categorical`` samples),
    without torch.distributions' argument checks and cached properties, which cost more than the arithmetic on a
    per-student policy's minibatches of a few logits per student."""

    def proba_distribution(self, action_logits: th.Tensor) -> LeanCategorical:
        self.log_probs = th.log_softmax(action_logits, dim=-1)
        return self

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        return self.log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> th.Tensor:
        return -(self.log_probs.exp() * self.log_probs).sum(dim=-1)

    def sample(self) -> th.Tensor:
        return th.multinomial(self.log_probs.exp(), 1).squeeze(-1)

    def mode(self) -> th.Tensor:
        return self.log_probs.argmax(dim=-1)


class PerStudentPolicy(ActorCriticPolicy):
    """SB3's ``MlpPolicy`` for the motivation task's per-student agents (:class:`StudentVecEnv`), with the
    :class:`LeanCategorical` distribution over each student's choice."""

    def _build(self, lr_schedule) -> None:
        assert isinstance(self.action_space, gym.spaces.Discrete)
        self.action_dist = LeanCategorical(int(self.action_space.n))
        super()._build(lr_schedule)


class StudentPolicy(ActorCriticPolicy):
    """SB3 actor-critic whose actor and critic are a :class:`StudentNetwork` (for PPO and A2C).

    :param hidden: width of the per-student embedding.
    :param none_prior: initial probability of "no incentive" per student (motivation), so training starts
        near a quiet teacher instead of giving 80% of students an incentive at every decision.
    """

    def __init__(
        self, observation_space, action_space, lr_schedule, hidden: int = 32, none_prior: float = 0.8, **kwargs: Any
    ):
        self.hidden, self.none_prior = hidden, none_prior
        kwargs.pop("net_arch", None)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(hidden=self.hidden, none_prior=self.none_prior)
        return data

    def _choices(self) -> int:
        nvec = getattr(self.action_space, "nvec", None)
        return int(nvec[0]) if nvec is not None else 0

    def _build_mlp_extractor(self) -> None:
        net = StudentNetwork(self._choices(), self.hidden)
        n_students = (int(np.prod(self.observation_space.shape or (0,))) - net.n_global) // net.n_student
        net.latent_dim_pi = n_students * self._choices() if net.choices else n_students + 1
        self.mlp_extractor = net  # type: ignore[assignment]  # SB3 calls it through the same two methods

    @property
    def network(self) -> StudentNetwork:
        """The :class:`StudentNetwork` SB3 holds as ``mlp_extractor``."""
        return cast(StudentNetwork, self.mlp_extractor)

    def _build(self, lr_schedule) -> None:
        nvec = getattr(self.action_space, "nvec", None)
        if nvec is not None:
            self.action_dist = SharedCategorical(len(nvec), int(nvec[0]))
        super()._build(lr_schedule)
        self.action_net = nn.Identity()  # the network's actor already gives the logits
        net = self.network
        head = net.student_head
        nn.init.orthogonal_(head.weight, gain=0.01)
        nn.init.zeros_(head.bias)
        if net.choices > 1:
            others = net.choices - 1
            with th.no_grad():
                head.bias[0] = float(np.log(self.none_prior * others / (1.0 - self.none_prior)))
        if net.nobody_head is not None:
            nn.init.orthogonal_(net.nobody_head.weight, gain=0.01)
            nn.init.zeros_(net.nobody_head.bias)
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]  # SB3's optimizers take lr
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )


# -- motivation lessons as per-student agents --------------------------------------------------------------------------
class StudentVecEnv(VecEnv):
    """Motivation lessons as a vectorized env of per-student agents, for training with parameter sharing.

    Every student of every lesson is one sub-environment: it observes its own view of the lesson
    (:func:`vclass.env.classroom_env.student_views`: global features, its own, the class mean), chooses 0..4 as
    in :class:`vclass.env.motivation.MotivationEnv`, and receives its own share of the reward
    (``info["student_rewards"]``: its learning, TEA time and incentive costs; the class reward is their
    mean). One shared policy learns from every student's own outcome, which gives it far better credit
    assignment than the class reward alone. The lessons are :class:`MotivationEnv` instances, so the
    dynamics, observations and rewards are the environment's own.

    :param options: :class:`MotivationEnv` arguments.
    :param n_lessons: lessons stepped together.
    """

    def __init__(self, options: dict[str, Any], n_lessons: int):
        self.lessons = [MotivationEnv(**options) for _ in range(n_lessons)]
        self.n_students = n = self.lessons[0].n_students
        space = self.lessons[0].observation_space
        assert isinstance(space, gym.spaces.Box)
        super().__init__(
            n_lessons * n,
            student_view_space(space),
            gym.spaces.Discrete(int(self.lessons[0].action_space.nvec[0])),  # type: ignore[attr-defined]
        )
        self._actions = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self) -> np.ndarray:
        n = self.n_students
        views = [student_views(lesson.reset(seed=self._seeds[i * n])[0]) for i, lesson in enumerate(self.lessons)]
        self._reset_seeds()
        return np.concatenate(views)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self):
        n = self.n_students
        views, rewards = [], np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i, lesson in enumerate(self.lessons):
            part = slice(i * n, (i + 1) * n)
            obs, _, terminated, truncated, info = lesson.step(self._actions[part])
            rewards[part] = info["student_rewards"]
            if terminated or truncated:
                final = student_views(obs)
                for k in range(n):
                    infos[i * n + k] = {
                        "terminal_observation": final[k],
                        "TimeLimit.truncated": bool(truncated and not terminated),
                    }
                obs, _ = lesson.reset()
                dones[part] = True
            views.append(student_views(obs))
        return np.concatenate(views), rewards, dones, infos

    def close(self) -> None:
        for lesson in self.lessons:
            lesson.close()

    def _lesson_of(self, indices) -> list:
        return [self.lessons[i // self.n_students] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(lesson, attr_name) for lesson in self._lesson_of(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        for lesson in self._lesson_of(indices):
            setattr(lesson, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        return [getattr(lesson, method_name)(*method_args, **method_kwargs) for lesson in self._lesson_of(indices)]

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


# -- training -------------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Everything ``vclass train-policy`` needs (CleanRL style: one dataclass, read top to bottom)."""

    task: str = "motivation"
    algo: str = "ppo"
    timesteps: int = 100_000
    seed: int = 0
    out: str = "runs/policy"
    students: int = 30
    minutes: float = 45.0
    recognizer: str = "surrogate"
    confusion: str | None = None
    net: str = "students"
    n_envs: int | None = None  # lessons stepped together; None: 32 for the per-student motivation recipe, else 8
    n_steps: int | None = None  # steps per env per rollout; None: 64 per-student, else 2048 in all for PPO, 8 for A2C
    batch_size: int | None = None  # PPO minibatch (SB3 timesteps); None: 2048 or the whole rollout if smaller
    n_epochs: int | None = None  # PPO epochs over each rollout; None: 2 per-student, else 5
    learning_rate: float | None = None  # None for these four: the task's default (TASK_DEFAULTS)
    gamma: float | None = None
    gae_lambda: float | None = None
    ent_coef: float | None = None
    checkpoint_every: int = 50_000
    eval_every: int = 50_000
    eval_episodes: int = 5
    resume: bool = False
    progress_bar: bool = True
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.task not in TASKS:
            raise ConfigError("--task", f"must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.algo not in ALGOS:
            raise ConfigError("--algo", f"must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.algo == "dqn" and self.task == "motivation":
            raise ConfigError(
                "--algo",
                "dqn needs a Discrete action space; the motivation task's is "
                "MultiDiscrete (5 choices per student): use ppo or a2c",
            )
        if self.net not in NETS:
            raise ConfigError("--net", f"must be one of {', '.join(NETS)}, got {self.net!r}")
        for name, value, low, high in (
            ("--timesteps", self.timesteps, 1, 10**9),
            ("--seed", self.seed, 0, 2**31 - 1),
            ("--n-envs", self.n_envs or 1, 1, 256),
            ("--n-steps", self.n_steps or 2, 2, 10**6),
            ("--batch-size", self.batch_size or 2, 2, 10**7),
            ("--n-epochs", self.n_epochs or 1, 1, 1000),
            ("--checkpoint-every", self.checkpoint_every, 1, 10**9),
            ("--eval-every", self.eval_every, 1, 10**9),
            ("--eval-episodes", self.eval_episodes, 1, 10_000),
        ):
            if not low <= value <= high:
                raise ConfigError(name, f"must be an integer >= {low} and <= {high}, got {value}")
        for flag, rate in (("--learning-rate", self.learning_rate), ("--gamma", self.gamma)):
            if rate is not None and not 0.0 < rate <= 1:
                raise ConfigError(flag, f"must be a number > 0 and <= 1, got {rate}")
        for flag, share in (("--gae-lambda", self.gae_lambda), ("--ent-coef", self.ent_coef)):
            if share is not None and not 0 <= share <= 1:
                raise ConfigError(flag, f"must be a number >= 0 and <= 1, got {share}")

    def lessons(self) -> int:
        """Lessons stepped together: ``n_envs``, or the default (:data:`PER_STUDENT_RECIPE` for the per-student
        motivation task, 8 otherwise)."""
        return self.n_envs or (PER_STUDENT_RECIPE["n_envs"] if per_student_training(self) else 8)

    def rollout_steps(self) -> int:
        """Steps per lesson per rollout (PPO, A2C): ``n_steps`` or the default."""
        if self.n_steps:
            return self.n_steps
        if per_student_training(self):
            return PER_STUDENT_RECIPE["n_steps"]
        return 8 if self.algo == "a2c" else max(2048 // self.lessons(), 16)

    def epochs(self) -> int:
        """PPO's epochs over each rollout: ``n_epochs`` or the default."""
        return self.n_epochs or (PER_STUDENT_RECIPE["n_epochs"] if per_student_training(self) else 5)

    def hyperparameter(self, name: str) -> float:
        """``name`` as given, or the task's default from :data:`TASK_DEFAULTS`."""
        value = getattr(self, name)
        return TASK_DEFAULTS[self.task][name] if value is None else value

    def env_options(self) -> dict[str, Any]:
        options = {"students": self.students, "minutes": self.minutes, "recognizer": self.recognizer, **self.env_kwargs}
        if self.confusion:
            options["confusion_path"] = self.confusion
        return options


def make_env(task: str, options: dict[str, Any], seed: int | None = None):
    """One monitored environment of ``task`` (``gymnasium.make`` of the registered id)."""
    from stable_baselines3.common.monitor import Monitor

    made = Monitor(gymnasium.make(TASKS[task], **options))
    if seed is not None:
        made.reset(seed=seed)
    return made


def make_vec_env(task: str, options: dict[str, Any], n_envs: int, seed: int, subprocess: bool = False):
    """``n_envs`` copies of the task's env, seeded ``seed, seed + 1, ...`` (DummyVecEnv or SubprocVecEnv)."""
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    # "vclass:" makes gymnasium import vclass first (it registers the ids), also in SubprocVecEnv's fresh
    # worker processes.
    return sb3_make_vec_env(
        f"vclass:{TASKS[task]}",
        n_envs=n_envs,
        seed=seed,
        env_kwargs=options,
        vec_env_cls=SubprocVecEnv if subprocess else DummyVecEnv,
    )


class TqdmCallback(BaseCallback):
    """A tqdm progress bar over environment steps, ``per_call`` a call (SB3's own bar needs ``rich``)."""

    def __init__(self, total: int, initial: int = 0, per_call: int = 1):
        super().__init__()
        self.total, self.initial, self.per_call = total, initial, per_call

    def _on_training_start(self) -> None:
        self.bar = tqdm(total=self.total, initial=self.initial, unit="step", desc="training", dynamic_ncols=True)

    def _on_step(self) -> bool:
        self.bar.update(self.per_call)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


def _algo_class(algo: str):
    from stable_baselines3 import A2C, DQN, PPO

    return {"ppo": PPO, "a2c": A2C, "dqn": DQN}[algo]


def per_student_training(cfg: TrainConfig) -> bool:
    """Whether training runs on per-student agents (:class:`StudentVecEnv`): motivation with ``--net students``."""
    return cfg.task == "motivation" and cfg.net == "students"


def _training_envs(cfg: TrainConfig, options: dict[str, Any]):
    """(training env, evaluation env, evaluation episodes) for ``cfg``: the batched environments
    (:mod:`vclass.agents.batched`, all lessons in one numpy tick) with the surrogate recognizer, the lessons one at a
    time otherwise (``scn-cs`` renders faces); the same episodes either way."""
    from stable_baselines3.common.vec_env import VecMonitor

    batched = options.get("recognizer") == "surrogate"
    if per_student_training(cfg):
        lessons = BatchedStudentVecEnv if batched else StudentVecEnv
        students, eval_students = lessons(options, cfg.lessons()), lessons(options, 1)
        students.seed(cfg.seed)
        eval_students.seed(cfg.seed + 10_000)
        # Every student of the evaluation lesson ends its episode at once: N episodes per lesson, whose
        # mean return is the lesson's return.
        return VecMonitor(students), VecMonitor(eval_students), cfg.eval_episodes * students.n_students
    if batched:
        task_env = {"motivation": MotivationVectorEnv, "attention": AttentionVectorEnv}[cfg.task]
        venv, eval_env = BatchedVecEnv(task_env, options, cfg.lessons()), BatchedVecEnv(task_env, options, 1)
        venv.seed(cfg.seed)
        eval_env.seed(cfg.seed + 10_000)
        return VecMonitor(venv), VecMonitor(eval_env), cfg.eval_episodes
    return (
        make_vec_env(cfg.task, options, cfg.lessons(), cfg.seed),
        make_vec_env(cfg.task, options, 1, cfg.seed + 10_000),
        cfg.eval_episodes,
    )


def _new_model(cfg: TrainConfig, venv, out: Path):
    algo = _algo_class(cfg.algo)
    ent_coef, gae_lambda = cfg.hyperparameter("ent_coef"), cfg.hyperparameter("gae_lambda")
    common: dict[str, Any] = {
        "learning_rate": cfg.hyperparameter("learning_rate"),
        "gamma": cfg.hyperparameter("gamma"),
        "seed": cfg.seed,
        "verbose": 0,
        "tensorboard_log": str(out / "tb"),
        "device": "cpu",
    }
    if per_student_training(cfg):
        policy: Any = PerStudentPolicy
        common["policy_kwargs"] = {"net_arch": [64, 64]}
    elif cfg.net == "students" and cfg.algo != "dqn":
        policy = StudentPolicy
    else:
        policy = "MlpPolicy"
    n_steps = cfg.rollout_steps()
    if cfg.algo == "ppo":
        return algo(
            policy,
            venv,
            n_steps=n_steps,
            batch_size=cfg.batch_size or min(2048, n_steps * venv.num_envs),
            n_epochs=cfg.epochs(),
            gae_lambda=gae_lambda,
            ent_coef=ent_coef,
            **common,
        )
    if cfg.algo == "a2c":
        return algo(policy, venv, n_steps=n_steps, gae_lambda=gae_lambda, ent_coef=ent_coef, **common)
    return algo(
        policy,
        venv,
        buffer_size=min(100_000, cfg.timesteps),
        learning_starts=min(1_000, cfg.timesteps // 10),
        train_freq=4,
        target_update_interval=2_000,
        exploration_fraction=0.2,
        **common,
    )


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint with the most timesteps in ``out/checkpoints``, or None."""
    best, best_steps = None, -1
    for path in (out / "checkpoints").glob("model_*_steps.zip"):
        match = re.fullmatch(r"model_(\d+)_steps\.zip", path.name)
        if match and int(match.group(1)) > best_steps:
            best, best_steps = path, int(match.group(1))
    return best


def save_policy(model, path: Path, meta: dict[str, Any]) -> None:
    """Save an SB3 model zip with our ``vclass.json`` entry (task, algo, env options) inside."""

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.building.zip")
    model.save(tmp)
    with zipfile.ZipFile(tmp, "a") as zf:
        zf.writestr(META_NAME, json.dumps(meta, indent=2, sort_keys=True))
    atomic_write_bytes(path, tmp.read_bytes())
    tmp.unlink()


def read_meta(path: Path) -> dict[str, Any]:
    """The ``vclass.json`` entry of a policy zip.

    The callbacks' zips (``checkpoints/*.zip``, ``best/best_model.zip``) are plain SB3 zips; for them
    the training folder's ``train.json`` one level up gives the same entry. Empty when neither exists.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            if META_NAME in zf.namelist():
                meta = json.loads(zf.read(META_NAME))
                return meta if isinstance(meta, dict) else {}
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ConfigError(
            "policy.params.path", f"{path} is not a policy zip (vclass train-policy's model.zip): {err}"
        ) from None
    train_json = Path(path).resolve().parent.parent / "train.json"
    if train_json.is_file():
        try:
            meta = json.loads(train_json.read_text()).get("meta", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return meta if isinstance(meta, dict) else {}
    return {}


def load_model(path: Path, algo: str, meta: dict[str, Any]):
    """The SB3 model in a policy zip, on the CPU.

    A :class:`StudentPolicy` network is passed to SB3 rather than unpickled from the zip: zips written before
    the ``vclass.*`` namespace name it ``agents.drl.StudentPolicy``, which no longer imports.
    """
    student_policy = meta.get("net") == "students" and not meta.get("per_student") and algo != "dqn"
    custom = {"policy_class": StudentPolicy} if student_policy else None
    try:
        return _algo_class(algo).load(path, device="cpu", custom_objects=custom)
    except Exception as err:  # noqa: BLE001 - SB3 and torch raise many types for a damaged zip
        raise ConfigError(
            "policy.params.path", f"{path}: the {algo} model in it cannot be loaded ({type(err).__name__}: {err})"
        ) from None


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train a policy; write ``model.zip``, ``checkpoints/``, ``best/``, ``eval/``, ``tb/`` and ``train.json``.

    ``cfg.timesteps`` counts environment steps (lesson decisions); with per-student training SB3 counts
    one timestep per student and decision, N times as many.

    :return: a summary: environment steps trained, wall time, steps/s, paths.
    """

    from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback, EvalCallback

    cfg.check()
    th.set_num_threads(1)  # leave a core for others; the envs are the cost, not the network
    out = Path(cfg.out)
    options = cfg.env_options()
    venv, eval_env, eval_episodes = _training_envs(cfg, options)
    lessons = cfg.lessons()
    agents = venv.num_envs // lessons  # SB3 timesteps per environment step
    start_steps = 0
    if cfg.resume:
        checkpoint = latest_checkpoint(out)
        if checkpoint is None:
            raise ConfigError("--resume", f"no checkpoint in {out / 'checkpoints'} to resume from")
        model = _algo_class(cfg.algo).load(checkpoint, env=venv, device="cpu", tensorboard_log=str(out / "tb"))
        start_steps = model.num_timesteps // agents
    else:
        model = _new_model(cfg, venv, out)
    remaining = max(cfg.timesteps - start_steps, 0)
    callbacks: list[BaseCallback] = [
        CheckpointCallback(max(cfg.checkpoint_every // lessons, 1), str(out / "checkpoints"), name_prefix="model"),
        EvalCallback(
            eval_env,
            n_eval_episodes=eval_episodes,
            eval_freq=max(cfg.eval_every // lessons, 1),
            best_model_save_path=str(out / "best"),
            log_path=str(out / "eval"),
            deterministic=True,
            verbose=0,
        ),
    ]
    if cfg.progress_bar:
        callbacks.append(TqdmCallback(cfg.timesteps, start_steps, lessons))
    t0 = time.perf_counter()
    if remaining:
        model.learn(
            total_timesteps=remaining * agents,
            callback=CallbackList(callbacks),
            tb_log_name=cfg.algo,
            reset_num_timesteps=not cfg.resume,
        )
    wall = time.perf_counter() - t0
    steps = model.num_timesteps // agents
    meta = {
        "task": cfg.task,
        "algo": cfg.algo,
        "net": cfg.net,
        "per_student": per_student_training(cfg),
        "env_options": options,
        "seed": cfg.seed,
        "timesteps": int(steps),
    }
    save_policy(model, out / "model.zip", meta)
    venv.close()
    eval_env.close()
    summary = {
        "timesteps": int(steps),
        "trained_now": int(steps - start_steps),
        "wall_seconds": wall,
        "steps_per_second": (steps - start_steps) / wall if wall else None,
        "model": str(out / "model.zip"),
        "resumed_from": int(start_steps),
    }
    write_json(out / "train.json", {**provenance(asdict(cfg), cfg.seed), "summary": summary, "meta": meta})
    return summary


# -- acting in the simulator ----------------------------------------------------------------------------------------
class SB3Policy:
    """A trained SB3 model as a :class:`vclass.sim.classroom.Policy` (deterministic: the most likely action).

    The observation vector comes from :class:`vclass.env.classroom_env.ObservationEncoder`, the environments'
    own encoder (per-student policies read each student's view of it). Per-student policies and
    :class:`StudentPolicy` act on any class size; a plain MLP only on the size it was trained for.

    :param path: the model zip (``vclass train-policy``'s ``model.zip`` or a shipped policy).
    :param sim_config: the simulator config of the lessons it will act in.
    """

    def __init__(self, path: str | Path, sim_config: SimConfig | None = None, deterministic: bool = True):
        path = Path(path)
        if not path.is_file():
            raise ConfigError("policy.params.path", f"no policy zip at {path}")
        meta = read_meta(path)
        self.task, self.algo = meta.get("task"), meta.get("algo", "ppo")
        if self.task not in TASKS or self.algo not in ALGOS:
            raise ConfigError("policy.params.path", f"{path} has no vclass task/algo entry ({META_NAME})")
        th.set_num_threads(1)
        self.model = load_model(path, self.algo, meta)
        self.sim_config = sim_config or SimConfig()
        self.deterministic = deterministic
        self.per_student = bool(meta.get("per_student"))
        self.students_net = self.per_student or isinstance(self.model.policy, StudentPolicy)
        self.trained_students = meta.get("env_options", {}).get("students")

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        if not self.students_net and n_students != self.trained_students:
            raise ConfigError(
                "classroom.students",
                f"this {self.algo} policy was trained for "
                f"{self.trained_students} students and acts only on that size, "
                f"got {n_students}",
            )
        self.encoder = ObservationEncoder(self.sim_config, n_students)
        self.rng = rng

    def choose(self, vector: np.ndarray) -> np.ndarray:
        """The model's choice on an encoded observation (:class:`vclass.env.classroom_env.ObservationEncoder`), as
        the task's environment takes it: motivation, one factor per student; attention, 0 (nobody) or a student + 1.
        (A batched environment's teacher: :meth:`act` builds the vector from an Observation.)"""
        return self._choose(vector)

    def _choose(self, vector: np.ndarray) -> np.ndarray:
        if self.per_student:
            action, _ = self.model.predict(student_views(vector), deterministic=self.deterministic)
            return np.asarray(action)
        if not self.students_net:
            action, _ = self.model.predict(vector, deterministic=self.deterministic)
            return np.asarray(action)
        # A StudentPolicy acts on any class size, which model.predict refuses (it checks the trained observation
        # shape); so take the policy's action distribution as predict does, and its action as predict would: the
        # distribution's mode, SB3's argmax over probabilities (an untrained net's probabilities tie in float32
        # where its raw logits do not, and the first of the tied wins).
        policy = self.model.policy
        policy.set_training_mode(False)
        with th.no_grad():
            distribution = policy.get_distribution(th.as_tensor(vector[None]))
            if self.deterministic:
                return distribution.mode()[0].numpy()
            log_probs = distribution.distribution.logits[0].numpy()  # (choices,) or (N, choices), normalized
        gumbel = -np.log(self.rng.standard_exponential(log_probs.shape))
        return (log_probs + gumbel).argmax(axis=-1)  # a draw from the distribution, on the policy's own stream

    def act(self, obs: Observation) -> Action:
        choice = self._choose(self.encoder.encode(obs))
        n = obs.n_students
        if self.task == "motivation":
            return Action(np.asarray(choice, dtype=np.int64).reshape(n), NO_CHECKIN)
        student = int(choice) - 1
        if student >= 0:
            self.encoder.note_checkin(student, obs)
        return Action(np.zeros(n, dtype=np.int64), student if student >= 0 else NO_CHECKIN)


def shipped_policy(name: str, sim_config: SimConfig, path: str | None = None, deterministic: bool = True) -> SB3Policy:
    """A shipped policy (``ppo-motivation``, ``ppo-attention``) or the zip at ``path``, which must be a policy for the
    same task (an attention policy cannot act as ``ppo-motivation``)."""
    policy = SB3Policy(Path(path) if path else SHIPPED_DIR / f"{name}.zip", sim_config, deterministic)
    task = name.removeprefix("ppo-")
    if policy.task != task:
        raise ConfigError(
            "policy.params.path",
            f"{path} is a policy for the {policy.task} task; {name} needs one for the {task} task (vclass "
            f"train-policy --task {task})",
        )
    return policy
