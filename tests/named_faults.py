"""Issue 14's named faults, each a one-line change: inject one, run the science tests, list what fails, revert.

Run from the repository root: ``python tests/named_faults.py [INDEX ...]`` (no index: all of them). Each fault must
fail at least one named test; a fault no test catches is reported as NOT CAUGHT. ECEM's two faults (its fallback
replaced by factor 1, its look-ahead cut to one tick) are for ECEM's own tests (``tests/test_ecem.py``). Not part of
the test suite: it edits the source files in place (and restores them), so never run it beside other work on the
same tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
SCIENCE_TESTS = [
    "tests/test_science_emotion.py",
    "tests/test_science_classroom.py",
    "tests/test_science_measures.py",
    "tests/test_science_filter.py",
    "tests/test_science_losses.py",
    "tests/test_science_baselines.py",
    "tests/test_ecem.py",
]
FAULTS = [
    (
        "confusion transposed in compose_emission",
        "models/hmm.py",
        "composed = np.asarray(expression_given_state) @ np.asarray(confusion)",
        "composed = np.asarray(expression_given_state) @ np.asarray(confusion).T",
    ),
    (
        "confusion transposed where the observer composes its emission model",
        "env/observers.py",
        "self._emission_model = compose_emission(self.emission, self.surrogate.confusion)",
        "self._emission_model = compose_emission(self.emission, self.surrogate.confusion.T)",
    ),
    (
        "tea_share over enrolled instead of present time",
        "sim/measures.py",
        '"tea_share": mean_over("tea_share", m.in_tea, record.present, NOBODY_PRESENT),',
        '"tea_share": float(m.in_tea.mean()),',
    ),
    (
        "reduce-difficulty no longer lowers D",
        "sim/classroom.py",
        "gap_reduced = np.maximum(difficulty - self.reduction * 1.0, 0.0) - self.ability",
        "gap_reduced = np.maximum(difficulty - self.reduction * 0.0, 0.0) - self.ability",
    ),
    (
        "reduce-difficulty no longer costs learning rate",
        "sim/classroom.py",
        "self.rate_kept = 1.0 - cfg.incentives.learning_rate_penalty * np.array([0.0, 1.0])",
        "self.rate_kept = 1.0 - cfg.incentives.learning_rate_penalty * np.array([0.0, 0.0])",
    ),
    (
        "teacher's filter ignores its own incentives (chain)",
        "env/observers.py",
        "prior = self.teacher.step(self.filter.belief, tick, intensity)",
        "prior = self.teacher.step(self.filter.belief, tick, intensity * 0.0)",
    ),
    (
        "teacher's ledger never records its incentives",
        "sim/classroom.py",
        "self.teacher_ledger.apply(t, chosen, factor)  # the same applications: the same strengths",
        "pass",
    ),
    ("yawning in every state", "sim/attention.py", "scales[:, 2] = _LOW_AROUSAL", "scales[:, 2] = 1.0"),
    (
        "eyes-closed probability at 1 (the tick's table)",
        "sim/attention.py",
        "scales[:, 1] = cfg.eyes_closed_prob",
        "scales[:, 1] = 1.0",
    ),
    (
        "eyes-closed probability at 1 (the config default)",
        "sim/config.py",
        "eyes_closed_prob: float = bounded(0.5,",
        "eyes_closed_prob: float = bounded(1.0,",
    ),
    (
        "SCN-CS without calibration weights in the loss",
        "models/train.py",
        "ce = losses.calibrated_cross_entropy(logits, target, weights)",
        "ce = losses.calibrated_cross_entropy(logits, target, None)",
    ),
    (
        "delta2 adaptation reversed (in adapt_delta2)",
        "models/losses.py",
        "            delta2 *= grow\n",
        "            delta2 *= shrink\n",
    ),
    (
        "delta2 adaptation reversed (in the loop's call)",
        "models/train.py",
        'state["delta2"] = losses.adapt_delta2(state["delta2"], val_acc, state["previous_val_acc"])  # eq 6',
        'state["delta2"] = losses.adapt_delta2(state["delta2"], val_acc, state["previous_val_acc"], 0.95, 1.1)',
    ),
    ("calibration-weight EMA never stored", "models/train.py", "labels.calibration[index] = updated.numpy()", "pass"),
    (
        "fading d default wrong (2 / min)",
        "sim/config.py",
        "fading_per_minute: float = bounded(1.0,",
        "fading_per_minute: float = bounded(2.0,",
    ),
    ("check-in boost never fades", "sim/classroom.py", "self.boost *= self.ledger.decay_per_tick", "self.boost *= 1.0"),
    (
        "ECEM's fallback replaced by always factor 1",
        "agents/ecem.py",
        "m = np.where(reached, m, best)",
        "m = np.where(reached, m, 0)",
    ),
    (
        "ECEM's look-ahead cut to 1 tick",
        "agents/ecem.py",
        "self.phi, self.max_lookahead = phi, max_lookahead",
        "self.phi, self.max_lookahead = phi, 1",
    ),
]


def main(only: list[str]) -> int:
    missed = 0
    for index, (name, path, old, new) in enumerate(FAULTS):
        if only and str(index) not in only:
            continue
        source = Path(ROOT) / path
        text = source.read_text()
        if text.count(old) != 1:
            print(f"## {index} {name}: the line to change is not in {path} once; update this script")
            missed += 1
            continue
        source.write_text(text.replace(old, new))
        try:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-o",
                    "addopts=",
                    "-rf",
                    *SCIENCE_TESTS,
                ],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": ROOT},
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            source.write_text(text)
        failed = sorted(set(re.findall(r"^FAILED (\S+?)(?: - |$)", out.stdout, re.M)))
        print(f"## {index} {name} ({path})")
        print("\n".join(f"    {test}" for test in failed) if failed else "    NOT CAUGHT")
        missed += not failed
        sys.stdout.flush()
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
