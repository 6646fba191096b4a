"""The ``vclass`` command. Each subcommand lives in its own module, imported only when used.

A command module provides ``HELP`` (one line), ``add_arguments(parser)`` and
``main(args) -> int``. Config errors print one line naming the field and its
allowed range and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vclass.config import ConfigError

COMMANDS = {
    "run": "experiments.run",
    "bench": "experiments.bench",
    "fit-hmm": "experiments.fit_hmm",
    "experiment": "experiments.s0_2x2",
    "make-faces": "experiments.make_faces",
    "train-policy": "experiments.train_policy",
    "evaluate": "experiments.evaluate_policies",
    "train-recognizer": "experiments.train_recognizer",
    "eval-recognizer": "experiments.eval_recognizer",
    "export": "experiments.export_recognizer",
    "ship-recognizer": "experiments.ship_recognizer",
    "ship-policy": "experiments.ship_policy",
    "sweep": "experiments.sweep",
    "report": "experiments.sweep_report",
    "regress": "experiments.regress",
    "ablation": "experiments.ablation",
    "face-ceiling": "experiments.face_ceiling",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vclass", description="Virtual online classroom testbed.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_main=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._main(args) or 0)
    except ConfigError as err:
        print(f"vclass {args.command}: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
