"""Recognizer model files: the ONNX graph's interface, reading a file, and loading a training checkpoint.

Every backend (:mod:`vclass.models.recognizer`) and the exporter (:mod:`vclass.models.export`) share these names:
the ONNX input ``frames`` and the outputs ``expression_probs`` and ``attribute_probs``.
"""

from __future__ import annotations

from pathlib import Path

INPUT_NAME = "frames"
OUTPUT_NAMES = ("expression_probs", "attribute_probs")


class RecognizerLoadError(ValueError):
    """A model file is missing, corrupted, truncated or of the wrong kind."""


def read_model_bytes(path: Path) -> bytes:
    """The bytes of a model file (:class:`RecognizerLoadError` naming it when it cannot be read)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RecognizerLoadError(f"{path}: model file not found") from None
    except OSError as err:
        raise RecognizerLoadError(f"{path}: cannot read model file ({err})") from None


def load_torch_model(path: str | Path):
    """The :class:`vclass.models.nets.ExpressionNet` saved in a ``model.pt`` (or a training folder), in eval mode.

    :raises RecognizerLoadError: if the file is missing, not a torch file, truncated or not a vclass model.
    """
    import torch

    from vclass.models.nets import model_from_build_args

    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise RecognizerLoadError(f"{path}: model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for bad zips / pickles
        raise RecognizerLoadError(
            f"{path}: not a readable torch model file (corrupted or truncated?): "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ) from None
    if not isinstance(payload, dict) or "build_args" not in payload or "state_dict" not in payload:
        raise RecognizerLoadError(f"{path}: not a vclass recognizer file (expected keys build_args, state_dict)")
    try:
        model = model_from_build_args(payload["build_args"])
        model.load_state_dict(payload["state_dict"])
    except (ValueError, TypeError, KeyError, RuntimeError) as err:
        raise RecognizerLoadError(f"{path}: weights do not fit the saved architecture: {err}") from None
    model.input_size = tuple(payload.get("input_size", (64, 64)))  # type: ignore[assignment]  # an attribute
    return model.eval()
