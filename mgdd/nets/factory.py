"""Name-based construction of networks: ``get_network("ConvNetD4", 3, 10, 32)``."""

from __future__ import annotations

import re
from typing import Any, Callable

import torch
from torch import nn

from .convnet import ConvNet
from .zoo import MLP, AlexNet, LeNet, ResNet18, VGG11

__all__ = ["get_network", "available_networks"]

# Fixed (non-ConvNet) names: lower-case key -> (canonical name, class, defaults implied by the name).
_FIXED: dict[str, tuple[str, Callable[..., nn.Module], dict[str, Any]]] = {
    "mlp": ("MLP", MLP, {}),
    "lenet": ("LeNet", LeNet, {}),
    "alexnet": ("AlexNet", AlexNet, {}),
    "vgg11": ("VGG11", VGG11, {}),
    "vgg11bn": ("VGG11BN", VGG11, {"norm": "batch"}),
    "resnet18": ("ResNet18", ResNet18, {}),
    "resnet18bn": ("ResNet18BN", ResNet18, {"norm": "batch"}),
}

# Options each class accepts through **opts (anything else is rejected, not ignored).
_OPTIONS: dict[Callable[..., nn.Module], tuple[str, ...]] = {
    ConvNet: ("width", "depth", "norm", "activation", "pooling"),
    MLP: ("hidden",),
    LeNet: (),
    AlexNet: (),
    VGG11: ("norm",),
    ResNet18: ("norm",),
}

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


def available_networks() -> list[str]:
    """Canonical network names accepted by :func:`get_network`.

    ConvNet suffixes can also be combined and take any integer, e.g. ``ConvNetD4W64BN``.
    """
    return _CONVNET_NAMES + [canonical for canonical, _, _ in _FIXED.values()]


def _unknown(name: str) -> KeyError:
    return KeyError(
        f"unknown network {name!r}; available: {', '.join(available_networks())} "
        "(ConvNet suffixes D<depth>, W<width>, BN/IN/GN/LN/NN, AP/MP/NP, AR/AL/AS/AG can be combined)"
    )


def _parse_convnet(name: str, suffix: str) -> dict[str, Any]:
    """Turn a ConvNet suffix such as ``"d4w64bn"`` into constructor options."""
    tokens = _TOKEN_RE.findall(suffix)
    if "".join(tokens) != suffix:
        raise _unknown(name)
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


def check_network_name(name: str) -> None:
    """Raise KeyError (listing what exists) if ``name`` is not a network of the zoo; builds nothing."""
    _resolve(name)


def _resolve(name: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    key = name.lower()
    if key in _FIXED:
        _, cls, defaults = _FIXED[key]
        return cls, dict(defaults)
    if key.startswith("convnet"):
        return ConvNet, _parse_convnet(name, key[len("convnet"):])
    raise _unknown(name)


def get_network(
    name: str, channels: int, num_classes: int, image_size: int | tuple[int, int], **opts: Any
) -> nn.Module:
    """Build a network of the distillation model zoo by (case-insensitive) name.

    Args:
        name: e.g. ``"ConvNet"``, ``"ConvNetD4"``, ``"ConvNetW64"``, ``"ConvNetBN"``, ``"MLP"``,
            ``"LeNet"``, ``"AlexNet"``, ``"VGG11"``, ``"VGG11BN"``, ``"ResNet18"``, ``"ResNet18BN"``.
        channels: input image channels.
        num_classes: number of output logits (>= 2).
        image_size: ``H`` or ``(H, W)`` of the inputs; used to size the linear head.
        **opts: architecture options (ConvNet: width, depth, norm, activation, pooling;
            VGG11/ResNet18: norm; MLP: hidden). They override what the name implies.

    Returns:
        A module with ``forward``, ``embed(x) -> (N, feature_dim)``, ``feature_dim`` and ``classifier``.

    Raises:
        KeyError: unknown name (the message lists the available names).
        ValueError: bad option, option not supported by the architecture, invalid
            channels / num_classes, or images too small for the architecture.
    """
    cls, kwargs = _resolve(name)
    unexpected = sorted(set(opts) - set(_OPTIONS[cls]))
    if unexpected:
        raise ValueError(
            f"{cls.__name__} does not accept options {unexpected}; allowed: {list(_OPTIONS[cls])}"
        )
    kwargs.update(opts)
    return cls(channels, num_classes, image_size, **kwargs)


def seeded_network(
    name: str, channels: int, num_classes: int, image_size: int | tuple[int, int], seed: int | None,
    device: torch.device | str = "cpu", **opts: Any,
) -> nn.Module:
    """:func:`get_network` initialised from ``seed`` without touching the global RNG, on ``device``.

    Iterative methods draw one fresh network per iteration; seeding each from (run seed,
    iteration) makes a resumed run draw exactly the networks an uninterrupted one would.
    """
    if seed is None:
        return get_network(name, channels, num_classes, image_size, **opts).to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = get_network(name, channels, num_classes, image_size, **opts)
    return net.to(device)
