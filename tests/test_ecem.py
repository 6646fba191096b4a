"""ECEM as SPEC §6 defines it, and the teacher's model it shares with the belief filter.

Every expected value here comes from a few-line reference written in this file from SPEC's text (the chain, the
tilt, the fading, the look-ahead, the choice rule), never from the code under test; fixtures break symmetry:
distinct costs, students with different intensities and habituation, a target region narrow enough to overshoot.
"""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
from spec_tables import AXIS, NEGATIVE_HIGH_AROUSAL, NEGATIVE_LOW_AROUSAL, POSITIVE, TENSION, W

from vclass.agents.ecem import ECEM, decision_divergence, emotion_levels, level_of
from vclass.cli import main
from vclass.config import replace_nested
from vclass.env.observers import RecognitionObserver
from vclass.sim.classroom import NO_CHECKIN, Action, Classroom, Observation, simulate
from vclass.sim.config import SimConfig
from vclass.sim.lesson import build_lesson
from vclass.sim.teacher import TeacherModel


def reference_chain(cfg: SimConfig, tick: int, intensity: np.ndarray) -> np.ndarray:
    """SPEC §2/§6, written out: the shared base chain tilted by what the teacher knows at ``tick``."""
    e, inc, st = cfg.emotion, cfg.incentives, cfg.students
    a0 = np.where(POSITIVE[:, None] == POSITIVE[None, :], e.same_category_prob, e.other_category_prob)
    np.fill_diagonal(a0, e.stay_prob)
    plan = build_lesson(cfg)  # the lesson's timeline: segments, difficulty, online tests
    tick = min(tick, plan.n_ticks - 1)
    t_over_T = tick / plan.n_ticks
    lecture = plan.segment[tick] == 0
    eta_f = (
        (e.lecture_fatigue_drift_video if cfg.classroom.presentation == "video" else e.lecture_fatigue_drift_slides)
        if lecture
        else e.fatigue_drift
    )
    chains = []
    for row in intensity:
        difficulty = plan.difficulty[tick] - (inc.difficulty_reduction if row[0] > inc.active_threshold else 0.0)
        gap = max(difficulty, 0.0) - st.ability_mean
        fatigue = eta_f * 0.5 * (st.fatigue_min + st.fatigue_max) * t_over_T
        logit = (
            e.difficulty_drift * gap * NEGATIVE_HIGH_AROUSAL
            + fatigue * NEGATIVE_LOW_AROUSAL
            + e.test_tension_drift * bool(plan.online_test[tick]) * (np.arange(8) == TENSION)
            + e.incentive_gain * row @ W
        )
        rows = a0 * np.exp(logit)[None, :]
        chains.append(rows / rows.sum(axis=1, keepdims=True))
    return np.array(chains)


def reference_axes(cfg, belief, tick, intensity, strength, horizon):
    """x(A') after h = 1..horizon ticks for each factor applied now at its strength, intensities fading at the
    median dilution: (H, 4, S)."""
    decay = np.exp(-cfg.students.dilution_median * cfg.incentives.fading_per_minute * cfg.classroom.tick_seconds / 60)
    x = np.zeros((horizon, 4, belief.shape[0]))
    for m in range(4):
        now = intensity.copy()
        now[:, m] += strength[:, m]
        b = belief
        for h in range(horizon):
            b = np.einsum("ni,nij->nj", b, reference_chain(cfg, tick + h, now))
            x[h, m] = b @ AXIS
            now = now * decay
    return x


def reference_choice(x, costs, tea, allowed=None):
    """SPEC §6: the cheapest factor inside [x_lo, x_hi] at the smallest h, else the highest x at the last h."""
    order = sorted(range(4), key=lambda m: (costs[m], m))
    choices = []
    for s in range(x.shape[2]):
        ok = [m for m in order if allowed is None or allowed[m]]
        pick = next(((h, m) for h in range(x.shape[0]) for m in ok if tea[0] <= x[h, m, s] <= tea[1]), None)
        choices.append(pick[1] + 1 if pick else max(ok, key=lambda m: x[-1, m, s]) + 1)
    return choices


@pytest.fixture
def cfg():
    # Distinct costs (remove-problems cheapest, reduce-difficulty dearest) so the cost order is not SPEC's order.
    return replace_nested(SimConfig(), **{"incentives.cost_weights": (4.0, 1.0, 2.0, 3.0)})


