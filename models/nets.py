"""Recognizer networks, built by name from a registry (timm style).

Every model maps a batch of grayscale faces ``(N, 1, H, W)``, float32 in
``[0, 1]`` (see :func:`vclass.models.recognizer.frames_to_input`, the one place that
scales uint8 frames), to a :class:`RecognizerOutput`:

=====================  ============  =================================================
field                  shape         meaning
=====================  ============  =================================================
``expression_logits``  ``(N, 7)``    logits over :data:`EXPRESSIONS`
``attribute_logits``   ``(N, 3)``    logits of :data:`ATTRIBUTES` (``None`` without head)
``alpha``              ``(N,)``      SCN importance in ``(0, 1)`` (``None`` for ``baseline``)
=====================  ============  =================================================

Models (``list_models()``):

- ``baseline``: ResNet-18-style backbone, pooled feature ``x_i``, linear head.
- ``scn``: the same backbone with the self-cure importance branch (S3 eq 1):
  ``alpha_i = sigmoid(w_a . x_i + b_a)`` and logits ``alpha_i * (W x_i + b)``.
  Rank regularization and relabeling (eqs 2-3) live in :mod:`vclass.models.losses`
  and :mod:`vclass.models.train`.
- ``scn-cs``: the same network as ``scn``; the calibration strategy (eqs 4-6)
  is a training-time change only.

Each takes ``attributes=True`` to add the S0 multi-task head (3 sigmoid
outputs: eyes closed, yawning, looking away).

The backbone is BasicBlock x [2, 2, 2, 2] with configurable ``widths`` and a
3x3 stem whose stride (``stem_stride``, 1 or 2) sets the working resolution:
at 64x64 a stride-2 stem runs the first stage at 32x32, about 4x cheaper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

from vclass.models.datasets import ATTRIBUTE_NAMES as ATTRIBUTES
from vclass.models.datasets import CLASS_NAMES as EXPRESSIONS

DEFAULT_WIDTHS = (16, 32, 64, 128)
DEFAULT_STEM_STRIDE = 2
DEFAULT_INPUT_SIZE = (64, 64)


class RecognizerOutput(NamedTuple):
    """What every recognizer network returns (see the module docstring)."""

    expression_logits: torch.Tensor
    attribute_logits: torch.Tensor | None
    alpha: torch.Tensor | None


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv-BN layers and an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetBackbone(nn.Module):
    """ResNet-18-style feature extractor: stem, four stages of BasicBlocks, global average pool.

    :param widths: channels of the four stages.
    :param blocks: BasicBlocks per stage (ResNet-18: 2, 2, 2, 2).
    :param stem_stride: stride of the 3x3 stem conv (1 keeps full resolution, 2 halves it).
    :param in_channels: input channels (1 for grayscale).
    """

    def __init__(
        self,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        stem_stride: int = DEFAULT_STEM_STRIDE,
        in_channels: int = 1,
    ):
        super().__init__()
        if len(widths) != len(blocks):
            raise ValueError(f"widths {widths} and blocks {blocks} must have the same length")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages = []
        channels = widths[0]
        for i, (width, count) in enumerate(zip(widths, blocks)):
            layers = [BasicBlock(channels, width, stride=1 if i == 0 else 2)]
            layers += [BasicBlock(width, width) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block: blocks start as identities
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.stages(self.stem(x))), 1)


class ExpressionNet(nn.Module):
    """Backbone, optional SCN importance branch, expression head and optional attribute head.

    :param widths, stem_stride: backbone shape (see :class:`ResNetBackbone`).
    :param importance: add the S3 eq 1 importance branch (``scn``, ``scn-cs``).
    :param attributes: add the S0 attribute head (3 logits).
    :param dropout: dropout on the pooled feature before the heads (training only).
    :param standardize: first scale each frame to zero mean and unit variance (removes the
        brightness and contrast a camera and lighting add; part of the network, so every
        backend does it).
    :param num_classes: expression classes (7).
    """

    def __init__(
        self,
        widths: tuple[int, ...] = DEFAULT_WIDTHS,
        stem_stride: int = DEFAULT_STEM_STRIDE,
        importance: bool = True,
        attributes: bool = True,
        dropout: float = 0.0,
        standardize: bool = True,
        num_classes: int = len(EXPRESSIONS),
    ):
        super().__init__()
        self.standardize = standardize
        self.backbone = ResNetBackbone(tuple(widths), stem_stride=stem_stride)
        features = self.backbone.num_features
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(features, num_classes)  # W x_i + b
        self.importance = nn.Linear(features, 1) if importance else None  # S3 eq 1: w_a . x_i + b_a
        self.attribute_head = nn.Linear(features, len(ATTRIBUTES)) if attributes else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled feature ``x_i``, shape ``(N, C)``."""
        if self.standardize:
            centered = x - x.mean(dim=(2, 3), keepdim=True)
            x = centered / torch.sqrt(centered.pow(2).mean(dim=(2, 3), keepdim=True) + 1e-4)
        return self.backbone(x)

    def forward_head(self, features: torch.Tensor) -> RecognizerOutput:
        """Heads on pooled features: expression logits, attribute logits (or None), alpha (or None)."""
        features = self.dropout(features)
        logits = self.classifier(features)
        alpha = None
        if self.importance is not None:
            alpha = torch.sigmoid(self.importance(features)).squeeze(1)  # S3 eq 1
            logits = alpha.unsqueeze(1) * logits
        attribute_logits = self.attribute_head(features) if self.attribute_head is not None else None
        return RecognizerOutput(logits, attribute_logits, alpha)

    def forward(self, x: torch.Tensor) -> RecognizerOutput:
        return self.forward_head(self.forward_features(x))


