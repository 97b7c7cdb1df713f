"""mgdd: dataset distillation with a pretrained meta generator, plus classic baselines.

Quick tour::

    from mgdd import load_dataset, distill, evaluate
    train = load_dataset("fashion-mnist", split="train")
    syn = distill("herding", train, ipc=10)
    print(evaluate(syn, load_dataset("fashion-mnist", split="test"), epochs=300, models=3))
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# Public names -> the module that defines them. Imported on first use, so that `import mgdd` (and
# `mgdd --help`) does not pay for torch until something needs it.
_LAZY = {
    "DiffAugment": "augment", "DatasetNotAvailableError": "data", "ImageDataset": "data",
    "as_image_dataset": "data", "available_datasets": "data", "from_tensors": "data",
    "from_torch_dataset": "data", "load_dataset": "data", "resolve_device": "device", "Distiller": "methods",
    "available_methods": "methods", "distill": "methods", "get_method": "methods", "register_method": "methods",
    "EvalResult": "evaluation", "Protocol": "evaluation", "evaluate": "evaluation", "MetaGenerator": "generator", "CorruptFileError": "io",
    "available_networks": "nets", "get_network": "nets", "SyntheticSet": "synthetic", "load_synthetic": "release",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mgdd' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # for type checkers and IDEs: the eager imports
    from .augment import DiffAugment  # noqa: F401
    from .data import (  # noqa: F401
        DatasetNotAvailableError, ImageDataset, as_image_dataset, available_datasets, from_tensors,
        from_torch_dataset, load_dataset,
    )
    from .device import resolve_device  # noqa: F401
    from .methods import Distiller, available_methods, distill, get_method, register_method  # noqa: F401
    from .evaluation import EvalResult, Protocol, evaluate  # noqa: F401
    from .generator import MetaGenerator  # noqa: F401
    from .io import CorruptFileError  # noqa: F401
    from .nets import available_networks, get_network  # noqa: F401
    from .release import load_synthetic  # noqa: F401
    from .synthetic import SyntheticSet  # noqa: F401
