"""Face datasets on disk, label noise, and the FER2013 CSV (SPEC §4-5). Pure numpy.

A dataset is a folder::

    DIR/train.npz  DIR/val.npz  DIR/test.npz  DIR/meta.json

Each ``.npz`` (written by :func:`save_split`) holds

=============== ============== ==========================================================
key             dtype, shape   meaning
=============== ============== ==========================================================
``images``      uint8 (n,H,W)  grayscale faces
``labels``      int64 (n,)     expression labels as trained on (possibly noisy)
``clean_labels`` int64 (n,)    the true expression labels
``attributes``  uint8 (n,3)    eyes_closed, yawning, looking_away (zeros when unknown)
``intensity``   float32 (n,)   expression intensity in [0, 1], NaN when unknown
=============== ============== ==========================================================

Classes follow :data:`CLASS_NAMES` (the renderer's ``vclass.sim.faces.EXPRESSIONS``;
this module may not import ``sim``, a test keeps the two equal).
``meta.json`` records the seed, split sizes, noise kind and rate (asked and
realized), image size, class and attribute names and ``has_attributes``.
Test labels are always clean.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vclass.io import atomic_write_bytes, write_json
from vclass.sim.faces import sample_face_batch

RENDER_BATCH = 2048  # faces per render call; part of the random stream, so fixed

CLASS_NAMES = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear")
ATTRIBUTE_NAMES = ("eyes_closed", "yawning", "looking_away")
N_CLASSES = len(CLASS_NAMES)
SPLITS = ("train", "val", "test")
SPLIT_KEYS = ("images", "labels", "clean_labels", "attributes", "intensity")

NOISE_KINDS = ("symmetric", "annotator")
MAX_NOISE_RATE = 0.4
# Annotator confusions: pairs of expressions people mix up. Happy has no partner.
ANNOTATOR_PAIRS = (("fear", "surprise"), ("disgust", "anger"), ("sad", "neutral"))


def _annotator_partner() -> np.ndarray:
    """partner[c] = the class c is confused with, or -1 when c has none."""
    partner = np.full(N_CLASSES, -1, dtype=np.int64)
    for a, b in ANNOTATOR_PAIRS:
        partner[CLASS_NAMES.index(a)] = CLASS_NAMES.index(b)
        partner[CLASS_NAMES.index(b)] = CLASS_NAMES.index(a)
    return partner


ANNOTATOR_PARTNER = _annotator_partner()

# FER2013 emotion codes: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral.
FER2013_NAMES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_TO_CLASS = np.array([CLASS_NAMES.index(name) for name in FER2013_NAMES], dtype=np.int64)
FER2013_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
FER2013_SIDE = 48


@dataclass
class FaceSplit:
    """One split of a face dataset; arrays as in the module docstring."""

    images: np.ndarray
    labels: np.ndarray
    clean_labels: np.ndarray
    attributes: np.ndarray
    intensity: np.ndarray

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images, dtype=np.uint8)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.clean_labels = np.asarray(self.clean_labels, dtype=np.int64)
        self.attributes = np.asarray(self.attributes, dtype=np.uint8)
        self.intensity = np.asarray(self.intensity, dtype=np.float32)
        n = self.images.shape[0]
        if self.images.ndim != 3:
            raise ValueError(f"images must be (n, H, W), got shape {self.images.shape}")
        expected = {"labels": (n,), "clean_labels": (n,), "attributes": (n, len(ATTRIBUTE_NAMES)), "intensity": (n,)}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {getattr(self, name).shape}")
        for name in ("labels", "clean_labels"):
            values = getattr(self, name)
            if values.size and (values.min() < 0 or values.max() >= N_CLASSES):
                raise ValueError(f"{name} must be class indices in [0, {N_CLASSES - 1}]")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.images.shape[1], self.images.shape[2]

    def noise_rate(self) -> float:
        """Share of samples whose label differs from the clean label."""
        return realized_noise_rate(self.labels, self.clean_labels)


# ----------------------------------------------------------------------------------------------
# Files


def split_bytes(split: FaceSplit) -> bytes:
    """The split as uncompressed ``.npz`` bytes; the same split always gives the same bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **{key: getattr(split, key) for key in SPLIT_KEYS})
    return buffer.getvalue()


