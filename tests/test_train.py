"""Training end to end on a tiny rendered dataset: outputs, relabeling bookkeeping, bit-exact resume, CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from vclass.cli import main as cli
from vclass.config import ConfigError
from vclass.models.train import TrainConfig, train_recognizer

TINY = {
    "widths": (4, 8, 8, 16),
    "batch_size": 32,
    "epochs": 2,
    "threads": 1,
    "progress": False,
    "attribute_batches": 1,
    "lr": 1e-2,
}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """240 rendered faces: 192 train, 24 val, 24 test, clean labels."""
    from vclass.experiments.recognizer.make_faces import MakeFacesConfig, make_dataset

    out = tmp_path_factory.mktemp("faces")
    make_dataset(
        MakeFacesConfig(n=240, seed=3, size=64, noise_kind=None, noise_rate=0.0, val_frac=0.1, test_frac=0.1), out
    )
    return out


def _config(data, out, **changes) -> TrainConfig:
    return TrainConfig(**{**TINY, "data": str(data), "out": str(out), **changes})


def _weights(folder):
    return torch.load(folder / "model.pt", weights_only=True)["state_dict"]


def test_tiny_run_lowers_the_loss_and_writes_checkpoint_log_tensorboard_and_model(tiny_data, tmp_path):
    out = tmp_path / "run"
    result = train_recognizer(_config(tiny_data, out, epochs=4))
    assert result.finished and len(result.history) == 4
    # the classification loss; the total adds eq 5's misclassification term from epoch r = 4 on
    assert result.history[-1]["ce"] < result.history[0]["ce"]
    for name in ("checkpoint.pt", "model.pt", "metrics.json", "config.json", "confusion.json", "confusion.png"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    lines = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3, 4]
    assert {"loss", "train_acc", "val_acc", "relabeled", "relabel_corrections"} <= set(lines[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["top1"] <= metrics["top2"] <= 1 and np.asarray(metrics["confusion"]).sum() == 24
    assert json.loads((out / "config.json").read_text())["widths"] == [4, 8, 8, 16]
    assert not list(out.glob(".*.tmp"))


def test_cs_misclassification_term_starts_with_relabeling_at_epoch_r(tiny_data, tmp_path):
    from vclass.models.losses import scaled_delta1

    config = _config(tiny_data, tmp_path / "cs", model="scn-cs", gamma=10.0, relabel_start_epoch=2, epochs=2)
    first, second = train_recognizer(config).history
    rank_margin = scaled_delta1(config.batch_size, config.delta1)
    assert first["regularizer"] <= rank_margin + 1e-6  # L_RR alone before epoch r
    assert second["regularizer"] > rank_margin + 0.5  # + gamma * mean alpha of the misclassified


def test_relabeling_counts_changes_and_corrections_of_injected_noise(tiny_data, tmp_path):
    # delta2 = 0 relabels every low-importance sample the model disagrees with
    config = _config(
        tiny_data, tmp_path / "cs", model="scn-cs", noise="symmetric:0.4", relabel_start_epoch=1, delta2=0.0, epochs=1
    )
    record = train_recognizer(config).history[0]
    assert record["relabeled"] > 0 and 0 <= record["relabel_corrections"] <= record["relabeled"]
    assert record["label_noise_given"] == pytest.approx(0.4, abs=0.01)
    saved = torch.load(tmp_path / "cs" / "checkpoint.pt", weights_only=True)["labels"]
    current, given, clean = (saved[k].numpy() for k in ("current", "given", "clean"))
    assert 0 < np.sum(current != given) <= record["relabeled"]
    assert record["label_noise_now"] == pytest.approx(np.mean(current != clean))
    # a correction is a change onto the clean label; none can exceed the changed samples that are now right
    assert np.sum((current != given) & (current == clean)) <= record["relabel_corrections"]


def test_baseline_never_relabels(tiny_data, tmp_path):
    history = train_recognizer(
        _config(tiny_data, tmp_path / "b", model="baseline", noise="symmetric:0.3", relabel_start_epoch=1, delta2=0.0)
    ).history
    assert all(r["relabeled"] == 0 and r["alpha_mean"] is None for r in history)


def test_resume_after_one_epoch_gives_the_same_weights_as_an_uninterrupted_run(tiny_data, tmp_path):
    config = _config(tiny_data, tmp_path / "whole", model="scn-cs", noise="symmetric:0.2", relabel_start_epoch=2)
    whole = train_recognizer(config)
    part = replace(config, out=str(tmp_path / "part"))
    stopped = train_recognizer(part, callback=lambda record: record["epoch"] < 1)
    assert not stopped.finished and len(stopped.history) == 1 and not (tmp_path / "part" / "model.pt").exists()
    resumed = train_recognizer(part, resume=True)
    assert resumed.finished
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "part")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    drop_time = [{k: v for k, v in r.items() if k != "seconds"} for r in whole.history]
    assert drop_time == [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history]


def test_resume_refuses_changed_settings_or_a_missing_checkpoint(tiny_data, tmp_path):
    config = _config(tiny_data, tmp_path / "r", epochs=1)
    train_recognizer(config)
    with pytest.raises(ConfigError, match="different settings.*lr"):
        train_recognizer(replace(config, lr=0.5), resume=True)
    with pytest.raises(ConfigError, match="no checkpoint"):
        train_recognizer(replace(config, out=str(tmp_path / "empty")), resume=True)


def test_cli_trains_resumes_and_rejects_bad_flags(tiny_data, tmp_path, capsys):
    out = tmp_path / "cli"
    base = [
        "train-recognizer",
        "--data",
        str(tiny_data),
        "--out",
        str(out),
        "--widths",
        "4,8,8,16",
        "--batch-size",
        "32",
        "--quiet",
    ]
    assert cli(base + ["--epochs", "1", "--model", "scn", "--noise", "annotator:0.2"]) == 0
    assert "clean test top-1" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["noise"] == "annotator:0.2"
    assert cli(["train-recognizer", "--out", str(out), "--resume", "--quiet"]) == 0  # nothing left to do
    for flags, fragment in [
        (["--widths", "1,2"], "--widths: must be four"),
        (["--noise", "symmetric:0.9"], "--noise: must be 'none' or KIND:RATE"),
        (["--beta", "1.5"], "--beta: must be a number > 0 and < 1"),
        (["--model", "vgg"], "--model: must be one of baseline, scn, scn-cs"),
        (["--epochs", "0"], "--epochs: must be an integer >= 1"),
    ]:
        assert cli(base + flags) == 2, flags
        assert fragment in capsys.readouterr().err
    assert cli(["train-recognizer", "--out", str(out), "--resume", "--epochs", "5", "--quiet"]) == 2
    assert "--epochs: the run" in capsys.readouterr().err


@pytest.mark.slow
def test_fresh_train_renders_new_faces_each_epoch_and_resumes_to_the_same_weights(tiny_data, tmp_path):
    from vclass.models.train import fresh_train_split

    first, second = fresh_train_split(192, 64, 5, 1), fresh_train_split(192, 64, 5, 2)
    assert first.images.shape == (192, 64, 64) and not np.array_equal(first.images, second.images)
    assert np.array_equal(first.images, fresh_train_split(192, 64, 5, 1).images)  # seeded by (seed, epoch)
    assert np.array_equal(first.labels, first.clean_labels) and len(np.unique(first.labels)) == 7

    config = _config(tiny_data, tmp_path / "whole", model="scn-cs", fresh_train=True, relabel_start_epoch=2)
    whole = train_recognizer(config)
    train_recognizer(replace(config, out=str(tmp_path / "reused"), fresh_train=False))
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "reused")
    assert any(not torch.equal(a[k], b[k]) for k in a)  # other faces, other weights
    # label state is per epoch: what relabeling did in epoch 2 is all the training labels can differ by
    assert whole.history[-1]["label_noise_now"] <= whole.history[-1]["relabeled"] / 192 + 1e-9
    part = replace(config, out=str(tmp_path / "part"))
    train_recognizer(part, callback=lambda record: record["epoch"] < 1)
    train_recognizer(part, resume=True)
    c = _weights(tmp_path / "part")
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_fresh_train_refuses_label_noise_and_non_synthetic_data(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="fresh_train.*noise must be 'none'"):
        _config(tiny_data, tmp_path / "n", fresh_train=True, noise="symmetric:0.2").check()
    fer = tmp_path / "fer"
    import shutil

    shutil.copytree(tiny_data, fer)
    meta = json.loads((fer / "meta.json").read_text())
    (fer / "meta.json").write_text(json.dumps({**meta, "source": "fer2013"}))
    with pytest.raises(ConfigError, match="fresh_train.*'fer2013'"):
        train_recognizer(_config(fer, tmp_path / "f", fresh_train=True))
