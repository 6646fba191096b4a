"""``vclass face-ceiling``: how much of the expression task the renderer itself makes ambiguous.

Two ceilings, scored on the same faces (drawn as ``vclass make-faces`` draws
them, with the default :class:`vclass.sim.faces.FaceSampling`, so the figures compare
with the ``top1_by_intensity`` of ``vclass eval-recognizer``):

``template_oracle``
    An oracle that knows every parameter of each face except its expression
    (identity with its resting face, pose, lighting, occlusion, attributes,
    intensity, noise level). It renders the seven noise-free candidates, one
    per expression, and picks the one nearest the observed frame in squared
    pixel distance. Under the renderer's Gaussian sensor noise that is the
    maximum-likelihood choice, up to the uint8 rounding and clipping of the
    frame. At intensity 0 every candidate is the same face; ties go to the
    first class (neutral), so there it is right only on neutral faces.

``resting_face_bound``
    An upper bound for any recognizer that does not know the identity's
    resting face, which is every single-frame recognizer: the faces of a test
    set each belong to a new identity. The expression and its intensity reach
    the frame only through the action vector
    ``a = resting + intensity * EXPRESSION_ACTIONS[expression]``
    (:func:`vclass.sim.faces._face_actions`); everything else the renderer draws is
    independent of the expression. So the frame carries no more about the
    expression than ``a`` does (data processing), and no recognizer beats the
    Bayes classifier on ``a``: ``P(c | a)`` with ``resting ~ N(0, sd^2 I)``,
    ``intensity ~ Beta`` integrated out on a fine grid and a uniform class
    prior. Reported are that classifier's top-1 on the drawn faces and the
    mean of its largest posterior (the Bayes accuracy's own estimate; the two
    agree within sampling error). The bound ignores the clipping of actions,
    yawning, closed eyes, occlusion and noise, which only remove more, so the
    true ceiling is lower still.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from vclass.config import ConfigError
from vclass.io import write_json
from vclass.models.evaluate import accuracy_by_intensity
from vclass.sim.faces import (
    DEFAULT_SAMPLING,
    EXPRESSION_ACTIONS,
    N_EXPRESSIONS,
    RESTING_FACE_SD,
    render_faces,
    sample_face_params,
)

DEFAULT_N = 20_000
DEFAULT_SEED = 7
MAX_N = 1_000_000
CHUNK = 2_048
# finer than vclass.models.evaluate.INTENSITY_BINS below 0.15, where the ambiguity lies
EDGES = (0.0, 0.05, 0.1, 0.15, 0.3, 0.5, 1.0)
INTENSITY_GRID = 2_000  # midpoints on [0, 1] for integrating the intensity out of P(a | c)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=DEFAULT_N, help=f"faces to score (default {DEFAULT_N:,})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the faces (default {DEFAULT_SEED})")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--out", type=Path, help="also write the result to this JSON file (atomically)")


def action_posterior(actions: np.ndarray, grid: int = INTENSITY_GRID) -> np.ndarray:
    """``P(expression | action vector)`` under the renderer's draws, ``(m, 7)``.

    ``a = r + t * E[c]`` with ``r ~ N(0, RESTING_FACE_SD^2 I)``, ``t ~ Beta(intensity_beta)`` and ``c``
    uniform. Per class, ``log N(a; t E_c, sd^2 I)`` is ``(2 t a.E_c - t^2 |E_c|^2) / (2 sd^2)`` plus a
    term shared by all classes, integrated over ``t`` by the midpoint rule on ``grid`` points.
    """

    a_shape, b_shape = DEFAULT_SAMPLING.intensity_beta
    t = (np.arange(grid) + 0.5) / grid
    log_prior_t = (a_shape - 1) * np.log(t) + (b_shape - 1) * np.log1p(-t)
    log_prior_t -= np.log(np.exp(log_prior_t - log_prior_t.max()).sum()) + log_prior_t.max()
    rows = EXPRESSION_ACTIONS.astype(np.float64)
    projection = np.asarray(actions, np.float64) @ rows.T  # (m, 7): a . E_c
    log_like = np.empty(projection.shape)
    for cls in range(rows.shape[0]):
        exponent = 2 * t[None, :] * projection[:, cls : cls + 1] - t[None, :] ** 2 * (rows[cls] @ rows[cls])
        exponent = exponent / (2 * RESTING_FACE_SD**2) + log_prior_t[None, :]
        top = exponent.max(axis=1, keepdims=True)
        log_like[:, cls] = top[:, 0] + np.log(np.exp(exponent - top).sum(axis=1))
    log_like -= log_like.max(axis=1, keepdims=True)
    posterior = np.exp(log_like)
    return posterior / posterior.sum(axis=1, keepdims=True)


def face_ceilings(
    n: int, seed: int, size: int = 64, oracle: bool = True, edges: tuple[float, ...] = EDGES
) -> dict[str, Any]:
    """Both ceilings (see the module docstring) on the same ``n`` faces.

    :param oracle: also score the template oracle (renders eight frames a face); without it only the
        bound is computed, on the same draws.
    :param edges: intensity bins of ``top1_by_intensity``.
    :returns: ``{"n", "seed", "template_oracle": {"top1", "top1_by_intensity"},
        "resting_face_bound": {"top1", "expected_top1", "top1_by_intensity"}}`` (no ``template_oracle``
        when ``oracle`` is False).
    """

    params_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    nearest = np.empty(n, np.int64)
    bayes = np.empty(n, np.int64)
    confidence = np.empty(n)
    truth = np.empty(n, np.int64)
    intensity = np.empty(n, np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        params = sample_face_params(m, params_rng)
        truth[start : start + m] = params.expression
        intensity[start : start + m] = params.intensity
        actions = (
            params.identity.resting_actions.astype(np.float64)
            + params.intensity[:, None].astype(np.float64) * EXPRESSION_ACTIONS[params.expression]
        )
        posterior = action_posterior(actions)
        bayes[start : start + m] = posterior.argmax(axis=1)
        confidence[start : start + m] = posterior.max(axis=1)
        if not oracle:
            continue
        observed = render_faces(params, noise_rng, size=size).reshape(m, -1).astype(np.float32)
        silent = dataclasses.replace(params, noise_sd=np.zeros_like(params.noise_sd))
        distance = np.empty((m, N_EXPRESSIONS))
        for cls in range(N_EXPRESSIONS):
            candidate = dataclasses.replace(silent, expression=np.full(m, cls, dtype=params.expression.dtype))
            rendered = render_faces(candidate, noise_rng, size=size).reshape(m, -1).astype(np.float32)
            distance[:, cls] = np.square(observed - rendered).sum(axis=1)
        nearest[start : start + m] = distance.argmin(axis=1)  # ties: the first class
    result: dict[str, Any] = {"n": n, "seed": seed}
    if oracle:
        result["template_oracle"] = {
            "top1": float(np.mean(nearest == truth)),
            "top1_by_intensity": accuracy_by_intensity(nearest, truth, intensity, edges),
        }
    result["resting_face_bound"] = {
        "top1": float(np.mean(bayes == truth)),
        "expected_top1": float(confidence.mean()),
        "top1_by_intensity": accuracy_by_intensity(bayes, truth, intensity, edges),
    }
    return result


def main(args: argparse.Namespace) -> int:
    if not 1 <= args.n <= MAX_N:
        raise ConfigError("--n", f"must be an integer in [1, {MAX_N:,}], got {args.n}")
    if args.seed < 0:
        raise ConfigError("--seed", f"must be >= 0, got {args.seed}")
    result = face_ceilings(args.n, args.seed)
    if args.out is not None:
        write_json(args.out, result)
    if args.json:
        print(json.dumps(result))
        return 0
    oracle, bound = result["template_oracle"], result["resting_face_bound"]
    print(f"{args.n:,} faces (seed {args.seed})")
    print(f"template oracle (knows the resting face) top-1: {oracle['top1']:.3f}")
    print(
        f"bound for recognizers that do not know it:      {bound['top1']:.3f} (expected {bound['expected_top1']:.3f})"
    )
    for name in oracle["top1_by_intensity"]:
        cell, limit = oracle["top1_by_intensity"][name], bound["top1_by_intensity"][name]
        print(f"  intensity {name}: oracle {cell['top1']:.3f}, bound {limit['top1']:.3f} ({cell['n']:,} faces)")
    return 0
