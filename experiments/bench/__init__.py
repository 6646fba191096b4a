"""Benchmarks (``vclass bench``): one module per suite, the command in :mod:`vclass.experiments.bench.bench`."""
