"""The network registry, in timm's style: each class registers itself next to its definition.

``@register_network("VGG11BN", norm="batch")`` adds a name and the options it implies;
``@register_family("ConvNet", parse, examples)`` adds a family of names whose suffix ``parse`` turns into
options (``ConvNetD4W64BN``; None when the suffix is not one of the family's). The options a class accepts are read from its constructor's signature.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

_NAMES: dict[str, tuple[str, type[nn.Module], dict[str, Any]]] = {}  # lower name -> (canonical, class, implied)
_FAMILIES: dict[str, tuple[str, type[nn.Module], Callable[[str, str], dict[str, Any] | None], list[str]]] = {}
_POSITIONAL = ("self", "channels", "num_classes", "image_size")


def register_network(name: str, **implied: Any) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: build the class for ``name`` (case-insensitive), with ``implied`` options."""
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        unknown = set(implied) - set(network_options(cls))
        if unknown:
            raise TypeError(f"{name}: {cls.__name__} has no options {sorted(unknown)}")
        _NAMES[name.lower()] = (name, cls, dict(implied))
        return cls
    return decorate


def register_family(prefix: str, parse: Callable[[str, str], dict[str, Any]], examples: list[str]):
    """Class decorator: every name ``prefix + suffix`` builds the class with the options ``parse(name, suffix)``."""
    def decorate(cls: type[nn.Module]) -> type[nn.Module]:
        _FAMILIES[prefix.lower()] = (prefix, cls, parse, list(examples))
        return cls
    return decorate


def network_options(cls: type[nn.Module]) -> tuple[str, ...]:
    """Keyword options of a network class: its constructor's parameters after (channels, num_classes, image_size)."""
    return tuple(p for p in inspect.signature(cls.__init__).parameters if p not in _POSITIONAL)


def registered_names() -> list[str]:
    """Canonical names: each family's examples, then the single names, in registration order."""
    return [n for _, _, _, examples in _FAMILIES.values() for n in examples] + [n for n, _, _ in _NAMES.values()]


def resolve(name: str, unknown: Callable[[str], Exception]) -> tuple[type[nn.Module], dict[str, Any]]:
    """(class, options implied by the name); ``unknown(name)`` is raised for a name nothing registered."""
    key = name.lower()
    if key in _NAMES:
        _, cls, implied = _NAMES[key]
        return cls, dict(implied)
    for prefix, (_, cls, parse, _) in _FAMILIES.items():
        options = parse(name, key[len(prefix):]) if key.startswith(prefix) else None
        if options is not None:
            return cls, options
    raise unknown(name)
