"""``vclass ablation``: the noisy-label ablation of the recognizers (SPEC §5).

Trains every model (``baseline``, ``scn``, ``scn-cs``) at every symmetric
label-noise rate (default 0, 10, 20 and 30 %) with several training seeds
(default 3) on one shared clean dataset, and reports the clean test
accuracy of each (model, noise) as mean ± sample std over the seeds. The
noise is drawn on the train and validation labels from the clean labels by
:func:`vclass.models.train.train_recognizer`, seeded by the training seed, so every
model meets the same noisy labels for a given seed: conditions differ only
in model, noise and seed.

For ``scn`` and ``scn-cs`` it also reports the relabeling precision: the
share of relabels that undid injected noise (a relabel onto the clean label;
the ``relabel_corrections`` of the training log over ``relabeled``; null for
a run that never relabeled). At 0 % noise a relabel can only restore a label
that an earlier relabel had changed.

As a floor, a logistic regression on raw pixels (scaled to [0, 1]) is fit
on the clean labels of the train split (a seeded subsample of at most
:data:`LOGREG_MAX_TRAIN` faces, so it finishes in about a minute) and scored
on the clean test split; the CNNs must beat it by far.

Layout of ``OUT``:

=======================================  ============================================================
``data/``                                the clean dataset, rendered once (``--faces``, ``--data-seed``)
                                         unless ``--data`` names one
``runs/<model>-noise<rate>-seed<s>/``    one :func:`vclass.models.train.train_recognizer` run folder each
``logistic_regression.json``             the pixel-LR result (computed once, reused on reruns)
``ablation.json``                        every run's numbers, the per-(model, noise) summaries, the LR
                                         result and the settings
``ablation.md``                          the accuracy table, the relabel-precision table and the LR line
``ablation.png``                         clean test accuracy against noise rate, std error bars
=======================================  ============================================================

Resumable: a run whose ``metrics.json`` exists is skipped, one with only a
``checkpoint.pt`` resumes from it; settings that differ from a finished or
started run's are refused (use a new ``--out``).

The manual's table (docs/recognition.md, from ``experiments/results/ablation/``) comes from the defaults, two runs
at a time::

    vclass ablation --out runs/ablation --jobs 2

(40,000 faces, seed 0; widths 8-16-32-64, a quarter of the shipped model's
FLOPs; 8 epochs; TrainConfig's batch size, learning rate and relabel epoch;
no alternating attribute batches; 3 models x 4 noise rates x 3 seeds = 36
runs, about two hours on 2 cores). ``--jobs N`` trains N runs at once in
spawned processes, each with ``--threads`` threads; a run's result does not
depend on it.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from vclass.config import ConfigError, to_dict
from vclass.experiments.pool import LocalExecutor, WorkerLost
from vclass.experiments.recognizer.train import _parse_widths, flag_name, render_dataset
from vclass.io import atomic_write_text, provenance, pyplot, save_figure, write_json
from vclass.models.datasets import MAX_NOISE_RATE, load_dataset, load_meta
from vclass.models.train import config_from_dict, normalized_config, train_recognizer

DEFAULT_MODELS = "baseline,scn,scn-cs"
DEFAULT_NOISE = "0,0.1,0.2,0.3"
DEFAULT_SEEDS = 3
MAX_SEEDS = 100
MAX_JOBS = 256
DEFAULT_FACES = 40_000  # 32,000 train, 4,000 val, 4,000 test
DEFAULT_DATA_SEED = 0
DEFAULT_EPOCHS = 8
DEFAULT_WIDTHS = "8,16,32,64"  # a quarter of the shipped model's FLOPs: 36 runs in about 2 hours on 2 cores
DEFAULT_ATTRIBUTE_BATCHES = 0  # the attribute loss rides on each expression batch: a third of the steps of k = 2
NOISE_KIND = "symmetric"
LOGREG_MAX_TRAIN = 10_000  # subsample of the train split the pixel LR is fit on
LOGREG_MAX_ITER = 400  # lbfgs on 10,000 x 4,096 pixels: about 30 s on one core

# flag -> TrainConfig field, for the training flags passed through unchanged
TRAIN_FLAGS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "attribute_batches": "attribute_batches",
    "relabel_start_epoch": "relabel_start_epoch",
    "delta2": "delta2",
    "gamma": "gamma",
    "cw_threshold": "cw_threshold",
    "lr": "lr",
    "threads": "threads",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated models (default {DEFAULT_MODELS})")
    parser.add_argument(
        "--noise",
        default=DEFAULT_NOISE,
        help=f"comma-separated symmetric noise rates in [0, 0.4] (default {DEFAULT_NOISE})",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"training seeds 0..N-1 per (model, noise) (default {DEFAULT_SEEDS})",
    )
    parser.add_argument("--data", type=Path, help="clean dataset folder (default: render one into OUT/data)")
    parser.add_argument(
        "--faces",
        type=int,
        default=DEFAULT_FACES,
        help=f"faces to render when --data is missing (default {DEFAULT_FACES})",
    )
    parser.add_argument(
        "--data-seed",
        type=int,
        default=DEFAULT_DATA_SEED,
        help=f"seed of the rendered dataset and of the LR subsample (default {DEFAULT_DATA_SEED})",
    )
    parser.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS, help=f"training epochs (default {DEFAULT_EPOCHS})"
    )
    parser.add_argument(
        "--widths",
        default=DEFAULT_WIDTHS,
        help=f"four backbone widths (default {DEFAULT_WIDTHS}; the shipped model has 16,32,64,128)",
    )
    parser.add_argument("--batch-size", type=int, help="default: TrainConfig's")
    parser.add_argument(
        "--attribute-batches",
        type=int,
        default=DEFAULT_ATTRIBUTE_BATCHES,
        help=f"k attribute batches per expression batch (default {DEFAULT_ATTRIBUTE_BATCHES})",
    )
    parser.add_argument("--relabel-start-epoch", type=int, help="r: first epoch that relabels (default TrainConfig's)")
    parser.add_argument("--delta2", type=float, help="relabel margin, eqs 3 and 6 (default TrainConfig's)")
    parser.add_argument(
        "--gamma", type=float, help="weight of the misclassified-importance term, eq 5 (default TrainConfig's)"
    )
    parser.add_argument(
        "--cw-threshold",
        choices=("multiply", "divide"),
        help="eq 6 reading for scn-cs: delta2 * cw_i (multiply, the default) or delta2 / cw_i",
    )
    parser.add_argument("--lr", type=float, help="peak learning rate (default TrainConfig's)")
    parser.add_argument("--threads", type=int, default=1, help="torch / BLAS threads per run (default 1)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help=f"runs trained at once, each in its own process (1 to {MAX_JOBS}, default 1)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


# ------------------------------------------------------------------ arguments


def parse_models(text: str) -> list[str]:
    """``"baseline,scn"`` -> ["baseline", "scn"]; unknown or repeated names raise :class:`ConfigError`."""
    from vclass.models.nets import list_models

    names = [part.strip() for part in text.split(",") if part.strip()]
    known = list_models()
    for name in names:
        if name not in known:
            raise ConfigError("--models", f"must be comma-separated names from {', '.join(known)}, got {name!r}")
    if not names or len(set(names)) != len(names):
        raise ConfigError("--models", f"must name each model at most once and at least one, got {text!r}")
    return names


def parse_noise_rates(text: str) -> list[float]:
    """``"0,0.1"`` -> [0.0, 0.1]; rates outside [0, MAX_NOISE_RATE] or repeated raise :class:`ConfigError`."""

    allowed = f"must be comma-separated rates in [0, {MAX_NOISE_RATE:g}]"
    rates = []
    for part in text.split(","):
        try:
            rate = float(part)
        except ValueError:
            raise ConfigError("--noise", f"{allowed}, got {part.strip()!r}") from None
        if not 0 <= rate <= MAX_NOISE_RATE:  # also rejects NaN
            raise ConfigError("--noise", f"{allowed}, got {rate:g}")
        rates.append(rate)
    if len(set(rates)) != len(rates):
        raise ConfigError("--noise", f"{allowed}, each at most once, got {text!r}")
    return sorted(rates)


def run_name(model: str, rate: float, seed: int) -> str:
    """Run folder name, e.g. ``scn-cs-noise0.2-seed1``."""
    return f"{model}-noise{rate:g}-seed{seed}"


def build_configs(args: argparse.Namespace, data: Path) -> list[tuple[tuple[str, float, int], Any]]:
    """Every run's TrainConfig, keyed by (model, noise rate, seed), in run order; errors name the flag."""

    models = parse_models(args.models)
    rates = parse_noise_rates(args.noise)
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise ConfigError("--seeds", f"must be an integer in [1, {MAX_SEEDS}], got {args.seeds}")
    common: dict[str, Any] = {
        field: getattr(args, flag) for flag, field in TRAIN_FLAGS.items() if getattr(args, flag) is not None
    }
    if args.widths is not None:
        common["widths"] = _parse_widths(args.widths)
    configs = []
    for rate in rates:
        for model in models:
            for seed in range(args.seeds):
                settings = {
                    **common,
                    "model": model,
                    "noise": f"{NOISE_KIND}:{rate:g}",
                    "seed": seed,
                    "data": str(data),
                    "out": str(args.out / "runs" / run_name(model, rate, seed)),
                    "progress": not args.quiet,
                }
                try:
                    configs.append(((model, rate, seed), config_from_dict(settings)))
                except ConfigError as err:
                    raise ConfigError(flag_name(err.field), err.message) from None
    return configs


