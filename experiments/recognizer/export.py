"""``vclass export``: write the ONNX file of a trained recognizer (see :mod:`vclass.models.export` for the graph)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vclass.config import ConfigError
from vclass.models.export import export_onnx
from vclass.models.recognizer import RecognizerLoadError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="training folder (holding model.pt) or a model.pt file")
    parser.add_argument("--out", help="ONNX file to write (default: model.onnx in the training folder)")


def main(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if not source.exists():
        raise ConfigError("source", f"no training folder or model file at {source}")
    default = (source if source.is_dir() else source.parent) / "model.onnx"
    out = Path(args.out) if args.out else default
    if out.suffix != ".onnx":
        raise ConfigError("--out", f"must name an .onnx file, got {out}")
    try:
        path = export_onnx(source, out)
    except RecognizerLoadError as err:
        raise ConfigError("source", str(err)) from None
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0
