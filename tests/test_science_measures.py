"""Known answers for SPEC §7's outcome measures: every column of ``class_summary``, ``timeline`` and
``student_table`` on a hand-built lesson record, each expected value worked out by hand in the comments.

The record (4 ticks of 15 s, 3 students) is built so that every denominator differs: a late joiner (student 1
absent at tick 0) and a leaver (student 2 gone at tick 3) make present time differ from enrolled time, dropped
connections make online time differ from present time, and an attention of exactly 0.6 sits on the threshold.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from vclass.config import replace_nested
from vclass.sim.classroom import LessonRecord
from vclass.sim.config import SimConfig
from vclass.sim.emotion import FACTOR_NAMES
from vclass.sim.lesson import build_lesson
from vclass.sim.measures import class_summary, factor_uses, intervention_cost, student_table, timeline
from vclass.sim.students import sample_population

T, F = True, False


def hand_record() -> LessonRecord:
    cfg = replace_nested(
        SimConfig(),
        **{
            "classroom.students": 3,
            "classroom.minutes": 1.0,
            "classroom.tick_seconds": 15.0,
            "incentives.cost_weights": (1.5, 2.0, 3.0, 5.0),
            "behaviour.hand_raise_seconds": 12.0,
            "behaviour.checkin_seconds": 45.0,
        },
    )
    plan = build_lesson(cfg)
    population = sample_population(cfg, np.random.default_rng(0))
    population.ability[:] = [0.4, 0.55, 0.7]
    population.dilution[:] = [0.3, 0.5, 0.9]
    population.join_seconds[:] = [0.0, 20.0, 0.0]
    population.leave_seconds[:] = [np.inf, np.inf, 50.0]
    rec = LessonRecord.allocate(cfg, 0, plan, population)
    # rows: ticks 0..3; columns: students 0..2
    rec.state[:] = np.array([[0, 4, 3], [1, 5, 2], [3, 6, 4], [7, 0, 4]])
    rec.present[:] = np.array([[T, F, T], [T, T, T], [T, T, T], [T, T, F]])
    rec.connected[:] = np.array([[T, T, T], [T, T, F], [F, T, T], [T, F, T]])
    rec.camera_on[:] = np.array([[T, T, T], [F, T, T], [T, F, T], [T, T, T]])
    rec.attention[:] = np.array([[0.9, 0.8, 0.61], [0.7, 0.5, 0.62], [0.3, 0.6, 0.2], [0.65, 0.95, 0.9]])
    hands = np.zeros((4, 3), dtype=bool)
    hands[[0, 2, 3], 0] = True  # student 0: online at 0 and 3, offline at 2
    hands[[0, 2], 1] = True  # student 1: absent at 0, online at 2
    hands[[1, 2], 2] = True  # student 2: disconnected at 1, online at 2
    rec.behaviour[..., 3] = hands
    rec.behaviour[..., 0] = True  # other behaviours change no measure
    rec.learning[:] = np.array([[0.01, 0.0, 0.003], [0.02, 0.01, 0.0], [0.0, 0.01, 0.004], [0.005, 0.0, 0.0]])
    rec.applications = [(0, 0, 3, 1.0), (0, 2, 3, 1.0), (1, 1, 1, 1.0), (2, 1, 1, 0.7), (3, 0, 4, 1.0), (2, 2, 2, 1.0)]
    rec.checkins = [(0, 2), (1, 0), (3, 2)]
    rec.fun_decisions = 1
    rec.refused_teaching_quality = 2
    return rec


# Axis values of the states (SPEC: exc 1.3, joy 1.1, hap 0.9, rel 0.7, calm -1.1, dep -1.3, ten -0.9, ang -0.7):
#   student 0: 1.3, 1.1, 0.7, -0.7   (present 4 ticks; in the TEA [0.6, 1.4] at ticks 0, 1, 2)
#   student 1: [-1.1], -1.3, -0.9, 1.3   (present at 1..3; in the TEA at 3)
#   student 2: 0.7, 0.9, -1.1, [-1.1]   (present at 0..2; in the TEA at 0, 1)
# Online (present and connected): s0 ticks 0, 1, 3; s1 ticks 1, 2; s2 ticks 0, 2.  7 online student-ticks.
# Attending (online, a >= 0.6): s0 ticks 0, 1, 3; s1 tick 2 (a = 0.6); s2 tick 0 (0.61).  5 student-ticks.


def test_class_summary_of_a_hand_built_lesson():
    got = class_summary(hand_record())
    expected = {
        "students": 3,
        "minutes": 1.0,
        "tea_share": 6 / 10,  # 3 + 1 + 2 in the TEA over 10 present student-ticks (not 12 enrolled)
        "mean_attention": (0.9 + 0.7 + 0.65 + 0.5 + 0.6 + 0.61 + 0.2) / 7,  # over online student-ticks
        "participation": 5 / 12,  # attending over enrolled student-ticks
        "effective_participation_min": (3 + 1 + 1) * 0.25 / 3,  # attending ticks x 15 s, per student
        "mean_axis": ((1.3 + 1.1 + 0.7 - 0.7) + (-1.3 - 0.9 + 1.3) + (0.7 + 0.9 - 1.1)) / 10,
        "learning_gain": (0.035 + 0.02 + 0.007) / 3,
        "interventions": 6,
        "interventions_by_factor": {"reduce-difficulty": 2, "remove-problems": 1, "fun": 2, "teaching-quality": 1},
        "fun_decisions": 1,
        "refused_teaching_quality": 2,
        "intervention_cost": 2 * 1.5 + 1 * 2.0 + 1 * 3.0 + 1 * 5.0,  # fun once per decision, not per student
        "checkins": 3,
        "hand_raises_per_student": (2 + 1 + 1) / 3,  # online hand raises only
        "connected_share": 7 / 10,  # connected over present
        "camera_on_share": 8 / 10,  # camera on over present
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_timeline_of_a_hand_built_lesson():
    got = timeline(hand_record())
    third, half = 1 / 3, 1 / 2
    expected = {
        "tick": [0, 1, 2, 3],
        "minute": [0.0, 0.25, 0.5, 0.75],
        "difficulty": [0.5, 0.5, 0.6, 0.7],  # default segments: t/T = 0, .25 lecture; .5 exercise; .75 test
        "present": [2, 3, 3, 2],
        "connected": [2, 2, 2, 1],  # present and connected
        "camera_on": [2, 1, 1, 1],  # online with the camera on
        "mean_attention": [(0.9 + 0.61) / 2, (0.7 + 0.5) / 2, (0.6 + 0.2) / 2, 0.65],
        "participation": [2 / 3, third, third, third],
        "tea_share": [1.0, 2 / 3, third, half],
        "mean_axis": [(1.3 + 0.7) / 2, (1.1 - 1.3 + 0.9) / 3, (0.7 - 0.9 - 1.1) / 3, (-0.7 + 1.3) / 2],
        "learning": [0.013 / 3, 0.03 / 3, 0.014 / 3, 0.005 / 3],
        "share_excitement": [half, 0, 0, half],
        "share_joy": [0, third, 0, 0],
        "share_happiness": [0, third, 0, 0],
        "share_relaxation": [half, 0, third, 0],
        "share_calmness": [0, 0, third, 0],  # student 2 in calmness at tick 3 has left
        "share_depression": [0, third, 0, 0],
        "share_tension": [0, 0, third, 0],
        "share_anger": [0, 0, 0, half],
        "incentive_reduce-difficulty": [0, 1, 1, 0],
        "incentive_remove-problems": [0, 0, 1, 0],
        "incentive_fun": [2, 0, 0, 0],
        "incentive_teaching-quality": [0, 0, 0, 1],
        "checkins": [1, 1, 0, 1],
    }
    assert got["segment"].tolist() == ["lecture", "lecture", "exercise", "online-test"]
    assert set(got) == set(expected) | {"segment"}
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-12, err_msg=key)


def test_student_table_of_a_hand_built_lesson():
    got = student_table(hand_record())
    expected = {
        "student": [0, 1, 2],
        "ability": [0.4, 0.55, 0.7],
        "dilution": [0.3, 0.5, 0.9],
        "join_min": [0.0, 20 / 60, 0.0],
        "leave_min": [math.nan, math.nan, 50 / 60],
        "present_min": [1.0, 0.75, 0.75],
        "connected_share": [3 / 4, 2 / 3, 2 / 3],
        "mean_attention": [(0.9 + 0.7 + 0.65) / 3, (0.5 + 0.6) / 2, (0.61 + 0.2) / 2],
        "effective_participation_min": [0.75, 0.25, 0.25],
        "tea_share": [3 / 4, 1 / 3, 2 / 3],
        "mean_axis": [2.4 / 4, -0.9 / 3, 0.5 / 3],
        "learning_gain": [0.035, 0.02, 0.007],
        "hand_raises": [2, 1, 1],
        "checkins": [1, 0, 2],
        "interaction_count": [3, 1, 3],
        "interaction_s": [2 * 12 + 45, 12, 12 + 2 * 45],  # 12 s per hand raise, 45 s per check-in
        "incentive_reduce-difficulty": [0, 2, 0],
        "incentive_remove-problems": [0, 0, 1],
        "incentive_fun": [1, 0, 1],
        "incentive_teaching-quality": [1, 0, 0],
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, atol=1e-12, err_msg=key)


def test_factor_uses_and_cost_count_applications_per_factor():
    rec = hand_record()
    assert factor_uses(rec.applications).tolist() == [2, 1, 2, 1]
    rec.fun_decisions = 4
    assert intervention_cost(rec) == pytest.approx(2 * 1.5 + 2.0 + 4 * 3.0 + 5.0)


def test_measures_over_no_student_ticks_are_undefined_with_a_reason_not_nan():
    rec = hand_record()
    rec.present[:] = False
    got = class_summary(rec)
    for key in ("tea_share", "mean_axis", "connected_share", "camera_on_share", "mean_attention"):
        assert got[key] is None and key in got["undefined"]
    assert got["participation"] == 0.0 and got["effective_participation_min"] == 0.0
    rec = hand_record()
    rec.connected[:] = False
    got = class_summary(rec)
    assert got["mean_attention"] is None and set(got["undefined"]) == {"mean_attention"}
    assert got["tea_share"] == pytest.approx(0.6) and got["connected_share"] == 0.0


def test_counts_are_integers_and_cover_every_student_and_tick():
    rec = hand_record()
    rec.checkins = [(1, 0)]  # the last students never checked in: still one count per student
    rec.applications = [*rec.applications, (4, 1, 2, 1.0)]  # a decision at the lesson's end: after every tick
    table, line = student_table(rec), timeline(rec)
    assert table["checkins"].tolist() == [1, 0, 0] and table["incentive_remove-problems"].tolist() == [0, 1, 1]
    assert line["incentive_remove-problems"].tolist() == [0, 0, 1, 0]  # tick 4 is not a tick of the lesson
    for name in ("checkins", "hand_raises", "interaction_count", *(f"incentive_{f}" for f in FACTOR_NAMES)):
        assert table[name].dtype.kind == "i", name
    for name in ("checkins", "present", "connected", *(f"incentive_{f}" for f in FACTOR_NAMES)):
        assert line[name].dtype.kind == "i", name


def test_tea_includes_both_ends_and_means_over_nobody_are_nan_per_tick_and_student():
    rec = hand_record()
    # Axis weights whose state values are exact in binary: relaxation 1 - 0.5 - 0.25 = 0.25, joy 1 + 0.5 - 0.25
    # = 1.25; the TEA [0.25, 1.25] has them on its ends.
    rec.cfg = replace_nested(
        rec.cfg, **{"emotion.axis_weights": (1.0, 0.5, 0.25), "emotion.tea_low": 0.25, "emotion.tea_high": 1.25}
    )
    rec.state[:] = np.array([[3, 1, 0], [1, 3, 2], [3, 1, 4], [1, 3, 4]])  # rel / joy, and exc (1.75), hap (0.75)
    rec.connected[:, 2] = False  # student 2 is never online
    rec.connected[3, :] = False  # nobody is online at tick 3
    rec.present[0, 2] = False  # one student present at tick 0
    table, line = student_table(rec), timeline(rec)
    # In the TEA: states 3 and 1 at every present tick; student 2 has exc (out) at 0 (absent now), hap (in) at 1,
    # calm (out) at 2.
    np.testing.assert_allclose(table["tea_share"], [1.0, 1.0, 1 / 2])
    assert np.isnan(table["mean_attention"][2]) and np.isnan(line["mean_attention"][3])
    np.testing.assert_allclose(line["share_relaxation"], [1.0, 1 / 3, 1 / 3, 1 / 2])  # tick 0: 1 of 1 present
    np.testing.assert_allclose(line["tea_share"], [1.0, 1.0, 2 / 3, 1.0])


def test_check_ins_are_counted_per_tick_and_an_undefined_measure_says_why():
    rec = hand_record()
    rec.checkins = [(1, 0), (1, 2), (4, 1)]  # two at one tick; one after the last tick
    assert timeline(rec)["checkins"].tolist() == [0, 2, 0, 0]
    rec.present[:] = False
    reasons = class_summary(rec)["undefined"]
    assert all(isinstance(reason, str) and "present" in reason for reason in reasons.values())


def test_the_intervention_table_of_a_hand_built_lesson():
    from types import SimpleNamespace

    from vclass.sim.measures import intervention_table

    rec = hand_record()
    nan = math.nan
    rec.application_context = [(0, 0.8), (3, nan), (5, 0.1), (6, nan), (7, 1.2), (2, 0.65)]
    rec.checkin_states = [3, 1, 4]
    one_hot = np.eye(8)
    rec.decisions = [  # beliefs at ticks 0 and 2 only: other rows have no belief axis
        SimpleNamespace(tick=0, belief=one_hot[[0, 4, 3]]),
        SimpleNamespace(tick=2, belief=one_hot[[2, 6, 1]]),
    ]
    table = intervention_table(rec)
    # Time order; at one tick incentives before check-ins, then by student.
    assert table["tick"].tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]
    assert table["t_seconds"].tolist() == [0.0, 0.0, 0.0, 15.0, 15.0, 30.0, 30.0, 45.0, 45.0]
    assert table["student"].tolist() == [0, 2, 2, 1, 0, 1, 2, 0, 2]
    inc, chk = "incentive", "checkin"
    assert table["kind"].tolist() == [inc, inc, chk, inc, chk, inc, inc, inc, chk]
    assert table["factor"].tolist() == [3, 3, None, 1, None, 1, 2, 4, None]
    assert table["strength"].tolist() == [1.0, 1.0, None, 1.0, None, 0.7, 1.0, 1.0, None]
    # x of the decision's belief: exc 1.3, rel 0.7 (tick 0); ten -0.9, joy 1.1 (tick 2).
    assert table["belief_axis"].tolist() == pytest.approx([1.3, 0.7, 0.7, None, None, -0.9, 1.1, None, None])
    assert table["predicted_axis"].tolist() == [0.8, None, None, 0.1, None, None, 0.65, 1.2, None]
    assert table["true_state"].tolist() == [
        "excitement",
        "relaxation",
        "relaxation",
        "depression",
        "joy",
        "tension",
        "happiness",
        "anger",
        "calmness",
    ]
    # Weights (1.5, 2.0, 3.0, 5.0); fun's 3.0 is one decision's, shared by its two recipients at tick 0.
    assert table["cost"].tolist() == [1.5, 1.5, 0.0, 1.5, 0.0, 1.5, 2.0, 5.0, 0.0]
    assert table["cost"].sum() == pytest.approx(intervention_cost(rec))
