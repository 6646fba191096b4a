"""One inference interface, five backends: ``onnxruntime`` (CPU default), ``openvino``, ``torch``, ``torch-cuda``,
``tensorrt``.

>>> recognizer = load_recognizer()                      # the shipped model, ONNX Runtime on CPU
>>> expression_probs, attribute_probs = recognizer.predict(frames)   # frames: uint8 (N, 64, 64)

Preprocessing (the same for every backend and for training, in
:func:`frames_to_input` only): grayscale frames ``(N, H, W)`` (or one
``(H, W)`` frame, or ``(N, 1, H, W)``); ``uint8`` is divided by 255, floating
input is taken as already in ``[0, 1]``; the result is float32
``(N, 1, H, W)``, the ONNX input ``frames``. Outputs: ``expression_probs``
``(N, 7)`` (softmax, classes :data:`vclass.models.datasets.CLASS_NAMES`) and
``attribute_probs`` ``(N, 3)`` (sigmoid; eyes closed, yawning, looking away;
NaN when the model has no attribute head).

Backends
========

=============  ===========================================================================
``onnxruntime``  CPU, FP32, or INT8 given the QDQ file of :mod:`vclass.models.quantize` (the fallback INT8
                 path). ``threads`` intra-op threads (default ``min(4, cpu_count)``).
``openvino``     CPU, OpenVINO (:mod:`vclass.models.openvino_backend`): the FP32 file in FP32 (``precision``
                 ``f32``, default, or ``bf16``) or the INT8 QDQ file in int8, the fastest CPU path here;
                 ``threads``, ``hint`` (``LATENCY``, default, or ``THROUGHPUT``).
``torch``        CPU, FP32, from a training folder or ``model.pt``.
``torch-cuda``   CUDA, FP16 weights and activations, channels-last; softmax/sigmoid in FP32.
``tensorrt``     An FP16 engine built from the ONNX file (batch profile 1-256), cached on disk
                 under ``cache_dir`` (default ``$VCLASS_CACHE`` or ``~/.cache/vclass``) keyed by
                 the ONNX file's hash, the TensorRT version and the GPU; run with
                 ``execute_async_v3`` on torch-allocated CUDA buffers.
=============  ===========================================================================

GPU backends check ``torch.cuda.is_available()`` before touching CUDA (a
TensorRT Builder or Runtime without a GPU can take the process down) and
raise :class:`BackendUnavailable` with the reason. A missing, corrupted or
truncated model file raises :class:`RecognizerLoadError` (a ``ValueError``)
naming the file.

Model paths: an ``.onnx`` file, a ``.pt`` file written by training
(:mod:`vclass.models.train`), or a training folder (holding ``model.pt``, maybe
``model.onnx``). ONNX backends given a ``.pt`` export it in memory; torch
backends given an ``.onnx`` file use the ``.pt`` beside it with the same stem.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from vclass.io import atomic_write_bytes
from vclass.models.datasets import ATTRIBUTE_NAMES, CLASS_NAMES
from vclass.models.export import onnx_bytes
from vclass.models.modelfile import INPUT_NAME, OUTPUT_NAMES, RecognizerLoadError, load_torch_model, read_model_bytes
from vclass.models.openvino_backend import OpenVinoSession, OpenVinoUnavailable

BACKENDS = ("onnxruntime", "openvino", "torch", "torch-cuda", "tensorrt")
SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"  # the shipped recognizer, its confusion and card
SHIPPED_MODEL = SHIPPED_DIR / "scn-cs.onnx"
SHIPPED_CONFUSION = SHIPPED_DIR / "confusion.json"
NUM_EXPRESSIONS = len(CLASS_NAMES)
NUM_ATTRIBUTES = len(ATTRIBUTE_NAMES)
TENSORRT_MAX_BATCH = 256


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine (missing package or GPU)."""


class RecognizerOutputError(ValueError):
    """A model's outputs are not what the loop reads: 7 expression probabilities and 3 attribute probabilities a
    face, finite, the expression ones summing to 1."""


PROBABILITY_SUM_TOLERANCE = 1e-3  # FP16 backends compute the softmax in FP32: sums are 1 to about 1e-6


