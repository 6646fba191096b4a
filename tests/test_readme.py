"""Every Python snippet of the README runs as written, from a folder of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def _fer2013_csv(path: Path) -> None:
    """A few rows in FER2013's format (``emotion,pixels,Usage``, 48x48 gray levels), for the loader's snippet."""
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i, usage in enumerate(["Training"] * 4 + ["PublicTest"] * 2 + ["PrivateTest"] * 2):
        rows.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    path.write_text("\n".join(rows) + "\n")


def test_the_readme_has_its_snippets():
    assert len(SNIPPETS) >= 4
    assert all("import sim" not in s and "from sim." not in s and "import env" not in s for s in SNIPPETS)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_a_readme_snippet_runs_as_written(index, tmp_path):
    code = SNIPPETS[index]
    if "fer2013.csv" in code:
        _fer2013_csv(tmp_path / "fer2013.csv")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"snippet {index}:\n{code}\n{done.stderr[-3000:]}"
