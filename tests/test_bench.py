"""`vclass bench`: every suite reports rows, and what this machine lacks is reported as not available."""

from __future__ import annotations

import os

import pytest

from vclass.experiments.bench import e2e as bench_e2e
from vclass.models.recognizer import SHIPPED_MODEL


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="needs the shipped recognizer")
def test_end_to_end_rows_measure_the_cpu_path_and_never_invent_gpu_numbers():
    rows = bench_e2e.run(quick=True)
    by_case = {r["case"]: r for r in rows}
    for classrooms in (1, 16):
        row = by_case[f"onnxruntime, {classrooms} x 30 students"]
        assert row["value"] > 0 and "frames/s" in row["note"]
    for classrooms in bench_e2e.GROUPS:
        gpu = by_case[f"torch-cuda, {classrooms} x 30 students"]
        assert (gpu["value"] is None) == (not _cuda())
        if not _cuda():
            assert gpu["note"].startswith("not available here")


def test_bench_lists_every_suite_and_marks_missing_hardware_in_the_table():
    from vclass.experiments.bench.bench import SUITES, format_table

    assert {"sim", "faces", "recognizer", "e2e", "env", "sweep"} <= set(SUITES)
    table = format_table(
        [{"benchmark": "x", "case": "gpu", "value": None, "unit": "faces/s", "note": "not available here: no CUDA GPU"}]
    )
    assert "| x | gpu | not available here | faces/s |" in table


@pytest.mark.skipif(not SHIPPED_MODEL.is_file(), reason="needs the shipped recognizer")
def test_recognizer_bench_has_int8_rows_beside_fp32_each_with_its_share_of_a_peak_measured_in_the_run(monkeypatch):
    from vclass.experiments.bench import recognizer as bench_recognizer

    # only the CPU cases, so that the rows and notes are checked without the torch and GPU timings
    monkeypatch.setattr(bench_recognizer, "CASES", bench_recognizer.CASES[:4])
    monkeypatch.setattr(bench_recognizer, "SIZES", ())
    rows = bench_recognizer.run(quick=True)
    by_case = {r["case"]: r for r in rows}
    cores = os.cpu_count() or 1
    for precision, unit in (("fp32", "GFLOP/s"), ("int8", "GOP/s")):
        for where in {"1 core", f"all {cores} cores"} if cores > 1 else {"1 core"}:
            peak = by_case[f"{precision} peak, {where}"]
            assert peak["unit"] == unit and peak["value"] > 0 and "GEMM" in peak["note"]
            # the fastest of the libraries' GEMMs, the other's figure beside it (MKL's sgemm is slow on AMD)
            assert all(name in peak["note"] for name in bench_recognizer.GEMM_LIBRARIES[precision].values())
    for label, precision in (
        ("onnxruntime", "fp32"),
        ("openvino fp32", "fp32"),
        ("openvino int8", "int8"),
        ("onnxruntime int8", "int8"),
    ):
        for batch in (1, 30, 256):
            row = by_case[f"{label} batch {batch}"]
            assert row["value"] > 0 and f"of the measured {precision} peak" in row["note"]
    assert "convolutions: " in by_case["openvino int8 batch 1"]["note"]
    assert by_case["openvino int8 batch 256"]["target"] == ">= 8,000 faces/s"
    assert by_case["openvino int8 batch 30"]["target"] == "< 4 ms per batch"
    assert by_case["onnxruntime int8 batch 256"]["target"] == ""  # the FP32 ONNX Runtime target is not its own


def test_every_row_carries_the_load_and_a_busy_suite_is_not_written(tmp_path, monkeypatch, capsys):
    import os
    import types

    from vclass.experiments.bench import bench, load

    loads = iter([0.2, 0.2, 0.3, 7.5])  # the quiet start (checked, then read), a quiet row, then a busy one

    monkeypatch.setattr(os, "getloadavg", lambda: (next(loads, 7.5), 0.0, 0.0))
    monkeypatch.setattr(load, "QUIET_WAIT_SECONDS", 0.0)

    def run(quick=False):
        return [load.stamped({"benchmark": "fake", "case": c, "value": 1.0, "unit": "x"}) for c in ("quiet", "loud")]

    monkeypatch.setitem(bench.SUITES, "fake", "fake_suite")
    monkeypatch.setitem(__import__("sys").modules, "fake_suite", types.SimpleNamespace(run=run, NOTES=""))
    target = tmp_path / "BENCH.md"
    args = types.SimpleNamespace(suite="fake", quick=False, write=str(target), allow_busy=False)
    assert bench.main(args) == 1 and not target.exists()
    captured = capsys.readouterr()
    assert "| 0.30 |" in captured.out and "| 7.50 (busy) |" in captured.out and "not written" in captured.err
    loads = iter([0.2, 0.2, 0.3, 7.5])
    assert bench.main(types.SimpleNamespace(suite="fake", quick=False, write=str(target), allow_busy=True)) == 0
    assert "7.50 (busy)" in target.read_text()


def test_the_machine_line_names_the_cpu_with_its_family_and_model(tmp_path):
    from vclass.experiments.bench.bench import cpu_name

    info = tmp_path / "cpuinfo"
    core = "processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n\n"
    info.write_text(core.format(n=0) + core.format(n=1))
    assert cpu_name(str(info)) == "AMD EPYC (family 26, model 2)"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\n")  # no family and model given: the name alone
    assert cpu_name(str(info)) == "Some CPU"
    assert cpu_name(str(tmp_path / "missing"))  # no such file: what platform says, never an error
