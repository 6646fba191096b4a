"""Recognizer evaluation: accuracy, F1, confusion matrix, attribute AUCs; JSON and PNG writers.

:func:`evaluate` takes anything with ``predict(frames) -> (expression_probs,
attribute_probs)`` (a :class:`vclass.models.recognizer.Recognizer`) or such a plain
function, and a dataset split (:class:`vclass.models.datasets.FaceSplit`, or any
object with ``images``, ``clean_labels`` (or ``labels``) and ``attributes``).
Accuracy is measured against the split's **clean** labels: the injected
label noise is a training condition, not a property of the faces.

Result keys: ``n``, ``classes``, ``top1``, ``top2``, ``macro_f1``,
``per_class_f1`` (class -> F1), ``confusion`` (7x7 counts, rows = true
class, columns = recognized class), ``attribute_auc`` (attribute -> ROC AUC,
None where the split has only one label value or the model no attribute head)
``attribute_rates`` (attribute -> ``hit_rate`` P(p > 0.5 | present) and
``false_alarm_rate`` P(p > 0.5 | absent), None where undefined) and, when the
split records expression intensity, ``top1_by_intensity`` (top-1 within
intensity bins; faces near intensity 0 look neutral whatever their label,
so the low bins bound what any recognizer can reach).

``confusion.json`` (:func:`write_confusion_json`), read by the surrogate
recognizer (:mod:`vclass.models.surrogate`, SPEC §4), holds ``confusion``: the
row-normalized matrix P(recognized | true), plus ``counts``, ``classes`` and
``attributes`` (the rates above).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vclass.io import pyplot, save_figure, write_json
from vclass.models.datasets import ATTRIBUTE_NAMES as ATTRIBUTES
from vclass.models.datasets import CLASS_NAMES as EXPRESSIONS

INTENSITY_BINS = (0.0, 0.15, 0.3, 0.5, 1.0)

PredictFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def predict_in_batches(predictor: Any, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Run ``predictor`` (a Recognizer or a predict function) over ``images`` in batches; concatenate."""
    predict: PredictFn = predictor.predict if hasattr(predictor, "predict") else predictor
    expression, attributes = [], []
    for start in range(0, len(images), batch_size):
        e, a = predict(images[start : start + batch_size])
        expression.append(np.asarray(e, dtype=np.float32))
        attributes.append(np.asarray(a, dtype=np.float32))
    if not expression:
        return np.zeros((0, len(EXPRESSIONS)), np.float32), np.zeros((0, len(ATTRIBUTES)), np.float32)
    return np.concatenate(expression), np.concatenate(attributes)


