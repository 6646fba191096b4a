"""The INT8 recognizer: static quantization of the FP32 ONNX model, and its parity with FP32.

Scheme (:func:`quantize_int8`, ONNX Runtime's ``quantize_static``):

=======================  ==============================================================================
format                   QDQ: QuantizeLinear / DequantizeLinear pairs around the float ops, which ONNX
                         Runtime and OpenVINO both fuse into int8 kernels; one file for both runtimes.
types                    U8S8: activations uint8 (asymmetric), weights int8 (symmetric). S8S8, the
                         function's default, is never used: it ran 4-5x slower than U8S8 here on ONNX
                         Runtime and OpenVINO alike, slower than FP32 (issue 15 saw ONNX Runtime fuse only
                         8 of the 20 convolutions under it).
weights                  per output channel.
calibration              MinMax over the calibration frames (rendered training faces), in batches of
                         :data:`CALIBRATION_BATCH`; deterministic: the same frames give the same bytes.
quantized ops            :data:`QUANTIZED_OP_TYPES`, the backbone only. Relu is listed so that each
                         convolution's output range starts at 0 (the Relu folds into it); the heads (three
                         small Gemms, the importance gate, softmax, sigmoid) stay float, so the outputs are
                         float softmax / sigmoid probabilities rather than 256-level ones with exact
                         zeros, which the belief filter would read as impossibility. The heads are
                         a negligible share of the FLOPs; quantizing everything was no faster and agreed less
                         with FP32.
=======================  ==============================================================================

The INT8 file records in its ONNX metadata the SHA-256 of the FP32 bytes it came from
(``vclass.int8.source_sha256``), the scheme and the calibration. Beside it, the quantize command
(``vclass quantize-recognizer``) writes a parity record (:func:`parity_record_path`), whose
``source_sha256`` and ``model_sha256`` :func:`current_int8_model` checks before the INT8 file is used
for an FP32 file: a re-shipped FP32 model is never paired with a stale INT8 one.

File names (:func:`int8_model_path`): ``scn-cs.onnx`` -> ``scn-cs-int8.onnx`` beside it, parity record
``scn-cs-int8.json``, card ``scn-cs-int8.md``; for a training folder, ``model-int8.onnx`` inside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vclass.models.evaluate import accuracy_by_intensity
from vclass.models.modelfile import INPUT_NAME
from vclass.models.recognizer import frames_to_input

QUANTIZED_OP_TYPES = ("Conv", "Relu", "Add", "GlobalAveragePool", "Flatten")
CALIBRATION_BATCH = 64
SCHEME = "U8S8 per-channel QDQ, MinMax calibration (onnxruntime.quantization.quantize_static)"
SOURCE_KEY = "vclass.int8.source_sha256"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def int8_model_path(fp32_path: str | Path) -> Path:
    """Where the INT8 model of an FP32 model file (or training folder) lives by default."""
    fp32_path = Path(fp32_path)
    if fp32_path.is_dir():
        return fp32_path / "model-int8.onnx"
    return fp32_path.with_name(f"{fp32_path.stem}-int8.onnx")


def parity_record_path(int8_path: str | Path) -> Path:
    """The parity record (JSON) written beside an INT8 model."""
    return Path(int8_path).with_suffix(".json")


def card_path(int8_path: str | Path) -> Path:
    """The INT8 model card (markdown) written beside an INT8 model."""
    return Path(int8_path).with_suffix(".md")


def quantize_int8(
    fp32_onnx: bytes,
    calibration_frames: np.ndarray,
    calibration: str = "",
    batch_size: int = CALIBRATION_BATCH,
) -> bytes:
    """The INT8 QDQ model (serialized ONNX) of an FP32 recognizer, calibrated on ``calibration_frames``.

    :param fp32_onnx: the FP32 model's bytes (input ``frames``, the recognizer's two outputs).
    :param calibration_frames: uint8 ``(N, H, W)`` faces (or anything :func:`frames_to_input` takes), N >= 1.
    :param calibration: a line describing the frames, stored in the model's metadata.
    :param batch_size: frames per calibration batch.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    frames = frames_to_input(calibration_frames)
    if len(frames) == 0:
        raise ValueError("calibration needs at least one frame")

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{INPUT_NAME: frames[i : i + batch_size]} for i in range(0, len(frames), batch_size)])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory(prefix="vclass-quantize-") as tmp, _quiet_root_logger():
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(_initializers_behind_identities(onnx.load_model_from_string(fp32_onnx)).SerializeToString())
        quantize_static(
            source,
            target,
            Frames(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(QUANTIZED_OP_TYPES),
        )
        model = onnx.load(target)
    props = {p.key: p.value for p in model.metadata_props}
    props.update(
        {
            SOURCE_KEY: sha256_hex(fp32_onnx),
            "vclass.int8.scheme": SCHEME + "; quantized ops " + ", ".join(QUANTIZED_OP_TYPES),
            "vclass.int8.calibration": calibration or f"{len(frames)} frames",
        }
    )
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model.SerializeToString()


@contextlib.contextmanager
def _quiet_root_logger():
    """Silence the quantizer's root-logger advice to run its pre-processing (shape inference and graph
    optimization) first: on the shipped model it changed neither the accuracy nor the speed."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _initializers_behind_identities(model: Any) -> Any:
    """``model`` with each ``Identity`` of an initializer replaced by a copy of it under the Identity's output name.

    The exporter shares equal tensors (an untrained network's zero biases, say) through Identity nodes, and the
    quantizer quantizes only weights that are initializers: it would leave those convolutions in float.
    """
    from onnx import numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in initializers:
            array = numpy_helper.to_array(initializers[node.input[0]])
            model.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
        else:
            kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return model


def parity(
    fp32_probs: np.ndarray, int8_probs: np.ndarray, labels: np.ndarray, intensity: np.ndarray | None = None
) -> dict[str, Any]:
    """How the INT8 model's expression probabilities compare with FP32's on the same faces.

    Keys: ``n``; ``top1_fp32``, ``top1_int8`` (against ``labels``); ``top1_change_points`` (INT8 minus FP32, in
    points) and ``top1_change_se_points``, the standard error of that paired difference (the faces are the same,
    so only faces where one is right and the other wrong count); ``argmax_agreement`` (share of faces where both
    pick the same class); ``max_abs_prob_diff``, ``mean_abs_prob_diff``; and, given ``intensity``,
    ``top1_by_intensity`` (bin -> ``n``, ``fp32``, ``int8``).
    """
    labels = np.asarray(labels)
    n = len(labels)
    fp32_pred, int8_pred = np.argmax(fp32_probs, axis=1), np.argmax(int8_probs, axis=1)
    right_fp32, right_int8 = fp32_pred == labels, int8_pred == labels
    change = right_int8.astype(np.float64) - right_fp32.astype(np.float64)
    diff = np.abs(np.asarray(int8_probs, np.float64) - np.asarray(fp32_probs, np.float64))
    record: dict[str, Any] = {
        "n": int(n),
        "top1_fp32": float(right_fp32.mean()),
        "top1_int8": float(right_int8.mean()),
        "top1_change_points": float(100 * change.mean()),
        "top1_change_se_points": float(100 * change.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        "argmax_agreement": float(np.mean(fp32_pred == int8_pred)),
        "max_abs_prob_diff": float(diff.max()),
        "mean_abs_prob_diff": float(diff.mean()),
    }
    if intensity is not None and np.all(np.isfinite(intensity)):
        fp32_bins = accuracy_by_intensity(fp32_pred, labels, intensity)
        int8_bins = accuracy_by_intensity(int8_pred, labels, intensity)
        record["top1_by_intensity"] = {
            key: {"n": fp32_bins[key]["n"], "fp32": fp32_bins[key]["top1"], "int8": int8_bins[key]["top1"]}
            for key in fp32_bins
        }
    return record


def current_int8_model(fp32_path: str | Path) -> tuple[Path | None, str]:
    """The INT8 model made from this FP32 file by ``vclass quantize-recognizer``, if it is there and current.

    :returns: ``(path, "")``, or ``(None, why not)``: no INT8 file, no parity record beside it, or hashes that do
        not match the two files (the FP32 model was re-shipped, or the INT8 file changed, after quantization).
    """
    fp32_path = Path(fp32_path)
    int8_path = int8_model_path(fp32_path)
    fp32_file = fp32_path / "model.onnx" if fp32_path.is_dir() else fp32_path
    if not int8_path.is_file():
        return None, f"no INT8 model {int8_path.name} beside {fp32_path.name} (make one: vclass quantize-recognizer)"
    try:
        record = json.loads(parity_record_path(int8_path).read_text())
    except (OSError, ValueError):
        return None, f"{int8_path.name} has no readable parity record {parity_record_path(int8_path).name}"
    if not fp32_file.is_file() or record.get("source_sha256") != sha256_hex(fp32_file.read_bytes()):
        return None, f"{int8_path.name} was made from another FP32 model than {fp32_file.name} (re-quantize)"
    if record.get("model_sha256") != sha256_hex(int8_path.read_bytes()):
        return None, f"{int8_path.name} differs from the file its parity record measured (re-quantize)"
    return int8_path, ""
