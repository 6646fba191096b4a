"""``vclass report RESULTS``: statistics, plots and an HTML report of a sweep's results table.

For each cell of the grid, policy and measure: the mean over seeds with a
percentile-bootstrap 95% CI (10,000 resamples of the seeds); for each policy
against the reference policy, the paired difference on the seeds both ran
(same seeds meet the same students and noise), its bootstrap CI, the effect
sizes d_z and d_av and the paired t-test's p-value. Over all cells: each
policy's per-seed average across cells, ranked by the ranking measure, with
the 95% interval of its rank from resampling seeds jointly for all policies.

Writes ``report/`` beside the results (or ``--out``): ``index.html``,
``measures.png``, ``differences.png``, ``report.json`` (every number) and
``summary.csv``. Defaults (measures, reference, ranking measure) come from
the sweep's ``sweep.json`` when there is one.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError
from vclass.experiments.sweep.spec import DEFAULT_MEASURES, MEASURE_LABELS, MEASURES
from vclass.experiments.sweep.store import SWEEP_META, read_results
from vclass.io import atomic_write_text, output_folder, pyplot, save_figure, write_json

RANK_RESAMPLES = 2_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", help="a sweep folder, or its results.parquet / results.csv")
    parser.add_argument("--out", help="report folder (default: report/ beside the results)")
    parser.add_argument("--reference", help="policy label the others are compared with (default: the spec's)")
    parser.add_argument("--measures", help="comma-separated measures (default: the spec's)")
    parser.add_argument(
        "--rank-by",
        help="measure that ranks the policies; a '-' prefix means lower is better (--rank-by=-intervention_cost)",
    )


# -- statistics ----------------------------------------------------------------------------------------------------


def _ordered(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _values(rows: list[dict[str, Any]], measure: str) -> dict[int, float]:
    """seed -> value of ``measure`` (None becomes NaN)."""
    return {r["seed"]: (np.nan if r.get(measure) is None else float(r[measure])) for r in rows}


def summarize(rows: list[dict[str, Any]], measures: list[str], reference: str, rank_by: str) -> dict[str, Any]:
    """All the report's numbers, as plain data."""
    from vclass.experiments.stats import bootstrap_ci, paired_bootstrap

    rows = sorted(rows, key=lambda r: r["run_index"])
    ok = [r for r in rows if r.get("status") == "ok"]
    cells = _ordered([r["cell"] for r in rows])
    policies = _ordered([r["policy"] for r in rows])
    if reference not in policies:
        raise ConfigError("--reference", f"no policy {reference!r} in the results; policies: {', '.join(policies)}")
    groups = {(c, p): [r for r in ok if r["cell"] == c and r["policy"] == p] for c in cells for p in policies}
    by_cell = []
    for cell in cells:
        for policy in policies:
            entry: dict[str, Any] = {"cell": cell, "policy": policy, "n": len(groups[cell, policy])}
            for m in measures:
                values = _values(groups[cell, policy], m)
                mean, low, high = bootstrap_ci(np.array(list(values.values())))
                entry[m] = {
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "sd": float(np.nanstd(list(values.values()), ddof=1)) if len(values) > 1 else float("nan"),
                }
                if policy != reference:
                    ref = _values(groups[cell, reference], m)
                    seeds = sorted(set(values) & set(ref))
                    entry[m]["vs_reference"] = paired_bootstrap(
                        np.array([values[s] for s in seeds]), np.array([ref[s] for s in seeds])
                    )
            by_cell.append(entry)
    measure, higher_better = rank_by.lstrip("-"), not rank_by.startswith("-")
    overall = _overall(ok, cells, policies, measures, reference)
    ranking = _ranking(ok, cells, policies, measure, higher_better, overall)
    failed = [
        {k: r.get(k) for k in ("run_index", "cell", "policy", "seed", "error")} for r in rows if r.get("status") != "ok"
    ]
    return {
        "cells": cells,
        "policies": policies,
        "measures": measures,
        "reference": reference,
        "rank_by": measure,
        "higher_is_better": higher_better,
        "runs": len(rows),
        "ok": len(ok),
        "failed": failed,
        "by_cell": by_cell,
        "overall": overall,
        "ranking": ranking,
        "seeds": len(_ordered([r["seed"] for r in rows])),
    }


