"""``vclass face-ceiling``: the template oracle recovers clear expressions and not faint ones."""

from __future__ import annotations

import json

import pytest

from experiments.face_ceiling import template_oracle
from vclass.cli import main as cli


@pytest.fixture(scope="module")
def oracle():
    return template_oracle(2_500, 11)


def test_clear_expressions_are_recovered_and_faint_ones_are_not(oracle):
    bins = oracle["top1_by_intensity"]
    assert sum(cell["n"] for cell in bins.values()) == 2_500
    # from intensity 0.15 on, the renderer leaves every expression recoverable to a noise-aware oracle
    for name in ("0.15-0.30", "0.30-0.50", "0.50-1.00"):
        assert bins[name]["n"] > 300 and bins[name]["top1"] >= 0.98, name
    # below 0.05 the candidates nearly coincide: far from perfect, still above chance (1/7) on ~150 faces
    faint = bins["0.00-0.05"]
    assert faint["n"] > 80 and 1 / 7 < faint["top1"] < 0.85
    assert faint["top1"] < bins["0.05-0.10"]["top1"] <= bins["0.10-0.15"]["top1"] + 0.02
    assert oracle["top1"] == pytest.approx(sum(c["n"] * c["top1"] for c in bins.values()) / 2_500)


def test_same_seed_same_result_and_the_cli_prints_and_writes_it(oracle, tmp_path, capsys):
    small = template_oracle(300, 11)
    assert small == template_oracle(300, 11)
    assert cli(["face-ceiling", "--n", "300", "--seed", "11", "--json", "--out", str(tmp_path / "c.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "c.json").read_text()) == json.loads(json.dumps(small))


@pytest.mark.parametrize("flags, fragment", [(["--n", "0"], "--n: must be an integer in [1, 1,000,000], got 0"),
                                             (["--seed", "-1"], "--seed: must be >= 0")])
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, flags, fragment):
    assert cli(["face-ceiling", "--out", str(tmp_path / "x.json")] + flags) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
