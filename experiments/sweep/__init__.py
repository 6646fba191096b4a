"""Experiments over many lessons: specs, sweeps, their reports, regression checks and S0's 2x2."""
