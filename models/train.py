"""Train a recognizer (``baseline``, ``scn`` or ``scn-cs``) on a face dataset folder.

Reads top to bottom: :class:`TrainConfig`, then setup, then the epoch loop,
then the final evaluation. What each model trains with (SPEC §5):

============  =======================================================================
model         expression-batch loss and label handling
============  =======================================================================
baseline      cross-entropy
scn           CE on importance-weighted logits + rank regularization ``L_RR`` (eq 2);
              from epoch ``r`` low-importance samples are relabeled with a fixed
              ``delta2`` (eq 3)
scn-cs        ``mean(cw_i * CE_i)`` with per-sample calibration weights kept as an EMA
              (eq 4) + ``L_CS`` (eq 5); relabel threshold ``delta2 * cw_i`` with
              ``delta2`` adapted each epoch on validation accuracy (eq 6)
============  =======================================================================

With an attribute head, S0's alternation runs ``k = attribute_batches``
attribute batches (BCE over eyes closed, yawning, looking away) before each
expression batch; ``k = 0`` adds the BCE to every expression batch instead.
An epoch is one pass of expression batches over the training split; the
attribute batches come from their own shuffled stream.

Label noise: ``noise = "none"`` trains on the split's stored ``labels``;
``"KIND:RATE"`` (e.g. ``symmetric:0.2``) re-draws the training labels from
``clean_labels`` with :func:`vclass.models.datasets.inject_label_noise` (seeded by
``seed``), so one clean dataset serves every noise condition. Validation
accuracy (used by eq 6) is measured against the validation split's stored
labels, as a practitioner would; the clean-label figure is logged beside it.

Outputs in ``out``: ``config.json``; per epoch ``checkpoint.pt`` (atomic),
``train_log.jsonl`` (one JSON object per finished epoch) and TensorBoard
scalars under ``tb/``; at the end ``model.pt`` (weights + build arguments),
``metrics.json`` (clean test metrics), ``confusion.json`` and ``confusion.png``.

Determinism: every epoch's shuffles, augmentation and dropout draw from
generators seeded by ``(seed, epoch)``, so a run resumed from its checkpoint
after epoch e continues bit for bit (same thread count, same machine).
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vclass.config import ConfigError, bounded, from_dict, to_dict
from vclass.io import atomic_write_bytes, atomic_write_text, write_json
from vclass.models.datasets import (
    FaceSplit,
    inject_label_noise,
    load_dataset,
    load_meta,
    parse_noise_spec,
    render_split,
)
from vclass.models.evaluate import evaluate, plot_confusion, predict_in_batches, write_confusion_json
from vclass.models.recognizer import frames_to_input

CHECKPOINT_FORMAT = "vclass-train-checkpoint-1"
MODEL_FORMAT = "vclass-recognizer-1"
CW_THRESHOLD_READINGS = ("multiply", "divide")  # eq 6: delta2 * cw_i (SPEC) or delta2 / cw_i
FRESH_RENDER_BATCH = 1024  # faces per render call of a fresh training split; part of its random stream


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``config.json`` and inside every checkpoint)."""

    model: str = bounded("scn-cs", doc="registry name: baseline, scn or scn-cs")
    widths: tuple[int, ...] = bounded((16, 32, 64, 128), ge=1, le=1024, length=4, doc="backbone stage widths")
    stem_stride: int = bounded(2, ge=1, le=2, doc="stride of the stem conv (2 halves the working resolution)")
    attributes: bool = bounded(True, doc="S0 multi-task attribute head")
    dropout: float = bounded(0.1, ge=0, lt=1, doc="dropout on the pooled feature")
    standardize: bool = bounded(True, doc="per-frame zero-mean unit-variance input scaling inside the net")
    data: str = bounded("", doc="dataset folder ({train,val,test}.npz + meta.json)")
    noise: str = bounded("none", doc="'none' (use stored labels) or KIND:RATE label noise on train/val")
    out: str = bounded("runs/recognizer", doc="output folder")
    epochs: int = bounded(12, ge=1, le=10_000)
    batch_size: int = bounded(64, ge=2, le=4096)
    lr: float = bounded(3e-3, gt=0, le=10, doc="peak AdamW learning rate (warm-up, then cosine decay)")
    weight_decay: float = bounded(5e-4, ge=0, le=1)
    seed: int = bounded(0, ge=0, le=2**31 - 1)
    relabel_start_epoch: int = bounded(4, ge=1, le=10_000, doc="r: first epoch (1-based) that relabels (eq 3)")
    beta: float = bounded(0.7, gt=0, lt=1, doc="share of a batch in the high-importance group (eq 2)")
    delta1: float = bounded(0.15, ge=0, le=1, doc="rank margin at batch 1024, scaled to the batch (eq 2)")
    delta2: float = bounded(0.2, ge=0, le=1, doc="relabel margin (eq 3); initial value for scn-cs (eq 6)")
    gamma: float = bounded(0.1, ge=0, le=10, doc="weight of misclassified importance in L_CS (eq 5), from epoch r on")
    cw_momentum: float = bounded(0.9, ge=0, lt=1, doc="EMA momentum of calibration weights (eq 4)")
    cw_threshold: str = bounded(
        "multiply",
        doc="eq 6 reading: 'multiply' (delta2 * cw_i, SPEC) or 'divide' "
        "(delta2 / cw_i: low-importance samples need a wider margin)",
    )
    attribute_batches: int = bounded(2, ge=0, le=10, doc="k attribute batches per expression batch (S0)")
    augment: bool = bounded(True, doc="random horizontal flips and shifts of up to 2 px")
    fresh_train: bool = bounded(
        False,
        doc="render a new training split (same size) every epoch instead of reusing "
        "the dataset's; synthetic faces only, no label noise",
    )
    threads: int = bounded(1, ge=1, le=256, doc="torch intra-op threads")
    progress: bool = bounded(True, doc="tqdm progress bar")

    def check(self) -> None:
        from vclass.models.nets import list_models

        if self.model not in list_models():
            raise ConfigError("model", f"must be one of {', '.join(list_models())}, got {self.model!r}")
        if self.fresh_train and self.noise != "none":
            raise ConfigError(
                "fresh_train", f"renders clean labels every epoch, so noise must be 'none', got {self.noise!r}"
            )
        if self.cw_threshold not in CW_THRESHOLD_READINGS:
            raise ConfigError(
                "cw_threshold", f"must be one of {', '.join(CW_THRESHOLD_READINGS)}, got {self.cw_threshold!r}"
            )
        parse_noise(self.noise)


