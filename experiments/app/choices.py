"""What a designer chooses in the workbench, turned into the project's own configs and checked by them (no UI here).

* The class: :class:`ClassChoice` holds the page's fields (the ones ``vclass run`` has flags for, and ``KEY=VALUE``
  lines as ``--set`` takes them); :func:`run_config` makes the run config with
  :func:`~vclass.experiments.lesson.config.run_config_from_dict`, so a bad value gets the CLI's message, which
  :func:`class_errors` files under the page field that set it.
* The strategies: :class:`Strategy` is one the designer may pick: a built-in (:func:`built_in_strategies`), a rule
  strategy written in the page (saved as ``NAME.toml`` in the workbench's rules folder and checked by
  :func:`~vclass.agents.rules.read_rule_file`: :func:`save_rules`) or a designer's class found in a folder
  (:func:`designer_classes`, checked by building it with :func:`~vclass.agents.registry.make_policy`:
  :func:`strategy_error`).
* The comparison: :func:`comparison_spec` is the sweep spec (:mod:`vclass.experiments.sweep.spec`) of the page's
  choices, and :func:`toml_text` writes it as the TOML file ``vclass sweep`` reads.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vclass.agents.registry import list_policies, make_policy
from vclass.agents.rules import RULES_PREFIX, SHIPPED_STRATEGIES, read_rule_file
from vclass.config import ConfigError, parse_override, set_path
from vclass.experiments.lesson.config import RunConfig, run_config_from_dict
from vclass.experiments.sweep.spec import import_path

PRESENTATIONS = ("video", "slides")
RECOGNIZERS = {
    "surrogate": "surrogate: recognized classes drawn from the shipped model's measured confusion (fast)",
    "scn-cs": "scn-cs: the shipped recognizer run on rendered faces (what vclass run uses by default)",
    "oracle": "oracle: the teacher sees the true state (no recognition)",
}
# The page's fields for the class, and the config key each one sets.
CLASS_FIELDS = {
    "students": "classroom.students",
    "minutes": "classroom.minutes",
    "presentation": "classroom.presentation",
    "online_tests": "classroom.online_tests",
    "recognizer": "recognizer.kind",
    "seed": "seed",
}
MORE = "more"  # the page's field of KEY=VALUE lines (--set)
DEFAULT_MEASURES = ("tea_share", "mean_attention", "learning_gain", "intervention_cost")


@dataclass
class ClassChoice:
    """The page's class fields, as the page holds them (numbers may come as floats, or None when a field is empty).

    :ivar more: ``KEY=VALUE`` lines, each as ``vclass run --set KEY=VALUE`` takes it; ``#`` starts a comment line.
    """

    students: Any = 30
    minutes: Any = 45
    presentation: str = "video"
    online_tests: bool = True
    recognizer: str = "surrogate"
    seed: Any = 0
    more: str = ""


def _whole(value: Any) -> Any:
    """A number field's float that holds a whole number, as the int it is (the page's number fields give floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def overrides(choice: ClassChoice) -> list[tuple[list[str], Any]]:
    """The ``KEY=VALUE`` lines of ``choice.more``, parsed as ``--set`` parses them.

    :raises ConfigError: naming ``more`` and the line.
    """
    parsed = []
    for number, line in enumerate(choice.more.splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            try:
                parsed.append(parse_override(text))
            except ConfigError as err:
                raise ConfigError(MORE, f"line {number}: {err.message}") from None
    return parsed


def base_config(choice: ClassChoice) -> dict[str, Any]:
    """The run config of the page's class without seed and policy (a sweep spec's ``[base]``), TOML-shaped."""
    base: dict[str, Any] = {
        "recognizer": {"kind": choice.recognizer},
        "classroom": {
            "students": _whole(choice.students),
            "minutes": _whole(choice.minutes),
            "presentation": choice.presentation,
            "online_tests": choice.online_tests,
        },
    }
    for keys, value in overrides(choice):
        set_path(base, keys, value)
    return base


def run_config(choice: ClassChoice, policy: str = "ecem", params: dict[str, Any] | None = None) -> RunConfig:
    """The validated run config of the page's class with ``policy``.

    :raises ConfigError: the CLI's message for the first bad field.
    """
    data = copy.deepcopy(base_config(choice))
    data.update(seed=_whole(choice.seed), policy={"name": policy, "params": dict(params or {})})
    return run_config_from_dict(data)


def field_of(config_field: str) -> str:
    """The page field a config error's field belongs to (``more`` for the keys only ``KEY=VALUE`` lines set)."""
    for name, key in CLASS_FIELDS.items():
        if config_field == key or config_field.startswith(key + "."):
            return name
    if config_field == "recognizer":
        return "recognizer"
    return MORE


def class_errors(choice: ClassChoice) -> dict[str, str]:
    """Page field -> the one-line error of the class as chosen (the CLI's message); empty when it is valid."""
    try:
        run_config(choice)
    except ConfigError as err:
        return {field_of(err.field): str(err)}
    return {}


# -- strategies -------------------------------------------------------------------------------------------------------
BUILT_IN_NOTES = {
    "ecem": "the paper's ECEM rule: acts below the target emotion region, with a look-ahead over the four factors",
    "none": "no intervention",
    "random": "a random factor now and then, and a random check-in",
    "always-reduce-difficulty": "reduce difficulty for every student below the target region, at every decision",
    "always-remove-problems": "remove a problem for every student below the target region, at every decision",
    "always-fun": "fun for every student below the target region, at every decision",
    "always-teaching-quality": "teaching quality for every student below the target region, while the budget lasts",
    "round-robin": "a check-in with the next reachable student",
    "greedy-attention": "a check-in with the student of the lowest estimated attention",
    "ppo-motivation": "the shipped deep-RL incentive policy (trained on 30 students)",
    "ppo-attention": "the shipped deep-RL check-in policy (trained on 30 students)",
    "rules:ecem-like": "shipped rules: ECEM's choices approximated by four rules without a look-ahead",
    "rules:attention-first": "shipped rules: check in with the least attentive, fun for the inattentive",
    "rules:budget-aware": "shipped rules: ECEM-like choices weighed by what each factor costs",
}
BUILT_IN, RULES, DESIGNER = "built-in", "rules", "designer"


@dataclass(frozen=True)
class Strategy:
    """A strategy the designer can pick.

    :ivar label: how tables and plots name it (a sweep spec's ``label``).
    :ivar name: the policy name a run config takes (``ecem``, ``rules:/abs/path/NAME.toml``, ``module:Class``).
    :ivar kind: ``built-in``, ``rules`` (written in the page) or ``designer`` (a class in a folder).
    :ivar source: the file a comparison's spec folder gets a copy of (the rule file, the module), or None.
    """

    label: str
    name: str
    kind: str = BUILT_IN
    source: Path | None = None

    @property
    def import_paths(self) -> tuple[str, ...]:
        """Folders a designer's module is imported from."""
        return (str(self.source.parent),) if self.kind == DESIGNER and self.source else ()

    @property
    def spec_entry(self) -> dict[str, Any]:
        """Its ``[[policies]]`` entry in a comparison spec whose folder holds a copy of :attr:`source`."""
        if self.kind == RULES and self.source:
            return {"label": self.label, "name": f"{RULES_PREFIX}{self.source.name}"}
        return {"name": self.name} if self.label == self.name else {"label": self.label, "name": self.name}


def built_in_strategies() -> list[Strategy]:
    """The built-in policies and the shipped rule strategies."""
    names = [*list_policies(), *(f"{RULES_PREFIX}{name}" for name in SHIPPED_STRATEGIES)]
    first = [name for name in BUILT_IN_NOTES if name in names]
    return [Strategy(name, name) for name in first + sorted(set(names) - set(first))]


RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
EXAMPLE_RULES_NAME = "calm-first"
EXAMPLE_RULES = """\
description = "calm the tense with a problem less, fun for the gloomy, check in with whoever drifts off"

[[rules]]                       # leave alone anyone inside the target emotion region
action = "nothing"
when = { region = "inside" }

[[rules]]                       # tension: take a problem away, at most twice a lesson per student
action = "remove-problems"
when = { belief_above = { tension = 0.4 } }
limit_per_student = 2

[[rules]]                       # the 8 gloomiest below x(A) = 0 get fun
action = "fun"
when = { axis_below = 0.0 }
order_by = "axis"
limit_per_decision = 8

[[rules]]                       # the decision's check-in: the least attentive student
action = "checkin"
order_by = "attention"
"""


def rule_name_error(name: str) -> str:
    """Why ``name`` cannot name a rule strategy (it names its file, NAME.toml), or ''."""
    if not RULE_NAME.match(name):
        return f"a rule strategy's name is letters, digits, '-' or '_' (it names the file NAME.toml), got {name!r}"
    if name in BUILT_IN_NOTES or name in list_policies():
        return f"{name!r} is a built-in policy's name; give the rule strategy a name of its own"
    return ""


def rule_error(path: Path) -> str:
    """The rule file's one-line validation error as ``vclass run`` gives it, with the file by its name; '' if valid."""
    try:
        read_rule_file(path)
    except ConfigError as err:
        return str(err).replace(str(path), path.name, 1)
    return ""


def save_rules(folder: Path, name: str, text: str) -> str:
    """Write a rule strategy written in the page to ``folder/NAME.toml`` (even when invalid: nothing the designer
    typed is lost) and return its validation error ('' when it is valid)."""
    problem = rule_name_error(name)
    if problem:
        return problem
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return rule_error(path)


def rule_strategy(folder: Path, name: str) -> Strategy:
    """The page's rule strategy ``NAME`` (its file in ``folder``)."""
    path = (folder / f"{name}.toml").resolve()
    return Strategy(name, f"{RULES_PREFIX}{path}", RULES, path)


def rule_index(error: str) -> int | None:
    """Which rule (0-based) a rule file's error names (``rules[2].when...``), or None."""
    found = re.search(r"rules\[(\d+)\]", error)
    return int(found.group(1)) if found else None


def designer_classes(folder: Path) -> tuple[list[Strategy], list[str]]:
    """The classes with ``reset`` and ``act`` methods in the ``*.py`` files of ``folder`` (read, not imported: nothing
    of the designer's runs until they pick one), and the files that could not be read, each with why."""
    strategies, problems = [], []
    for path in sorted(Path(folder).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=path.name)
        except (SyntaxError, UnicodeDecodeError, OSError) as err:
            where = f" (line {err.lineno})" if isinstance(err, SyntaxError) and err.lineno else ""
            problems.append(f"{path.name}: cannot read it: {type(err).__name__}{where}")
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                methods = {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
                if {"reset", "act"} <= methods:
                    name = f"{path.stem}:{node.name}"
                    strategies.append(Strategy(name, name, DESIGNER, path.resolve()))
    return strategies, problems


def forget_module(strategy: Strategy) -> None:
    """Drop a designer's module from the import cache, so that building the strategy reads the file as it is now."""
    if strategy.kind == DESIGNER:
        module = sys.modules.get(strategy.name.partition(":")[0])
        if module is not None and getattr(module, "__file__", None) and strategy.source:
            if Path(module.__file__ or "").resolve() == strategy.source:
                del sys.modules[module.__name__]


def strategy_error(strategy: Strategy, choice: ClassChoice) -> str:
    """The one-line error building ``strategy`` for the page's class gives (a designer's code: with file:line), or
    '' when it builds."""
    try:
        cfg = run_config(choice, strategy.name)
        forget_module(strategy)
        with import_path(strategy.import_paths):
            make_policy(cfg.policy.name, cfg.policy.params, cfg.sim)
    except ConfigError as err:
        return str(err)
    return ""


# -- the comparison's spec --------------------------------------------------------------------------------------------
def comparison_spec(
    choice: ClassChoice,
    strategies: list[Strategy],
    reference: str,
    seeds: Any,
    measures: list[str] | tuple[str, ...] = DEFAULT_MEASURES,
    name: str = "workbench",
) -> dict[str, Any]:
    """The sweep spec that compares ``strategies`` on the page's class over ``seeds`` seeds from the page's seed,
    paired against ``reference`` (a label), as TOML-shaped data (:func:`toml_text`)."""
    return {
        "name": name,
        "description": "strategies compared in the workbench: " + ", ".join(s.label for s in strategies),
        "seeds": _whole(seeds),
        "seed_start": _whole(choice.seed),
        "reference": reference,
        "measures": list(measures),
        "base": base_config(choice),
        "policies": [s.spec_entry for s in strategies],
    }


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError("spec", f"a number must be finite, got {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if value is None:
        raise ConfigError("spec", "TOML has no value for None; leave the key out")
    raise ConfigError("spec", f"cannot write a {type(value).__name__} in TOML")


def toml_text(data: dict[str, Any]) -> str:
    """``data`` as TOML: plain keys first, then each table (its sub-tables inline), then arrays of tables."""
    lines, tables, arrays = [], [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in tables:
        lines += ["", f"[{_key(key)}]", *(f"{_key(k)} = {_value(v)}" for k, v in table.items())]
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{_key(key)}]]", *(f"{_key(k)} = {_value(v)}" for k, v in item.items())]
    return "\n".join(lines) + "\n"
