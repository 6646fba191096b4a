"""``vclass regress``: a baseline guards simulated outcomes; tolerances come from the seed-to-seed spread."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vclass.cli import main
from vclass.experiments.sweep.regress import compare, measure_table

REPO = Path(__file__).resolve().parent.parent
SHIPPED_SPEC = REPO / "experiments" / "specs" / "regress.toml"
SHIPPED_BASELINE = REPO / "experiments" / "baselines" / "regress.json"


@pytest.fixture
def tiny_spec(tmp_path):
    (tmp_path / "confusion.json").write_text(
        json.dumps({"confusion": (np.full((7, 7), 0.03) + np.eye(7) * 0.79).tolist()})
    )
    path = tmp_path / "tiny.toml"
    path.write_text("""name = "tiny"
seeds = 6
reference = "none"
measures = ["tea_share", "mean_attention", "learning_gain", "interventions"]
[base]
recognizer = { kind = "surrogate", confusion = "confusion.json" }
classroom = { students = 6, minutes = 5 }
[[policies]]
name = "none"
[[policies]]
name = "ecem"
""")
    return path


def test_tolerance_is_sigmas_standard_errors_of_the_mean_with_a_floor_for_constant_measures():
    rows = [
        {"run_index": i, "cell": "all", "policy": "p", "status": "ok", "seed": i, "x": float(v), "k": 3}
        for i, v in enumerate([1.0, 2.0, 3.0, 4.0])
    ]
    x, k = measure_table(rows, ["x", "k"], sigmas=3.0)
    assert x["mean"] == 2.5 and x["tolerance"] == pytest.approx(3.0 * np.std([1, 2, 3, 4], ddof=1) / 2.0)
    assert k["sd"] == 0.0 and k["tolerance"] == pytest.approx(3e-9)
    moved = compare([x, k], [{**x, "mean": 2.5 + 0.9 * x["tolerance"]}, {**k, "mean": 3.0 + 1e-6}])
    assert [m["status"] for m in moved] == ["within", "MOVED"]


def test_regress_passes_on_unchanged_code_and_update_writes_the_baseline(tiny_spec, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline)]) == 2  # no baseline yet
    assert "--update" in capsys.readouterr().err
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline), "--update"]) == 0
    stored = json.loads(baseline.read_text())
    assert stored["sigmas"] == 3.0 and len(stored["measures"]) == 2 * 4
    assert all(m["n"] == 6 and m["tolerance"] > 0 for m in stored["measures"])
    capsys.readouterr()
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline)]) == 0
    assert "OK, 8 measures: 8 identical" in capsys.readouterr().out


def test_regress_fails_with_a_readable_diff_when_an_outcome_moves_and_update_accepts_it(tiny_spec, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline), "--update"]) == 0
    before = baseline.read_text()
    changed = ["--set", "emotion.incentive_gain=6.0"]  # as if someone changed tau (S3 eq 11) in the code
    capsys.readouterr()
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline), *changed]) == 1
    out = capsys.readouterr().out
    assert "measures moved beyond their tolerance" in out
    moved = [line for line in out.splitlines() if line.endswith("MOVED")]
    assert any(line.split()[:3] == ["all", "ecem", "tea_share"] for line in moved)
    header = next(line for line in out.splitlines() if line.startswith("cell"))
    assert header.split() == ["cell", "policy", "measure", "baseline", "now", "change", "tolerance", "change/tol"]
    assert "--update" in out
    assert not any(line.split()[1] == "none" for line in moved)  # no intervention: tau changes nothing

    assert main(["regress", str(tiny_spec), "--baseline", str(baseline), "--update", *changed]) == 0
    assert baseline.read_text() != before
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline), *changed]) == 0
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline)]) == 1


def test_a_baseline_of_another_spec_is_refused(tiny_spec, tmp_path, capsys):
    baseline = tmp_path / "baseline.json"
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline), "--update"]) == 0
    tiny_spec.write_text(tiny_spec.read_text().replace("seeds = 6", "seeds = 5"))
    capsys.readouterr()
    assert main(["regress", str(tiny_spec), "--baseline", str(baseline)]) == 2
    assert "--baseline" in capsys.readouterr().err


def test_the_shipped_regression_check_passes():
    assert main(["regress", str(SHIPPED_SPEC), "--baseline", str(SHIPPED_BASELINE)]) == 0
