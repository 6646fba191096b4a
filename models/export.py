"""ONNX export of a trained recognizer.

The graph is :class:`vclass.models.nets.InferenceWrapper` around the trained network:

============================  =====================  =========================================
name                          type, shape            meaning
============================  =====================  =========================================
input ``frames``              float32 (N, 1, H, W)   grayscale in ``[0, 1]`` (uint8 / 255, see
                                                     :func:`vclass.models.recognizer.frames_to_input`)
output ``expression_probs``   float32 (N, 7)         softmax over :data:`vclass.models.nets.EXPRESSIONS`
output ``attribute_probs``    float32 (N, 3)         sigmoid: eyes closed, yawning, looking away;
                                                     NaN if the model has no attribute head
============================  =====================  =========================================

The batch axis ``N`` is dynamic; opset 17; BatchNorm is folded into the
convolutions. We use torch's TorchScript-based exporter (``dynamo=False``),
which needs no ``onnxscript``; the model has no control flow, so both
exporters give the same graph.
"""

from __future__ import annotations

import inspect
import io
import json
import warnings
from pathlib import Path
from typing import Any

from vclass.io import atomic_write_bytes
from vclass.models.modelfile import INPUT_NAME, OUTPUT_NAMES, load_torch_model

OPSET = 17


def onnx_bytes(model: Any, input_size: tuple[int, int] | None = None) -> bytes:
    """Serialized, checked ONNX model for an :class:`vclass.models.nets.ExpressionNet` (put in eval mode)."""
    import onnx
    import torch

    from vclass.models.nets import InferenceWrapper

    height, width = input_size or getattr(model, "input_size", None) or (64, 64)
    wrapper = InferenceWrapper(model).eval()
    example = torch.rand(2, 1, height, width, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter announces its own deprecation
        # dynamo=False: the TorchScript exporter (needs no onnxscript); torch < 2.5 has no such argument
        takes_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters
        legacy: dict[str, Any] = {"dynamo": False} if takes_dynamo else {}
        torch.onnx.export(
            wrapper,
            (example,),
            buffer,  # type: ignore[arg-type]  # torch.onnx.export writes to any binary file object
            **legacy,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
            do_constant_folding=True,
        )
    data = buffer.getvalue()
    proto = onnx.load_model_from_string(data)
    proto.doc_string = (
        "vclass facial-expression recognizer. Input frames: float32 (N,1,H,W) in [0,1] "
        "(uint8/255). Outputs: expression_probs (N,7) softmax over neutral, happy, surprise, "
        "sad, anger, disgust, fear; attribute_probs (N,3) sigmoid over eyes_closed, yawning, "
        "looking_away (NaN without an attribute head)."
    )
    build_args = getattr(model, "build_args", None)
    if build_args is not None:
        onnx.helper.set_model_props(proto, {"vclass.build_args": json.dumps(build_args, sort_keys=True)})
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def export_onnx(source: Any, out_path: str | Path) -> Path:
    """Write the ONNX file for a training folder, a ``model.pt`` or an in-memory model; return its path.

    :param source: training folder, ``.pt`` path, or an :class:`vclass.models.nets.ExpressionNet`.
    :param out_path: where the ``.onnx`` file goes (written atomically).
    :raises vclass.models.modelfile.RecognizerLoadError: if ``source`` is a bad or missing file.
    """

    model = load_torch_model(source) if isinstance(source, (str, Path)) else source
    out_path = Path(out_path)
    atomic_write_bytes(out_path, onnx_bytes(model))
    return out_path
