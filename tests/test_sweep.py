"""``vclass sweep`` and ``vclass report``: specs, executors, resume after a kill, failing runs, statistics."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vclass.cli import main
from vclass.config import ConfigError
from vclass.experiments.stats import bootstrap_ci, paired_bootstrap
from vclass.experiments.sweep.spec import expand, load_spec
from vclass.experiments.sweep.store import JOURNAL, read_journal, read_results

REPO = Path(__file__).resolve().parent.parent

DESIGNER_POLICIES = '''
import os, time, multiprocessing
from vclass.sim.classroom import Action


class Quiet:
    def reset(self, n_students, rng):
        pass

    def act(self, obs):
        return Action.nothing(obs.n_students)


class Slow(Quiet):
    """Takes a while to start (so a test can kill a sweep mid-way)."""

    def __init__(self, seconds=0.4):
        self.seconds = seconds

    def reset(self, n_students, rng):
        time.sleep(self.seconds)


class RaisesForSix(Quiet):
    def reset(self, n_students, rng):
        if n_students == 6:
            raise RuntimeError("flaky strategy cannot teach six students")


class DiesForSix(Quiet):
    def reset(self, n_students, rng):
        if n_students == 6 and multiprocessing.parent_process() is not None:
            os._exit(3)  # takes its worker process down
'''


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A designer's folder: a confusion matrix and policy module beside the specs, as the working folder."""
    (tmp_path / "confusion.json").write_text(
        json.dumps({"confusion": (np.full((7, 7), 0.03) + np.eye(7) * 0.79).tolist()})
    )
    (tmp_path / "designer.py").write_text(DESIGNER_POLICIES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_spec(
    folder: Path, body: str, name: str = "spec.toml", seeds: int = 3, students: str = "5", extra: str = ""
) -> Path:
    path = folder / name
    path.write_text(f"""name = "t"
seeds = {seeds}
reference = "none"
measures = ["tea_share", "mean_attention", "learning_gain"]
{extra}
[base]
recognizer = {{ kind = "surrogate", confusion = "confusion.json" }}
classroom = {{ students = {students}, minutes = 3 }}
{body}""")
    return path


def table_without_timing(path: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in ("duration_s", "cpu_s")} for row in read_results(path)]


