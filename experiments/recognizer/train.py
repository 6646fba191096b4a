"""``vclass train-recognizer``: train baseline / SCN / SCN-CS on a face dataset (see :mod:`vclass.models.train`).

Every flag defaults to :class:`vclass.models.train.TrainConfig`'s value. Without
``--data`` a clean synthetic dataset is rendered into ``OUT/data`` first with
``vclass make-faces``'s code (``--faces`` faces in all, seed ``--data-seed``);
``--noise`` then draws the training and validation label noise from the
clean labels. ``--resume`` continues ``OUT/checkpoint.pt`` with the settings
stored in ``OUT/config.json`` (flags given again must agree with them).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vclass.config import ConfigError
from vclass.experiments.recognizer.make_faces import MakeFacesConfig, make_dataset
from vclass.models.train import config_from_dict, normalized_config, train_recognizer

DEFAULT_FACES = 12_500  # rendered when --data is missing: 10,000 train, 1,250 val, 1,250 test
DEFAULT_DATA_SEED = 0

# flag -> TrainConfig field, for the flags that map one to one
FLAGS = {
    "model": "model",
    "noise": "noise",
    "epochs": "epochs",
    "seed": "seed",
    "widths": "widths",
    "stem_stride": "stem_stride",
    "attributes": "attributes",
    "batch_size": "batch_size",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "dropout": "dropout",
    "relabel_start_epoch": "relabel_start_epoch",
    "beta": "beta",
    "delta1": "delta1",
    "delta2": "delta2",
    "gamma": "gamma",
    "cw_momentum": "cw_momentum",
    "cw_threshold": "cw_threshold",
    "attribute_batches": "attribute_batches",
    "augment": "augment",
    "fresh_train": "fresh_train",
    "threads": "threads",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="baseline, scn or scn-cs (default scn-cs)")
    parser.add_argument(
        "--noise",
        metavar="KIND:RATE",
        help="label noise drawn on train/val labels, e.g. symmetric:0.1, annotator:0.3, or none",
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int, help="training seed (shuffles, augmentation, init, label noise)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--data", help="dataset folder (default: render one into OUT/data)")
    parser.add_argument(
        "--faces", type=int, default=None, help=f"faces to render when --data is missing (default {DEFAULT_FACES})"
    )
    parser.add_argument(
        "--data-seed", type=int, default=None, help=f"seed of the rendered dataset (default {DEFAULT_DATA_SEED})"
    )
    parser.add_argument("--widths", help="four backbone widths, e.g. 16,32,64,128")
    parser.add_argument("--stem-stride", type=int, help="1 or 2")
    parser.add_argument(
        "--attributes", action=argparse.BooleanOptionalAction, default=None, help="S0 attribute head (default on)"
    )
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--relabel-start-epoch", type=int, help="r: first epoch that relabels (eq 3)")
    parser.add_argument("--beta", type=float, help="high-importance share (eq 2)")
    parser.add_argument("--delta1", type=float, help="rank margin at batch 1024 (eq 2)")
    parser.add_argument("--delta2", type=float, help="relabel margin (eqs 3, 6)")
    parser.add_argument("--gamma", type=float, help="CS weight (eq 5)")
    parser.add_argument("--cw-momentum", type=float, help="calibration-weight EMA momentum (eq 4)")
    parser.add_argument(
        "--cw-threshold",
        choices=("multiply", "divide"),
        help="eq 6 relabel threshold: delta2 * cw_i (multiply, SPEC's reading) or delta2 / cw_i",
    )
    parser.add_argument("--attribute-batches", type=int, help="k attribute batches per expression batch (S0)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--fresh-train",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="render a new training split of the same size every epoch (synthetic data, no noise)",
    )
    parser.add_argument("--threads", type=int, help="torch threads (default 1)")
    parser.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def flag_name(field: str) -> str:
    """``relabel_start_epoch`` -> ``--relabel-start-epoch`` (``widths[2]`` -> ``--widths``)."""
    return "--" + field.split("[")[0].split(".")[0].replace("_", "-")


def _parse_widths(text: str) -> list[int]:
    try:
        widths = [int(part) for part in text.split(",")]
    except ValueError:
        widths = []
    if len(widths) != 4:
        raise ConfigError("--widths", f"must be four comma-separated integers >= 1, e.g. 16,32,64,128; got {text!r}")
    return widths


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields set on the command line."""
    settings = {field: getattr(args, flag) for flag, field in FLAGS.items() if getattr(args, flag) is not None}
    if "widths" in settings:
        settings["widths"] = _parse_widths(settings["widths"])
    return settings


def build_config(args: argparse.Namespace):
    """TrainConfig from the flags (on ``--resume``, on top of ``OUT/config.json``); errors name the flag."""

    out = Path(args.out)
    settings: dict[str, Any] = {}
    if args.resume:
        stored = out / "config.json"
        if not stored.is_file():
            raise ConfigError("--resume", f"no training run to resume in {out} (config.json is missing)")
        settings = normalized_config(json.loads(stored.read_text()))  # options added since: their defaults
        for field, value in given_settings(args).items():
            if settings.get(field) != value:
                raise ConfigError(
                    flag_name(field),
                    f"the run in {out} used {settings.get(field)!r}; --resume continues it unchanged (got {value!r})",
                )
    else:
        settings = given_settings(args)
        settings["out"] = str(out)
        settings["data"] = str(args.data) if args.data else str(out / "data")
    settings["progress"] = not args.quiet
    try:
        return config_from_dict(settings)
    except ConfigError as err:
        raise ConfigError(flag_name(err.field), err.message) from None


def render_dataset(out: Path, faces: int, seed: int) -> None:
    """A clean synthetic dataset in ``out`` through ``vclass make-faces``'s own code."""

    if faces < 10:
        raise ConfigError("--faces", f"must be >= 10, got {faces}")
    if seed < 0:
        raise ConfigError("--data-seed", f"must be >= 0, got {seed}")
    make_dataset(
        MakeFacesConfig(n=faces, seed=seed, size=64, noise_kind=None, noise_rate=0.0, val_frac=0.1, test_frac=0.1), out
    )


def main(args: argparse.Namespace) -> int:
    config = build_config(args)
    data = Path(config.data)
    if not args.data and not (data / "meta.json").is_file():
        render_dataset(
            data, args.faces or DEFAULT_FACES, DEFAULT_DATA_SEED if args.data_seed is None else args.data_seed
        )
    elif args.data and not data.is_dir():
        raise ConfigError("--data", f"no dataset folder at {data}")
    result = train_recognizer(config, resume=args.resume)
    metrics = result.metrics or {}
    print(
        f"{config.model} ({config.noise} noise): clean test top-1 {metrics.get('top1', float('nan')):.4f}, "
        f"top-2 {metrics.get('top2', float('nan')):.4f}; wrote {result.out}/model.pt, metrics.json, "
        "train_log.jsonl, tb/"
    )
    return 0