def check_outputs(expression: np.ndarray, attributes: np.ndarray, frames: int, source: Path | str) -> None:
    """Refuse outputs that are not per-face probabilities (see :class:`RecognizerOutputError`).

    Attribute probabilities are all NaN for a model without an attribute head; otherwise each lies in [0, 1].
    """
    if expression.shape != (frames, NUM_EXPRESSIONS):
        raise RecognizerOutputError(
            f"{source}: gives expression outputs of shape {expression.shape} for {frames} frames; vclass needs "
            f"({frames}, {NUM_EXPRESSIONS}): one probability for each of {', '.join(CLASS_NAMES)}"
        )
    if attributes.shape != (frames, NUM_ATTRIBUTES):
        raise RecognizerOutputError(
            f"{source}: gives attribute outputs of shape {attributes.shape} for {frames} frames; vclass needs "
            f"({frames}, {NUM_ATTRIBUTES}): {', '.join(ATTRIBUTE_NAMES)}"
        )
    bad = ~np.isfinite(expression).all(axis=1) | (np.abs(expression.sum(axis=1) - 1.0) > PROBABILITY_SUM_TOLERANCE)
    bad |= (expression < 0).any(axis=1)
    if bad.any():
        raise RecognizerOutputError(
            f"{source}: its expression outputs are not probabilities (finite, >= 0, summing to 1) for {int(bad.sum())} "
            f"of {frames} frames, e.g. {np.array2string(expression[np.flatnonzero(bad)[0]], precision=3)}"
        )
    if not np.isnan(attributes).all() and not ((attributes >= 0) & (attributes <= 1)).all():
        raise RecognizerOutputError(f"{source}: its attribute outputs are not probabilities in [0, 1]")


def frames_to_input(frames: np.ndarray, input_size: tuple[int, int] | None = None) -> np.ndarray:
    """The one preprocessing step: frames -> float32 ``(N, 1, H, W)`` in ``[0, 1]``, C-contiguous.

    :param frames: ``uint8`` (scaled by 1/255) or floating (taken as ``[0, 1]``), shaped
        ``(H, W)``, ``(N, H, W)`` or ``(N, 1, H, W)``.
    :param input_size: ``(H, W)`` the model needs; a mismatch raises ``ValueError``.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None, None]
    elif frames.ndim == 3:
        frames = frames[:, None]
    elif not (frames.ndim == 4 and frames.shape[1] == 1):
        raise ValueError(f"frames must be (H, W), (N, H, W) or (N, 1, H, W) grayscale, got shape {frames.shape}")
    if input_size is not None and tuple(frames.shape[2:]) != tuple(input_size):
        raise ValueError(
            f"frames are {frames.shape[2]}x{frames.shape[3]}, the model needs {input_size[0]}x{input_size[1]}"
        )
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames, dtype=np.float32) * np.float32(1.0 / 255.0)
    if np.issubdtype(frames.dtype, np.floating):
        return np.ascontiguousarray(frames, dtype=np.float32)
    raise ValueError(f"frames must be uint8 (0-255) or float (0-1), got dtype {frames.dtype}")


class Recognizer:
    """Frames in, probabilities out; subclasses implement :meth:`_forward` for one backend.

    :ivar backend: backend name.
    :ivar source: the model file it was loaded from.
    :ivar input_size: ``(H, W)`` the model expects.
    """

    backend = "?"

    def __init__(self, source: Path, input_size: tuple[int, int]):
        self.source = Path(source)
        self.input_size: tuple[int, int] = (int(input_size[0]), int(input_size[1]))

    def predict(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expression probabilities ``(N, 7)`` and attribute probabilities ``(N, 3)``, float32."""
        x = frames_to_input(frames, self.input_size)
        if x.shape[0] == 0:
            return (np.zeros((0, NUM_EXPRESSIONS), np.float32), np.zeros((0, NUM_ATTRIBUTES), np.float32))
        expression, attributes = self._forward(x)
        check_outputs(expression, attributes, x.shape[0], self.source)
        return expression, attributes

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict(frames)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={str(self.source)!r}, input_size={self.input_size})"


# ---------------------------------------------------------------- model files


def _resolve_onnx(path: Path) -> tuple[Path, bytes]:
    """ONNX bytes for a path: the file itself, ``model.onnx`` in a folder, or an in-memory export of a ``.pt``."""
    if path.is_dir():
        if (path / "model.onnx").is_file():
            return path / "model.onnx", read_model_bytes(path / "model.onnx")
        path = path / "model.pt"
    if path.suffix == ".pt":
        return path, onnx_bytes(load_torch_model(path))
    return path, read_model_bytes(path)


