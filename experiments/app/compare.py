"""A comparison over seeds in the workbench: a sweep spec written into a folder and run as ``vclass sweep`` runs it.

:func:`prepare` writes the comparison's folder: ``spec/`` holds ``spec.toml`` (the sweep spec of the page's choices,
:func:`~vclass.experiments.app.choices.comparison_spec`) and a copy of every file it names (the rule strategies written
in the page, the designers' modules), so that ``vclass sweep spec/spec.toml`` runs it anywhere; ``spec.zip`` is that
folder zipped. :func:`validate` checks it with the sweep's own :func:`~vclass.experiments.sweep.spec.load_spec` and
:func:`~vclass.experiments.sweep.spec.expand` (every policy built, the recognizer loaded) before anything runs.

:func:`start` runs :func:`run_comparison` in a process of its own (:func:`vclass.experiments.pool.start_process`: it
dies with the server, and its sweep's workers die with it): the same calls as ``vclass sweep`` (``load_spec``,
``expand``, :func:`~vclass.experiments.sweep.runner.run_sweep` into ``sweep/``,
:func:`~vclass.experiments.sweep.report.write_report`), so the page's numbers are ``vclass sweep``'s for the same spec.
``results.zip`` then holds the results table, ``sweep.json`` and the report. The page follows the lessons as they
finish in the sweep's journal (:attr:`Comparison.finished`) and reads the numbers from the report's ``report.json``.
"""

from __future__ import annotations

import io
import json
import math
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from vclass.config import ConfigError
from vclass.experiments.app.choices import toml_text
from vclass.experiments.pool import start_process
from vclass.experiments.sweep.report import write_report
from vclass.experiments.sweep.runner import run_sweep
from vclass.experiments.sweep.spec import expand, load_spec
from vclass.experiments.sweep.store import JOURNAL, RESULTS, RESULTS_CSV, SWEEP_META, read_journal
from vclass.io import atomic_write_bytes, atomic_write_text

SPEC_FOLDER, SPEC_FILE, SWEEP_FOLDER = "spec", "spec.toml", "sweep"
SPEC_ZIP, RESULTS_ZIP, FAILURE = "spec.zip", "results.zip", "failure.txt"
RUNNING, DONE, FAILED, STOPPED = "running", "done", "failed", "stopped"


def prepare(folder: Path, spec: dict[str, Any], files: list[Path]) -> Path:
    """Write the comparison's spec folder (``spec.toml`` and a copy of each of ``files``) and ``spec.zip``; return the
    path of ``spec.toml``."""
    spec_dir = folder / SPEC_FOLDER
    spec_dir.mkdir(parents=True, exist_ok=False)
    for path in files:
        shutil.copyfile(path, spec_dir / path.name)
    spec_path = spec_dir / SPEC_FILE
    atomic_write_text(spec_path, toml_text(spec))
    atomic_write_bytes(folder / SPEC_ZIP, zip_files([spec_path, *(spec_dir / p.name for p in files)], spec_dir))
    return spec_path


def validate(spec_path: Path) -> int:
    """Check the spec as ``vclass sweep`` does before it runs anything; return the number of lessons.

    :raises ConfigError: naming the spec key (``policies[1].name``, ``base.classroom.students``, ...).
    """
    spec, spec_dir = load_spec(spec_path)
    return len(expand(spec, spec_dir, validate=True))


def run_comparison(spec_path: str, out: str, workers: int) -> None:
    """What ``vclass sweep SPEC --out OUT --workers N`` does (in the comparison's own process), then ``results.zip``
    beside ``out``. A failure of the whole sweep is written to ``failure.txt`` beside ``out``, in one line."""
    sweep_dir = Path(out)
    try:
        spec, spec_dir = load_spec(spec_path)
        entries = expand(spec, spec_dir, validate=True)
        run_sweep(spec, Path(spec_path), entries, sweep_dir, workers=workers, quiet=True)
        write_report(sweep_dir)
        results = [sweep_dir / name for name in (RESULTS_CSV, RESULTS, SWEEP_META)]
        report = sorted(p for p in (sweep_dir / "report").iterdir() if p.is_file())
        atomic_write_bytes(sweep_dir.parent / RESULTS_ZIP, zip_files(results + report, sweep_dir))
    except ConfigError as err:
        atomic_write_text(sweep_dir.parent / FAILURE, " ".join(str(err).split()))
        raise SystemExit(2) from None
    except Exception as err:  # noqa: BLE001 - the page shows it; the server goes on
        text = " ".join(str(err).split())
        atomic_write_text(sweep_dir.parent / FAILURE, f"internal error: {type(err).__name__}: {text}")
        raise SystemExit(1) from None