def parse_noise(spec: str) -> tuple[str, float] | None:
    """``"none"`` -> None; ``"KIND:RATE"`` -> (kind, rate) (see :func:`vclass.models.datasets.parse_noise_spec`)."""

    if spec == "none":
        return None
    try:
        return parse_noise_spec(spec)
    except ValueError as err:
        raise ConfigError("noise", f"must be 'none' or KIND:RATE: {err}") from None


@dataclass
class TrainResult:
    """What :func:`train_recognizer` returns."""

    out: Path
    finished: bool  # all configured epochs done (False when a callback stopped early)
    history: list[dict[str, Any]]  # one record per finished epoch (the train_log.jsonl lines)
    metrics: dict[str, Any] | None  # clean test metrics when finished


# ------------------------------------------------------------------ data


@dataclass
class _Labels:
    """Training-label state that relabeling changes (saved in checkpoints)."""

    current: np.ndarray  # int64, what the loss uses now
    given: np.ndarray  # the labels training started from (noisy)
    clean: np.ndarray  # ground truth, only for logging
    calibration: np.ndarray  # float32 per-sample calibration weight EMA (eq 4), starts at 1


def _load_data(config: TrainConfig) -> dict[str, Any]:
    if not config.data:
        raise ConfigError("data", "a dataset folder is required")
    try:
        splits = load_dataset(config.data)
    except FileNotFoundError as err:
        raise ConfigError("data", f"no dataset at {config.data}: {err}") from None
    noise = parse_noise(config.noise)
    if noise is not None:
        kind, rate = noise
        for offset, name in enumerate(("train", "val")):
            split = splits[name]
            rng = np.random.default_rng([config.seed, 7919, offset])
            noisy = inject_label_noise(split.clean_labels, kind, rate, rng)
            splits[name] = dataclasses.replace(split, labels=np.asarray(noisy, dtype=np.int64))
    return splits


