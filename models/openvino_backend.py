"""OpenVINO on CPU: the runtime that runs the INT8 recognizer fastest here (:mod:`vclass.models.quantize`).

:class:`OpenVinoSession` compiles an ONNX model (FP32, or the INT8 QDQ file) for OpenVINO's CPU plugin and runs
one batch at a time; :class:`vclass.models.recognizer.OpenVinoRecognizer` (backend ``openvino``) wraps it in the
common ``predict`` contract. ``openvino`` is imported on first use, so importing this module costs nothing.

Settings, chosen by measurement on the 2-core development machine (numbers in the INT8 model card and
``vclass bench recognizer``):

==============================  ==========================================================================
``PERFORMANCE_HINT LATENCY``     one stream using every core for each call. ``THROUGHPUT`` makes one stream
                                 per core, which a single synchronous call cannot fill: it ran 30- and
                                 256-face INT8 batches 1.6-1.7x slower, and splitting a batch over two
                                 streams (an async queue) gained nothing.
``INFERENCE_NUM_THREADS``        ``threads`` (default: OpenVINO's, one per physical core).
``INFERENCE_PRECISION_HINT``     ``f32`` by default. On CPUs with AMX or AVX-512 BF16, OpenVINO's own default
                                 is ``bf16``, which would silently run the FP32 file in bfloat16; the INT8
                                 file's quantized convolutions run in int8 either way, and ``f32`` keeps its
                                 float parts (input standardization, heads, softmax) exact at no measurable
                                 cost. ``precision="bf16"`` asks for bfloat16 explicitly.
inputs shared, outputs copied    the float32 batch is handed to OpenVINO without a copy; the outputs are
                                 copied out, so they outlive the next call.
==============================  ==========================================================================

One session holds one infer request: calls from several threads at once must use several sessions.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from vclass.models.modelfile import INPUT_NAME, OUTPUT_NAMES, RecognizerLoadError

PRECISIONS = {"f32": "f32", "fp32": "f32", "bf16": "bf16"}  # accepted names -> OpenVINO's
PERFORMANCE_HINTS = ("LATENCY", "THROUGHPUT")


class OpenVinoUnavailable(RuntimeError):
    """``openvino`` cannot be imported here."""


_CONVERTER = "openvino.tools.ovc"


def import_openvino() -> Any:
    """The ``openvino`` module, or :class:`OpenVinoUnavailable` with the reason.

    ``openvino``'s ``__init__`` also imports its model converter (``openvino.tools.ovc``, for
    ``openvino.convert_model``), which vclass never uses (it reads ONNX files) and which, on every import, records a
    usage event for OpenVINO's telemetry: a file under ``~/intel`` rewritten and, unless the user opted out, a network
    call in a thread that the interpreter waits for at exit; a tenth of a second in all. So the converter is kept out
    while ``openvino`` first loads here (the package skips it when it does not import); a later
    ``import openvino.tools.ovc`` still works.
    """
    blocked = "openvino" not in sys.modules and _CONVERTER not in sys.modules
    if blocked:
        sys.modules[_CONVERTER] = None  # type: ignore[assignment]  # the import system's "no such module"
    try:
        import openvino
    except (ImportError, OSError) as err:  # OSError: a wheel whose shared libraries do not load here
        raise OpenVinoUnavailable(f"openvino cannot be imported ({err}); pip install openvino") from None
    finally:
        if blocked and sys.modules.get(_CONVERTER, 0) is None:
            del sys.modules[_CONVERTER]
    return openvino


def openvino_available() -> bool:
    """Whether ``openvino`` imports here."""
    try:
        import_openvino()
    except OpenVinoUnavailable:
        return False
    return True


class OpenVinoSession:
    """An ONNX model compiled for OpenVINO's CPU plugin.

    :param data: the ONNX bytes (input ``frames``, outputs ``expression_probs``, ``attribute_probs``).
    :param source: the file they came from (named in errors).
    :param threads: ``INFERENCE_NUM_THREADS``; None for OpenVINO's default (one per physical core).
    :param precision: ``f32`` (default) or ``bf16``: the precision of the float (not quantized) layers.
    :param hint: ``LATENCY`` (default) or ``THROUGHPUT``.
    :raises OpenVinoUnavailable: openvino does not import.
    :raises RecognizerLoadError: the bytes are not a readable ONNX model with the recognizer's interface.
    :ivar input_size: ``(H, W)`` the model expects.
    """

    def __init__(
        self, data: bytes, source: Path, threads: int | None = None, precision: str = "f32", hint: str = "LATENCY"
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if hint not in PERFORMANCE_HINTS:
            raise ValueError(f"hint must be one of {', '.join(PERFORMANCE_HINTS)}, got {hint!r}")
        openvino = import_openvino()
        core = openvino.Core()
        try:
            model = core.read_model(data)
        except RuntimeError as err:  # OpenVINO reports unreadable models as RuntimeError with a long trace
            raise RecognizerLoadError(
                f"{source}: not a valid ONNX model for OpenVINO (corrupted or truncated?): "
                f"{str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__}"
            ) from None
        inputs = [port.get_any_name() for port in model.inputs]
        outputs = [port.get_any_name() for port in model.outputs]
        if inputs != [INPUT_NAME] or outputs != list(OUTPUT_NAMES):
            raise RecognizerLoadError(
                f"{source}: expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}, got {inputs} and {outputs}"
            )
        shape = model.inputs[0].get_partial_shape()
        self.input_size: tuple[int, int] = (shape[2].get_length(), shape[3].get_length())
        config: dict[str, Any] = {"PERFORMANCE_HINT": hint, "INFERENCE_PRECISION_HINT": PRECISIONS[precision]}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.precision, self.hint = PRECISIONS[precision], hint

    def kernels(self, layer_type: str = "Convolution") -> Counter[str]:
        """How many ``layer_type`` layers OpenVINO compiled to each kernel, e.g. ``brgconv_avx512_amx_I8`` (int8 on
        AMX tiles) or ``brgconv_avx512_core_vnni_I8`` (AVX-512 VNNI): which units the model runs on here."""
        counts: Counter[str] = Counter()
        for op in self.compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "layerType" in info and info["layerType"].astype(str) == layer_type:
                counts[info["primitiveType"].astype(str) if "primitiveType" in info else "?"] += 1
        return counts

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(expression_probs, attribute_probs)`` for a float32 ``(N, 1, H, W)`` C-contiguous batch."""
        results = self.request.infer({0: x}, share_inputs=True)
        expression, attributes = (np.asarray(results[name], dtype=np.float32) for name in OUTPUT_NAMES)
        return expression, attributes
