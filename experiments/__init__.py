"""Orchestration, grouped by what it orchestrates: ``lesson``, ``recognizer``, ``policy``, ``sweep``, ``bench``;
``pool`` (the one process pool) and ``stats`` serve them all."""
