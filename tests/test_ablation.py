"""``vclass ablation`` end to end on a tiny config: consistent results, resumable runs, flag checks."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest

import vclass.experiments.recognizer.ablation
import vclass.models.train
from vclass.cli import main as cli

# 300 faces, 1 epoch, tiny widths; relabeling from epoch 1 with delta2 = 0 so the scn-cs runs relabel
TINY = [
    "--faces",
    "300",
    "--epochs",
    "1",
    "--widths",
    "4,4,8,8",
    "--batch-size",
    "32",
    "--models",
    "baseline,scn-cs",
    "--noise",
    "0,0.2",
    "--seeds",
    "1",
    "--relabel-start-epoch",
    "1",
    "--delta2",
    "0",
    "--lr",
    "0.01",
    "--quiet",
]


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """One finished tiny ablation: (OUT, what it printed)."""
    out = tmp_path_factory.mktemp("ablation")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli(["ablation", "--out", str(out)] + TINY) == 0
    return out, printed.getvalue()


def _read(path):
    return json.loads(path.read_text())


@pytest.mark.slow
def test_every_run_is_recorded_with_its_folders_metrics_and_relabel_counts(ablation):
    out, _ = ablation
    result = _read(out / "ablation.json")
    runs = result["runs"]
    assert {(r["model"], r["noise"], r["seed"]) for r in runs} == {
        (m, rate, 0) for m in ("baseline", "scn-cs") for rate in (0.0, 0.2)
    }
    for run in runs:
        folder = out / run["folder"]
        assert folder.name == f"{run['model']}-noise{run['noise']:g}-seed0"
        metrics = _read(folder / "metrics.json")
        assert run["top1"] == metrics["top1"] and run["top2"] == metrics["top2"]
        log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
        assert run["relabeled"] == sum(r["relabeled"] for r in log)
        assert run["relabel_corrections"] == sum(r["relabel_corrections"] for r in log)
        if run["relabeled"]:
            assert 0 <= run["relabel_precision"] <= 1
            assert run["relabel_precision"] == run["relabel_corrections"] / run["relabeled"]
        else:
            assert run["relabel_precision"] is None
        assert _read(folder / "config.json")["noise"] == f"symmetric:{run['noise']:g}"
    assert all(r["relabeled"] == 0 for r in runs if r["model"] == "baseline")
    assert any(r["relabeled"] > 0 for r in runs if r["model"] == "scn-cs")
    # at 0 % noise the labels are clean, so no relabel can restore one
    assert all(r["relabel_corrections"] == 0 for r in runs if r["noise"] == 0)


def test_summary_means_are_the_means_of_the_runs_and_the_report_files_exist(ablation):
    out, printed = ablation
    result = _read(out / "ablation.json")
    for cell in result["summary"]:
        group = [r for r in result["runs"] if (r["model"], r["noise"]) == (cell["model"], cell["noise"])]
        assert cell["top1_mean"] == pytest.approx(np.mean([r["top1"] for r in group]))
        assert cell["top1_std"] is None  # one seed: no sample std
        assert cell["relabeled"] == sum(r["relabeled"] for r in group)
    assert result["settings"]["noise_rates"] == [0.0, 0.2] and result["settings"]["seeds"] == [0]
    assert result["settings"]["train_config"]["attribute_batches"] == 0
    logreg = result["logistic_regression"]
    assert 0 <= logreg["top1"] <= 1 and logreg["train_faces"] == 240 and not logreg["subsampled"]
    markdown = (out / "ablation.md").read_text()
    assert "| noise | baseline | scn-cs |" in markdown and "| 20% |" in markdown
    assert "| noise | scn-cs |" in markdown and "Logistic regression on raw pixels" in markdown
    assert "after the last epoch" in markdown
    for cell in result["summary"]:  # the end-of-training label noise is the mean of the runs' last log lines
        group = [r for r in result["runs"] if (r["model"], r["noise"]) == (cell["model"], cell["noise"])]
        finals = [
            json.loads((out / r["folder"] / "train_log.jsonl").read_text().splitlines()[-1])["label_noise_now"]
            for r in group
        ]
        assert cell["label_noise_final_mean"] == pytest.approx(np.mean(finals))
        if cell["model"] == "baseline":
            assert cell["label_noise_final_mean"] == pytest.approx(cell["noise"], abs=0.03)
    assert markdown.strip() in printed
    assert (out / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob(".*.tmp"))


def test_summary_takes_the_sample_std_over_seeds_and_skips_runs_without_relabels():
    from vclass.experiments.recognizer.ablation import summarize

    seeds = [(0, 0.5, 4, 1), (1, 0.7, 0, 0), (2, 0.6, 2, 2)]  # seed, top1, relabeled, corrections
    runs = [
        {
            "model": "scn",
            "noise": 0.1,
            "seed": s,
            "top1": t,
            "top2": 1.0,
            "relabeled": n,
            "relabel_corrections": c,
            "relabel_precision": c / n if n else None,
        }
        for s, t, n, c in seeds
    ]
    (cell,) = summarize(runs)
    assert cell["top1_mean"] == pytest.approx(0.6) and cell["top1_std"] == pytest.approx(0.1)
    assert cell["relabel_precision_mean"] == pytest.approx(0.625) and cell["relabel_precision_runs"] == 2


def _count_trainings(monkeypatch) -> list[tuple[str, bool]]:
    """Record (out, resume) of every training while still running it."""
    calls = []
    real_train = vclass.models.train.train_recognizer

    def counting_train(config, resume=False, callback=None):
        calls.append((config.out, resume))
        return real_train(config, resume=resume, callback=callback)

    monkeypatch.setattr(vclass.experiments.recognizer.ablation, "train_recognizer", counting_train)
    return calls


def test_a_second_invocation_skips_finished_runs_even_after_the_folder_moved(ablation, tmp_path, monkeypatch):
    source, _ = ablation
    out = tmp_path / "moved"
    shutil.copytree(source, out)
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.json")}
    calls = _count_trainings(monkeypatch)
    monkeypatch.setattr(
        "vclass.experiments.recognizer.ablation.logistic_regression_floor",
        lambda *a: pytest.fail("the LR result should be reused"),
    )
    assert cli(["ablation", "--out", str(out)] + TINY) == 0
    assert calls == [] and len(stamps) == 4
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items())
    assert _read(out / "ablation.json")["runs"] == _read(source / "ablation.json")["runs"]


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_result(tmp_path, monkeypatch):
    one_run = TINY + ["--models", "scn-cs", "--noise", "0.2", "--epochs", "2"]
    out = tmp_path / "abl"
    assert cli(["ablation", "--out", str(out)] + one_run) == 0
    run = out / "runs" / "scn-cs-noise0.2-seed0"
    whole = _read(out / "ablation.json")["runs"]
    (run / "metrics.json").unlink()  # as if killed after the last checkpoint, before the final outputs
    calls = _count_trainings(monkeypatch)
    assert cli(["ablation", "--out", str(out)] + one_run) == 0
    assert calls == [(str(run), True)]
    assert _read(out / "ablation.json")["runs"] == whole


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--noise", "0,0.5"], "--noise: must be comma-separated rates in [0, 0.4], got 0.5"),
        (["--noise=-0.1"], "--noise: must be comma-separated rates in [0, 0.4], got -0.1"),
        (["--noise", "0.1,abc"], "--noise:"),
        (["--models", "baseline,vgg"], "--models: must be comma-separated names from baseline, scn, scn-cs"),
        (["--seeds", "0"], "--seeds: must be an integer in [1, 100], got 0"),
        (["--widths", "1,2"], "--widths: must be four"),
        (["--epochs", "0"], "--epochs: must be an integer >= 1"),
        (["--faces", "5"], "--faces: must be >= 10"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, flags, fragment):
    assert cli(["ablation", "--out", str(tmp_path / "bad"), "--quiet"] + flags) == 2
    assert fragment in capsys.readouterr().err


def test_changed_settings_are_refused_instead_of_mixed(ablation, tmp_path, capsys):
    source, _ = ablation
    out = tmp_path / "copy"
    shutil.copytree(source, out)
    assert cli(["ablation", "--out", str(out)] + TINY + ["--epochs", "2"]) == 2
    assert "--epochs:" in capsys.readouterr().err
    assert cli(["ablation", "--out", str(out)] + TINY + ["--faces", "400"]) == 2
    assert "--faces:" in capsys.readouterr().err


@pytest.mark.slow
def test_parallel_jobs_give_the_same_runs_as_one_at_a_time(ablation, tmp_path):
    """--jobs 2 trains the runs in worker processes; each run is seeded on its own, so results match bit for bit."""
    out, _ = ablation
    parallel = tmp_path / "parallel"
    shutil.copytree(out / "data", parallel / "data")
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["ablation", "--out", str(parallel), "--jobs", "2"] + TINY) == 0
    serial, jobs = _read(out / "ablation.json"), _read(parallel / "ablation.json")
    key = ("model", "noise", "seed", "top1", "top2", "relabeled", "relabel_corrections")
    assert [{k: r[k] for k in key} for r in jobs["runs"]] == [{k: r[k] for k in key} for r in serial["runs"]]
    for run in serial["runs"]:
        name = (out / run["folder"]).name
        assert (parallel / "runs" / name / "train_log.jsonl").is_file()


def test_parallel_jobs_refuse_a_folder_with_other_settings_before_training(ablation, tmp_path, capsys):
    out, _ = ablation
    moved = tmp_path / "other"
    shutil.copytree(out, moved)
    shutil.rmtree(moved / "runs" / "scn-cs-noise0.2-seed0")  # the last run: it would train at once beside the others
    logs = {p: p.read_bytes() for p in moved.glob("runs/*/train_log.jsonl")}
    assert cli(["ablation", "--out", str(moved), "--jobs", "2"] + TINY + ["--lr", "0.02"]) == 2
    assert "--lr" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in moved.glob("runs/*/train_log.jsonl")} == logs
    assert not (moved / "runs" / "scn-cs-noise0.2-seed0").exists()


@pytest.mark.parametrize("jobs", ["0", "257"])
def test_jobs_out_of_range_is_refused(tmp_path, capsys, jobs):
    assert cli(["ablation", "--out", str(tmp_path / "a"), "--jobs", jobs] + TINY) == 2
    assert "--jobs: must be an integer in [1, 256]" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_runs_made_before_an_option_existed_are_reused_at_its_default(ablation, tmp_path, monkeypatch):
    """A run folder whose config.json lacks a later TrainConfig field (cw_threshold) used that field's default."""
    source, _ = ablation
    out = tmp_path / "older"
    shutil.copytree(source, out)
    for path in out.glob("runs/*/config.json"):
        stored = _read(path)
        assert stored.pop("cw_threshold") == "multiply"
        path.write_text(json.dumps(stored))
    calls = _count_trainings(monkeypatch)
    assert cli(["ablation", "--out", str(out)] + TINY) == 0
    assert calls == []
    # asking for the other reading is a change of settings, named by its flag
    assert cli(["ablation", "--out", str(out), "--cw-threshold", "divide"] + TINY) == 2


def test_eq6_reading_and_gamma_reach_every_run(tmp_path):
    out = tmp_path / "reading"
    flags = TINY + ["--models", "scn-cs", "--noise", "0.2", "--cw-threshold", "divide", "--gamma", "0"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(["ablation", "--out", str(out)] + flags) == 0
    stored = _read(out / "runs" / "scn-cs-noise0.2-seed0" / "config.json")
    assert stored["cw_threshold"] == "divide" and stored["gamma"] == 0
    assert _read(out / "ablation.json")["settings"]["train_config"]["cw_threshold"] == "divide"
