"""``vclass quantize-recognizer [MODEL]``: the INT8 recognizer of an FP32 one, with its measured parity.

MODEL is an ``.onnx`` file, a ``model.pt`` or a training folder (default: the shipped
``models/shipped/scn-cs.onnx``). The command

1. calibrates on ``--calibration-faces`` rendered training faces: the faces a training run renders for its
   fresh training split (:func:`vclass.models.train.fresh_train_split`, seed ``--seed``, epoch 0), or the
   first faces of the train split of ``--data``;
2. quantizes with :func:`vclass.models.quantize.quantize_int8` (U8S8, per-channel, QDQ);
3. measures parity on ``--faces`` clean faces of ``vclass eval-recognizer``'s fixed seed (the FP32 model
   card's faces): top-1 of FP32 and INT8 on ONNX Runtime, argmax agreement, top-1 by intensity bin, and
   the same for the INT8 file on OpenVINO when it imports;
4. writes, each atomically and only once everything above succeeded, the INT8 model (``--out``, default
   :func:`vclass.models.quantize.int8_model_path`: ``scn-cs-int8.onnx`` beside ``scn-cs.onnx``), its parity
   record (``.json``) and its model card (``.md``) beside it.

The same arguments give the same three files, byte for byte.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from vclass.config import ConfigError
from vclass.experiments.recognizer.evaluate import EVAL_SEED, render_clean_split
from vclass.io import atomic_write_bytes, atomic_write_text, to_json
from vclass.models.datasets import load_dataset
from vclass.models.evaluate import predict_in_batches
from vclass.models.quantize import (
    QUANTIZED_OP_TYPES,
    SCHEME,
    card_path,
    int8_model_path,
    parity,
    parity_record_path,
    quantize_int8,
    sha256_hex,
)
from vclass.models.recognizer import (
    SHIPPED_MODEL,
    BackendUnavailable,
    RecognizerLoadError,
    _resolve_onnx,  # the one place that turns a model path into ONNX bytes
    load_recognizer,
)
from vclass.models.train import fresh_train_split

DEFAULT_CALIBRATION_FACES = 512
DEFAULT_FACES = 5000  # the FP32 card's faces; why this many: see tests/test_int8.py
TOP1_TOLERANCE_POINTS = 0.5  # the issue's parity bound, shown on the card


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", nargs="?", default=None, help="FP32 .onnx, model.pt or training folder (default: the shipped model)"
    )
    parser.add_argument("--out", default=None, help="INT8 .onnx to write (default: <model>-int8.onnx beside it)")
    parser.add_argument(
        "--calibration-faces",
        type=int,
        default=DEFAULT_CALIBRATION_FACES,
        help=f"rendered training faces to calibrate on (default {DEFAULT_CALIBRATION_FACES})",
    )
    parser.add_argument("--seed", type=int, default=0, help="training-render seed of the calibration faces (default 0)")
    parser.add_argument("--data", default=None, help="calibrate on the train split of this dataset folder instead")
    parser.add_argument(
        "--faces", type=int, default=DEFAULT_FACES, help=f"clean faces to measure parity on (default {DEFAULT_FACES})"
    )
    parser.add_argument(
        "--eval-seed", type=int, default=EVAL_SEED, help=f"seed of those faces (default {EVAL_SEED}, eval-recognizer's)"
    )


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.calibration_faces <= 100_000:
        raise ConfigError("--calibration-faces", f"must be >= 1 and <= 100000, got {args.calibration_faces}")
    if not 2 <= args.faces <= 1_000_000:
        raise ConfigError("--faces", f"must be >= 2 and <= 1000000, got {args.faces}")
    for flag, value in (("--seed", args.seed), ("--eval-seed", args.eval_seed)):
        if value < 0:
            raise ConfigError(flag, f"must be >= 0, got {value}")
    if args.out is not None and Path(args.out).suffix != ".onnx":
        raise ConfigError("--out", f"must name an .onnx file, got {args.out}")


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (defaults left out)."""
    parts = ["vclass quantize-recognizer"] + ([args.model] if args.model else [])
    for flag, value, default in (
        ("--out", args.out, None),
        ("--calibration-faces", args.calibration_faces, DEFAULT_CALIBRATION_FACES),
        ("--seed", args.seed, 0),
        ("--data", args.data, None),
        ("--faces", args.faces, DEFAULT_FACES),
        ("--eval-seed", args.eval_seed, EVAL_SEED),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def calibration_frames(args: argparse.Namespace, size: int):
    """(uint8 frames, one line saying what they are)."""
    n = args.calibration_faces
    if args.data is None:
        frames = fresh_train_split(n, size, args.seed, 0).images
        return frames, (
            f"{n} rendered training faces: fresh_train_split(n={n}, size={size}, seed={args.seed}, epoch=0), "
            "what train-recognizer --fresh-train renders for its first epoch"
        )
    try:
        train = load_dataset(args.data)["train"]
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError("--data", str(err)) from None
    if len(train) < n:
        raise ConfigError("--calibration-faces", f"{args.data} has {len(train)} training faces, fewer than {n}")
    if train.image_size != (size, size):
        raise ConfigError("--data", f"faces are {train.image_size}, the model needs {size}x{size}")
    return train.images[:n], f"the first {n} faces of the train split of {args.data}"


def _int8_probs(path: Path, backend: str, images):
    """Expression probabilities of the INT8 file on ``backend``, or the reason it cannot run here."""
    try:
        recognizer = load_recognizer(path, backend=backend)
    except BackendUnavailable as err:
        return str(err)
    return predict_in_batches(recognizer, images)[0]


def model_card(record: dict[str, Any]) -> str:
    """The INT8 model card's markdown, from the parity record."""
    ort, ov = record["onnxruntime"], record.get("openvino")
    rows = [
        f"| FP32 (`{record['source']}`) | ONNX Runtime | {100 * ort['top1_fp32']:.2f}% | — | — |",
        (
            f"| INT8 (`{record['model']}`) | ONNX Runtime | {100 * ort['top1_int8']:.2f}% | "
            f"{ort['top1_change_points']:+.2f} ± {ort['top1_change_se_points']:.2f} | "
            f"{100 * ort['argmax_agreement']:.2f}% |"
        ),
    ]
    if isinstance(ov, dict):
        rows.append(
            f"| INT8 (`{record['model']}`) | OpenVINO | {100 * ov['top1_int8']:.2f}% | "
            f"{ov['top1_change_points']:+.2f} ± {ov['top1_change_se_points']:.2f} | "
            f"{100 * ov['argmax_agreement']:.2f}% |"
        )
    bins = "\n".join(
        f"| {key} | {cell['n']} | {cell['fp32']:.3f} | {cell['int8']:.3f} |"
        for key, cell in ort.get("top1_by_intensity", {}).items()
    )
    between = record.get("openvino_vs_onnxruntime")
    ov_line = (
        f"- The two runtimes on the INT8 file: the same argmax on {100 * between['argmax_agreement']:.2f}% of the "
        f"faces, probabilities at most {between['max_abs_prob_diff']:.3f} apart (mean "
        f"{between['mean_abs_prob_diff']:.5f}). Largest probability difference from FP32: "
        f"{ort['max_abs_prob_diff']:.3f} (ONNX Runtime), {ov['max_abs_prob_diff']:.3f} (OpenVINO)."
        if isinstance(ov, dict) and isinstance(between, dict)
        else f"- OpenVINO: not measured ({ov})."
    )
    return f"""# Model card: `{record["model"]}` (INT8)

The INT8 version of `{record["source"]}` ({record["bytes"] / 1e6:.2f} MB, FP32 file SHA-256
`{record["source_sha256"][:16]}…`). Made by this project's own command from the shipped model; no outside data.

## INT8

```bash
{record["command"]}
```

- Scheme: {SCHEME}: activations uint8, weights int8 per output channel, QDQ format (one file for ONNX Runtime
  and OpenVINO). Quantized: {", ".join(QUANTIZED_OP_TYPES)} (the backbone); the heads, softmax and sigmoid stay
  float, so the outputs are float probabilities. Never S8S8, which ran slower than FP32 (4-5x slower than
  U8S8 on ONNX Runtime and OpenVINO alike when the scheme was chosen).
- Calibration: {record["calibration"]}; never the evaluation faces.
- Parity, measured on {ort["n"]} clean faces of `vclass eval-recognizer`'s fixed seed ({record["eval_seed"]}), the
  same faces for every row (± is the standard error of the paired top-1 change; the bound is
  {TOP1_TOLERANCE_POINTS} points):

| model | runtime | top-1 | change (points) | argmax agreement with FP32 |
|---|---|---|---|---|
{chr(10).join(rows)}

{ov_line}
- Top-1 by expression intensity (ONNX Runtime):

| intensity | faces | FP32 | INT8 |
|---|---|---|---|
{bins}

Which backend runs it fastest, and how fast: `vclass bench recognizer` (INT8 rows beside FP32, with each row's
share of the measured peak). `vclass.models.fastest.fastest_cpu_recognizer()` picks OpenVINO INT8 when openvino
imports, else ONNX Runtime INT8, and FP32 when this file is missing or was made from another FP32 model.
"""


def main(args: argparse.Namespace) -> int:
    _check(args)
    model_path = Path(args.model) if args.model else SHIPPED_MODEL
    if not model_path.exists():
        raise ConfigError("MODEL", f"{model_path}: model file not found")
    out = Path(args.out) if args.out else int8_model_path(model_path)
    try:
        source, fp32_bytes = _resolve_onnx(model_path)
        fp32 = load_recognizer(model_path, backend="onnxruntime")
    except RecognizerLoadError as err:
        raise ConfigError("MODEL", str(err)) from None
    size = fp32.input_size[0]
    frames, calibration = calibration_frames(args, size)
    int8_bytes = quantize_int8(fp32_bytes, frames, calibration)
    split = render_clean_split(args.faces, args.eval_seed, size)
    fp32_probs, _ = predict_in_batches(fp32, split.images)
    with tempfile.TemporaryDirectory(prefix="vclass-int8-") as tmp:
        candidate = Path(tmp) / out.name
        candidate.write_bytes(int8_bytes)
        ort_probs = _int8_probs(candidate, "onnxruntime", split.images)
        ov_probs = _int8_probs(candidate, "openvino", split.images)
    if isinstance(ort_probs, str):
        raise ConfigError("MODEL", f"ONNX Runtime cannot run the INT8 model: {ort_probs}")
    ort_parity = parity(fp32_probs, ort_probs, split.clean_labels, split.intensity)
    ov_parity: dict[str, Any] | str = ov_probs
    between: dict[str, Any] | None = None
    if not isinstance(ov_probs, str):
        ov_parity = parity(fp32_probs, ov_probs, split.clean_labels, split.intensity)
        comparison = parity(ort_probs, ov_probs, split.clean_labels)
        between = {key: comparison[key] for key in ("argmax_agreement", "max_abs_prob_diff", "mean_abs_prob_diff")}
    record = {
        "model": out.name,
        "model_sha256": sha256_hex(int8_bytes),
        "bytes": len(int8_bytes),
        "source": source.name,
        "source_sha256": sha256_hex(fp32_bytes),
        "scheme": SCHEME,
        "quantized_op_types": list(QUANTIZED_OP_TYPES),
        "calibration": calibration,
        "eval_seed": args.eval_seed,
        "command": command_line(args),
        "onnxruntime": ort_parity,
        "openvino": ov_parity,
        "openvino_vs_onnxruntime": between,
    }
    atomic_write_bytes(out, int8_bytes)
    atomic_write_text(parity_record_path(out), to_json(record))
    atomic_write_text(card_path(out), model_card(record))
    ov_text = (
        f"OpenVINO INT8 {100 * ov_parity['top1_int8']:.2f}% (agreement {100 * ov_parity['argmax_agreement']:.2f}%)"
        if isinstance(ov_parity, dict)
        else f"OpenVINO not measured: {ov_parity}"
    )
    print(
        f"wrote {out} ({len(int8_bytes) / 1e6:.2f} MB), {parity_record_path(out).name} and {card_path(out).name}"
        f"\ntop-1 on {args.faces} clean faces (seed {args.eval_seed}): FP32 "
        f"{100 * ort_parity['top1_fp32']:.2f}%, INT8 {100 * ort_parity['top1_int8']:.2f}% on ONNX Runtime "
        f"(agreement {100 * ort_parity['argmax_agreement']:.2f}%); {ov_text}"
    )
    return 0
