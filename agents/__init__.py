"""Policies: the ECEM rule, baselines and deep-RL agents."""

from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"  # the shipped deep-RL policies and their cards
