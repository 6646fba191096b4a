"""Deep-RL policies end to end: smoke training, resume, the policy in ``vclass run``, ``vclass evaluate``."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from vclass.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SMALL = ["--students", "6", "--minutes", "5"]


def _train(out, task, confusion, *extra) -> int:
    return main(
        [
            "train-policy",
            "--task",
            task,
            "--timesteps",
            "64",
            "--seed",
            "1",
            "--out",
            str(out),
            *SMALL,
            "--confusion",
            confusion,
            "--n-envs",
            "2",
            "--n-steps",
            "16",
            "--checkpoint-every",
            "32",
            "--eval-every",
            "32",
            "--eval-episodes",
            "1",
            "--no-progress",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, confusion) -> dict:
    """A PPO policy for each task, trained for 64 steps of a 6-student, 5-minute lesson."""
    base = tmp_path_factory.mktemp("policies")
    outs = {task: base / task for task in ("motivation", "attention")}
    for task, out in outs.items():
        assert _train(out, task, confusion) == 0
    return outs


@pytest.mark.parametrize("task", ["motivation", "attention"])
def test_smoke_training_writes_model_checkpoints_eval_and_tensorboard_logs(trained, task):
    out = trained[task]
    with zipfile.ZipFile(out / "model.zip") as zf:
        meta = json.loads(zf.read("vclass.json"))
    assert meta["task"] == task and meta["algo"] == "ppo" and meta["timesteps"] >= 64
    assert sorted(p.name for p in (out / "checkpoints").glob("*.zip"))
    assert (out / "best" / "best_model.zip").exists() and (out / "eval" / "evaluations.npz").exists()
    assert list((out / "tb").rglob("events.out.tfevents.*"))
    summary = json.loads((out / "train.json").read_text())["summary"]
    assert summary["timesteps"] >= 64 and summary["resumed_from"] == 0
    assert (out / "model.zip").stat().st_size < 2_000_000


def test_resume_continues_from_the_last_checkpoint(tmp_path, confusion):
    out = tmp_path / "run"
    assert _train(out, "attention", confusion) == 0
    assert (
        main(
            [
                "train-policy",
                "--task",
                "attention",
                "--timesteps",
                "128",
                "--out",
                str(out),
                *SMALL,
                "--confusion",
                confusion,
                "--n-envs",
                "2",
                "--n-steps",
                "16",
                "--checkpoint-every",
                "32",
                "--eval-every",
                "64",
                "--eval-episodes",
                "1",
                "--no-progress",
                "--resume",
            ]
        )
        == 0
    )
    summary = json.loads((out / "train.json").read_text())["summary"]
    assert summary["resumed_from"] >= 32 and summary["timesteps"] >= 128


def test_resume_without_checkpoints_and_dqn_for_motivation_are_config_errors(tmp_path, confusion, capsys):
    assert _train(tmp_path / "empty", "attention", confusion, "--resume") == 2
    assert "--resume: no checkpoint" in capsys.readouterr().err
    assert _train(tmp_path / "dqn", "motivation", confusion, "--algo", "dqn") == 2
    assert "dqn needs a Discrete action space" in capsys.readouterr().err
    assert _train(tmp_path / "x", "juggling", confusion) == 2
    assert "--task: must be one of motivation, attention" in capsys.readouterr().err


@pytest.mark.parametrize(
    "algo, task, net", [("a2c", "motivation", "students"), ("dqn", "attention", "mlp"), ("ppo", "motivation", "mlp")]
)
def test_other_sb3_algorithms_and_networks_train(tmp_path, confusion, algo, task, net):
    assert _train(tmp_path / algo, task, confusion, "--algo", algo, "--net", net) == 0
    assert (tmp_path / algo / "model.zip").exists()


@pytest.mark.parametrize("task", ["motivation", "attention"])
def test_trained_policy_acts_in_vclass_run(tmp_path, trained, confusion, task):
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--policy",
            f"ppo-{task}",
            "--set",
            f"policy.params.path={trained[task] / 'model.zip'}",
            "--recognizer",
            "surrogate",
            "--set",
            f"recognizer.confusion={confusion}",
            "--students",
            "9",
            "--minutes",
            "5",
            "--compare",
            "",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"] == f"ppo-{task}" and summary["students"] == 9  # shared weights: any class size


def _untrained_attention_policy(path, students: int, minutes: float, confusion: str):
    """A PPO StudentPolicy for the attention task straight after construction: its head starts near zero, so the
    probabilities of its choices tie in float32 where its raw logits do not."""
    from stable_baselines3 import PPO

    from vclass.agents.drl import StudentPolicy, make_env, save_policy

    options = {"students": students, "minutes": minutes, "recognizer": "surrogate", "confusion_path": confusion}
    model = PPO(StudentPolicy, make_env("attention", options), n_steps=16, batch_size=16, seed=0, device="cpu")
    meta = {"task": "attention", "algo": "ppo", "net": "students", "per_student": False, "env_options": options}
    save_policy(model, path, meta)
    return path


@pytest.mark.parametrize("which", ["untrained", "trained", "shipped"])
def test_adapter_acts_in_the_simulator_as_the_model_acts_in_the_env(which, trained, confusion, tmp_path):
    """On 30 lesson seeds the adapter (SB3Policy in ``vclass run``) checks in with the same students, for the same
    return, as the model's own ``predict(deterministic=True)`` in the env; the untrained model's decisions include
    ties that an argmax of raw logits would break otherwise."""
    import torch as th
    from stable_baselines3 import PPO

    from vclass.agents.drl import SHIPPED_DIR, SB3Policy
    from vclass.env.attention import AttentionEnv
    from vclass.env.observers import make_observer
    from vclass.sim.classroom import simulate
    from vclass.sim.measures import class_summary

    students = 30 if which == "shipped" else 6
    minutes = 5.0
    path = {
        "untrained": lambda: _untrained_attention_policy(tmp_path / "untrained.zip", students, minutes, confusion),
        "trained": lambda: trained["attention"] / "model.zip",
        "shipped": lambda: SHIPPED_DIR / "ppo-attention.zip",
    }[which]()
    made = AttentionEnv(students=students, minutes=minutes, confusion_path=confusion)
    model = PPO.load(path, device="cpu")
    adapter = SB3Policy(path, made.sim_config)
    logits_disagree = 0
    for seed in range(30):
        obs, _ = made.reset(options={"lesson_seed": seed})
        terminated, ret = False, 0.0
        while not terminated:
            action, _ = model.predict(obs, deterministic=True)
            with th.no_grad():
                logits = model.policy.mlp_extractor.forward_actor(th.as_tensor(obs[None]))[0]
            logits_disagree += int(logits.argmax()) != int(action)
            obs, reward, terminated, _, _info = made.step(action)
            ret += reward
        record = simulate(made.sim_config, seed, adapter, make_observer("surrogate", confusion_path=confusion))
        assert record.checkins == made.lesson.room.record.checkins, seed
        assert class_summary(record)["effective_participation_min"] == pytest.approx(ret), seed
    if which == "untrained":
        assert logits_disagree > 0  # the raw-logit argmax the adapter once took would have acted otherwise


def test_missing_policy_zip_is_a_config_error(tmp_path, confusion, capsys):
    code = main(
        [
            "run",
            "--policy",
            "ppo-attention",
            "--set",
            f"policy.params.path={tmp_path / 'nope.zip'}",
            "--recognizer",
            "surrogate",
            "--set",
            f"recognizer.confusion={confusion}",
            *SMALL,
            "--quiet",
            "--compare",
            "",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "policy.params.path: no policy zip" in capsys.readouterr().err


def test_evaluate_writes_table_plot_and_paired_differences(tmp_path, trained, confusion):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--task",
            "attention",
            "--policies",
            f"round-robin,{trained['attention'] / 'model.zip'}",
            "--seeds",
            "2",
            *SMALL,
            "--recognizer",
            "surrogate",
            "--confusion",
            confusion,
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert result["best_baseline"] == "round-robin" and result["seeds"] == [1000, 1001]
    assert set(result["means"]) == {"round-robin", str(trained["attention"] / "model.zip")}
    paired = result["paired"][0]
    assert paired["against"] == "round-robin" and paired["return"]["n"] == 2
    table = (out / "results.md").read_text()
    assert "| round-robin |" in table and "Paired differences" in table
    assert (out / "comparison.png").read_bytes()[:8] == PNG_MAGIC
    assert len((out / "lessons.csv").read_text().splitlines()) == 1 + 4


def test_evaluate_motivation_return_matches_the_env(tmp_path, confusion):
    """The evaluation's return is the env's return for the same lesson and actions."""
    from vclass.agents.registry import make_policy
    from vclass.env.motivation import MotivationEnv
    from vclass.experiments.policy.evaluate import episode_return

    made = MotivationEnv(students=6, minutes=5.0, confusion_path=confusion)
    made.reset(options={"lesson_seed": 1000})
    policy = make_policy("ecem", {}, made.sim_config)
    policy.reset(6, np.random.default_rng(0))
    terminated, ret = False, 0.0
    while not terminated:
        _, reward, terminated, _, _ = made.step(policy.act(made.lesson.room.observation()).incentives)
        ret += reward
    assert episode_return("motivation", made.lesson.room.record, 1.0, 1.0) == pytest.approx(ret)


def test_evaluate_rejects_bad_input(tmp_path, confusion, capsys):
    assert main(["evaluate", "--task", "motivation", "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "--seeds: must be an integer >= 2" in capsys.readouterr().err
    assert (
        main(
            [
                "evaluate",
                "--task",
                "motivation",
                "--policies",
                "nobody-knows",
                "--seeds",
                "2",
                "--recognizer",
                "surrogate",
                "--confusion",
                confusion,
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "policy.name: unknown policy" in capsys.readouterr().err


def test_ship_policy_installs_the_zip_and_a_card_that_runs_in_vclass_run(tmp_path, trained, confusion, capsys):
    evaluation = tmp_path / "eval"
    zip_path = trained["attention"] / "model.zip"
    assert (
        main(
            [
                "evaluate",
                "--task",
                "attention",
                "--policies",
                f"round-robin,{zip_path}",
                "--seeds",
                "2",
                *SMALL,
                "--recognizer",
                "surrogate",
                "--confusion",
                confusion,
                "--out",
                str(evaluation),
            ]
        )
        == 0
    )
    shipped = tmp_path / "shipped"
    assert main(["ship-policy", str(trained["attention"]), "--evaluation", str(evaluation), "--out", str(shipped)]) == 0
    assert (shipped / "ppo-attention.zip").read_bytes() == zip_path.read_bytes()
    card = (shipped / "ppo-attention.md").read_text()
    assert "vclass train-policy --task attention --algo ppo --timesteps 64 --seed 1" in card
    assert (evaluation / "results.md").read_text().strip() in card
    run = tmp_path / "run"
    assert (
        main(
            [
                "run",
                *SMALL,
                "--recognizer",
                "surrogate",
                "--set",
                f"recognizer.confusion={confusion}",
                "--policy",
                "ppo-attention",
                "--set",
                f"policy.params.path={shipped / 'ppo-attention.zip'}",
                "--quiet",
                "--out",
                str(run),
            ]
        )
        == 0
    )
    assert json.loads((run / "summary.json").read_text())["policy"] == "ppo-attention"
    capsys.readouterr()
    assert main(["ship-policy", str(tmp_path), "--evaluation", str(evaluation), "--out", str(shipped)]) == 2
    assert "run_dir" in capsys.readouterr().err
    # Re-measured: the measured section is the new evaluation's, the rest of the card and the model stay.
    other = tmp_path / "eval2"
    other.mkdir()
    (other / "results.md").write_text("| policy | return |\n|---|---|\n| re-measured | 1.0 |\n")
    (other / "run.json").write_text(json.dumps({"command": ["/usr/bin/vclass", "evaluate", "--seeds", "9"]}))
    refresh = ["ship-policy", "--refresh", "ppo-attention", "--evaluation", str(other), "--out", str(shipped)]
    assert main(refresh) == 0
    new_card = (shipped / "ppo-attention.md").read_text()
    head = card[: card.index("## Measured")]
    assert new_card.startswith(head) and "| re-measured | 1.0 |" in new_card and "vclass evaluate --seeds 9" in new_card
    assert (evaluation / "results.md").read_text().strip() not in new_card
    assert (shipped / "ppo-attention.zip").read_bytes() == zip_path.read_bytes()
    capsys.readouterr()
    assert main([*refresh[:2], "ppo-nothing", *refresh[3:]]) == 2
    assert "--refresh" in capsys.readouterr().err
    assert main(["ship-policy", str(trained["attention"]), *refresh[1:]]) == 2
    assert main(["ship-policy", "--evaluation", str(other), "--out", str(shipped)]) == 2


def test_a_paired_difference_without_variation_has_no_p_value_in_the_table():
    from vclass.experiments.policy.evaluate import _paired_cell

    constant = {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_value": float("nan")}
    assert _paired_cell(constant) == "+0.000 [+0.000, +0.000] p n/a (no variation)"
    varied = {"mean": 1.25, "ci_low": 0.5, "ci_high": 2.0, "p_value": 0.0123}
    assert _paired_cell(varied) == "+1.250 [+0.500, +2.000] p=0.012"
