"""``vclass evaluate``: every policy on the same seeds, recognizer in the loop, with 95% CIs and paired tests.

Each policy teaches the same K lessons (seeds ``--first-seed`` onwards): the same students, noise
and faults (common random numbers, see ``vclass.sim.classroom``), with the recognizer in the loop
(default ``scn-cs``). Per policy and measure: the mean over seeds and its 95% t interval. The
best baseline is the one with the highest mean return (the task environment's reward summed over
the lesson); every other policy gets its paired difference against it, and against the task's
reference baselines (``--against``), with 95% CIs over the same seeds.

Measures: ``return`` (the environment's return: for motivation ``vclass.env.motivation.MotivationEnv``'s
reward, for attention the effective participation minutes), and SPEC §7's class measures from
``vclass.sim.measures.class_summary``.

Writes into ``--out``: ``lessons.csv`` (one row per policy and seed), ``results.json``, ``results.md``
and ``comparison.png``.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError, parse_override, to_dict
from vclass.env.classroom_env import lesson_steps, reward_terms
from vclass.env.motivation import motivation_reward
from vclass.env.observers import in_loop_accuracy, observer_from_config
from vclass.env.vector import AttentionVectorEnv, MotivationVectorEnv
from vclass.experiments.lesson.config import load_run_config, run_config_from_dict
from vclass.experiments.lesson.runner import build_policy, run_lesson
from vclass.experiments.pool import run_jobs
from vclass.io import atomic_write_text, output_folder, provenance, pyplot, save_figure, write_json
from vclass.sim.measures import class_summary

BASELINES = {
    "motivation": (
        "none",
        "random",
        "always-reduce-difficulty",
        "always-remove-problems",
        "always-fun",
        "always-teaching-quality",
        "ecem",
    ),
    "attention": ("none", "random", "round-robin", "greedy-attention"),
}
VECTOR_ENVS = {"motivation": MotivationVectorEnv, "attention": AttentionVectorEnv}
REFERENCES = {"motivation": ("ecem",), "attention": ("round-robin", "greedy-attention")}
MEASURES = {
    "motivation": (
        ("return", "return"),
        ("tea_share", "TEA share"),
        ("learning_gain", "learning gain"),
        ("intervention_cost", "intervention cost"),
        ("mean_axis", "mean axis"),
        ("effective_participation_min", "eff. participation (min)"),
    ),
    "attention": (
        ("return", "return = eff. participation (min)"),
        ("participation", "participation"),
        ("mean_attention", "mean attention"),
        ("learning_gain", "learning gain"),
        ("checkins", "check-ins"),
    ),
}
# Each task's random baseline acts only through that task's actions, as the task's agent does.
RANDOM_PARAMS = {
    "motivation": {"incentive_prob": 0.1, "checkin_prob": 0.0},
    "attention": {"incentive_prob": 0.0, "checkin_prob": 1.0},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help="motivation or attention")
    parser.add_argument(
        "--policies",
        default="baselines,ppo",
        help="comma-separated policy names or model zips; 'baselines' expands to the task's "
        "baselines and 'ppo' to the shipped ppo-<task> (default baselines,ppo)",
    )
    parser.add_argument("--seeds", type=int, default=20, help="lessons per policy, K (default 20)")
    parser.add_argument("--first-seed", type=int, default=1000, help="first lesson seed (default 1000)")
    parser.add_argument(
        "--against",
        help="reference baselines for paired differences (default: the task's, "
        "ecem for motivation, round-robin,greedy-attention for attention)",
    )
    parser.add_argument("--students", type=int, default=30, help="class size (default 30)")
    parser.add_argument("--minutes", type=float, help="lesson length (default 45)")
    parser.add_argument("--recognizer", default="scn-cs", help="scn-cs (default), surrogate or oracle")
    parser.add_argument("--backend", help="scn-cs inference backend (default onnxruntime)")
    parser.add_argument("--confusion", help="confusion.json (default: the shipped one)")
    parser.add_argument("--model", help="scn-cs model (default: the shipped one)")
    parser.add_argument("--config", help="TOML run config the lessons start from")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--tea-weight", type=float, default=1.0, help="motivation return's TEA weight (default 1)")
    parser.add_argument("--cost-weight", type=float, default=1.0, help="motivation return's cost weight (default 1)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--out", default="runs/evaluate", help="output folder (default runs/evaluate)")


def expand_policies(task: str, text: str) -> list[str]:
    names: list[str] = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        for name in BASELINES[task] if item == "baselines" else [f"ppo-{task}"] if item == "ppo" else [item]:
            if name not in names:
                names.append(name)
    return names


def policy_config(name: str, task: str) -> dict[str, Any]:
    """The ``[policy]`` table of a policy given by name or as a trained model zip (the task's PPO slot)."""
    if name.endswith(".zip"):
        return {"name": f"ppo-{task}", "params": {"path": name}}
    return {"name": name, "params": RANDOM_PARAMS[task] if name == "random" else {}}


def episode_return(task: str, record, tea_weight: float, cost_weight: float) -> float:
    """The task environment's return for a whole lesson (its rewards are linear in the lesson's terms)."""

    cfg = record.cfg
    terms = reward_terms(record, 0, record.plan.n_ticks)
    if task == "attention":
        return terms["effective_participation_min"]
    return motivation_reward(
        terms,
        1.0 / (cfg.learning.rate * cfg.classroom.n_ticks),
        tea_weight,
        cost_weight,
        1.0 / (record.population.size * lesson_steps(cfg)),
    )


def _lesson(job: tuple[dict[str, Any], str, str, int, float, float]) -> dict[str, Any]:
    base, task, policy_name, seed, tea_weight, cost_weight = job
    run_cfg = run_config_from_dict({**base, "seed": seed, "policy": policy_config(policy_name, task)})
    result = run_lesson(run_cfg, divergence=False)
    return _row(task, policy_name, seed, result.record, result.summary, tea_weight, cost_weight)


def _row(task: str, policy_name: str, seed: int, record, summary: dict[str, Any], tea_weight, cost_weight):
    """One row of ``lessons.csv``: the lesson's return and measures."""
    row = {"policy": policy_name, "seed": seed, "return": episode_return(task, record, tea_weight, cost_weight)}
    for key, _ in MEASURES[task][1:]:
        row[key] = summary[key]
    row["belief_accuracy"] = summary["belief_accuracy"]
    return row


def batchable(base: dict[str, Any], task: str, policy_name: str) -> bool:
    """Whether the lessons of ``policy_name`` can run together in the task's batched environment: a deep-RL policy
    (it acts on the environment's observation vector) with the surrogate recognizer (the one the batch runs)."""
    return base["recognizer"]["kind"] == "surrogate" and policy_config(policy_name, task)["name"].startswith("ppo-")


def _batched_lessons(job: tuple[dict[str, Any], str, str, list[int], float, float]) -> list[dict[str, Any]]:
    """The rows of a deep-RL policy's lessons, every seed's lesson in one batched environment
    (:mod:`vclass.env.vector`): the lessons, records and measures :func:`_lesson` gives, number for number (tested);
    the policy chooses lesson by lesson on each lesson's observation, as it does in ``vclass run``."""
    base, task, policy_name, seeds, tea_weight, cost_weight = job
    run_cfg = run_config_from_dict({**base, "seed": seeds[0], "policy": policy_config(policy_name, task)})
    policy = build_policy(run_cfg)
    choose = getattr(policy, "choose", None)  # vclass.agents.drl.SB3Policy.choose
    if choose is None:
        raise ConfigError("policy.name", f"{policy_name} does not act on the environment's observation vector")
    envs = VECTOR_ENVS[task](
        len(seeds), config=run_cfg.sim, recognizer="surrogate", confusion_path=run_cfg.recognizer.confusion or None
    )
    obs, _ = envs.reset(options={"lesson_seed": list(seeds)})
    policy.reset(envs.n_students, np.random.default_rng(0))  # deterministic: the generator is never drawn from
    done = False
    while not done:
        actions = np.stack([np.asarray(choose(lesson), dtype=np.int64) for lesson in obs])
        obs, _, done, _, _ = envs.step_lessons(actions if task == "motivation" else actions.reshape(len(seeds)))
    rows = []
    for lesson, seed in enumerate(seeds):
        record = envs.batch.record(lesson)
        summary = {**class_summary(record), **in_loop_accuracy(record, envs.observer.log(lesson))}
        rows.append(_row(task, policy_name, seed, record, summary, tea_weight, cost_weight))
    return rows


def _lessons(job) -> list[dict[str, Any]]:
    """A job's rows: one lesson's, or a batched policy's lessons."""
    return _batched_lessons(job) if isinstance(job[3], list) else [_lesson(job)]


def summarize(task: str, rows: list[dict[str, Any]], policies: list[str], against: list[str]) -> dict[str, Any]:
    """Means with 95% CIs per policy, the best baseline, and paired differences over the same seeds."""
    from vclass.experiments.stats import mean_ci, paired_difference

    keys = [k for k, _ in MEASURES[task]]
    by_policy = {p: sorted((r for r in rows if r["policy"] == p), key=lambda r: r["seed"]) for p in policies}
    values = {p: {k: np.array([r[k] for r in by_policy[p]], dtype=np.float64) for k in keys} for p in policies}
    means = {p: {k: mean_ci(values[p][k]) for k in keys} for p in policies}
    baselines = [p for p in policies if p in BASELINES[task]]
    best = max(baselines, key=lambda p: means[p]["return"][0]) if baselines else None
    references = [best] + [a for a in against if a != best and a in policies] if best else []
    paired = []
    for p in policies:
        for ref in references:
            if p == ref or p in BASELINES[task]:
                continue
            paired.append(
                {
                    "policy": p,
                    "against": ref,
                    "best_baseline": ref == best,
                    **{k: paired_difference(values[p][k], values[ref][k]) for k in keys},
                }
            )
    return {
        "task": task,
        "seeds": sorted({r["seed"] for r in rows}),
        "measures": keys,
        "means": {
            p: {k: {"mean": m[0], "ci_low": m[1], "ci_high": m[2]} for k, m in means[p].items()} for p in policies
        },
        "best_baseline": best,
        "paired": paired,
    }


def markdown(task: str, result: dict[str, Any]) -> str:
    measures = MEASURES[task]
    lines = [
        f"Task `{task}`, {len(result['seeds'])} seeds; mean [95% CI]. Best baseline: `{result['best_baseline']}`.",
        "",
        "| policy | " + " | ".join(label for _, label in measures) + " |",
        "|---|" + "---|" * len(measures),
    ]
    for p, m in result["means"].items():
        cells = [f"{m[k]['mean']:.3f} [{m[k]['ci_low']:.3f}, {m[k]['ci_high']:.3f}]" for k, _ in measures]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    if result["paired"]:
        lines += [
            "",
            "Paired differences (policy − baseline, same seeds): mean [95% CI], p-value of the paired t-test.",
            "",
            "| policy | against | " + " | ".join(label for _, label in measures) + " |",
            "|---|---|" + "---|" * len(measures),
        ]
        for d in result["paired"]:
            cells = [_paired_cell(d[k]) for k, _ in measures]
            ref = d["against"] + (" (best)" if d["best_baseline"] else "")
            lines.append(f"| {d['policy']} | {ref} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _paired_cell(diff: dict[str, Any]) -> str:
    """``mean [low, high] p=...``; a difference that is the same on every seed has no t-test (p n/a)."""
    p = diff["p_value"]
    shown = "p n/a (no variation)" if p is None or not np.isfinite(p) else f"p={p:.2g}"
    return f"{diff['mean']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] {shown}"


def plot(task: str, result: dict[str, Any], path: Path) -> None:
    plt = pyplot()

    shown = MEASURES[task][:3]
    policies = list(result["means"])
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(4.2 * (len(shown) + 1), 4.2))
    y = np.arange(len(policies))
    for ax, (key, label) in zip(axes, shown):
        m = [result["means"][p][key] for p in policies]
        mean = np.array([e["mean"] for e in m])
        err = np.array([[e["mean"] - e["ci_low"] for e in m], [e["ci_high"] - e["mean"] for e in m]])
        colours = [
            "#2ca02c" if p not in BASELINES[task] else "#1f77b4" if p == result["best_baseline"] else "#9a9a9a"
            for p in policies
        ]
        ax.barh(y, mean, xerr=np.nan_to_num(err), color=colours, capsize=3)
        ax.set_yticks(y, policies if ax is axes[0] else [""] * len(policies), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(label, fontsize=9)
    ax = axes[-1]
    diffs = [d for d in result["paired"]]
    labels = [f"{d['policy']}\n− {d['against']}" for d in diffs]
    if diffs:
        mean = np.array([d["return"]["mean"] for d in diffs])
        err = np.array(
            [
                [d["return"]["mean"] - d["return"]["ci_low"] for d in diffs],
                [d["return"]["ci_high"] - d["return"]["mean"] for d in diffs],
            ]
        )
        ax.errorbar(mean, np.arange(len(diffs)), xerr=np.nan_to_num(err), fmt="o", capsize=4, color="#2ca02c")
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(np.arange(len(diffs)), labels, fontsize=7)
        ax.invert_yaxis()
    ax.set_title("paired difference in return (95% CI)", fontsize=9)
    fig.suptitle(f"vclass evaluate: {task}, {len(result['seeds'])} seeds, mean and 95% CI")
    fig.tight_layout()
    save_figure(fig, path)


def main(args: argparse.Namespace) -> int:
    if args.task not in BASELINES:
        raise ConfigError("--task", f"must be motivation or attention, got {args.task!r}")
    if not 2 <= args.seeds <= 10_000:
        raise ConfigError("--seeds", f"must be an integer >= 2 and <= 10000, got {args.seeds}")
    if not 0 <= args.first_seed <= 2**31:
        raise ConfigError("--first-seed", f"must be an integer >= 0 and <= 2147483648, got {args.first_seed}")
    if not 1 <= args.workers <= 64:
        raise ConfigError("--workers", f"must be an integer >= 1 and <= 64, got {args.workers}")
    policies = expand_policies(args.task, args.policies)
    if not policies:
        raise ConfigError("--policies", "name at least one policy")
    against = [a.strip() for a in (args.against.split(",") if args.against else REFERENCES[args.task]) if a.strip()]
    overrides = [(["classroom", "students"], args.students), (["recognizer", "kind"], args.recognizer)]
    for flag, keys in (
        ("minutes", ["classroom", "minutes"]),
        ("backend", ["recognizer", "backend"]),
        ("confusion", ["recognizer", "confusion"]),
        ("model", ["recognizer", "model"]),
    ):
        if getattr(args, flag) is not None:
            overrides.append((keys, getattr(args, flag)))
    overrides += [parse_override(text) for text in args.set]
    run_cfg = load_run_config(args.config, overrides)
    observer_from_config(run_cfg.recognizer, run_cfg.sim)  # fail early if the recognizer cannot read the frames
    base = run_cfg.as_dict()
    for name in policies:  # and if a policy cannot be built
        build_policy(run_config_from_dict({**base, "policy": policy_config(name, args.task)}))
    seeds = [args.first_seed + i for i in range(args.seeds)]
    jobs: list[tuple] = []
    for p in policies:  # a deep-RL policy with the surrogate: all its lessons in one batched environment
        if batchable(base, args.task, p):
            jobs.append((base, args.task, p, seeds, args.tea_weight, args.cost_weight))
        else:
            jobs += [(base, args.task, p, seed, args.tea_weight, args.cost_weight) for seed in seeds]
    target = Path(args.out)
    with output_folder(target) as out:  # checked and locked now; replaced whole when every file is written
        rows = [row for rows_of_job in run_jobs(_lessons, jobs, args.workers) for row in rows_of_job]
        order = {name: i for i, name in enumerate(policies)}
        rows.sort(key=lambda row: (order[row["policy"]], row["seed"]))
        result = summarize(args.task, rows, policies, against)
        result["recognizer"] = run_cfg.recognizer.kind
        result["students"] = run_cfg.sim.classroom.students
        result["minutes"] = run_cfg.sim.classroom.minutes
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out / "lessons.csv", buf.getvalue())
        write_json(out / "results.json", result)
        text = markdown(args.task, result)
        atomic_write_text(out / "results.md", text + "\n")
        plot(args.task, result, out / "comparison.png")
        write_json(out / "run.json", provenance(to_dict(base), args.first_seed))
    print(
        f"{args.task}: {run_cfg.sim.classroom.students} students, {run_cfg.sim.classroom.minutes:g} min, "
        f"recognizer {run_cfg.recognizer.kind}, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}"
    )
    print(text)
    print(f"written: {target}")
    return 0
