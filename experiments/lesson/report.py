"""The run's HTML report: the summary table of every policy and the plots, in one self-contained folder."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from vclass.experiments.lesson.config import RunConfig
from vclass.experiments.lesson.runner import MEASURES, SUMMARY_KEYS, describe_path
from vclass.io import atomic_write_text

FIGURES = (
    ("emotions.png", "Emotional states over the lesson"),
    ("attention_tea.png", "Attention, participation and TEA share"),
    ("interventions.png", "Interventions"),
    ("strengths.png", "Applications by strength (habituation)"),
    ("beliefs.png", "Beliefs against the true state"),
    ("frames.png", "Sample frames with true and recognized labels"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def write_report(out: Path, summaries: dict[str, dict[str, Any]], run_cfg: RunConfig, compare: str | None) -> None:
    """Write ``out/report.html``; images are linked by relative path and only when their file exists."""
    names = list(summaries)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    if len(names) == 2:
        head += f"<th>{html.escape(names[0])} &minus; {html.escape(names[1])}</th>"
    rows = []
    for key in SUMMARY_KEYS:
        label = MEASURES[key].label
        values = [summaries[n].get(key) for n in names]
        cells = "".join(f"<td>{_cell(v)}</td>" for v in values)
        if len(values) == 2:
            first, second = values
            diff = first - second if first is not None and second is not None else None
            cells += f"<td>{_cell(diff)}</td>"
        rows.append(f"<tr><th scope='row'>{html.escape(label)}</th>{cells}</tr>")
    sections = []
    folders = [(names[0], Path("."))] + ([(compare, Path(f"compare-{compare}"))] if compare else [])
    for name, folder in folders:
        figs = []
        for file, caption in FIGURES:
            if (out / folder / file).exists():
                src = (folder / file).as_posix()
                figs.append(
                    f"<figure><img src='{html.escape(src)}' alt='{html.escape(caption)}'>"
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                )
        sections.append(f"<h2>Policy: {html.escape(name)}</h2>\n" + "\n".join(figs))
    c, r = run_cfg.sim.classroom, run_cfg.recognizer
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vclass run report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #bbb; padding: 4px 10px; text-align: right; }}
th[scope=row] {{ text-align: left; font-weight: normal; }} img {{ max-width: 100%; }}
figure {{ margin: 1em 0; }} figcaption {{ color: #555; font-size: 90%; }}
</style></head><body>
<h1>vclass run report</h1>
<p>{c.students} students, {c.minutes:g}-minute lesson, presentation {html.escape(c.presentation)},
online tests {"yes" if c.online_tests else "no"}; recognizer {html.escape(r.kind)}{
        f" on {html.escape(describe_path(summaries[names[0]].get('recognition_path')))}" if r.kind == "scn-cs" else ""
    }; seed {run_cfg.seed}. Policies met the same students and the same noise.</p>
<table><thead><tr><th>measure</th>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
{chr(10).join(sections)}
</body></html>
"""
    atomic_write_text(out / "report.html", page)
