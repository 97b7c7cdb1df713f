"""The ConvNet used throughout the dataset distillation literature (DC/DSA/DM)."""

from __future__ import annotations

import re
from typing import Any

from torch import nn

from .layers import (
    EmbedClassifier,
    ShapeTracker,
    check_choice,
    check_common,
    make_activation,
    make_norm,
    make_pool,
    NORMS,
    ACTIVATIONS,
    POOLINGS,
    to_hw,
)
from .registry import register_family

__all__ = ["ConvNet"]

# ConvNet name suffix tokens -> (option, value). D<n> and W<n> are parsed separately.
_CONVNET_TOKENS: dict[str, tuple[str, str]] = {
    "bn": ("norm", "batch"),
    "in": ("norm", "instance"),
    "gn": ("norm", "group"),
    "ln": ("norm", "layer"),
    "nn": ("norm", "none"),
    "ap": ("pooling", "avg"),
    "mp": ("pooling", "max"),
    "np": ("pooling", "none"),
    "ar": ("activation", "relu"),
    "al": ("activation", "leakyrelu"),
    "as": ("activation", "sigmoid"),
    "ag": ("activation", "gelu"),
}
_TOKEN_RE = re.compile(r"d\d+|w\d+|" + "|".join(_CONVNET_TOKENS))

_CONVNET_NAMES = (
    ["ConvNet"]
    + [f"ConvNetD{d}" for d in range(1, 7)]
    + [f"ConvNetW{w}" for w in (32, 64, 128, 256)]
    + [f"ConvNet{t.upper()}" for t in _CONVNET_TOKENS]
)


def _parse_convnet(name: str, suffix: str) -> dict[str, Any] | None:
    """Turn a ConvNet suffix such as ``"d4w64bn"`` into constructor options (None: not a ConvNet name)."""
    tokens = _TOKEN_RE.findall(suffix)
    if "".join(tokens) != suffix:
        return None
    opts: dict[str, Any] = {}
    for tok in tokens:
        if tok[0] in "dw" and tok[1:].isdigit():
            key, value = ("depth" if tok[0] == "d" else "width"), int(tok[1:])
        else:
            key, value = _CONVNET_TOKENS[tok]
        if key in opts:
            raise ValueError(f"network name {name!r} sets {key} more than once")
        opts[key] = value
    return opts


@register_family("ConvNet", _parse_convnet, _CONVNET_NAMES)
class ConvNet(EmbedClassifier):
    """``depth`` x [conv3x3 -> norm -> activation -> pool], then a linear head.

    Matches the reference implementation, including its quirk that a
    1-channel input gets ``padding=3`` in the first conv (28x28 -> 32x32), so
    MNIST-like and CIFAR-like inputs both give 128x4x4 = 2048 features.
    """

    def __init__(
        self,
        channels: int,
        num_classes: int,
        image_size: int | tuple[int, int],
        width: int = 128,
        depth: int = 3,
        norm: str = "instance",
        activation: str = "relu",
        pooling: str = "avg",
    ) -> None:
        check_common(channels, num_classes)
        if width < 1:
            raise ValueError(f"ConvNet width must be >= 1, got {width}")
        if depth < 1:
            raise ValueError(f"ConvNet depth must be >= 1, got {depth}")
        norm = check_choice("norm", norm, NORMS)
        activation = check_choice("activation", activation, ACTIVATIONS)
        pooling = check_choice("pooling", pooling, POOLINGS)

        shape = ShapeTracker("ConvNet", channels, to_hw(image_size))
        layers: list[nn.Module] = []
        for d in range(depth):
            padding = 3 if (d == 0 and channels == 1) else 1
            layers.append(nn.Conv2d(shape.c, width, kernel_size=3, padding=padding))
            shape.conv(width, 3, 1, padding)
            layers.append(make_norm(norm, width, shape.shape))
            layers.append(make_activation(activation))
            layers.append(make_pool(pooling))
            if pooling != "none":
                shape.pool(2, 2)
        super().__init__(nn.Sequential(*layers), shape.numel, num_classes)
        self.width, self.depth = width, depth
        self.norm, self.activation, self.pooling = norm, activation, pooling
        self.feature_shape = shape.shape
