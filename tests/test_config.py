"""Config: defaults are SPEC's, and every kind of bad input names the field and its allowed range."""

from __future__ import annotations

import dataclasses

import pytest

from vclass.config import ConfigError, bounded, from_dict, parse_override
from vclass.experiments.lesson.config import load_run_config, run_config_from_dict
from vclass.sim.config import SimConfig


def test_defaults_hold_spec_constants():
    cfg = SimConfig()
    assert (cfg.classroom.students, cfg.classroom.minutes, cfg.classroom.tick_seconds) == (30, 45.0, 10.0)
    assert cfg.classroom.decision_seconds == 30.0
    assert (cfg.emotion.stay_prob, cfg.emotion.same_category_prob, cfg.emotion.other_category_prob) == (
        0.92,
        0.02,
        0.005,
    )
    assert cfg.emotion.heterogeneity_kappa == 500 and cfg.emotion.temperament_sd == 0.3
    assert (cfg.emotion.difficulty_drift, cfg.emotion.fatigue_drift, cfg.emotion.test_tension_drift) == (1.5, 1.0, 0.8)
    assert (cfg.emotion.lecture_fatigue_drift_video, cfg.emotion.lecture_fatigue_drift_slides) == (0.8, 1.2)
    assert cfg.emotion.incentive_gain == 1.5 and cfg.emotion.axis_weights == (1.0, 0.2, 0.1)
    assert (cfg.emotion.tea_low, cfg.emotion.tea_high) == (0.6, 1.4)
    assert cfg.incentives.habituation == 0.7 and cfg.incentives.teacher_budget == 10
    assert cfg.attention.rate == 0.2 and cfg.attention.checkin_boost == 0.25
    assert cfg.classroom.n_ticks == 270 and cfg.classroom.ticks_per_decision == 3


@pytest.mark.parametrize(
    "data, field, fragment",
    [
        ({"classroom": {"students": 0}}, "classroom.students", ">= 1"),
        ({"classroom": {"minutes": -5}}, "classroom.minutes", "> 0"),
        ({"classroom": {"late_join_prob": 1.5}}, "classroom.late_join_prob", "<= 1"),
        ({"classroom": {"students": "thirty"}}, "classroom.students", "an integer"),
        ({"classroom": {"students": 3.5}}, "classroom.students", "an integer"),
        ({"classroom": {"online_tests": "yes"}}, "classroom.online_tests", "true or false"),
        ({"classroom": {"presentation": "podcast"}}, "classroom.presentation", "'video', 'slides'"),
        ({"classroom": {"studnets": 30}}, "classroom.studnets", "unknown key"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"classroom": {"decision_seconds": 25}}, "classroom.decision_seconds", "multiple"),
        ({"emotion": {"stay_prob": 0.9}}, "emotion.stay_prob", "must equal 1"),
        ({"emotion": {"tea_low": 1.5}}, "emotion.tea_low", "tea_low (1.5) must be < tea_high (1.4)"),
        ({"emotion": {"axis_weights": [1.0, 0.2]}}, "emotion.axis_weights", "exactly 3"),
        ({"attention": {"targets": [0.5] * 7 + [1.5]}}, "attention.targets[7]", "<= 1"),
        ({"incentives": {"profiles": [[0.0] * 8] * 3 + [[0.0] * 7]}}, "incentives.profiles[3]", "exactly 8"),
        ({"lesson": {"segments": [{"kind": "lecture", "share": 0.5}]}}, "lesson.segments", "add up to 1"),
        ({"lesson": {"segments": [{"kind": "nap", "share": 1.0}]}}, "lesson.segments[0].kind", "'lecture'"),
        (
            {"students": {"fatigue_min": 2.0, "fatigue_max": 1.0}},
            "students.fatigue_min",
            "fatigue_min (2) must be <= fatigue_max (1)",
        ),
        ({"seed": -1}, "seed", ">= 0"),
        ({"classroom": 5}, "classroom", "a table"),
    ],
)
def test_invalid_config_names_field_and_allowed_range(data, field, fragment):
    with pytest.raises(ConfigError) as info:
        run_config_from_dict(data)
    assert info.value.field == field
    assert fragment in str(info.value)


def test_toml_file_and_overrides_resolve_in_order(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('seed = 4\n[classroom]\nstudents = 12\npresentation = "slides"\n[policy]\nname = "none"\n')
    cfg = load_run_config(path, [(["classroom", "students"], 7), parse_override("classroom.online_tests=false")])
    assert cfg.seed == 4 and cfg.policy.name == "none"
    assert cfg.sim.classroom.students == 7 and cfg.sim.classroom.presentation == "slides"
    assert cfg.sim.classroom.online_tests is False


def test_broken_toml_and_missing_file_are_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[classroom\nstudents = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_run_config(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_run_config(tmp_path / "missing.toml")


def test_override_values_parse_as_toml_and_bare_words_as_strings():
    assert parse_override("classroom.students=40") == (["classroom", "students"], 40)
    assert parse_override("classroom.presentation=slides") == (["classroom", "presentation"], "slides")
    assert parse_override("emotion.axis_weights=[1, 0.5, 0]") == (["emotion", "axis_weights"], [1, 0.5, 0])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("classroom.students")


@dataclasses.dataclass(frozen=True)
class _Optional:
    threshold: float | None = bounded(None, ge=0, le=1)
    count: int | None = bounded(None, ge=1)


def test_an_optional_field_left_out_is_none_and_given_is_checked_like_its_type():
    assert from_dict(_Optional, {}) == _Optional(None, None)
    assert from_dict(_Optional, {"threshold": 1, "count": 2}) == _Optional(1.0, 2)
    with pytest.raises(ConfigError) as err:
        from_dict(_Optional, {"threshold": 1.5})
    assert str(err.value) == "threshold: must be a number >= 0 and <= 1, got 1.5"
    with pytest.raises(ConfigError, match="count: must be an integer >= 1, got 0.5"):
        from_dict(_Optional, {"count": 0.5})
