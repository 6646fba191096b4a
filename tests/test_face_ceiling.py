"""``vclass face-ceiling``: the template oracle recovers clear expressions and not faint ones; the Bayes
bound for recognizers that do not know the resting face is a correct posterior and sits below the oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vclass.cli import main as cli
from vclass.experiments.recognizer.face_ceiling import action_posterior, face_ceilings


@pytest.fixture(scope="module")
def ceilings():
    return face_ceilings(2_500, 11)


def test_clear_expressions_are_recovered_and_faint_ones_are_not(ceilings):
    oracle = ceilings["template_oracle"]
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


def test_the_resting_face_bound_is_below_the_oracle_and_agrees_with_its_own_expectation(ceilings):
    bound, oracle = ceilings["resting_face_bound"], ceilings["template_oracle"]
    # not knowing the resting face costs most below intensity 0.3; 2,500 faces: binomial sd <= 0.01 overall
    assert 0.80 < bound["top1"] < 0.90 < oracle["top1"]
    assert bound["top1"] == pytest.approx(bound["expected_top1"], abs=0.03)
    bins = bound["top1_by_intensity"]
    assert bins["0.00-0.05"]["top1"] < 0.4 and bins["0.50-1.00"]["top1"] > 0.93
    for name in ("0.05-0.10", "0.10-0.15", "0.15-0.30"):
        assert bins[name]["top1"] < oracle["top1_by_intensity"][name]["top1"], name


@pytest.mark.slow
def test_action_posterior_matches_the_class_shares_of_simulated_faces():
    """E[P(c | a) | a in a ball] = P(c | a in the ball): compare the formula with counted draws."""
    from vclass.sim.faces import DEFAULT_SAMPLING, EXPRESSION_ACTIONS, RESTING_FACE_SD

    rng = np.random.default_rng(0)
    n = 300_000
    c = rng.integers(0, 7, n)
    t = rng.beta(*DEFAULT_SAMPLING.intensity_beta, n)
    a = rng.standard_normal((n, 11)) * RESTING_FACE_SD + t[:, None] * EXPRESSION_ACTIONS[c]
    # a faint happy face, and a faint mix of fear and surprise
    for center, top in (
        (0.15 * EXPRESSION_ACTIONS[1], {0, 1}),
        (0.1 * (EXPRESSION_ACTIONS[6] + EXPRESSION_ACTIONS[2]), {2, 6}),
    ):
        near = np.linalg.norm(a - center, axis=1) < 0.3
        assert near.sum() > 7_000  # each share then has a binomial sd below 0.006
        counted = np.bincount(c[near], minlength=7) / near.sum()
        formula = action_posterior(a[near]).mean(axis=0)
        assert np.abs(counted - formula).max() < 0.025
        assert set(np.argsort(formula)[-2:]) == top


def test_same_seed_same_result_and_the_cli_prints_and_writes_it(tmp_path, capsys):
    small = face_ceilings(300, 11)
    assert small == face_ceilings(300, 11)
    # without the oracle the bound is the same, on the same draws
    assert face_ceilings(300, 11, oracle=False) == {k: v for k, v in small.items() if k != "template_oracle"}
    assert cli(["face-ceiling", "--n", "300", "--seed", "11", "--json", "--out", str(tmp_path / "c.json")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "c.json").read_text()) == json.loads(json.dumps(small))
    assert cli(["face-ceiling", "--n", "300", "--seed", "11"]) == 0
    text = capsys.readouterr().out
    assert "template oracle" in text and f"{small['resting_face_bound']['top1']:.3f}" in text


@pytest.mark.parametrize(
    "flags, fragment",
    [(["--n", "0"], "--n: must be an integer in [1, 1,000,000], got 0"), (["--seed", "-1"], "--seed: must be >= 0")],
)
def test_bad_flags_exit_2_naming_the_flag(tmp_path, capsys, flags, fragment):
    assert cli(["face-ceiling", "--out", str(tmp_path / "x.json")] + flags) == 2
    assert fragment in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
