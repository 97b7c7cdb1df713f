"""Named datasets: where their files live, how they are read, how they are normalised.

Everything loads into memory as an :class:`ImageDataset`. Nothing here fakes data: a dataset
that is absent and cannot be downloaded raises :class:`DatasetNotAvailableError` saying how to
get it.
"""

from __future__ import annotations

import logging

import functools
import gzip
import zlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .dataset import ImageDataset, normalize, stats_of
from .procedural import GLYPH_CLASSES, HUE_CLASSES, SHAPE_CLASSES, make_glyphs, make_hues, make_shapes

SPLITS = ("train", "test")
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

logger = logging.getLogger(__name__)


class DatasetNotAvailableError(FileNotFoundError):
    """A named dataset is not on disk and could not be downloaded."""


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    """A named dataset, declared by keyword; ``reader(root, split, download[, image_size])`` returns uint8 images,
    labels and class names (None: from the spec)."""

    name: str
    channels: int | None  # None: depends on the files (imagefolder)
    image_size: int | None  # None: depends on the files
    num_classes: int | None
    mean: tuple[float, ...] | None  # None: computed from the training split
    std: tuple[float, ...] | None
    class_names: tuple[str, ...] | None
    how_to_get: str
    reader: Callable[..., tuple[Tensor, Tensor, list[str] | None]]
    resizable: bool = False  # the reader takes image_size= (resize to a square size)


def default_root() -> Path:
    """``$MGDD_DATA`` or ``~/.cache/mgdd/data``."""
    return Path(os.environ.get("MGDD_DATA", Path.home() / ".cache" / "mgdd" / "data")).expanduser()


