"""``vclass run`` and ``vclass bench`` end to end, through the real console entry point."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest

from vclass.cli import main

SUMMARY_KEYS = {
    "tea_share",
    "mean_attention",
    "participation",
    "effective_participation_min",
    "mean_axis",
    "learning_gain",
    "interventions",
    "intervention_cost",
    "seed",
    "config",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    code = main(
        [
            "run",
            "--students",
            "8",
            "--minutes",
            "5",
            "--out",
            str(out),
            "--quiet",
            "--recognizer",
            "oracle",
            "--compare",
            "",
            *extra,
        ]
    )
    return code, out


def test_run_writes_summary_tables_plots_and_provenance(tmp_path):
    code, out = _run(tmp_path, "a", "--seed", "3", "--policy", "always-fun")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["seed"] == 3 and summary["config"]["classroom"]["students"] == 8
    assert 0 <= summary["tea_share"] <= 1 and 0 <= summary["participation"] <= 1
    assert summary["interventions"] > 0
    with open(out / "timeline.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 and {"minute", "tea_share", "mean_attention", "share_joy"} <= set(rows[0])
    with open(out / "students.csv") as fh:
        students = list(csv.DictReader(fh))
    assert len(students) == 8 and "learning_gain" in students[0]
    for plot in ("emotions.png", "attention_tea.png", "interventions.png"):
        assert (out / plot).read_bytes()[:8] == PNG_MAGIC
    run = json.loads((out / "run.json").read_text())
    assert {"config", "seed", "versions", "git_commit"} <= set(run) and "numpy" in run["versions"]
    assert not list(out.glob(".*.tmp"))


def test_same_seed_gives_identical_summary_bytes(tmp_path):
    _, a = _run(tmp_path, "a", "--seed", "5")
    _, b = _run(tmp_path, "b", "--seed", "5")
    _, c = _run(tmp_path, "c", "--seed", "6")
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    assert (a / "timeline.csv").read_bytes() == (b / "timeline.csv").read_bytes()
    assert (a / "summary.json").read_bytes() != (c / "summary.json").read_bytes()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--students", "0"], "classroom.students: must be an integer >= 1"),
        (["--minutes", "-3"], "classroom.minutes: must be a number > 0"),
        (["--set", "classroom.late_join_prob=1.5"], "classroom.late_join_prob: must be a number >= 0 and <= 1"),
        (["--set", "classroom.colour=red"], "classroom.colour: unknown key"),
        (["--policy", "telepathy"], "policy.name: unknown policy"),
        (["--compare", "telepathy"], "--compare: unknown policy"),
        (["--recognizer", "crystal-ball"], "recognizer.kind: must be one of"),
        (["--recognizer", "surrogate", "--set", "recognizer.confusion=/no/such/file.json"], "recognizer.confusion: "),
    ],
)
def test_bad_input_exits_2_with_one_clear_message_and_writes_nothing(tmp_path, capsys, args, fragment):
    out = tmp_path / "never"
    code = main(["run", "--out", str(out), "--quiet", "--recognizer", "oracle", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and err.count("\n") == 1
    assert not out.exists()


def test_bad_input_never_touches_an_earlier_result(tmp_path):
    _code, out = _run(tmp_path, "keep", "--seed", "1")
    before = (out / "summary.json").read_bytes()
    assert main(["run", "--out", str(out), "--students", "-1", "--quiet", "--recognizer", "oracle"]) == 2
    assert (out / "summary.json").read_bytes() == before


def test_config_file_is_used_and_flags_override_it(tmp_path):
    cfg = tmp_path / "lesson.toml"
    cfg.write_text(
        'seed = 9\n[classroom]\nstudents = 6\nminutes = 3\npresentation = "slides"\n'
        '[policy]\nname = "ecem"\nparams = { phi = 1 }\n'
    )
    out = tmp_path / "r"
    assert (
        main(["run", "--config", str(cfg), "--students", "4", "--out", str(out), "--quiet", "--recognizer", "oracle"])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 9 and summary["students"] == 4
    assert summary["config"]["classroom"]["presentation"] == "slides"
    assert summary["config"]["policy"] == {"name": "ecem", "params": {"phi": 1}}


def test_console_script_prints_the_summary_table(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vclass.cli",
            "run",
            "--students",
            "5",
            "--minutes",
            "2",
            "--recognizer",
            "oracle",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "share of student-time in the TEA" in proc.stdout and f"run folder: {out}" in proc.stdout


def test_bench_sim_quick_reports_positive_rates(capsys):
    assert main(["bench", "sim", "--quick"]) == 0
    text = capsys.readouterr().out
    assert "lessons/s" in text and "student-ticks/s" in text
    rows = [line for line in text.splitlines() if line.startswith("| sim |")]
    assert len(rows) == 4
    values = [float(r.split("|")[3].replace(",", "")) for r in rows]
    assert all(v > 0 for v in values)


def _confusion_file(tmp_path):
    import numpy as np

    path = tmp_path / "confusion.json"
    path.write_text(json.dumps({"confusion": (np.full((7, 7), 0.03) + np.eye(7) * 0.79).tolist()}))
    return path


def test_run_compares_with_none_and_writes_an_html_report_with_every_image(tmp_path):
    out = tmp_path / "cmp"
    code = main(
        [
            "run",
            "--students",
            "10",
            "--minutes",
            "6",
            "--recognizer",
            "surrogate",
            "--set",
            f"recognizer.confusion={_confusion_file(tmp_path)}",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    comparison = json.loads((out / "comparison.json").read_text())
    assert set(comparison) == {"ecem", "none"}
    assert comparison["none"]["interventions"] == 0 and comparison["ecem"]["interventions"] > 0
    for name in comparison:
        assert 0.4 < comparison[name]["recognition_accuracy"] <= 1 and 0 < comparison[name]["belief_accuracy"] <= 1
    page = (out / "report.html").read_text()
    images = re.findall(r"<img src='([^']+)'", page)
    assert "beliefs.png" in images and "compare-none/emotions.png" in images
    assert all((out / src).read_bytes()[:8] == PNG_MAGIC for src in images)
    recognitions = __import__("numpy").load(out / "recognitions.npz")
    assert recognitions["recognized"].shape == (36, 10)


README_EXAMPLE = re.compile(r"```python\n(# my_strategy\.py.*?)```", re.S)


def test_readme_designer_example_runs_with_vclass_run(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    code = README_EXAMPLE.search(readme).group(1)
    assert len(code.strip().splitlines()) <= 25
    (tmp_path / "my_strategy.py").write_text(code)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "designer"
    assert (
        main(
            [
                "run",
                "--policy",
                "my_strategy:GloomFirst",
                "--set",
                "policy.params.how_many=2",
                "--students",
                "8",
                "--minutes",
                "5",
                "--recognizer",
                "oracle",
                "--compare",
                "",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"] == "my_strategy:GloomFirst"
    assert 0 < summary["interventions_by_factor"]["fun"] <= 2 * 10 and summary["checkins"] > 0


def test_the_default_run_uses_the_fastest_cpu_path_and_says_which(tmp_path, capsys):
    from vclass.models.fastest import fastest_cpu_recognizer

    out = tmp_path / "fast"
    assert main(["run", "--students", "3", "--minutes", "0.5", "--compare", "", "--out", str(out)]) == 0
    expected = fastest_cpu_recognizer()
    run = json.loads((out / "run.json").read_text())
    assert run["recognition_path"]["backend"] == expected.backend
    assert run["recognition_path"]["model"] == str(expected.model_path)
    assert run["recognition_path"]["precision"] == expected.precision
    assert f"on {expected.backend} {expected.precision} ({expected.model_path.name})" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["recognition_path"] == run["recognition_path"]
    given = tmp_path / "given"
    assert (
        main(
            [
                "run",
                "--students",
                "3",
                "--minutes",
                "0.5",
                "--compare",
                "",
                "--backend",
                "onnxruntime",
                "--out",
                str(given),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((given / "run.json").read_text())["recognition_path"]["model"].endswith("scn-cs.onnx")


_EXIT_SCRIPT = """
import atexit, os, sys, threading, time
from vclass.cli import exit_now
class Garbage:  # freed by the interpreter's teardown, which the quick exit skips
    def __del__(self):
        os.write(1, b" teardown ran")
kept = Garbage()
atexit.register(lambda: print("exit handler ran"))
print("buffered, not yet flushed", end=" ")
if sys.argv[1] == "thread":  # a non-daemon thread still working: Python's own exit, which waits for it
    threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
exit_now(int(sys.argv[2]))
print("never reached")
"""


@pytest.mark.parametrize("code", [0, 2])
def test_the_quick_exit_runs_exit_handlers_flushes_and_keeps_the_status(code):
    proc = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, "plain", str(code)], capture_output=True, text=True)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "buffered, not yet flushed exit handler ran\n"  # and no teardown after it


def test_the_quick_exit_waits_for_a_thread_still_working():
    proc = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, "thread", "3"], capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert "thread finished" in proc.stdout and "exit handler ran" in proc.stdout
    assert proc.stdout.endswith(" teardown ran")  # Python's own exit, teardown and all
