"""MkDocs hooks: result tables read from the files that vclass's commands write, at build time.

Markdown files are included with ``pymdownx.snippets`` (``--8<-- "experiments/results/ablation/ablation.md"``).
Two kinds of result are not a whole Markdown file, and a page names them with a marker line instead:

* ``<!-- section: FILE | HEADING -->`` puts in the body of the section ``HEADING`` of the Markdown file ``FILE``
  (up to the next heading of the same or a higher level), e.g. the measured part of a model card;
* ``<!-- face-ceiling: FILE -->`` puts in the table of a ``vclass face-ceiling --out FILE`` result.

A result file whose first line is ``<!-- placeholder: regenerate with COMMAND -->`` holds numbers copied from an
earlier manual, not yet written by the command; the page shows a warning with that command above the table.

Paths are taken from the repository root (the folder of ``mkdocs.yml``). A missing file or section stops the build.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

SECTION = re.compile(r"^<!-- section: (?P<file>[^|]+?) \| (?P<heading>.+?) -->$", re.M)
FACE_CEILING = re.compile(r"^<!-- face-ceiling: (?P<file>.+?) -->$", re.M)
PLACEHOLDER = re.compile(r"<!-- placeholder: regenerate with (?P<command>.+?) -->")


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def section_body(path: Path, heading: str) -> str:
    """The lines under ``heading`` in the Markdown file ``path``, up to the next heading of its level or higher."""
    lines = path.read_text(encoding="utf-8").splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    try:
        start = lines.index(heading) + 1
    except ValueError:
        raise PluginError(f"{path}: no heading {heading!r}") from None
    end = start
    in_fence = False
    while end < len(lines):
        line = lines[end]
        if line.startswith("```"):
            in_fence = not in_fence
        marks = len(line) - len(line.lstrip("#"))
        if not in_fence and 0 < marks <= level and line[marks : marks + 1] == " ":
            break
        end += 1
    return "\n".join(lines[start:end]).strip("\n")


def face_ceiling_table(path: Path) -> str:
    """The ceilings of a ``vclass face-ceiling`` JSON result as a Markdown table, by intensity and over all faces."""
    result = json.loads(path.read_text(encoding="utf-8"))
    oracle, bound = result["template_oracle"], result["resting_face_bound"]
    lines = ["| intensity | faces | template oracle | resting-face bound |", "|---|---|---|---|"]
    for name, cell in oracle["top1_by_intensity"].items():
        low, high = name.split("-")
        limit = bound["top1_by_intensity"][name]["top1"]
        lines.append(f"| {low}–{high} | {cell['n']:,} | {cell['top1']:.1%} | {limit:.1%} |")
    lines.append(f"| all | {result['n']:,} | {oracle['top1']:.1%} | **{bound['top1']:.1%}** |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    root = _root(config)

    def file_of(match: re.Match[str]) -> Path:
        path = root / match["file"].strip()
        if not path.is_file():
            raise PluginError(f"{page.file.src_path}: {match['file'].strip()} does not exist")
        return path

    markdown = SECTION.sub(lambda m: section_body(file_of(m), m["heading"].strip()), markdown)
    return FACE_CEILING.sub(lambda m: face_ceiling_table(file_of(m)), markdown)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    def warning(match: re.Match[str]) -> str:
        return (
            '<div class="admonition warning"><p class="admonition-title">Placeholder</p>'
            "<p>These numbers were copied from an earlier version of this manual, before the latest model changes; "
            f"they are replaced when this command is run: <code>{escape(match['command'])}</code></p></div>"
        )

    return PLACEHOLDER.sub(warning, html)
