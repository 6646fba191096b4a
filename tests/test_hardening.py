"""Bad input gets one clear line and exit status 2; outputs are whole or absent (issue: hardening).

One test (or a parametrized family) per class of failure: the first command, tracebacks instead of one line,
checks made too late, bad input accepted silently, a CI check that passes on nothing, run and sweep folders that
lie, messages that blame the wrong field; then generated garbage (hypothesis) against the config loader, the
confusion loader, the action guard and the environments' ``step``. Kills and concurrency use real processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vclass.agents.registry import GuardedPolicy, make_policy
from vclass.cli import COMMANDS, main
from vclass.config import ConfigError
from vclass.env.classroom_env import InvalidAction
from vclass.env.motivation import MotivationEnv
from vclass.experiments.lesson.config import run_config_from_dict
from vclass.models.surrogate import SurrogateRecognizer
from vclass.sim.classroom import Action, Observation, check_action

REPO = Path(__file__).resolve().parent.parent
QUICK = ["--recognizer", "oracle", "--students", "4", "--minutes", "1", "--quiet"]

DESIGNER = """
import numpy as np
from vclass.sim.classroom import Action


class Quiet:
    def reset(self, n, rng):
        self.n = n

    def act(self, obs):
        return Action.nothing(obs.n_students)


class RaisesInInit(Quiet):
    def __init__(self):
        raise RuntimeError("no config for me")


class RaisesInReset(Quiet):
    def reset(self, n, rng):
        raise KeyError("lost my list")


class RaisesInAct(Quiet):
    def act(self, obs):
        return 1 / 0


class WrongShape(Quiet):
    def act(self, obs):
        return Action(np.zeros((obs.n_students, 1), dtype=np.int64))


class FloatFactors(Quiet):
    def act(self, obs):
        return Action(np.full(obs.n_students, 1.0))


class OutOfRange(Quiet):
    def act(self, obs):
        return Action(np.full(obs.n_students, 7))


class FloatCheckin(Quiet):
    def act(self, obs):
        return Action(np.zeros(obs.n_students, dtype=np.int64), 1.7)


class ReturnsNone(Quiet):
    def act(self, obs):
        return None


class Slow(Quiet):
    def reset(self, n, rng):
        import time
        time.sleep(0.5)
"""


@pytest.fixture
def designer(tmp_path, monkeypatch):
    """A designer's working folder with a module of strategies (and a module that does not compile)."""
    (tmp_path / "strat.py").write_text(DESIGNER)
    (tmp_path / "broken.py").write_text("def strategy(:\n    pass\n")
    (tmp_path / "needs.py").write_text("import a_package_nobody_installed\n")
    monkeypatch.chdir(tmp_path)
    for name in ("strat", "broken", "needs"):
        sys.modules.pop(name, None)
    return tmp_path


def _at_lines(text: str) -> str:
    """``text`` with each ``{code}`` replaced by the line number of that code in :data:`DESIGNER`."""
    lines = DESIGNER.splitlines()
    while "{" in text:
        start, end = text.index("{"), text.index("}")
        code = text[start + 1 : end]
        text = text[:start] + str(next(i for i, line in enumerate(lines, 1) if code in line)) + text[end + 1 :]
    return text


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vclass.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


# -- the first command --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_the_top_level_help_works(flag):
    done = _cli(flag)
    assert done.returncode == 0 and "run" in done.stdout and "95% CIs" in done.stdout, done.stderr


def test_every_command_has_a_working_help():
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0, name