def fresh_train_split(n: int, size: int, seed: int, epoch: int):
    """The training split of epoch ``epoch`` under ``fresh_train``: ``n`` newly rendered clean faces.

    Seeded by (``seed``, ``epoch``) alone, so a resumed run renders the same faces again.
    """

    arrays = render_split(n, np.random.default_rng([seed, 0xFACE, epoch]), size, batch=FRESH_RENDER_BATCH)
    return FaceSplit(labels=arrays["clean_labels"].astype(np.int64), **arrays)


def _augment(images: np.ndarray, rng: np.random.Generator, shift: int = 2) -> np.ndarray:
    """Random horizontal flip and integer shift (edge padding) of each uint8 frame; vectorized."""
    n, height, width = images.shape
    flip = np.asarray(rng.random(n)) < 0.5
    images = np.where(flip[:, None, None], images[:, :, ::-1], images)
    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift)), mode="edge")
    dy = np.asarray(rng.integers(0, 2 * shift + 1, n))
    dx = np.asarray(rng.integers(0, 2 * shift + 1, n))
    rows = dy[:, None] + np.arange(height)[None, :]
    cols = dx[:, None] + np.arange(width)[None, :]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _batch_tensor(images: np.ndarray, rng: np.random.Generator | None):
    import torch

    if rng is not None:
        images = _augment(images, rng)
    return torch.from_numpy(frames_to_input(images))


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split a permutation into ceil(n / batch_size) nearly equal batches (no tiny last batch)."""
    return np.array_split(order, max(1, math.ceil(len(order) / batch_size)))


# ------------------------------------------------------------------ setup helpers


def _seed_everything(seed: int, epoch: int) -> np.random.Generator:
    """Seed torch's global generator and return the numpy generator for one epoch."""
    import torch

    torch.manual_seed((seed * 1_000_003 + epoch) % 2**63)
    return np.random.default_rng([seed, epoch])