def _resolve_pt(path: Path) -> Path:
    if path.is_dir():
        return path / "model.pt"
    if path.suffix == ".onnx":
        sibling = path.with_suffix(".pt")
        if not sibling.is_file():
            raise RecognizerLoadError(
                f"{path}: the torch backends need the training weights; "
                f"no {sibling.name} beside it (pass a training folder or model.pt)"
            )
        return sibling
    return path


# ---------------------------------------------------------------- backends


class OnnxRuntimeRecognizer(Recognizer):
    """ONNX Runtime, CPU execution provider: FP32, or INT8 for a QDQ file."""

    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int | None = None):
        source, data = _resolve_onnx(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # In the loop, recognition alternates with Python work (simulation, rendering) on the same cores; ORT's
        # default spin-waiting after each call takes a core from that work, so its threads sleep instead.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - ORT raises its own Fail / InvalidProtobuf / InvalidGraph types
            raise RecognizerLoadError(
                f"{source}: not a valid ONNX model (corrupted or truncated?): "
                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
            ) from None
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = [o.name for o in self.session.get_outputs()]
        if INPUT_NAME not in inputs or list(OUTPUT_NAMES) != outputs:
            raise RecognizerLoadError(
                f"{source}: expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)}, "
                f"got {list(inputs)} and {outputs}"
            )
        shape = inputs[INPUT_NAME].shape
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]) or shape[1] != 1:
            raise RecognizerLoadError(
                f"{source}: input {INPUT_NAME!r} has shape {shape}; vclass feeds grayscale frames (N, 1, H, W) of a "
                "fixed size"
            )
        super().__init__(source, (int(shape[2]), int(shape[3])))

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        expression, attributes = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        return expression, attributes


class OpenVinoRecognizer(Recognizer):
    """OpenVINO, CPU plugin: FP32 or INT8 QDQ files (:class:`vclass.models.openvino_backend.OpenVinoSession`)."""

    backend = "openvino"

    def __init__(self, path: Path, threads: int | None = None, precision: str = "f32", hint: str = "LATENCY"):
        source, data = _resolve_onnx(path)
        try:
            self.session = OpenVinoSession(data, source, threads=threads, precision=precision, hint=hint)
        except OpenVinoUnavailable as err:
            raise BackendUnavailable(str(err)) from None
        super().__init__(source, self.session.input_size)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.session.run(x)


class TorchRecognizer(Recognizer):
    """PyTorch on CPU, FP32."""

    backend = "torch"

    def __init__(self, path: Path, threads: int | None = None):
        import torch

        from vclass.models.nets import InferenceWrapper

        source = _resolve_pt(path)
        model = load_torch_model(source)
        super().__init__(source, model.input_size)
        self.net = InferenceWrapper(model).eval()
        if threads:
            torch.set_num_threads(threads)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            expression, attributes = self.net(torch.from_numpy(x))
        return expression.numpy(), attributes.numpy()


def _require_cuda(backend: str):
    """torch with a usable CUDA GPU, or :class:`BackendUnavailable` saying what is missing."""
    try:
        import torch
    except ImportError:
        raise BackendUnavailable(f"{backend} needs PyTorch with CUDA; torch is not installed") from None
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build"
        raise BackendUnavailable(
            f"{backend} needs a CUDA GPU; torch.cuda.is_available() is False (torch {torch.__version__}, {build})"
        )
    return torch


