"""`vclass ship-recognizer`: export, held-out evaluation, confusion file and model card, installed atomically."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vclass.cli import main as cli
from vclass.models.nets import create_model
from vclass.models.surrogate import SurrogateRecognizer
from vclass.models.train import TrainConfig, save_model_file

WIDTHS = (4, 8, 8, 16)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A finished-training look-alike: model.pt, config.json and a one-epoch log."""
    folder = tmp_path_factory.mktemp("train")
    torch.manual_seed(0)
    model = create_model("scn-cs", widths=WIDTHS).eval()
    config = TrainConfig(widths=WIDTHS, epochs=1, out=str(folder))
    save_model_file(model, config, folder / "model.pt", (64, 64))
    (folder / "config.json").write_text(
        json.dumps({**json.loads(json.dumps(config.__dict__, default=list)), "widths": list(WIDTHS)})
    )
    (folder / "train_log.jsonl").write_text(
        json.dumps(
            {"epoch": 1, "train_acc": 0.2, "val_acc": 0.18, "relabeled": 3, "relabel_corrections": 1, "seconds": 1.0}
        )
        + "\n"
    )
    return folder


@pytest.mark.slow
def test_ship_installs_model_confusion_and_card_that_agree_with_eval_recognizer(run_folder, tmp_path, capsys):
    out = tmp_path / "shipped"
    assert cli(["ship-recognizer", str(run_folder), "--out", str(out), "--faces", "300"]) == 0
    for name in ("scn-cs.onnx", "scn-cs.pt", "confusion.json", "confusion.png", "MODEL_CARD.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    record = json.loads((out / "confusion.json").read_text())
    confusion = np.asarray(record["confusion"])
    assert confusion.shape == (7, 7)
    np.testing.assert_allclose(confusion.sum(axis=1)[np.asarray(record["counts"]).sum(axis=1) > 0], 1.0, atol=1e-5)
    SurrogateRecognizer.from_file(out / "confusion.json")  # the surrogate and the filter can read it
    capsys.readouterr()
    # the card's headline equals what eval-recognizer measures on the same faces
    assert (
        cli(["eval-recognizer", str(out / "scn-cs.onnx"), "--faces", "300", "--json", "--out", str(tmp_path / "eval")])
        == 0
    )
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert measured["top1"] == pytest.approx(record["top1"])
    card = (out / "MODEL_CARD.md").read_text()
    assert f"top-1 {measured['top1']:.4f}" in card
    assert "vclass train-recognizer" in card and "--widths 4,8,8,16" in card
    assert "3 labels relabeled in all (1 of them set a" in card
    assert "## INT8" in card and "`scn-cs-int8.md`" in card


def test_reshipping_says_that_the_int8_model_beside_it_is_now_stale(run_folder, tmp_path, capsys):
    out = tmp_path / "shipped"
    assert cli(["ship-recognizer", str(run_folder), "--out", str(out), "--faces", "50"]) == 0
    assert "quantize-recognizer" not in capsys.readouterr().out  # no INT8 model there
    args = ["quantize-recognizer", str(out / "scn-cs.onnx"), "--calibration-faces", "4", "--faces", "16"]
    assert cli(args) == 0
    (out / "scn-cs-int8.json").write_text('{"source_sha256": "an earlier model"}')  # as if made before a re-ship
    capsys.readouterr()
    assert cli(["ship-recognizer", str(run_folder), "--out", str(out), "--faces", "50"]) == 0
    assert "scn-cs-int8.onnx was made from the previous model" in capsys.readouterr().out


@pytest.mark.slow
def test_shipped_files_drive_a_lesson_with_the_real_recognizer(run_folder, tmp_path):
    out = tmp_path / "shipped"
    assert cli(["ship-recognizer", str(run_folder), "--out", str(out), "--faces", "100"]) == 0
    run = tmp_path / "run"
    assert (
        cli(
            [
                "run",
                "--students",
                "4",
                "--minutes",
                "3",
                "--quiet",
                "--out",
                str(run),
                "--set",
                f"recognizer.model={out / 'scn-cs.onnx'}",
                "--set",
                f"recognizer.confusion={out / 'confusion.json'}",
            ]
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert 0.0 <= summary["recognition_accuracy"] <= 1.0


def test_ship_refuses_a_folder_without_a_model_and_installs_nothing(tmp_path, capsys):
    out = tmp_path / "shipped"
    assert cli(["ship-recognizer", str(tmp_path), "--out", str(out)]) == 2
    assert "run_dir" in capsys.readouterr().err
    assert not out.exists()


def _meta(command, n=50_000, seed=0):
    return {
        "provenance": {
            "command": command,
            "config": {
                "n": n,
                "seed": seed,
                "size": 64,
                "noise_kind": None,
                "noise_rate": 0.0,
                "val_frac": 0.1,
                "test_frac": 0.1,
            },
        }
    }


def test_card_commands_name_the_data_and_the_training_run():
    from vclass.experiments.recognizer.ship import commands

    own = ["/bin/vclass", "train-recognizer", "--faces", "50000", "--out", "runs/a"]
    # the run rendered its own data: its recorded command is the whole recipe
    assert commands({"out": "runs/a", "data": "runs/a/data"}, _meta(own)) == [
        "vclass train-recognizer --faces 50000 --out runs/a"
    ]
    # another run rendered the data: the same faces come from make-faces with its recorded n and seed
    lines = commands({"out": "runs/b", "data": "runs/a/data", "fresh_train": True, "epochs": 3}, _meta(own))
    assert lines[0] == "vclass make-faces --n 50000 --seed 0 --out runs/a/data"
    assert "--fresh-train" in lines[1] and "--data runs/a/data" in lines[1] and lines[1].endswith("--out runs/b")
    made = ["/bin/vclass", "make-faces", "--n", "900", "--out", "d"]
    assert commands({"out": "runs/c", "data": "d"}, _meta(made))[0] == "vclass make-faces --n 900 --out d"
    # made by a script with no recorded settings: only the training command
    assert commands({"out": "runs/c", "data": "d"}, {"provenance": {"command": ["-"]}}) == [
        "vclass train-recognizer --data d --out runs/c"
    ]


def test_card_puts_the_resting_face_bound_beside_each_intensity_bin_and_describes_fresh_training():
    from vclass.experiments.recognizer.face_ceiling import face_ceilings
    from vclass.experiments.recognizer.ship import model_card
    from vclass.models.evaluate import INTENSITY_BINS

    bins = {
        "0.00-0.15": {"n": 10, "top1": 0.1},
        "0.15-0.30": {"n": 10, "top1": 0.5},
        "0.30-0.50": {"n": 10, "top1": 0.8},
        "0.50-1.00": {"n": 10, "top1": 0.9},
    }
    result = {
        "n": 40,
        "top1": 0.575,
        "top2": 0.7,
        "macro_f1": 0.5,
        "attribute_auc": {"eyes_closed": 0.9},
        "top1_by_intensity": bins,
        "classes": ["a"],
        "confusion": [[1]],
        "per_class_f1": {"a": 1.0},
    }
    bound = face_ceilings(2_000, 7, oracle=False, edges=INTENSITY_BINS)
    config = {"model": "scn-cs", "out": "runs/b", "data": "runs/a/data", "fresh_train": True, "epochs": 3}
    card = model_card("scn-cs", config, {"sizes": {"train": 100}}, [], None, result, 1, 1, 40, 5, bound)
    limit = bound["resting_face_bound"]
    assert f"| 0.15-0.30 | 10 | 0.500 | {limit['top1_by_intensity']['0.15-0.30']['top1']:.3f} |" in card
    assert f"| all | 40 | 0.575 | {limit['top1']:.3f} |" in card
    assert "(300 training faces in all)" in card and "relabeling (eq 3) had no effect" in card
    plain = model_card("scn-cs", {"model": "scn-cs"}, None, [], None, result, 1, 1, 40, 5)
    assert "| 0.15-0.30 | 10 | 0.500 |\n" in plain and "| bound |" not in plain and "--fresh-train" not in plain
    assert "0 labels relabeled in all" in plain
