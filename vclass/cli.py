"""The ``vclass`` command: one subcommand per orchestration module, imported only when it runs.

A command module provides ``add_arguments(parser)`` and ``main(args) -> int``; its one-line help lives in
:data:`COMMANDS` here, so ``vclass --help`` imports no command.

One error path for users: every user mistake (config, files, model files, designer code, output paths) reaches
here as a :class:`~vclass.config.ConfigError` and ends the command with exit status 2 and one line naming what is
wrong; an error writing outputs (disk full, permissions) likewise. Anything else is vclass's own fault: one line
saying so, exit status 1. ``vclass --debug COMMAND ...`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
from typing import NoReturn

from vclass.config import ConfigError

# name: (module, one-line help). argparse %-formats help text: a literal percent sign is written %%.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "vclass.experiments.lesson.run",
        "Simulate a lesson (recognizer in the loop), compare with a baseline policy, write outcomes and a report.",
    ),
    "bench": (
        "vclass.experiments.bench.bench",
        (
            "Run benchmarks (sim, faces, recognizer, e2e, env, sweep) and record them in BENCHMARKS.md; what this "
            "machine cannot run (a GPU, TensorRT) is reported as not available here."
        ),
    ),
    "fit-hmm": (
        "vclass.experiments.lesson.fit_hmm",
        "Refit transitions and emissions by Baum-Welch from a run's recognitions; compare with the truth.",
    ),
    "experiment": (
        "vclass.experiments.sweep.experiment",
        "Run S0's 2x2 experiment (presentation x online tests) with and without ECEM; write a table with 95%% CIs.",
    ),
    "make-faces": (
        "vclass.experiments.recognizer.make_faces",
        "Render a synthetic face dataset: train/val/test .npz, meta.json and samples.png.",
    ),
    "train-policy": (
        "vclass.experiments.policy.train",
        "Train a PPO, A2C or DQN teacher policy on the motivation or attention environment.",
    ),
    "evaluate": (
        "vclass.experiments.policy.evaluate",
        "Evaluate policies against the baselines on the same seeds (recognizer in the loop), with 95%% CIs.",
    ),
    "train-recognizer": (
        "vclass.experiments.recognizer.train",
        "Train a facial-expression recognizer (baseline, scn, scn-cs) with checkpoints, logs and TensorBoard.",
    ),
    "eval-recognizer": (
        "vclass.experiments.recognizer.evaluate",
        "Evaluate a recognizer (training folder, .pt or .onnx) on clean faces: top-1/2, F1, confusion, AUCs.",
    ),
    "export": (
        "vclass.experiments.recognizer.export",
        "Export a trained recognizer (training folder or model.pt) to ONNX.",
    ),
    "ship-recognizer": (
        "vclass.experiments.recognizer.ship",
        "Export, evaluate and install a trained recognizer as the shipped default, with a model card.",
    ),
    "quantize-recognizer": (
        "vclass.experiments.recognizer.quantize",
        "Make the INT8 recognizer (U8S8 per-channel QDQ, calibrated on rendered faces) and measure its parity.",
    ),
    "ship-policy": (
        "vclass.experiments.policy.ship",
        "Install a trained policy (train-policy folder) as a shipped policy, with a card from a vclass evaluate run.",
    ),
    "sweep": (
        "vclass.experiments.sweep.sweep",
        "Run an experiment spec's grid (local processes or Ray) into one results table; resumable.",
    ),
    "report": (
        "vclass.experiments.sweep.report",
        "Report a sweep: per-cell means with bootstrap 95%% CIs, paired differences, effect sizes, plots, HTML.",
    ),
    "app": (
        "vclass.experiments.app.workbench",
        (
            "Serve the workbench on 127.0.0.1: set up a class, write rule strategies, watch a lesson live, compare "
            "over seeds with 95%% CIs."
        ),
    ),
    "regress": (
        "vclass.experiments.sweep.regress",
        "Rerun a small spec and compare each measure with a stored baseline (tolerance from the seed spread).",
    ),
    "ablation": (
        "vclass.experiments.recognizer.ablation",
        "Noisy-label ablation: baseline vs scn vs scn-cs at symmetric noise rates over seeds, plus a pixel LR floor.",
    ),
    "face-ceiling": (
        "vclass.experiments.recognizer.face_ceiling",
        (
            "Top-1 ceilings the renderer sets: a template oracle that knows every face parameter but the "
            "expression, and the Bayes bound for recognizers that do not know the resting face."
        ),
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported, to add its arguments (None: no command's)."""
    parser = argparse.ArgumentParser(prog="vclass", description="Virtual online classroom testbed.")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=text, description=text.replace("%%", "%"))  # descriptions are not %-formatted
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(cmd)
            cmd.set_defaults(_main=module.main)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: its first argument that is not an option."""
    first = next((arg for arg in argv if not arg.startswith("-")), None)
    return first if first in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except ConfigError as err:
        if args.debug:
            raise
        print(f"vclass {args.command}: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vclass {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # writing outputs: disk full, permissions, a path that vanished
        if args.debug:
            raise
        where = f" {err.filename}" if err.filename else ""
        print(f"vclass {args.command}: error: cannot write or read{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug of ours: say so in one line, the traceback on request
        if args.debug:
            raise
        print(
            f"vclass {args.command}: internal error ({type(err).__name__}: {_one_line(str(err))}); "
            "rerun with vclass --debug for the traceback, and please report it",
            file=sys.stderr,
        )
        return 1


def _one_line(text: str) -> str:
    return " ".join(text.split())


def entry() -> NoReturn:
    """The installed ``vclass`` command: :func:`main`, then :func:`exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """Leave with ``code`` once the command is done, skipping the interpreter's teardown.

    A command's outputs are whole on disk when :func:`main` returns (folders moved into place, files synced), and
    the teardown that follows changes nothing there: it frees every object one by one and unloads OpenVINO's
    plugins and numba's compiler, 0.3-0.8 s after a ``vclass run``. So the exit handlers run (logging, progress bars,
    multiprocessing's children), the standard streams are flushed, and the process ends. While a non-daemon thread
    is still running, Python's own exit is taken instead: it waits for that thread.
    """
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`vclass ... | head`): what Python's own exit reports as 120
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    entry()