class TorchCudaRecognizer(Recognizer):
    """PyTorch on the first CUDA GPU: FP16 weights/activations, channels-last memory format.

    With ``cuda_graphs`` (the default) each batch size is captured once as a CUDA graph on its first
    call and replayed afterwards, which removes the per-layer kernel-launch cost that dominates small
    batches; at most ``max_graphs`` sizes are kept (a classroom's batch size varies only with who is
    visible), and other sizes run eagerly. Frames go to the GPU through pinned memory.
    """

    backend = "torch-cuda"

    def __init__(self, path: Path, threads: int | None = None, cuda_graphs: bool = True, max_graphs: int = 64):
        torch = _require_cuda(self.backend)
        from vclass.models.nets import InferenceWrapper

        source = _resolve_pt(path)
        model = load_torch_model(source)
        super().__init__(source, model.input_size)
        self.device = torch.device("cuda")
        net = InferenceWrapper(model.half()).to(self.device)
        self.net = net.to(memory_format=torch.channels_last).eval()  # type: ignore[call-overload]  # torch's stubs lack it
        self.cuda_graphs, self.max_graphs = cuda_graphs, max_graphs
        self._graphs: dict[int, tuple[Any, Any, tuple[Any, Any]]] = {}

    def _run_net(self, batch):
        import torch

        return self.net(batch.contiguous(memory_format=torch.channels_last))

    def _capture(self, n: int):
        """(graph, static input, static outputs) for batch size ``n``, captured on first use."""
        import torch

        static_input = torch.zeros((n, 1, *self.input_size), dtype=torch.float16, device=self.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.inference_mode(), torch.cuda.stream(side):
            for _ in range(3):  # warm-up on a side stream (cuDNN picks its kernels) before capture
                self._run_net(static_input)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_output = self._run_net(static_input)
        entry = (graph, static_input, static_output)
        self._graphs[n] = entry
        return entry

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(x).pin_memory().to(self.device, non_blocking=True).half()
            n = batch.shape[0]
            if self.cuda_graphs and (n in self._graphs or len(self._graphs) < self.max_graphs):
                graph, static_input, (expression, attributes) = self._graphs.get(n) or self._capture(n)
                static_input.copy_(batch)
                graph.replay()
            else:
                expression, attributes = self._run_net(batch)
            return expression.float().cpu().numpy(), attributes.float().cpu().numpy()


def _engine_cache_dir(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get("VCLASS_CACHE", Path.home() / ".cache" / "vclass")) / "tensorrt"


def onnx_to_fp16(data: bytes) -> bytes:
    """An FP16 copy of an FP32 ONNX graph with FP32 input/outputs (Casts at the edges).

    TensorRT 11 dropped ``BuilderFlag.FP16`` (networks are strongly typed), so
    reduced precision must be in the graph itself. Float initializers and
    ``Constant`` tensors become float16, Casts to float inside the graph cast to
    float16 instead, and the graph input and outputs keep float32.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_model_from_string(data)
    graph = model.graph

    def to_half(tensor: TensorProto) -> TensorProto:
        if tensor.data_type != TensorProto.FLOAT:
            return tensor
        return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float16), tensor.name)

    for i, init in enumerate(graph.initializer):
        graph.initializer[i].CopyFrom(to_half(init))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Constant" and attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                attr.t.CopyFrom(to_half(attr.t))
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.FLOAT:
                attr.i = TensorProto.FLOAT16
    input_names = {i.name for i in graph.input if i.type.tensor_type.elem_type == TensorProto.FLOAT}
    output_names = {o.name for o in graph.output if o.type.tensor_type.elem_type == TensorProto.FLOAT}
    for node in graph.node:
        for j, name in enumerate(node.input):  # outputs may also feed other nodes
            if name in input_names or name in output_names:
                node.input[j] = name + "_fp16"
        for j, name in enumerate(node.output):
            if name in output_names:
                node.output[j] = name + "_fp16"
    head = [helper.make_node("Cast", [n], [n + "_fp16"], to=TensorProto.FLOAT16) for n in sorted(input_names)]
    tail = [helper.make_node("Cast", [n + "_fp16"], [n], to=TensorProto.FLOAT) for n in sorted(output_names)]
    nodes = head + list(graph.node) + tail
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString()


class TensorRTRecognizer(Recognizer):
    """TensorRT 10/11 FP16 engine built from the ONNX file; batches above 256 run in chunks."""

    backend = "tensorrt"

    def __init__(self, path: Path, threads: int | None = None, cache_dir: str | Path | None = None):
        torch = _require_cuda(self.backend)  # before any Builder/Runtime exists
        try:
            import tensorrt as trt
        except ImportError as err:
            raise BackendUnavailable(f"tensorrt is not installed ({err}); pip install tensorrt") from None
        source, data = _resolve_onnx(path)
        import onnx

        try:
            graph_input = onnx.load_model_from_string(data).graph.input[0]
        except Exception as err:  # noqa: BLE001 - onnx raises its own DecodeError types
            raise RecognizerLoadError(f"{source}: not a valid ONNX model (corrupted or truncated?): {err}") from None
        dims = [d.dim_value for d in graph_input.type.tensor_type.shape.dim]
        super().__init__(source, (dims[2], dims[3]))
        self.trt = trt
        self.torch = torch
        self.device = torch.device("cuda")
        self.logger = trt.Logger(trt.Logger.WARNING)
        gpu = torch.cuda.get_device_name(0) + "-sm" + "".join(map(str, torch.cuda.get_device_capability(0)))
        key = f"{hashlib.sha256(data).hexdigest()[:20]}-trt{trt.__version__}-{gpu}".replace(" ", "_")
        self.engine_path = _engine_cache_dir(cache_dir) / f"{key}.engine"
        self.runtime = trt.Runtime(self.logger)
        self.engine = None
        if self.engine_path.is_file():
            self.engine = self.runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:  # no cache, or a stale/corrupt one
            serialized = self._build(data, source)

            atomic_write_bytes(self.engine_path, serialized)
            self.engine = self.runtime.deserialize_cuda_engine(serialized)
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()

    def _build(self, data: bytes, source: Path) -> bytes:
        trt = self.trt
        builder = trt.Builder(self.logger)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if hasattr(trt.BuilderFlag, "FP16"):  # TensorRT 10: weakly typed network, FP16 allowed
            network = builder.create_network(0)
            config.set_flag(trt.BuilderFlag.FP16)
        else:  # TensorRT 11+: strongly typed; the precision is in the graph
            network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
            data = onnx_to_fp16(data)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(data):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise RecognizerLoadError(f"{source}: TensorRT cannot parse the ONNX model: {errors}")
        height, width = self.input_size
        profile = builder.create_optimization_profile()
        profile.set_shape(
            INPUT_NAME, (1, 1, height, width), (32, 1, height, width), (TENSORRT_MAX_BATCH, 1, height, width)
        )
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendUnavailable(f"TensorRT failed to build an engine for {source} (see its log above)")
        return bytes(serialized)

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        results = [self._run_chunk(x[i : i + TENSORRT_MAX_BATCH]) for i in range(0, len(x), TENSORRT_MAX_BATCH)]
        return (
            (np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results]))
            if len(results) > 1
            else results[0]
        )

    def _run_chunk(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        n = x.shape[0]
        with torch.cuda.stream(self.stream):
            frames = torch.from_numpy(x).to(self.device, non_blocking=True)
            outputs = {
                name: torch.empty((n, width), dtype=torch.float32, device=self.device)
                for name, width in zip(OUTPUT_NAMES, (NUM_EXPRESSIONS, NUM_ATTRIBUTES))
            }
        self.context.set_input_shape(INPUT_NAME, tuple(frames.shape))
        self.context.set_tensor_address(INPUT_NAME, frames.data_ptr())
        for name, tensor in outputs.items():
            self.context.set_tensor_address(name, tensor.data_ptr())
        if not self.context.execute_async_v3(self.stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        self.stream.synchronize()
        return outputs[OUTPUT_NAMES[0]].cpu().numpy(), outputs[OUTPUT_NAMES[1]].cpu().numpy()


_BACKEND_CLASSES = {
    "onnxruntime": OnnxRuntimeRecognizer,
    "openvino": OpenVinoRecognizer,
    "torch": TorchRecognizer,
    "torch-cuda": TorchCudaRecognizer,
    "tensorrt": TensorRTRecognizer,
}


def load_recognizer(path: str | Path | None = None, backend: str = "onnxruntime", **options: Any) -> Recognizer:
    """A :class:`Recognizer` for a model file or training folder (default: the shipped SCN-CS model).

    :param path: ``.onnx``, ``.pt`` or a training folder; None for ``models/shipped/scn-cs.onnx``.
    :param backend: one of :data:`BACKENDS`.
    :param options: ``threads`` (CPU backends), ``precision`` and ``hint`` (openvino), ``cache_dir`` (tensorrt).
    :raises RecognizerLoadError: bad or missing model file (names the file).
    :raises BackendUnavailable: the backend cannot run here (names the reason).
    """
    if backend not in _BACKEND_CLASSES:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    path = Path(path) if path is not None else SHIPPED_MODEL
    if not path.exists():
        raise RecognizerLoadError(f"{path}: model file not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        recognizer = _BACKEND_CLASSES[backend](path, **options)
    # A probe batch: a model with other outputs (classes, shapes) or non-probabilities is refused at load, before
    # any lesson or evaluation uses it.
    probe = np.random.default_rng(0).integers(0, 256, (2, *recognizer.input_size), dtype=np.uint8)
    try:
        recognizer.predict(probe)
    except RecognizerOutputError as err:
        raise RecognizerLoadError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - a model that loads but cannot run (a wrong input shape, ...)
        raise RecognizerLoadError(
            f"{path}: the model loads but cannot run on {recognizer.input_size} frames: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        ) from None
    return recognizer
