"""Policies: the ECEM rule, baselines and deep-RL agents."""
