"""Gymnasium environments joining the simulator and the recognizer (registered by ``import vclass``)."""