# ---------------------------------------------------------------- readers: return uint8 (N,C,H,W), labels


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error) as error:  # cut-off or non-gzip download
        raise ValueError(f"{path} is truncated or corrupt ({error})") from error
    if len(data) < 8 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file")
    dtype_code, ndim = data[2], data[3]
    if dtype_code != 0x08:
        raise ValueError(f"{path}: only unsigned-byte IDX files are supported (type code {dtype_code:#x})")
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    expected = int(np.prod(dims))
    offset = 4 + 4 * ndim
    if len(data) - offset != expected:
        raise ValueError(f"{path} is truncated or corrupt: {len(data) - offset} bytes for shape {tuple(dims)}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(tuple(dims))


def _find_idx(directories: list[Path], stem: str) -> Path | None:
    for directory in directories:
        for candidate in (directory / stem, directory / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_mnist_like(directories: list[Path], split: str) -> tuple[Tensor, Tensor] | None:
    prefix = "train" if split == "train" else "t10k"
    image_file = _find_idx(directories, f"{prefix}-images-idx3-ubyte")
    label_file = _find_idx(directories, f"{prefix}-labels-idx1-ubyte")
    if image_file is None or label_file is None:
        return None
    images = torch.from_numpy(read_idx(image_file).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(label_file).astype(np.int64))
    return images, labels


def _torchvision_download(name: str, root: Path, split: str):
    import torchvision.datasets as tvd

    train = split == "train"
    if name == "fashion-mnist":
        return tvd.FashionMNIST(str(root), train=train, download=True)
    if name == "mnist":
        return tvd.MNIST(str(root), train=train, download=True)
    raise KeyError(name)


def _mnist_reader(name: str, folder: str, system_dir: Path | None):
    def read(root: Path | None, split: str, download: bool):
        base = root if root is not None else default_root()
        directories = [base, base / folder / "raw", base / name]
        if root is None and system_dir is not None:
            directories.append(system_dir)
        found = _read_mnist_like(directories, split)
        if found is None and download:
            _guarded_download(name, lambda: _torchvision_download(name, base, split))
            found = _read_mnist_like(directories, split)
        if found is None:
            raise DatasetNotAvailableError(_missing_message(name, directories))
        return found[0], found[1], None

    return read


def _torchvision_reader(name: str):
    def read(root: Path | None, split: str, download: bool):
        import torchvision.datasets as tvd

        base = root if root is not None else default_root()
        train = split == "train"
        factories = {
            "cifar10": lambda d: tvd.CIFAR10(str(base), train=train, download=d),
            "cifar100": lambda d: tvd.CIFAR100(str(base), train=train, download=d),
            "svhn": lambda d: tvd.SVHN(str(base / "svhn"), split=split, download=d),
        }
        try:
            dataset = factories[name](False)
        except RuntimeError:
            if not download:
                raise DatasetNotAvailableError(_missing_message(name, [base])) from None
            dataset = _guarded_download(name, lambda: factories[name](True))
        if name == "svhn":
            images = torch.from_numpy(dataset.data)  # already (N, 3, 32, 32)
            labels = torch.as_tensor(dataset.labels, dtype=torch.long)
        else:
            images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
            labels = torch.as_tensor(dataset.targets, dtype=torch.long)
        return images, labels, list(getattr(dataset, "classes", []) or []) or None

    return read


def _guarded_download(name: str, action: Callable):
    try:
        return action()
    except Exception as error:  # torchvision raises URLError, RuntimeError, OSError, ...
        raise DatasetNotAvailableError(
            f"{name} is not on disk and downloading it failed ({type(error).__name__}: {error}). "
            f"{SPECS[name].how_to_get}"
        ) from error


def _missing_message(name: str, searched: list[Path]) -> str:
    places = ", ".join(str(p) for p in searched)
    return f"{name} not found (searched: {places}). {SPECS[name].how_to_get}"


def _digits_reader(root: Path | None, split: str, download: bool):
    """scikit-learn's bundled 8x8 digits, split 80/20 per class with a fixed seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy((bunch.images / 16.0 * 255.0).round().astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    rng = torch.Generator().manual_seed(0)
    chosen = []
    for c in range(10):
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=rng)]
        n_train = int(round(0.8 * len(idx)))
        chosen.append(idx[:n_train] if split == "train" else idx[n_train:])
    order = torch.cat(chosen).sort().values
    return images[order], labels[order], None


_GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _image_folder_arrays(directory: Path, image_size: int | None) -> tuple[Tensor, Tensor, list[str]]:
    """Images of a class-per-folder tree; 1 channel when every file is grayscale, else RGB."""
    import torchvision.transforms.v2 as T
    from PIL import Image
    from torchvision.datasets import ImageFolder

    folder = ImageFolder(str(directory), loader=Image.open)
    if len(folder) == 0:
        raise ValueError(f"{directory} holds no images")
    pictures = [folder[i][0] for i in range(len(folder))]
    mode = "L" if all(p.mode in _GRAYSCALE_MODES for p in pictures) else "RGB"
    steps = [T.PILToTensor()] if image_size is None else [T.Resize((image_size, image_size)), T.PILToTensor()]
    to_tensor = T.Compose(steps)
    images = [to_tensor(p.convert(mode)) for p in pictures]
    shapes = {tuple(x.shape) for x in images}
    if len(shapes) > 1:
        raise ValueError(f"images under {directory} differ in size {sorted(shapes)[:3]}; pass image_size=")
    labels = torch.tensor(folder.targets, dtype=torch.long)
    return torch.stack(images), labels, list(folder.classes)


HELD_OUT_FRACTION = 0.2  # imagefolder without split folders: the share of each class held out as its test split


def held_out_split(labels: torch.Tensor, split: str, fraction: float = HELD_OUT_FRACTION, seed: int = 0) -> torch.Tensor:
    """Indices of ``split`` in a seeded, stratified split of ``labels``: ``fraction`` of each class (at least one
    image of a class with two or more) is ``"test"``, the rest ``"train"``; the two never overlap."""
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = max(1, round(fraction * len(members))) if len(members) > 1 else 0
        chosen.append(members[:n_test] if split == "test" else members[n_test:])
    return torch.cat(chosen).sort().values


def _imagefolder_reader(root: Path | None, split: str, download: bool, image_size: int | None = None):
    """``root/<class>/*`` or ``root/{train,test}/<class>/*``; test labels follow the train classes."""
    if root is None:
        raise ValueError("imagefolder needs root=<folder> (with one sub-folder per class, or train/ and test/)")
    has_splits = (root / "train").is_dir() or (root / "test").is_dir()
    directory = root / split if has_splits else root
    if not directory.is_dir():
        raise DatasetNotAvailableError(f"imagefolder: {directory} is not a directory")
    images, labels, classes = _image_folder_arrays(directory, image_size)
    if not has_splits:  # one folder for both splits: hold out a fixed share, so test images are never trained on
        keep = held_out_split(labels, split)
        logger.warning("imagefolder: %s has no train/ and test/ folders; %s split = a fixed, stratified %d %% of "
                       "each class (seeded; the two splits never share an image)", root, split,
                       round(100 * (HELD_OUT_FRACTION if split == "test" else 1 - HELD_OUT_FRACTION)))
        return images[keep], labels[keep], classes
    if split == "train" or not (root / "train").is_dir():
        return images, labels, classes
    train_classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    unknown = sorted(set(classes) - set(train_classes))
    if unknown:
        raise ValueError(f"imagefolder: test classes {unknown} have no train folder under {root / 'train'}")
    remap = torch.tensor([train_classes.index(c) for c in classes])
    return images, remap[labels], train_classes


def _tiny_imagenet_reader(root: Path | None, split: str, download: bool):
    base = (root if root is not None else default_root()) / "tiny-imagenet-200"
    if not base.is_dir():
        raise DatasetNotAvailableError(_missing_message("tiny-imagenet", [base]))
    wnids = (base / "wnids.txt").read_text().split()
    if split == "train":
        images, labels, classes = _image_folder_arrays(base / "train", 64)
        remap = torch.tensor([wnids.index(c) for c in classes])
        return images, remap[labels], wnids
    import torchvision.transforms.v2.functional as TF
    from PIL import Image

    rows = [line.split("\t")[:2] for line in (base / "val" / "val_annotations.txt").read_text().splitlines()]
    images = [
        TF.pil_to_tensor(Image.open(base / "val" / "images" / fname).convert("RGB")) for fname, _ in rows
    ]
    labels = torch.tensor([wnids.index(wnid) for _, wnid in rows])
    return torch.stack(images), labels, wnids


def _procedural_reader(make, train_per_class: int, test_per_class: int):
    def read(root: Path | None, split: str, download: bool):
        images, labels = make(split, train_per_class if split == "train" else test_per_class)
        return images, labels, None

    return read


FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)

SPECS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec(
            name="fashion-mnist",
            channels=1,
            image_size=28,
            num_classes=10,
            mean=(0.2861,),
            std=(0.3530,),
            class_names=FASHION_CLASSES,
            how_to_get="Offline: `apt-get install dataset-fashion-mnist` (files in /usr/share/datasets/fashion-mnist), "
            "or put the four IDX files in root=; online: download=True.",
            reader=_mnist_reader("fashion-mnist", "FashionMNIST", FASHION_MNIST_SYSTEM_DIR),
        ),
        DatasetSpec(
            name="mnist",
            channels=1,
            image_size=28,
            num_classes=10,
            mean=(0.1307,),
            std=(0.3081,),
            class_names=DIGIT_CLASSES,
            how_to_get="Put the four MNIST IDX files in root= (or root/MNIST/raw), or load once with "
            "download=True online.",
            reader=_mnist_reader("mnist", "MNIST", None),
        ),
        DatasetSpec(
            name="cifar10",
            channels=3,
            image_size=32,
            num_classes=10,
            mean=(0.4914, 0.4822, 0.4465),
            std=(0.2023, 0.1994, 0.2010),
            class_names=CIFAR10_CLASSES,
            how_to_get="Load once with download=True on a connected machine, or place cifar-10-batches-py in root=.",
            reader=_torchvision_reader("cifar10"),
        ),
        DatasetSpec(
            name="cifar100",
            channels=3,
            image_size=32,
            num_classes=100,
            mean=(0.5071, 0.4866, 0.4409),
            std=(0.2673, 0.2564, 0.2762),
            class_names=None,
            how_to_get="Load once with download=True on a connected machine, or place cifar-100-python in root=.",
            reader=_torchvision_reader("cifar100"),
        ),
        DatasetSpec(
            name="svhn",
            channels=3,
            image_size=32,
            num_classes=10,
            mean=(0.4377, 0.4438, 0.4728),
            std=(0.1980, 0.2010, 0.1970),
            class_names=DIGIT_CLASSES,
            how_to_get="Load once with download=True on a connected machine, or place train_32x32.mat/test_32x32.mat "
            "in root/svhn.",
            reader=_torchvision_reader("svhn"),
        ),
        DatasetSpec(
            name="tiny-imagenet",
            channels=3,
            image_size=64,
            num_classes=200,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
            class_names=None,
            how_to_get="Unpack tiny-imagenet-200.zip (cs231n) into root= so that root/tiny-imagenet-200/wnids.txt "
            "exists.",
            reader=_tiny_imagenet_reader,
        ),
        DatasetSpec(
            name="imagefolder",
            channels=None,
            image_size=None,
            num_classes=None,
            mean=None,
            std=None,
            class_names=None,
            how_to_get="Pass root=<folder> with one sub-folder of images per class (optionally under train/ and "
            "test/).",
            reader=_imagefolder_reader,
            resizable=True,
        ),
        DatasetSpec(
            name="glyphs",
            channels=1,
            image_size=28,
            num_classes=62,
            mean=None,
            std=None,
            class_names=GLYPH_CLASSES,
            how_to_get="Rendered from installed TrueType fonts (or Pillow's default font); nothing to download.",
            reader=_procedural_reader(make_glyphs, 500, 100),
        ),
        DatasetSpec(
            name="shapes",
            channels=1,
            image_size=28,
            num_classes=10,
            mean=None,
            std=None,
            class_names=SHAPE_CLASSES,
            how_to_get="Drawn by code; nothing to download.",
            reader=_procedural_reader(make_shapes, 500, 100),
        ),
        DatasetSpec(
            name="hues",
            channels=3,
            image_size=16,
            num_classes=10,
            mean=None,
            std=None,
            class_names=HUE_CLASSES,
            how_to_get="Drawn by code (colour shapes, class = hue); nothing to download.",
            reader=_procedural_reader(make_hues, 300, 100),
        ),
        DatasetSpec(
            name="digits",
            channels=1,
            image_size=8,
            num_classes=10,
            mean=None,
            std=None,
            class_names=DIGIT_CLASSES,
            how_to_get="Bundled with scikit-learn: `pip install scikit-learn`.",
            reader=_digits_reader,
        ),
    ]
}
ALIASES = {"fmnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
           "cifar-10": "cifar10", "cifar-100": "cifar100", "tinyimagenet": "tiny-imagenet",
           "tiny_imagenet": "tiny-imagenet", "image-folder": "imagefolder"}


def available_datasets() -> list[str]:
    return sorted(SPECS)


def resolve_name(name: str) -> str:
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in SPECS:
        raise KeyError(f"unknown dataset {name!r}; available: {', '.join(available_datasets())}")
    return key


@functools.lru_cache(maxsize=8)
def _read_cached(name: str, split: str, root: str | None, download: bool, image_size: int | None):
    spec = SPECS[name]
    path = Path(root).expanduser() if root is not None else None
    return spec.reader(path, split, download, **({"image_size": image_size} if spec.resizable else {}))


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
    image_size: int | None = None,
) -> ImageDataset:
    """Load a named dataset into memory, normalised.

    Args:
        name: one of :func:`available_datasets` (``fashion-mnist``, ``mnist``, ``cifar10``,
            ``cifar100``, ``svhn``, ``tiny-imagenet``, ``imagefolder``, ``digits``).
        split: ``"train"`` or ``"test"``.
        root: folder holding the files (default: ``$MGDD_DATA`` or ``~/.cache/mgdd/data``;
            Fashion-MNIST also looks in ``/usr/share/datasets/fashion-mnist``).
        download: try a torchvision download when the files are absent.
        image_size: resize the images of a resizable dataset (``imagefolder``) to this square size.

    Raises:
        KeyError: unknown name. ValueError: unknown split.
        DatasetNotAvailableError: absent and not downloadable, with instructions.
    """
    key = resolve_name(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    spec = SPECS[key]
    if image_size is not None and not spec.resizable:
        raise ValueError(f"image_size= resizes only {[n for n, s in SPECS.items() if s.resizable]}; {key} images are "
                         f"{spec.image_size} px")
    root_key = str(Path(root).expanduser().resolve()) if root is not None else None
    raw_images, labels, names = _read_cached(key, split, root_key, bool(download), image_size)
    images = raw_images.float().div_(255.0)
    if spec.mean is not None:
        mean, std = spec.mean, spec.std
    elif split == "train":
        mean, std = stats_of(images)
    else:  # statistics always come from the training split
        train_raw = _read_cached(key, "train", root_key, bool(download), image_size)[0]
        mean, std = stats_of(train_raw.float().div_(255.0))
    class_names = list(spec.class_names or names or [str(c) for c in range(int(labels.max()) + 1)])
    return ImageDataset(normalize(images, mean, std), labels.clone(), len(class_names), class_names, mean, std, key)
