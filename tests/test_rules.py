"""Rule strategies (``rules:FILE.toml``): they reproduce the baselines they spell out, first match wins, limits and
memory count what they say, every bad file is one ConfigError naming the rule and key, and sweeps pin the file."""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vclass.agents.rules as rules_module
from vclass.agents.baselines import RoundRobinCheckin
from vclass.agents.registry import make_policy
from vclass.agents.rules import (
    SHIPPED_STRATEGIES,
    STRATEGIES_DIR,
    GivenCount,
    Rule,
    RuleSet,
    RuleStrategy,
    StateBeliefs,
    When,
    parse_rules,
    read_rule_file,
)
from vclass.cli import main
from vclass.config import ConfigError
from vclass.experiments.lesson.config import run_config_from_dict
from vclass.experiments.lesson.runner import run_lesson
from vclass.experiments.sweep.spec import expand, load_spec
from vclass.experiments.sweep.store import read_results
from vclass.sim.classroom import NO_CHECKIN, Observation
from vclass.sim.config import EmotionConfig
from vclass.sim.emotion import STATE_NAMES

EYE = np.eye(len(STATE_NAMES))
EXC, JOY, HAP, REL, CALM, DEP, TEN, ANG = (EYE[i] for i in range(len(STATE_NAMES)))


def strategy(text: str) -> RuleStrategy:
    policy = RuleStrategy(parse_rules(tomllib.loads(text)), EmotionConfig())
    policy.reset(0, np.random.default_rng(0))
    return policy


