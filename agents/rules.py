"""Rule strategies: a teacher policy written as a TOML file of ordered rules, no Python needed.

``vclass run --policy rules:my_rules.toml`` (or ``policy.name = "rules:my_rules.toml"`` in a run config, or
``name = "rules:my_rules.toml"`` in a sweep spec's ``[[policies]]``) acts with the rules of that file. A path
is taken from the working folder (in a sweep spec: from the spec's folder); a bare name without ``/`` and
without ``.toml`` names a shipped example (:data:`SHIPPED_STRATEGIES`): ``rules:ecem-like``,
``rules:attention-first``, ``rules:budget-aware``.

Example
-------
::

    description = "calm the tense, cheer the gloomy, and check in with whoever drifts off"

    [[rules]]                       # leave alone anyone inside the target emotion region
    action = "nothing"
    when = { region = "inside" }

    [[rules]]                       # tension during exercises and tests: take a problem away,
    action = "remove-problems"      # at most 3 times a lesson per student
    when = { belief_above = { tension = 0.4 }, segment = ["exercise", "online-test"] }
    limit_per_student = 3

    [[rules]]                       # the 5 gloomiest who had no fun in the last 5 minutes
    action = "fun"
    when = { axis_below = 0.0, given = { what = "fun", minutes = 5, below = 1 } }
    order_by = "axis"
    limit_per_decision = 5

    [[rules]]                       # a check-in with the least attentive student, if anyone is below 0.5
    action = "checkin"
    when = { attention_below = 0.5 }
    order_by = "attention"

    [[rules]]                       # otherwise a check-in with the next student in turn
    action = "checkin"
    order_by = "rotation"

How a decision is made
----------------------
At every decision point (every ``classroom.decision_seconds``) the strategy sees the
:class:`~vclass.sim.classroom.Observation`: beliefs, attention estimates, the segment, the time and the teacher
budget left. Only reachable students (present and connected) are ever acted on; the others match no rule.

* **Incentives.** Each reachable student gets the incentive of the first rule, in file order, among those whose
  action is a factor or ``nothing``, that matches them: all its conditions hold and its limits leave room.
  A student no rule matches gets no incentive.
* **Check-in.** The decision's one check-in goes to the first student, in that rule's ``order_by``, of the
  first ``checkin`` rule that matches anyone. No check-in if none does.

The two are decided independently: a rule of one kind never stops a rule of the other kind, so a student can
get a factor and the check-in at the same decision. ``nothing`` means "no incentive": it ends the search for
the students it matches, so a later factor rule does not reach them, but it does not stop a check-in (give the
check-in rule conditions for that).

A rule whose limit is used up no longer matches: the students it would have taken go on to the later rules.
With ``limit_per_decision``, the rule takes the first students in its ``order_by``.

Every comparison is strict: ``*_below = v`` holds for values ``< v``, ``*_above = v`` for values ``> v``;
``from_minute`` is inclusive and ``until_minute`` exclusive.

The strategy remembers what it decided (for ``given`` and ``limit_per_student``): at each decision, the factor
or check-in each student got from it and from which rule. It counts what it decided, also a teaching-quality
use the classroom refused because the budget ran out. A window of ``M`` minutes counts the decisions less than
``M`` minutes before the current one (as the habituation window does); the current decision is not counted.

Fields
------
Top level:

=================== ========================================= ====================================================
key                 value                                     meaning
=================== ========================================= ====================================================
``description``     string                                    what the strategy does (free text)
``rules``           array of tables ``[[rules]]``, >= 1       the rules, in the order they are tried
=================== ========================================= ====================================================

A rule ``[[rules]]``:

======================== ============================== =============================================================
key                      value                          meaning
======================== ============================== =============================================================
``action``               ``"reduce-difficulty"``,       what the rule does (required): a factor (SPEC §2 names), the
                         ``"remove-problems"``,         decision's check-in, or no incentive
                         ``"fun"``,
                         ``"teaching-quality"``,
                         ``"checkin"`` or ``"nothing"``
``when``                 table (below); default: always conditions, all of which must hold
``order_by``             ``"index"`` (default),         which students go first when the rule picks some: student
                         ``"attention"``, ``"axis"``,   index; lowest attention estimate; lowest belief axis x(A);
                         ``"rotation"``                 index order starting after the last student this rule acted
                                                        on (round robin). Ties go to the lower index
``limit_per_decision``   integer >= 1; default none     at most this many students a decision (incentive rules; a
                                                        check-in is one student anyway)
``limit_per_student``    integer >= 1; default none     at most this many times per student (in the lesson, or in the
                                                        window below)
``limit_window_minutes`` number > 0; default the lesson the window of ``limit_per_student``
======================== ============================== =============================================================

Conditions ``when`` (each optional; the rule matches a student when all given ones hold):

====================== ================================= ==============================================================
key                    value                             holds when
====================== ================================= ==============================================================
``region``             ``"below"``, ``"inside"``,        the belief's axis x(A) (SPEC eq 13) is below, inside or above
                       ``"above"``                       the configured target region [tea_low, tea_high]
``axis_below``         number                            x(A) < value
``axis_above``         number                            x(A) > value
``belief_above``       table state = number in [0, 1]    the belief of each named state is above its value, e.g.
                                                         ``{ tension = 0.4 }``; states: SPEC §1 names
``belief_below``       table state = number in [0, 1]    the belief of each named state is below its value
``attention_below``    number in [0, 1]                  the attention estimate < value
``attention_above``    number in [0, 1]                  the attention estimate > value
``segment``            list of ``"lecture"``,            the current segment is one of them
                       ``"exercise"``,
                       ``"online-test"``,
                       ``"discussion"``
``from_minute``        number >= 0                       lesson time (minutes) >= value
``until_minute``       number > 0                        lesson time (minutes) < value
``budget_left_below``  integer >= 1                      teaching-quality uses left < value
``budget_left_above``  integer >= 0                      teaching-quality uses left > value
``given``              table (below)                     this student got something from this strategy so many times
====================== ================================= ==============================================================

``given`` (at least one of ``below``, ``above``):

=========== ============================================================== =========================================
key         value                                                          meaning
=========== ============================================================== =========================================
``what``    ``"any-factor"`` (default), a factor name, ``"checkin"``       what is counted
``minutes`` number > 0; default the whole lesson so far                    the window
``below``   integer >= 1                                                   count < value (``below = 1``: never)
``above``   integer >= 0                                                   count > value
=========== ============================================================== =========================================

Errors
------
A rule file is validated like every config before anything runs: an unknown key, a wrong type, a value out of
range or a rule that can never hold is a :class:`~vclass.config.ConfigError` whose field is the file and the
key, e.g. ``my_rules.toml: rules[2].when.attention_below: must be a number >= 0 and <= 1, got 1.5``; a missing
file, a folder, a file that is not UTF-8 or not TOML likewise names the file. ``vclass`` prints it on one line
and exits with status 2.

The built-in baselines written as rules (these give exactly the same lessons):

* ``none``: ``action = "nothing"``;
* ``always-fun``: ``action = "fun"``, ``when = { region = "below" }`` (likewise the other ``always-<factor>``);
* ``round-robin``: ``action = "checkin"``, ``order_by = "rotation"``;
* ``greedy-attention``: ``action = "checkin"``, ``order_by = "attention"``.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError, bounded, from_dict
from vclass.sim.classroom import NO_CHECKIN, Action, Observation
from vclass.sim.config import EmotionConfig, SimConfig
from vclass.sim.emotion import FACTOR_NAMES, STATE_NAMES, emotion_axis
from vclass.sim.lesson import SEGMENT_KINDS

RULES_PREFIX = "rules:"
STRATEGIES_DIR = Path(__file__).resolve().parent / "strategies"
SHIPPED_STRATEGIES = ("ecem-like", "attention-first", "budget-aware")

CHECKIN, NOTHING = "checkin", "nothing"
ACTIONS = (*FACTOR_NAMES, CHECKIN, NOTHING)
ORDERS = ("index", "attention", "axis", "rotation")
REGIONS = ("below", "inside", "above")
ANY_FACTOR = "any-factor"
COUNTED = (ANY_FACTOR, *FACTOR_NAMES, CHECKIN)
_NEVER = -1  # no rule / no student


def _one_of(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(field, f"must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")


def _can_hold(field_low: str, low: float | None, field_high: str, high: float | None, gap: float = 0.0) -> None:
    """Raise unless ``low < value < high`` can hold for some value (``gap``: integers need one between)."""
    if low is not None and high is not None and high - low <= gap:
        raise ConfigError(
            field_high, f"never holds together with {field_low} = {low:g}: no value is above {low:g} and below {high:g}"
        )


@dataclass(frozen=True)
class StateBeliefs:
    """A threshold on the belief of some of the eight states (SPEC §1 names); unnamed states are not tested."""

    excitement: float | None = bounded(None, ge=0, le=1)
    joy: float | None = bounded(None, ge=0, le=1)
    happiness: float | None = bounded(None, ge=0, le=1)
    relaxation: float | None = bounded(None, ge=0, le=1)
    calmness: float | None = bounded(None, ge=0, le=1)
    depression: float | None = bounded(None, ge=0, le=1)
    tension: float | None = bounded(None, ge=0, le=1)
    anger: float | None = bounded(None, ge=0, le=1)

    def given(self) -> dict[int, float]:
        """``{state index: threshold}`` of the named states."""
        values = (getattr(self, name) for name in STATE_NAMES)
        return {i: v for i, v in enumerate(values) if v is not None}


@dataclass(frozen=True)
class GivenCount:
    """How many times this student got ``what`` from this strategy, in the last ``minutes`` (or the lesson)."""

    what: str = bounded(ANY_FACTOR, doc="any-factor, a factor name or checkin")
    minutes: float | None = bounded(None, gt=0, le=100_000, doc="window; default the lesson so far")
    below: int | None = bounded(None, ge=1, le=1_000_000, doc="count < below")
    above: int | None = bounded(None, ge=0, le=1_000_000, doc="count > above")

    def check(self) -> None:
        _one_of("what", self.what, COUNTED)
        if self.below is None and self.above is None:
            raise ConfigError("below", "given needs below or above (or both), e.g. below = 2")
        _can_hold("above", self.above, "below", self.below, gap=1)


@dataclass(frozen=True)
class When:
    """The conditions of a rule (see the module docstring's table)."""

    region: str | None = bounded(None, doc="below, inside or above the target region")
    axis_below: float | None = bounded(None, doc="x(A) < value")
    axis_above: float | None = bounded(None, doc="x(A) > value")
    belief_above: StateBeliefs = bounded(factory=StateBeliefs, doc="state = probability")
    belief_below: StateBeliefs = bounded(factory=StateBeliefs, doc="state = probability")
    attention_below: float | None = bounded(None, ge=0, le=1)
    attention_above: float | None = bounded(None, ge=0, le=1)
    segment: tuple[str, ...] | None = bounded(None, doc="segment kinds")
    from_minute: float | None = bounded(None, ge=0, le=100_000)
    until_minute: float | None = bounded(None, gt=0, le=100_000)
    budget_left_below: int | None = bounded(None, ge=1, le=1_000_000)
    budget_left_above: int | None = bounded(None, ge=0, le=1_000_000)
    given: GivenCount | None = bounded(None)

    def check(self) -> None:
        if self.region is not None:
            _one_of("region", self.region, REGIONS)
        if self.segment is not None:
            if not self.segment:
                raise ConfigError("segment", "must list at least one segment kind (leave it out for any segment)")
            for i, kind in enumerate(self.segment):
                _one_of(f"segment[{i}]", kind, SEGMENT_KINDS)
        _can_hold("axis_above", self.axis_above, "axis_below", self.axis_below)
        _can_hold("attention_above", self.attention_above, "attention_below", self.attention_below)
        _can_hold("from_minute", self.from_minute, "until_minute", self.until_minute)
        _can_hold("budget_left_above", self.budget_left_above, "budget_left_below", self.budget_left_below, gap=1)
        below = self.belief_below.given()
        for state, low in self.belief_above.given().items():
            name = STATE_NAMES[state]
            _can_hold(f"belief_above.{name}", low, f"belief_below.{name}", below.get(state))


@dataclass(frozen=True)
class Rule:
    """One rule: an action for the students that meet its conditions, within its limits."""

    action: str = bounded("", doc="a factor name, checkin or nothing")
    when: When = bounded(factory=When)
    order_by: str = bounded("index", doc="index, attention, axis or rotation")
    limit_per_decision: int | None = bounded(None, ge=1, le=1_000_000)
    limit_per_student: int | None = bounded(None, ge=1, le=1_000_000)
    limit_window_minutes: float | None = bounded(None, gt=0, le=100_000)

    def check(self) -> None:
        if not self.action:
            raise ConfigError("action", f"every rule needs an action: one of {', '.join(ACTIONS)}")
        _one_of("action", self.action, ACTIONS)
        _one_of("order_by", self.order_by, ORDERS)
        if self.action == CHECKIN and self.limit_per_decision is not None:
            raise ConfigError("limit_per_decision", "a check-in goes to one student a decision; leave this key out")
        if self.limit_window_minutes is not None and self.limit_per_student is None:
            raise ConfigError("limit_window_minutes", "is the window of limit_per_student, which is not set")

    @property
    def factor(self) -> int:
        """The factor code 1..4, or 0 for ``nothing`` and ``checkin``."""
        return FACTOR_NAMES.index(self.action) + 1 if self.action in FACTOR_NAMES else 0


@dataclass(frozen=True)
class RuleSet:
    """A rule file's content."""

    description: str = bounded("", doc="what the strategy does")
    rules: tuple[Rule, ...] = bounded(factory=tuple, doc="the rules, in the order they are tried")

    def check(self) -> None:
        if not self.rules:
            raise ConfigError("rules", "a rule file needs at least one [[rules]] table")


def parse_rules(data: dict[str, Any]) -> RuleSet:
    """Validate a parsed rule file.

    :raises ConfigError: naming the rule and key, e.g. ``rules[2].when.attention_below``.
    """
    if not isinstance(data, dict):
        raise ConfigError("", f"a rule file must be a table of keys, got {data!r}")
    return from_dict(RuleSet, data)


def rule_file_path(spec: str, folder: str | Path | None = None) -> Path:
    """The file a ``rules:`` spec names: a shipped strategy for a bare name (no ``/``, no ``.toml``), else the
    path, relative ones taken from ``folder`` (default: the working folder)."""
    if is_shipped_name(spec):
        return STRATEGIES_DIR / f"{spec}.toml"
    return Path(folder or ".") / spec


def is_shipped_name(spec: str) -> bool:
    """Whether ``rules:SPEC`` names a shipped strategy rather than a file: no ``/`` and no ``.toml``."""
    return bool(spec) and "/" not in spec and not spec.endswith(".toml")


def read_rule_file(path: str | Path) -> tuple[RuleSet, str]:
    """Read and validate a rule file; return its rules and the SHA-256 of its bytes.

    :raises ConfigError: the file named in the field: ``FILE`` (cannot be read, not UTF-8, not TOML) or
        ``FILE: rules[i].key``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "rule file not found") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a folder, not a rule file") from None
    except OSError as err:
        raise ConfigError(str(path), f"cannot read the rule file: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), f"is not UTF-8 text (byte {err.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), f"is not valid TOML: {err}") from None
    try:
        rules = parse_rules(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err.field}" if err.field else str(path), err.message) from None
    return rules, hashlib.sha256(raw).hexdigest()


def pin_rule_file(name: str, params: dict[str, Any], folder: str | Path) -> tuple[str, dict[str, Any]]:
    """A sweep entry's policy, made independent of the working folder and tied to the file's content.

    For ``rules:FILE``: the name with FILE resolved from ``folder`` (a shipped name stays as it is) and the
    params with ``sha256`` of the file's content, so a run's id changes with the file and a run refuses a file
    that changed after it was planned. Other policies, and a file that cannot be read (validation reports
    it), are returned as they are.
    """
    if not name.startswith(RULES_PREFIX):
        return name, params
    spec = name.removeprefix(RULES_PREFIX)
    path = rule_file_path(spec, folder)
    if not path.is_relative_to(STRATEGIES_DIR):
        name = RULES_PREFIX + str(path.resolve())
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return name, params
    return name, {"sha256": digest, **params}


def rule_strategy(spec: str, sim_cfg: SimConfig, params: dict[str, Any]) -> RuleStrategy:
    """Build the strategy of ``rules:SPEC`` (:func:`rule_file_path`).

    :param params: the run config's ``policy.params``: only ``sha256``, the content hash the file must have.
    :raises ConfigError: a bad file or rule (naming the file), or a param other than ``sha256``.
    """
    if not spec:
        raise ConfigError("policy.name", "rules: needs a file, e.g. rules:my_rules.toml")
    for key in params:
        if key != "sha256":
            raise ConfigError(f"policy.params.{key}", "a rule strategy takes no parameters (but sha256)")
    if is_shipped_name(spec) and spec not in SHIPPED_STRATEGIES:
        raise ConfigError(
            "policy.name",
            f"no shipped rule strategy {spec!r} (shipped: {', '.join(SHIPPED_STRATEGIES)}); a rule file's name "
            "ends in .toml",
        )
    path = rule_file_path(spec)
    rules, digest = read_rule_file(path)
    expected = params.get("sha256")
    if expected is not None and expected != digest:
        raise ConfigError(
            "policy.params.sha256",
            f"{path} changed since this run was planned (its SHA-256 is {digest}, the config says {expected})",
        )
    return RuleStrategy(rules, sim_cfg.emotion)


class RuleStrategy:
    """A teacher policy that acts by a :class:`RuleSet` (the module docstring is its manual).

    :param rules: the validated rules (:func:`parse_rules`, :func:`read_rule_file`).
    :param emotion: the emotion config (the axis x(A) and the target region).
    """

    def __init__(self, rules: RuleSet, emotion: EmotionConfig):
        self.rules = rules
        self.emotion = emotion

    @classmethod
    def from_file(cls, path: str | Path, emotion: EmotionConfig | None = None) -> RuleStrategy:
        """The strategy of a rule file (SPEC's emotion config by default)."""
        return cls(read_rule_file(path)[0], emotion or EmotionConfig())

    def reset(self, n_students: int, rng: np.random.Generator) -> None:
        self.n_students = n_students
        # What the strategy decided, one entry per decision: its time, each student's factor (0 none) and the
        # rule that decided it (-1 none), and the check-in and its rule.
        self.times: list[float] = []
        self.factors: list[np.ndarray] = []
        self.deciding_rule: list[np.ndarray] = []
        self.checkins: list[tuple[int, int]] = []
        self.last_acted_on = np.full(len(self.rules.rules), _NEVER)  # for order_by = "rotation"

    def act(self, obs: Observation) -> Action:
        n = obs.n_students
        now = _Now(self, obs)
        factors = np.zeros(n, dtype=np.int64)
        deciding = np.full(n, _NEVER)
        open_for_incentive = obs.reachable.copy()
        checkin, checkin_rule = NO_CHECKIN, _NEVER
        for index, rule in enumerate(self.rules.rules):
            if rule.action == CHECKIN:
                if checkin != NO_CHECKIN:
                    continue
                chosen = now.pick(index, rule, obs.reachable, 1)
                if chosen.size:
                    checkin, checkin_rule = int(chosen[0]), index
                continue
            chosen = now.pick(index, rule, open_for_incentive, rule.limit_per_decision)
            factors[chosen] = rule.factor
            deciding[chosen] = index
            open_for_incentive[chosen] = False
        self.times.append(obs.t_seconds)
        self.factors.append(factors.copy())
        self.deciding_rule.append(deciding)
        self.checkins.append((checkin, checkin_rule))
        return Action(factors, checkin)


class _Now:
    """One decision's view of the observation and the strategy's memory (counts made once, when asked)."""

    def __init__(self, strategy: RuleStrategy, obs: Observation):
        self.strategy, self.obs = strategy, obs
        self.axis = emotion_axis(obs.belief, strategy.emotion)
        self.minute = obs.t_seconds / 60.0
        self._counts: dict[tuple[str, int | str, float | None], np.ndarray] = {}

    def pick(self, index: int, rule: Rule, open_students: np.ndarray, limit: int | None) -> np.ndarray:
        """The students ``rule`` acts on now, in its order: open, matching, within its limits."""
        matching = open_students & self.holds(rule.when)
        if rule.limit_per_student is not None and matching.any():
            matching &= self.count("rule", index, rule.limit_window_minutes) < rule.limit_per_student
        chosen = self.ordered(index, rule.order_by, matching)[:limit]
        if chosen.size:
            self.strategy.last_acted_on[index] = chosen[-1]
        return chosen

    def holds(self, when: When) -> np.ndarray:
        """Which students meet every condition of ``when``."""
        obs, emotion, n = self.obs, self.strategy.emotion, self.obs.n_students
        everyone = np.ones(n, dtype=bool)
        if when.segment is not None and obs.segment not in when.segment:
            return ~everyone
        if when.from_minute is not None and not self.minute >= when.from_minute:
            return ~everyone
        if when.until_minute is not None and not self.minute < when.until_minute:
            return ~everyone
        budget = obs.teacher_budget_left
        if when.budget_left_below is not None and not budget < when.budget_left_below:
            return ~everyone
        if when.budget_left_above is not None and not budget > when.budget_left_above:
            return ~everyone
        mask = everyone
        if when.region == "below":
            mask = mask & (self.axis < emotion.tea_low)
        elif when.region == "inside":
            mask = mask & (self.axis >= emotion.tea_low) & (self.axis <= emotion.tea_high)
        elif when.region == "above":
            mask = mask & (self.axis > emotion.tea_high)
        if when.axis_below is not None:
            mask = mask & (self.axis < when.axis_below)
        if when.axis_above is not None:
            mask = mask & (self.axis > when.axis_above)
        for state, value in when.belief_above.given().items():
            mask = mask & (obs.belief[:, state] > value)
        for state, value in when.belief_below.given().items():
            mask = mask & (obs.belief[:, state] < value)
        if when.attention_below is not None:
            mask = mask & (obs.attention < when.attention_below)
        if when.attention_above is not None:
            mask = mask & (obs.attention > when.attention_above)
        if when.given is not None:
            count = self.count("given", when.given.what, when.given.minutes)
            if when.given.below is not None:
                mask = mask & (count < when.given.below)
            if when.given.above is not None:
                mask = mask & (count > when.given.above)
        return mask

    def count(self, kind: str, key: int | str, minutes: float | None) -> np.ndarray:
        """Per student, how many earlier decisions in the window (``minutes``; None: all) gave them
        ``key`` (``kind == "given"``: a :data:`COUNTED` name) or were decided by rule ``key`` (``"rule"``)."""
        cached = self._counts.get((kind, key, minutes))
        if cached is not None:
            return cached
        strategy, n = self.strategy, self.obs.n_students
        times = np.asarray(strategy.times)
        recent = np.ones(times.size, dtype=bool) if minutes is None else self.obs.t_seconds - times < minutes * 60.0
        counts = np.zeros(n, dtype=np.int64)
        for d in np.flatnonzero(recent):
            student, checkin_rule = strategy.checkins[d]
            if kind == "rule":
                counts += strategy.deciding_rule[d] == key
                if checkin_rule == key and student != NO_CHECKIN:
                    counts[student] += 1
            elif key == CHECKIN:
                if student != NO_CHECKIN:
                    counts[student] += 1
            elif key == ANY_FACTOR:
                counts += strategy.factors[d] > 0
            else:
                counts += strategy.factors[d] == FACTOR_NAMES.index(str(key)) + 1
        self._counts[(kind, key, minutes)] = counts
        return counts

    def ordered(self, index: int, order_by: str, mask: np.ndarray) -> np.ndarray:
        """Indices of the students in ``mask``, first first (ties by index)."""
        if order_by == "rotation":
            n = mask.size
            order = (self.strategy.last_acted_on[index] + 1 + np.arange(n)) % n
            return order[mask[order]]
        students = np.flatnonzero(mask)
        if order_by == "attention":
            return students[np.argsort(self.obs.attention[students], kind="stable")]
        if order_by == "axis":
            return students[np.argsort(self.axis[students], kind="stable")]
        return students