# ------------------------------------------------------------------ data and runs


def prepare_data(args: argparse.Namespace) -> Path:
    """The dataset folder every run uses: ``--data``, or ``OUT/data`` rendered once (clean) and checked on reruns."""

    if args.data is not None:
        if not (args.data / "meta.json").is_file():
            raise ConfigError("--data", f"no face dataset at {args.data} (meta.json is missing)")
        return args.data
    data = args.out / "data"
    if (data / "meta.json").is_file():  # written last, so the folder is complete
        meta = load_meta(data)
        if meta.get("seed") != args.data_seed:
            raise ConfigError(
                "--data-seed",
                f"{data} was rendered with seed {meta.get('seed')}, got {args.data_seed}; "
                "use the same value or a new --out",
            )
        if sum(meta["sizes"].values()) != args.faces:
            raise ConfigError(
                "--faces",
                f"{data} holds {sum(meta['sizes'].values())} faces, got {args.faces}; "
                "use the same value or a new --out",
            )
        return data
    render_dataset(data, args.faces, args.data_seed)
    return data


def _location(config: dict[str, Any]) -> dict[str, str]:
    """Where a run lives: its folder, and its data folder unless that is the ablation's own ``OUT/data``."""
    out = Path(config["out"])
    own_data = Path(config["data"]) == out.parent.parent / "data"
    return {"out": config["out"], "data": "" if own_data else config["data"]}