def observe(
    belief: list[np.ndarray] | np.ndarray,
    attention: list[float] | None = None,
    reachable: list[bool] | None = None,
    t_seconds: float = 0.0,
    segment: str = "lecture",
    budget: int = 10,
) -> Observation:
    belief = np.asarray(belief, dtype=float)
    n = belief.shape[0]
    reach = np.ones(n, dtype=bool) if reachable is None else np.asarray(reachable)
    return Observation(
        tick=int(t_seconds // 10),
        t_seconds=t_seconds,
        segment=segment,
        difficulty=0.5,
        belief=belief,
        attention=np.full(n, 0.5) if attention is None else np.asarray(attention, dtype=float),
        present=np.ones(n, dtype=bool),
        connected=reach.copy(),
        camera_on=np.ones(n, dtype=bool),
        intensity=np.zeros((n, 4)),
        teacher_budget_left=budget,
    )


# -- the baselines, spelt out as rules, give the same lessons -------------------------------------------------------

BASELINES_AS_RULES = {
    "none": 'action = "nothing"',
    "always-fun": 'action = "fun"\nwhen = { region = "below" }',
    "always-remove-problems": 'action = "remove-problems"\nwhen = { region = "below" }',
    "always-teaching-quality": 'action = "teaching-quality"\nwhen.region = "below"',
    "round-robin": 'action = "checkin"\norder_by = "rotation"',
    "greedy-attention": 'action = "checkin"\norder_by = "attention"',
}


def lesson(policy: str, seed: int):
    # Frequent outages and late joiners: round robin must skip students it cannot reach.
    return run_lesson(
        run_config_from_dict(
            {
                "seed": seed,
                "policy": {"name": policy},
                "recognizer": {"kind": "surrogate"},
                "classroom": {"students": 12, "minutes": 10, "connection_drop_prob": 0.05, "late_join_prob": 0.5},
            }
        )
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("baseline", sorted(BASELINES_AS_RULES))
def test_a_rule_file_spelling_out_a_baseline_gives_exactly_its_lessons(tmp_path, baseline, seed):
    path = tmp_path / f"{baseline}.toml"
    path.write_text(f"[[rules]]\n{BASELINES_AS_RULES[baseline]}\n")
    built_in, ruled = lesson(baseline, seed), lesson(f"rules:{path}", seed)
    assert ruled.record.applications == built_in.record.applications
    assert ruled.record.checkins == built_in.record.checkins
    assert ruled.record.refused_teaching_quality == built_in.record.refused_teaching_quality
    strip = ("policy", "config")
    assert {k: v for k, v in ruled.summary.items() if k not in strip} == {
        k: v for k, v in built_in.summary.items() if k not in strip
    }
    acted = len(built_in.record.applications) + len(built_in.record.checkins)
    assert (acted == 0) == (baseline == "none")
    if baseline == "round-robin":  # someone was skipped: the rotation was tested, not only index order
        turns = [student for _, student in built_in.record.checkins]
        assert any((b - a) % 12 != 1 for a, b in itertools.pairwise(turns))


def test_rotation_skips_the_unreachable_and_resumes_after_the_last_one_checked_in():
    ruled, round_robin = strategy('[[rules]]\naction = "checkin"\norder_by = "rotation"'), RoundRobinCheckin()
    round_robin.reset(4, np.random.default_rng(0))
    reachable = [[True] * 4, [True, False, True, True], [True, True, False, False], [False, True, True, True]]
    picks = []
    for t, reach in enumerate(reachable):
        obs = observe([HAP] * 4, reachable=reach, t_seconds=30.0 * t)
        picks.append(ruled.act(obs).checkin)
        assert picks[-1] == round_robin.act(obs).checkin
    # 0; 1 is away so 2; 3 is away too so 0 after wrapping (least-recently-checked-in would pick 1); then 1
    assert picks == [0, 2, 0, 1]


# -- first match wins, limits --------------------------------------------------------------------------------------


def test_each_student_gets_the_incentive_of_the_first_rule_that_matches_and_one_checkin_goes_out():
    policy = strategy("""
[[rules]]
action = "nothing"
when = { region = "inside" }
[[rules]]
action = "fun"
when = { belief_above = { depression = 0.5 } }
[[rules]]
action = "remove-problems"
when = { axis_below = 0.0 }
[[rules]]
action = "checkin"
when = { attention_below = 0.5 }
order_by = "attention"
""")
    # 0 happy (inside, nothing); 1 depressed (fun); 2 tense (remove problems); 3 half depressed, half calm: the
    # depression belief is not above 0.5, the axis is -1.2 (remove problems); 4 depressed but unreachable
    belief = [HAP, DEP, TEN, 0.5 * DEP + 0.5 * CALM, DEP]
    attention = [0.15, 0.45, 0.2, 0.9, 0.1]
    action = policy.act(observe(belief, attention, reachable=[True, True, True, True, False]))
    assert action.incentives.tolist() == [0, 3, 2, 2, 0]
    # the lowest attention below 0.5 among the reachable: 0 (0.15), whose "nothing" is about incentives only;
    # 4 (0.1) is not reachable
    assert action.checkin == 0


def test_a_rule_whose_decision_limit_is_used_up_passes_the_rest_to_later_rules_in_its_order():
    policy = strategy("""
[[rules]]
action = "teaching-quality"
when = { axis_below = 0.0 }
order_by = "axis"
limit_per_decision = 2
[[rules]]
action = "fun"
when = { axis_below = 0.0 }
limit_per_decision = 1
[[rules]]
action = "nothing"
[[rules]]
action = "reduce-difficulty"
""")
    # axes: calm -1.1, depression -1.3, tension -0.9, anger -0.7, joy 1.1
    action = policy.act(observe([CALM, DEP, TEN, ANG, JOY]))
    # the two lowest axes get teaching quality (depression, calm), the next in index order fun (tension), the
    # others nothing: the catch-all "nothing" stops the reduce-difficulty after it
    assert action.incentives.tolist() == [4, 4, 3, 0, 0]
    assert action.checkin == NO_CHECKIN


def test_limit_per_student_counts_the_rule_s_own_decisions_in_its_window():
    policy = strategy("""
[[rules]]
action = "fun"
limit_per_student = 2
limit_window_minutes = 1.5
[[rules]]
action = "reduce-difficulty"
""")
    given = [int(policy.act(observe([DEP], t_seconds=30.0 * d)).incentives[0]) for d in range(8)]
    # the rule's funs less than 90 s old: at 0 s none -> fun; 30 s (0) -> fun; 60 s (0, 30) -> reduce; 90 s (30)
    # -> fun; 120 s (90) -> fun; 150 s (90, 120) -> reduce; 180 s (120) -> fun; 210 s (180: 120 is 90 s old) -> fun
    assert given == [3, 3, 1, 3, 3, 1, 3, 3]


def test_limit_per_student_without_a_window_holds_for_the_whole_lesson():
    policy = strategy('[[rules]]\naction = "checkin"\nlimit_per_student = 1')
    picks = [policy.act(observe([HAP] * 3, t_seconds=30.0 * d)).checkin for d in range(5)]
    assert picks == [0, 1, 2, NO_CHECKIN, NO_CHECKIN]


def test_given_counts_what_the_strategy_gave_each_student_in_the_last_minutes():
    policy = strategy("""
[[rules]]
action = "fun"
when = { given = { what = "fun", minutes = 1, below = 1 } }
[[rules]]
action = "remove-problems"
when = { given = { what = "any-factor", above = 2 } }
""")
    given = [int(policy.act(observe([DEP], t_seconds=30.0 * d)).incentives[0]) for d in range(7)]
    # 0 s: fun. 30 s: a fun 30 s ago, and 1 factor in all -> nothing. 60 s: the fun of 0 s is a minute old, out
    # of the window -> fun. 90 s: fun 30 s ago, 2 factors -> nothing. 120 s: fun (3 factors). 150 s: fun 30 s
    # ago, but 3 factors > 2 -> remove-problems. 180 s: the fun of 120 s is a minute old -> fun
    assert given == [3, 0, 3, 0, 3, 2, 3]


def test_given_checkins_and_unreachable_students_are_neither_acted_on_nor_remembered():
    policy = strategy("""
[[rules]]
action = "checkin"
when = { given = { what = "checkin", below = 1 } }
[[rules]]
action = "fun"
""")
    first = policy.act(observe([DEP, DEP], reachable=[False, True]))
    assert first.incentives.tolist() == [0, 3] and first.checkin == 1
    second = policy.act(observe([DEP, DEP], t_seconds=30.0))
    assert second.incentives.tolist() == [3, 3] and second.checkin == 0  # 0 was never checked in with
    third = policy.act(observe([DEP, DEP], t_seconds=60.0))
    assert third.checkin == NO_CHECKIN


def test_segment_time_and_budget_conditions():
    policy = strategy("""
[[rules]]
action = "teaching-quality"
when = { segment = ["exercise", "online-test"], budget_left_above = 2 }
[[rules]]
action = "fun"
when = { from_minute = 5, until_minute = 10 }
[[rules]]
action = "reduce-difficulty"
when = { budget_left_below = 3 }
""")
    cases = [
        (dict(segment="exercise", budget=3, t_seconds=0), 4),
        (dict(segment="exercise", budget=2, t_seconds=0), 1),
        (dict(segment="lecture", budget=3, t_seconds=299), 0),
        (dict(segment="lecture", budget=3, t_seconds=300), 3),
        (dict(segment="lecture", budget=3, t_seconds=600), 0),
        (dict(segment="discussion", budget=0, t_seconds=600), 1),
    ]
    for kwargs, factor in cases:
        assert policy.act(observe([DEP], **kwargs)).incentives.tolist() == [factor], kwargs


def test_belief_attention_and_region_thresholds_are_strict():
    policy = strategy("""
[[rules]]
action = "fun"
when = { belief_above = { tension = 0.5 }, belief_below = { anger = 0.5 }, attention_above = 0.2 }
[[rules]]
action = "remove-problems"
when = { region = "above" }
""")
    belief = [0.5 * TEN + 0.5 * ANG, 0.6 * TEN + 0.4 * ANG, 0.6 * TEN + 0.4 * ANG, EXC, JOY]
    attention = [0.9, 0.2, 0.21, 0.9, 0.9]
    # 0: tension not above 0.5; 1: attention not above 0.2; excitement (1.3) and joy (1.1) are inside [0.6, 1.4]
    assert policy.act(observe(belief, attention)).incentives.tolist() == [0, 0, 3, 0, 0]
    narrow = dataclasses.replace(EmotionConfig(), tea_high=1.2)
    above = RuleStrategy(policy.rules, narrow)
    above.reset(0, np.random.default_rng(0))
    assert above.act(observe([EXC, JOY], [0.1, 0.1])).incentives.tolist() == [2, 0]


# -- validation -----------------------------------------------------------------------------------------------------

FUN = '[[rules]]\naction = "fun"\n'


@pytest.mark.parametrize(
    "text, field, fragment",
    [
        (FUN + "when = { attention_below = 1.5 }", "rules[0].when.attention_below", ">= 0 and <= 1, got 1.5"),
        (FUN + "when = { atention_below = 0.3 }", "rules[0].when.atention_below", "allowed keys here: attention_above"),
        (FUN + 'when = { attention_below = "low" }', "rules[0].when.attention_below", "must be a number"),
        (FUN + "when = { axis_below = true }", "rules[0].when.axis_below", "must be a number"),
        (FUN + 'when = { region = "under" }', "rules[0].when.region", "'below', 'inside', 'above'"),
        (FUN + "when = { segment = [] }", "rules[0].when.segment", "at least one"),
        (FUN + 'when = { segment = "lecture" }', "rules[0].when.segment", "a list"),
        (FUN + 'when = { segment = ["lecture", "lab"] }', "rules[0].when.segment[1]", "'online-test'"),
        (FUN + "when = { belief_above = { tensoin = 0.5 } }", "rules[0].when.belief_above.tensoin", "tension"),
        (FUN + "when = { belief_below = { anger = 2 } }", "rules[0].when.belief_below.anger", "<= 1, got 2"),
        (FUN + "when = { belief_above = 0.5 }", "rules[0].when.belief_above", "must be a table"),
        (FUN + "when = { given = { what = 'fun' } }", "rules[0].when.given.below", "below or above"),
        (FUN + "when = { given = { what = 'joy', below = 1 } }", "rules[0].when.given.what", "'any-factor'"),
        (FUN + "when = { given = { minutes = 0, below = 1 } }", "rules[0].when.given.minutes", "> 0"),
        (FUN + "when = { given = { below = 0 } }", "rules[0].when.given.below", ">= 1"),
        (FUN + "when = { given = { above = 1, below = 2 } }", "rules[0].when.given.below", "never holds"),
        (FUN + "when = { axis_above = 0.5, axis_below = 0.5 }", "rules[0].when.axis_below", "never holds"),
        (FUN + "when = { from_minute = 10, until_minute = 5 }", "rules[0].when.until_minute", "never holds"),
        (FUN + "when = { budget_left_above = 3, budget_left_below = 4 }", "rules[0].when.budget_left_below", "never"),
        (FUN + "when = { budget_left_above = -1 }", "rules[0].when.budget_left_above", ">= 0"),
        (
            FUN + "when = { belief_above = { joy = 0.6 }, belief_below = { joy = 0.4 } }",
            "rules[0].when.belief_below.joy",
            "never holds",
        ),
        (FUN + "limit_per_decision = 0", "rules[0].limit_per_decision", "an integer >= 1"),
        (FUN + "limit_per_student = 1.5", "rules[0].limit_per_student", "an integer"),
        (FUN + "limit_window_minutes = 5", "rules[0].limit_window_minutes", "limit_per_student"),
        (FUN + 'order_by = "gloom"', "rules[0].order_by", "'rotation'"),
        (FUN + "colour = 1", "rules[0].colour", "allowed keys here: action"),
        ('[[rules]]\naction = "fn"', "rules[0].action", "'reduce-difficulty'"),
        ("[[rules]]\naction = 3", "rules[0].action", "must be a string"),
        ("[[rules]]\nwhen = { region = 'below' }", "rules[0].action", "needs an action"),
        ('[[rules]]\naction = "checkin"\nlimit_per_decision = 2', "rules[0].limit_per_decision", "one student"),
        (FUN + '[[rules]]\naction = "nothing"\nwhen.axis_below = "x"', "rules[1].when.axis_below", "a number"),
        ('description = "empty"', "rules", "at least one"),
        ("rules = 3", "rules", "must be a list"),
        ("rules = [3]", "rules[0]", "must be a table"),
        ("[[rule]]\naction = 'fun'", "rule", "allowed keys here: description, rules"),
    ],
)
def test_a_bad_rule_is_one_config_error_naming_the_rule_and_key(tmp_path, text, field, fragment):
    with pytest.raises(ConfigError) as err:
        parse_rules(tomllib.loads(text))
    assert err.value.field == field
    assert fragment in err.value.message
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as from_file:
        make_policy(f"rules:{path}")
    assert from_file.value.field == f"{path}: {field}" and from_file.value.message == err.value.message


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda folder: folder / "missing.toml", "rule file not found"),
        (lambda folder: folder, "is a folder"),
        (lambda folder: _write(folder / "latin1.toml", 'description = "caf\xe9"'.encode("latin-1")), "not UTF-8"),
        (lambda folder: _write(folder / "broken.toml", b"[[rules]\naction = "), "not valid TOML"),
    ],
)
def test_a_file_that_cannot_be_read_as_rules_is_one_config_error_naming_it(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(ConfigError) as err:
        read_rule_file(path)
    assert err.value.field == str(path) and fragment in err.value.message


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_policy_params_and_names_of_a_rule_strategy_are_checked(tmp_path):
    path = tmp_path / "fun.toml"
    path.write_text(FUN)
    with pytest.raises(ConfigError) as err:
        make_policy(f"rules:{path}", {"how_many": 3})
    assert err.value.field == "policy.params.how_many"
    with pytest.raises(ConfigError) as err:
        make_policy(f"rules:{path}", {"sha256": "0" * 64})
    assert err.value.field == "policy.params.sha256" and "changed since" in err.value.message
    _, digest = read_rule_file(path)
    assert isinstance(make_policy(f"rules:{path}", {"sha256": digest}), RuleStrategy)
    for name, fragment in (("rules:", "needs a file"), ("rules:ecem-lik", "shipped: ecem-like")):
        with pytest.raises(ConfigError, match=fragment) as err:
            make_policy(name)
        assert err.value.field == "policy.name"


def test_relative_rule_files_are_taken_from_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "mine.toml").write_text(FUN)
    monkeypatch.chdir(tmp_path)
    assert make_policy("rules:mine.toml").rules.rules[0].action == "fun"


