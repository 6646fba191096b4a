"""``vclass fit-hmm RUN_DIR``: refit the emotion HMM by Baum-Welch from a run's recognized sequences (S3 eq 10).

Each student's recognized classes are split at missing frames into
sequences; Baum-Welch (hmmlearn, ``epsilon`` = 1e-4) starts from the model the
teacher assumes (SPEC's base chain ``A0``, ``B`` composed with the recognizer's
confusion) and refits transitions and emissions. The fitted matrices are
reported against the truth of the run: the transitions the true states
actually made (they include context drift and incentives) and the emissions
the recognizer actually produced per true state.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from vclass.config import ConfigError
from vclass.env.observers import SHIPPED_CONFUSION
from vclass.experiments.lesson.config import run_config_from_dict
from vclass.io import write_json
from vclass.models.hmm import compose_emission, fit_baum_welch
from vclass.models.surrogate import SurrogateRecognizer
from vclass.sim.emotion import N_STATES, STATE_NAMES, base_transition_matrix, stationary_distribution


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a folder written by vclass run (with recognitions.npz)")
    parser.add_argument("--epsilon", type=float, default=1e-4, help="stop when the log-likelihood gain is below this")
    parser.add_argument("--max-iter", type=int, default=1000, help="at most this many Baum-Welch iterations")


def split_sequences(recognized: np.ndarray) -> list[np.ndarray]:
    """Each student's recognized classes (T, N; -1 = no frame) cut at missing frames, sequences of >= 2."""
    sequences = []
    for column in recognized.T:
        framed = column >= 0
        edges = np.flatnonzero(np.diff(np.r_[False, framed, False].astype(np.int8)))
        for start, stop in zip(edges[::2], edges[1::2]):
            if stop - start >= 2:
                sequences.append(column[start:stop].astype(np.int64))
    return sequences


def empirical_transitions(state: np.ndarray, present: np.ndarray, n_states: int) -> np.ndarray:
    """Transition frequencies of the true states between consecutive present ticks."""
    both = present[1:] & present[:-1]
    counts = np.zeros((n_states, n_states))
    np.add.at(counts, (state[:-1][both], state[1:][both]), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def empirical_emissions(state: np.ndarray, recognized: np.ndarray, n_states: int, n_classes: int) -> np.ndarray:
    """P(recognized class | true state) measured in the run."""
    framed = recognized >= 0
    counts = np.zeros((n_states, n_classes))
    np.add.at(counts, (state[framed], recognized[framed]), 1)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def main(args: argparse.Namespace) -> int:
    from vclass.experiments.lesson import plots

    run_dir = Path(args.run_dir)
    try:
        data = np.load(run_dir / "recognitions.npz")
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError("RUN_DIR", f"{run_dir} is not a vclass run folder: {err}") from None
    if not 0 < args.epsilon < 1:
        raise ConfigError("--epsilon", f"must be > 0 and < 1, got {args.epsilon}")
    run_cfg = run_config_from_dict(summary["config"])
    if run_cfg.recognizer.kind == "oracle":
        raise ConfigError("RUN_DIR", "that run used the oracle observer: it recognized nothing to refit from")

    confusion = SurrogateRecognizer.from_file(run_cfg.recognizer.confusion or SHIPPED_CONFUSION).confusion
    emission_b = np.asarray(run_cfg.sim.frames.emission)
    start_a = base_transition_matrix(run_cfg.sim.emotion)
    start_e = compose_emission(emission_b, confusion)
    sequences = split_sequences(data["recognized"])
    fitted = fit_baum_welch(
        sequences,
        start_a,
        start_e,
        stationary_distribution(start_a[None])[0],
        epsilon=args.epsilon,
        max_iter=args.max_iter,
        params="te",
    )
    true_a = empirical_transitions(data["state"], data["present"], N_STATES)
    true_e = empirical_emissions(data["state"], data["recognized"], N_STATES, confusion.shape[0])
    report = {
        "sequences": len(sequences),
        "observations": int(sum(len(s) for s in sequences)),
        "iterations": fitted.n_iter_,
        "converged": fitted.converged_,
        "log_likelihood": fitted.log_likelihood_,
        "max_abs_error": {
            "transitions_fitted_vs_run": float(np.abs(fitted.transmat_ - true_a).max()),
            "transitions_start_vs_run": float(np.abs(start_a - true_a).max()),
            "emissions_fitted_vs_run": float(np.abs(fitted.emissionprob_ - true_e).max()),
            "emissions_start_vs_run": float(np.abs(start_e - true_e).max()),
        },
        "stay_probability": {
            name: {"fitted": float(fitted.transmat_[i, i]), "run": float(true_a[i, i]), "spec": float(start_a[i, i])}
            for i, name in enumerate(STATE_NAMES)
        },
        "transitions_fitted": fitted.transmat_.tolist(),
        "transitions_run": true_a.tolist(),
        "emissions_fitted": fitted.emissionprob_.tolist(),
        "emissions_run": true_e.tolist(),
    }
    write_json(run_dir / "fit_hmm.json", report)
    plots.plot_hmm_fit(fitted.transmat_, true_a, fitted.emissionprob_, true_e, run_dir / "fit_hmm.png")
    errors = report["max_abs_error"]
    print(
        f"Baum-Welch on {report['sequences']} sequences ({report['observations']} recognitions): "
        f"{fitted.n_iter_} iterations, converged={fitted.converged_}"
    )
    print(
        f"max |transition error| vs the run's true transitions: fitted {errors['transitions_fitted_vs_run']:.3f}, "
        f"SPEC start {errors['transitions_start_vs_run']:.3f}"
    )
    print(
        f"max |emission error| vs the run's recognitions per true state: fitted {errors['emissions_fitted_vs_run']:.3f}"
        f", start {errors['emissions_start_vs_run']:.3f}"
    )
    print(f"{'state':<12} stay: fitted   run    SPEC")
    for name, v in report["stay_probability"].items():
        print(f"{name:<12}       {v['fitted']:.3f}  {v['run']:.3f}  {v['spec']:.3f}")
    print(f"written: {run_dir / 'fit_hmm.json'}, {run_dir / 'fit_hmm.png'}")
    return 0