def zip_files(paths: list[Path], root: Path) -> bytes:
    """A zip of ``paths``, each named by its path relative to ``root``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            archive.write(path, path.relative_to(root).as_posix())
    return buffer.getvalue()


@dataclass
class Comparison:
    """A comparison running (or run) in its own process.

    :ivar folder: the comparison's folder (``spec/``, ``sweep/``, the zips).
    :ivar total: its lessons.
    """

    folder: Path
    total: int
    process: BaseProcess
    started: float = field(default_factory=time.time)
    stopped: bool = False

    @property
    def sweep_dir(self) -> Path:
        return self.folder / SWEEP_FOLDER

    @property
    def finished(self) -> int:
        """Lessons finished so far (rows in the sweep's journal)."""
        return len(read_journal(self.sweep_dir / JOURNAL))

    @property
    def state(self) -> str:
        if self.process.is_alive():
            return RUNNING
        if self.stopped:
            return STOPPED
        return DONE if self.process.exitcode == 0 and (self.folder / RESULTS_ZIP).exists() else FAILED

    @property
    def failure(self) -> str:
        """Why the comparison failed, in one line ('' unless it did)."""
        if self.state != FAILED:
            return ""
        path = self.folder / FAILURE
        if path.exists():
            return path.read_text()
        return f"the comparison's process ended with exit status {self.process.exitcode}"

    def summary(self) -> dict[str, Any]:
        """Every number of the report (:func:`~vclass.experiments.sweep.report.summarize`), once done."""
        return json.loads((self.sweep_dir / "report" / "report.json").read_text())

    def stop(self) -> None:
        """End the comparison's process (its sweep's workers die with it); what finished stays in the journal."""
        if self.process.is_alive():
            self.stopped = True
            self.process.terminate()
            self.process.join(timeout=10)


def start(spec_path: Path, total: int, workers: int) -> Comparison:
    """Run the comparison of ``spec_path`` (checked by :func:`validate`, ``total`` lessons) in its own process, into
    ``sweep/``. Call it from a thread that outlives the comparison (the server's main thread)."""
    folder = spec_path.parent.parent
    process = start_process(run_comparison, str(spec_path), str(folder / SWEEP_FOLDER), workers)
    return Comparison(folder, total, process)


def fmt(value: Any, signed: bool = False) -> str:
    """A number as the page's tables show it: four decimals, '–' for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):+.4f}" if signed else f"{float(value):.4f}"


class ComparisonSlot:
    """The server's comparison: one at a time (the machine's cores serve one sweep; a second would only slow the
    first). A second comparison asked for while one is checked or runs is refused with a message that says so."""

    def __init__(self) -> None:
        self.current: Comparison | None = None
        self.reserved = False

    def busy(self) -> str:
        """Why a comparison cannot start now, or ''."""
        if self.reserved:
            return "another comparison is being checked and started; wait a moment"
        if self.current is not None and self.current.state == RUNNING:
            return (
                f"a comparison is running ({self.current.finished} of {self.current.total} lessons done); wait for it "
                "to finish, or stop it"
            )
        return ""

    def reserve(self) -> None:
        """Hold the slot while a comparison is checked.

        :raises ConfigError: one runs or is being checked already.
        """
        reason = self.busy()
        if reason:
            raise ConfigError("comparison", reason)
        self.reserved = True

    def begin(self, spec_path: Path, total: int, workers: int) -> Comparison:
        """Start the reserved comparison (:func:`start`)."""
        try:
            self.current = start(spec_path, total, workers)
        finally:
            self.reserved = False
        return self.current

    def release(self) -> None:
        """Give the slot back without starting (the comparison's check failed)."""
        self.reserved = False

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