def _settings_differ(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Fields on which a run folder's ``config.json`` differs from the wanted config.

    ``progress`` never counts, nor where the ablation folder lies (it may have been moved): ``out`` and
    ``data`` count only when the data is not the ablation's own ``OUT/data``.
    """

    stored, wanted = normalized_config(stored), normalized_config(wanted)
    location_free = {"progress", "out", "data"}
    differ = {
        key for key in set(stored) | set(wanted) if key not in location_free and stored.get(key) != wanted.get(key)
    }
    if _location(stored)["data"] != _location(wanted)["data"]:
        differ.add("data")
    return sorted(differ)


def folder_state(config):
    """What a run's folder holds: ``(finished, started, moved, config)``.

    ``config`` comes back with the stored ``progress`` (a checkpoint must match it); ``moved`` is a started
    or finished run whose folder (or data) was moved since.
    :raises ConfigError: the folder holds a run made with other settings.
    """

    out = Path(config.out)
    stored_path = out / "config.json"
    finished, started = (out / "metrics.json").is_file(), (out / "checkpoint.pt").is_file()
    moved = False
    if (finished or started) and stored_path.is_file():
        stored = json.loads(stored_path.read_text())
        wanted = to_dict(config)
        differ = _settings_differ(stored, wanted)
        if differ:
            flags = sorted({flag_name(field) for field in differ})
            raise ConfigError(
                flags[0],
                f"{out} was trained with other settings ({', '.join(flags)}); "
                "rerun with the same values or a new --out",
            )
        moved = (stored.get("out"), stored.get("data")) != (wanted["out"], wanted["data"])
        config = replace(config, progress=stored.get("progress", config.progress))
    return finished, started, moved, config


def run_one(config) -> str:
    """Train one run unless it is finished; resume it from its checkpoint when it has one.

    :returns: ``done``, ``resumed``, ``trained`` or ``restarted`` (a started run in a folder that was moved:
        its checkpoint names the old place, so it trains again from scratch, to the same result).
    :raises ConfigError: the folder holds a run made with other settings.
    """

    finished, started, moved, config = folder_state(config)
    if finished:
        return "done"
    resume = started and not moved
    train_recognizer(config, resume=resume)
    return "resumed" if resume else ("restarted" if started else "trained")


def _run_task(config) -> tuple[str, str]:
    """:func:`run_one` in a worker process: ``("ok", outcome)``, or ``(flag, message)`` for a failure; never raises."""
    try:
        return "ok", run_one(config)
    except ConfigError as err:
        return err.field, err.message
    except Exception as err:  # noqa: BLE001 - a failing run is a result, not the ablation's end
        return "--out", f"{config.out} failed: {type(err).__name__}: {err}"


def train_all(configs: list, jobs: int, quiet: bool) -> dict[str, int]:
    """Every run of ``configs`` (finished ones skipped), ``jobs`` at a time; counts of each outcome.

    With ``jobs`` > 1 the runs train in spawned processes (:class:`vclass.experiments.pool.LocalExecutor`) with
    their own progress bars off; each run is seeded on its own, so its result does not depend on ``jobs``.
    :raises ConfigError: a run failed or its folder holds other settings (the other runs in flight finish).
    """

    for _, config in configs:  # refuse a folder with other settings before anything trains
        folder_state(config)
    counts = {"done": 0, "resumed": 0, "restarted": 0, "trained": 0}
    with tqdm(total=len(configs), desc="ablation", unit="run", disable=True if quiet else None) as bar:
        if jobs == 1:
            for (model, rate, seed), config in configs:
                bar.set_postfix_str(run_name(model, rate, seed))
                counts[run_one(config)] += 1
                bar.update()
            return counts

        executor = LocalExecutor(workers=jobs)
        errors: list[tuple[str, str]] = []
        try:
            tasks = [replace(config, progress=False) for _, config in configs]
            for config, result in executor.imap_unordered(_run_task, tasks):
                if isinstance(result, WorkerLost):
                    errors.append(("--out", f"{config.out}: {result}"))
                elif result[0] != "ok":
                    errors.append(result)
                else:
                    counts[result[1]] += 1
                bar.update()
        finally:
            executor.close()
    if errors:
        raise ConfigError(
            errors[0][0], "; ".join(message for _, message in errors) + " (finished runs are kept: rerun to resume)"
        )
    return counts


def run_record(model: str, rate: float, seed: int, folder: Path, out: Path) -> dict[str, Any]:
    """One finished run's numbers, read from its folder (``metrics.json`` and ``train_log.jsonl``)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    history = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines() if line.strip()]
    relabeled = sum(int(r["relabeled"]) for r in history)
    corrections = sum(int(r["relabel_corrections"]) for r in history)
    return {
        "model": model,
        "noise": rate,
        "seed": seed,
        "folder": str(folder.relative_to(out)),
        "top1": metrics["top1"],
        "top2": metrics["top2"],
        "macro_f1": metrics.get("macro_f1"),
        "epochs": len(history),
        "relabeled": relabeled,
        "relabel_corrections": corrections,
        "relabel_precision": corrections / relabeled if relabeled else None,
        "label_noise_given": history[-1].get("label_noise_given") if history else None,
        "label_noise_final": history[-1].get("label_noise_now") if history else None,
        "train_seconds": metrics.get("train_seconds"),
    }


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """Mean and sample std (ddof 1) of the values; None where undefined (no values, or std of one)."""
    if not values:
        return None, None
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), (float(array.std(ddof=1)) if array.size > 1 else None)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, noise): mean and sample std over seeds of top-1, top-2 and relabel precision; relabel totals."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["model"], run["noise"]), []).append(run)
    summary = []
    for (model, rate), group in groups.items():
        top1_mean, top1_std = mean_std([r["top1"] for r in group])
        top2_mean, top2_std = mean_std([r["top2"] for r in group])
        precisions = [r["relabel_precision"] for r in group if r["relabel_precision"] is not None]
        precision_mean, precision_std = mean_std(precisions)
        final_noise = [r["label_noise_final"] for r in group if r.get("label_noise_final") is not None]
        summary.append(
            {
                "model": model,
                "noise": rate,
                "seeds": [r["seed"] for r in group],
                "top1_mean": top1_mean,
                "top1_std": top1_std,
                "top2_mean": top2_mean,
                "top2_std": top2_std,
                "relabeled": sum(r["relabeled"] for r in group),
                "relabel_corrections": sum(r["relabel_corrections"] for r in group),
                "relabel_precision_mean": precision_mean,
                "relabel_precision_std": precision_std,
                "relabel_precision_runs": len(precisions),
                "label_noise_final_mean": float(np.mean(final_noise)) if final_noise else None,
            }
        )
    return summary


