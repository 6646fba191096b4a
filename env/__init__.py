"""Gymnasium environments joining the simulator and the recognizer."""