def confusion_counts(true: np.ndarray, predicted: np.ndarray, n_classes: int = len(EXPRESSIONS)) -> np.ndarray:
    """``(C, C)`` int64 counts; rows are true classes, columns predicted ones."""
    return np.bincount(true * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def row_normalize(counts: np.ndarray) -> np.ndarray:
    """Each row divided by its total (a row with no samples becomes uniform)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    uniform = np.full_like(counts, 1.0 / counts.shape[1])
    return np.where(totals > 0, counts / np.maximum(totals, 1e-300), uniform)


def per_class_f1(counts: np.ndarray) -> np.ndarray:
    """F1 of each class from a confusion matrix (0 where a class is never true nor predicted)."""
    counts = np.asarray(counts, dtype=np.float64)
    tp = np.diag(counts)
    denominator = counts.sum(axis=0) + counts.sum(axis=1)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1e-300), 0.0)


def attribute_aucs(attribute_probs: np.ndarray, attributes: np.ndarray | None) -> dict[str, float | None]:
    """ROC AUC per attribute; None where the labels have one value or the probabilities are NaN."""
    from sklearn.metrics import roc_auc_score

    result: dict[str, float | None] = {}
    for j, name in enumerate(ATTRIBUTES):
        if attributes is None:
            result[name] = None
            continue
        truth = np.asarray(attributes)[:, j].astype(int)
        scores = attribute_probs[:, j]
        if len(np.unique(truth)) < 2 or not np.all(np.isfinite(scores)):
            result[name] = None
        else:
            result[name] = float(roc_auc_score(truth, scores))
    return result


def attribute_rates(
    attribute_probs: np.ndarray, attributes: np.ndarray | None, threshold: float = 0.5
) -> dict[str, dict[str, float | None]]:
    """Detection rates per attribute at ``threshold``: hit rate and false-alarm rate (None when undefined)."""
    result: dict[str, dict[str, float | None]] = {}
    for j, name in enumerate(ATTRIBUTES):
        rates: dict[str, float | None] = {"hit_rate": None, "false_alarm_rate": None}
        if attributes is not None and np.all(np.isfinite(attribute_probs[:, j])):
            present = np.asarray(attributes)[:, j].astype(bool)
            detected = attribute_probs[:, j] > threshold
            if present.any():
                rates["hit_rate"] = float(detected[present].mean())
            if (~present).any():
                rates["false_alarm_rate"] = float(detected[~present].mean())
        result[name] = rates
    return result


def evaluate(predictor: Any, split: Any, batch_size: int = 256) -> dict[str, Any]:
    """Metrics of ``predictor`` on ``split`` against its clean labels (see the module docstring).

    :param predictor: a :class:`vclass.models.recognizer.Recognizer` or
        ``frames -> (expression_probs, attribute_probs)``.
    :param split: object with ``images`` (N, H, W), ``clean_labels`` or ``labels`` (N,), optional ``attributes``.
    """
    truth = np.asarray(
        getattr(split, "clean_labels", None) if getattr(split, "clean_labels", None) is not None else split.labels,
        dtype=np.int64,
    )
    expression_probs, attribute_probs = predict_in_batches(predictor, split.images, batch_size)
    result = metrics_from_probs(expression_probs, attribute_probs, truth, getattr(split, "attributes", None))
    intensity = getattr(split, "intensity", None)
    if intensity is not None and np.all(np.isfinite(intensity)):
        result["top1_by_intensity"] = accuracy_by_intensity(expression_probs.argmax(axis=1), truth, intensity)
    return result


def accuracy_by_intensity(
    predicted: np.ndarray, truth: np.ndarray, intensity: np.ndarray, edges: tuple[float, ...] = INTENSITY_BINS
) -> dict[str, dict[str, float | int]]:
    """Top-1 and face count per intensity bin ``[low, high)`` (the last bin includes 1)."""
    result = {}
    for low, high in itertools.pairwise(edges):
        inside = (intensity >= low) & ((intensity < high) if high < edges[-1] else (intensity <= high))
        count = int(inside.sum())
        result[f"{low:.2f}-{high:.2f}"] = {
            "n": count,
            "top1": float(np.mean(predicted[inside] == truth[inside])) if count else float("nan"),
        }
    return result


def metrics_from_probs(
    expression_probs: np.ndarray, attribute_probs: np.ndarray, truth: np.ndarray, attributes: np.ndarray | None = None
) -> dict[str, Any]:
    """The :func:`evaluate` dictionary from already computed probabilities."""
    n = len(truth)
    ranked = np.argsort(-expression_probs, axis=1, kind="stable")
    predicted = ranked[:, 0] if n else np.zeros(0, np.int64)
    counts = confusion_counts(truth, predicted)
    f1 = per_class_f1(counts)
    return {
        "n": int(n),
        "classes": list(EXPRESSIONS),
        "top1": float(np.mean(predicted == truth)) if n else float("nan"),
        "top2": float(np.mean((ranked[:, :2] == truth[:, None]).any(axis=1))) if n else float("nan"),
        "macro_f1": float(f1.mean()),
        "per_class_f1": {name: float(v) for name, v in zip(EXPRESSIONS, f1)},
        "confusion": counts.astype(int).tolist(),
        "attribute_auc": attribute_aucs(attribute_probs, attributes),
        "attribute_rates": attribute_rates(attribute_probs, attributes),
    }


def confusion_record(result: dict[str, Any], source: str = "") -> dict[str, Any]:
    """What ``confusion.json`` holds (see the module docstring).

    ``confusion[i][j]`` is P(recognized j | true i), the surrogate recognizer's table (SPEC §4).
    """
    counts = np.asarray(result["confusion"])
    return {
        "classes": result["classes"],
        "rows": "true class",
        "columns": "recognized class",
        "n": result["n"],
        "counts": counts.astype(int).tolist(),
        "confusion": [[round(float(v), 6) for v in row] for row in row_normalize(counts)],
        "attributes": {
            name: {k: v for k, v in rates.items() if v is not None}
            for name, rates in result.get("attribute_rates", {}).items()
        },
        "top1": result["top1"],
        "source": source,
    }


def write_confusion_json(result: dict[str, Any], path: str | Path, source: str = "") -> Path:
    """Write :func:`confusion_record` atomically."""

    write_json(path, confusion_record(result, source))
    return Path(path)


def plot_confusion(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Row-normalized confusion heat map with counts, saved as PNG."""
    plt = pyplot()

    counts = np.asarray(result["confusion"])
    share = row_normalize(counts)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    classes = result["classes"]
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("recognized")
    ax.set_ylabel("true")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{share[i, j]:.2f}\n({counts[i, j]})",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if share[i, j] > 0.6 else "black",
            )
    ax.set_title(title or f"top-1 {result['top1']:.3f} on {result['n']} clean frames", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    save_figure(fig, path)
    return Path(path)


def format_table(result: dict[str, Any]) -> str:
    """Readable plain-text summary: headline numbers, per-class F1, confusion counts, attribute AUCs."""
    classes = result["classes"]
    lines = [
        (
            f"frames {result['n']}   top-1 {result['top1']:.4f}   top-2 {result['top2']:.4f}   "
            f"macro F1 {result['macro_f1']:.4f}"
        ),
        "",
        "true \\ recognized " + " ".join(f"{c[:8]:>8}" for c in classes) + "       F1",
    ]
    for i, name in enumerate(classes):
        row = " ".join(f"{v:8d}" for v in result["confusion"][i])
        lines.append(f"{name:>18} {row} {result['per_class_f1'][name]:8.3f}")
    aucs = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in result["attribute_auc"].items())
    lines += ["", f"attribute ROC AUC: {aucs}"]
    if "top1_by_intensity" in result:
        bins = ", ".join(f"{k}: {v['top1']:.3f} (n={v['n']})" for k, v in result["top1_by_intensity"].items())
        lines.append(f"top-1 by expression intensity: {bins}")
    return "\n".join(lines)