# ------------------------------------------------------------------ logistic regression floor


def logistic_regression_floor(data: Path, seed: int, threads: int) -> dict[str, Any]:
    """Multinomial LR on raw pixels / 255, fit on the clean labels of (a subsample of) train; clean test top-1."""

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    splits = load_dataset(data)
    train, test = splits["train"], splits["test"]
    rng = np.random.default_rng([seed, 2718])
    chosen = (
        np.sort(rng.choice(len(train), LOGREG_MAX_TRAIN, replace=False))
        if len(train) > LOGREG_MAX_TRAIN
        else np.arange(len(train))
    )
    features = train.images[chosen].reshape(len(chosen), -1).astype(np.float32) / 255.0
    test_features = test.images.reshape(len(test), -1).astype(np.float32) / 255.0
    started = time.perf_counter()
    with threadpool_limits(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # bounded on purpose; `converged` reports it
        model = LogisticRegression(max_iter=LOGREG_MAX_ITER)
        model.fit(features, train.clean_labels[chosen])
        probs = model.predict_proba(test_features)
    ranked = model.classes_[np.argsort(-probs, axis=1, kind="stable")]
    truth = test.clean_labels
    n_iter = int(np.max(model.n_iter_))
    return {
        "top1": float(np.mean(ranked[:, 0] == truth)) if len(truth) else None,
        "top2": float(np.mean((ranked[:, :2] == truth[:, None]).any(axis=1))) if len(truth) else None,
        "train_faces": len(chosen),
        "train_split_faces": len(train),
        "subsampled": bool(len(chosen) < len(train)),
        "test_faces": len(truth),
        "features": "raw pixels / 255",
        "labels": "clean",
        "max_iter": LOGREG_MAX_ITER,
        "n_iter": n_iter,
        "converged": n_iter < LOGREG_MAX_ITER,
        "seconds": round(time.perf_counter() - started, 1),
    }


def cached_logistic_regression(out: Path, data: Path, seed: int, threads: int) -> dict[str, Any]:
    """The LR result from ``OUT/logistic_regression.json``, computed and written the first time."""

    path = out / "logistic_regression.json"
    source = "OUT/data" if data == out / "data" else str(data)  # the ablation folder may move
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("data") == source and cached.get("seed") == seed:
            return cached
    result = {**logistic_regression_floor(data, seed, threads), "data": source, "seed": seed}
    write_json(path, result)
    return result


# ------------------------------------------------------------------ report


def _percent(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "–"
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def markdown_report(
    summary: list[dict[str, Any]], logreg: dict[str, Any], models: list[str], rates: list[float], seeds: int
) -> str:
    """The accuracy table (rows noise, columns models), the relabel-precision table and the LR line."""
    cells = {(s["model"], s["noise"]): s for s in summary}
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed"
    lines = [
        f"Clean test top-1 (%), {spread}, by symmetric label noise on train/val:",
        "",
        "| noise | " + " | ".join(models) + " |",
        "|---|" + "---|" * len(models),
    ]
    for rate in rates:
        row = [_percent(cells[m, rate]["top1_mean"], cells[m, rate]["top1_std"]) for m in models]
        lines.append(f"| {100 * rate:g}% | " + " | ".join(row) + " |")
    relabeling = [m for m in models if m != "baseline"]
    if relabeling:
        lines += [
            "",
            (
                f"Relabel precision (% of relabels that restored the clean label), {spread}; "
                "relabels over all seeds in brackets:"
            ),
            "",
            "| noise | " + " | ".join(relabeling) + " |",
            "|---|" + "---|" * len(relabeling),
        ]
        for rate in rates:
            row = [
                f"{_percent(cells[m, rate]['relabel_precision_mean'], cells[m, rate]['relabel_precision_std'])} "
                f"({cells[m, rate]['relabeled']:,})"
                for m in relabeling
            ]
            lines.append(f"| {100 * rate:g}% | " + " | ".join(row) + " |")
        lines += [
            "",
            (
                "Training labels that differ from the clean ones after the last epoch (%, mean over seeds): "
                "what relabeling left of the injected noise, or added to it:"
            ),
            "",
            "| noise | " + " | ".join(relabeling) + " |",
            "|---|" + "---|" * len(relabeling),
        ]
        for rate in rates:
            row = [_percent(cells[m, rate]["label_noise_final_mean"], None) for m in relabeling]
            lines.append(f"| {100 * rate:g}% | " + " | ".join(row) + " |")
    sample = (
        f"a {logreg['train_faces']:,}-face subsample of the {logreg['train_split_faces']:,} training faces"
        if logreg["subsampled"]
        else f"all {logreg['train_faces']:,} training faces"
    )
    converged = "" if logreg["converged"] else f", stopped at {logreg['max_iter']} iterations"
    lines += [
        "",
        (
            f"Logistic regression on raw pixels (clean labels, {sample}{converged}): clean test top-1 "
            f"{_percent(logreg['top1'], None)}%."
        ),
    ]
    return "\n".join(lines) + "\n"


def plot_accuracy(summary: list[dict[str, Any]], logreg: dict[str, Any], models: list[str], path: Path) -> None:
    """Clean test accuracy against noise rate, one line per model with std error bars; LR as a dashed line."""
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for model in models:
        rows = sorted((s for s in summary if s["model"] == model), key=lambda s: s["noise"])
        ax.errorbar(
            [100 * s["noise"] for s in rows],
            [100 * s["top1_mean"] for s in rows],
            yerr=[100 * (s["top1_std"] or 0.0) for s in rows],
            marker="o",
            capsize=3,
            label=model,
        )
    ax.set_xticks(sorted({100 * s["noise"] for s in summary}))
    if logreg.get("top1") is not None:
        ax.axhline(100 * logreg["top1"], color="gray", linestyle="--", label="pixel logistic regression")
    ax.set_xlabel(f"{NOISE_KIND} label noise on train/val (%)")
    ax.set_ylabel("clean test top-1 (%)")
    ax.set_title("Noisy-label ablation")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


# ------------------------------------------------------------------ main


def main(args: argparse.Namespace) -> int:
    out: Path = args.out
    models, rates = parse_models(args.models), parse_noise_rates(args.noise)
    data_path = args.data if args.data is not None else out / "data"
    if not 1 <= args.jobs <= MAX_JOBS:
        raise ConfigError("--jobs", f"must be an integer in [1, {MAX_JOBS}], got {args.jobs}")
    configs = build_configs(args, data_path)  # validates every flag before anything is written
    data = prepare_data(args)

    counts = train_all(configs, args.jobs, args.quiet)
    runs = [run_record(model, rate, seed, Path(config.out), out) for (model, rate, seed), config in configs]
    summary = summarize(runs)
    logreg = cached_logistic_regression(out, data, args.data_seed, args.threads)

    shared = {k: v for k, v in to_dict(configs[0][1]).items() if k not in ("model", "noise", "seed", "out", "progress")}
    settings = {
        "models": models,
        "noise_kind": NOISE_KIND,
        "noise_rates": rates,
        "seeds": list(range(args.seeds)),
        "data": str(data),
        "faces": None if args.data is not None else args.faces,
        "data_seed": None if args.data is not None else args.data_seed,
        "train_config": shared,
    }
    write_json(
        out / "ablation.json",
        {
            "settings": settings,
            "runs": runs,
            "summary": summary,
            "logistic_regression": logreg,
            "provenance": provenance(settings, args.data_seed),
        },
    )
    table = markdown_report(summary, logreg, models, rates, args.seeds)
    atomic_write_text(out / "ablation.md", table)
    plot_accuracy(summary, logreg, models, out / "ablation.png")
    print(table)
    tally = ", ".join(f"{count} {'already done' if kind == 'done' else kind}" for kind, count in counts.items())
    print(f"{len(runs)} runs ({tally}); wrote {out}/ablation.json, ablation.md, ablation.png")
    return 0
