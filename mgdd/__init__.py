"""mgdd: dataset distillation with a pretrained meta generator, plus classic baselines.

Quick tour::

    from mgdd import load_dataset, distill, evaluate
    train = load_dataset("fashion-mnist", split="train")
    syn = distill("herding", train, ipc=10)
    print(evaluate(syn, load_dataset("fashion-mnist", split="test"), epochs=300, models=3))
"""

__version__ = "0.1.0"

from .augment import DiffAugment
from .data import (
    DatasetNotAvailableError,
    ImageDataset,
    as_image_dataset,
    available_datasets,
    from_tensors,
    from_torch_dataset,
    load_dataset,
)
from .device import resolve_device
from .distill import Distiller, available_methods, distill, get_method, register_method
from .evaluate import EvalResult, evaluate
from .generator import MetaGenerator
from .io import CorruptFileError
from .nets import available_networks, get_network
from .synthetic import SyntheticSet, load_synthetic

from . import baselines  # noqa: E402,F401  (registers the baseline methods)

__all__ = [
    "__version__", "DiffAugment", "DatasetNotAvailableError", "ImageDataset", "as_image_dataset",
    "available_datasets", "from_tensors", "from_torch_dataset", "load_dataset", "resolve_device", "Distiller",
    "available_methods", "distill", "get_method", "register_method", "EvalResult", "evaluate",
    "CorruptFileError", "MetaGenerator", "available_networks", "get_network", "SyntheticSet", "load_synthetic",
]