# -- specs ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, body, field",
    [
        ("seedz = 3", '[[policies]]\nname = "none"', "seedz"),
        ("", '[grid]\nclassroom.students = [4, 0]\n[[policies]]\nname = "none"', "grid.classroom.students"),
        ("", '[grid]\nclassroom.minutes = 5\n[[policies]]\nname = "none"', "grid.classroom.minutes"),
        ("", '[grid]\npolicy.name = ["none"]\n[[policies]]\nname = "none"', "grid.policy.name"),
        ("", '[base.lesson]\nsegmentz = 1\n[[policies]]\nname = "none"', "base.lesson.segmentz"),
        ("", '[[policies]]\nname = "none"\n[[policies]]\nname = "nope"', "policies[1].name"),
        (
            "",
            '[[policies]]\nname = "none"\n[[policies]]\nname = "random"\nparams = { incentive_prob = 2 }',
            "policies[1].params.incentive_prob",
        ),
        ("", '[[policies]]\nname = "none"\n[[policies]]\nname = "none"', "policies[1].label"),
        ("", '[[policies]]\nname = "ecem"', "reference"),
        ('rank_by = "-cost"', '[[policies]]\nname = "none"', "rank_by"),
    ],
)
def test_a_bad_spec_fails_before_any_work_naming_the_key(workdir, capsys, extra, body, field):
    spec = write_spec(workdir, body, extra=extra)
    with pytest.raises(ConfigError) as err:
        expand(*load_spec(spec))
    assert err.value.field == field
    assert main(["sweep", str(spec), "--out", str(workdir / "out")]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and field in message
    assert not (workdir / "out").exists()


def test_an_unknown_measure_is_named():
    path = REPO / "experiments" / "specs" / "regress.toml"
    text = path.read_text().replace('"tea_share"', '"tea_sahre"', 1)
    import tomllib

    from vclass.experiments.sweep.spec import spec_from_dict

    with pytest.raises(ConfigError, match="tea_sahre") as err:
        spec_from_dict(tomllib.loads(text))
    assert err.value.field == "measures[0]"


def test_expansion_orders_runs_by_cell_policy_seed_with_stable_ids(workdir):
    spec = write_spec(
        workdir,
        '[grid]\nclassroom.presentation = ["video", "slides"]\nclassroom.online_tests = '
        '[true, false]\n[[policies]]\nname = "none"\n[[policies]]\nname = "ecem"',
    )
    entries = expand(*load_spec(spec))
    assert len(entries) == 4 * 2 * 3
    assert [(e.cell, e.policy, e.seed) for e in entries[:4]] == [
        ("presentation=video, online_tests=true", "none", s) for s in range(3)
    ] + [("presentation=video, online_tests=true", "ecem", 0)]
    assert len({e.run_id for e in entries}) == len(entries)
    assert [e.run_id for e in expand(*load_spec(spec), validate=False)] == [e.run_id for e in entries]
    assert entries[0].config["recognizer"]["confusion"] == str(workdir / "confusion.json")


def test_shipped_specs_expand():
    for name, runs in (("s0-2x2.toml", 4 * 2 * 20), ("policies.toml", None), ("regress.toml", 2 * 3 * 12)):
        spec, folder = load_spec(REPO / "experiments" / "specs" / name)
        entries = expand(spec, folder, validate=False)
        assert runs is None or len(entries) == runs


def test_the_s0_experiment_is_the_s0_spec_run_through_the_sweep(tmp_path):
    from vclass.experiments.lesson.config import load_run_config
    from vclass.experiments.lesson.runner import run_lesson

    out = tmp_path / "s0"
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
                "--recognizer",
                "oracle",
                "--workers",
                "1",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert (out / "journal.jsonl").is_file() and (out / "results.parquet").is_file()  # a sweep folder
    lessons = list(csv.DictReader((out / "lessons.csv").open()))
    assert len(lessons) == 4 * 2 * 2
    for row in lessons[::5]:  # every lesson is the plain lesson of its cell, policy and seed
        overrides = [
            (["classroom", "students"], 6),
            (["classroom", "minutes"], 4.0),
            (["recognizer", "kind"], "oracle"),
            (["classroom", "presentation"], row["presentation"]),
            (["classroom", "online_tests"], row["online_tests"] == "True"),
            (["policy", "name"], row["policy"]),
            (["seed"], int(row["seed"])),
        ]
        summary = run_lesson(load_run_config(None, overrides)).summary
        assert float(row["tea_share"]) == summary["tea_share"]
    table = json.loads((out / "table.json").read_text())
    cell = next(e for e in table if (e["presentation"], e["online_tests"], e["policy"]) == ("slides", False, "ecem"))
    shares = [
        float(r["tea_share"])
        for r in lessons
        if (r["presentation"], r["online_tests"], r["policy"]) == ("slides", "False", "ecem")
    ]
    assert cell["tea_share"][0] == pytest.approx(np.mean(shares)) and cell["n"] == 2
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
                "--recognizer",
                "oracle",
                "--workers",
                "1",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )  # resumes: nothing to run


# -- sweeps --------------------------------------------------------------------------------------------------------