def test_vclass_run_with_a_bad_rule_file_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(FUN + "when = { attention_below = 1.5 }")
    out = tmp_path / "out"
    assert main(["run", "--policy", f"rules:{bad}", "--recognizer", "oracle", "--quiet", "--out", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert message == (
        f"vclass run: error: {bad}: rules[0].when.attention_below: must be a number >= 0 and <= 1, got 1.5"
    )
    assert not out.exists()


# Keys a rule file may hold, and values of every kind: generated files mix good keys, typos and garbage.
_KEYS = st.sampled_from(
    [f.name for cls in (RuleSet, Rule, When, GivenCount) for f in dataclasses.fields(cls)]
    + list(STATE_NAMES)
    + ["colour", "rule", ""]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.integers(-(2**63), 2**63 - 1),  # TOML's integers
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["fun", "checkin", "nothing", "below", "inside", "lecture", "attention", "rotation", "any-factor"]),
    st.text(max_size=5),
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=12
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["rules", "description", "colour"]),
        st.lists(st.dictionaries(_KEYS, _VALUES, max_size=5), max_size=3) | _VALUES,
        max_size=2,
    )
)
def test_any_garbage_is_a_config_error_and_any_accepted_rule_set_acts(data):
    try:
        rules = parse_rules(data)
    except ConfigError:
        return
    policy = RuleStrategy(rules, EmotionConfig())
    policy.reset(3, np.random.default_rng(0))
    for d in range(3):
        action = policy.act(observe([DEP, JOY, TEN], [0.1, 0.5, 0.9], [True, True, d > 0], t_seconds=30.0 * d))
        assert action.incentives.shape == (3,) and action.checkin in (NO_CHECKIN, 0, 1, 2)
        assert d > 0 or (action.incentives[2] == 0 and action.checkin != 2)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80) | st.text(max_size=80).map(str.encode))
