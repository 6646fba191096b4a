"""Experiment specs: a TOML file that names a grid of lessons and the measures to report.

A spec is one experiment: a base run config, a grid of conditions (a full
factorial over config keys), the policies to compare, the seeds and the
measures. ``vclass sweep``, ``vclass report`` and ``vclass regress`` read it::

    name = "s0-2x2"                      # names the default output folder, runs/sweep-<name>
    description = "S0's 2x2 with and without ECEM"
    seeds = 30                           # seeds seed_start .. seed_start + seeds - 1, the same in every cell
    seed_start = 0
    reference = "none"                   # the policy the others are compared with (paired by seed)
    measures = ["tea_share", "mean_attention", "learning_gain"]
    rank_by = "tea_share"                # default: the first measure; a leading "-" means lower is better

    [base]                               # any run config (as for `vclass run --config`), but no seed or policy
    recognizer = { kind = "surrogate" }
    classroom = { students = 30, minutes = 45 }

    [grid]                               # each key a config key, each value the list of levels it takes
    classroom.presentation = ["video", "slides"]
    classroom.online_tests = [true, false]

    [[policies]]                         # label defaults to name; params go to the policy's constructor
    name = "none"
    [[policies]]
    name = "ecem"
    [[policies]]
    label = "gloom-5"
    name = "my_strategy:GloomFirst"      # a designer's class, imported from the working folder or the spec's
    params = { how_many = 5 }

Runs are ordered cell by cell (grid order), then policy, then seed; each is a
deterministic function of its entry: the resolved run config with its seed
and policy. Relative ``recognizer.model`` / ``recognizer.confusion`` paths and
rule files (``name = "rules:FILE.toml"``) are taken from the spec's folder; a
rule file's content hash is part of its entries' config, so editing the file
changes their run ids. :func:`expand` validates every entry before any
run starts and raises :class:`~vclass.config.ConfigError` naming the spec key.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vclass.agents.registry import make_policy
from vclass.agents.rules import pin_rule_file
from vclass.config import ConfigError, bounded, from_dict, load_toml, set_path, to_dict
from vclass.env.observers import observer_from_config
from vclass.experiments.lesson import runner
from vclass.experiments.lesson.config import RunConfig, run_config_from_dict

# Scalar measures of a lesson summary (:func:`vclass.experiments.lesson.runner.run_lesson`) that a spec can name.
MEASURES = tuple(runner.MEASURES)
MEASURE_LABELS = {key: measure.label for key, measure in runner.MEASURES.items()}
DEFAULT_MEASURES = ("tea_share", "mean_attention", "participation", "learning_gain", "intervention_cost")
# Columns of a sweep's results table besides the grid's conditions and the measures.
RUN_COLUMNS = ("run_index", "run_id", "cell", "policy", "policy_name", "seed", "status", "error", "duration_s", "cpu_s")


@dataclass(frozen=True)
class PolicyEntry:
    """One policy of the comparison."""

    name: str = bounded("", doc="a built-in name (ecem, none, ...) or a designer's module:Class")
    label: str = bounded("", doc="how tables and plots name it; default the name")
    params: dict = bounded(factory=dict, doc="keyword arguments of the policy")

    def check(self) -> None:
        if not self.name:
            raise ConfigError("name", 'must name a policy, e.g. "ecem" or "my_module:MyClass"')

    @property
    def shown(self) -> str:
        return self.label or self.name


@dataclass(frozen=True)
class ExperimentSpec:
    """A whole experiment: base config x grid x policies x seeds, and what to report."""

    name: str = bounded("", doc="the experiment's name (letters, digits, '-', '_')")
    description: str = bounded("", doc="one line shown in the report")
    seeds: int = bounded(10, ge=1, le=10_000_000, doc="seeds per cell and policy")
    seed_start: int = bounded(0, ge=0, le=2**32 - 1, doc="first seed")
    reference: str = bounded("", doc="label of the reference policy; default the first policy")
    measures: tuple[str, ...] = bounded(factory=lambda: DEFAULT_MEASURES, doc="summary measures to report")
    rank_by: str = bounded("", doc="measure that ranks the policies; '-' prefix: lower is better")
    base: dict = bounded(factory=dict, doc="run config shared by every lesson (no seed, no policy)")
    grid: dict = bounded(factory=dict, doc="config key -> list of levels; the cells are their product")
    policies: tuple[PolicyEntry, ...] = bounded(factory=lambda: (PolicyEntry("ecem"),))

    def check(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ConfigError(
                "name", f"must be letters, digits, '-' or '_' (it names the output folder), got {self.name!r}"
            )
        if self.seed_start + self.seeds - 1 > 2**32 - 1:
            raise ConfigError("seeds", f"seed_start + seeds must stay <= {2**32}")
        if not self.policies:
            raise ConfigError("policies", "must list at least one policy")
        labels = [p.shown for p in self.policies]
        for i, label in enumerate(labels):
            if labels.index(label) != i:
                raise ConfigError(f"policies[{i}].label", f"{label!r} is used twice; give each entry its own label")
        if self.reference and self.reference not in labels:
            raise ConfigError(
                "reference", f"must be one of the policies' labels ({', '.join(labels)}), got {self.reference!r}"
            )
        if not self.measures:
            raise ConfigError("measures", "must list at least one measure")
        for i, measure in enumerate(self.measures):
            if measure not in MEASURES:
                raise ConfigError(f"measures[{i}]", f"unknown measure {measure!r}; known: {', '.join(MEASURES)}")
        if self.rank_by and self.rank_by.lstrip("-") not in self.measures:
            raise ConfigError(
                "rank_by",
                f"must be one of the measures ({', '.join(self.measures)}), optionally "
                f"with a leading '-', got {self.rank_by!r}",
            )
        for key in ("seed", "policy"):
            if key in self.base:
                where = "seeds and seed_start" if key == "seed" else "[[policies]]"
                raise ConfigError(f"base.{key}", f"set by the sweep; use {where} instead")

    @property
    def reference_label(self) -> str:
        return self.reference or self.policies[0].shown

    @property
    def rank_measure(self) -> tuple[str, bool]:
        """(measure, higher_is_better) that ranks the policies."""
        text = self.rank_by or self.measures[0]
        return text.lstrip("-"), not text.startswith("-")

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seed_start, self.seed_start + self.seeds))


@dataclass(frozen=True)
class RunEntry:
    """One lesson of a sweep: everything that determines its outcome, and where it sits in the grid."""

    index: int
    run_id: str
    cell: str
    conditions: dict
    policy: str  # the label
    seed: int
    config: dict  # the full TOML-shaped run config, seed and policy included
    import_paths: tuple  # folders a designer's module:Class is imported from
    divergence: bool = True  # compute ecem_divergence (only when the spec reports it: it costs ECEM twice more)


def flatten_grid(grid: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    """``{"classroom": {"presentation": [...]}}`` -> ``{"classroom.presentation": [...]}``."""
    flat: dict[str, list[Any]] = {}
    for key, value in grid.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(flatten_grid(value, path))
        elif isinstance(value, list):
            if not value:
                raise ConfigError(f"grid.{path}", "must list at least one level")
            flat[path] = value
        else:
            raise ConfigError(f"grid.{path}", f"must be a list of levels, got {value!r}")
    return flat


def load_spec(path: str | Path) -> tuple[ExperimentSpec, Path]:
    """Parse and validate the spec file (its own keys only; :func:`expand` checks the entries)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("SPEC", f"file not found: {path}")
    try:
        data = load_toml(path)
    except ConfigError as err:
        raise ConfigError("SPEC", err.message) from None
    return spec_from_dict(data), path.resolve().parent