def _beliefs(n: int = 12):
    rng = np.random.default_rng(11)
    beliefs = rng.dirichlet(np.full(8, 0.4), n)
    beliefs[0] = np.eye(8)[5]  # deep depression
    beliefs[1] = 0.5 * np.eye(8)[3] + 0.5 * np.eye(8)[4]  # between relaxation and calmness
    return beliefs


def test_the_teacher_chain_is_the_base_chain_tilted_by_the_known_context_and_its_own_incentives(cfg):
    model = TeacherModel(cfg)
    intensity = np.array([[0.0, 0.0, 0.0, 0.0], [0.35, 0.0, 0.9, 0.0], [0.05, 1.2, 0.0, 0.4]])  # row 1: reduced D
    for tick in (0, 100, 170, 260):  # lecture, exercise, online test, discussion
        np.testing.assert_allclose(model.chains(tick, intensity), reference_chain(cfg, tick, intensity), rtol=1e-12)
    slides = replace_nested(cfg, **{"classroom.presentation": "slides", "classroom.online_tests": False})
    np.testing.assert_allclose(
        TeacherModel(slides).chains(170, intensity), reference_chain(slides, 170, intensity), rtol=1e-12
    )


def test_the_belief_filter_predicts_with_the_teacher_chain(cfg, confusion):
    """The filter's chain at each tick is the teacher model's chain with the intensities the teacher applied."""
    small = replace_nested(cfg, **{"classroom.students": 6, "classroom.minutes": 5.0})
    observer = RecognitionObserver("surrogate", confusion_path=confusion)
    room = Classroom(small, 3, ECEM(small), observer)
    room.decide()
    room.apply(Action(np.array([3, 0, 1, 0, 2, 4]), -1))  # incentives the teacher knows it gave
    room.advance(0)
    expected = reference_chain(small, 0, room.teacher_ledger.before_decay())
    assert np.abs(room.teacher_ledger.before_decay()).sum() > 0
    np.testing.assert_allclose(observer._teacher_transitions(room, 0), expected, rtol=1e-12)


def test_ecem_looks_ahead_with_fading_intensities_and_the_strength_a_repeat_really_has(cfg):
    ecem = ECEM(cfg)
    beliefs = _beliefs()
    rng = np.random.default_rng(5)
    intensity = rng.uniform(0, 1.0, (12, 4)) * (rng.random((12, 4)) < 0.5)
    strength = 0.7 ** rng.integers(0, 6, (12, 4))  # students whose habituation matters
    for tick in (3, 120, 250):
        np.testing.assert_allclose(
            ecem.predicted_axes(beliefs, tick, intensity, strength),
            reference_axes(cfg, beliefs, tick, intensity, strength, 6),
            rtol=1e-10,
        )


@pytest.mark.parametrize("rows", [1, 3, 48])
def test_the_look_ahead_in_one_batch_gives_the_numbers_of_stepping_tick_by_tick_bit_for_bit(cfg, rows):
    """TeacherModel.look_ahead (ECEM's, every step's tilts and normalizers in one product) is step() applied tick by
    tick with the intensities faded each tick: the same numbers exactly, at one tick or at each row's own, past the
    lesson's end too (lessons must not move when the code gets faster)."""
    model = TeacherModel(cfg)
    rng = np.random.default_rng(rows)
    belief = rng.dirichlet(np.full(8, 0.4), rows)
    intensity = rng.uniform(0, 0.6, (rows, 4)) * (rng.random((rows, 4)) < 0.6)  # reduce-difficulty on and off
    for tick in (0, 117, model.n_ticks - 2, model.n_ticks + 5, rng.integers(0, model.n_ticks + 3, rows)):
        stepped, now, faded = [], belief, intensity
        for h in range(6):
            now = model.step(now, tick + h, faded)
            stepped.append(now)
            faded = faded * model.decay_per_tick
        ahead = model.look_ahead(belief, tick, intensity, 6)
        assert np.array_equal(ahead, np.stack(stepped))
        assert all(np.array_equal(a, b) for a, b in zip(model.predict(belief, tick, intensity, 6), stepped))


