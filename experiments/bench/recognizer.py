"""Recognizer speed: faces/s and batch latency at batch 1, 30, 256 and 4,096 for every backend and precision.

The CPU cases are ONNX Runtime and OpenVINO on the FP32 model and on its INT8 QDQ sibling
(``scn-cs-int8.onnx``, :mod:`vclass.models.quantize`), and torch FP32. Each CPU row's note gives its share
of a peak measured here, in the same run (:func:`gemm_peak`): FP32 rows against a float32 GEMM, INT8 rows
against an int8 GEMM, both on all cores.

The GPU cases are torch-cuda FP16 with and without CUDA graphs and TensorRT FP16; their notes give
the achieved share of the GPU's dense FP16 peak for the model's FLOPs (:func:`vclass.models.nets.count_flops`).

The model is the shipped ``models/shipped/scn-cs.onnx`` (its ``.pt`` beside
it for the torch backends); without it, an untrained network of the default
size (speed does not depend on the weights). Frames are random uint8 64x64;
each figure is the median over repeated calls after a warm-up, including
the uint8 -> float scaling. A backend that cannot run here gives a row with
``value`` None and the reason.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from vclass.experiments.bench.load import stamped
from vclass.models.export import export_onnx
from vclass.models.quantize import current_int8_model, quantize_int8
from vclass.models.recognizer import (
    SHIPPED_MODEL,
    BackendUnavailable,
    OpenVinoRecognizer,
    load_recognizer,
    load_torch_model,
)
from vclass.models.train import TrainConfig, fresh_train_split, save_model_file

# S0 Table 1 (model, top-1, Paddle Fluid ms, TensorRT ms per image; GPU and batch not stated in the paper), for
# reference
S0_TABLE1 = (
    ("AlexNet", "56.72%", 3.083, 2.566),
    ("GoogLeNet", "70.70%", 6.528, 2.919),
    ("SqueezeNet1_0", "59.60%", 2.74, 1.719),
    ("VGG11", "69.28%", 8.223, 6.619),
    ("MobileNetV1_x0_25", "51.43%", 2.283, 0.838),
    ("MobileNetV2_x0_25", "53.21%", 4.267, 2.791),
    ("ShuffleNetV2", "68.80%", 6.101, 3.616),
    ("ResNet34", "74.57%", 5.668, 3.424),
    ("ResNeXt101_64x4d", "78.43%", 41.073, 31.288),
    ("DarkNet53", "78.04%", 11.969, 6.3),
    ("Xception41", "79.30%", 13.757, 7.885),
    ("InceptionV4", "80.77%", 32.413, 17.728),
    ("S0's own model", "84%", 138.67, 51.059),
)


def _s0_table() -> str:
    rows = "\n".join(f"| {name} | {top1} | {fluid} | {trt} |" for name, top1, fluid, trt in S0_TABLE1)
    return (
        "For reference, S0 Table 1 (FER2013/CK+/MMI accuracy; inference time per image on an unstated GPU, "
        "batch unstated). Our batch-1 latency rows are the comparable figure:\n\n"
        "| S0 model | top-1 | Fluid (ms) | TensorRT (ms) |\n|---|---|---|---|\n" + rows
    )


FP32_GEMM_SIDE = 2048  # square GEMM sides of the peak measurements (quick: a quarter)
INT8_GEMM_SIDE = 4096

NOTES = (
    "Targets (SPEC, 2-core CPU): ONNX Runtime >= 2,000 faces/s at batch 256 and a 30-face batch in < 20 ms; "
    "OpenVINO INT8 (issue 15) >= 8,000 faces/s at batch 256 and a 30-face batch in < 4 ms; "
    "on an H100: >= 50,000 faces/s and < 1 ms at batch 1. The note gives the median time of one predict "
    "call (uint8 -> float scaling included) and the achieved GFLOP/s (GOP/s for INT8: the same 2 operations "
    "per multiply-add).\n\n"
    "Peaks, measured in the same run, on one core and on all cores: *fp32* is the fastest of repeated float32 "
    f"GEMMs ({FP32_GEMM_SIDE}^3; at least 10 calls and 3 s) in torch (MKL's sgemm, which runs at about half "
    "speed on AMD's cores) and in ONNX Runtime (MLAS), *int8* the fastest of repeated int8 GEMMs "
    f"({INT8_GEMM_SIDE}^3) in torch (torch._int_mm) and ONNX Runtime (MatMulInteger, uint8 x int8); the note "
    "names the faster library and gives the other's figure. Each is what a tuned GEMM library attains on these "
    "cores, not a nominal figure "
    "(a virtual machine's clock is not known, nor which units the library's integer GEMM uses). The OpenVINO "
    "rows' notes name the convolution kernels OpenVINO compiled (from the compiled model's runtime info): "
    "`brgconv_avx512_amx_I8` is int8 on AMX tiles, `..._vnni_...` AVX-512 VNNI; ONNX Runtime's kernels are "
    "not reported. A network this small (64x64 faces, 16-128 channels) cannot reach a large GEMM's rate, so "
    "a share says how much is left at most, and a share near or above 100% means the GEMM understates what "
    "these cores can do.\n\n"
    "The `widths` rows time untrained networks of two other sizes (speed does not depend on the weights), "
    "for accuracy against speed: on clean labels the 8-16-32-64 baseline of the noisy-label ablation reaches "
    "67.0% clean top-1 (40,000 faces, 8 epochs, 3 seeds) and the shipped 16-32-64-128 scn-cs 77.8% "
    "(a fresh 40,000-face split each of 60 epochs; 68.9% when it trained on 40,000 fixed faces for 10 "
    "epochs); 32-64-128-256 was not trained.\n\n" + _s0_table()
)

BATCHES = (1, 30, 256)  # and 4,096 (on GPUs; on CPUs too unless --quick)
TARGETS = {  # (case label or backend, batch)
    ("onnxruntime", 256): ">= 2,000 faces/s",
    ("onnxruntime", 30): "< 20 ms per batch",
    ("openvino int8", 256): ">= 8,000 faces/s",
    ("openvino int8", 30): "< 4 ms per batch",
    ("torch-cuda", 1): "< 1 ms per batch",
    ("torch-cuda", 4096): ">= 50,000 faces/s",
    ("tensorrt", 1): "< 1 ms per batch",
    ("tensorrt", 4096): ">= 50,000 faces/s",
}


def _untrained_model(workdir: Path, widths: tuple[int, ...] | None = None) -> tuple[Path, Path]:
    """(onnx, pt) of an untrained network (TrainConfig's, with ``widths`` when given) written to ``workdir``."""

    from vclass.models.nets import create_model

    config = TrainConfig() if widths is None else replace(TrainConfig(), widths=widths)
    model = create_model(config.model, widths=tuple(config.widths), stem_stride=config.stem_stride).eval()
    name = "untrained-" + "-".join(map(str, config.widths))
    save_model_file(model, config, workdir / f"{name}.pt", (64, 64))
    export_onnx(model, workdir / f"{name}.onnx")
    return workdir / f"{name}.onnx", workdir / f"{name}.pt"


def _model_paths(workdir: Path) -> tuple[Path, Path]:
    """(onnx, pt) of the shipped model, or of an untrained default-size model written to ``workdir``."""

    if SHIPPED_MODEL.is_file() and SHIPPED_MODEL.with_suffix(".pt").is_file():
        return SHIPPED_MODEL, SHIPPED_MODEL.with_suffix(".pt")
    return _untrained_model(workdir)


def _int8_model(onnx_path: Path, workdir: Path) -> Path:
    """The INT8 sibling of ``onnx_path`` when it is current, else one quantized now into ``workdir``
    (64 rendered training faces; speed does not depend on the calibration)."""

    int8_path, _ = current_int8_model(onnx_path)
    if int8_path is not None:
        return int8_path
    path = workdir / f"{onnx_path.stem}-int8.onnx"
    path.write_bytes(quantize_int8(onnx_path.read_bytes(), fresh_train_split(64, 64, 0, 0).images))
    return path


def gemm_peak(
    precision: str, threads: int, side: int, min_calls: int, min_seconds: float, library: str = "torch"
) -> float:
    """Operations per second (2 per multiply-add) of the fastest of repeated square GEMMs of ``side`` on ``threads``
    (at least ``min_calls`` calls and ``min_seconds``: on cores shared with other work, the fastest call is the one
    that had the cores to itself).

    :param precision: ``fp32`` (float32) or ``int8`` (int8 x int8 -> int32 in torch; uint8 x int8 -> int32, the
        U8S8 of the INT8 model, in ONNX Runtime).
    :param library: ``torch`` (``torch.matmul``, which is MKL's sgemm, or ``torch._int_mm``) or ``onnxruntime``
        (its ``MatMul`` or ``MatMulInteger`` operator, which is MLAS).
    """
    multiply = _gemm(precision, threads, side, library)
    multiply()  # warm-up: thread pool, packing buffers
    best, calls, began = float("inf"), 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        multiply()
        best, calls = min(best, time.perf_counter() - start), calls + 1
    return 2 * side**3 / best


GEMM_LIBRARIES = {
    "fp32": {"torch": "torch.matmul", "onnxruntime": "onnxruntime MatMul"},
    "int8": {"torch": "torch._int_mm", "onnxruntime": "onnxruntime MatMulInteger u8s8"},
}


def _gemm(precision: str, threads: int, side: int, library: str) -> Callable[[], Any]:
    """One call of a ``side``-square GEMM of ``precision`` in ``library`` on ``threads`` threads."""
    rng = np.random.default_rng(0)
    a: np.ndarray
    b: np.ndarray
    if precision == "fp32":
        a, b = rng.random((side, side), dtype=np.float32), rng.random((side, side), dtype=np.float32)
    else:
        low = 0 if library == "onnxruntime" else -128
        a = rng.integers(low, 128, (side, side), dtype=np.int16).astype(np.uint8 if low == 0 else np.int8)
        b = rng.integers(-128, 128, (side, side), dtype=np.int16).astype(np.int8)
    if library == "torch":
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        operation: Any = torch.matmul if precision == "fp32" else torch._int_mm

        def call() -> Any:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                return operation(ta, tb)
            finally:
                torch.set_num_threads(before)

        return call
    import onnx

    types = (
        (onnx.TensorProto.FLOAT,) * 3
        if precision == "fp32"
        else (
            onnx.TensorProto.UINT8,
            onnx.TensorProto.INT8,
            onnx.TensorProto.INT32,
        )
    )
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("MatMul" if precision == "fp32" else "MatMulInteger", ["a", "b"], ["c"])],
        "gemm",
        [onnx.helper.make_tensor_value_info(name, kind, [side, side]) for name, kind in zip("ab", types)],
        [onnx.helper.make_tensor_value_info("c", types[2], [side, side])],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, {"a": a, "b": b})


