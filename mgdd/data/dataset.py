"""In-memory image classification data: the one container every mgdd layer consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset


@dataclass(repr=False)
class LabelledImages:
    """What real data (:class:`ImageDataset`) and distilled sets (:class:`~mgdd.SyntheticSet`) share:
    normalised images (N, C, H, W) with one label per sample, class names and the normalisation, one
    vocabulary (``len``, ``image_shape``, ``channels``, ``denormalize``, ``to_torch``) and one validation.

    Attributes:
        images: float tensor (N, C, H, W), normalised with ``mean``/``std``.
        labels: one per sample (see the subclass).
        num_classes: number of classes (may exceed the classes present, e.g. for a subset).
        class_names: one name per class.
        mean, std: per-channel normalisation that was applied (to undo it for display).
    """

    images: Tensor
    labels: Tensor
    num_classes: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def _validate_common(self, what: str) -> None:
        """Images finite 4-D, one class name per class, one mean/std entry per channel (stored as float tuples)."""
        validate_images(self.images, what=f"{what} images")
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"{what}: {len(self.class_names)} class names for {self.num_classes} classes")
        channels = self.images.shape[1]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"{what}: mean/std have {len(self.mean)}/{len(self.std)} entries for {channels} channels")
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    def denormalize(self, images: Tensor | None = None) -> Tensor:
        """Undo the normalisation of ``images`` (default: this object's): pixel values back in (about) [0, 1]."""
        return denormalize(self.images if images is None else images, self.mean, self.std)

    def to_torch(self) -> TensorDataset:
        """A ``torch.utils.data.TensorDataset`` of (image, label) for your own training loop."""
        return TensorDataset(self.images, self.labels)


@dataclass(repr=False)
class ImageDataset(LabelledImages):
    """Normalised images with integer labels, held in memory (the fields of :class:`LabelledImages`, then
    ``name``).

    Attributes:
        labels: long tensor (N,) with values in ``[0, num_classes)``.
        name: dataset name, recorded in the metadata of what is distilled from it.
    """

    name: str = "custom"
    _class_index: list[Tensor] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate_common(self.name)
        validate_labels(self.labels, self.num_classes, n=self.images.shape[0], what=f"{self.name} labels")

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes})"
        )

    @property
    def class_index(self) -> list[Tensor]:
        """Per class, the indices of its samples (computed once)."""
        if self._class_index is None:
            order = torch.argsort(self.labels, stable=True)
            counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
            self._class_index = list(torch.split(order, counts))
        return self._class_index

    def class_counts(self) -> list[int]:
        return [len(idx) for idx in self.class_index]

    def images_of_class(self, c: int) -> Tensor:
        return self.images[self.class_index[c]]

    def subset(self, indices: Tensor | Sequence[int]) -> "ImageDataset":
        """A new dataset holding only ``indices`` (same classes and normalisation)."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return ImageDataset(
            self.images[indices], self.labels[indices], self.num_classes,
            list(self.class_names), self.mean, self.std, self.name,
        )

    def balanced_indices(self, n_per_class: int, seed: int = 0) -> Tensor:
        """``n_per_class`` random indices from every class, class-major order, reproducible by seed."""
        check_ipc(n_per_class, self)
        rng = torch.Generator().manual_seed(seed)
        picks = [idx[torch.randperm(len(idx), generator=rng)[:n_per_class]] for idx in self.class_index]
        return torch.cat(picks)

    def balanced_subset(self, n_per_class: int, seed: int = 0) -> "ImageDataset":
        """A class-balanced random subset with ``n_per_class`` samples per class."""
        return self.subset(self.balanced_indices(n_per_class, seed))

    def to(self, device: torch.device | str) -> "ImageDataset":
        moved = ImageDataset(
            self.images.to(device), self.labels.to(device), self.num_classes,
            list(self.class_names), self.mean, self.std, self.name,
        )
        return moved


def denormalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    shape = (1, -1, 1, 1)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return images * s + m


def normalize(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    shape = (1, -1, 1, 1)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return (images - m) / s


def validate_images(images: Tensor, what: str = "images", channels: int | None = None) -> None:
    """Raise a clear error for anything that is not a finite float (N, C, H, W) tensor."""
    if not isinstance(images, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"{what} must have shape (N, C, H, W); got rank {images.dim()} shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got {images.dtype}")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"{what} have {images.shape[1]} channels; expected {channels}")
    if images.numel() and not torch.isfinite(images).all():
        bad = (~torch.isfinite(images)).flatten(1).any(1).nonzero().flatten()[:5].tolist()
        raise ValueError(f"{what} contain NaN or Inf values (e.g. samples {bad})")


def validate_labels(labels: Tensor, num_classes: int, n: int | None = None, what: str = "labels") -> None:
    """Hard labels: long (N,) in [0, num_classes). Soft labels: finite float (N, num_classes)."""
    if not isinstance(labels, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(labels).__name__}")
    if n is not None and labels.shape[0] != n:
        raise ValueError(f"{what}: {labels.shape[0]} labels for {n} images")
    if labels.is_floating_point():
        if labels.dim() != 2 or labels.shape[1] != num_classes:
            raise ValueError(f"soft {what} must have shape (N, {num_classes}); got {tuple(labels.shape)}")
        if labels.numel() and not torch.isfinite(labels).all():
            raise ValueError(f"{what} contain NaN or Inf values")
        return
    if labels.dim() != 1:
        raise ValueError(f"{what} must have shape (N,); got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{what} must lie in [0, {num_classes}); found values in [{int(labels.min())}, {int(labels.max())}]"
        )


def check_ipc(ipc: int, data: ImageDataset) -> None:
    """``ipc`` must be a positive integer no larger than the smallest class."""
    if isinstance(ipc, bool) or not isinstance(ipc, int) or ipc < 1:
        raise ValueError(f"ipc (images per class) must be an integer >= 1, got {ipc!r}")
    counts = data.class_counts()
    smallest = min(counts)
    if ipc > smallest:
        c = counts.index(smallest)
        raise ValueError(
            f"ipc={ipc} is larger than class {c} ({data.class_names[c]!r}) holds: {smallest} samples"
        )


def from_tensors(
    images: Tensor,
    labels: Tensor,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    normalized: bool = False,
    name: str = "custom",
    like: ImageDataset | None = None,
) -> ImageDataset:
    """Wrap your own tensors (or numpy arrays) as an :class:`ImageDataset`.

    ``images``: (N, C, H, W) or (N, H, W); channels-last (N, H, W, C) with C in {1, 3} and H > 4 is transposed;
    uint8 in [0, 255] or float in [0, 1] unless ``normalized=True`` (then used as they are, and
    ``mean``/``std`` say how they were made). Without ``mean``/``std`` the per-channel statistics of
    ``images`` are used; ``like=train`` takes them (and the class names) from another split, as a test split
    built this way must be normalised like its training split.
    """
    images, labels = (torch.as_tensor(x) if not isinstance(x, Tensor) and hasattr(x, "__array__") else x
                      for x in (images, labels))
    if not isinstance(images, Tensor) or not isinstance(labels, Tensor):
        raise TypeError("images and labels must be torch.Tensors or numpy arrays")
    if like is not None:
        mean, std = like.mean, like.std
        class_names = class_names if class_names is not None else like.class_names
        num_classes = num_classes if num_classes is not None else like.num_classes
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() == 4 and images.shape[-1] in (1, 3) and images.shape[1] > 4:
        images = images.permute(0, 3, 1, 2)  # channels-last (N, H, W, C)
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    elif not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    images = images.float()
    validate_images(images, what=f"{name} images")
    if not normalized and images.numel() and (images.min() < -1e-3 or images.max() > 1 + 1e-3):
        raise ValueError(f"{name} images are floats in [{float(images.min()):.3g}, {float(images.max()):.3g}]; "
                         "pass uint8 in [0, 255], floats in [0, 1], or normalized=True with their mean/std")
    if labels.is_floating_point():
        raise TypeError("labels must be integer class indices")
    labels = labels.long()
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std, or neither")
    if num_classes is None:
        num_classes = len(class_names) if class_names is not None else int(labels.max()) + 1
    validate_labels(labels, num_classes, n=images.shape[0], what=f"{name} labels")
    if normalized:
        if mean is None or std is None:
            mean, std = (0.0,) * images.shape[1], (1.0,) * images.shape[1]
    else:
        if mean is None or std is None:
            mean, std = stats_of(images)
        images = normalize(images, mean, std)
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    return ImageDataset(images, labels, num_classes, names, tuple(mean), tuple(std), name)


def from_torch_dataset(
    dataset: Dataset,
    *,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    normalized: bool = False,
    name: str = "custom",
) -> ImageDataset:
    """Materialise any torch ``Dataset`` of (image, label) pairs (tensors or PIL images)."""
    from torchvision.transforms.functional import pil_to_tensor

    images, labels = [], []
    for i in range(len(dataset)):  # type: ignore[arg-type]
        image, label = dataset[i]
        if not isinstance(image, Tensor):
            image = pil_to_tensor(image)
        images.append(image)
        labels.append(int(label))
    if not images:
        raise ValueError(f"{name}: the dataset is empty")
    stacked = torch.stack(images)
    if class_names is None:
        class_names = getattr(dataset, "classes", None)
    return from_tensors(
        stacked, torch.tensor(labels), num_classes=num_classes, class_names=class_names,
        mean=mean, std=std, normalized=normalized, name=name,
    )


def as_image_dataset(data: "ImageDataset | Dataset | tuple[Tensor, Tensor]", name: str = "custom") -> ImageDataset:
    """Accept an :class:`ImageDataset`, a torch ``Dataset`` or an ``(images, labels)`` pair."""
    if isinstance(data, ImageDataset):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return from_tensors(*data, name=name)
    if isinstance(data, Dataset):
        return from_torch_dataset(data, name=name)
    raise TypeError(
        f"expected an ImageDataset, a torch Dataset or an (images, labels) tuple; got {type(data).__name__}"
    )


def stats_of(images: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of (N, C, H, W) images in [0, 1]."""
    mean = images.mean(dim=(0, 2, 3))
    std = images.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())