def save_split(path: str | Path, split: FaceSplit) -> None:
    """Write one split to ``path`` (an ``.npz``) atomically."""
    atomic_write_bytes(path, split_bytes(split))


def load_split(path: str | Path) -> FaceSplit:
    """Read a split written by :func:`save_split`.

    :raises ValueError: when a key is missing or an array has the wrong shape.
    """
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in SPLIT_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"{path}: missing arrays {', '.join(missing)}")
        return FaceSplit(**{key: data[key] for key in SPLIT_KEYS})


def save_dataset(directory: str | Path, splits: dict[str, FaceSplit], meta: dict[str, Any]) -> None:
    """Write every split and ``meta.json`` (each file atomically)."""
    directory = Path(directory)
    for name, split in splits.items():
        save_split(directory / f"{name}.npz", split)
    write_json(directory / "meta.json", meta)


def load_meta(directory: str | Path) -> dict[str, Any]:
    return json.loads((Path(directory) / "meta.json").read_text())


def load_dataset(directory: str | Path) -> dict[str, FaceSplit]:
    """The train, val and test splits of a dataset folder.

    :raises FileNotFoundError: naming the first missing file.
    """
    directory = Path(directory)
    for name in [f"{split}.npz" for split in SPLITS] + ["meta.json"]:
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory}: not a face dataset, {name} is missing")
    return {split: load_split(directory / f"{split}.npz") for split in SPLITS}


def dataset_meta(
    *,
    seed: int | None,
    splits: dict[str, FaceSplit],
    noise_kind: str | None,
    noise_rate: float,
    source: str,
    has_attributes: bool,
    **extra: Any,
) -> dict[str, Any]:
    """The ``meta.json`` record of a dataset."""
    first = next(iter(splits.values()))
    return {
        "source": source,
        "seed": seed,
        "sizes": {name: len(split) for name, split in splits.items()},
        "image_size": list(first.image_size),
        "noise": {
            "kind": noise_kind,
            "rate": noise_rate,
            "realized": {name: split.noise_rate() for name, split in splits.items()},
        },
        "class_names": list(CLASS_NAMES),
        "attribute_names": list(ATTRIBUTE_NAMES),
        "has_attributes": has_attributes,
        **extra,
    }


# ----------------------------------------------------------------------------------------------
# Label noise


def parse_noise_spec(spec: str) -> tuple[str, float]:
    """``"symmetric:0.2"`` -> ("symmetric", 0.2).

    :raises ValueError: with the allowed kinds and range when the spec is malformed.
    """
    kind, sep, rate_text = spec.partition(":")
    if not sep or kind not in NOISE_KINDS:
        raise ValueError(f"expected KIND:RATE with KIND one of {', '.join(NOISE_KINDS)}, got {spec!r}")
    try:
        rate = float(rate_text)
    except ValueError:
        raise ValueError(f"rate must be a number in [0, {MAX_NOISE_RATE}], got {rate_text!r}") from None
    _check_rate(rate)
    return kind, rate


def _check_rate(rate: float) -> None:
    if not 0 <= rate <= MAX_NOISE_RATE:  # also rejects NaN
        raise ValueError(f"rate must be in [0, {MAX_NOISE_RATE}], got {rate:g}")


