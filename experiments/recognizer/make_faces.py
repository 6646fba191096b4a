"""``vclass make-faces``: render a labelled synthetic face dataset (SPEC §4-5).

``--n`` is the total number of faces over the three splits: test and val
take ``round(n * frac)`` each and train the rest. Each split renders from its
own random stream and draws its label noise from another, so the images do
not depend on ``--noise`` and the same arguments give byte-identical
``.npz`` files. Noise goes into train and val labels only; test labels stay
clean. Output: ``DIR/{train,val,test}.npz``, ``DIR/meta.json`` and a grid of
training faces, ``DIR/samples.png``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vclass.config import ConfigError
from vclass.io import provenance, pyplot, save_figure
from vclass.models.datasets import (
    CLASS_NAMES,
    SPLITS,
    FaceSplit,
    dataset_meta,
    inject_label_noise,
    parse_noise_spec,
    render_split,
    save_dataset,
)

SIZE_RANGE = (16, 256)
MAX_SPLIT_FRACTION = 0.5
SAMPLE_GRID = (6, 8)  # rows, columns of samples.png
NOISY_SPLITS = ("train", "val")


@dataclass(frozen=True)
class MakeFacesConfig:
    """Validated arguments of ``make-faces``."""

    n: int
    seed: int
    size: int
    noise_kind: str | None
    noise_rate: float
    val_frac: float
    test_frac: float

    def split_sizes(self) -> dict[str, int]:
        n_val, n_test = round(self.n * self.val_frac), round(self.n * self.test_frac)
        return {"train": self.n - n_val - n_test, "val": n_val, "test": n_test}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, help="total faces over train, val and test")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument(
        "--noise",
        default=None,
        metavar="KIND:RATE",
        help="label noise for train and val, e.g. symmetric:0.2 or annotator:0.3 (default clean)",
    )
    parser.add_argument("--val-frac", type=float, default=0.1, help="share of faces in val (default 0.1)")
    parser.add_argument("--test-frac", type=float, default=0.1, help="share of faces in test (default 0.1)")


def config_from_args(args: argparse.Namespace) -> MakeFacesConfig:
    """Check the arguments; :class:`ConfigError` names the flag and its allowed range."""

    if not SIZE_RANGE[0] <= args.size <= SIZE_RANGE[1]:
        raise ConfigError("--size", f"must be in [{SIZE_RANGE[0]}, {SIZE_RANGE[1]}], got {args.size}")
    for flag, value in (("--val-frac", args.val_frac), ("--test-frac", args.test_frac)):
        if not 0 <= value <= MAX_SPLIT_FRACTION:
            raise ConfigError(flag, f"must be in [0, {MAX_SPLIT_FRACTION}], got {value:g}")
    if args.seed < 0:
        raise ConfigError("--seed", f"must be >= 0, got {args.seed}")
    noise_kind, noise_rate = None, 0.0
    if args.noise is not None:
        try:
            noise_kind, noise_rate = parse_noise_spec(args.noise)
        except ValueError as err:
            raise ConfigError("--noise", str(err)) from None
    config = MakeFacesConfig(
        n=args.n,
        seed=args.seed,
        size=args.size,
        noise_kind=noise_kind,
        noise_rate=noise_rate,
        val_frac=args.val_frac,
        test_frac=args.test_frac,
    )
    if config.split_sizes()["train"] < 1:
        raise ConfigError("--n", f"must leave at least one training face after val and test, got {args.n}")
    return config


def make_dataset(config: MakeFacesConfig, out: Path) -> dict:
    """Render, add label noise, write every file; return the meta record."""

    render_streams = np.random.SeedSequence(config.seed).spawn(2)
    render_seeds, noise_seeds = (stream.spawn(len(SPLITS)) for stream in render_streams)
    splits = {}
    with tqdm(total=config.n, desc="make-faces", unit="face", disable=None) as progress:
        for name, n, render_seed, noise_seed in zip(SPLITS, config.split_sizes().values(), render_seeds, noise_seeds):
            arrays = render_split(n, np.random.default_rng(render_seed), config.size, progress)
            labels = arrays["clean_labels"]
            if config.noise_kind is not None and name in NOISY_SPLITS:
                labels = inject_label_noise(
                    labels, config.noise_kind, config.noise_rate, np.random.default_rng(noise_seed)
                )
            splits[name] = FaceSplit(labels=labels, **arrays)
    meta = dataset_meta(
        seed=config.seed,
        splits=splits,
        noise_kind=config.noise_kind,
        noise_rate=config.noise_rate,
        source="synthetic",
        has_attributes=True,
        noisy_splits=list(NOISY_SPLITS),
        provenance=provenance(asdict(config), config.seed),
    )
    save_dataset(out, splits, meta)
    save_sample_grid(out / "samples.png", splits["train"])
    return meta


def save_sample_grid(path: Path, split) -> None:
    """A grid of the first training faces titled with their labels (``clean>noisy`` where flipped) and intensity."""
    plt = pyplot()

    rows, cols = SAMPLE_GRID
    count = min(rows * cols, len(split))
    side = split.images.shape[1]
    gap = max(side // 4, 8)  # room for the caption under each face
    sheet = np.full((rows * (side + gap), cols * side), 255, dtype=np.uint8)
    fig, ax = plt.subplots(figsize=(cols * 1.1, rows * 1.3))
    for i in range(count):
        r, c = divmod(i, cols)
        sheet[r * (side + gap) : r * (side + gap) + side, c * side : (c + 1) * side] = split.images[i]
        clean, label = CLASS_NAMES[split.clean_labels[i]], CLASS_NAMES[split.labels[i]]
        caption = clean if clean == label else f"{clean}>{label}"
        ax.text(
            (c + 0.5) * side,
            r * (side + gap) + side + gap / 2,
            f"{caption} {split.intensity[i]:.2f}",
            ha="center",
            va="center",
            fontsize=5.5,
        )
    ax.imshow(sheet, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.axis("off")
    save_figure(fig, path)


def main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    meta = make_dataset(config, args.out)
    realized = ", ".join(f"{k} {v:.3f}" for k, v in meta["noise"]["realized"].items())
    sizes = ", ".join(f"{k} {v}" for k, v in meta["sizes"].items())
    print(f"wrote {args.out}: {sizes}; label noise {config.noise_kind or 'none'} (realized: {realized})")
    return 0