@pytest.mark.parametrize("tea", [(0.6, 1.4), (0.0, 0.3), (-0.6, -0.2)])
def test_ecem_takes_the_cheapest_factor_whose_prediction_lies_inside_the_region(cfg, tea):
    cfg = replace_nested(cfg, **{"emotion.tea_low": tea[0], "emotion.tea_high": tea[1]})
    ecem = ECEM(cfg)
    beliefs = _beliefs()
    intensity = np.zeros((12, 4))
    strength = np.ones((12, 4))
    choice, predicted = ecem.choose(beliefs, 30, intensity, strength)
    x = reference_axes(cfg, beliefs, 30, intensity, strength, 6)
    assert choice.tolist() == reference_choice(x, cfg.incentives.cost_weights, tea)
    inside = (predicted >= tea[0]) & (predicted <= tea[1])
    assert inside.any() and np.isfinite(predicted).all()


def test_reaching_the_region_means_inside_it_not_the_level_rule(cfg):
    """A prediction of x = 0.3 has the level of x_lo (0.7) but lies outside the TEA: not accepted at that tick."""
    ecem = ECEM(cfg)
    beliefs = _beliefs()
    x = reference_axes(cfg, beliefs, 30, np.zeros((12, 4)), np.ones((12, 4)), 6)
    gap = (x[0] > 0.0) & (x[0] < cfg.emotion.tea_low)  # level(x) == level(x_lo) but not inside
    assert gap.any()  # the fixture has such predictions
    choice, _ = ecem.choose(beliefs, 30, np.zeros((12, 4)), np.ones((12, 4)))
    assert choice.tolist() == reference_choice(x, cfg.incentives.cost_weights, (cfg.emotion.tea_low, 1.4))


def test_the_look_ahead_goes_up_to_six_ticks_before_settling_for_the_best(cfg):
    cfg = replace_nested(cfg, **{"incentives.cost_weights": (1.0, 2.0, 4.0, 3.0)})  # the strongest factor dearest
    ecem, short = ECEM(cfg), ECEM(cfg, max_lookahead=1)
    beliefs = _beliefs(60)
    zeros, ones = np.zeros((60, 4)), np.ones((60, 4))
    x = reference_axes(cfg, beliefs, 30, zeros, ones, 6)
    first_inside = [
        next((h for h in range(6) if ((x[h, :, s] >= 0.6) & (x[h, :, s] <= 1.4)).any()), None) for s in range(60)
    ]
    late = [s for s, h in enumerate(first_inside) if h is not None and h > 0]
    assert len(late) >= 3  # students that reach the region only after more than one tick
    choice, _ = ecem.choose(beliefs, 30, zeros, ones)
    short_choice, _ = short.choose(beliefs, 30, zeros, ones)
    assert choice.tolist() == reference_choice(x, cfg.incentives.cost_weights, (0.6, 1.4))
    assert short_choice.tolist() == reference_choice(x[:1], cfg.incentives.cost_weights, (0.6, 1.4))
    assert (choice[late] != short_choice[late]).any()


def test_when_no_factor_reaches_the_region_ecem_applies_the_highest_prediction(cfg):
    ecem = ECEM(cfg)
    belief = np.eye(8)[[5, 7, 6]]  # depression, anger, tension: too far for six ticks
    x = reference_axes(cfg, belief, 30, np.zeros((3, 4)), np.ones((3, 4)), 6)
    assert not ((x >= 0.6) & (x <= 1.4)).any()
    choice, predicted = ecem.choose(belief, 30, np.zeros((3, 4)), np.ones((3, 4)))
    assert choice.tolist() == (x[-1].argmax(axis=0) + 1).tolist()
    np.testing.assert_allclose(predicted, x[-1].max(axis=0), rtol=1e-10)
    no_fun = np.array([True, True, False, True])
    choice, _ = ecem.choose(belief, 30, np.zeros((3, 4)), np.ones((3, 4)), no_fun)
    assert choice.tolist() == (np.where(no_fun[:, None], x[-1], -np.inf).argmax(axis=0) + 1).tolist()


def test_a_habituated_factor_is_priced_at_its_real_strength(cfg):
    ecem = ECEM(cfg)
    beliefs = _beliefs()
    fresh = np.ones((12, 4))
    worn = fresh.copy()
    worn[:, 1] = 0.7**8  # the cheapest factor, remove-problems, used 8 times in the window
    fresh_choice, _ = ecem.choose(beliefs, 30, np.zeros((12, 4)), fresh)
    worn_choice, _ = ecem.choose(beliefs, 30, np.zeros((12, 4)), worn)
    costs, tea = cfg.incentives.cost_weights, (0.6, 1.4)
    assert fresh_choice.tolist() == reference_choice(
        reference_axes(cfg, beliefs, 30, np.zeros((12, 4)), fresh, 6), costs, tea
    )
    assert worn_choice.tolist() == reference_choice(
        reference_axes(cfg, beliefs, 30, np.zeros((12, 4)), worn, 6), costs, tea
    )
    assert (fresh_choice == 2).sum() > (worn_choice == 2).sum()