def test_a_failing_run_is_recorded_and_the_others_finish_with_a_report(workdir, capsys):
    spec = write_spec(
        workdir,
        '[grid]\nclassroom.students = [5, 6]\n[[policies]]\nname = "none"\n'
        '[[policies]]\nlabel = "raises"\nname = "designer:RaisesForSix"\n'
        '[[policies]]\nlabel = "dies"\nname = "designer:DiesForSix"',
        seeds=2,
    )
    out = workdir / "out"
    assert main(["sweep", str(spec), "--workers", "2", "--out", str(out), "--quiet"]) == 1
    rows = read_results(out)
    assert [r["run_index"] for r in rows] == list(range(12))
    failed = {(r["policy"], r["seed"]): r["error"] for r in rows if r["status"] == "error"}
    assert set(failed) == {("raises", 0), ("raises", 1), ("dies", 0), ("dies", 1)}
    assert all("RuntimeError: flaky strategy" in failed["raises", s] for s in (0, 1))
    assert all("WorkerLost" in failed["dies", s] for s in (0, 1))
    others = [r for r in rows if (r["policy"], r["seed"]) not in failed]
    assert all(r["status"] == "ok" and r["tea_share"] is not None for r in others)
    assert table_without_timing(out / "results.csv") == table_without_timing(out / "results.parquet")

    html = (out / "report" / "index.html").read_text()
    assert "Ranking by" in html and "Failed lessons (4)" in html and "flaky strategy" in html
    images = [part.split("'")[0] for part in html.split("<img src='")[1:]]
    assert images == ["measures.png", "differences.png"]
    for image in images:
        assert (out / "report" / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # the CSV copy reports too, with another reference and a lower-is-better ranking
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                str(out / "results.csv"),
                "--reference",
                "raises",
                "--rank-by=-learning_gain",
                "--measures",
                "learning_gain,tea_share",
                "--out",
                str(workdir / "rep"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "ranking by learning_gain (lower is better)" in printed
    report = json.loads((workdir / "rep" / "report.json").read_text())
    assert report["reference"] == "raises" and report["measures"] == ["learning_gain", "tea_share"]
    assert main(["report", str(out), "--reference", "nobody"]) == 2


@pytest.mark.slow
def test_an_interrupted_sweep_resumes_without_duplicates_or_losses(workdir, capsys):
    spec = write_spec(
        workdir, '[[policies]]\nname = "none"\n[[policies]]\nlabel = "slow"\nname = "designer:Slow"', seeds=6
    )
    out = workdir / "killed"
    command = [
        sys.executable,
        "-m",
        "vclass.cli",
        "sweep",
        str(spec),
        "--workers",
        "1",
        "--chunk",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--no-report",
    ]
    proc = subprocess.Popen(
        command, cwd=workdir, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    journal = out / JOURNAL
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 8:
            break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, with no chance to clean up
    proc.wait(timeout=30)
    before = journal.read_bytes()
    assert 8 <= before.count(b"\n") < 12, proc.stderr.read().decode()
    with journal.open("ab") as fh:  # as if the kill had come in the middle of writing a row
        fh.write(b'{"run_index": 11, "run_id": "torn')

    assert main(["sweep", str(spec), "--workers", "1", "--out", str(out), "--quiet", "--no-report"]) == 0
    done_before = before.count(b"\n")
    assert f"({done_before} done before, {12 - done_before} run now" in capsys.readouterr().out
    after = journal.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 12  # nothing finished ran twice
    assert len({r["run_id"] for r in read_journal(journal)}) == 12  # nothing lost

    whole = workdir / "whole"
    assert main(["sweep", str(spec), "--workers", "2", "--out", str(whole), "--quiet", "--no-report"]) == 0
    assert table_without_timing(out) == table_without_timing(whole)
    # the same command on a finished sweep runs nothing; another spec in the same folder is refused
    assert main(["sweep", str(spec), "--out", str(whole), "--quiet", "--no-report"]) == 0
    assert journal.read_bytes() == after
    other = write_spec(workdir, '[[policies]]\nname = "none"', name="other.toml", seeds=2)
    assert main(["sweep", str(other), "--out", str(whole), "--quiet"]) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.slow
def test_local_and_ray_executors_give_the_same_table(workdir):
    pytest.importorskip("ray", reason="ray is an optional extra: pip install -e .[cluster]")
    spec = write_spec(
        workdir,
        '[grid]\nclassroom.online_tests = [true, false]\n[[policies]]\nname = "none"\n[[policies]]\nname = "ecem"',
        seeds=3,
    )
    assert main(["sweep", str(spec), "--workers", "2", "--out", str(workdir / "local"), "--quiet", "--no-report"]) == 0
    assert (
        main(
            [
                "sweep",
                str(spec),
                "--executor",
                "ray",
                "--workers",
                "2",
                "--out",
                str(workdir / "ray"),
                "--quiet",
                "--no-report",
            ]
        )
        == 0
    )
    local, ray = table_without_timing(workdir / "local"), table_without_timing(workdir / "ray")
    assert len(local) == 12 and all(r["status"] == "ok" for r in local)
    assert local == ray


# -- statistics ----------------------------------------------------------------------------------------------------


def test_bootstrap_ci_brackets_the_mean_narrows_with_n_and_is_deterministic():
    rng = np.random.default_rng(1)
    small, large = rng.normal(5, 1, 20), rng.normal(5, 1, 500)
    mean, low, high = bootstrap_ci(small)
    assert low < mean < high and (mean, low, high) == bootstrap_ci(small)
    assert high - low == pytest.approx(2 * 1.96 * small.std(ddof=1) / np.sqrt(20), rel=0.2)
    _, low_l, high_l = bootstrap_ci(large)
    assert high_l - low_l < (high - low) / 3
    assert np.isnan(bootstrap_ci(np.array([1.0]))[1])


def test_paired_bootstrap_removes_the_seed_effect_and_gives_effect_sizes():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 5, 30)
    a, b = seed_effect + 1.0 + rng.normal(0, 0.2, 30), seed_effect + rng.normal(0, 0.2, 30)
    diff = paired_bootstrap(a, b)
    assert 0.8 < diff["ci_low"] < 1.0 < diff["ci_high"] < 1.2 and diff["n"] == 30
    assert diff["effect_size_dz"] > 2 and diff["effect_size_dav"] < 0.5 and diff["p_value"] < 1e-6