def _per_seed_average(ok: list[dict[str, Any]], cells: list[str], policy: str, measure: str) -> dict[int, float]:
    """seed -> the policy's value averaged over the cells (seeds that ran in every cell)."""
    per_cell = [_values([r for r in ok if r["cell"] == c and r["policy"] == policy], measure) for c in cells]
    seeds = set(per_cell[0]).intersection(*per_cell[1:]) if per_cell else set()
    return {s: float(np.mean([v[s] for v in per_cell])) for s in sorted(seeds)}


def _overall(ok, cells, policies, measures, reference) -> list[dict[str, Any]]:
    from vclass.experiments.stats import bootstrap_ci, paired_bootstrap

    out = []
    for policy in policies:
        entry: dict[str, Any] = {"policy": policy}
        for m in measures:
            values = _per_seed_average(ok, cells, policy, m)
            mean, low, high = bootstrap_ci(np.array(list(values.values())))
            entry[m] = {"mean": mean, "ci_low": low, "ci_high": high, "n": len(values)}
            if policy != reference:
                ref = _per_seed_average(ok, cells, reference, m)
                seeds = sorted(set(values) & set(ref))
                entry[m]["vs_reference"] = paired_bootstrap(
                    np.array([values[s] for s in seeds]), np.array([ref[s] for s in seeds])
                )
        out.append(entry)
    return out


def _ranking(ok, cells, policies, measure, higher_better, overall) -> list[dict[str, Any]]:
    """Policies by their mean over cells; rank intervals from resampling the seeds all policies share."""
    averages = {p: _per_seed_average(ok, cells, p, measure) for p in policies}
    shared = sorted(set.intersection(*(set(v) for v in averages.values()))) if averages else []
    means = {
        p: next(e for e in overall if e["policy"] == p).get(measure, {}).get("mean", float("nan")) for p in policies
    }
    sign = -1.0 if higher_better else 1.0
    order = sorted(policies, key=lambda p: (np.nan_to_num(sign * means[p], nan=np.inf), policies.index(p)))
    rank_low = {p: float("nan") for p in policies}
    rank_high, p_best = dict(rank_low), dict(rank_low)
    if len(shared) >= 2:
        matrix = np.array([[averages[p][s] for s in shared] for p in policies])  # (policies, seeds)
        rng = np.random.default_rng(0)
        idx = rng.integers(0, len(shared), (RANK_RESAMPLES, len(shared)))
        boot = matrix[:, idx].mean(axis=2)  # (policies, resamples)
        ranks = np.argsort(np.argsort(sign * np.nan_to_num(boot, nan=-sign * np.inf), axis=0), axis=0) + 1
        for i, p in enumerate(policies):
            rank_low[p], rank_high[p] = (float(x) for x in np.quantile(ranks[i], [0.025, 0.975]))
            p_best[p] = float((ranks[i] == 1).mean())
    rows = []
    for rank, p in enumerate(order, start=1):
        stat = next(e for e in overall if e["policy"] == p).get(measure, {})
        rows.append(
            {
                "rank": rank,
                "policy": p,
                "mean": stat.get("mean"),
                "ci_low": stat.get("ci_low"),
                "ci_high": stat.get("ci_high"),
                "rank_ci_low": rank_low[p],
                "rank_ci_high": rank_high[p],
                "p_best": p_best[p],
                "vs_reference": stat.get("vs_reference"),
            }
        )
    return rows


# -- plots ---------------------------------------------------------------------------------------------------------


