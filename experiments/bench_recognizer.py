"""Recognizer speed: faces/s and batch latency at batch 1, 30 and 256 for every backend.

The model is the shipped ``models/shipped/scn-cs.onnx`` (its ``.pt`` beside
it for the torch backends); without it, an untrained network of the default
size (speed does not depend on the weights). Frames are random uint8 64x64;
each figure is the median over repeated calls after a warm-up, including
the uint8 -> float scaling. A backend that cannot run here gives a row with
``value`` None and the reason.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

NOTES = ("Targets (SPEC, 2-core CPU): ONNX Runtime >= 2,000 faces/s at batch 256 and a 30-face batch in < 20 ms. "
         "`latency_ms` is the median time of one predict call.")

BATCHES = (1, 30, 256)
TARGETS = {("onnxruntime", 256): ">= 2,000 faces/s", ("onnxruntime", 30): "< 20 ms per batch"}


def _model_paths(workdir: Path) -> tuple[Path, Path]:
    """(onnx, pt) of the shipped model, or of an untrained default-size model written to ``workdir``."""
    from models.recognizer import SHIPPED_MODEL

    if SHIPPED_MODEL.is_file() and SHIPPED_MODEL.with_suffix(".pt").is_file():
        return SHIPPED_MODEL, SHIPPED_MODEL.with_suffix(".pt")
    from models.export import export_onnx
    from models.nets import create_model
    from models.train import TrainConfig, save_model_file

    config = TrainConfig()
    model = create_model(config.model, widths=tuple(config.widths), stem_stride=config.stem_stride).eval()
    save_model_file(model, config, workdir / "untrained.pt", (64, 64))
    export_onnx(model, workdir / "untrained.onnx")
    return workdir / "untrained.onnx", workdir / "untrained.pt"


def time_predict(recognizer: Any, frames: np.ndarray, min_seconds: float, min_calls: int) -> float:
    """Median seconds of one ``predict`` call (after two warm-up calls)."""
    for _ in range(2):
        recognizer.predict(frames)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        recognizer.predict(frames)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(quick: bool = False) -> list[dict[str, Any]]:
    from models.recognizer import BACKENDS, BackendUnavailable, load_recognizer

    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, pt_path = _model_paths(Path(tmp))
        for backend in BACKENDS:
            path = onnx_path if backend in ("onnxruntime", "tensorrt") else pt_path
            try:
                recognizer = load_recognizer(path, backend=backend)
                reason = ""
            except BackendUnavailable as err:
                recognizer, reason = None, str(err)
            for batch in BATCHES:
                row = {"benchmark": "recognizer", "case": f"{backend} batch {batch}", "unit": "faces/s",
                       "target": TARGETS.get((backend, batch), "")}
                if recognizer is None:
                    rows.append({**row, "value": None, "latency_ms": None, "note": f"not available here: {reason}"})
                    continue
                frames = rng.integers(0, 256, (batch, *recognizer.input_size), dtype=np.uint8)
                seconds = time_predict(recognizer, frames, 0.2 if quick else 3.0, 2 if quick else 10)
                rows.append({**row, "value": batch / seconds, "latency_ms": 1000 * seconds,
                             "note": f"{1000 * seconds:.2f} ms per batch; {path.name}"})
    return rows
