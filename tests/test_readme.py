"""Every Python snippet of the README and of the manual's pages (docs/) runs as written, from a folder of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _snippets(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), re.S)


# (page, its n-th snippet, the code): a failure names where the snippet is
SNIPPETS = [(page.relative_to(REPO).as_posix(), n, code) for page in PAGES for n, code in enumerate(_snippets(page))]


def _fer2013_csv(path: Path) -> None:
    """A few rows in FER2013's format (``emotion,pixels,Usage``, 48x48 gray levels), for the loader's snippet."""
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i, usage in enumerate(["Training"] * 4 + ["PublicTest"] * 2 + ["PrivateTest"] * 2):
        rows.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 48 * 48)))},{usage}")
    path.write_text("\n".join(rows) + "\n")


def test_the_readme_and_the_manual_have_their_snippets():
    pages = {page for page, _, _ in SNIPPETS}
    assert "README.md" in pages and len(SNIPPETS) >= 6
    assert {"docs/environments.md", "docs/recognition.md", "docs/lessons.md"} <= pages
    codes = [code for _, _, code in SNIPPETS]
    assert all("import sim" not in c and "from sim." not in c and "import env" not in c for c in codes)


@pytest.mark.slow
@pytest.mark.parametrize(("page", "n", "code"), SNIPPETS, ids=[f"{page}:{n}" for page, n, _ in SNIPPETS])
def test_a_snippet_runs_as_written(page, n, code, tmp_path):
    if "fer2013.csv" in code:
        _fer2013_csv(tmp_path / "fer2013.csv")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{page}, snippet {n}:\n{code}\n{done.stderr[-3000:]}"
