"""``vclass ship-policy RUN_DIR --evaluation EVAL_DIR``: install a trained policy as ``ppo-<task>`` with a card.

Copies ``RUN_DIR/model.zip`` (a ``vclass train-policy`` folder) to ``agents/shipped/<name>.zip``, the
file ``vclass run --policy <name>`` loads, and writes ``agents/shipped/<name>.md``: the training
command, seed, steps and speed, the environment options, and the measured comparison of a
``vclass evaluate`` folder (its ``results.md``) with the command that produced it. Both files are
written atomically, and nothing is written unless both folders hold what the card needs.

``vclass ship-policy --refresh NAME --evaluation EVAL_DIR`` re-measures an installed policy's card: its "Measured"
section is replaced by the new evaluation and its command (how the policy was made stays as it was, the model is
not touched); for results that moved because the simulator or a baseline changed, not the policy.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from vclass.agents import SHIPPED_DIR
from vclass.config import ConfigError
from vclass.io import atomic_write_bytes, atomic_write_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="a `vclass train-policy` folder (model.zip, train.json)")
    parser.add_argument(
        "--refresh", metavar="NAME", help="instead: rewrite installed policy NAME's measured section (no RUN_DIR)"
    )
    parser.add_argument("--evaluation", required=True, help="a `vclass evaluate` folder of that policy (results.md)")
    parser.add_argument("--name", help="installed name (default ppo-<task>)")
    parser.add_argument("--out", help="where to install (default agents/shipped)")


def _command(argv: list[str]) -> str:
    """The recorded command line, when it was the ``vclass`` console command."""
    if not argv or Path(argv[0]).name != "vclass":
        return "# (not recorded: run from Python, not the vclass command)"
    return " ".join(["vclass", *(shlex.quote(a) for a in argv[1:])])


def _train_command(train: dict) -> str:
    """The training command: as recorded, else rebuilt from ``train.json``'s config."""
    recorded = _command(train.get("command", []))
    if not recorded.startswith("#"):
        return recorded
    config = train.get("config", {})
    flags = [
        ("--task", "task"),
        ("--algo", "algo"),
        ("--timesteps", "timesteps"),
        ("--seed", "seed"),
        ("--students", "students"),
        ("--minutes", "minutes"),
        ("--recognizer", "recognizer"),
        ("--net", "net"),
        ("--n-envs", "n_envs"),
        ("--n-steps", "n_steps"),
        ("--batch-size", "batch_size"),
        ("--n-epochs", "n_epochs"),
        ("--out", "out"),
    ]
    parts = [f"{flag} {config[key]}" for flag, key in flags if config.get(key) is not None]
    return " ".join(["vclass train-policy", *parts])


def policy_card(
    name: str, train: dict, evaluation_md: str, evaluation_run: dict, zip_bytes: int, evaluation_dir: str = "EVAL_DIR"
) -> str:
    meta, summary = train.get("meta", {}), train.get("summary", {})
    options = ", ".join(f"{k} = {v}" for k, v in sorted(meta.get("env_options", {}).items()))
    rate = summary.get("steps_per_second")
    return f"""# Policy card: `{name}`

`agents/shipped/{name}.zip` ({zip_bytes / 1e6:.2f} MB), a stable-baselines3 {meta.get("algo", "?").upper()} model
for the `{meta.get("task")}` task, loaded by `vclass run --policy {name}`. Trained by this project's own
command on the virtual classroom; no outside data.

## How it was made

```bash
{_train_command(train)}
vclass ship-policy {train.get("config", {}).get("out", "RUN_DIR")} --evaluation {evaluation_dir}
```

- Seed {train.get("seed")}, {meta.get("timesteps", 0):,} environment steps{
        "" if not meta.get("per_student") else " (one per student and decision: parameter sharing across students)"
    },
  network `{meta.get("net")}`; {f"{rate:,.0f} steps/s" if rate else "speed not recorded"},
  {summary.get("wall_seconds", 0):.0f} s of training on {train.get("platform", "?")}.
- Environment options: {options}.
- Commit {train.get("git_commit")}.
{measured_section(evaluation_md, evaluation_run)}"""


MEASURED = "\n## Measured\n"


def measured_section(evaluation_md: str, evaluation_run: dict) -> str:
    """A card's "Measured" section: the evaluation command and its results table."""
    return f"""{MEASURED}
```bash
{_command(evaluation_run.get("command", []))}
```

{evaluation_md.strip()}
"""


def refresh(args: argparse.Namespace) -> int:
    """``--refresh NAME``: the installed card of NAME with a new "Measured" section."""
    evaluation = Path(args.evaluation)
    out = Path(args.out) if args.out else SHIPPED_DIR
    card_path = out / f"{args.refresh}.md"
    if "/" in args.refresh or not (out / f"{args.refresh}.zip").is_file() or not card_path.is_file():
        raise ConfigError("--refresh", f"no installed policy {args.refresh!r} with a card in {out}")
    if not (evaluation / "results.md").is_file():
        raise ConfigError("--evaluation", f"no vclass evaluate results at {evaluation} (results.md is missing)")
    card = card_path.read_text()
    if MEASURED not in card:
        raise ConfigError("--refresh", f"{card_path} has no '## Measured' section to replace")
    run_json = evaluation / "run.json"
    evaluation_run = json.loads(run_json.read_text()) if run_json.is_file() else {}
    head = card[: card.index(MEASURED)]
    atomic_write_text(card_path, head + measured_section((evaluation / "results.md").read_text(), evaluation_run))
    print(f"re-measured the card {card_path} from {evaluation}")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.refresh is not None:
        if args.run_dir is not None:
            raise ConfigError("run_dir", "give a train-policy folder or --refresh NAME, not both")
        return refresh(args)
    if args.run_dir is None:
        raise ConfigError("run_dir", "a train-policy folder is needed (or --refresh NAME)")
    run, evaluation = Path(args.run_dir), Path(args.evaluation)
    if not (run / "model.zip").is_file() or not (run / "train.json").is_file():
        raise ConfigError("run_dir", f"no finished train-policy folder at {run} (model.zip and train.json needed)")
    if not (evaluation / "results.md").is_file():
        raise ConfigError("--evaluation", f"no vclass evaluate results at {evaluation} (results.md is missing)")
    train = json.loads((run / "train.json").read_text())
    task = train.get("meta", {}).get("task")
    name = args.name or f"ppo-{task}"
    if not name or "/" in name:
        raise ConfigError("--name", f"must be a plain name, got {name!r}")
    run_json = evaluation / "run.json"
    evaluation_run = json.loads(run_json.read_text()) if run_json.is_file() else {}
    out = Path(args.out) if args.out else SHIPPED_DIR
    out.mkdir(parents=True, exist_ok=True)
    data = (run / "model.zip").read_bytes()
    card = policy_card(name, train, (evaluation / "results.md").read_text(), evaluation_run, len(data), str(evaluation))
    atomic_write_bytes(out / f"{name}.zip", data)
    atomic_write_text(out / f"{name}.md", card)
    print(f"installed {out / (name + '.zip')} ({len(data) / 1e6:.2f} MB) and its card {out / (name + '.md')}")
    return 0