# -- tracebacks instead of one line ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["folder", "binary", "missing", "bad-toml"])
def test_an_unreadable_config_or_spec_file_is_one_line(kind, tmp_path, capsys):
    path = tmp_path / "cfg.toml"
    if kind == "folder":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81 not text")
    elif kind == "bad-toml":
        path.write_text("[classroom\nstudents = 3\n")
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "o"), *QUICK]) == 2
    assert "--config" in _one_line(capsys)
    assert main(["sweep", str(path), "--out", str(tmp_path / "s"), "--quiet"]) == 2
    assert "SPEC" in _one_line(capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "strategy, fragment",
    [
        ("strat:RaisesInInit", "__init__() raised RuntimeError: no config for me (at strat.py:{raise RuntimeError})"),
        ("strat:RaisesInReset", "reset() raised KeyError: 'lost my list' (at strat.py:{raise KeyError})"),
        ("strat:RaisesInAct", "act() raised ZeroDivisionError: division by zero (at strat.py:{return 1 / 0})"),
        ("strat:WrongShape", "invalid action at tick 0: action.incentives must be an integer array of shape (4,)"),
        ("strat:FloatFactors", "action.incentives must be an integer array of shape (4,), got float64"),
        ("strat:OutOfRange", "action.incentives must be in 0..4, got 0..7"),
        ("strat:FloatCheckin", "action.checkin must be an integer, -1 or a student index, got 1.7"),
        ("strat:ReturnsNone", "act() must return an Action(incentives, checkin), got NoneType"),
        ("broken:strategy", "import raised SyntaxError"),
        ("needs:X", "import raised ModuleNotFoundError: No module named 'a_package_nobody_installed' (at needs.py:1)"),
        ("strat:Missing", "module 'strat' has no 'Missing'"),
        ("nomodule:X", "no module 'nomodule'"),
    ],
)
def test_a_designer_strategy_that_fails_is_one_line_naming_its_file_and_line(designer, capsys, strategy, fragment):
    out = designer / "out"
    assert main(["run", "--policy", strategy, "--compare", "", "--out", str(out), *QUICK]) == 2
    err = _one_line(capsys)
    assert _at_lines(fragment) in err, err
    assert not out.exists()


def test_a_sweep_records_a_designer_error_at_the_designers_line(designer, capsys):
    (designer / "confusion.json").write_text(json.dumps({"confusion": np.eye(7).tolist()}))
    spec = designer / "spec.toml"
    spec.write_text(
        'name = "t"\nseeds = 2\n[base]\nrecognizer = { kind = "surrogate", confusion = "confusion.json" }\n'
        'classroom = { students = 4, minutes = 1 }\n[[policies]]\nname = "none"\n'
        '[[policies]]\nname = "strat:RaisesInAct"\n'
    )
    assert main(["sweep", str(spec), "--workers", "1", "--out", str(designer / "sw"), "--quiet", "--no-report"]) == 1
    rows = [json.loads(line) for line in (designer / "sw" / "journal.jsonl").read_text().splitlines()]
    errors = [r["error"] for r in rows if r["status"] == "error"]
    where = _at_lines("(at strat.py:{return 1 / 0})")
    assert len(errors) == 2 and all(where in e and "core.py" not in e for e in errors)


