"""The fastest CPU recognizer installed here: which backend, which model file, which precision.

>>> choice = fastest_cpu_recognizer()             # for the shipped scn-cs model
>>> choice.backend, choice.model_path.name, choice.precision
('openvino', 'scn-cs-int8.onnx', 'int8')
>>> recognizer = load_recognizer(choice.model_path, backend=choice.backend)

The order, fastest first (measured by ``vclass bench recognizer`` on the 2-core machine):

1. ``openvino`` on the INT8 model, when ``openvino`` imports;
2. ``onnxruntime`` on the INT8 model;
3. ``openvino`` on the FP32 model (no current INT8 model beside it), when ``openvino`` imports;
4. ``onnxruntime`` on the FP32 model.

The INT8 model is used only when :func:`vclass.models.quantize.current_int8_model` finds it beside the FP32
file and made from it; otherwise the answer is FP32, and ``note`` says why. A run records the whole answer
(``backend``, ``model_path``, ``precision``, ``note``) so that its figures can be traced to the path that made
them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from vclass.models.openvino_backend import openvino_available
from vclass.models.quantize import current_int8_model
from vclass.models.recognizer import SHIPPED_MODEL, Recognizer, load_recognizer


class CpuRecognizerChoice(NamedTuple):
    """What :func:`fastest_cpu_recognizer` picked.

    :ivar backend: a :func:`vclass.models.recognizer.load_recognizer` backend name.
    :ivar model_path: the model file to load.
    :ivar precision: ``int8`` or ``fp32``.
    :ivar note: why this path, in a few words (for ``run.json`` and summaries).
    """

    backend: str
    model_path: Path
    precision: str
    note: str


def fastest_cpu_recognizer(fp32_path: str | Path | None = None) -> CpuRecognizerChoice:
    """The fastest CPU path installed here for an FP32 model (default: the shipped one) and its INT8 sibling.

    :param fp32_path: the FP32 ``.onnx`` file (or a training folder with ``model.onnx``); None for the shipped one.
    """
    fp32_path = Path(fp32_path) if fp32_path is not None else SHIPPED_MODEL
    int8_path, why_not = current_int8_model(fp32_path)
    if int8_path is None:
        if openvino_available():
            return CpuRecognizerChoice("openvino", fp32_path, "fp32", f"OpenVINO FP32: {why_not}")
        return CpuRecognizerChoice("onnxruntime", fp32_path, "fp32", f"ONNX Runtime FP32: {why_not}")
    if openvino_available():
        return CpuRecognizerChoice("openvino", int8_path, "int8", "OpenVINO INT8")
    return CpuRecognizerChoice("onnxruntime", int8_path, "int8", "ONNX Runtime INT8 (openvino does not import)")


def load_fastest_cpu_recognizer(
    fp32_path: str | Path | None = None, threads: int | None = None
) -> tuple[Recognizer, CpuRecognizerChoice]:
    """:func:`fastest_cpu_recognizer`'s recognizer, loaded, with the choice."""
    choice = fastest_cpu_recognizer(fp32_path)
    options = {"threads": threads} if threads else {}
    return load_recognizer(choice.model_path, backend=choice.backend, **options), choice