def test_eq_14_levels_and_its_gap(cfg):
    np.testing.assert_allclose(emotion_levels(cfg.emotion), np.sort(AXIS))
    ecem = ECEM(cfg)
    assert ecem.target_level == 4 and level_of(0.6, ecem.levels) == 4
    assert ecem.needs_motivation(np.eye(8)).tolist() == [False] * 4 + [True] * 4
    # SPEC's gap, kept: x(A) = 0.2 is outside the TEA but has the level of x_lo, so ECEM does not act.
    between = 0.5 * np.eye(8)[3] + 0.5 * np.eye(8)[6]  # x = (0.7 - 0.9) / 2 = -0.1 -> level 3: acts
    gap = 0.75 * np.eye(8)[3] + 0.25 * np.eye(8)[7]  # x = 0.35 -> level 4: does not act
    assert ecem.needs_motivation(np.array([between, gap])).tolist() == [True, False]
    tolerant = ECEM(cfg, phi=1)  # phi = 1 forgives anger (-0.7, level 3)
    assert tolerant.needs_motivation(np.eye(8)).tolist() == [False] * 4 + [True, True, True, False]


def test_ecem_acts_on_reachable_students_below_the_region_with_its_predictions(cfg):
    ecem = ECEM(cfg)
    n = 4
    belief = np.eye(8)[[5, 5, 0, 4]]
    obs = Observation(
        tick=9,
        t_seconds=90.0,
        segment="lecture",
        difficulty=0.5,
        belief=belief,
        attention=np.full(n, 0.5),
        present=np.array([True, False, True, True]),
        connected=np.ones(n, bool),
        camera_on=np.ones(n, bool),
        intensity=np.zeros((n, 4)),
        teacher_budget_left=0,
        next_strength=np.ones((n, 4)),
    )
    action = ecem.act(obs)
    assert action.incentives[1] == 0 and action.incentives[2] == 0  # unreachable; inside the region
    assert action.incentives[0] > 0 and action.incentives[3] > 0 and 4 not in action.incentives  # no budget left
    assert np.isnan(action.predicted_axis[[1, 2]]).all() and np.isfinite(action.predicted_axis[[0, 3]]).all()


def test_the_observation_gives_each_factor_the_strength_a_repeat_would_have():
    cfg = replace_nested(SimConfig(), **{"classroom.students": 3, "classroom.minutes": 20.0})
    room = Classroom(cfg, 0, None)
    for tick in (0, 3, 6):  # fun for student 0 three times, 30 s apart
        room.tick_index = tick
        room.apply(Action(np.array([3, 0, 0]), -1))
    room.tick_index = 9
    strength = room.observation().next_strength
    assert strength[0].tolist() == [1.0, 1.0, 0.7**3, 1.0] and strength[1].tolist() == [1.0] * 4
    room.tick_index = 6 + 60  # 10 min after the last use: none is within the window any more
    assert room.observation().next_strength[0].tolist() == [1.0] * 4
    room.tick_index = 3 + 60  # exactly 10 min after the second use: only the third (at tick 6) is within it
    assert room.observation().next_strength[0, 2] == pytest.approx(0.7)


def test_the_decision_divergence_counts_differing_choices_over_every_decision(cfg, confusion):
    small = replace_nested(cfg, **{"classroom.students": 8, "classroom.minutes": 6.0})
    ecem = ECEM(small)
    record = simulate(small, 2, ecem, RecognitionObserver("surrogate", confusion_path=confusion))
    differ = total = 0
    for obs in record.decisions:  # the same rule, one decision at a time
        state = record.population.initial_state if obs.tick == 0 else record.state[obs.tick - 1]
        for k in np.flatnonzero(obs.reachable):
            allowed = np.array([True, True, True, obs.teacher_budget_left > 0])
            picks = []
            for belief in (obs.belief[k : k + 1], np.eye(8)[[state[k]]]):
                choice, _ = ecem.choose(
                    belief, obs.tick, obs.intensity[k : k + 1], obs.next_strength[k : k + 1], allowed
                )
                picks.append(choice[0] if ecem.needs_motivation(belief)[0] else 0)
            differ += picks[0] != picks[1]
            total += 1
    assert 0 < differ < total
    assert decision_divergence(ecem, record) == pytest.approx(differ / total, abs=1e-12)
    # A decision with nobody reachable counts for nothing, wherever it falls; without strengths recorded (an
    # environment's observations), every factor is priced at strength 1.
    first = record.decisions[0]
    nobody = dataclasses.replace(first, present=np.zeros_like(first.present))
    record.decisions = [nobody, *record.decisions]
    assert decision_divergence(ecem, record) == pytest.approx(differ / total, abs=1e-12)
    unpriced = [dataclasses.replace(obs, next_strength=None) for obs in record.decisions]
    fresh = [dataclasses.replace(obs, next_strength=np.ones_like(obs.next_strength)) for obs in record.decisions]
    record.decisions = fresh
    expected = decision_divergence(ecem, record)
    record.decisions = unpriced
    assert decision_divergence(ecem, record) == expected