def inject_label_noise(labels: np.ndarray, kind: str, rate: float, rng: np.random.Generator) -> np.ndarray:
    """A noisy copy of ``labels``: exactly ``round(rate * n_eligible)`` labels changed.

    :param kind: ``symmetric``: every sample is eligible, and a flipped label
        is drawn uniformly from the six *other* classes. ``annotator``: only
        samples whose class has a look-alike (fear<->surprise,
        disgust<->anger, sad<->neutral) are eligible, and a flipped label
        becomes that partner; happy never flips. The rate is the share of the
        eligible samples that flip, so the realized rate over all samples is
        ``rate * (eligible share)`` (about 6/7 of ``rate`` on balanced
        classes); :func:`realized_noise_rate` reports it.
    :param rate: in [0, 0.4].
    :raises ValueError: on an unknown kind or a rate out of range.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {', '.join(NOISE_KINDS)}, got {kind!r}")
    _check_rate(rate)
    labels = np.asarray(labels, dtype=np.int64)
    noisy = labels.copy()
    if kind == "symmetric":
        eligible = np.arange(labels.size)
    else:
        eligible = np.flatnonzero(ANNOTATOR_PARTNER[labels] >= 0)
    n_flips = int(round(rate * eligible.size))
    flipped = rng.choice(eligible, size=n_flips, replace=False)
    if kind == "symmetric":
        # Adding 1..K-1 modulo K lands uniformly on the other classes, never on the true one.
        noisy[flipped] = (labels[flipped] + rng.integers(1, N_CLASSES, n_flips)) % N_CLASSES
    else:
        noisy[flipped] = ANNOTATOR_PARTNER[labels[flipped]]
    return noisy


def realized_noise_rate(noisy: np.ndarray, clean: np.ndarray) -> float:
    """Share of labels that differ (0 for an empty array)."""
    noisy, clean = np.asarray(noisy), np.asarray(clean)
    return float(np.mean(noisy != clean)) if noisy.size else 0.0


def noise_transition_matrix(kind: str, rate: float) -> np.ndarray:
    """Expected P(noisy label = j | clean label = i), (7, 7), for :func:`inject_label_noise`."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {', '.join(NOISE_KINDS)}, got {kind!r}")
    _check_rate(rate)
    if kind == "symmetric":
        matrix = np.full((N_CLASSES, N_CLASSES), rate / (N_CLASSES - 1))
        np.fill_diagonal(matrix, 1 - rate)
        return matrix
    matrix = np.eye(N_CLASSES)
    for c, partner in enumerate(ANNOTATOR_PARTNER):
        if partner >= 0:
            matrix[c, c], matrix[c, partner] = 1 - rate, rate
    return matrix


# ----------------------------------------------------------------------------------------------
# FER2013


def load_fer2013_csv(path: str | Path, size: int | None = None) -> dict[str, FaceSplit]:
    """Read the FER2013 CSV (``emotion,pixels,Usage``) into train/val/test splits.

    ``Usage`` Training/PublicTest/PrivateTest become train/val/test. FER codes
    (0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral) are
    remapped to :data:`CLASS_NAMES` order through :data:`FER2013_TO_CLASS`.
    ``labels`` equal ``clean_labels`` (FER's own label noise is unknown),
    attributes are zeros and intensity NaN (``has_attributes`` is false).

    :param size: resize the 48x48 faces to size x size (bilinear); None keeps 48.
    :raises ValueError: naming the line and column of the first malformed row.
    """
    path = Path(path)
    columns: dict[str, list] = {split: [] for split in SPLITS}
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [name.strip() for name in next(reader, [])]
        for required in ("emotion", "pixels", "Usage"):
            if required not in header:
                raise ValueError(f"{path}: line 1: missing column {required!r} (header is {header})")
        emotion_col, pixels_col, usage_col = (header.index(c) for c in ("emotion", "pixels", "Usage"))
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) < len(header):
                raise ValueError(f"{path}: line {line}: expected {len(header)} columns, got {len(row)}")
            label = _parse_fer_emotion(row[emotion_col], path, line)
            pixels = _parse_fer_pixels(row[pixels_col], path, line)
            usage = row[usage_col].strip()
            if usage not in FER2013_USAGE:
                raise ValueError(
                    f"{path}: line {line}, column 'Usage': expected one of {', '.join(FER2013_USAGE)}, got {usage!r}"
                )
            columns[FER2013_USAGE[usage]].append((label, pixels))
    splits = {}
    for split, rows in columns.items():
        side = FER2013_SIDE if size is None else size
        images = np.zeros((0, side, side), dtype=np.uint8)
        labels = np.zeros(0, dtype=np.int64)
        if rows:
            labels = FER2013_TO_CLASS[np.array([label for label, _ in rows], dtype=np.int64)]
            images = np.stack([pixels for _, pixels in rows]).reshape(-1, FER2013_SIDE, FER2013_SIDE)
            if size is not None:
                images = resize_images(images, size)
        n = labels.size
        splits[split] = FaceSplit(
            images=images,
            labels=labels,
            clean_labels=labels.copy(),
            attributes=np.zeros((n, len(ATTRIBUTE_NAMES)), dtype=np.uint8),
            intensity=np.full(n, np.nan, dtype=np.float32),
        )
    return splits


