"""The workbench (``vclass app``): its choices become the project's configs, its lesson is ``vclass run``'s, its
comparison is ``vclass sweep``'s; and in a real browser (headless Chromium) it draws a lesson, compares strategies with
the CLI's numbers and shows a bad rule's error beside the rule."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vclass.agents.rules import read_rule_file
from vclass.cli import main
from vclass.config import ConfigError
from vclass.experiments.app import choices, compare
from vclass.experiments.app.choices import ClassChoice, Strategy
from vclass.experiments.app.live import LiveLesson
from vclass.experiments.app.workbench import check_port
from vclass.experiments.lesson.runner import run_lesson
from vclass.experiments.sweep.spec import expand, load_spec, spec_from_dict
from vclass.sim.measures import intervention_table

SMALL = {"students": 10, "minutes": 10}
BROKEN = """\
from vclass.sim.classroom import Action


class Broken:
    def reset(self, n_students, rng):
        self.calls = 0

    def act(self, obs):
        self.calls += 1
        if self.calls > 3:
            return 1 / 0
        return Action.nothing(obs.n_students)
"""
BROKEN_LINE = 11  # the line of 1 / 0


def cli_error(capsys, *argv: str) -> str:
    """What the command prints after ``error: `` (exit status 2)."""
    assert main(list(argv)) == 2
    return capsys.readouterr().err.strip().split("error: ", 1)[1]


# -- the class -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "page_field", "flags"),
    [
        ({"students": 0}, "students", ["--students", "0"]),
        ({"minutes": -5}, "minutes", ["--minutes", "-5"]),
        ({"recognizer": "camera"}, "recognizer", ["--recognizer", "camera"]),
        ({"more": "classroom.late_join_prob = 2"}, "more", ["--set", "classroom.late_join_prob=2"]),
    ],
)
def test_a_bad_class_field_gets_the_clis_message_under_that_field(capsys, fields, page_field, flags):
    errors = choices.class_errors(ClassChoice(**fields))
    assert errors == {page_field: cli_error(capsys, "run", *flags, "--quiet")}


def test_number_fields_given_as_floats_are_whole_numbers_and_comments_are_skipped():
    cfg = choices.run_config(ClassChoice(students=12.0, minutes=10.0, seed=3.0, more="# a note\nclassroom.students=8"))
    assert (cfg.sim.classroom.students, cfg.seed, cfg.sim.classroom.minutes) == (8, 3, 10.0)
    assert choices.class_errors(ClassChoice(more="no equals sign")) == {
        "more": "more: line 1: expected KEY=VALUE, got 'no equals sign'"
    }


# -- strategies ------------------------------------------------------------------------------------------------------
def test_a_bad_rule_gets_the_message_vclass_run_gives_with_the_file_by_its_name(tmp_path):
    bad = choices.EXAMPLE_RULES.replace("limit_per_decision = 8", "limit_per_decision = 0")
    problem = choices.save_rules(tmp_path, "calm-first", bad)
    with pytest.raises(ConfigError) as err:
        read_rule_file(tmp_path / "calm-first.toml")
    assert problem == str(err.value).replace(str(tmp_path) + "/", "")
    assert problem.startswith("calm-first.toml: rules[2].limit_per_decision: must be an integer >= 1")
    assert choices.rule_index(problem) == 2
    assert choices.save_rules(tmp_path, "calm-first", choices.EXAMPLE_RULES) == ""
    assert choices.save_rules(tmp_path, "ecem", "") != ""  # a built-in's name
    assert choices.save_rules(tmp_path, "../up", "") != ""


def test_designer_classes_are_found_without_running_the_module(tmp_path):
    (tmp_path / "mine.py").write_text(
        "raise SystemExit('never imported while looking')\n"
        "class Teacher:\n    def reset(self, n, rng): ...\n    def act(self, obs): ...\n"
        "class Helper:\n    def act(self, obs): ...\n"
    )
    (tmp_path / "typo.py").write_text("class Oops(:\n")
    found, problems = choices.designer_classes(tmp_path)
    assert [s.label for s in found] == ["mine:Teacher"] and found[0].kind == choices.DESIGNER
    assert problems == ["typo.py: cannot read it: SyntaxError (line 1)"]


def test_a_designer_class_that_raises_when_built_names_its_file_and_line(tmp_path):
    (tmp_path / "failing.py").write_text(
        "class Failing:\n    def __init__(self):\n        raise ValueError('no')\n"
        "    def reset(self, n, rng): ...\n    def act(self, obs): ...\n"
    )
    found, _ = choices.designer_classes(tmp_path)
    problem = choices.strategy_error(found[0], ClassChoice(**SMALL))
    assert problem == "policy failing:Failing: __init__() raised ValueError: no (at failing.py:3)"


# -- the comparison's spec -------------------------------------------------------------------------------------------
def test_the_spec_of_the_pages_choices_is_the_sweep_spec_vclass_sweep_reads(tmp_path):
    choices.save_rules(tmp_path / "rules", "calm-first", choices.EXAMPLE_RULES)
    (tmp_path / "designer").mkdir()
    (tmp_path / "designer" / "broken.py").write_text(BROKEN)
    designer = choices.designer_classes(tmp_path / "designer")[0][0]
    strategies = [Strategy("ecem", "ecem"), choices.rule_strategy(tmp_path / "rules", "calm-first"), designer]
    choice = ClassChoice(
        seed=4, presentation="slides", online_tests=False, more="classroom.late_join_prob = 0.2", **SMALL
    )
    spec = choices.comparison_spec(choice, strategies, "ecem", 3.0, ["tea_share", "learning_gain"])
    spec_path = compare.prepare(tmp_path / "cmp", spec, [s.source for s in strategies if s.source])
    assert tomllib.loads(spec_path.read_text()) == spec
    loaded, spec_dir = load_spec(spec_path)
    assert loaded == spec_from_dict(spec)
    assert (loaded.seeds, loaded.seed_start, loaded.reference) == (3, 4, "ecem")
    assert [p.shown for p in loaded.policies] == ["ecem", "calm-first", "broken:Broken"]
    entries = expand(loaded, spec_dir)
    assert entries[0].config["classroom"] == {
        "students": 10,
        "minutes": 10,
        "presentation": "slides",
        "online_tests": False,
        "late_join_prob": 0.2,
    }
    assert compare.validate(spec_path) == 9
    with zipfile.ZipFile(tmp_path / "cmp" / compare.SPEC_ZIP) as archive:
        assert sorted(archive.namelist()) == ["broken.py", "calm-first.toml", "spec.toml"]


@pytest.mark.parametrize("text", ['say "hi"', "a\\b", "line\nbreak\ttab", "ünïcode ✓", "#not a comment", ""])
def test_toml_text_writes_any_string_back_as_itself(text):
    data = {
        "name": text,
        "n": 3,
        "x": 0.1,
        "flag": False,
        "list": [text, 1],
        "table": {"k e y": text, "in": {"a": 1}},
        "rows": [{"label": text}, {"label": "b"}],
    }
    assert tomllib.loads(choices.toml_text(data)) == data


def test_a_second_comparison_is_refused_while_one_is_checked():
    slot = compare.ComparisonSlot()
    slot.reserve()
    with pytest.raises(ConfigError, match="another comparison is being checked"):
        slot.reserve()
    slot.release()
    slot.reserve()


# -- the live lesson -------------------------------------------------------------------------------------------------
def test_the_live_lesson_is_the_lesson_vclass_run_teaches_and_its_frames_grow():
    cfg = choices.run_config(ClassChoice(seed=2, **SMALL), "ecem")
    live = LiveLesson.start(cfg)
    first = live.frame()
    assert first.tick == 0 and first.curves["minute"] == [] and first.tiles.shape[0] == 10
    frames = []
    while not live.done:
        frames.append(live.step())
    assert len(frames) == 20 and [f.tick for f in frames[:3]] == [3, 6, 9]
    assert all(len(f.curves["tea_share"]) == f.tick for f in frames)
    assert len(frames[-1].curves["believed_tea_share"]) == 20
    rows = [row for f in frames for row in f.interventions]
    assert len(rows) == len(intervention_table(live.room.record)["tick"]) > 0
    assert all(s.recognized for s in frames[5].students if s.reachable and live.room.camera_on[s.index])
    reference = run_lesson(cfg)
    assert np.array_equal(reference.record.state, live.room.record.state)
    assert reference.record.applications == live.room.record.applications
    assert frames[-1].done and frames[-1].summary["tea_share"] == reference.summary["tea_share"]
    assert frames[-2].summary is None


def test_a_designer_strategy_failing_mid_lesson_stops_the_live_lesson_with_its_line(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN)
    strategy = choices.designer_classes(tmp_path)[0][0]
    live = LiveLesson.start(choices.run_config(ClassChoice(**SMALL), strategy.name), strategy.import_paths)
    live.step(3)
    with pytest.raises(
        ConfigError, match=rf"policy broken:Broken: act\(\) raised ZeroDivisionError.*broken.py:{BROKEN_LINE}"
    ):
        live.step(3)


# -- the command -----------------------------------------------------------------------------------------------------
def test_a_bad_or_busy_port_ends_the_command_with_one_line(capsys):
    assert cli_error(capsys, "app", "--port", "70000") == "--port: must be an integer >= 1 and <= 65535, got 70000"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        message = cli_error(capsys, "app", "--port", str(port))
        assert (
            message
            == f"--port: port {port} on 127.0.0.1 is busy (another program listens there); choose another --port"
        )
        with pytest.raises(ConfigError):
            check_port("127.0.0.1", port)


# -- in a real browser -----------------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
BAD_RULE = '\n[[rules]]\naction = "fun"\nlimit_per_decision = 0\n'


def descendants(pid: int) -> set[int]:
    """The processes started by ``pid``, and by them, ... (from /proc)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def browser(downloads: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={downloads.parent / 'chromium-profile'}",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


class Page:
    """The workbench in the browser, driven by its ``data-testid`` marks."""

    def __init__(self, driver, shots: Path | None):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.shots, self.by, self.wait = driver, shots, By, WebDriverWait

    def find(self, testid: str, inner: str = ""):
        return self.driver.find_element(self.by.CSS_SELECTOR, f'[data-testid="{testid}"] {inner}'.strip())

    def text(self, testid: str) -> str:
        return self.find(testid).text

    def until(self, condition, timeout: float = 60, what: str = ""):
        return self.wait(self.driver, timeout, poll_frequency=0.2).until(lambda _: condition(), message=what)

    def tab(self, title: str) -> None:
        from selenium.common.exceptions import WebDriverException

        def clicked() -> bool:
            try:
                self.driver.find_element(self.by.XPATH, f"//div[@role='tab'][contains(., '{title}')]").click()
            except WebDriverException:
                return False
            return True

        self.until(clicked, timeout=10, what=f"cannot open the tab {title}")
        time.sleep(0.4)  # the panel slides in

    def field(self, testid: str):
        """The text field marked ``testid`` (Quasar puts the mark on the field itself, or on its wrapper)."""
        element = self.find(testid)
        if element.tag_name in ("input", "textarea"):
            return element
        return element.find_element(self.by.CSS_SELECTOR, "input, textarea")

    def type(self, testid: str, text: str, replace: bool = True) -> None:
        from selenium.webdriver.common.keys import Keys

        field = self.field(testid)
        field.click()
        field.send_keys(Keys.CONTROL, "a") if replace else field.send_keys(Keys.CONTROL, Keys.END)
        field.send_keys(text)

    def click(self, testid: str, option: str = "") -> None:
        """Click the element marked ``testid`` (or its option labelled ``option``), once it can take the click (a tab
        panel or a notification may still be moving)."""
        from selenium.common.exceptions import WebDriverException

        def clicked() -> bool:
            element = self.find(testid)
            if option:
                element = element.find_element(self.by.XPATH, f".//*[normalize-space(text())='{option}']")
            try:
                self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
                element.click()
            except WebDriverException:
                return False
            return True

        self.until(clicked, timeout=10, what=f"cannot click {testid} {option}")

    def shot(self, name: str, top: str = "") -> None:
        """A screenshot for the manual (when asked for), from the top or from the element marked ``top``."""
        if self.shots is not None:
            if top:
                self.driver.execute_script("arguments[0].scrollIntoView(); window.scrollBy(0, -130)", self.find(top))
            else:
                self.driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.3)
            path = self.shots / f"workbench-{name}.png"
            self.driver.save_screenshot(str(path))
            image = Image.open(path).convert("RGB")  # a small PNG: 128 colours are enough for a page
            image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def spans(page: Page, policies: list[str], measures: list[str]) -> dict[tuple[str, str, str], str]:
    """The page's numbers: every mean, CI bound and paired difference of the comparison table."""
    shown = {}
    for policy in policies:
        for measure in measures:
            for kind in ("mean", "low", "high") + (("diff", "difflow", "diffhigh") if policy != "ecem" else ()):
                shown[policy, measure, kind] = page.text(f"{kind}-{policy}-{measure}")
    return shown


