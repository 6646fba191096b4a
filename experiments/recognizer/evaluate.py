"""``vclass eval-recognizer``: accuracy, F1, confusion and attribute AUCs of a recognizer on clean faces.

MODEL is a training folder, a ``model.pt`` or an ``.onnx`` file (default: the
shipped ``models/shipped/scn-cs.onnx``). Without ``--data`` the faces are a
fresh clean test set rendered with ``vclass make-faces``'s code from a fixed
seed (``--faces`` faces, seed ``--seed``), independent of any training set
(training sets draw their streams from ``SeedSequence(data seed).spawn``).
With ``--data`` the dataset's test split is used (always clean).

Writes ``eval_confusion.json`` (the row-normalized matrix P(recognized |
true) under ``confusion``, counts and attribute rates; the format the
surrogate recognizer reads) and ``eval_confusion.png`` into ``--out``, or next
to the model; for the shipped model (which lives inside the package) the
default is ``runs/eval-shipped/``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vclass.config import ConfigError
from vclass.models.datasets import FaceSplit, load_dataset, render_split
from vclass.models.evaluate import evaluate, format_table, plot_confusion, write_confusion_json
from vclass.models.recognizer import (
    BACKENDS,
    SHIPPED_MODEL,
    BackendUnavailable,
    RecognizerLoadError,
    RecognizerOutputError,
    load_recognizer,
)

EVAL_SEED = 20_240_917  # the fixed seed of the default clean test set
DEFAULT_FACES = 2000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model",
        nargs="?",
        default=None,
        help="training folder, model.pt or .onnx (default: models/shipped/scn-cs.onnx)",
    )
    parser.add_argument("--data", help="dataset folder whose test split is used (default: render a clean set)")
    parser.add_argument(
        "--faces", type=int, default=DEFAULT_FACES, help=f"faces to render without --data (default {DEFAULT_FACES})"
    )
    parser.add_argument("--seed", type=int, default=EVAL_SEED, help=f"seed of the rendered set (default {EVAL_SEED})")
    parser.add_argument(
        "--backend", default="onnxruntime", help="onnxruntime (default), openvino, torch, torch-cuda or tensorrt"
    )
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of the backend")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--out", help="folder for eval_confusion.json/.png (default: next to the model)")


def render_clean_split(faces: int, seed: int, size: int = 64):
    """A clean :class:`vclass.models.datasets.FaceSplit` rendered from ``seed`` (no label noise)."""

    arrays = render_split(faces, np.random.default_rng(seed), size)
    return FaceSplit(labels=arrays["clean_labels"].copy(), **arrays)


def output_folder(model_path: Path, out: str | None) -> Path:
    if out:
        return Path(out)
    if model_path.resolve() == SHIPPED_MODEL.resolve():
        return Path("runs") / "eval-shipped"
    return model_path if model_path.is_dir() else model_path.parent


def main(args: argparse.Namespace) -> int:
    if args.backend not in BACKENDS:
        raise ConfigError("--backend", f"must be one of {', '.join(BACKENDS)}, got {args.backend!r}")
    if not 1 <= args.faces <= 1_000_000:
        raise ConfigError("--faces", f"must be >= 1 and <= 1000000, got {args.faces}")
    if args.seed < 0:
        raise ConfigError("--seed", f"must be >= 0, got {args.seed}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads", f"must be >= 1, got {args.threads}")
    model_path = Path(args.model) if args.model else SHIPPED_MODEL
    options = {"threads": args.threads} if args.threads else {}
    try:
        recognizer = load_recognizer(model_path, backend=args.backend, **options)
    except RecognizerLoadError as err:
        raise ConfigError("MODEL", str(err)) from None
    except BackendUnavailable as err:
        raise ConfigError("--backend", str(err)) from None
    if args.data:
        try:
            split = load_dataset(args.data)["test"]
        except (FileNotFoundError, ValueError) as err:
            raise ConfigError("--data", str(err)) from None
        data_note = f"test split of {args.data}"
    else:
        split = render_clean_split(args.faces, args.seed, recognizer.input_size[0])
        data_note = f"{args.faces} clean rendered faces, seed {args.seed}"
    try:
        result = evaluate(recognizer, split)
    except RecognizerOutputError as err:  # a model that loads but whose outputs are not probabilities
        raise ConfigError("MODEL", str(err)) from None
    result.update(model=str(model_path), backend=args.backend, data=data_note)

    folder = output_folder(model_path, args.out)
    folder.mkdir(parents=True, exist_ok=True)
    write_confusion_json(result, folder / "eval_confusion.json", source=f"{model_path} on {data_note}")
    plot_confusion(result, folder / "eval_confusion.png", title=f"{model_path.name} ({args.backend}) on {data_note}")
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{model_path} ({args.backend}) on {data_note}\n")
        print(format_table(result))
        print(f"\nwrote {folder / 'eval_confusion.json'} and {folder / 'eval_confusion.png'}")
    return 0
