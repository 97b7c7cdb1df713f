"""Data layer: named datasets, custom tensors and torch Datasets, class-balanced sampling."""

from .dataset import (
    ImageDataset,
    as_image_dataset,
    check_ipc,
    denormalize,
    from_tensors,
    from_torch_dataset,
    normalize,
    validate_images,
    validate_labels,
)
from .registry import DatasetNotAvailableError, available_datasets, default_root, load_dataset, read_idx

__all__ = [
    "ImageDataset", "as_image_dataset", "check_ipc", "denormalize", "from_tensors", "from_torch_dataset",
    "normalize", "validate_images", "validate_labels", "DatasetNotAvailableError", "available_datasets",
    "default_root", "load_dataset", "read_idx",
]
