"""`vclass bench`: every suite reports rows, and what this machine lacks is reported as not available."""

from __future__ import annotations

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
