"""Name-based construction of networks: ``get_network("ConvNetD4", 3, 10, 32)``."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from . import convnet, zoo  # noqa: F401  (their imports register the networks)
from .registry import network_options, registered_names, resolve

__all__ = ["get_network", "available_networks"]


def available_networks() -> list[str]:
    """Canonical network names accepted by :func:`get_network`.

    ConvNet suffixes can also be combined and take any integer, e.g. ``ConvNetD4W64BN``.
    """
    return registered_names()


def _unknown(name: str) -> KeyError:
    return KeyError(
        f"unknown network {name!r}; available: {', '.join(available_networks())} "
        "(ConvNet suffixes D<depth>, W<width>, BN/IN/GN/LN/NN, AP/MP/NP, AR/AL/AS/AG can be combined)"
    )


def check_network_name(name: str) -> None:
    """Raise KeyError (listing what exists) if ``name`` is not a network of the zoo; builds nothing."""
    _resolve(name)


def _resolve(name: str) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    return resolve(name, _unknown)


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
    allowed = network_options(cls)
    unexpected = sorted(set(opts) - set(allowed))
    if unexpected:
        raise ValueError(f"{cls.__name__} does not accept options {unexpected}; allowed: {list(allowed)}")
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
