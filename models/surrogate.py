"""The surrogate recognizer (SPEC §4): recognition without frames, for fast policy training.

It draws the recognized class from the real model's confusion matrix,
measured on held-out frames and stored beside the model, and draws each
attribute detection from the model's measured hit and false-alarm rates.
Same interface of outputs as a real recognizer: class probabilities
(one-hot on the drawn class) and attribute probabilities (0/1 detections).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vclass.sim.expressions import sample_cumulative


class SurrogateRecognizer:
    """Confusion-matrix recognizer.

    :param confusion: (7, 7) rows P(recognized | true expression); rows are renormalized.
    :param attribute_hit: (3,) P(detected | attribute present) for eyes closed, yawning, looking away.
    :param attribute_false_alarm: (3,) P(detected | attribute absent).
    """

    def __init__(self, confusion: np.ndarray, attribute_hit: np.ndarray, attribute_false_alarm: np.ndarray):
        confusion = np.asarray(confusion, dtype=np.float64)
        if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1] or np.any(confusion < 0):
            raise ValueError(f"confusion must be a square non-negative matrix, got shape {confusion.shape}")
        self.confusion = confusion / confusion.sum(axis=1, keepdims=True)
        self.attribute_hit = np.asarray(attribute_hit, dtype=np.float64)
        self.attribute_false_alarm = np.asarray(attribute_false_alarm, dtype=np.float64)
        self._cumulative_of: np.ndarray | None = None  # the confusion matrix _cumulative was computed from
        self._uniforms = np.empty((0, 4))

    @classmethod
    def from_file(cls, path: str | Path) -> SurrogateRecognizer:
        """Load ``confusion.json`` stored beside a model (keys ``confusion`` and optional ``attributes``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            confusion = np.asarray(data["confusion"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a confusion file with a 'confusion' matrix ({err})") from None
        attributes = data.get("attributes", {})
        names = ("eyes_closed", "yawning", "looking_away")
        hit = [attributes.get(a, {}).get("hit_rate", 1.0) for a in names]
        false_alarm = [attributes.get(a, {}).get("false_alarm_rate", 0.0) for a in names]
        return cls(confusion, np.asarray(hit), np.asarray(false_alarm))

    def _cumulative_confusion(self) -> np.ndarray:
        """``np.cumsum(self.confusion, axis=1)``, kept until ``confusion`` is replaced."""
        if self._cumulative_of is not self.confusion:
            self._cumulative, self._cumulative_of = np.cumsum(self.confusion, axis=1), self.confusion
        return self._cumulative

    def recognize(
        self, expression: np.ndarray, attributes: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Recognized classes (n,) and attribute detections (n, 3) for true expressions and attributes.

        Draws a fixed number of random numbers per face (1 + 3), whatever the inputs.
        """
        n = expression.shape[0]
        if self._uniforms.shape[0] != n:
            self._uniforms = np.empty((n, 4))
        uniforms = rng.random(out=self._uniforms)  # drawn into a scratch array, read only here
        recognized = sample_cumulative(self._cumulative_confusion().take(expression, axis=0), uniforms[:, 0])
        chance = np.where(attributes.astype(bool, copy=False), self.attribute_hit, self.attribute_false_alarm)
        return recognized, (uniforms[:, 1:] < chance).astype(np.float64)