def test_any_bytes_as_a_rule_file_give_a_config_error_or_rules(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("garbage") / "rules.toml"
    path.write_bytes(raw)
    try:
        read_rule_file(path)
    except ConfigError as err:
        assert err.field.startswith(str(path))


# -- the format's manual and the shipped examples -------------------------------------------------------------------


def test_the_module_docstring_documents_every_key():
    doc = rules_module.__doc__
    for cls in (RuleSet, Rule, When, GivenCount):
        for f in dataclasses.fields(cls):
            assert f"``{f.name}``" in doc, f.name
    assert tuple(f.name for f in dataclasses.fields(StateBeliefs)) == STATE_NAMES


def test_the_docstring_example_is_a_valid_rule_file():
    doc = rules_module.__doc__
    example = doc.split("Example\n-------\n::\n", 1)[1].split("\nHow a decision", 1)[0]
    rules = parse_rules(tomllib.loads(example))
    assert [r.action for r in rules.rules] == ["nothing", "remove-problems", "fun", "checkin", "checkin"]


def test_the_shipped_strategies_are_package_data_with_a_header_and_a_description():
    assert sorted(p.stem for p in STRATEGIES_DIR.glob("*.toml")) == sorted(SHIPPED_STRATEGIES)
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert "strategies/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["vclass.agents"]
    for name in SHIPPED_STRATEGIES:
        text = (STRATEGIES_DIR / f"{name}.toml").read_text()
        assert text.startswith("# ") and f"rules:{name}" in text
        rules, _ = read_rule_file(STRATEGIES_DIR / f"{name}.toml")
        assert rules.description


@pytest.mark.parametrize("name", SHIPPED_STRATEGIES)
def test_each_shipped_strategy_runs_a_lesson_and_acts(name):
    result = lesson(f"rules:{name}", 0)
    assert result.summary["interventions"] > 0
    assert (result.summary["checkins"] > 0) == (name == "attention-first")


# -- sweeps ---------------------------------------------------------------------------------------------------------


def test_a_sweep_takes_a_rule_file_from_the_spec_s_folder_and_its_content_changes_the_run_ids(
    tmp_path, monkeypatch, capsys
):
    specs, elsewhere = tmp_path / "specs", tmp_path / "elsewhere"
    specs.mkdir()
    elsewhere.mkdir()
    (specs / "gloom.toml").write_text(FUN + 'when = { region = "below" }\n')
    spec = specs / "spec.toml"
    spec.write_text("""name = "rules"
seeds = 2
reference = "none"
measures = ["tea_share", "interventions"]
[base]
recognizer = { kind = "oracle" }
classroom = { students = 5, minutes = 3 }
[[policies]]
name = "none"
[[policies]]
label = "gloom"
name = "rules:gloom.toml"
""")
    monkeypatch.chdir(elsewhere)  # the file is found beside the spec, not in the working folder
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet", "--no-report"]) == 0
    rows = read_results(out)
    assert [(r["policy"], r["status"]) for r in rows] == [("none", "ok")] * 2 + [("gloom", "ok")] * 2
    assert all(r["interventions"] > 0 for r in rows if r["policy"] == "gloom")
    assert rows[2]["policy_name"] == f"rules:{(specs / 'gloom.toml').resolve()}"

    before = expand(*load_spec(spec))
    assert [e.run_id for e in expand(*load_spec(spec))] == [e.run_id for e in before]
    capsys.readouterr()
    sweep = ["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet", "--no-report"]
    assert main(sweep) == 0 and "4 done before, 0 run now" in capsys.readouterr().out  # same file: all kept

    (specs / "gloom.toml").write_text(FUN + 'when = { region = "below" }\nlimit_per_decision = 1\n')
    after = expand(*load_spec(spec))
    assert [e.run_id for e in after[:2]] == [e.run_id for e in before[:2]]  # "none" is untouched
    assert not {e.run_id for e in after[2:]} & {e.run_id for e in before[2:]}
    # a run planned with the old file refuses the new one rather than mislabel its row
    with pytest.raises(ConfigError, match="changed since"):
        run_lesson(run_config_from_dict(before[2].config))
    # the folder's rows are of the old file: the sweep does not resume into them
    assert main(sweep) == 2 and "holds another sweep" in capsys.readouterr().err
    assert main([*sweep, "--fresh"]) == 0
    assert [r["interventions"] for r in read_results(out)][2:] != [r["interventions"] for r in rows][2:]


def test_a_sweep_spec_with_a_bad_rule_file_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(FUN + "when = { attention_below = 1.5 }")
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'name = "bad"\nseeds = 1\n[base]\nrecognizer = { kind = "oracle" }\n[[policies]]\nname = "rules:bad.toml"\n'
    )
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--quiet"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "bad.toml: rules[0].when.attention_below: must be a number" in message
    assert not out.exists()
