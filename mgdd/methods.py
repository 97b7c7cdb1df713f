"""One interface for every distillation method: ``distill(method, train, ipc, **options)``.

A method is a :class:`Distiller` subclass registered under a name. Its keyword-only
``__init__`` arguments are its options; they are validated by name and recorded in the
metadata of every set it makes.
"""

from __future__ import annotations

import importlib
import inspect
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from .data import ImageDataset, as_image_dataset, check_ipc
from .device import resolve_device
from .synthetic import SyntheticSet

_METHODS: dict[str, type["Distiller"]] = {}


class Distiller(ABC):
    """Base class of distillation methods. Subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str]

    def __new__(cls, *args: Any, **options: Any) -> "Distiller":
        instance = super().__new__(cls)
        # captured here, whichever way it is made (distill(), a test, SeqMatch's MTT runs), for resolved_options()
        instance._given_options = dict(options)
        return instance

    def resolved_options(self) -> dict[str, Any]:
        """Every option of this distiller: the defaults, with the ones it was made with applied."""
        return {**type(self).defaults(), **self._given_options}

    @abstractmethod
    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        """Make a set with ``ipc`` images per class from ``train``."""

    @classmethod
    def _keyword_parameters(cls) -> list[inspect.Parameter]:
        """Keyword-only ``__init__`` parameters along the class hierarchy (a subclass's default wins).

        A subclass may take shared options through ``**options`` and pass them up; they are
        still validated and recorded.
        """
        found: dict[str, inspect.Parameter] = {}
        for klass in cls.__mro__:
            if "__init__" not in vars(klass) or klass is object:
                continue
            for p in inspect.signature(vars(klass)["__init__"]).parameters.values():
                if p.kind is inspect.Parameter.KEYWORD_ONLY:
                    found.setdefault(p.name, p)
        return list(found.values())

    @classmethod
    def option_names(cls) -> list[str]:
        return [p.name for p in cls._keyword_parameters()]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in cls._keyword_parameters()}

    @classmethod
    def create(cls, **options: Any) -> "Distiller":
        unknown = sorted(set(options) - set(cls.option_names()))
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for method {cls.name!r}; valid: {cls.option_names() or 'none'}"
            )
        return cls(**options)


def register_method(cls: type[Distiller]) -> type[Distiller]:
    """Class decorator: make ``cls`` available to :func:`distill` under ``cls.name``."""
    _METHODS[cls.name.lower()] = cls
    return cls


_BUILTIN_MODULES = ("mgdd.baselines", "mgdd.generator")  # their imports register the built-in methods


def _register_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def available_methods() -> list[str]:
    _register_builtins()
    return sorted(_METHODS)


def get_method(name: str) -> type[Distiller]:
    _register_builtins()
    key = name.strip().lower()
    if key not in _METHODS:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(available_methods())}")
    return _METHODS[key]


def distill(
    method: str,
    train: ImageDataset,
    ipc: int,
    seed: int = 0,
    device: str | torch.device | None = None,
    **options: Any,
) -> SyntheticSet:
    """Distil ``train`` into ``ipc`` images per class with a registered method.

    Returns a :class:`SyntheticSet` whose metadata records the method, dataset, ipc, seed,
    wall time and every option.
    """
    cls = get_method(method)
    train = as_image_dataset(train)
    check_ipc(ipc, train)
    distiller = cls.create(**options)
    started = time.perf_counter()
    syn = distiller.run(train, ipc, seed, resolve_device(device))
    syn.metadata.update(
        method=cls.name,
        dataset=train.name,
        ipc=ipc,
        seed=seed,
        wall_time=round(time.perf_counter() - started, 3),
        options=_jsonable(distiller.resolved_options()),
    )
    return syn


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, (int, float, str, bool, type(None), list)) else repr(v) for k, v in options.items()}

