"""Export and inference backends: ONNX validity, backend agreement, preprocessing, bad files, GPU backends, CLIs."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from vclass.cli import main as cli
from vclass.models.export import export_onnx
from vclass.models.nets import create_model
from vclass.models.recognizer import (
    BackendUnavailable,
    RecognizerLoadError,
    frames_to_input,
    load_recognizer,
    onnx_to_fp16,
)
from vclass.models.train import TrainConfig, save_model_file

WIDTHS = (4, 8, 8, 16)


def _model(name="scn-cs", attributes=True):
    """A small untrained model with non-trivial BatchNorm statistics (so folding BN into convs is exercised)."""
    torch.manual_seed(0)
    model = create_model(name, widths=WIDTHS, attributes=attributes)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.3, 0.3)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return model.eval()


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    """A training-folder look-alike: model.pt and model.onnx of the same weights."""
    folder = tmp_path_factory.mktemp("run")
    model = _model()
    save_model_file(model, TrainConfig(widths=WIDTHS), folder / "model.pt", (64, 64))
    export_onnx(folder, folder / "model.onnx")
    return folder


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (7, 64, 64), dtype=np.uint8)


def test_export_passes_the_checker_with_named_io_and_a_dynamic_batch_axis(trained_folder):
    proto = onnx.load(trained_folder / "model.onnx")
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    assert [i.name for i in proto.graph.input] == ["frames"]
    assert [o.name for o in proto.graph.output] == ["expression_probs", "attribute_probs"]
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [1, 64, 64]
    assert not any(n.op_type == "BatchNormalization" for n in proto.graph.node)  # folded into the convs


def test_onnxruntime_agrees_with_torch_within_1e4_at_several_batch_sizes(trained_folder, frames):
    ort_rec = load_recognizer(trained_folder / "model.onnx", backend="onnxruntime", threads=1)
    torch_rec = load_recognizer(trained_folder, backend="torch")
    for batch in (1, 7):
        e_ort, a_ort = ort_rec.predict(frames[:batch])
        e_torch, a_torch = torch_rec.predict(frames[:batch])
        assert e_ort.shape == (batch, 7) and a_ort.shape == (batch, 3)
        np.testing.assert_allclose(e_ort, e_torch, atol=1e-4)
        np.testing.assert_allclose(a_ort, a_torch, atol=1e-4)
        np.testing.assert_allclose(e_ort.sum(axis=1), 1.0, atol=1e-5)


def test_onnx_backend_exports_a_pt_in_memory_and_torch_backend_finds_the_pt_beside_an_onnx(tmp_path, frames):
    model = _model()
    save_model_file(model, TrainConfig(widths=WIDTHS), tmp_path / "net.pt", (64, 64))
    export_onnx(tmp_path / "net.pt", tmp_path / "net.onnx")
    from_pt = load_recognizer(tmp_path / "net.pt").predict(frames)[0]
    from_onnx_sibling = load_recognizer(tmp_path / "net.onnx", backend="torch").predict(frames)[0]
    np.testing.assert_allclose(from_pt, from_onnx_sibling, atol=1e-4)
    (tmp_path / "net.pt").unlink()
    with pytest.raises(RecognizerLoadError, match="net.onnx.*no net.pt beside it"):
        load_recognizer(tmp_path / "net.onnx", backend="torch")


def test_model_without_attribute_head_outputs_nan_attributes(tmp_path, frames):
    export_onnx(_model("baseline", attributes=False), tmp_path / "plain.onnx")
    expression, attributes = load_recognizer(tmp_path / "plain.onnx").predict(frames)
    assert np.isfinite(expression).all() and attributes.shape == (7, 3) and np.isnan(attributes).all()


def test_preprocessing_scales_uint8_once_and_accepts_the_documented_shapes():
    image = np.full((64, 64), 255, dtype=np.uint8)
    x = frames_to_input(image)
    assert x.shape == (1, 1, 64, 64) and x.dtype == np.float32 and x.max() == 1.0
    assert frames_to_input(np.zeros((3, 64, 64), np.uint8)).shape == (3, 1, 64, 64)
    floats = np.full((2, 1, 64, 64), 0.25, np.float64)
    np.testing.assert_array_equal(frames_to_input(floats), 0.25)
    with pytest.raises(ValueError, match="32x32, the model needs 64x64"):
        frames_to_input(np.zeros((2, 32, 32), np.uint8), (64, 64))
    with pytest.raises(ValueError, match="uint8 .* or float"):
        frames_to_input(np.zeros((2, 64, 64), np.int32))
    with pytest.raises(ValueError, match="grayscale"):
        frames_to_input(np.zeros((2, 3, 64, 64), np.uint8))


def test_uint8_and_equivalent_float_frames_give_the_same_predictions(trained_folder, frames):
    recognizer = load_recognizer(trained_folder)
    np.testing.assert_allclose(recognizer.predict(frames)[0], recognizer.predict(frames / 255.0)[0], atol=1e-6)
    empty_e, empty_a = recognizer.predict(np.zeros((0, 64, 64), np.uint8))
    assert empty_e.shape == (0, 7) and empty_a.shape == (0, 3)


@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupted_or_truncated_model_files_raise_a_clear_error_naming_the_file(
    trained_folder, tmp_path, suffix, damage
):
    good = (trained_folder / f"model{suffix}").read_bytes()
    data = {"garbage": np.random.default_rng(1).bytes(5000), "truncated": good[: len(good) // 2], "empty": b""}[damage]
    bad = tmp_path / f"broken{suffix}"
    bad.write_bytes(data)
    backend = "onnxruntime" if suffix == ".onnx" else "torch"
    with pytest.raises(RecognizerLoadError, match="broken" + suffix.replace(".", r"\.")) as info:
        load_recognizer(bad, backend=backend)
    assert isinstance(info.value, ValueError)


def test_missing_file_and_unknown_backend_are_rejected(tmp_path):
    with pytest.raises(RecognizerLoadError, match="nothing.onnx: model file not found"):
        load_recognizer(tmp_path / "nothing.onnx")
    with pytest.raises(ValueError, match="unknown backend 'opencl'"):
        load_recognizer(tmp_path / "nothing.onnx", backend="opencl")


def test_fp16_graph_for_tensorrt_11_stays_valid_and_close_to_fp32(trained_folder, frames):
    data = (trained_folder / "model.onnx").read_bytes()
    half = onnx.load_model_from_string(onnx_to_fp16(data))
    assert half.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # I/O stays float32
    assert all(init.data_type != onnx.TensorProto.FLOAT for init in half.graph.initializer)
    import onnxruntime as ort

    session = ort.InferenceSession(half.SerializeToString(), providers=["CPUExecutionProvider"])
    expression, _ = session.run(None, {"frames": frames_to_input(frames)})
    np.testing.assert_allclose(expression, load_recognizer(trained_folder).predict(frames)[0], atol=1e-2)


@pytest.mark.parametrize("backend", ["torch-cuda", "tensorrt"])
def test_gpu_backends_say_why_they_are_unavailable_without_a_gpu(trained_folder, backend):
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present; see test_gpu_backends_agree_with_onnxruntime")
    with pytest.raises(BackendUnavailable, match="needs a CUDA GPU; torch.cuda.is_available\\(\\) is False"):
        load_recognizer(trained_folder, backend=backend)


@pytest.mark.parametrize("backend", ["torch-cuda", "tensorrt"])
def test_gpu_backends_agree_with_onnxruntime(trained_folder, frames, backend, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip(f"{backend}: no CUDA GPU on this machine (torch.cuda.is_available() is False)")
    try:
        recognizer = load_recognizer(
            trained_folder, backend=backend, **({"cache_dir": tmp_path} if backend == "tensorrt" else {})
        )
    except BackendUnavailable as err:
        pytest.skip(f"{backend}: {err}")
    reference = load_recognizer(trained_folder).predict(frames)
    got = recognizer.predict(frames)
    np.testing.assert_allclose(got[0], reference[0], atol=2e-2)  # FP16
    np.testing.assert_allclose(got[1], reference[1], atol=2e-2)
    if backend == "tensorrt":
        assert list(tmp_path.glob("*.engine"))  # cached for the next load
        big = np.random.default_rng(2).integers(0, 256, (300, 64, 64), dtype=np.uint8)
        assert recognizer.predict(big)[0].shape == (300, 7)  # above the 256 profile: chunked


def test_export_and_eval_commands(trained_folder, tmp_path, capsys):
    from vclass.experiments.recognizer.make_faces import MakeFacesConfig, make_dataset

    data = tmp_path / "faces"
    make_dataset(
        MakeFacesConfig(n=60, seed=4, size=64, noise_kind=None, noise_rate=0.0, val_frac=0.2, test_frac=0.5), data
    )
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes((trained_folder / "model.pt").read_bytes())
    assert cli(["export", str(run)]) == 0 and (run / "model.onnx").is_file()
    capsys.readouterr()
    assert cli(["eval-recognizer", str(run / "model.onnx"), "--data", str(data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"top1", "top2", "per_class_f1", "confusion"} <= set(result)
    assert np.asarray(result["confusion"]).sum() == 30
    saved = json.loads((run / "eval_confusion.json").read_text())
    np.testing.assert_allclose(np.asarray(saved["confusion"]).sum(axis=1), 1.0, atol=1e-5)
    assert (run / "eval_confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert cli(["eval-recognizer", str(run), "--data", str(data), "--out", str(tmp_path / "o")]) == 0
    assert "top-1" in capsys.readouterr().out and (tmp_path / "o" / "eval_confusion.json").is_file()
    assert cli(["export", str(tmp_path / "missing")]) == 2
    assert cli(["eval-recognizer", str(tmp_path / "missing.onnx"), "--data", str(data)]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert cli(["eval-recognizer", str(run), "--backend", "tensorrt", "--data", str(data)]) == (
        0 if torch.cuda.is_available() else 2
    )


@pytest.mark.slow
def test_benchmark_rows_cover_every_backend_and_batch():
    from vclass.experiments.bench.recognizer import SIZES, run

    rows = run(quick=True)
    assert rows[0]["case"] == "model FLOPs per face" and rows[0]["value"] > 1
    timed = [r for r in rows if r["unit"] == "faces/s"]
    assert [r["case"] for r in timed[:3]] == ["onnxruntime batch 1", "onnxruntime batch 30", "onnxruntime batch 256"]
    # five CPU cases (ONNX Runtime and OpenVINO on FP32 and INT8, torch) at 3 batch sizes; the three GPU cases
    # also at 4,096; two other widths on ONNX Runtime at 3
    assert len(timed) == 5 * 3 + 3 * 4 + 2 * 3 and all(r["benchmark"] == "recognizer" for r in timed)
    assert timed[2]["value"] > 0 and timed[2]["target"] == ">= 2,000 faces/s"
    for row in timed:
        assert (row["value"] is None) == row["note"].startswith("not available here")
    by_case = {r["case"]: r for r in rows}
    mflops = []
    for widths in SIZES:
        label = "-".join(map(str, widths))
        for batch in (1, 30, 256):
            row = by_case[f"onnxruntime widths {label} batch {batch}"]
            assert row["value"] > 0 and row["latency_ms"] == pytest.approx(1000 * batch / row["value"])
        mflops.append(float(row["note"].split(", ")[1].split(" MFLOP")[0]))
    # widths halved are a quarter of the default's FLOPs, doubled four times them
    assert mflops[0] == pytest.approx(rows[0]["value"] / 4, rel=0.05)
    assert mflops[1] == pytest.approx(4 * rows[0]["value"], rel=0.05)


def test_flop_count_matches_the_formula_for_a_conv_and_a_linear():
    from vclass.models.nets import count_flops

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, stride=2, padding=1, bias=False), torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 7)
    )
    # conv: 16 outputs x 4 channels, 9 multiply-adds each; linear: 64 x 7
    assert count_flops(net, (8, 8)) == 2 * (4 * 4 * 4 * 9) + 2 * 64 * 7


def test_fp16_peak_knows_hopper_and_refuses_to_guess():
    from vclass.experiments.bench.recognizer import fp16_peak

    assert fp16_peak("NVIDIA H100 80GB HBM3") == 989.0
    assert fp16_peak("Some Unknown GPU") is None


def test_evaluate_reports_top1_top2_f1_confusion_intensity_bins_and_skips_one_valued_attributes():
    from types import SimpleNamespace

    from vclass.models.evaluate import evaluate

    truth = np.array([0, 1, 2, 2])
    probs = np.full((4, 7), 0.01, np.float32)
    probs[0, 0] = probs[1, 2] = probs[2, 2] = probs[3, 1] = 0.9  # right, wrong, right, wrong
    probs[1, 1] = probs[3, 2] = 0.05  # ... but both wrong ones rank the truth second
    attributes = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]], np.uint8)  # yawning never present
    attribute_probs = np.array([[0.9, 0.1, 0.2], [0.2, 0.1, 0.7], [0.6, 0.1, 0.4], [0.4, 0.1, 0.3]], np.float32)
    split = SimpleNamespace(
        images=np.zeros((4, 64, 64), np.uint8),
        clean_labels=truth,
        labels=truth,
        attributes=attributes,
        intensity=np.array([0.05, 0.2, 0.6, 0.9], np.float32),
    )
    result = evaluate(lambda frames: (probs[: len(frames)], attribute_probs[: len(frames)]), split)
    assert result["top1"] == 0.5 and result["top2"] == 1.0
    confusion = np.asarray(result["confusion"])
    assert confusion[0, 0] == 1 and confusion[1, 2] == 1 and confusion[2, 2] == 1 and confusion[2, 1] == 1
    assert result["per_class_f1"]["neutral"] == 1.0 and result["per_class_f1"]["surprise"] == pytest.approx(
        0.5
    )  # tp 1, fp 1, fn 1
    assert result["attribute_auc"]["eyes_closed"] == 1.0 and result["attribute_auc"]["yawning"] is None
    assert result["attribute_auc"]["looking_away"] == pytest.approx(0.75)
    assert result["attribute_rates"]["eyes_closed"] == {"hit_rate": 1.0, "false_alarm_rate": 0.0}
    assert result["top1_by_intensity"]["0.00-0.15"] == {"n": 1, "top1": 1.0}
    assert result["top1_by_intensity"]["0.50-1.00"] == {"n": 2, "top1": 0.5}