def test_every_run_folder_logs_each_intervention(tmp_path):
    out = tmp_path / "run"
    assert (
        main(
            [
                "run",
                "--recognizer",
                "surrogate",
                "--students",
                "10",
                "--minutes",
                "8",
                "--compare",
                "round-robin",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for folder, kinds in ((out, {"incentive"}), (out / "compare-round-robin", {"checkin"})):
        rows = list(csv.DictReader((folder / "interventions.csv").open()))
        summary = json.loads((folder / "summary.json").read_text())
        assert list(rows[0]) == [
            "tick",
            "t_seconds",
            "student",
            "kind",
            "factor",
            "strength",
            "belief_axis",
            "predicted_axis",
            "true_state",
            "cost",
        ]
        assert {r["kind"] for r in rows} == kinds
        assert sum(r["kind"] == "incentive" for r in rows) == summary["interventions"]
        assert sum(r["kind"] == "checkin" for r in rows) == summary["checkins"]
        assert sum(float(r["cost"]) for r in rows) == pytest.approx(summary["intervention_cost"])
        assert all(float(r["t_seconds"]) == 10 * int(r["tick"]) for r in rows)
        for r in rows:
            if r["kind"] == "incentive":
                assert r["factor"] in "1234" and 0 < float(r["strength"]) <= 1 and r["predicted_axis"]
                assert float(r["belief_axis"]) < 0.6  # ECEM acts below the region only
            else:
                assert r["factor"] == "" and r["strength"] == "" and r["predicted_axis"] == ""
    assert (out / "strengths.png").exists() and "strengths.png" in (out / "report.html").read_text()


def test_act_prices_each_factor_at_the_observed_strength_and_keeps_teaching_quality_within_the_budget(cfg):
    ecem, beliefs = ECEM(cfg), _beliefs()
    n = len(beliefs)

    def observation(budget: int, strength: np.ndarray | None) -> Observation:
        everyone = np.ones(n, dtype=bool)
        return Observation(
            tick=30,
            t_seconds=300.0,
            segment="lecture",
            difficulty=0.5,
            belief=beliefs,
            attention=np.full(n, 0.5),
            present=everyone,
            connected=everyone,
            camera_on=everyone,
            intensity=np.zeros((n, 4)),
            teacher_budget_left=budget,
            next_strength=strength,
        )

    acts = ecem.needs_motivation(beliefs)
    worn = np.ones((n, 4))
    worn[:, 1] = worn[:, 3] = 0.7**8  # remove-problems and teaching-quality used 8 times in the window
    action = ecem.act(observation(5, worn))
    expected, _ = ecem.choose(beliefs[acts], 30, np.zeros((n, 4))[acts], worn[acts])
    assert action.incentives[acts].tolist() == expected.tolist() and not action.incentives[~acts].any()
    assert action.checkin == NO_CHECKIN
    unworn = ecem.act(observation(5, None)).incentives  # no strengths observed: every factor at 1
    assert unworn[acts].tolist() == ecem.choose(beliefs[acts], 30, np.zeros((n, 4))[acts])[0].tolist()
    assert unworn.tolist() != action.incentives.tolist()
    # Only teaching-quality is still fresh: ECEM gives it while one use is left, and never with none left.
    only_teaching = np.full((n, 4), 0.7**20)
    only_teaching[:, 3] = 1.0
    assert set(ecem.act(observation(1, only_teaching)).incentives[acts]) == {4}
    assert 4 not in ecem.act(observation(0, only_teaching)).incentives