def _colours(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_measures(summary: dict[str, Any], path: Path) -> None:
    """Mean and 95% CI of each measure, per cell (x) and policy (colour)."""
    plt = pyplot()

    measures, cells, policies = summary["measures"], summary["cells"], summary["policies"]
    cols = min(3, len(measures))
    rows_n = -(-len(measures) // cols)
    width = max(4.2, 0.32 * len(cells) * len(policies) + 1.5)
    fig, axes = plt.subplots(rows_n, cols, figsize=(width * cols, 3.6 * rows_n), squeeze=False)
    step = 0.8 / len(policies)
    colours = _colours(len(policies))
    for ax, m in zip(axes.flat, measures):
        for j, policy in enumerate(policies):
            entries = [
                next(e for e in summary["by_cell"] if e["cell"] == c and e["policy"] == policy)[m] for c in cells
            ]
            mean = np.array([e["mean"] for e in entries], dtype=float)
            err = np.array(
                [[e["mean"] - e["ci_low"] for e in entries], [e["ci_high"] - e["mean"] for e in entries]], dtype=float
            )
            x = np.arange(len(cells)) - 0.4 + step * (j + 0.5)
            ax.errorbar(x, mean, yerr=np.nan_to_num(err), fmt="o", ms=4, capsize=3, color=colours[j], label=policy)
        ax.set_xticks(np.arange(len(cells)), [c.replace(", ", "\n") for c in cells], fontsize=7)
        ax.set_title(MEASURE_LABELS.get(m, m), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(measures) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle("Mean over seeds with bootstrap 95% CI", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


def plot_differences(summary: dict[str, Any], path: Path) -> None:
    """Paired difference against the reference, with its 95% CI, per cell and policy."""
    plt = pyplot()

    measures = summary["measures"]
    entries = [e for e in summary["by_cell"] if e["policy"] != summary["reference"]]
    cols = min(3, len(measures))
    rows_n = -(-len(measures) // cols)
    height = max(2.5, 0.24 * len(entries) + 1.2)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5.0 * cols, height * rows_n), squeeze=False)
    colours = dict(zip(summary["policies"], _colours(len(summary["policies"]))))
    y = np.arange(len(entries))[::-1]
    for ax, m in zip(axes.flat, measures):
        for yi, e in zip(y, entries):
            d = e[m].get("vs_reference") or {}
            mean, low, high = d.get("mean", np.nan), d.get("ci_low", np.nan), d.get("ci_high", np.nan)
            ax.errorbar(
                [mean],
                [yi],
                xerr=np.nan_to_num([[mean - low], [high - mean]]),
                fmt="o",
                ms=4,
                capsize=3,
                color=colours[e["policy"]],
            )
        ax.axvline(0.0, color="black", lw=0.8)
        ax.set_yticks(
            y,
            [f"{e['policy']} | {e['cell']}" if len(summary["cells"]) > 1 else e["policy"] for e in entries],
            fontsize=7,
        )
        ax.set_title(f"{MEASURE_LABELS.get(m, m)}: − {summary['reference']}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(measures) :]:
        ax.axis("off")
    fig.suptitle(f"Paired difference against {summary['reference']} (same seeds), bootstrap 95% CI", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path)


# -- HTML ----------------------------------------------------------------------------------------------------------


def _fmt(x: Any, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "–"
    x = float(x)
    digits = 3 if abs(x) < 100 else 1
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _ci(stat: dict[str, Any] | None, signed: bool = False) -> str:
    if not stat:
        return ""
    return (
        f"{_fmt(stat['mean'], signed)} <span class=ci>[{_fmt(stat['ci_low'], signed)}, "
        f"{_fmt(stat['ci_high'], signed)}]</span>"
    )


def _p(p: Any) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "&lt; 0.001" if p < 0.001 else f"{p:.3f}"


def _diff_cells(d: dict[str, Any] | None) -> str:
    if not d:
        return "<td class=ref colspan=4>reference</td>"
    excl = d["ci_low"] > 0 or d["ci_high"] < 0
    return (
        f"<td class='{'sig' if excl else ''}'>{_ci(d, signed=True)}</td><td>{_fmt(d['effect_size_dz'], True)}"
        f"</td><td>{_fmt(d['effect_size_dav'], True)}</td><td>{_p(d['p_value'])}</td>"
    )


def render_html(summary: dict[str, Any], meta: dict[str, Any], images: list[str]) -> str:
    esc = html.escape
    ref = esc(summary["reference"])
    rank_label = MEASURE_LABELS.get(summary["rank_by"], summary["rank_by"])
    parts = [
        (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(meta.get('name', 'sweep'))} report"
            "</title><style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1300px;color:#222}"
            "table{border-collapse:collapse;margin:8px 0 20px;font-size:13px}th,td{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}th{background:#f0f0f0}td.l{text-align:left}.ci{color:#777}"
            "td.sig{background:#e8f4e8}td.ref{color:#999;text-align:center}img{max-width:100%;border:1px solid #eee}"
            "p.note{color:#555;font-size:13px}</style></head><body>"
        ),
        f"<h1>{esc(meta.get('name', 'Sweep'))}</h1>",
    ]
    if meta.get("description"):
        parts.append(f"<p>{esc(meta['description'])}</p>")
    parts.append(
        f"<p>{summary['runs']} lessons: {summary['ok']} finished, {len(summary['failed'])} failed; "
        f"{len(summary['cells'])} cell(s) × {len(summary['policies'])} policies × {summary['seeds']} seeds. "
        f"Reference policy: <b>{ref}</b>."
        + (f" Commit {esc(str(meta.get('git_commit')))}." if meta.get("git_commit") else "")
        + "</p>"
    )
    parts.append(
        f"<h2>Ranking by {esc(rank_label)} ({'higher' if summary['higher_is_better'] else 'lower'} is "
        "better), averaged over cells</h2><table><tr><th>rank</th><th>policy</th><th>mean [95% CI]</th>"
        "<th>rank 95% interval</th><th>P(best)</th>"
        f"<th>− {ref} [95% CI]</th><th>d<sub>z</sub></th><th>d<sub>av</sub></th><th>p</th></tr>"
    )
    for r in summary["ranking"]:
        interval = "–" if not np.isfinite(r["rank_ci_low"]) else f"{r['rank_ci_low']:.0f}–{r['rank_ci_high']:.0f}"
        p_best = "–" if not np.isfinite(r["p_best"]) else f"{r['p_best']:.2f}"
        parts.append(
            f"<tr><td>{r['rank']}</td><td class=l>{esc(r['policy'])}</td><td>{_ci(r)}</td><td>{interval}"
            f"</td><td>{p_best}</td>{_diff_cells(r['vs_reference'])}</tr>"
        )
    parts.append("</table>")
    for image in images:
        parts.append(f"<p><img src='{esc(image)}' alt='{esc(image)}'></p>")
    for m in summary["measures"]:
        parts.append(
            f"<h2>{esc(MEASURE_LABELS.get(m, m))} <small>({esc(m)})</small></h2><table><tr><th>cell</th>"
            f"<th>policy</th><th>n</th><th>mean [95% CI]</th><th>− {ref} [95% CI]</th><th>d<sub>z</sub></th>"
            "<th>d<sub>av</sub></th><th>p</th></tr>"
        )
        for e in summary["by_cell"]:
            parts.append(
                f"<tr><td class=l>{esc(e['cell'])}</td><td class=l>{esc(e['policy'])}</td><td>{e['n']}</td>"
                f"<td>{_ci(e[m])}</td>{_diff_cells(e[m].get('vs_reference'))}</tr>"
            )
        parts.append("</table>")
    if summary["failed"]:
        parts.append(
            f"<h2>Failed lessons ({len(summary['failed'])})</h2><table><tr><th>run</th><th>cell</th>"
            "<th>policy</th><th>seed</th><th>error</th></tr>"
        )
        for f in summary["failed"][:200]:
            parts.append(
                f"<tr><td>{f['run_index']}</td><td class=l>{esc(str(f['cell']))}</td><td class=l>"
                f"{esc(str(f['policy']))}</td><td>{f['seed']}</td><td class=l>{esc(str(f['error']))}"
                "</td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<p class=note>Means over seeds with percentile-bootstrap 95% CIs (10,000 resamples). Differences "
        f"are paired by seed against {ref} (same students and noise); a shaded cell's CI excludes 0. "
        "d<sub>z</sub> = mean difference / sd of the differences; d<sub>av</sub> = mean difference / mean of "
        "the two sds; p from the paired t-test. The rank interval and P(best) come from resampling the "
        "seeds jointly for all policies (2,000 resamples).</p></body></html>"
    )
    return "\n".join(parts)


# -- entry points --------------------------------------------------------------------------------------------------


def _flat_rows(summary: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "cell",
            "policy",
            "measure",
            "n",
            "mean",
            "ci_low",
            "ci_high",
            "sd",
            "diff_mean",
            "diff_ci_low",
            "diff_ci_high",
            "effect_size_dz",
            "effect_size_dav",
            "p_value",
        ]
    )
    for e in summary["by_cell"]:
        for m in summary["measures"]:
            s, d = e[m], e[m].get("vs_reference") or {}
            writer.writerow(
                [
                    e["cell"],
                    e["policy"],
                    m,
                    e["n"],
                    s["mean"],
                    s["ci_low"],
                    s["ci_high"],
                    s["sd"],
                    d.get("mean"),
                    d.get("ci_low"),
                    d.get("ci_high"),
                    d.get("effect_size_dz"),
                    d.get("effect_size_dav"),
                    d.get("p_value"),
                ]
            )
    return buf.getvalue()


def load_meta(results: Path) -> dict[str, Any]:
    """The sweep's ``sweep.json`` beside (or in) ``results``; empty when there is none."""

    folder = results if results.is_dir() else results.parent
    path = folder / SWEEP_META
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        return {}


def write_report(
    results: str | Path,
    out: str | Path | None = None,
    reference: str | None = None,
    measures: list[str] | None = None,
    rank_by: str | None = None,
) -> Path:
    """Compute the statistics of a results table and write the report folder; returns ``index.html``."""

    results = Path(results)
    rows = read_results(results)
    if not rows:
        raise ConfigError("RESULTS", f"{results} holds no rows yet")
    meta = load_meta(results)
    columns = set().union(*(r.keys() for r in rows))
    measures = measures or meta.get("measures") or [m for m in DEFAULT_MEASURES if m in columns]
    for m in measures:
        if m not in MEASURES or m not in columns:
            raise ConfigError(
                "--measures",
                f"{m!r} is not a measure of these results; known: {', '.join(x for x in MEASURES if x in columns)}",
            )
    policies = _ordered([r["policy"] for r in sorted(rows, key=lambda r: r["run_index"])])
    reference = reference or meta.get("reference") or policies[0]
    rank_by = rank_by or meta.get("rank_by") or measures[0]
    if rank_by.lstrip("-") not in measures:
        raise ConfigError("--rank-by", f"must be one of the measures ({', '.join(measures)}), got {rank_by!r}")
    summary = summarize(rows, list(measures), reference, rank_by)
    target = Path(out) if out else (results if results.is_dir() else results.parent) / "report"
    with output_folder(target) as folder:  # the report is replaced whole, never half-written
        plot_measures(summary, folder / "measures.png")
        plot_differences(summary, folder / "differences.png")
        write_json(folder / "report.json", summary)
        atomic_write_text(folder / "summary.csv", _flat_rows(summary))
        atomic_write_text(folder / "index.html", render_html(summary, meta, ["measures.png", "differences.png"]))
    return target / "index.html"


def main(args: argparse.Namespace) -> int:
    measures = [m.strip() for m in args.measures.split(",") if m.strip()] if args.measures else None
    index = write_report(args.results, args.out, args.reference, measures, args.rank_by)
    summary = json.loads((index.parent / "report.json").read_text())
    print(f"ranking by {summary['rank_by']} ({'higher' if summary['higher_is_better'] else 'lower'} is better):")
    for r in summary["ranking"]:
        print(f"  {r['rank']}. {r['policy']:<24} {_fmt(r['mean'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]")
    print(f"report: {index}")
    return 0
