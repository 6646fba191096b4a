"""``vclass train-policy``: train a deep-RL teacher with stable-baselines3 on a classroom environment.

Writes into ``--out``: ``model.zip`` (the SB3 model with a ``vclass.json`` entry naming the task,
algorithm and environment options, loadable by ``vclass run --policy ppo-motivation --set
policy.params.path=DIR/model.zip`` and ``vclass evaluate --policies DIR/model.zip``),
``checkpoints/`` (every ``--checkpoint-every`` steps; ``--resume`` continues from the last),
``best/best_model.zip`` and ``eval/evaluations.npz`` (the evaluation callback), ``tb/`` (TensorBoard:
``tensorboard --logdir DIR/tb``) and ``train.json`` (config, provenance, speed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vclass.config import ConfigError, parse_override, to_dict
from vclass.experiments.lesson.config import load_run_config
from vclass.io import check_output_path, folder_lock

TASK_DEFAULTS_TEXT = (
    "task defaults: motivation learning rate 3e-4, gamma 0.95, GAE lambda 0.95, entropy 0; "
    "attention learning rate 1e-3, gamma 0.9, GAE lambda 0.8, entropy 0"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = TASK_DEFAULTS_TEXT
    parser.add_argument("--task", required=True, help="motivation or attention")
    parser.add_argument("--algo", default="ppo", help="ppo (default), a2c or dqn (attention only)")
    parser.add_argument("--timesteps", type=int, default=100_000, help="total env steps (default 100000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", default="runs/policy", help="output folder (default runs/policy)")
    parser.add_argument("--students", type=int, default=30, help="class size (default 30)")
    parser.add_argument("--minutes", type=float, default=45.0, help="lesson length (default 45)")
    parser.add_argument("--recognizer", default="surrogate", help="surrogate (default) or scn-cs")
    parser.add_argument("--confusion", help="confusion.json for the surrogate (default: the shipped one)")
    parser.add_argument("--config", help="TOML file of simulator sections (lesson, incentives, ...)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a simulator config key, e.g. --set classroom.presentation=slides",
    )
    parser.add_argument(
        "--env-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra env argument, e.g. --env-option tea_weight=2 (repeatable)",
    )
    parser.add_argument("--net", default="students", help="students (shared per-student network, default) or mlp")
    parser.add_argument(
        "--n-envs", type=int, help="lessons stepped together (default 32 for per-student motivation, else 8)"
    )
    parser.add_argument(
        "--n-steps",
        type=int,
        help="steps per env per rollout (default: 64 per-student motivation, else 2048 in all for ppo and 8 for a2c)",
    )
    parser.add_argument("--batch-size", type=int, help="PPO minibatch in SB3 timesteps (default 2048)")
    parser.add_argument(
        "--n-epochs", type=int, help="PPO epochs over each rollout (default 2 for per-student motivation, else 5)"
    )
    parser.add_argument("--learning-rate", type=float, help="Adam step (default: the task's, see below)")
    parser.add_argument("--gamma", type=float, help="discount per decision (default: the task's)")
    parser.add_argument("--gae-lambda", type=float, help="GAE lambda (default: the task's)")
    parser.add_argument("--ent-coef", type=float, help="entropy bonus (default: the task's)")
    parser.add_argument("--checkpoint-every", type=int, default=50_000, help="steps between checkpoints")
    parser.add_argument("--eval-every", type=int, default=50_000, help="steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=5, help="lessons per evaluation (default 5)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def env_config(args: argparse.Namespace) -> dict | None:
    """The simulator sections from ``--config`` and ``--set`` as a dict (None when neither is given)."""

    if not args.config and not args.set:
        return None
    return to_dict(load_run_config(args.config, [parse_override(text) for text in args.set]).sim)


def main(args: argparse.Namespace) -> int:
    from vclass.agents.drl import TrainConfig, train

    env_kwargs = {}
    config = env_config(args)
    if config is not None:
        env_kwargs["config"] = config
    for text in args.env_option:
        keys, value = parse_override(text)
        if len(keys) != 1:
            raise ConfigError("--env-option", f"expected NAME=VALUE, got {text!r}")
        env_kwargs[keys[0]] = value
    cfg = TrainConfig(
        task=args.task,
        algo=args.algo,
        timesteps=args.timesteps,
        seed=args.seed,
        out=args.out,
        students=args.students,
        minutes=args.minutes,
        recognizer=args.recognizer,
        confusion=args.confusion,
        net=args.net,
        n_envs=args.n_envs,
        n_steps=args.n_steps,
        batch_size=args.batch_size,
        n_epochs=args.n_epochs,
        learning_rate=args.learning_rate,
        gamma=args.gamma,
        gae_lambda=args.gae_lambda,
        ent_coef=args.ent_coef,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        resume=args.resume,
        progress_bar=not args.no_progress,
        env_kwargs=env_kwargs,
    )
    cfg.check()
    from vclass.agents.drl import make_env

    try:
        make_env(cfg.task, cfg.env_options()).close()  # bad env options fail here, before any folder is made
    except TypeError as err:
        raise ConfigError("--env-option", str(err)) from None
    out = Path(cfg.out)
    check_output_path(out)  # the training folder resumes in place: locked against a second trainer
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError("--out", f"cannot create {out}: {err.strerror or err}") from None
    with folder_lock(out):
        summary = train(cfg)
    rate = summary["steps_per_second"]
    print(
        f"trained {summary['trained_now']} steps ({summary['timesteps']} in all) in {summary['wall_seconds']:.0f} s"
        + (f", {rate:,.0f} steps/s" if rate else "")
    )
    print(f"model: {summary['model']}")
    return 0
