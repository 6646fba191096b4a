"""``vclass fit-hmm``, ``vclass experiment s0-2x2`` and the statistics they use."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vclass.cli import main
from vclass.experiments.lesson.fit_hmm import split_sequences
from vclass.experiments.stats import mean_ci, paired_difference


@pytest.fixture
def confusion_file(tmp_path):
    path = tmp_path / "confusion.json"
    path.write_text(json.dumps({"confusion": (np.full((7, 7), 0.03) + np.eye(7) * 0.79).tolist()}))
    return path


def test_mean_ci_uses_the_t_distribution():
    mean, _low, high = mean_ci(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0 and high - mean == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    assert np.isnan(mean_ci(np.array([5.0]))[1])


def test_paired_difference_removes_the_shared_seed_effect():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 5, 20)
    a, b = seed_effect + 1.0 + rng.normal(0, 0.1, 20), seed_effect + rng.normal(0, 0.1, 20)
    diff = paired_difference(a, b)
    assert diff["ci_low"] > 0.8 and diff["ci_high"] < 1.2 and diff["p_value"] < 1e-6 and diff["n"] == 20


def test_split_sequences_cuts_at_missing_frames_and_drops_singletons():
    recognized = np.array([[1, 2], [2, -1], [-1, 3], [4, 3], [5, -1]])
    parts = split_sequences(recognized)
    assert [p.tolist() for p in parts] == [[1, 2], [4, 5], [3, 3]]


def test_fit_hmm_refits_a_surrogate_run_and_refuses_an_oracle_run(tmp_path, confusion_file, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--students",
                "10",
                "--minutes",
                "10",
                "--recognizer",
                "surrogate",
                "--set",
                f"recognizer.confusion={confusion_file}",
                "--compare",
                "",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["fit-hmm", str(run), "--epsilon", "1e-3"]) == 0
    report = json.loads((run / "fit_hmm.json").read_text())
    assert report["converged"] and report["iterations"] > 1
    fitted = np.array(report["transitions_fitted"])
    np.testing.assert_allclose(fitted.sum(axis=1), 1.0, atol=1e-9)
    assert (run / "fit_hmm.png").read_bytes()[:4] == b"\x89PNG"
    oracle = tmp_path / "oracle"
    assert (
        main(
            [
                "run",
                "--students",
                "4",
                "--minutes",
                "2",
                "--recognizer",
                "oracle",
                "--compare",
                "",
                "--out",
                str(oracle),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["fit-hmm", str(oracle)]) == 2
    assert "oracle" in capsys.readouterr().err
    assert main(["fit-hmm", str(tmp_path / "nothing")]) == 2


def test_s0_2x2_writes_every_cell_with_confidence_intervals(tmp_path, confusion_file):
    out = tmp_path / "x"
    assert (
        main(
            [
                "experiment",
                "s0-2x2",
                "--seeds",
                "2",
                "--students",
                "6",
                "--minutes",
                "4",
                "--workers",
                "1",
                "--recognizer",
                "surrogate",
                "--set",
                f"recognizer.confusion={confusion_file}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = json.loads((out / "table.json").read_text())
    assert len(table) == 8
    assert {(e["presentation"], e["online_tests"], e["policy"]) for e in table} == {
        (p, t, q) for p in ("video", "slides") for t in (True, False) for q in ("none", "ecem")
    }
    for entry in table:
        mean, low, high = entry["tea_share"]
        assert low <= mean <= high and entry["n"] == 2
        assert ("tea_share_vs_none" in entry) == (entry["policy"] == "ecem")
    assert "| video | yes | ecem |" in (out / "table.md").read_text()
    assert main(["experiment", "s0-2x2", "--seeds", "1", "--out", str(tmp_path / "y")]) == 2
