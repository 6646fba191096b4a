"""Orchestration, grouped by what it orchestrates: ``lesson``, ``recognizer``, ``policy``, ``sweep``, ``bench``;
``pool`` (the one process pool) and ``stats`` serve them all."""

from pathlib import Path

SPECS_DIR = Path(__file__).resolve().parent / "specs"  # the shipped experiment specs