def _parse_fer_emotion(text: str, path: Path, line: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < N_CLASSES:
        raise ValueError(f"{path}: line {line}, column 'emotion': expected an integer 0-6, got {text!r}")
    return value


def _parse_fer_pixels(text: str, path: Path, line: int) -> np.ndarray:
    fields = text.split()
    if len(fields) != FER2013_SIDE * FER2013_SIDE:
        raise ValueError(
            f"{path}: line {line}, column 'pixels': expected {FER2013_SIDE * FER2013_SIDE} "
            f"space-separated integers, got {len(fields)}"
        )
    try:
        values = np.array(fields, dtype=np.int64)
    except ValueError:
        bad = next(f for f in fields if not f.lstrip("-").isdigit())
        raise ValueError(f"{path}: line {line}, column 'pixels': {bad!r} is not an integer") from None
    if values.min() < 0 or values.max() > 255:
        raise ValueError(f"{path}: line {line}, column 'pixels': values must be in 0-255")
    return values.astype(np.uint8)


def resize_images(images: np.ndarray, size: int, batch: int = 4096) -> np.ndarray:
    """Bilinear resize of uint8 images (n, H, W) to (n, size, size), pixel centres aligned."""
    n, height, width = images.shape
    out = np.empty((n, size, size), dtype=np.uint8)
    row0, row1, row_w = _bilinear_taps(height, size)
    col0, col1, col_w = _bilinear_taps(width, size)
    for start in range(0, n, batch):
        block = images[start : start + batch].astype(np.float32)
        rows = block[:, row0] * (1 - row_w)[:, None] + block[:, row1] * row_w[:, None]
        cols = rows[:, :, col0] * (1 - col_w) + rows[:, :, col1] * col_w
        out[start : start + batch] = np.clip(np.rint(cols), 0, 255)
    return out


def _bilinear_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each target pixel: the two source pixels around its centre and the weight of the second."""
    centre = (np.arange(target) + 0.5) * source / target - 0.5
    centre = np.clip(centre, 0, source - 1)
    low = np.floor(centre).astype(np.intp)
    high = np.minimum(low + 1, source - 1)
    return low, high, (centre - low).astype(np.float32)


def render_split(
    n: int, rng: np.random.Generator, size: int, progress=None, batch: int = RENDER_BATCH
) -> dict[str, np.ndarray]:
    """Render n labelled faces (:func:`vclass.sim.faces.sample_face_batch`) in calls of ``batch`` faces, advancing
    ``progress`` (a tqdm bar, or None) as it goes: ``images``, ``clean_labels``, ``attributes``, ``intensity``."""

    parts = []
    for start in range(0, n, batch):
        part = sample_face_batch(min(batch, n - start), rng, size=size)
        parts.append(part)
        if progress is not None:
            progress.update(len(part.images))
    if not parts:
        return {
            "images": np.zeros((0, size, size), np.uint8),
            "clean_labels": np.zeros(0, np.int64),
            "attributes": np.zeros((0, 3), np.uint8),
            "intensity": np.zeros(0, np.float32),
        }
    return {
        "images": np.concatenate([p.images for p in parts]),
        "clean_labels": np.concatenate([p.expressions for p in parts]),
        "attributes": np.concatenate([p.attributes for p in parts]),
        "intensity": np.concatenate([p.intensity for p in parts]),
    }
