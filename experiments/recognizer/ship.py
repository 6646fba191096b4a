"""``vclass ship-recognizer RUN_DIR``: make a finished training run the default recognizer.

It exports the run's ``model.pt`` to ONNX, evaluates that ONNX file on
ONNX Runtime on a fresh clean test set (``vclass eval-recognizer``'s fixed
seed, never seen in training), and writes into ``--out`` (default
``models/shipped``):

=====================  ===========================================================
file                   what it holds
=====================  ===========================================================
``scn-cs.onnx``        the model, dynamic batch axis (the ``onnxruntime`` and
                       ``tensorrt`` backends read it)
``scn-cs.pt``          the same weights for the ``torch`` and ``torch-cuda`` backends
``confusion.json``     P(recognized | true) and attribute hit / false-alarm rates
                       measured on the held-out frames: the surrogate recognizer's
                       table and the belief filter's emission model (SPEC §4)
``confusion.png``      that matrix as a picture
``MODEL_CARD.md``      the command, data, seed, noise, training curve and the test
                       metrics, confusion matrix included
=====================  ===========================================================

Every file is written atomically, and nothing is written unless the export
and the evaluation both succeed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError, to_dict
from vclass.experiments.recognizer.evaluate import EVAL_SEED, render_clean_split
from vclass.experiments.recognizer.face_ceiling import DEFAULT_SEED, face_ceilings
from vclass.experiments.recognizer.train import FLAGS
from vclass.io import atomic_write_bytes, atomic_write_text
from vclass.models.evaluate import INTENSITY_BINS, evaluate, plot_confusion, row_normalize, write_confusion_json
from vclass.models.export import export_onnx
from vclass.models.quantize import current_int8_model, int8_model_path
from vclass.models.recognizer import SHIPPED_DIR, RecognizerLoadError, load_recognizer, load_torch_model
from vclass.models.train import TrainConfig

DEFAULT_FACES = 5000
BOUND_FACES = 20_000  # draws for the card's resting-face bound (no rendering: about a second)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a finished `vclass train-recognizer` folder (holding model.pt)")
    parser.add_argument("--out", default=None, help="where to install (default: models/shipped)")
    parser.add_argument(
        "--faces",
        type=int,
        default=DEFAULT_FACES,
        help=f"clean held-out faces to measure the confusion on (default {DEFAULT_FACES})",
    )
    parser.add_argument("--name", default="scn-cs", help="file stem of the installed model (default scn-cs)")


def commands(config: dict[str, Any], data_meta: dict[str, Any] | None) -> list[str]:
    """The command lines that made a run: its data's (as recorded, else an equivalent ``make-faces``) and
    the training command rebuilt from ``config.json``."""
    provenance = (data_meta or {}).get("provenance", {})
    recorded = provenance.get("command") or []
    if recorded[1:2] == ["train-recognizer"]:
        made_by = recorded[recorded.index("--out") + 1] if "--out" in recorded[:-1] else None
        if made_by == config.get("out"):
            return [" ".join(["vclass", *recorded[1:]])]  # the run rendered its own data
    if recorded[1:2] == ["make-faces"]:
        return [" ".join(["vclass", *recorded[1:]]), train_command(config)]
    # rendered by another command (a training run or a script) through make-faces' code: the same faces
    # come from make-faces with the recorded settings
    made = provenance.get("config") or {}
    if "n" not in made or "seed" not in made:
        return [train_command(config)]
    line = f"vclass make-faces --n {made['n']} --seed {made['seed']}"
    if made.get("noise_kind"):
        line += f" --noise {made['noise_kind']}:{made['noise_rate']}"
    if made.get("size", 64) != 64:
        line += f" --size {made['size']}"
    for key in ("val_frac", "test_frac"):
        if made.get(key, 0.1) != 0.1:
            line += f" --{key.replace('_', '-')} {made[key]}"
    return [f"{line} --out {config.get('data') or 'DATA'}", train_command(config)]


def train_command(config: dict[str, Any]) -> str:
    """The ``vclass train-recognizer`` command line that reproduces a run from its ``config.json``."""

    defaults = to_dict(TrainConfig())
    parts = ["vclass train-recognizer"]
    for flag, field in FLAGS.items():
        value = config.get(field)
        if value is None or value == defaults.get(field):
            continue
        name = "--" + flag.replace("_", "-")
        if isinstance(value, bool):
            parts.append(name if value else "--no-" + flag.replace("_", "-"))
        elif isinstance(value, list):
            parts.append(f"{name} {','.join(str(v) for v in value)}")
        else:
            parts.append(f"{name} {value}")
    out = config.get("out", "runs/recognizer")
    if config.get("data") and Path(config["data"]) != Path(out) / "data":
        parts.append(f"--data {config['data']}")
    parts.append(f"--out {out}")
    return " ".join(parts)


def _fresh_line(config: dict[str, Any], sizes: dict[str, int] | None) -> str:
    if not config.get("fresh_train"):
        return ""
    n = (sizes or {}).get("train")
    epochs = config.get("epochs")
    total = f" ({epochs * n:,} training faces in all)" if n and epochs else ""
    return (
        "\n  `--fresh-train`: the training split is rendered anew every epoch, seeded by (seed, epoch)"
        f"{total}; the dataset's val and test splits are used as stored."
    )


def _relabel_line(config: dict[str, Any], relabeled: int, corrected: int) -> str:
    if config.get("fresh_train"):
        return f"relabeling (eq 3) had no effect: it proposed {relabeled} changes, each to a face not seen again"
    return (
        f"{relabeled} labels relabeled in all ({corrected} of them set a label back to its clean value, "
        "undoing injected noise or an earlier relabel)"
    )


def _alternation(k: int | None) -> str:
    if k == 0:
        return (
            "its BCE added to every expression batch (k = 0: one pass per batch, a third of the cost of S0's "
            "k = 2 alternation on this 2-core machine)"
        )
    return f"S0's alternation of k = {k} attribute batches per expression batch"


def _confusion_table(result: dict[str, Any]) -> str:
    classes = result["classes"]
    share = row_normalize(np.asarray(result["confusion"]))
    lines = ["| true \\ recognized | " + " | ".join(classes) + " | F1 |", "|---" * (len(classes) + 2) + "|"]
    for i, name in enumerate(classes):
        cells = " | ".join(f"{v:.2f}" for v in share[i])
        lines.append(f"| {name} | {cells} | {result['per_class_f1'][name]:.3f} |")
    return "\n".join(lines)


def model_card(
    name: str,
    config: dict[str, Any],
    data_meta: dict[str, Any] | None,
    history: list[dict[str, Any]],
    train_metrics: dict[str, Any] | None,
    result: dict[str, Any],
    onnx_bytes: int,
    parameters: int,
    faces: int,
    seed: int,
    bound: dict[str, Any] | None = None,
) -> str:
    """The model card's markdown.

    :param bound: :func:`vclass.experiments.recognizer.face_ceiling.face_ceilings` without the oracle, binned like
        ``result["top1_by_intensity"]``: the ceiling beside each bin's top-1.
    """
    noise = config.get("noise", "none")
    data_seed = data_meta.get("seed") if data_meta else None
    sizes = data_meta.get("sizes") if data_meta else None
    last = history[-1] if history else {}
    relabeled = sum(int(h.get("relabeled", 0)) for h in history)
    corrected = sum(int(h.get("relabel_corrections", 0)) for h in history)
    curve = "\n".join(
        f"| {h['epoch']} | {h['train_acc']:.3f} | {h['val_acc']:.3f} | {h.get('relabeled', 0)} | {h['seconds']:.0f} |"
        for h in history
    )
    aucs = ", ".join(f"{k} {'n/a' if v is None else f'{v:.3f}'}" for k, v in result["attribute_auc"].items())
    by_intensity = ""
    if "top1_by_intensity" in result:
        bound = bound or {}
        limits = bound.get("resting_face_bound", {})
        cells = limits.get("top1_by_intensity", {})
        rows = [
            f"| {k} | {v['n']} | {v['top1']:.3f} |" + (f" {cells[k]['top1']:.3f} |" if k in cells else "")
            for k, v in result["top1_by_intensity"].items()
        ]
        if limits:
            rows.append(f"| all | {result.get('n', faces)} | {result['top1']:.3f} | {limits['top1']:.3f} |")
        header = "| intensity | faces | top-1 |" + (" bound |\n|---|---|---|---|" if limits else "\n|---|---|---|")
        by_intensity = (
            "\nTop-1 by expression intensity (faint expressions are meant to be ambiguous: at intensity "
            "0 every class is the identity's neutral face)"
            + (
                f". *bound* is the most any recognizer that does not know the identity's resting face "
                f"can score (`vclass face-ceiling`'s Bayes bound on {bound['n']:,} faces drawn the same way, "
                f"seed {bound['seed']}); every test face is a new identity"
                if limits
                else ""
            )
            + ":\n\n"
            + header
            + "\n"
            + "\n".join(rows)
            + "\n"
        )
    test_line = ""
    if train_metrics:
        test_line = (
            f"- On the training dataset's own clean test split ({train_metrics.get('n')} faces): top-1 "
            f"{train_metrics['top1']:.4f}, top-2 {train_metrics['top2']:.4f}.\n"
        )
    return f"""# Model card: `{name}` (the shipped facial-expression recognizer)

