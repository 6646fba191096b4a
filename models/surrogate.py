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
from numpy.typing import ArrayLike

from vclass.models.datasets import ATTRIBUTE_NAMES, CLASS_NAMES
from vclass.sim.expressions import sample_cumulative

N_EXPRESSIONS = len(CLASS_NAMES)


def _numbers(value: object, name: str) -> np.ndarray:
    """``value`` as a float array, or a ValueError naming ``name`` when it holds something else."""
    if isinstance(value, (str, bytes, dict)):
        raise ValueError(f"{name} must be numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a matrix of numbers, got {str(value)[:80]!r}") from None
    return array


def _rates(value: object, name: str) -> np.ndarray:
    rates = _numbers(value, name)
    if rates.shape != (len(ATTRIBUTE_NAMES),):
        raise ValueError(f"{name} must give {len(ATTRIBUTE_NAMES)} rates ({', '.join(ATTRIBUTE_NAMES)})")
    bad = np.flatnonzero(~((rates >= 0) & (rates <= 1)))
    if bad.size:
        raise ValueError(
            f"{ATTRIBUTE_NAMES[bad[0]]}.{name} must be a probability in [0, 1], got {float(rates[bad[0]])!r}"
        )
    return rates


ROW_SUM_TOLERANCE = 1e-4  # a stored confusion's rows are rounded; one that is off by more is not a confusion


class SurrogateRecognizer:
    """Confusion-matrix recognizer.

    :param confusion: (7, 7) rows P(recognized | true expression): finite, non-negative, each row summing to 1
        (within :data:`ROW_SUM_TOLERANCE`; renormalized exactly).
    :param attribute_hit: (3,) P(detected | attribute present) for eyes closed, yawning, looking away, in [0, 1].
    :param attribute_false_alarm: (3,) P(detected | attribute absent), in [0, 1].
    :raises ValueError: saying which entry breaks which rule.
    """

    def __init__(self, confusion: ArrayLike, attribute_hit: ArrayLike, attribute_false_alarm: ArrayLike):
        confusion = _numbers(confusion, "confusion")
        if confusion.shape != (N_EXPRESSIONS, N_EXPRESSIONS):
            raise ValueError(
                f"confusion must be {N_EXPRESSIONS}x{N_EXPRESSIONS} (shown x recognized over the {N_EXPRESSIONS} "
                f"expression classes), got shape {confusion.shape}"
            )
        bad = np.argwhere(~(confusion >= 0))  # negative or NaN
        if bad.size:
            i, j = bad[0]
            raise ValueError(f"confusion[{i}][{j}] must be a probability >= 0, got {float(confusion[i, j])!r}")
        sums = confusion.sum(axis=1)
        off = np.flatnonzero(np.abs(sums - 1.0) > ROW_SUM_TOLERANCE)
        if off.size:
            raise ValueError(
                f"confusion row {off[0]} must sum to 1 (P(recognized | shown)), sums to {sums[off[0]]:.6g}"
            )
        self.confusion = confusion / sums[:, None]
        self.attribute_hit = _rates(attribute_hit, "hit_rate")
        self.attribute_false_alarm = _rates(attribute_false_alarm, "false_alarm_rate")
        self._cumulative_of: np.ndarray | None = None  # the confusion matrix _cumulative was computed from
        self._uniforms = np.empty((0, 4))

    @classmethod
    def from_file(cls, path: str | Path) -> SurrogateRecognizer:
        """Load ``confusion.json`` stored beside a model (keys ``confusion`` and optional ``attributes``)."""
        path = Path(path)
        try:
            data = json.loads(path.read_bytes())
        except IsADirectoryError:
            raise ValueError(f"{path}: is a folder, not a confusion.json") from None
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable JSON confusion file ({err})") from None
        if not isinstance(data, dict) or "confusion" not in data:
            raise ValueError(f"{path}: not a confusion file: expected a JSON object with a 'confusion' matrix")
        attributes = data.get("attributes", {})
        if not isinstance(attributes, dict) or not all(isinstance(v, dict) for v in attributes.values()):
            raise ValueError(f"{path}: 'attributes' must map each attribute to its hit_rate and false_alarm_rate")
        hit = [attributes.get(a, {}).get("hit_rate", 1.0) for a in ATTRIBUTE_NAMES]
        false_alarm = [attributes.get(a, {}).get("false_alarm_rate", 0.0) for a in ATTRIBUTE_NAMES]
        try:
            return cls(data["confusion"], hit, false_alarm)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None

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
        return self.recognize_with(expression, attributes, rng.random(out=self._uniforms))

    def recognize_with(
        self, expression: np.ndarray, attributes: np.ndarray, uniforms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`recognize` with its U(0, 1) draws given, (n, 4): the class's, then the three attributes' (a batch of
        classrooms draws each classroom's from its own stream)."""
        recognized = sample_cumulative(self._cumulative_confusion().take(expression, axis=0), uniforms[:, 0])
        chance = np.where(attributes.astype(bool, copy=False), self.attribute_hit, self.attribute_false_alarm)
        return recognized, (uniforms[:, 1:] < chance).astype(np.float64)