def report_numbers(summary: dict, policies: list[str], measures: list[str]) -> dict[tuple[str, str, str], str]:
    """The same numbers from a report's ``report.json``, written as the page writes them."""
    numbers = {}
    for policy in policies:
        entry = next(e for e in summary["by_cell"] if e["policy"] == policy)
        for measure in measures:
            stat = entry[measure]
            numbers.update(
                {
                    (policy, measure, k): compare.fmt(stat[key])
                    for k, key in (("mean", "mean"), ("low", "ci_low"), ("high", "ci_high"))
                }
            )
            if policy != "ecem":
                diff = stat["vs_reference"]
                numbers.update(
                    {
                        (policy, measure, k): compare.fmt(diff[key], signed=True)
                        for k, key in (("diff", "mean"), ("difflow", "ci_low"), ("diffhigh", "ci_high"))
                    }
                )
    return numbers


@pytest.mark.slow
@pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
)
def test_the_workbench_in_a_browser_draws_a_lesson_compares_like_vclass_sweep_and_shows_a_bad_rule(tmp_path):
    shots = Path(os.environ["VCLASS_SCREENSHOTS"]) if os.environ.get("VCLASS_SCREENSHOTS") else None
    (tmp_path / "designer").mkdir()
    (tmp_path / "designer" / "broken.py").write_text(BROKEN)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # NiceGUI would think it is a test
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vclass.cli",
            "app",
            "--port",
            str(port),
            "--out",
            "workbench",
            "--strategies",
            "designer",
            "--workers",
            "2",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    driver, workers = None, set()
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, server.stdout.read() if server.stdout else ""
                time.sleep(0.3)
        driver = browser(downloads)
        driver.get(url)
        page = Page(driver, shots)
        page.until(lambda: page.field("students").is_displayed(), what="the page did not draw")

        # The class: a bad value gets the CLI's message under its field; then a small class.
        page.type("students", "0")
        page.until(lambda: "classroom.students: must be an integer >= 1" in page.text("error-students"))
        page.type("students", "10")
        page.type("minutes", "10")
        page.until(lambda: page.text("error-students") == "" and page.text("error-minutes") == "")
        page.shot("class")

        # The strategies: a bad rule shows its error beside the rule; fixed, the rule strategy is picked.
        page.tab("Strategies")
        page.until(lambda: "valid" in page.text("rule-status-calm-first"))
        page.type("rules-calm-first", BAD_RULE, replace=False)
        page.until(
            lambda: page.text("rule-error-calm-first").startswith(
                "calm-first.toml: rules[4].limit_per_decision: must be an integer >= 1"
            ),
            what="no error beside the rule",
        )
        assert "rule 5" in page.text("rule-status-calm-first")
        page.shot("strategies")
        from selenium.webdriver.common.keys import Keys

        page.field("rules-calm-first").send_keys(Keys.BACKSPACE * len(BAD_RULE.rstrip("\n")))
        page.until(lambda: page.text("rule-error-calm-first") == "", what="the fixed rule still shows an error")
        page.click("pick-calm-first")
        page.click("pick-broken:Broken")
        page.until(lambda: page.text("picked") == "picked: ecem, calm-first, broken:Broken")

        # A designer's strategy that fails: its one line in the page, and the server goes on.
        page.tab("Watch a lesson")
        page.click("watch-choice", "broken:Broken")
        page.click("live-start")
        page.until(lambda: "act() raised ZeroDivisionError" in page.text("live-error"), what="no designer error")
        assert f"(at broken.py:{BROKEN_LINE})" in page.text("live-error")

        # The live lesson draws: faces with their recognized labels, curves, interventions as they happen.
        page.click("watch-choice", "calm-first")
        page.click("live-speed", "600×")
        page.click("live-start")
        page.until(lambda: "lesson is over" in page.text("live-status"), timeout=60, what="the lesson did not end")
        assert page.text("live-error") == ""
        faces = page.find("live-faces").find_elements(page.by.CSS_SELECTOR, ".vc-student img")
        assert len(faces) == 10 and all(f.get_attribute("src").startswith("data:image/png") for f in faces)
        assert any("seen: " in page.text(f"recognized-{k}") for k in range(10))
        assert page.find("live-curves").find_elements(page.by.CSS_SELECTOR, "canvas")
        assert page.find("live-log").find_elements(page.by.CSS_SELECTOR, "tbody tr")
        assert page.text("live-tea_share") != ""
        page.shot("lesson")

        # The comparison: 3 seeds of ECEM and the rule strategy, with the numbers of vclass sweep on the same spec.
        page.tab("Strategies")
        page.click("pick-broken:Broken")
        page.tab("Compare over seeds")
        page.type("compare-seeds", "3")
        page.click("compare-start")
        page.until(lambda: " of 6 lessons" in page.text("compare-status"), what="the comparison did not start")
        page.click("compare-start")  # a second one while it runs is refused, with a message
        page.until(lambda: "a comparison is running" in page.text("compare-error"), what="a second one was not refused")
        page.until(lambda: page.text("compare-status").startswith("done"), timeout=180, what="comparison unfinished")
        page.shot("compare", top="compare-status")
        measures = list(choices.DEFAULT_MEASURES)
        shown = spans(page, ["ecem", "calm-first"], measures)
        page.click("download-spec")
        page.click("download-results")
        page.until(lambda: all((downloads / n).exists() for n in ("spec.zip", "results.zip")), what="no downloads")
        spec_dir = tmp_path / "downloaded"
        with zipfile.ZipFile(downloads / "spec.zip") as archive:
            archive.extractall(spec_dir)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "vclass.cli",
                "sweep",
                str(spec_dir / "spec.toml"),
                "--out",
                str(tmp_path / "cli"),
                "--workers",
                "2",
                "--quiet",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        cli = json.loads((tmp_path / "cli" / "report" / "report.json").read_text())
        assert shown == report_numbers(cli, ["ecem", "calm-first"], measures)
        with zipfile.ZipFile(downloads / "results.zip") as archive:
            page_report = json.loads(archive.read("report/report.json"))
            page_rows = list(csv.DictReader(io.StringIO(archive.read("results.csv").decode())))
        assert page_report["by_cell"] == cli["by_cell"] and page_report["ranking"] == cli["ranking"]
        cli_rows = list(csv.DictReader((tmp_path / "cli" / "results.csv").open()))
        assert [[r[m] for m in measures] for r in page_rows] == [[r[m] for m in measures] for r in cli_rows]

        # Stopping the server while a comparison runs stops the comparison and its workers.
        page.click("compare-start")
        page.until(lambda: page.text("compare-status") == "0 of 6 lessons", what="no second comparison")
        page.until(lambda: len(descendants(server.pid)) >= 3, what="no sweep workers")  # the sweep and its 2 workers
        workers = descendants(server.pid)
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    deadline = time.time() + 10
    while any(alive(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in workers if alive(pid)], "the server left processes running"
