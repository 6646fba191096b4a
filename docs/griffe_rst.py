"""A griffe extension for the API reference: the reST markup of vclass's docstrings, read as Markdown.

The docstrings keep their ``:param x:`` fields (mkdocstrings' ``sphinx`` style parses those) and use a little
more reST, which Markdown would misread. Before a docstring is parsed this extension rewrites:

* roles (``:class:`~vclass.sim.classroom.Observation```, ``:func:``, ``:meth:``, ``:data:``, ``:attr:``, ``:mod:``,
  ``:exc:``, ``:obj:``) into code spans that link to the object where the reference documents it (an optional
  cross-reference: no link, and no warning, where it does not);
* simple tables (columns under ``====  ====`` rules) into Markdown tables;
* a paragraph's closing ``::`` into ``:``, since the indented block after it is already code in Markdown;
* doctest lines (``>>>``) into a fenced Python block.

A config field declared as ``bounded(default, ge=..., doc="...")`` (:func:`vclass.config.bounded`) has no docstring
of its own; it gets one made of its ``doc``, its default and its allowed range, the same facts that error messages
give, so the reference lists every config field.

Markdown tables, headings and lists in docstrings are left as they are. mkdocs.yml names this file under
mkdocstrings' ``extensions``; it only changes the docstrings that the reference shows, never the code.
"""

from __future__ import annotations

import ast
import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|mod|exc|obj|const):`(?P<tilde>~?)(?P<target>[^`]+)`")
RULE = re.compile(r"^(?P<indent> *)=+(?: +=+)+ *$")
DOCTEST = re.compile(r"^ *(>>>|\.\.\.)( |$)")


def _link(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"].strip()
    if target.endswith("()"):
        target = target[:-2]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    try:
        identifier = target if target.startswith("vclass.") else obj.resolve(target.split(".", 1)[0])
        if "." in target and not target.startswith("vclass."):
            identifier += "." + target.split(".", 1)[1]
    except (griffe.NameResolutionError, ValueError, KeyError, AttributeError):
        return f"<code>{html.escape(shown)}</code>"
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(shown)}</code></autoref>'


def _cells(line: str, starts: list[int]) -> list[str]:
    bounds = [*starts[1:], None]
    return [line[start:end].strip() if end else line[start:].strip() for start, end in zip(starts, bounds)]


def _table(rows: list[str], indent: str) -> list[str]:
    """A reST simple table (its lines, rules included) as Markdown table lines."""
    rule_lines = [i for i, line in enumerate(rows) if RULE.match(line)]
    starts = [m.start() for m in re.finditer(r"=+", rows[0])]
    header_end = rule_lines[1] if len(rule_lines) >= 3 else None
    body: list[list[str]] = []
    header: list[str] = []
    for i, line in enumerate(rows):
        if RULE.match(line) or not line.strip():
            continue
        cells = _cells(line.ljust(starts[-1] + 1), starts)
        if header_end is not None and i < header_end:
            header = cells if not header else [f"{a} {b}".strip() for a, b in zip(header, cells)]
        elif body and not cells[0]:  # a continuation line of the row above
            body[-1] = [f"{a} {b}".strip() for a, b in zip(body[-1], cells)]
        else:
            body.append(cells)
    header = header or [""] * len(starts)

    def row(cells: list[str]) -> str:
        return indent + "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return ["", row(header), indent + "|" + "---|" * len(starts), *map(row, body), ""]


def _tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = RULE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        # A table runs to its closing rule: the rule after which a blank line or the end follows.
        end = i + 1
        while end < len(lines):
            if RULE.match(lines[end]) and (end + 1 == len(lines) or not lines[end + 1].strip()):
                break
            end += 1
        if end == len(lines):  # no closing rule: not a table
            out.append(lines[i])
            i += 1
            continue
        out.extend(_table(lines[i : end + 1], match["indent"]))
        i = end + 1
    return out


def _doctests(lines: list[str]) -> list[str]:
    out: list[str] = []
    in_block = False
    for line in lines:
        is_doctest = bool(DOCTEST.match(line))
        if is_doctest and not in_block:
            out.extend(["", "```python"])
        elif not is_doctest and in_block:
            out.extend(["```", ""])
        in_block = is_doctest
        out.append(re.sub(r"^ *(>>>|\.\.\.) ?", "", line) if is_doctest else line)
    if in_block:
        out.append("```")
    return out


def _literal_markers(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line.strip() == "::":
            out.append("")
        elif line.rstrip().endswith("::") and not line.lstrip().startswith(("|", ":")):
            out.append(line.rstrip()[:-1])
        else:
            out.append(line)
    return out


def markdown_from_rst(obj: griffe.Object, text: str) -> str:
    """The docstring ``text`` of ``obj`` with its reST markup rewritten as Markdown (see the module docstring)."""
    text = ROLE.sub(lambda match: _link(obj, match), text)
    lines = _doctests(_literal_markers(_tables(text.split("\n"))))
    return "\n".join(lines)


BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def field_docstring(value: str) -> str | None:
    """The docstring of a config field whose value is the source text of a ``bounded(...)`` call; None otherwise."""
    try:
        call = ast.parse(value, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "bounded"):
        return None
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    doc = keywords.get("doc")
    text = doc.value.rstrip(".") if isinstance(doc, ast.Constant) and isinstance(doc.value, str) else ""
    parts = [text[:1].upper() + text[1:] + "." if text else ""]
    if call.args:
        parts.append(f"Default `{ast.unparse(call.args[0])}`.")
    elif "factory" in keywords:
        parts.append(f"Default `{ast.unparse(keywords['factory'])}()`.")
    limits = [f"{sign} {ast.unparse(keywords[key])}" for key, sign in BOUNDS if key in keywords]
    if "length" in keywords:
        limits.append(f"length {ast.unparse(keywords['length'])}")
    if limits:
        parts.append(f"Allowed: {', '.join(limits)}.")
    return " ".join(part for part in parts if part)


class RestMarkup(griffe.Extension):
    """Rewrites every docstring once the package is loaded, so that names resolve across modules."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.is_alias:
            return
        if obj.docstring is None and isinstance(obj, griffe.Attribute) and obj.value is not None:
            text = field_docstring(str(obj.value))
            if text:
                obj.docstring = griffe.Docstring(text, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = markdown_from_rst(obj, obj.docstring.value)