def peak_rows(quick: bool) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Rows for the fp32 and int8 GEMM peaks on one core and on all cores (each the fastest of the GEMM libraries
    of :data:`GEMM_LIBRARIES`: MKL's sgemm, for one, runs at half speed on AMD's cores), and the all-core peaks
    (ops/s)."""
    cores = os.cpu_count() or 1
    rows, peaks = [], {}
    for precision, side, unit, what in (
        ("fp32", FP32_GEMM_SIDE, "GFLOP/s", "float32 GEMM"),
        ("int8", INT8_GEMM_SIDE, "GOP/s", "int8 GEMM"),
    ):
        side = side // 4 if quick else side
        for threads in sorted({1, cores}):
            rates = {
                library: gemm_peak(precision, threads, side, 2 if quick else 10, 0.0 if quick else 3.0, library)
                for library in GEMM_LIBRARIES[precision]
            }
            fastest = max(rates, key=rates.__getitem__)
            others = ", ".join(
                f"{GEMM_LIBRARIES[precision][lib]} {rate / 1e9:,.0f}" for lib, rate in rates.items() if lib != fastest
            )
            where = "1 core" if threads == 1 else f"all {threads} cores"
            rows.append(
                stamped(
                    {
                        "benchmark": "recognizer",
                        "case": f"{precision} peak, {where}",
                        "value": rates[fastest] / 1e9,
                        "unit": unit,
                        "target": "",
                        "note": f"fastest of {'2' if quick else '>= 10 (>= 3 s of)'} {what}s, "
                        f"{GEMM_LIBRARIES[precision][fastest]}, {side}^3, {threads} thread(s); {others}",
                    }
                )
            )
        peaks[precision] = rates[fastest]  # the last one: all cores
    return rows, peaks


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


# (label, backend, model, load options): model fp32 is the ONNX file (the .pt for the torch backends), int8 its
# INT8 QDQ sibling; the torch-cuda rows compare CUDA graphs with eager FP16 (issue: GPU path)
CASES: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("onnxruntime", "onnxruntime", "fp32", {}),
    ("openvino fp32", "openvino", "fp32", {}),
    ("openvino int8", "openvino", "int8", {}),
    ("onnxruntime int8", "onnxruntime", "int8", {}),
    ("torch", "torch", "fp32", {}),
    ("torch-cuda fp16 + CUDA graphs", "torch-cuda", "fp32", {"cuda_graphs": True}),
    ("torch-cuda fp16 eager", "torch-cuda", "fp32", {"cuda_graphs": False}),
    ("tensorrt fp16", "tensorrt", "fp32", {}),
)
# other backbone sizes on ONNX Runtime, for accuracy against speed (speed does not depend on the weights)
SIZES = ((8, 16, 32, 64), (32, 64, 128, 256))
# dense FP16 tensor-core peaks (TFLOP/s) of the GPUs we expect, for the achieved share of peak
FP16_PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "T4": 65.0}


def fp16_peak(device_name: str) -> float | None:
    """Dense FP16 peak of a GPU named like ``NVIDIA H100 80GB HBM3``, or None when unknown."""
    return next((peak for key, peak in FP16_PEAK_TFLOPS.items() if key in device_name), None)


def _gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def run(quick: bool = False) -> list[dict[str, Any]]:
    from vclass.models.nets import count_flops

    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []
    gpu = _gpu_name()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path, pt_path = _model_paths(Path(tmp))
        flops = count_flops(load_torch_model(pt_path))
        rows.append(
            stamped(
                {
                    "benchmark": "recognizer",
                    "case": "model FLOPs per face",
                    "value": flops / 1e6,
                    "unit": "MFLOP",
                    "note": f"{onnx_path.name}; convolutions and linears, 2 per multiply-add",
                }
            )
        )
        cpu_peak_rows, peaks = peak_rows(quick)
        rows += cpu_peak_rows
        int8_path = _int8_model(onnx_path, Path(tmp))
        for label, backend, model, options in CASES:
            path = pt_path if backend in ("torch", "torch-cuda") else int8_path if model == "int8" else onnx_path
            try:
                recognizer = load_recognizer(path, backend=backend, **options)
                reason = ""
            except BackendUnavailable as err:
                recognizer, reason = None, str(err)
            on_gpu = backend in ("torch-cuda", "tensorrt")
            for batch in BATCHES + ((4096,) if on_gpu or not quick else ()):
                row = {
                    "benchmark": "recognizer",
                    "case": f"{label} batch {batch}",
                    "unit": "faces/s",
                    "target": TARGETS.get((label, batch), TARGETS.get((backend, batch), "") if model == "fp32" else ""),
                }
                if recognizer is None:
                    rows.append(
                        stamped({**row, "value": None, "latency_ms": None, "note": f"not available here: {reason}"})
                    )
                    continue
                frames = rng.integers(0, 256, (batch, *recognizer.input_size), dtype=np.uint8)
                seconds = time_predict(recognizer, frames, 0.2 if quick else 3.0, 2 if quick else 10)
                rate = flops * batch / seconds
                ops = "GOP" if model == "int8" else "GFLOP"
                note = f"{1000 * seconds:.2f} ms per batch; {rate / 1e9:,.1f} {ops}/s"
                if not on_gpu:
                    share = 100 * rate / peaks[model]
                    note += f"; {share:.0f}% of the measured {model} peak ({peaks[model] / 1e9:,.0f} {ops}/s)"
                if isinstance(recognizer, OpenVinoRecognizer) and batch == BATCHES[0]:
                    kernels = recognizer.session.kernels()
                    note += "; convolutions: " + ", ".join(f"{k} x{v}" for k, v in sorted(kernels.items()))
                peak = fp16_peak(gpu) if on_gpu and gpu else None
                if peak:
                    note += f"; {100 * flops * batch / seconds / (peak * 1e12):.2f}% of the {gpu}'s FP16 peak"
                rows.append(stamped({**row, "value": batch / seconds, "latency_ms": 1000 * seconds, "note": note}))
        for widths in SIZES:
            size_onnx, size_pt = _untrained_model(Path(tmp), widths)
            size_flops = count_flops(load_torch_model(size_pt))
            recognizer = load_recognizer(size_onnx, backend="onnxruntime")
            label = "-".join(map(str, widths))
            for batch in BATCHES:
                frames = rng.integers(0, 256, (batch, *recognizer.input_size), dtype=np.uint8)
                seconds = time_predict(recognizer, frames, 0.2 if quick else 3.0, 2 if quick else 10)
                rows.append(
                    stamped(
                        {
                            "benchmark": "recognizer",
                            "case": f"onnxruntime widths {label} batch {batch}",
                            "unit": "faces/s",
                            "target": "",
                            "value": batch / seconds,
                            "latency_ms": 1000 * seconds,
                            "note": f"untrained, {size_flops / 1e6:.1f} MFLOP per face; "
                            f"{1000 * seconds:.2f} ms per batch",
                        }
                    )
                )
    return rows