def spec_from_dict(data: dict[str, Any]) -> ExperimentSpec:
    """Validate a parsed spec (``policies[i].*``, ``grid.*`` and the other keys are named on error)."""
    spec = from_dict(ExperimentSpec, data)
    flat = flatten_grid(spec.grid)
    for key in flat:
        head = key.split(".")[0]
        if head in ("seed", "policy"):
            raise ConfigError(f"grid.{key}", "seeds and policies are not grid keys; use seeds and [[policies]]")
    return spec


def _level_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def condition_names(flat_grid: dict[str, list[Any]]) -> dict[str, str]:
    """Short names for grid keys: the last part of the dotted key, unless two keys share it or it names another
    column of the results table."""
    tails = [k.split(".")[-1] for k in flat_grid]
    taken = set(RUN_COLUMNS) | set(MEASURES)
    return {k: (t if tails.count(t) == 1 and t not in taken else k) for k, t in zip(flat_grid, tails)}


def _resolve_paths(config: dict[str, Any], spec_dir: Path) -> None:
    recognizer = config.get("recognizer")
    if isinstance(recognizer, dict):
        for key in ("model", "confusion"):
            value = recognizer.get(key)
            if isinstance(value, str) and value and not Path(value).is_absolute():
                recognizer[key] = str((spec_dir / value).resolve())


def canonical_hash(obj: Any, length: int = 16) -> str:
    """Stable short hash of plain data (sorted-key JSON)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cells(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """The grid's cells in order, each ``{dotted key: level}`` (one empty cell when there is no grid)."""
    flat = flatten_grid(spec.grid)
    return [dict(zip(flat, levels)) for levels in itertools.product(*flat.values())]


def cell_label(cell: dict[str, Any], names: dict[str, str]) -> str:
    return ", ".join(f"{names[k]}={_level_text(v)}" for k, v in cell.items()) or "all"


