"""The workbench's page (NiceGUI): four tabs, the class, the strategies, a lesson taught live, a comparison over seeds.

Everything the page decides is decided by the project's own code (:mod:`~vclass.experiments.app.choices`,
:mod:`~vclass.experiments.app.live`, :mod:`~vclass.experiments.app.compare`); this module lays it out and keeps it
moving. Each browser tab gets its own page (its class, its picks, its lesson); the server holds what they share
(:class:`Workbench`): its folders and the one comparison that may run. Long work (building a strategy, a step of the
lesson, checking a comparison) runs in a thread and a comparison in a process of its own, so the page never waits on
them; whatever a strategy raises is shown beside what raised it, and the server goes on.

Elements the browser test drives carry ``data-testid`` attributes.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nicegui import app, run, ui
from PIL import Image

from vclass.config import ConfigError
from vclass.experiments.app import choices, compare
from vclass.experiments.app.choices import ClassChoice, Strategy
from vclass.experiments.app.live import Frame, LiveLesson
from vclass.experiments.lesson.runner import MEASURES
from vclass.io import new_run_dir

FILES_URL = "/files"  # the workbench folder, served for the downloads and the report's plots
SPEEDS = {1: "30×", 2: "60×", 5: "150×", 20: "600×"}  # decisions (30 s of lesson) per second: times real time
COMPARE_MEASURES = tuple(MEASURES)
STYLE = """
.vc-faces { display: flex; flex-wrap: wrap; gap: 6px; }
.vc-student { width: 112px; border: 2px solid #e5e7eb; border-radius: 6px; padding: 3px; font-size: 11px;
              line-height: 1.25; background: white; }