`models/shipped/{name}.onnx` ({onnx_bytes / 1e6:.2f} MB, {parameters:,} parameters) and `{name}.pt`, the same
weights. Made by this project's own commands; no outside data or weights.

## How it was made

```bash
{chr(10).join(commands(config, data_meta))}
vclass ship-recognizer {config.get("out", "RUN_DIR")}
```

- Model: `{config.get("model")}` (SPEC §5, S3 eqs 1-6 with eq 5's misclassification term from epoch r on),
  ResNet-18-style backbone, widths {config.get("widths")}, stem stride {config.get("stem_stride")},
  S0 attribute head (eyes closed, yawning, looking away), {_alternation(config.get("attribute_batches"))}.
- Data: faces rendered by `vclass.sim.faces`, 64x64 grayscale, dataset seed {data_seed}, splits {sizes};
  label noise on train/val: `{noise}`.{_fresh_line(config, sizes)}
- Training: {config.get("epochs")} epochs, batch {config.get("batch_size")}, AdamW lr {config.get("lr")}
  (warm-up, cosine), weight decay {config.get("weight_decay")}, seed {config.get("seed")},
  {config.get("threads")} torch threads; {_relabel_line(config, relabeled, corrected)}.
- Final epoch: train accuracy {last.get("train_acc", float("nan")):.3f}, validation accuracy
  {last.get("val_acc", float("nan")):.3f}.

| epoch | train acc | val acc | relabeled | seconds |
|---|---|---|---|---|
{curve}

## Measured (ONNX Runtime, CPU)

{test_line}- On {faces} fresh clean faces (seed {seed}, `vclass eval-recognizer`'s default set, never seen in
  training): **top-1 {result["top1"]:.4f}**, top-2 {result["top2"]:.4f}, macro F1 {result["macro_f1"]:.4f}.
- Attribute ROC AUC: {aucs}.
{by_intensity}
Confusion P(recognized | true) on those faces, with per-class F1 (the surrogate recognizer and the
belief filter use this matrix, stored in `confusion.json`):

{_confusion_table(result)}

Reproduce the measurement: `vclass eval-recognizer --faces {faces} --seed {seed}`.

## INT8

`vclass quantize-recognizer` makes `{name}-int8.onnx` from this file (U8S8 per-channel QDQ, calibrated on rendered
training faces); its card `{name}-int8.md` gives its accuracy against FP32 on the same clean faces. The fastest CPU
path (`vclass.models.fastest`) uses it only while its parity record names this file's SHA-256.
"""


def main(args: argparse.Namespace) -> int:
    from vclass.models.nets import count_parameters

    run = Path(args.run_dir)
    model_pt = run / "model.pt"
    if not model_pt.is_file():
        raise ConfigError("run_dir", f"no finished training run at {run} (model.pt is missing)")
    if not 1 <= args.faces <= 1_000_000:
        raise ConfigError("--faces", f"must be >= 1 and <= 1000000, got {args.faces}")
    if not args.name or "/" in args.name:
        raise ConfigError("--name", f"must be a plain file stem, got {args.name!r}")
    out = Path(args.out) if args.out else SHIPPED_DIR
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    history = (
        [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line.strip()]
        if (run / "train_log.jsonl").is_file()
        else []
    )
    train_metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else None
    data_dir = Path(config.get("data") or run / "data")
    data_meta = json.loads((data_dir / "meta.json").read_text()) if (data_dir / "meta.json").is_file() else None

    with tempfile.TemporaryDirectory() as tmp:
        try:
            onnx_path = export_onnx(model_pt, Path(tmp) / f"{args.name}.onnx")
            recognizer = load_recognizer(onnx_path, backend="onnxruntime")
            parameters = count_parameters(load_torch_model(model_pt))
        except RecognizerLoadError as err:
            raise ConfigError("run_dir", str(err)) from None
        split = render_clean_split(args.faces, EVAL_SEED, recognizer.input_size[0])
        result = evaluate(recognizer, split)
        onnx_bytes = onnx_path.read_bytes()
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / f"{args.name}.onnx", onnx_bytes)
        tmp_pt = Path(tmp) / "model.pt"
        shutil.copyfile(model_pt, tmp_pt)
        atomic_write_bytes(out / f"{args.name}.pt", tmp_pt.read_bytes())
    source = f"{args.name}.onnx (onnxruntime) on {args.faces} clean rendered faces, seed {EVAL_SEED}"
    write_confusion_json(result, out / "confusion.json", source=source)
    plot_confusion(
        result,
        out / "confusion.png",
        title=f"{args.name}: top-1 {result['top1']:.3f} on {args.faces} clean held-out faces",
    )
    bound = face_ceilings(BOUND_FACES, DEFAULT_SEED, oracle=False, edges=INTENSITY_BINS)
    card = model_card(
        args.name,
        config,
        data_meta,
        history,
        train_metrics,
        result,
        len(onnx_bytes),
        parameters,
        args.faces,
        EVAL_SEED,
        bound,
    )
    atomic_write_text(out / "MODEL_CARD.md", card)
    int8_path = int8_model_path(out / f"{args.name}.onnx")
    stale = int8_path.is_file() and current_int8_model(out / f"{args.name}.onnx")[0] is None
    after = f"\n{int8_path.name} was made from the previous model: run vclass quantize-recognizer" if stale else ""
    print(
        f"installed {out / (args.name + '.onnx')} ({len(onnx_bytes) / 1e6:.2f} MB): top-1 {result['top1']:.4f}, "
        f"top-2 {result['top2']:.4f} on {args.faces} clean held-out faces; wrote confusion.json, confusion.png, "
        f"MODEL_CARD.md{after}"
    )
    return 0
