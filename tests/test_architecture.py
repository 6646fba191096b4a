"""The package's shape: one vclass namespace, registration without heavy imports, the layering's local-import rule."""

from __future__ import annotations

import ast
import base64
import importlib.resources
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
BARE = ("sim", "models", "env", "agents", "experiments")


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", BARE)
def test_the_folders_bare_names_are_not_importable_from_a_neutral_folder(name, tmp_path):
    done = _python(f"import {name}", tmp_path)
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr
    assert _python(f"import vclass.{name}", tmp_path).returncode == 0


def test_import_vclass_registers_both_envs_without_importing_them_or_torch(tmp_path):
    code = (
        "import sys, gymnasium, vclass\n"
        "ids = {'vclass/Motivation-v0', 'vclass/Attention-v0'}\n"
        "assert ids <= set(gymnasium.registry), sorted(gymnasium.registry)\n"
        "heavy = [m for m in ('torch', 'stable_baselines3', 'vclass.env.motivation', 'vclass.sim.classroom') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr


def test_folders_named_env_models_and_sim_in_the_working_folder_change_nothing(tmp_path):
    for name in ("env", "models", "sim", "agents"):  # a virtualenv called env/, other projects' packages ...
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the wrong package')\n")
    (tmp_path / "env" / "bin").mkdir()  # ... or a bare virtualenv folder: a namespace package
    code = (
        "import gymnasium\n"
        "lesson = gymnasium.make('vclass:vclass/Motivation-v0', students=4, minutes=1)\n"  # no import needed
        "obs, _ = lesson.reset(seed=0)\n"
        "obs, reward, *_ = lesson.step(lesson.action_space.sample())\n"
        "import vclass\n"
        "assert gymnasium.make('vclass/Attention-v0', students=3).reset(seed=1)[0].shape == (7 + 17 * 3,)\n"
        "print(obs.shape[0], type(reward).__name__)\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(7 + 17 * 4), "float"]


@pytest.mark.slow
def test_the_shipped_artifacts_load_from_a_neutral_folder(tmp_path):
    code = (
        "import importlib.resources, numpy as np\n"
        "from vclass.agents.drl import shipped_policy\n"
        "from vclass.models.recognizer import load_recognizer\n"
        "from vclass.sim.config import SimConfig\n"
        "onnx = importlib.resources.files('vclass.models') / 'shipped' / 'scn-cs.onnx'\n"
        "probs, _ = load_recognizer(str(onnx)).predict(np.zeros((2, 64, 64), np.uint8))\n"
        "assert probs.shape == (2, 7)\n"
        "for name in ('ppo-motivation', 'ppo-attention'):\n"
        "    policy = shipped_policy(name, SimConfig())\n"
        "    print(name, policy.task, type(policy.model.policy).__module__)\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "ppo-motivation motivation vclass.agents.drl",  # PerStudentPolicy (the batched recipe)
        "ppo-attention attention vclass.agents.drl",
    ]


def _old_style_zip(source: Path, target: Path) -> None:
    """``source`` as written before the vclass namespace: its policy class pickled as ``agents.drl.StudentPolicy``."""
    old = base64.b64encode(
        b"\x80\x05\x95 \x00\x00\x00\x00\x00\x00\x00\x8c\nagents.drl\x94\x8c\rStudentPolicy\x94\x93\x94."
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(buf, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "data":
                parsed = json.loads(data)
                parsed["policy_class"][":serialized:"] = old.decode()
                parsed["policy_class"]["__module__"] = "agents.drl"
                data = json.dumps(parsed).encode()
            out.writestr(info, data)
    target.write_bytes(buf.getvalue())


def test_a_policy_zip_saved_before_the_namespace_still_loads_and_acts_the_same(tmp_path):
    from vclass.agents import SHIPPED_DIR
    from vclass.agents.drl import SB3Policy
    from vclass.sim.classroom import Observation

    old = tmp_path / "old-attention.zip"
    _old_style_zip(SHIPPED_DIR / "ppo-attention.zip", old)
    assert b"agents.drl" in zipfile.ZipFile(old).read("data")
    rng = np.random.default_rng(3)
    n = 12
    belief = rng.dirichlet(np.ones(8), n)
    obs = Observation(
        tick=30,
        t_seconds=300.0,
        segment="exercise",
        difficulty=0.6,
        belief=belief,
        attention=rng.random(n),
        present=np.ones(n, bool),
        connected=rng.random(n) < 0.9,
        camera_on=np.ones(n, bool),
        intensity=np.zeros((n, 4)),
        teacher_budget_left=10,
    )
    choices = []
    for path in (SHIPPED_DIR / "ppo-attention.zip", old):
        policy = SB3Policy(path)
        policy.reset(n, np.random.default_rng(0))
        choices.append(policy.act(obs).checkin)
    assert choices[0] == choices[1]


# -- the local-import rule ------------------------------------------------------------------------------------------
# Imports belong at module level; a function may import only what is heavy and optional to the code that imports
# it: the packages below (each over 0.3 s to import, or absent on some machines) and the project modules that import
# one of them at module level.
HEAVY = (
    "torch",
    "stable_baselines3",
    "onnx",
    "ray",
    "tensorrt",
    "openvino",
    "onnxruntime.quantization",  # imports onnx
    "sklearn",
    "hmmlearn",
    "matplotlib",
    "scipy",
    "tensorboard",
    "selenium",
    "cloudpickle",
    "numba",
)
PACKAGE_DIRS = {"vclass": REPO / "vclass", **{f"vclass.{name}": REPO / name for name in BARE}}


def _module_path(name: str) -> Path | None:
    parts = name.split(".")
    for depth in (2, 1):
        base = PACKAGE_DIRS.get(".".join(parts[:depth]))
        if base is None or len(parts) < depth:
            continue
        target = base.joinpath(*parts[depth:])
        for candidate in (target.with_suffix(".py"), target / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _is_heavy_package(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HEAVY)


def _module_level_imports(path: Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _heavy(name: str, seen: frozenset = frozenset()) -> bool:
    if _is_heavy_package(name):
        return True
    path = _module_path(name) if name.startswith("vclass") else None
    if path is None or name in seen:
        return False
    return any(_heavy(imported, seen | {name}) for imported in _module_level_imports(path))


def _local_imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    yield inner.lineno, [alias.name for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom) and inner.module:
                    yield inner.lineno, [inner.module] + [f"{inner.module}.{a.name}" for a in inner.names]


def test_function_local_imports_are_only_for_heavy_optional_dependencies():
    offenders = []
    for folder in (REPO / "vclass", *(REPO / name for name in BARE)):
        for path in sorted(folder.rglob("*.py")):
            if path.parent == REPO / "vclass" or folder != REPO / "vclass":
                for line, names in _local_imports(path):
                    if not any(_heavy(name) for name in names):
                        offenders.append(f"{path.relative_to(REPO)}:{line}: {names[0]}")
    assert not offenders, "imports that belong at module level:\n" + "\n".join(offenders)


def test_the_local_import_rule_sees_a_light_import_in_a_function(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import json\n    from vclass.models import nets\n")
    found = dict(_local_imports(probe))
    assert not any(map(_heavy, found[2])) and any(map(_heavy, found[3]))  # json is light; models.nets imports torch


def test_vclass_help_imports_no_command(tmp_path):
    code = (
        "import sys, contextlib, io\nfrom vclass.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit as e:\n        assert e.code == 0\n"
        "loaded = [m for m in sys.modules if m.startswith('vclass.experiments.') or m in ('torch', 'matplotlib')]\n"
        "assert not loaded, loaded\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr


def test_package_data_is_found_through_importlib_resources():
    assert (importlib.resources.files("vclass.models") / "shipped" / "scn-cs.onnx").is_file()
    assert (importlib.resources.files("vclass.agents") / "shipped" / "ppo-motivation.zip").is_file()
    assert (importlib.resources.files("vclass.experiments") / "specs" / "s0-2x2.toml").is_file()