.vc-student img { width: 102px; height: 135px; image-rendering: pixelated; display: block; margin: 0 auto; }
.vc-student.acted { border-color: #f59e0b; background: #fffbeb; }
.vc-student.away { opacity: 0.55; }
.vc-rec { font-weight: 600; }
.vc-given { color: #b45309; font-weight: 600; }
.vc-table { border-collapse: collapse; font-size: 13px; }
.vc-table th, .vc-table td { border: 1px solid #d1d5db; padding: 3px 8px; text-align: right; }
.vc-table th { background: #f3f4f6; }
.vc-table td.l, .vc-table th.l { text-align: left; }
.vc-table .ci { color: #6b7280; }
.vc-table td.sig { background: #ecfdf5; }
.vc-mono textarea { font-family: ui-monospace, monospace; font-size: 12px; }
"""


@dataclass
class Workbench:
    """What the server holds for every page.

    :ivar folder: the workbench's folder: ``rules/`` (the rule strategies written in the page) and ``comparisons/``
        (one folder per comparison).
    :ivar strategies_folder: where the page first looks for designers' Python strategies.
    :ivar workers: processes a comparison's sweep runs its lessons on.
    """

    folder: Path
    strategies_folder: Path
    workers: int = 2
    slot: compare.ComparisonSlot = field(default_factory=compare.ComparisonSlot)

    @property
    def rules_folder(self) -> Path:
        return self.folder / "rules"

    @property
    def comparisons_folder(self) -> Path:
        return self.folder / "comparisons"

    def url(self, path: Path) -> str:
        """The address the page fetches a file of the workbench folder at."""
        return f"{FILES_URL}/{path.resolve().relative_to(self.folder.resolve()).as_posix()}"


def shown_path(path: Path) -> str:
    """``path`` as the designer knows it: from the working folder when it lies under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def testid(element: Any, name: str) -> Any:
    """Mark ``element`` for the browser test."""
    return element.props(f"data-testid={name}")


def png_data_url(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def faces_html(frame: Frame) -> str:
    """The class as a grid of cards: each student's tile, the label the recognizer read, what the teacher believes,
    the attention estimate and what the teacher just gave."""
    esc = html.escape
    cards = []
    for student, tile in zip(frame.students, frame.tiles):
        state = "acted" if student.given else ("away" if not student.reachable else "")
        if student.recognized:
            seen = f"seen: {student.recognized}"
        else:
            seen = "no frame" if student.present else "not here"
        given = "".join(f"<div class=vc-given>{esc(what)}</div>" for what in student.given)
        cards.append(
            f"<div class='vc-student {state}' data-testid='student-{student.index}'>"
            f"<img alt='student {student.index}' src='{png_data_url(tile)}'>"
            f"<div>#{student.index} <span class=vc-rec data-testid='recognized-{student.index}'>{esc(seen)}</span>"
            f"</div><div>believed: {esc(student.believed)} (x {student.belief_axis:+.2f})</div>"
            f"<div>attention {student.attention:.2f}</div>{given}</div>"
        )
    return "<div class=vc-faces>" + "".join(cards) + "</div>"


def curves_options(frame: Frame | None, minutes: float) -> dict[str, Any]:
    """The class curves as an ECharts figure."""
    curves = frame.curves if frame is not None else {}

    def line(name: str, x: str, y: str, dashed: bool = False) -> dict[str, Any]:
        points = [[round(a, 3), round(b, 4)] for a, b in zip(curves.get(x, []), curves.get(y, []))]
        style = {"type": "dashed"} if dashed else {}
        return {"name": name, "type": "line", "showSymbol": False, "data": points, "lineStyle": style}

    return {
        "animation": False,
        "grid": {"left": 40, "right": 16, "top": 36, "bottom": 36},
        "legend": {"top": 0},
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "value", "name": "minute", "nameLocation": "middle", "nameGap": 22, "min": 0, "max": minutes},
        "yAxis": {"type": "value", "min": 0, "max": 1},
        "series": [
            line("TEA share (true)", "minute", "tea_share"),
            line("TEA share (teacher's belief)", "decision_minute", "believed_tea_share", dashed=True),
            line("attention (true)", "minute", "mean_attention"),
        ],
    }


def measures_html(summary: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class=l>{html.escape(MEASURES[key].label)}</td><td data-testid='live-{key}'>"
        f"{compare.fmt(value)}</td></tr>"
        for key, value in summary.items()
    )
    return f"<table class=vc-table><tr><th class=l>measure</th><th>this lesson</th></tr>{rows}</table>"


def results_html(summary: dict[str, Any]) -> str:
    """The comparison's paired table: each strategy's mean with its bootstrap 95% CI, and its paired difference from
    the reference with its CI and p-value, per measure (the report's numbers, ``report.json``)."""
    esc = html.escape
    reference, measures = summary["reference"], summary["measures"]
    cell = summary["cells"][0]
    head = "".join(
        f"<th>{esc(MEASURES[m].label)}<br><small>mean [95% CI]</small></th>"
        f"<th>− {esc(reference)}<br><small>[95% CI], p</small></th>"
        for m in measures
    )
    rows = []
    for policy in summary["policies"]:
        entry = next(e for e in summary["by_cell"] if e["cell"] == cell and e["policy"] == policy)
        cells = [f"<td class=l>{esc(policy)}</td><td>{entry['n']}</td>"]
        for m in measures:
            stat, tag = entry[m], f"{esc(policy)}-{m}"
            cells.append(
                f"<td><span data-testid='mean-{tag}'>{compare.fmt(stat['mean'])}</span> <span class=ci>"
                f"[<span data-testid='low-{tag}'>{compare.fmt(stat['ci_low'])}</span>, "
                f"<span data-testid='high-{tag}'>{compare.fmt(stat['ci_high'])}</span>]</span></td>"
            )
            diff = stat.get("vs_reference")
            if not diff:
                cells.append("<td class=ci>reference</td>")
                continue
            significant = diff["ci_low"] > 0 or diff["ci_high"] < 0
            p = diff.get("p_value")
            cells.append(
                f"<td class='{'sig' if significant else ''}'><span data-testid='diff-{tag}'>"
                f"{compare.fmt(diff['mean'], signed=True)}</span> <span class=ci>"
                f"[<span data-testid='difflow-{tag}'>{compare.fmt(diff['ci_low'], signed=True)}</span>, "
                f"<span data-testid='diffhigh-{tag}'>{compare.fmt(diff['ci_high'], signed=True)}</span>], "
                f"p {compare.fmt(p)}</span></td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    ranking = ", ".join(
        f"{r['rank']}. {esc(r['policy'])} (P(best) {compare.fmt(r['p_best'])})" for r in summary["ranking"]
    )
    rank_label = MEASURES[summary["rank_by"]].label
    failed = ""
    if summary["failed"]:
        items = "".join(
            f"<li>{esc(str(f['policy']))}, seed {f['seed']}: {esc(str(f['error']))}</li>"
            for f in summary["failed"][:20]
        )
        failed = (
            f"<p class=text-negative data-testid=compare-failed>{len(summary['failed'])} lessons failed:</p><ul>"
            f"{items}</ul>"
        )
    return (
        f"<table class=vc-table data-testid=compare-table><tr><th class=l>strategy</th><th>seeds</th>{head}</tr>"
        + "".join(rows)
        + f"</table><p>Ranked by {esc(rank_label)}: {ranking}. A green cell's CI excludes 0. Means over seeds with "
        "percentile-bootstrap 95% CIs; differences are paired by seed (the same students and noise).</p>" + failed
    )


class WorkbenchPage:
    """One browser tab's workbench."""

    def __init__(self, bench: Workbench):
        self.bench = bench
        self.choice = ClassChoice()
        self.built_ins = {s.label: s for s in choices.built_in_strategies()}
        self.picked: dict[str, Strategy] = {"ecem": self.built_ins["ecem"]}
        self.rule_errors: dict[str, str] = {}
        self.designers: dict[str, Strategy] = {}
        self.live: LiveLesson | None = None
        self.stepping = False
        self.speed = 2
        self.shown_comparison: Path | None = None
        self.build()

    # -- layout ---------------------------------------------------------------------------------------------------
    def build(self) -> None:
        ui.add_css(STYLE)
        ui.page_title("vclass workbench")
        ui.query(".nicegui-content").classes("max-w-screen-xl mx-auto")
        with ui.header().classes("items-center bg-slate-800 gap-6 py-1"):
            ui.label("vclass workbench").classes("text-lg font-semibold")
            with ui.tabs().classes("grow") as tabs:
                ui.tab("class", "1 · Class")
                ui.tab("strategies", "2 · Strategies")
                ui.tab("lesson", "3 · Watch a lesson")
                ui.tab("compare", "4 · Compare over seeds")
        with ui.tab_panels(tabs, value="class").classes("w-full"):
            with ui.tab_panel("class"):
                self.build_class()
            with ui.tab_panel("strategies"):
                self.build_strategies()
            with ui.tab_panel("lesson"):
                self.build_lesson()
            with ui.tab_panel("compare"):
                self.build_compare()
        self.refresh_picks()
        ui.timer(0.5, self.poll_comparison)

    def build_class(self) -> None:
        ui.markdown(
            "The class every lesson of this page is taught to: the fields of `vclass run` "
            "(`--students`, `--minutes`, `--recognizer`, `--seed`, and `--set KEY=VALUE` for any other config key), "
            "checked as the command checks them."
        )
        self.class_errors: dict[str, Any] = {}
        c = self.choice
        with ui.grid(columns=2).classes("gap-x-8 gap-y-1 items-start"):
            with ui.column().classes("gap-0"):
                testid(
                    ui.number("students", value=c.students, on_change=lambda e: self.set_class(students=e.value)),
                    "students",
                )
                self.class_errors["students"] = self.error_label("error-students")
                testid(
                    ui.number("minutes", value=c.minutes, on_change=lambda e: self.set_class(minutes=e.value)),
                    "minutes",
                )
                self.class_errors["minutes"] = self.error_label("error-minutes")
                testid(
                    ui.number("seed", value=c.seed, on_change=lambda e: self.set_class(seed=e.value)).props(
                        'hint="the seed of the lesson, and the first seed of a comparison"'
                    ),
                    "seed",
                )
                self.class_errors["seed"] = self.error_label("error-seed")
            with ui.column().classes("gap-1"):
                ui.label("presentation of the lecture (S0)").classes("text-sm text-gray-600")
                testid(
                    ui.radio(
                        list(choices.PRESENTATIONS),
                        value=c.presentation,
                        on_change=lambda e: self.set_class(presentation=e.value),
                    ).props("inline"),
                    "presentation",
                )
                self.class_errors["presentation"] = self.error_label("error-presentation")
                testid(
                    ui.switch(
                        "online tests (S0)",
                        value=c.online_tests,
                        on_change=lambda e: self.set_class(online_tests=e.value),
                    ),
                    "online-tests",
                )
                self.class_errors["online_tests"] = self.error_label("error-online_tests")
                ui.label("how the teacher sees the class").classes("text-sm text-gray-600")
                testid(
                    ui.radio(
                        choices.RECOGNIZERS, value=c.recognizer, on_change=lambda e: self.set_class(recognizer=e.value)
                    ),
                    "recognizer",
                )
                self.class_errors["recognizer"] = self.error_label("error-recognizer")
        more = ui.textarea(
            "more settings: KEY=VALUE, one a line (as vclass run --set)",
            placeholder="classroom.late_join_prob = 0.2\nemotion.tea_low = 0.5",
            on_change=lambda e: self.set_class(more=e.value or ""),
        )
        testid(more.classes("w-full vc-mono").props("outlined autogrow"), "more")
        self.class_errors[choices.MORE] = self.error_label("error-more")

    def error_label(self, name: str) -> Any:
        return testid(ui.label("").classes("text-negative text-sm whitespace-pre-wrap"), name)

    def build_strategies(self) -> None:
        with ui.row().classes("w-full items-start gap-8 no-wrap"):
            with ui.column().classes("w-1/3 gap-0"):
                ui.label("Built-in strategies").classes("text-base font-semibold")
                for strategy in self.built_ins.values():
                    box = ui.checkbox(
                        strategy.label,
                        value=strategy.label in self.picked,
                        on_change=lambda e, s=strategy: self.pick(s, e.value),
                    )
                    testid(box.classes("-my-1"), f"pick-{strategy.label}")
                    note = choices.BUILT_IN_NOTES.get(strategy.label, "")
                    ui.label(note).classes("text-xs text-gray-500 ml-10 -mt-2")
                ui.separator().classes("my-3")
                ui.label("Python strategies in a folder").classes("text-base font-semibold")
                ui.label(
                    "Classes with reset() and act() in the folder's .py files (read, not run, until picked)."
                ).classes("text-xs text-gray-500")
                with ui.row().classes("items-center no-wrap w-full"):
                    self.folder_input = testid(
                        ui.input("folder", value=str(self.bench.strategies_folder)), "designer-folder"
                    ).classes("grow")
                    testid(ui.button("look", on_click=self.look_for_designers).props("flat dense"), "designer-look")
                self.designer_list = ui.column().classes("gap-0 w-full")
            with ui.column().classes("w-2/3 gap-2"):
                ui.label("Rule strategies written here").classes("text-base font-semibold")
                ui.markdown(
                    f"Each is saved as `NAME.toml` in `{shown_path(self.bench.rules_folder)}` and checked as you "
                    "type, as `vclass run --policy rules:NAME.toml` checks it; the format is in the manual "
                    "(Strategies and the workbench, Rule strategies)."
                ).classes("text-xs text-gray-600")
                self.rule_column = ui.column().classes("w-full gap-3")
                with ui.row().classes("items-center"):
                    self.new_rule_name = testid(
                        ui.input("new rule strategy's name", placeholder="my-rules"), "new-rule-name"
                    )
                    testid(ui.button("add", icon="add", on_click=self.add_rule_strategy).props("flat"), "new-rule-add")
                self.new_rule_error = self.error_label("new-rule-error")
        self.picks_label = testid(ui.label("").classes("mt-4 font-medium"), "picked")
        for path in sorted(self.bench.rules_folder.glob("*.toml")):
            self.rule_editor(path.stem, path.read_text(encoding="utf-8", errors="replace"))
        if not self.rule_errors:
            choices.save_rules(self.bench.rules_folder, choices.EXAMPLE_RULES_NAME, choices.EXAMPLE_RULES)
            self.rule_editor(choices.EXAMPLE_RULES_NAME, choices.EXAMPLE_RULES)
        self.look_for_designers()

    def rule_editor(self, name: str, text: str) -> None:
        strategy = choices.rule_strategy(self.bench.rules_folder, name)
        with self.rule_column, ui.card().classes("w-full p-3") as card:
            with ui.row().classes("items-center w-full"):
                box = ui.checkbox(name, value=name in self.picked, on_change=lambda e: self.pick(strategy, e.value))
                testid(box.classes("font-semibold"), f"pick-{name}")
                status = testid(ui.label("").classes("text-sm"), f"rule-status-{name}")
                ui.space()
                testid(
                    ui.button(icon="delete", on_click=lambda: self.remove_rule_strategy(name, card)).props(
                        "flat dense round"
                    ),
                    f"rule-delete-{name}",
                )
            editor = ui.textarea(value=text).classes("w-full vc-mono").props("outlined autogrow spellcheck=false")
            testid(editor, f"rules-{name}")
            error = testid(ui.label("").classes("text-negative text-sm whitespace-pre-wrap"), f"rule-error-{name}")

        def check(new_text: str) -> None:
            problem = choices.save_rules(self.bench.rules_folder, name, new_text)
            self.rule_errors[name] = problem
            error.set_text(problem)
            index = choices.rule_index(problem)
            status.set_text(
                "✗ " + (f"rule {index + 1} (rules[{index}])" if index is not None else "not valid")
                if problem
                else f"✓ valid, saved as {name}.toml"
            )
            status.classes(replace="text-sm " + ("text-negative" if problem else "text-positive"))

        editor.on_value_change(lambda e: check(e.value or ""))
        check(text)

    def add_rule_strategy(self) -> None:
        name = (self.new_rule_name.value or "").strip()
        problem = choices.rule_name_error(name) or (
            f"there is a rule strategy {name!r} already" if name in self.rule_errors else ""
        )
        self.new_rule_error.set_text(problem)
        if problem:
            return
        self.new_rule_name.set_value("")
        self.rule_editor(name, '[[rules]]\naction = "checkin"\norder_by = "attention"\n')
        self.pick(choices.rule_strategy(self.bench.rules_folder, name), True)

    def remove_rule_strategy(self, name: str, card: Any) -> None:
        (self.bench.rules_folder / f"{name}.toml").unlink(missing_ok=True)
        self.rule_errors.pop(name, None)
        self.picked.pop(name, None)
        card.delete()
        self.refresh_picks()

    def look_for_designers(self) -> None:
        folder = Path(self.folder_input.value or ".").expanduser()
        self.designer_list.clear()
        with self.designer_list:
            if not folder.is_dir():
                self.error_label("designer-problems").set_text(f"{folder} is not a folder")
                return
            found, problems = choices.designer_classes(folder)
            self.designers = {s.label: s for s in found}
            if not found:
                ui.label(f"no class with reset() and act() in {folder}/*.py").classes("text-xs text-gray-500")
            for strategy in found:
                shown: dict[str, Any] = {}
                box = ui.checkbox(
                    strategy.label,
                    value=strategy.label in self.picked,
                    on_change=lambda e, s=strategy, h=shown: self.pick_designer(s, e.value, h["error"]),
                )
                testid(box, f"pick-{strategy.label}")
                shown["error"] = self.error_label(f"designer-error-{strategy.label}")
            for problem in problems:
                self.error_label("designer-problems").set_text(problem)

    async def pick_designer(self, strategy: Strategy, on: bool, error: Any) -> None:
        error.set_text("")
        if on:
            problem = await run.io_bound(choices.strategy_error, strategy, self.choice)
            error.set_text(problem or "")
        self.pick(strategy, on)

    def pick(self, strategy: Strategy, on: bool) -> None:
        if on:
            self.picked[strategy.label] = strategy
        else:
            self.picked.pop(strategy.label, None)
        self.refresh_picks()

    def refresh_picks(self) -> None:
        labels = list(self.picked)
        if hasattr(self, "picks_label"):
            self.picks_label.set_text("picked: " + (", ".join(labels) if labels else "nothing yet"))
        if hasattr(self, "watch_choice"):
            watch = self.watch_choice.value if self.watch_choice.value in labels else (labels[-1] if labels else None)
            self.watch_choice.set_options(labels, value=watch)
        if hasattr(self, "reference_choice"):
            current = self.reference_choice.value
            fallback = "ecem" if "ecem" in labels else (labels[0] if labels else None)
            reference = current if current in labels else fallback
            self.reference_choice.set_options(labels, value=reference)

    def set_class(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.choice, key, value)
        problems = choices.class_errors(self.choice)
        for name, label in self.class_errors.items():
            label.set_text(problems.get(name, ""))

    # -- the live lesson ------------------------------------------------------------------------------------------
    def build_lesson(self) -> None:
        with ui.row().classes("items-center gap-4"):
            ui.label("strategy:")
            self.watch_choice = testid(ui.radio([], value=None).props("inline"), "watch-choice")
        with ui.row().classes("items-center gap-2"):
            testid(ui.button("start the lesson", icon="school", on_click=self.start_lesson), "live-start")
            self.play_button = testid(ui.button("pause", icon="pause", on_click=self.toggle_play), "live-play")
            testid(ui.button("one decision", icon="skip_next", on_click=self.step_once).props("outline"), "live-step")
            ui.label("speed").classes("ml-4")
            testid(ui.toggle(SPEEDS, value=self.speed, on_change=lambda e: self.set_speed(e.value)), "live-speed")
        self.live_status = testid(
            ui.label("Press start: the lesson is taught one decision (30 s) at a time."), "live-status"
        )
        self.live_error = self.error_label("live-error")
        with ui.row().classes("w-full items-start no-wrap gap-4"):
            self.faces = testid(ui.html("", sanitize=False).classes("w-3/5"), "live-faces")
            with ui.column().classes("w-2/5 gap-2"):
                self.curves = testid(
                    ui.echart(curves_options(None, float(self.choice.minutes or 45))).classes("w-full h-64"),
                    "live-curves",
                )
                ui.label("interventions, newest first").classes("font-semibold")
                columns = [
                    {"name": "minute", "label": "min", "field": "minute", "align": "right"},
                    {"name": "student", "label": "student", "field": "student", "align": "right"},
                    {"name": "what", "label": "given", "field": "what", "align": "left"},
                    {"name": "strength", "label": "I0", "field": "strength", "align": "right"},
                    {"name": "belief_axis", "label": "believed x", "field": "belief_axis", "align": "right"},
                    {"name": "true_state", "label": "true state", "field": "true_state", "align": "left"},
                ]
                self.log_table = testid(
                    ui.table(columns=columns, rows=[], row_key="id", pagination=12)
                    .props("dense flat bordered")
                    .classes("w-full"),
                    "live-log",
                )
                self.live_summary = testid(ui.html("", sanitize=False), "live-summary")
        self.timer = ui.timer(1 / self.speed, self.advance, active=False)

    async def start_lesson(self) -> None:
        self.timer.deactivate()
        self.live_error.set_text("")
        label = self.watch_choice.value
        strategy = self.picked.get(label) if label else None
        if strategy is None:
            self.live_error.set_text("pick a strategy first (tab 2), then choose it above")
            return
        problems = choices.class_errors(self.choice)
        if problems:
            self.live_error.set_text("the class is not valid: " + "; ".join(problems.values()))
            return
        if strategy.kind == choices.RULES and self.rule_errors.get(label):
            self.live_error.set_text(self.rule_errors[label])
            return
        self.live_status.set_text(f"setting up the lesson with {label} …")
        try:
            cfg = choices.run_config(self.choice, strategy.name)
            choices.forget_module(strategy)
            live = await run.io_bound(LiveLesson.start, cfg, strategy.import_paths)
        except ConfigError as err:
            self.live_error.set_text(str(err))
            self.live_status.set_text("")
            return
        if live is None:
            return
        self.live, self.stepping = live, False
        self.log_table.rows = []
        self.log_table.update()
        self.live_summary.set_content("")
        self.show_frame(live.frame(), label)
        self.play()

    def play(self) -> None:
        self.timer.interval = 1 / self.speed
        self.timer.activate()
        self.play_button.set_text("pause")
        self.play_button.props("icon=pause")

    def pause(self) -> None:
        self.timer.deactivate()
        self.play_button.set_text("play")
        self.play_button.props("icon=play_arrow")

    def toggle_play(self) -> None:
        if self.timer.active:
            self.pause()
        elif self.live is not None and not self.live.done:
            self.play()

    def set_speed(self, value: int) -> None:
        self.speed = int(value)
        self.timer.interval = 1 / self.speed

    async def step_once(self) -> None:
        self.pause()
        await self.advance()

    async def advance(self) -> None:
        live = self.live
        if live is None or self.stepping:
            return
        if live.done:
            self.pause()
            return
        self.stepping = True
        try:
            frame = await run.io_bound(live.step, 1)
        except ConfigError as err:  # a designer's strategy failed: its line, and the lesson stops there
            self.pause()
            self.live_error.set_text(str(err))
            return
        except Exception as err:  # noqa: BLE001 - shown in the page; the server goes on
            self.pause()
            self.live_error.set_text(f"internal error: {type(err).__name__}: {err}")
            return
        finally:
            self.stepping = False
        if frame is not None and live is self.live:
            self.show_frame(frame, self.watch_choice.value)

    def show_frame(self, frame: Frame, label: str | None) -> None:
        given = sum(1 for _ in frame.interventions)
        total = len(self.log_table.rows) + given
        self.live_status.set_text(
            f"{label}: minute {frame.minute:.1f} of {frame.minutes:g} · {frame.segment} · {total} interventions so far"
            + (" · the lesson is over" if frame.done else "")
        )
        self.faces.set_content(faces_html(frame))
        self.curves.options.clear()
        self.curves.options.update(curves_options(frame, frame.minutes))
        self.curves.update()
        if frame.interventions:
            start = len(self.log_table.rows)
            fresh = [
                {
                    "id": start + i,
                    "minute": f"{row['minute']:.1f}",
                    "student": row["student"],
                    "what": row["what"],
                    "strength": "" if row["strength"] is None else f"{row['strength']:.2f}",
                    "belief_axis": "" if row["belief_axis"] is None else f"{row['belief_axis']:+.2f}",
                    "true_state": row["true_state"],
                }
                for i, row in enumerate(frame.interventions)
            ]
            self.log_table.rows = fresh[::-1] + self.log_table.rows
            self.log_table.update()
        if frame.summary is not None:
            self.pause()
            self.live_summary.set_content(measures_html(frame.summary))

    # -- the comparison -------------------------------------------------------------------------------------------
    def build_compare(self) -> None:
        ui.markdown(
            "Every picked strategy teaches the same lessons (the same students and noise on each seed), so the "
            "differences are paired. This writes a sweep spec and runs it as `vclass sweep` does."
        )
        with ui.row().classes("items-end gap-6"):
            self.seeds_input = testid(ui.number("seeds", value=5, format="%d"), "compare-seeds")
            self.workers_input = testid(
                ui.number("worker processes", value=self.bench.workers, format="%d"), "compare-workers"
            )
            with ui.column().classes("gap-0"):
                ui.label("paired against").classes("text-sm text-gray-600")
                self.reference_choice = testid(ui.radio([], value=None).props("inline"), "compare-reference")
        self.measure_boxes = {}
        with ui.expansion("measures to report: " + ", ".join(choices.DEFAULT_MEASURES)).classes("w-full") as measures:
            with ui.row().classes("gap-x-4 gap-y-0"):
                for key in COMPARE_MEASURES:
                    box = ui.checkbox(
                        MEASURES[key].label,
                        value=key in choices.DEFAULT_MEASURES,
                        on_change=lambda _: self.name_measures(),
                    )
                    self.measure_boxes[key] = testid(box, f"measure-{key}")
        self.measures_expansion = measures
        with ui.row().classes("items-center gap-2 mt-2"):
            testid(
                ui.button("compare over the seeds", icon="compare_arrows", on_click=self.start_comparison),
                "compare-start",
            )
            testid(
                ui.button("stop", icon="stop", on_click=self.stop_comparison).props("outline color=negative"),
                "compare-stop",
            )
        self.compare_error = self.error_label("compare-error")
        self.progress = testid(ui.linear_progress(value=0, show_value=False).classes("w-full"), "compare-progress")
        self.compare_status = testid(ui.label(""), "compare-status")
        self.results = testid(ui.html("", sanitize=False).classes("w-full"), "compare-results")
        with ui.row().classes("w-full items-start no-wrap gap-4"):
            with ui.column().classes("w-2/5"):
                ui.label("the spec: vclass sweep spec.toml runs the same comparison").classes("font-semibold")
                self.spec_view = testid(ui.code("", language="toml").classes("w-full text-xs"), "compare-spec")
                self.downloads = testid(ui.html("", sanitize=False), "compare-downloads")
            self.plots = ui.html("", sanitize=False).classes("w-3/5")

    def name_measures(self) -> None:
        ticked = [key for key, box in self.measure_boxes.items() if box.value]
        self.measures_expansion.set_text("measures to report: " + (", ".join(ticked) or "none ticked"))

    async def start_comparison(self) -> None:
        self.compare_error.set_text("")
        strategies = list(self.picked.values())
        measures = [key for key, box in self.measure_boxes.items() if box.value]
        problem = (
            "pick at least two strategies to compare (tab 2)"
            if len(strategies) < 2
            else ""
            if measures
            else "tick at least one measure"
        ) or next(
            (
                f"{s.label}: {self.rule_errors[s.label]}"
                for s in strategies
                if s.kind == choices.RULES and self.rule_errors.get(s.label)
            ),
            "",
        )
        if not problem:
            problems = choices.class_errors(self.choice)
            problem = ("the class is not valid: " + "; ".join(problems.values())) if problems else ""
        workers = self.workers_input.value
        if not problem and (not isinstance(workers, (int, float)) or not 1 <= workers <= 64 or workers % 1):
            problem = f"worker processes: must be an integer >= 1 and <= 64, got {workers!r}"
        if problem:
            self.compare_error.set_text(problem)
            return
        try:
            self.bench.slot.reserve()
        except ConfigError as err:
            self.compare_error.set_text(err.message)
            return
        try:
            spec = choices.comparison_spec(
                self.choice,
                strategies,
                self.reference_choice.value or strategies[0].label,
                self.seeds_input.value,
                measures,
            )
            folder = new_run_dir(self.bench.comparisons_folder)
            sources = [s.source for s in strategies if s.source is not None]
            spec_path = compare.prepare(folder, spec, sources)
            self.spec_view.set_content(spec_path.read_text())
            self.downloads.set_content(self.downloads_html(folder))
            self.results.set_content("")
            self.plots.set_content("")
            self.compare_status.set_text("checking the spec as vclass sweep does …")
            total = await run.io_bound(compare.validate, spec_path)
        except ConfigError as err:
            self.bench.slot.release()
            self.compare_error.set_text(str(err))
            self.compare_status.set_text("")
            return
        except BaseException:
            self.bench.slot.release()
            raise
        if total is None:
            self.bench.slot.release()
            return
        self.bench.slot.begin(spec_path, total, int(workers))
        self.shown_comparison = None
        self.compare_status.set_text(f"0 of {total} lessons")

    def stop_comparison(self) -> None:
        current = self.bench.slot.current
        if current is not None and current.state == compare.RUNNING:
            current.stop()
            self.compare_status.set_text(f"stopped after {current.finished} of {current.total} lessons")

    def downloads_html(self, folder: Path, results: bool = False) -> str:
        links = [
            (
                f"<a class='text-primary underline' href='{self.bench.url(folder / compare.SPEC_ZIP)}' download "
                "data-testid=download-spec>download the spec (spec.zip: spec.toml and the files it names)</a>"
            )
        ]
        if results:
            links.append(
                f"<a class='text-primary underline' href='{self.bench.url(folder / compare.RESULTS_ZIP)}' download "
                "data-testid=download-results>download the results (results.zip: the table, the report)</a>"
            )
            report = folder / compare.SWEEP_FOLDER / "report" / "index.html"
            links.append(
                f"<a class='text-primary underline' href='{self.bench.url(report)}' target=_blank>"
                "open the full report</a>"
            )
        return (
            "<div class='flex flex-col gap-1'>"
            + "".join(links)
            + f"<span class='text-xs text-gray-500'>in {html.escape(shown_path(folder))}</span></div>"
        )

    def poll_comparison(self) -> None:
        current = self.bench.slot.current
        if current is None:
            return
        state = current.state
        if state == compare.RUNNING:
            done = current.finished
            self.progress.set_value(done / current.total if current.total else 0)
            self.compare_status.set_text(f"{done} of {current.total} lessons")
            return
        if self.shown_comparison == current.folder:
            return
        self.shown_comparison = current.folder
        self.spec_view.set_content((current.folder / compare.SPEC_FOLDER / compare.SPEC_FILE).read_text())
        self.compare_error.set_text("")
        if state == compare.DONE:
            self.progress.set_value(1.0)
            summary = current.summary()
            self.compare_status.set_text(
                f"done: {summary['ok']} of {summary['runs']} lessons finished"
                + (f", {len(summary['failed'])} failed" if summary["failed"] else "")
            )
            self.results.set_content(results_html(summary))
            report = current.folder / compare.SWEEP_FOLDER / "report"
            self.plots.set_content(
                "".join(
                    f"<img class='w-full' alt='{name}' src='{self.bench.url(report / name)}'>"
                    for name in ("measures.png", "differences.png")
                )
            )
            self.downloads.set_content(self.downloads_html(current.folder, results=True))
        elif state == compare.FAILED:
            self.compare_error.set_text(current.failure)
            self.compare_status.set_text("the comparison failed")
        else:
            self.compare_status.set_text(f"stopped after {current.finished} of {current.total} lessons")


def serve(bench: Workbench, host: str, port: int) -> None:
    """Serve the workbench at ``host:port`` until interrupted; stopping the server stops a running comparison."""
    bench.folder.mkdir(parents=True, exist_ok=True)
    bench.rules_folder.mkdir(parents=True, exist_ok=True)
    bench.comparisons_folder.mkdir(parents=True, exist_ok=True)
    app.add_static_files(FILES_URL, str(bench.folder))
    app.on_shutdown(bench.slot.stop)

    def root() -> None:
        WorkbenchPage(bench)

    ui.run(
        root,
        host=host,
        port=port,
        title="vclass workbench",
        reload=False,
        show=False,
        show_welcome_message=False,
        favicon="🏫",
        uvicorn_logging_level="warning",
    )