def _make_scheduler(optimizer, total_steps: int, warmup_steps: int):
    import torch

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def torch_predictor(model) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A ``predict(frames)`` function for an in-memory model (eval mode, no grad)."""
    import torch

    from vclass.models.nets import InferenceWrapper

    wrapper = InferenceWrapper(model)

    def predict(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        model.eval()
        with torch.inference_mode():
            expression, attributes = wrapper(torch.from_numpy(frames_to_input(frames)))
        return expression.numpy(), attributes.numpy()

    return predict


def save_model_file(model, config: TrainConfig, path: Path, input_size: tuple[int, int]) -> None:
    """``model.pt``: weights, build arguments and input size (what
    :func:`vclass.models.modelfile.load_torch_model` reads)."""
    import torch

    buffer = io.BytesIO()
    torch.save(
        {
            "format": MODEL_FORMAT,
            "build_args": model.build_args,
            "state_dict": model.state_dict(),
            "input_size": list(input_size),
            "config": to_dict(config),
        },
        buffer,
    )
    atomic_write_bytes(path, buffer.getvalue())


# ------------------------------------------------------------------ the run


def train_recognizer(
    config: TrainConfig, resume: bool = False, callback: Callable[[dict[str, Any]], bool | None] | None = None
) -> TrainResult:
    """Train, checkpoint every epoch, evaluate on the clean test split; see the module docstring.

    :param config: the run's settings (``config.out`` is the output folder).
    :param resume: continue from ``out/checkpoint.pt`` (its config must equal ``config``).
    :param callback: called with each epoch's log record after its checkpoint is written;
        returning ``False`` stops training there (the run can be resumed later).
    :raises ConfigError: bad data folder, or ``resume`` without a matching checkpoint.
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.tensorboard import SummaryWriter

    from vclass.models import losses
    from vclass.models.nets import create_model

    # --- setup
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.threads)
    try:
        torch.use_deterministic_algorithms(True)
    except RuntimeError:  # pragma: no cover - not every build allows it
        pass
    splits = _load_data(config)
    train, val = splits["train"], splits["val"]
    if config.fresh_train:
        source = load_meta(config.data).get("source")
        if source != "synthetic":
            raise ConfigError("fresh_train", f"renders synthetic faces, but {config.data} holds {source!r} faces")
    input_size = tuple(train.images.shape[1:])
    n_train = len(train.labels)
    _seed_everything(config.seed, 0)
    model = create_model(
        config.model,
        widths=tuple(config.widths),
        stem_stride=config.stem_stride,
        attributes=config.attributes,
        dropout=config.dropout,
        standardize=config.standardize,
    )
    uses_importance = model.importance is not None
    calibrated = config.model == "scn-cs"
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    expression_steps = len(_batches(np.arange(n_train), config.batch_size))
    k = config.attribute_batches if config.attributes else 0
    steps_per_epoch = expression_steps * (1 + k)
    total_steps = config.epochs * steps_per_epoch
    scheduler = _make_scheduler(optimizer, total_steps, max(1, min(steps_per_epoch, total_steps // 20)))
    delta1 = losses.scaled_delta1(config.batch_size, config.delta1)
    labels = _Labels(
        current=train.labels.astype(np.int64).copy(),
        given=train.labels.astype(np.int64).copy(),
        clean=train.clean_labels.astype(np.int64),
        calibration=np.ones(n_train, np.float32),
    )
    attribute_targets = torch.from_numpy(train.attributes.astype(np.float32))
    state: dict[str, Any] = {"epoch": 0, "delta2": config.delta2, "previous_val_acc": None, "history": []}

    checkpoint_path = out / "checkpoint.pt"
    if resume:
        if not checkpoint_path.is_file():
            raise ConfigError("resume", f"no checkpoint to resume from at {checkpoint_path}")
        try:
            saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - corrupted / truncated file
            raise ConfigError(
                "resume", f"{checkpoint_path} cannot be read ({type(err).__name__}); delete it to start over"
            ) from None
        if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError("resume", f"{checkpoint_path} is not a vclass training checkpoint")
        stored = normalized_config(saved["config"])
        if stored != to_dict(config):
            diff = sorted(k for k, v in to_dict(config).items() if stored.get(k) != v)
            raise ConfigError(
                "resume",
                f"the checkpoint was made with different settings ({', '.join(diff)}); resume with the same settings",
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        labels = _Labels(**{name: value.numpy().copy() for name, value in saved["labels"].items()})
        state = saved["state"]
    write_json(out / "config.json", to_dict(config))

    writer = SummaryWriter(str(out / "tb"))
    # --- the epoch loop
    while state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        started = time.perf_counter()
        if config.fresh_train:  # a new clean training split: fresh per-sample label state too
            train = fresh_train_split(n_train, input_size[0], config.seed, epoch)
            labels = _Labels(
                current=train.labels.copy(),
                given=train.labels.copy(),
                clean=train.clean_labels,
                calibration=np.ones(n_train, np.float32),
            )
            attribute_targets = torch.from_numpy(train.attributes.astype(np.float32))
        rng = _seed_everything(config.seed, epoch)
        model.train()
        expression_batches = _batches(rng.permutation(n_train), config.batch_size)
        # the attribute stream: k shuffled passes, cut into k batches per expression batch
        attribute_batches = (
            np.array_split(np.concatenate([rng.permutation(n_train) for _ in range(k)]), k * expression_steps)
            if k
            else []
        )
        sums = {
            "loss": 0.0,
            "ce": 0.0,
            "regularizer": 0.0,
            "attribute_loss": 0.0,
            "correct": 0,
            "seen": 0,
            "relabeled": 0,
            "relabel_corrections": 0,
            "alpha": 0.0,
        }
        relabel_now = uses_importance and epoch >= config.relabel_start_epoch
        bar = tqdm(
            total=expression_steps,
            desc=f"epoch {epoch}/{config.epochs}",
            disable=not config.progress,
            leave=False,
            unit="batch",
        )
        for step, index in enumerate(expression_batches):
            # S0 eqs 1-2: k attribute batches, then one expression batch
            for attribute_index in attribute_batches[step * k : (step + 1) * k]:
                output = model(_batch_tensor(train.images[attribute_index], rng if config.augment else None))
                attribute_loss = F.binary_cross_entropy_with_logits(
                    output.attribute_logits, attribute_targets[attribute_index]
                )
                optimizer.zero_grad(set_to_none=True)
                attribute_loss.backward()
                optimizer.step()
                scheduler.step()
                sums["attribute_loss"] += float(attribute_loss.detach()) / max(1, k)

            target = torch.from_numpy(labels.current[index])
            output = model(_batch_tensor(train.images[index], rng if config.augment else None))
            logits, alpha = output.expression_logits, output.alpha
            regularizer = torch.zeros(())
            weights = None
            if calibrated:
                # S3 eq 4: per-sample calibration weights, an EMA across epochs
                batch_weights = losses.batch_calibration_weights(alpha)
                updated = losses.update_calibration_ema(
                    torch.from_numpy(labels.calibration[index]), batch_weights, config.cw_momentum
                )
                labels.calibration[index] = updated.numpy()
                weights = updated
                # eq 5; its misclassification term waits for epoch r like relabeling: from scratch nearly every
                # sample is misclassified at first, and pushing all of alpha down shrinks every logit (alpha
                # scales them, eq 1) until the net stops learning (measured: chance accuracy after 2 epochs)
                gamma = config.gamma if relabel_now else 0.0
                regularizer = losses.cs_loss(alpha, logits, target, config.beta, delta1, gamma)
            elif uses_importance:
                regularizer = losses.rank_regularization(alpha, config.beta, delta1)  # eq 2
            ce = losses.calibrated_cross_entropy(logits, target, weights)
            loss = ce + regularizer
            if output.attribute_logits is not None and k == 0:
                attribute_loss = F.binary_cross_entropy_with_logits(output.attribute_logits, attribute_targets[index])
                loss = loss + attribute_loss
                sums["attribute_loss"] += float(attribute_loss.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()

            predicted = logits.detach().argmax(dim=1)
            sums["loss"] += float(loss.detach())
            sums["ce"] += float(ce.detach())
            sums["regularizer"] += float(regularizer.detach())
            sums["correct"] += int((predicted == target).sum())
            sums["seen"] += len(index)
            if alpha is not None:
                sums["alpha"] += float(alpha.detach().mean())
            if relabel_now:
                # S3 eq 3 (scn) / eq 6 (scn-cs): relabel confident disagreements in the low-importance group
                threshold = (
                    losses.calibrated_threshold(state["delta2"], weights, config.cw_threshold)
                    if calibrated and weights is not None
                    else state["delta2"]
                )
                low = losses.low_importance_mask(alpha, config.beta)
                new, changed = losses.relabel(torch.softmax(logits.detach(), dim=1), target, low, threshold)
                changed_np = changed.numpy()
                if changed_np.any():
                    new_np = new.numpy()
                    changed_index = index[changed_np]
                    sums["relabeled"] += int(changed_np.sum())
                    sums["relabel_corrections"] += int((new_np[changed_np] == labels.clean[changed_index]).sum())
                    labels.current[changed_index] = new_np[changed_np]
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / (step + 1):.3f}", acc=f"{sums['correct'] / sums['seen']:.3f}")
        bar.close()

        # --- end of epoch: validation, eq 6 delta2 adaptation, log, checkpoint
        val_expression, _ = predict_in_batches(torch_predictor(model), val.images)
        val_predicted = val_expression.argmax(axis=1)
        val_acc = float(np.mean(val_predicted == val.labels))
        val_acc_clean = float(np.mean(val_predicted == val.clean_labels))
        record = {
            "epoch": epoch,
            "loss": sums["loss"] / expression_steps,
            "ce": sums["ce"] / expression_steps,
            "regularizer": sums["regularizer"] / expression_steps,
            "attribute_loss": sums["attribute_loss"] / expression_steps if config.attributes else None,
            "train_acc": sums["correct"] / sums["seen"],
            "val_acc": val_acc,
            "val_acc_clean": val_acc_clean,
            "relabeled": sums["relabeled"],
            "relabel_corrections": sums["relabel_corrections"],
            "label_noise_now": float(np.mean(labels.current != labels.clean)),
            "label_noise_given": float(np.mean(labels.given != labels.clean)),
            "alpha_mean": sums["alpha"] / expression_steps if uses_importance else None,
            "delta1": delta1,
            "delta2": state["delta2"],
            "lr": float(optimizer.param_groups[0]["lr"]),
            "seconds": round(time.perf_counter() - started, 3),
        }
        if calibrated:
            state["delta2"] = losses.adapt_delta2(state["delta2"], val_acc, state["previous_val_acc"])  # eq 6
        state["previous_val_acc"] = val_acc
        state["epoch"] = epoch
        state["history"].append(record)

        buffer = io.BytesIO()
        torch.save(
            {
                "format": CHECKPOINT_FORMAT,
                "config": to_dict(config),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "labels": {name: torch.from_numpy(value) for name, value in dataclasses.asdict(labels).items()},
                "state": state,
            },
            buffer,
        )
        atomic_write_bytes(checkpoint_path, buffer.getvalue())
        atomic_write_text(
            out / "train_log.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in state["history"])
        )
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)):
                writer.add_scalar(f"train/{key}", value, epoch)
        writer.flush()
        if config.progress:
            tqdm.write(
                f"epoch {epoch}: loss {record['loss']:.4f} train acc {record['train_acc']:.3f} "
                f"val acc {val_acc:.3f} (clean {val_acc_clean:.3f}) relabeled {record['relabeled']} "
                f"({record['relabel_corrections']} corrections) {record['seconds']:.0f}s"
            )
        if callback is not None and callback(record) is False:
            writer.close()
            return TrainResult(out, False, list(state["history"]), None)

    # --- final outputs
    writer.close()

    save_model_file(model, config, out / "model.pt", input_size)
    test = splits["test"]
    metrics = evaluate(torch_predictor(model), test)
    metrics.update(
        model=config.model,
        noise=config.noise,
        epochs=config.epochs,
        seed=config.seed,
        widths=list(config.widths),
        stem_stride=config.stem_stride,
        split="test (clean labels)",
        train_seconds=round(sum(r["seconds"] for r in state["history"]), 1),
    )
    write_json(out / "metrics.json", metrics)
    write_confusion_json(metrics, out / "confusion.json", source=f"{out}/model.pt on the clean test split")
    plot_confusion(
        metrics, out / "confusion.png", title=f"{config.model}, noise {config.noise}: test top-1 {metrics['top1']:.3f}"
    )
    return TrainResult(out, True, list(state["history"]), metrics)


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Validated :class:`TrainConfig` from plain data (raises :class:`ConfigError` naming the field)."""
    return from_dict(TrainConfig, data)


def normalized_config(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored ``config.json`` with the fields added since it was written at their defaults (which is what
    that run used), so that runs made before a new option compare equal to the same settings now."""
    return {**to_dict(TrainConfig()), **stored}