def expand(
    spec: ExperimentSpec, spec_dir: Path, validate: bool = True, overrides: Sequence[tuple[list[str], Any]] = ()
) -> list[RunEntry]:
    """Every run of the spec, in order. With ``validate``, each (cell, policy) config is checked, its policy
    built and its recognizer loaded once before anything runs.

    :param overrides: ``(dotted keys, value)`` applied to the base config of every entry (``--set``).
    :raises ConfigError: naming the spec key (``base.*``, ``grid.*``, ``policies[i].*``) of the first problem.
    """
    flat = flatten_grid(spec.grid)
    names = condition_names(flat)
    base = copy.deepcopy(spec.base)
    _resolve_paths(base, spec_dir)
    for keys, value in overrides:  # paths given on the command line are the working folder's
        if keys[:1] == ["recognizer"] and keys[-1] in ("model", "confusion") and isinstance(value, str) and value:
            value = str(Path(value).resolve())
        set_path(base, keys, value)
    import_paths = tuple(dict.fromkeys([os.getcwd(), str(spec_dir)]))
    if validate:
        _validate_base(base)
    entries: list[RunEntry] = []
    recognizers: dict[str, tuple[RunConfig, dict[str, Any]]] = {}
    for cell in cells(spec):
        config = copy.deepcopy(base)
        for key, level in cell.items():
            try:
                set_path(config, key.split("."), copy.deepcopy(level))
            except ConfigError as err:
                raise ConfigError(f"grid.{key}", err.message) from None
        _resolve_paths(config, spec_dir)
        label = cell_label(cell, names)
        for p_index, policy in enumerate(spec.policies):
            # A rules:FILE policy names its file from the spec's folder and carries its content hash (run ids).
            policy_name, policy_params = pin_rule_file(policy.name, copy.deepcopy(policy.params), spec_dir)
            entry_cfg = {
                **copy.deepcopy(config),
                "seed": spec.seed_start,
                "policy": {"name": policy_name, "params": policy_params},
            }
            if validate:
                _validate_entry(entry_cfg, cell, p_index, import_paths, recognizers)
            for seed in spec.seed_list:
                entry_cfg = {**entry_cfg, "seed": seed}
                entries.append(
                    RunEntry(
                        index=len(entries),
                        run_id=canonical_hash(entry_cfg),
                        cell=label,
                        conditions={names[k]: v for k, v in cell.items()},
                        policy=policy.shown,
                        seed=seed,
                        config=entry_cfg,
                        import_paths=import_paths,
                        divergence="ecem_divergence" in spec.measures,
                    )
                )
    if validate:
        _validate_observers(recognizers)
    return entries


def _validate_base(base: dict[str, Any]) -> None:
    try:
        run_config_from_dict(base)
    except ConfigError as err:
        raise ConfigError(f"base.{err.field}", err.message) from None


def _validate_entry(
    entry_cfg: dict[str, Any],
    cell: dict[str, Any],
    p_index: int,
    import_paths: tuple,
    recognizers: dict[str, tuple[RunConfig, dict[str, Any]]],
) -> None:
    try:
        run_cfg = run_config_from_dict(entry_cfg)
    except ConfigError as err:
        raise _in_spec(err, cell) from None
    with import_path(import_paths):
        try:
            make_policy(run_cfg.policy.name, run_cfg.policy.params, run_cfg.sim)
        except ConfigError as err:
            if err.field.startswith("policy."):
                raise ConfigError(err.field.replace("policy.", f"policies[{p_index}].", 1), err.message) from None
            raise ConfigError(f"policies[{p_index}]", str(err)) from None  # a designer's code: its own line
    key = canonical_hash([entry_cfg.get("recognizer", {}), run_cfg.sim.frames.size])
    recognizers.setdefault(key, (run_cfg, cell))


def _in_spec(err: ConfigError, cell: dict[str, Any]) -> ConfigError:
    """``err`` about a lesson's config, named by the spec key that set the field: a grid key, or the base."""
    key = next(
        (k for k in cell if err.field == k or err.field.startswith(k + ".") or err.field.startswith(k + "[")), None
    )
    if key is not None:
        return ConfigError(f"grid.{key}", f"level {cell[key]!r}: {err.message}")
    return ConfigError(f"base.{err.field}", err.message)


def _validate_observers(run_cfgs: dict[str, tuple[RunConfig, dict[str, Any]]]) -> None:
    """Load each distinct recognizer once and check it against its frames (after every config and policy passed):
    a missing model, or one that cannot read the lessons' frames, fails here, before any lesson runs."""
    for run_cfg, cell in run_cfgs.values():
        try:
            observer_from_config(run_cfg.recognizer, run_cfg.sim)
        except ConfigError as err:
            raise _in_spec(err, cell) from None


@contextmanager
def import_path(paths: tuple) -> Iterator[None]:
    """Put folders at the front of ``sys.path`` (designers' modules) while the block runs."""
    saved = list(sys.path)
    for p in reversed([p for p in paths if p]):
        if p not in sys.path:
            sys.path.insert(0, p)
    try:
        yield
    finally:
        sys.path[:] = saved


def spec_fingerprint(spec: ExperimentSpec, entries: list[RunEntry]) -> str:
    """Identity of a sweep: the runs it holds (each run's id is a hash of its full config)."""
    return canonical_hash([e.run_id for e in entries])


def as_dict(spec: ExperimentSpec) -> dict[str, Any]:
    return to_dict(spec)
