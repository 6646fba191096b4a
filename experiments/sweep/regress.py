"""``vclass regress SPEC.toml --baseline FILE``: fail when simulated outcomes move.

Runs a (small) experiment spec, takes for every cell, policy and measure the
mean over the spec's seeds, and compares it with the stored baseline. A
measure has moved when ``|now - baseline| > tolerance``, where the tolerance
is ``sigmas`` (default 3) standard errors of that mean, ``sd / sqrt(n)``,
measured over the seeds when the baseline was made and stored with it
(never below ``1e-9 * max(1, |mean|)``, so a measure that does not vary
across seeds must not move at all). Lessons are deterministic, so unchanged
code on the same platform reproduces the baseline exactly; the tolerance
absorbs what a different platform's floating point may shift, and still
turns red when a change moves a class mean by more than a few of its
seed-to-seed standard errors.

Exit status: 0 when nothing moved beyond its tolerance, 1 with a table of the
moved measures otherwise (or when a lesson failed), 2 on a bad spec or a
baseline made from another spec. ``--update`` writes the baseline from this
run (deliberately: commit it with the change that moved the outcomes).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError, parse_override
from vclass.experiments.pool import make_executor
from vclass.experiments.sweep.runner import execute
from vclass.experiments.sweep.spec import as_dict, canonical_hash, expand, load_spec
from vclass.io import git_commit, package_versions, write_json

DEFAULT_SIGMAS = 3.0
RELATIVE_FLOOR = 1e-9


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="experiment spec (TOML), e.g. experiments/specs/regress.toml")
    parser.add_argument("--baseline", required=True, help="baseline JSON (e.g. experiments/baselines/regress.json)")
    parser.add_argument("--update", action="store_true", help="write the baseline from this run instead of checking")
    parser.add_argument(
        "--sigmas",
        type=float,
        default=None,
        help=f"tolerance in standard errors of the mean, stored by --update (default {DEFAULT_SIGMAS:g})",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the spec's base config, e.g. to see what a change would do",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="parallel processes (default 1: in this process, fastest for a small spec)",
    )


class MemoryStore:
    """The part of :class:`vclass.experiments.sweep.store.ResultStore` that ``execute`` needs, kept in memory."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.done: set[str] = set()

    def add(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fresh = [r for r in rows if r["run_id"] not in self.done]
        self.done.update(r["run_id"] for r in fresh)
        self.rows.extend(fresh)
        return fresh


def spec_fingerprint(spec) -> str:
    """Identity of the spec itself (not of the code it runs): a changed constant must not change it."""

    return canonical_hash(as_dict(spec))


def measure_table(rows: list[dict[str, Any]], measures: list[str], sigmas: float) -> list[dict[str, Any]]:
    """Mean, sd, n and tolerance of each measure, per cell and policy, in run order."""
    rows = sorted(rows, key=lambda r: r["run_index"])
    keys = list(dict.fromkeys((r["cell"], r["policy"]) for r in rows))
    table = []
    for cell, policy in keys:
        group = [r for r in rows if (r["cell"], r["policy"]) == (cell, policy) and r["status"] == "ok"]
        for m in measures:
            values = np.array([np.nan if r.get(m) is None else float(r[m]) for r in group])
            values = values[np.isfinite(values)]
            mean = float(values.mean()) if values.size else None
            sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
            tol = (
                None
                if mean is None
                else max(sigmas * sd / math.sqrt(values.size), RELATIVE_FLOOR * max(1.0, abs(mean)))
            )
            table.append(
                {
                    "cell": cell,
                    "policy": policy,
                    "measure": m,
                    "mean": mean,
                    "sd": sd,
                    "n": int(values.size),
                    "tolerance": tol,
                }
            )
    return table


def compare(baseline: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per baseline measure: its value then and now, the change and whether it moved."""
    current = {(e["cell"], e["policy"], e["measure"]): e for e in now}
    lines = []
    for b in baseline:
        key = (b["cell"], b["policy"], b["measure"])
        n = current.get(key)
        value = None if n is None else n["mean"]
        if value is None or b["mean"] is None:
            status = "same" if value is None and b["mean"] is None else "MISSING"
            change = None
        else:
            change = value - b["mean"]
            status = "same" if change == 0 else ("within" if abs(change) <= b["tolerance"] else "MOVED")
        lines.append({**b, "now": value, "change": change, "status": status})
    return lines


def _num(x: Any, signed: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:+.6g}" if signed else f"{x:.6g}"


def format_diff(lines: list[dict[str, Any]], only_moved: bool = True) -> str:
    """A fixed-width table of the moved measures (or of all with ``only_moved=False``)."""
    shown = [ln for ln in lines if ln["status"] in ("MOVED", "MISSING")] if only_moved else lines
    if not shown:
        return ""
    heads = ("cell", "policy", "measure", "baseline", "now", "change", "tolerance", "change/tol", "")
    body = [
        (
            ln["cell"],
            ln["policy"],
            ln["measure"],
            _num(ln["mean"]),
            _num(ln["now"]),
            _num(ln["change"], True),
            _num(ln["tolerance"]),
            "-" if ln["change"] is None or not ln["tolerance"] else f"{abs(ln['change']) / ln['tolerance']:.1f}",
            ln["status"],
        )
        for ln in shown
    ]
    widths = [max(len(str(row[i])) for row in (heads, *body)) for i in range(len(heads))]
    left = {0, 1, 2}

    def fmt(row) -> str:
        return "  ".join(
            str(v).ljust(w) if i in left else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))
        ).rstrip()

    return "\n".join([fmt(heads), fmt(["-" * w for w in widths]), *map(fmt, body)])


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def load_baseline(path: Path) -> dict[str, Any]:
    """Read and check a baseline file: a JSON object written by ``--update``, every entry a cell, policy, measure
    and numbers; anything else is one ConfigError naming ``--baseline`` and what is wrong."""
    if path.is_dir():
        raise ConfigError("--baseline", f"{path} is a folder; give the baseline JSON file")
    if not path.exists():
        raise ConfigError("--baseline", f"not found: {path}; create it with --update")
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as err:
        raise ConfigError(
            "--baseline", f"{path} is not a JSON file written by vclass regress --update ({err})"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("--baseline", f"{path} is not a baseline: expected a JSON object")
    if not isinstance(data.get("spec_fingerprint"), str):
        raise ConfigError("--baseline", f"{path} has no spec_fingerprint: not written by vclass regress --update")
    if not _number(data.get("sigmas")) or not 0 < data["sigmas"] <= 100:
        raise ConfigError("--baseline", f"{path}: sigmas must be a number > 0 and <= 100, got {data.get('sigmas')!r}")
    measures = data.get("measures")
    if not isinstance(measures, list) or not measures:
        raise ConfigError("--baseline", f"{path}: measures must be a non-empty list of measures, got {measures!r:.80}")
    for i, entry in enumerate(measures):
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("cell", "policy", "measure")):
            raise ConfigError("--baseline", f"{path}: measures[{i}] must name its cell, policy and measure")
        for key in ("mean", "tolerance"):
            if entry.get(key) is not None and not _number(entry.get(key)):
                raise ConfigError(
                    "--baseline", f"{path}: measures[{i}].{key} must be a finite number or null, got {entry.get(key)!r}"
                )
        if (entry.get("mean") is None) != (entry.get("tolerance") is None):
            raise ConfigError("--baseline", f"{path}: measures[{i}] must have both a mean and a tolerance, or neither")
        if entry.get("tolerance") is not None and entry["tolerance"] < 0:
            raise ConfigError("--baseline", f"{path}: measures[{i}].tolerance must be >= 0")
    return data


def coverage_errors(baseline: list[dict[str, Any]], entries: list, measures: list[str]) -> list[str]:
    """What a baseline lacks or has beyond the spec's cells x policies x measures (empty when it covers exactly)."""
    wanted = [(e.cell, e.policy, m) for e in {(e.cell, e.policy): e for e in entries}.values() for m in measures]
    have = [(b["cell"], b["policy"], b["measure"]) for b in baseline]
    problems = []
    missing = [key for key in wanted if key not in set(have)]
    extra = [key for key in have if key not in set(wanted)]
    doubled = sorted({key for key in have if have.count(key) > 1})
    for label, keys in (("missing", missing), ("not in the spec", extra), ("given twice", doubled)):
        if keys:
            shown = "; ".join(f"{cell} / {policy} / {measure}" for cell, policy, measure in keys[:3])
            problems.append(f"{len(keys)} {label} ({shown}{'; ...' if len(keys) > 3 else ''})")
    return problems


def main(args: argparse.Namespace) -> int:
    if not 1 <= args.workers <= 4096:
        raise ConfigError("--workers", f"must be an integer >= 1 and <= 4096, got {args.workers}")
    if args.sigmas is not None and not 0 < args.sigmas <= 100:
        raise ConfigError("--sigmas", f"must be a number > 0 and <= 100, got {args.sigmas}")
    spec, spec_dir = load_spec(args.spec)
    entries = expand(spec, spec_dir, validate=True, overrides=[parse_override(t) for t in args.set])
    if args.sigmas is not None and not args.update:
        raise ConfigError("--sigmas", "only with --update: the tolerances are stored with the baseline")
    baseline_path = Path(args.baseline)
    fingerprint = spec_fingerprint(spec)
    try:
        old = load_baseline(baseline_path)
    except ConfigError:
        if not args.update:
            raise
        old = None  # --update replaces a missing or unreadable baseline
    if old is not None and not args.update and old["spec_fingerprint"] != fingerprint:
        raise ConfigError(
            "--baseline",
            f"{baseline_path} was made from another spec ({old.get('spec')}, fingerprint "
            f"{old['spec_fingerprint']}, now {fingerprint}); rerun with --update to "
            "replace it",
        )
    if old is not None and not args.update:  # a check that passes on nothing is no check
        problems = coverage_errors(old["measures"], entries, list(spec.measures))
        if problems:
            raise ConfigError(
                "--baseline",
                f"{baseline_path} does not cover exactly the spec's {len(spec.measures)} measures for each cell and "
                f"policy: " + ", ".join(problems) + "; rerun with --update to rewrite it",
            )
    sigmas = args.sigmas or (old or {}).get("sigmas", DEFAULT_SIGMAS)

    store = MemoryStore()
    executor = make_executor("serial" if args.workers == 1 else "local", args.workers)
    try:
        stats = execute(entries, store, executor)
    finally:
        executor.close()
    failed = [r for r in store.rows if r["status"] != "ok"]
    table = measure_table(store.rows, list(spec.measures), sigmas)
    where = f"{len(entries)} lessons in {stats['seconds']:.1f} s"

    if args.update:
        if failed:
            print(
                f"vclass regress: {len(failed)} lessons failed; baseline not written. First error: "
                f"{failed[0]['error']}",
                file=sys.stderr,
            )
            return 1
        write_json(
            baseline_path,
            {
                "spec": str(args.spec),
                "spec_fingerprint": fingerprint,
                "sigmas": sigmas,
                "seeds": spec.seeds,
                "overrides": list(args.set),
                "git_commit": git_commit(),
                "versions": package_versions(),
                "measures": table,
            },
        )
        if old is not None and old["spec_fingerprint"] == fingerprint:
            moved = [ln for ln in compare(old["measures"], table) if ln["status"] != "same"]
            print(f"{len(moved)} of {len(table)} measures changed from the previous baseline")
            if moved:
                print(format_diff(moved, only_moved=False))
        print(
            f"baseline written: {baseline_path} ({len(table)} measures, tolerance {sigmas:g} standard errors; {where})"
        )
        return 0

    assert old is not None  # without --update a missing baseline raised above
    lines = compare(old["measures"], table)
    moved = [ln for ln in lines if ln["status"] in ("MOVED", "MISSING")]
    counts = {s: sum(ln["status"] == s for ln in lines) for s in ("same", "within")}
    if old.get("overrides") != list(args.set):
        print(f"note: the baseline was made with --set {old.get('overrides')}, this run with --set {list(args.set)}")
    if failed:
        print(
            f"vclass regress: {len(failed)} lessons failed, e.g. {failed[0]['policy']} seed {failed[0]['seed']} "
            f"in {failed[0]['cell']}: {failed[0]['error']}",
            file=sys.stderr,
        )
    if moved:
        print(
            f"vclass regress: {len(moved)} of {len(lines)} measures moved beyond their tolerance "
            f"({sigmas:g} seed-to-seed standard errors of the mean over {spec.seeds} seeds, stored with the "
            f"baseline); {counts['same']} identical, {counts['within']} within tolerance; {where}\n"
        )
        print(format_diff(lines))
        print(
            f"\nIf the change is intended, accept it deliberately and commit the new baseline:\n"
            f"  vclass regress {args.spec} --baseline {args.baseline} --update"
        )
        return 1
    print(
        f"vclass regress: OK, {len(lines)} measures: {counts['same']} identical, {counts['within']} within "
        f"tolerance ({sigmas:g} standard errors); {where}"
    )
    return 1 if failed else 0