@pytest.mark.parametrize("where", ["file", "under-file", "dev-null"])
def test_an_output_path_that_cannot_be_a_folder_is_refused_before_the_lesson(where, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    out = {"file": tmp_path / "afile", "under-file": tmp_path / "afile" / "run", "dev-null": Path("/dev/null")}[where]
    start = time.perf_counter()
    assert main(["run", "--out", str(out), "--recognizer", "surrogate", "--students", "300", "--quiet"]) == 2
    assert "--out" in _one_line(capsys)
    assert time.perf_counter() - start < 20  # refused up front, not after a 300-student lesson
    assert (tmp_path / "afile").read_text() == "mine"


def test_a_policy_zip_that_is_not_one_or_is_for_the_other_task_is_refused(tmp_path, capsys):
    fake = tmp_path / "model.zip"
    fake.write_text("not a zip")
    assert (
        main(
            [
                "run",
                "--policy",
                "ppo-motivation",
                "--set",
                f"policy.params.path={fake}",
                "--out",
                str(tmp_path / "o"),
                *QUICK,
            ]
        )
        == 2
    )
    assert "is not a policy zip" in _one_line(capsys)
    attention = REPO / "agents" / "shipped" / "ppo-attention.zip"
    assert (
        main(
            [
                "run",
                "--policy",
                "ppo-motivation",
                "--set",
                f"policy.params.path={attention}",
                "--out",
                str(tmp_path / "o"),
                *QUICK,
            ]
        )
        == 2
    )
    assert "is a policy for the attention task; ppo-motivation needs one for the motivation task" in _one_line(capsys)


# -- checked too late, accepted silently: recognizers and confusion matrices ----------------------------------------
def _onnx_model(path: Path, size: int = 64, classes: int = 7, nan: bool = False) -> Path:
    """A small ONNX recognizer with vclass's input and output names: a linear layer then softmax / sigmoid."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([-1, size * size], np.int64), "shape"),
        numpy_helper.from_array((rng.normal(size=(size * size, classes)) * 0.01).astype(np.float32), "w1"),
        numpy_helper.from_array((rng.normal(size=(size * size, 3)) * 0.01).astype(np.float32), "w2"),
        numpy_helper.from_array(np.array([np.nan if nan else 1.0], np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("Reshape", ["frames", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w1"], ["logits"]),
        helper.make_node("Mul", ["logits", "scale"], ["scaled"]),
        helper.make_node("Softmax", ["scaled"], ["expression_probs"], axis=1),
        helper.make_node("MatMul", ["flat", "w2"], ["attr"]),
        helper.make_node("Sigmoid", ["attr"], ["attribute_probs"]),
    ]
    graph = helper.make_graph(
        nodes,
        "probe",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", 1, size, size])],
        [
            helper.make_tensor_value_info("expression_probs", TensorProto.FLOAT, ["batch", classes]),
            helper.make_tensor_value_info("attribute_probs", TensorProto.FLOAT, ["batch", 3]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    "settings_, fragment",
    [
        ({"size": 64}, None),  # the probe model itself is fine
        ({"size": 32}, "frames.size: the recognizer"),
        ({"classes": 5}, "gives expression outputs of shape (2, 5) for 2 frames"),
        ({"nan": True}, "its expression outputs are not probabilities"),
    ],
)
def test_a_recognizer_that_does_not_fit_the_frames_is_refused_before_any_lesson(settings_, fragment, tmp_path, capsys):
    model = _onnx_model(tmp_path / "m.onnx", **settings_)
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--set",
            f"recognizer.model={model}",
            "--students",
            "3",
            "--minutes",
            "0.5",
            "--compare",
            "",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    if fragment is None:
        assert code == 0 and (out / "summary.json").exists()
        return
    assert code == 2 and fragment in _one_line(capsys) and not out.exists()
    if "frames.size" not in fragment:  # eval-recognizer refuses the same models
        assert main(["eval-recognizer", str(model), "--faces", "20", "--out", str(tmp_path / "e")]) == 2
        assert fragment in _one_line(capsys)


def test_frames_that_the_shipped_recognizer_cannot_read_are_refused_in_run_and_sweep(tmp_path, capsys):
    assert main(["run", "--set", "frames.size=16", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "frames.size: the recognizer" in _one_line(capsys)
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "t"\nseeds = 2\n[base]\nclassroom = { students = 3, minutes = 1 }\n'
        '[grid]\nframes.size = [64, 16]\n[[policies]]\nname = "none"\n'
    )
    assert main(["sweep", str(spec), "--out", str(tmp_path / "sw"), "--quiet"]) == 2
    assert "grid.frames.size: level 16: the recognizer" in _one_line(capsys)
    assert not (tmp_path / "sw" / "journal.jsonl").exists()


@pytest.mark.parametrize(
    "content, fragment",
    [
        ({"confusion": np.eye(3).tolist()}, "must be 7x7"),
        ({"confusion": np.eye(8).tolist()}, "must be 7x7"),
        ({"confusion": [[float("nan")] * 7] + np.eye(7)[1:].tolist()}, "confusion[0][0] must be a probability"),
        ({"confusion": [[float("inf")] + [0.0] * 6] + np.eye(7)[1:].tolist()}, "row 0 must sum to 1"),
        ({"confusion": [[0.0] * 7] + np.eye(7)[1:].tolist()}, "row 0 must sum to 1"),
        ({"confusion": [[-0.5, 1.5] + [0.0] * 5] + np.eye(7)[1:].tolist()}, "confusion[0][0] must be a probability"),
        (
            {"confusion": np.eye(7).tolist(), "attributes": {"yawning": {"hit_rate": 2.0}}},
            "yawning.hit_rate must be a probability in [0, 1], got 2.0",
        ),
        ({"confusion": "identity"}, "confusion must be numbers"),
        ([1, 2, 3], "not a confusion file"),
    ],
)
def test_a_confusion_file_that_is_not_a_confusion_is_refused(content, fragment, tmp_path, capsys):
    path = tmp_path / "confusion.json"
    path.write_text(json.dumps(content))
    out = tmp_path / "o"
    assert (
        main(
            [
                "run",
                "--recognizer",
                "surrogate",
                "--set",
                f"recognizer.confusion={path}",
                "--out",
                str(out),
                "--students",
                "3",
                "--minutes",
                "1",
                "--quiet",
            ]
        )
        == 2
    )
    assert fragment in _one_line(capsys) and not out.exists()


# -- accepted silently: environments' actions, degenerate lessons ---------------------------------------------------
@pytest.fixture(scope="module")
def lesson_env():
    env = MotivationEnv(students=4, minutes=2, recognizer="surrogate")
    env.reset(seed=0)
    return env


@pytest.mark.parametrize(
    "action",
    [
        np.full(4, 1.5),
        np.ones(4, dtype=bool),
        np.ones((4, 1), dtype=np.int64),
        np.array([np.nan] * 4),
        None,
        "fun",
        ["a", "b", "c", "d"],
        np.arange(5),
        np.array([0, 1, 2, 5]),
        np.array([-1, 0, 0, 0]),
        3.0,
    ],
)
def test_the_motivation_env_refuses_an_action_outside_its_space_and_changes_nothing(lesson_env, action):
    if lesson_env.lesson.done:
        lesson_env.reset(seed=1)
    room = lesson_env.lesson.room
    before = (room.tick_index, len(room.record.applications), room.teacher_budget_left)
    with pytest.raises(InvalidAction, match="action"):
        lesson_env.step(action)
    assert (room.tick_index, len(room.record.applications), room.teacher_budget_left) == before
    lesson_env.step(np.zeros(4, dtype=np.int64))  # the env still works


@pytest.mark.parametrize("action", [1.5, True, np.array([1, 2]), "3", None, 5, -1, np.float64(2.0)])
def test_the_attention_env_refuses_an_action_outside_its_space(action):
    import gymnasium

    import vclass  # noqa: F401

    env = gymnasium.make("vclass/Attention-v0", students=4, minutes=1).unwrapped
    env.reset(seed=0)
    with pytest.raises(InvalidAction):
        env.step(action)
    env.step(np.int64(2))
    env.step(np.array(0))


def test_a_lesson_nobody_attends_writes_valid_json_with_null_and_the_reason(tmp_path):
    out = tmp_path / "empty"
    assert (
        main(
            [
                "run",
                "--recognizer",
                "surrogate",
                "--students",
                "5",
                "--minutes",
                "1",
                "--quiet",
                "--out",
                str(out),
                "--set",
                "classroom.late_join_prob=1",
                "--set",
                "classroom.late_join_max_minutes=600",
            ]
        )
        == 0
    )

    def refuse(constant: str) -> None:
        pytest.fail(f"a JSON file holds {constant}")

    for path in out.rglob("*.json"):
        json.loads(path.read_text(), parse_constant=refuse)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tea_share"] is None and summary["undefined"]["tea_share"] == "no student was ever present"
    assert summary["mean_attention"] is None and "connected" in summary["undefined"]["mean_attention"]


# -- regress cannot pass on nothing ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def baseline():
    return json.loads((REPO / "experiments" / "baselines" / "regress.json").read_text())


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda b: b.update(measures=[]), "measures must be a non-empty list"),
        (lambda b: b.update(measures=b["measures"][:5]), "55 missing"),
        (lambda b: b["measures"].append({**b["measures"][0], "cell": "elsewhere"}), "1 not in the spec"),
        (lambda b: b["measures"].append(dict(b["measures"][0])), "1 given twice"),
        (lambda b: b["measures"][0].update(mean="0.5"), "measures[0].mean must be a finite number"),
        (lambda b: b.update(sigmas="x"), "sigmas must be a number"),
        (lambda b: b.update(spec_fingerprint=3), "no spec_fingerprint"),
        (lambda b: b.clear() or b.update(x=1), "no spec_fingerprint"),
    ],
)
def test_a_baseline_that_does_not_cover_the_spec_exactly_is_refused(baseline, change, fragment, tmp_path, capsys):
    data = json.loads(json.dumps(baseline))
    change(data)
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(data))
    spec = REPO / "experiments" / "specs" / "regress.toml"
    assert main(["regress", str(spec), "--baseline", str(path)]) == 2
    assert fragment in _one_line(capsys)


def test_a_baseline_that_is_a_folder_or_not_json_is_refused(tmp_path, capsys):
    spec = REPO / "experiments" / "specs" / "regress.toml"
    assert main(["regress", str(spec), "--baseline", str(tmp_path)]) == 2
    assert "is a folder" in _one_line(capsys)
    (tmp_path / "b.json").write_text("{not json")
    assert main(["regress", str(spec), "--baseline", str(tmp_path / "b.json")]) == 2
    assert "is not a JSON file" in _one_line(capsys)


# -- run folders are whole or absent --------------------------------------------------------------------------------
def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def earlier_run(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--seed", "1", "--out", str(out), *QUICK]) == 0
    return out


@pytest.mark.slow
def test_a_killed_run_leaves_the_earlier_folder_untouched(earlier_run):
    before = _hashes(earlier_run)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vclass.cli",
            "run",
            "--out",
            str(earlier_run),
            "--recognizer",
            "surrogate",
            "--students",
            "400",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(earlier_run.parent.glob(".run.building-*")):
        time.sleep(0.01)
    time.sleep(0.3)
    proc.kill()
    proc.wait(timeout=30)
    assert _hashes(earlier_run) == before
    assert main(["run", "--seed", "2", "--out", str(earlier_run), *QUICK]) == 0  # the next writer cleans up
    assert not list(earlier_run.parent.glob(".run.*")) and _hashes(earlier_run) != before


def test_a_failing_comparison_leaves_the_earlier_folder_untouched(earlier_run, designer, capsys):
    before = _hashes(earlier_run)
    assert main(["run", "--compare", "strat:RaisesInAct", "--out", str(earlier_run), *QUICK]) == 2
    _one_line(capsys)
    assert _hashes(earlier_run) == before


def test_a_run_replaces_the_earlier_folder_whole(earlier_run):
    assert (earlier_run / "compare-none" / "summary.json").exists()
    assert main(["run", "--compare", "", "--out", str(earlier_run), *QUICK]) == 0
    assert not (earlier_run / "compare-none").exists()  # no stale comparison from the earlier run
    assert set(json.loads((earlier_run / "comparison.json").read_text())) == {"ecem"}


@pytest.mark.slow
def test_a_second_writer_of_the_same_run_folder_is_refused(tmp_path):
    out = tmp_path / "both"
    args = [
        sys.executable,
        "-m",
        "vclass.cli",
        "run",
        "--out",
        str(out),
        "--recognizer",
        "surrogate",
        "--students",
        "200",
        "--quiet",
    ]
    first = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp_path / ".both.lock").exists():
        time.sleep(0.01)
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert first.wait(timeout=120) == 0
    assert second.returncode == 2 and "another vclass command" in second.stderr
    assert second.stderr.count("\n") == 1
    assert {p.name for p in out.iterdir()} >= {"summary.json", "comparison.json", "report.html", "compare-none"}


# -- sweep folders --------------------------------------------------------------------------------------------------
def _spec(
    folder: Path, measures: str = '["tea_share", "mean_attention"]', reference: str = "none", policy: str = "ecem"
) -> Path:
    (folder / "confusion.json").write_text(json.dumps({"confusion": np.eye(7).tolist()}))
    spec = folder / "spec.toml"
    spec.write_text(
        f'name = "t"\nseeds = 3\nreference = "{reference}"\nmeasures = {measures}\n[base]\n'
        'recognizer = {{ kind = "surrogate", confusion = "confusion.json" }}\n'
        'classroom = {{ students = 4, minutes = 1 }}\n[[policies]]\nname = "none"\n'
        f'[[policies]]\nname = "{policy}"\n'.replace("{{", "{").replace("}}", "}")
    )
    return spec


def _sweep(spec: Path, out: Path, *extra: str) -> int:
    return main(["sweep", str(spec), "--workers", "1", "--out", str(out), "--quiet", *extra])


def test_a_resumed_sweep_rebuilds_a_deleted_table_and_ignores_rows_that_are_not_its_own(tmp_path, capsys):
    spec, out = _spec(tmp_path), tmp_path / "sw"
    assert _sweep(spec, out, "--no-report") == 0
    table = (out / "results.csv").read_text()
    (out / "results.parquet").unlink()
    (out / "results.csv").unlink()
    rows = (out / "journal.jsonl").read_text().splitlines()
    foreign = json.loads(rows[0]) | {"run_id": "not-of-this-sweep", "tea_share": 9.0}
    with (out / "journal.jsonl").open("a") as fh:
        fh.write("42\n{}\n[1, 2]\n" + json.dumps(foreign) + "\n")
    capsys.readouterr()
    assert _sweep(spec, out, "--no-report") == 0
    err = capsys.readouterr().err
    assert "3 lines are not results rows" in err and "1 rows belong to no run of this sweep" in err
    assert (out / "results.csv").read_text() == table and (out / "results.parquet").exists()


def test_changed_report_settings_on_resume_are_applied_and_said(tmp_path, capsys):
    out = tmp_path / "sw"
    assert _sweep(_spec(tmp_path), out) == 0
    capsys.readouterr()
    assert _sweep(_spec(tmp_path, measures='["learning_gain"]', reference="ecem"), out) == 0
    err = capsys.readouterr().err
    assert "report settings changed" in err and "'learning_gain'" in err
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["measures"] == ["learning_gain"] and meta["reference"] == "ecem"
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["measures"] == ["learning_gain"] and report["reference"] == "ecem"


@pytest.mark.slow
def test_an_interrupted_fresh_start_leaves_nothing_of_the_old_sweep(designer, tmp_path):
    out = tmp_path / "sw"
    assert _sweep(_spec(designer), out) == 0
    assert (out / "report" / "index.html").exists()
    spec = _spec(designer, policy="strat:Slow")
    (out / "old-sweep-marker").touch()  # (a new journal may reuse the old one's inode, so mark the old folder)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vclass.cli",
            "sweep",
            str(spec),
            "--workers",
            "1",
            "--out",
            str(out),
            "--fresh",
            "--quiet",
        ],
        cwd=designer,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the new sweep has begun its journal
        journal = out / "journal.jsonl"
        if not (out / "old-sweep-marker").exists() and journal.exists() and journal.stat().st_size:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert time.monotonic() < deadline, "the fresh sweep never began its journal"
    assert not (out / "report").exists() and not list(tmp_path.glob(".sw.*"))


@pytest.mark.slow
def test_a_second_sweep_into_the_same_folder_is_refused_and_workers_die_with_a_killed_sweep(designer, tmp_path):
    spec, out = _spec(designer, policy="strat:Slow"), tmp_path / "sw"
    args = [
        sys.executable,
        "-m",
        "vclass.cli",
        "sweep",
        str(spec),
        "--workers",
        "2",
        "--chunk",
        "1",
        "--out",
        str(out),
        "--quiet",
        "--no-report",
    ]
    first = subprocess.Popen(args, cwd=designer, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / "journal.jsonl").exists():
        time.sleep(0.02)
    second = subprocess.run(args, cwd=designer, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and "another vclass command" in second.stderr, second.stderr
    children = [
        int(p) for p in subprocess.run(["pgrep", "-P", str(first.pid)], capture_output=True, text=True).stdout.split()
    ]
    assert children  # its worker processes
    first.kill()  # the sweep alone, not its process group
    first.wait(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.1)
    assert not any(
        Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
        for pid in children
    )


def test_a_ray_address_nothing_listens_at_fails_fast_with_one_line(tmp_path, capsys):
    pytest.importorskip("ray")
    start = time.perf_counter()
    assert (
        main(
            [
                "sweep",
                str(_spec(tmp_path)),
                "--executor",
                "ray",
                "--address",
                "127.0.0.1:1",
                "--out",
                str(tmp_path / "sw"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "nothing answers at 127.0.0.1:1" in _one_line(capsys) and time.perf_counter() - start < 15


# -- messages that blame the wrong field ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "setting, fragment",
    [
        ("emotion.same_category_prob=0", "emotion.same_category_prob: stay_prob + 3*same_category_prob"),
        ("emotion.other_category_prob=0.1", "emotion.other_category_prob:"),
        ("emotion.tea_high=0.5", "emotion.tea_high: tea_low (0.6) must be < tea_high (0.5)"),
        ("classroom.tick_seconds=7", "classroom.tick_seconds: decision_seconds (30)"),
        ("students.fatigue_max=0.1", "students.fatigue_max: fatigue_min (0.5) must be <= fatigue_max (0.1)"),
        ("behaviour.look_away_scale=0", "behaviour.look_away_scale: must be a number > 0"),
        ("classroom.connection_drop_prob=1", "classroom.connection_drop_prob: must be a number >= 0 and < 1"),
        ("classroom.camera_off_prob=1", "classroom.camera_off_prob: must be a number >= 0 and < 1"),
    ],
)
def test_a_broken_rule_names_the_field_the_user_set(setting, fragment, tmp_path, capsys):
    assert main(["run", "--set", setting, "--out", str(tmp_path / "o"), *QUICK]) == 2
    assert fragment in _one_line(capsys)


def test_settings_at_the_edge_of_their_ranges_run_without_numeric_warnings(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            main(
                [
                    "run",
                    "--recognizer",
                    "surrogate",
                    "--students",
                    "4",
                    "--minutes",
                    "2",
                    "--quiet",
                    "--set",
                    "behaviour.look_away_scale=0.001",
                    "--set",
                    "classroom.connection_drop_prob=0.999",
                    "--out",
                    str(tmp_path / "o"),
                ]
            )
            == 0
        )


# -- generated garbage ----------------------------------------------------------------------------------------------
SECTIONS = (
    "seed",
    "policy",
    "recognizer",
    "classroom",
    "lesson",
    "emotion",
    "incentives",
    "students",
    "attention",
    "behaviour",
    "learning",
    "frames",
    "colour",
)
FIELDS = (
    "students",
    "minutes",
    "kind",
    "name",
    "params",
    "stay_prob",
    "size",
    "segments",
    "share",
    "tea_low",
    "profiles",
    "targets",
    "presentation",
    "backend",
    "rate",
    "colour",
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["scn-cs", "oracle", "video", "ecem", "lecture"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=9) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4),
    max_leaves=25,
)
configs = st.dictionaries(st.sampled_from(SECTIONS), values, max_size=5)
GARBAGE = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@GARBAGE
@given(configs)
def test_the_config_loader_answers_garbage_with_a_config_error(data):
    try:
        run_config_from_dict(data)
    except ConfigError as err:
        assert err.field and err.message
        assert "\n" not in str(err)


@GARBAGE
@given(st.one_of(values, st.dictionaries(st.sampled_from(["confusion", "attributes"]), values)))
def test_the_confusion_loader_answers_garbage_with_a_value_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("c") / "confusion.json"
    path.write_text(json.dumps(content, allow_nan=True))
    try:
        surrogate = SurrogateRecognizer.from_file(path)
    except ValueError as err:
        assert str(path) in str(err)
    else:
        assert np.allclose(surrogate.confusion.sum(axis=1), 1.0) and (surrogate.confusion >= 0).all()


def _observation(n: int = 4) -> Observation:
    return Observation(
        tick=3,
        t_seconds=30.0,
        segment="lecture",
        difficulty=0.5,
        belief=np.full((n, 8), 1 / 8),
        attention=np.full(n, 0.5),
        present=np.ones(n, bool),
        connected=np.ones(n, bool),
        camera_on=np.ones(n, bool),
        intensity=np.zeros((n, 4)),
        teacher_budget_left=3,
    )


class _Returns:
    def __init__(self, action):
        self.action = action

    def reset(self, n, rng):
        pass

    def act(self, obs):
        return self.action


arrays = st.one_of(
    st.lists(st.integers(-3, 8), min_size=0, max_size=6).map(np.array),
    st.lists(st.floats(allow_nan=True), min_size=4, max_size=4).map(np.array),
    st.lists(st.booleans(), min_size=4, max_size=4).map(np.array),
    st.lists(st.integers(0, 4), min_size=4, max_size=4).map(lambda v: np.array(v, dtype=np.int8)),
    st.lists(st.integers(0, 4), min_size=4, max_size=4).map(lambda v: np.array(v).reshape(4, 1)),
    st.lists(st.integers(0, 4), min_size=4, max_size=4),
)
checkins = st.one_of(
    st.integers(-3, 6),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=2),
    st.integers(-1, 3).map(np.int64),
)


@GARBAGE
@given(st.one_of(st.builds(Action, arrays, checkins), scalars))
def test_the_action_guard_passes_valid_actions_and_names_the_strategy_for_the_rest(action):
    guarded = GuardedPolicy(_Returns(action), "mine:Strategy")
    guarded.reset(4, np.random.default_rng(0))
    try:
        result = guarded.act(_observation())
    except ConfigError as err:
        assert err.field == "policy mine:Strategy" and "\n" not in str(err)
    else:
        factors, checkin = check_action(result, 4)
        assert factors.shape == (4,) and factors.min() >= 0 and factors.max() <= 4 and -1 <= checkin < 4


@GARBAGE
@given(st.one_of(arrays, scalars, checkins))
def test_the_env_step_answers_garbage_with_invalid_action_and_changes_nothing(lesson_env, action):
    if lesson_env.lesson.done:
        lesson_env.reset(seed=1)
    room = lesson_env.lesson.room
    before = (room.tick_index, len(room.record.applications), room.teacher_budget_left, room.boost.sum())
    try:
        lesson_env.step(action)
    except InvalidAction as err:
        assert "action" in str(err)
        assert (room.tick_index, len(room.record.applications), room.teacher_budget_left, room.boost.sum()) == before


def test_a_built_in_policy_is_not_wrapped_and_a_designers_is(designer):
    assert not isinstance(make_policy("ecem"), GuardedPolicy)
    assert isinstance(make_policy("strat:Quiet"), GuardedPolicy)
