"""Shared building blocks for the distillation model zoo.

Everything here is small and shape-aware so that each architecture can compute
its flattened feature size analytically (no dummy forward pass) and fail early
with a clear message when an image is too small for it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

NORMS = ("instance", "batch", "group", "layer", "none")
ACTIVATIONS = ("relu", "leakyrelu", "sigmoid", "gelu")
POOLINGS = ("avg", "max", "none")


def to_hw(image_size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Normalise an image size given as ``int`` or ``(H, W)`` to a validated pair."""
    if isinstance(image_size, int):
        hw = (image_size, image_size)
    else:
        hw = tuple(int(s) for s in image_size)
    if len(hw) != 2 or min(hw) < 1:
        raise ValueError(f"image_size must be a positive int or (H, W) pair, got {image_size!r}")
    return hw  # type: ignore[return-value]


def check_common(channels: int, num_classes: int) -> None:
    """Validate arguments shared by every architecture."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")


def check_choice(kind: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` lower-cased if it is one of ``choices``, else raise ValueError."""
    key = str(value).lower()
    if key not in choices:
        raise ValueError(f"unknown {kind} {value!r}; choose from {list(choices)}")
    return key


def _out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a conv/pool window along one axis (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


class ShapeTracker:
    """Follows the (C, H, W) shape of a feature map while layers are being built.

    Raises a ValueError naming the architecture and the input image size as soon
    as the spatial size would drop below 1 pixel.
    """

    def __init__(self, arch: str, channels: int, hw: tuple[int, int]) -> None:
        self.arch = arch
        self.input_hw = hw
        self.c, self.h, self.w = channels, hw[0], hw[1]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.c, self.h, self.w)

    @property
    def numel(self) -> int:
        return self.c * self.h * self.w

    def _update(self, c: int, h: int, w: int, what: str) -> None:
        if h < 1 or w < 1:
            raise ValueError(
                f"{self.arch} cannot process {self.input_hw[0]}x{self.input_hw[1]} images: "
                f"the feature map shrinks to {h}x{w} at {what}; use larger images"
            )
        self.c, self.h, self.w = c, h, w

    def conv(self, out_channels: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        h, w = (_out_size(s, kernel, stride, padding) for s in (self.h, self.w))
        self._update(out_channels, h, w, f"a {kernel}x{kernel} conv")

    def pool(self, kernel: int = 2, stride: int = 2) -> None:
        h, w = (_out_size(s, kernel, stride, 0) for s in (self.h, self.w))
        self._update(self.c, h, w, f"a {kernel}x{kernel} pooling")


def make_norm(kind: str, channels: int, shape: tuple[int, int, int] | None = None) -> nn.Module:
    """Normalisation layer as in the reference code.

    ``instance`` is GroupNorm with one group per channel (affine), which the
    reference uses instead of InstanceNorm2d so the affine parameters exist.
    ``layer`` normalises over (C, H, W) and therefore needs the feature shape.
    """
    kind = check_choice("norm", kind, NORMS)
    if kind == "instance":
        return nn.GroupNorm(channels, channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    if kind == "group":
        if channels % 4:
            raise ValueError(f"norm 'group' uses 4 groups and needs channels divisible by 4, got {channels}")
        return nn.GroupNorm(4, channels, affine=True)
    if kind == "layer":
        if shape is None:
            raise ValueError("norm 'layer' is only supported where the feature shape is known (ConvNet)")
        return nn.LayerNorm(list(shape), elementwise_affine=True)
    return nn.Identity()


def make_activation(kind: str) -> nn.Module:
    """Activation layer; non-inplace so functional / higher-order use stays safe."""
    kind = check_choice("activation", kind, ACTIVATIONS)
    if kind == "relu":
        return nn.ReLU()
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope=0.01)
    if kind == "sigmoid":
        return nn.Sigmoid()
    return nn.GELU()


def make_pool(kind: str) -> nn.Module:
    """2x2 stride-2 pooling layer, or identity for ``"none"``."""
    kind = check_choice("pooling", kind, POOLINGS)
    if kind == "avg":
        return nn.AvgPool2d(kernel_size=2, stride=2)
    if kind == "max":
        return nn.MaxPool2d(kernel_size=2, stride=2)
    return nn.Identity()


class EmbedClassifier(nn.Module):
    """Base class: ``forward(x) = classifier(embed(x))``.

    Subclasses provide ``features`` (any module mapping images to a tensor whose
    flattened size is ``feature_dim``); ``classifier`` is a linear head.
    """

    def __init__(self, features: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.feature_dim = int(feature_dim)
        self.num_classes = int(num_classes)
        self.classifier = nn.Linear(self.feature_dim, self.num_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Flattened penultimate features, shape ``(N, feature_dim)``."""
        return torch.flatten(self.features(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.embed(x))
