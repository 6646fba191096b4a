"""``vclass face-ceiling``: how much of the expression task the renderer itself makes ambiguous.

A recognizer sees a face; the renderer knows everything that made it. This
command scores an oracle that knows every parameter of each test face except
its expression (identity with its resting face, pose, lighting, occlusion,
attributes, intensity, noise level): it renders the seven noise-free
candidates, one per expression, and picks the one nearest the observed frame
in squared pixel distance. Under the renderer's Gaussian sensor noise that is
the maximum-likelihood choice, up to the uint8 rounding and clipping of the
frame, so its accuracy estimates what the renderer leaves recoverable. A
recognizer, which does not know the identity's resting face, can only do
worse. At intensity 0 every candidate is the same face; ties go to the first
class (neutral), so there the oracle is right only on neutral faces.

Faces are drawn as ``vclass make-faces`` draws them (the default
:class:`sim.faces.FaceSampling`), so the figures compare with the
``top1_by_intensity`` of ``vclass eval-recognizer``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError

HELP = "Top-1 of a template oracle that knows every face parameter but the expression: the renderer's ambiguity."

DEFAULT_N = 20_000
DEFAULT_SEED = 7
MAX_N = 1_000_000
CHUNK = 2_048
# finer than models.evaluate.INTENSITY_BINS below 0.15, where the ambiguity lies
EDGES = (0.0, 0.05, 0.1, 0.15, 0.3, 0.5, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"faces to score (default {DEFAULT_N:,})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the faces (default {DEFAULT_SEED})")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--out", type=Path, help="also write the result to this JSON file (atomically)")


def template_oracle(n: int, seed: int, size: int = 64) -> dict[str, Any]:
    """The oracle's top-1 over ``n`` faces, overall and by intensity bin (:data:`EDGES`).

    :returns: ``{"n", "seed", "top1", "top1_by_intensity": {bin: {"n", "top1"}}}``.
    """
    from models.evaluate import accuracy_by_intensity
    from sim.faces import N_EXPRESSIONS, render_faces, sample_face_params

    params_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    predicted = np.empty(n, np.int64)
    truth = np.empty(n, np.int64)
    intensity = np.empty(n, np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        params = sample_face_params(m, params_rng)
        observed = render_faces(params, noise_rng, size=size).reshape(m, -1).astype(np.float32)
        silent = dataclasses.replace(params, noise_sd=np.zeros_like(params.noise_sd))
        distance = np.empty((m, N_EXPRESSIONS))
        for cls in range(N_EXPRESSIONS):
            candidate = dataclasses.replace(silent, expression=np.full(m, cls, dtype=params.expression.dtype))
            rendered = render_faces(candidate, noise_rng, size=size).reshape(m, -1).astype(np.float32)
            distance[:, cls] = np.square(observed - rendered).sum(axis=1)
        predicted[start:start + m] = distance.argmin(axis=1)   # ties: the first class
        truth[start:start + m] = params.expression
        intensity[start:start + m] = params.intensity
    return {"n": n, "seed": seed, "top1": float(np.mean(predicted == truth)),
            "top1_by_intensity": accuracy_by_intensity(predicted, truth, intensity, EDGES)}


def main(args: argparse.Namespace) -> int:
    from vclass.io import write_json

    if not 1 <= args.n <= MAX_N:
        raise ConfigError("--n", f"must be an integer in [1, {MAX_N:,}], got {args.n}")
    if args.seed < 0:
        raise ConfigError("--seed", f"must be >= 0, got {args.seed}")
    result = template_oracle(args.n, args.seed)
    if args.out is not None:
        write_json(args.out, result)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"template oracle top-1 over {args.n:,} faces (seed {args.seed}): {result['top1']:.3f}")
    for name, cell in result["top1_by_intensity"].items():
        print(f"  intensity {name}: {cell['top1']:.3f} ({cell['n']:,} faces)")
    return 0
