"""Orchestration: the run command, benchmarks, experiment configs, sweeps and reports."""