_REGISTRY: dict[str, Callable[..., ExpressionNet]] = {}


def register_model(name: str) -> Callable[[Callable[..., ExpressionNet]], Callable[..., ExpressionNet]]:
    """Decorator: make a model factory available to :func:`create_model` under ``name``."""

    def wrap(factory: Callable[..., ExpressionNet]) -> Callable[..., ExpressionNet]:
        _REGISTRY[name] = factory
        return factory

    return wrap


@register_model("baseline")
def baseline(**kwargs: Any) -> ExpressionNet:
    """Backbone + linear softmax head, no importance branch."""
    return ExpressionNet(importance=False, **kwargs)


@register_model("scn")
def scn(**kwargs: Any) -> ExpressionNet:
    """Self-cure network: importance-weighted logits (S3 eq 1)."""
    return ExpressionNet(importance=True, **kwargs)


@register_model("scn-cs")
def scn_cs(**kwargs: Any) -> ExpressionNet:
    """SCN with the calibration strategy; same network as ``scn`` (eqs 4-6 act in training)."""
    return ExpressionNet(importance=True, **kwargs)


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> ExpressionNet:
    """Build model ``name`` with keyword arguments of :class:`ExpressionNet` (``widths``, ``attributes``...).

    The returned module remembers how it was built in ``model.build_args`` (``name`` + kwargs), which
    :mod:`vclass.models.train` saves next to the weights so a checkpoint can be rebuilt without code edits.

    :raises ValueError: for an unknown name.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    model = _REGISTRY[name](**kwargs)
    model.build_args = {  # type: ignore[assignment]  # a plain attribute, not a submodule
        "name": name,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()},
    }
    return model


def model_from_build_args(build_args: dict[str, Any]) -> ExpressionNet:
    """Inverse of ``model.build_args``: rebuild an (untrained) model."""
    args = dict(build_args)
    name = args.pop("name")
    if "widths" in args:
        args["widths"] = tuple(args["widths"])
    return create_model(name, **args)


class InferenceWrapper(nn.Module):
    """What every backend runs: frames in ``[0, 1]`` -> (expression probs (N, 7), attribute probs (N, 3)).

    Softmax over the (importance-weighted) expression logits; sigmoid over the attribute logits.
    A model without an attribute head outputs NaN attribute probabilities (never fake zeros).
    """

    def __init__(self, model: ExpressionNet):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(frames)
        expression_probs = torch.softmax(out.expression_logits.float(), dim=1)
        if out.attribute_logits is None:
            # derived from a batch tensor so the ONNX batch axis stays dynamic under tracing
            attribute_probs = expression_probs[:, : len(ATTRIBUTES)] * float("nan")
        else:
            attribute_probs = torch.sigmoid(out.attribute_logits.float())
        return expression_probs, attribute_probs


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_size: tuple[int, int] = DEFAULT_INPUT_SIZE) -> int:
    """Floating-point operations of one face through ``model`` (2 per multiply-add of convs and linears).

    Counted with forward hooks on one zero frame; BatchNorm, activations and pooling are left out
    (under 2% here), so this is the figure to hold against a GPU's matrix-math peak.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        total += 2 * per_output * output[0].numel()

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        total += 2 * module.in_features * module.out_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros((1, 1, *input_size)))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total
