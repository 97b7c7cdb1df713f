"""Tests for the data layer (mgdd.data): named datasets, IDX reading, custom data, class-balanced sampling."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from mgdd.data import (
    DatasetNotAvailableError,
    ImageDataset,
    as_image_dataset,
    available_datasets,
    check_ipc,
    denormalize,
    from_tensors,
    from_torch_dataset,
    load_dataset,
    read_idx,
)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def _fashion_file(stem: str) -> Path | None:
    for candidate in (FASHION_MNIST_DIR / stem, FASHION_MNIST_DIR / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


needs_fashion_mnist = pytest.mark.skipif(
    not all(
        _fashion_file(s)
        for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                  "t10k-labels-idx1-ubyte")
    ),
    reason=f"Fashion-MNIST is not installed in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)",
)


def _idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file for ``array`` (magic 0x0000 08 ndim, big-endian u4 dims, data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


# ================================================================= Fashion-MNIST (installed offline)
@needs_fashion_mnist
def test_fashion_mnist_train_split(fmnist_train: ImageDataset) -> None:
    data = fmnist_train
    assert len(data) == 60000
    assert data.images.shape == (60000, 1, 28, 28)
    assert data.image_shape == (1, 28, 28)
    assert data.images.dtype == torch.float32
    assert data.labels.dtype == torch.long
    assert data.labels.shape == (60000,)
    assert int(data.labels.min()) == 0 and int(data.labels.max()) == 9
    assert data.num_classes == 10
    assert torch.bincount(data.labels, minlength=10).tolist() == [6000] * 10
    assert data.class_counts() == [6000] * 10
    assert data.name == "fashion-mnist"


@needs_fashion_mnist
def test_fashion_mnist_test_split(fmnist_test: ImageDataset) -> None:
    data = fmnist_test
    assert len(data) == 10000
    assert data.images.shape == (10000, 1, 28, 28)
    assert data.images.dtype == torch.float32 and data.labels.dtype == torch.long
    assert torch.bincount(data.labels, minlength=10).tolist() == [1000] * 10


@needs_fashion_mnist
def test_fashion_mnist_normalisation(fmnist_train: ImageDataset, fmnist_test: ImageDataset) -> None:
    assert fmnist_train.mean == pytest.approx((0.2861,)) and fmnist_train.std == pytest.approx((0.3530,))
    assert fmnist_test.mean == fmnist_train.mean and fmnist_test.std == fmnist_train.std
    images = fmnist_train.images.double()
    assert abs(images.mean().item()) < 0.01
    assert abs(images.std().item() - 1.0) < 0.01


@needs_fashion_mnist
def test_fashion_mnist_class_names(fmnist_train: ImageDataset) -> None:
    assert len(fmnist_train.class_names) == 10
    assert fmnist_train.class_names[0] == "T-shirt/top"
    assert fmnist_train.class_names[9] == "Ankle boot"


@needs_fashion_mnist
def test_fashion_mnist_denormalize_back_to_unit_range(fmnist_test: ImageDataset) -> None:
    pixels = fmnist_test.denormalize()
    assert pixels.min().item() >= -1e-5
    assert pixels.max().item() <= 1 + 1e-5
    # Undoing the normalisation gives back the raw bytes / 255.
    raw = read_idx(_fashion_file("t10k-images-idx3-ubyte"))
    expected = torch.from_numpy(raw[:100].astype(np.float32) / 255.0).unsqueeze(1)
    torch.testing.assert_close(pixels[:100], expected, atol=1e-5, rtol=0)
    # the free function agrees with the method
    torch.testing.assert_close(denormalize(fmnist_test.images[:100], fmnist_test.mean, fmnist_test.std), pixels[:100])


@needs_fashion_mnist
def test_fashion_mnist_raw_idx_matches(fmnist_train: ImageDataset) -> None:
    labels = read_idx(_fashion_file("train-labels-idx1-ubyte"))
    assert labels.shape == (60000,)
    assert labels.dtype == np.uint8
    assert int(labels[0]) == 9  # the first training image is an ankle boot
    assert fmnist_train.class_names[int(labels[0])] == "Ankle boot"
    assert int(fmnist_train.labels[0]) == 9
    assert torch.equal(fmnist_train.labels, torch.from_numpy(labels.astype(np.int64)))
    images = read_idx(_fashion_file("train-images-idx3-ubyte"))
    assert images.shape == (60000, 28, 28)


@needs_fashion_mnist
@pytest.mark.parametrize("alias", ["FMNIST", "fashion_mnist", " Fashion-MNIST "])
def test_fashion_mnist_aliases(alias: str, fmnist_test: ImageDataset) -> None:
    data = load_dataset(alias, "test", download=False)
    assert data.name == "fashion-mnist"
    assert torch.equal(data.labels, fmnist_test.labels)
    assert data.images.shape == fmnist_test.images.shape


# ================================================================= registry errors
def test_available_datasets_lists_the_named_datasets() -> None:
    names = available_datasets()
    for expected in ("fashion-mnist", "mnist", "cifar10", "cifar100", "svhn", "tiny-imagenet", "imagefolder",
                     "digits"):
        assert expected in names


def test_unknown_dataset_name_lists_available() -> None:
    with pytest.raises(KeyError) as info:
        load_dataset("no-such-dataset")
    message = str(info.value)
    assert "no-such-dataset" in message
    assert "available" in message
    for name in available_datasets():
        assert name in message


@pytest.mark.parametrize("split", ["val", "validation", "TRAIN", ""])
def test_bad_split_raises_value_error(split: str) -> None:
    with pytest.raises(ValueError, match="split"):
        load_dataset("digits", split)


def test_absent_fashion_mnist_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotAvailableError) as info:
        load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert str(tmp_path) in message  # says where it looked


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_absent_dataset_without_download_raises(name: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotAvailableError, match=name):
        load_dataset(name, "train", root=empty, download=False)


def test_imagefolder_needs_root() -> None:
    with pytest.raises(ValueError, match="root"):
        load_dataset("imagefolder")


# ================================================================= IDX files
def test_truncated_raw_idx_raises_value_error(tmp_path: Path) -> None:
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    whole = _idx_bytes(images)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(whole[:-10])  # header says 5x4x4 but 10 bytes are missing
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(path)


def test_truncated_idx_through_load_dataset(tmp_path: Path) -> None:
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(images)[:1000])
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.arange(5, dtype=np.uint8)))
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        load_dataset("fashion-mnist", "train", root=tmp_path, download=False)
    assert "train-images-idx3-ubyte" in str(info.value)


def test_truncated_gzipped_idx_raises_value_error(tmp_path: Path) -> None:
    """A cut-off download (.gz) must fail like any other truncated IDX file: ValueError, not EOFError."""
    images = np.random.default_rng(0).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    compressed = gzip.compress(_idx_bytes(images))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(path)


def test_not_an_idx_file(tmp_path: Path) -> None:
    path = tmp_path / "junk"
    path.write_bytes(b"\x01\x02\x03\x04hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x0d\x01" + np.asarray([2], dtype=">u4").tobytes() + b"\x00" * 8)  # float32 IDX
    with pytest.raises(ValueError, match="unsigned-byte"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path: Path, compress: bool) -> None:
    array = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5) * 7
    data = _idx_bytes(array)
    path = tmp_path / ("tiny-idx3-ubyte.gz" if compress else "tiny-idx3-ubyte")
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.shape == (2, 3, 5)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    label_path = tmp_path / ("l-idx1-ubyte.gz" if compress else "l-idx1-ubyte")
    label_path.write_bytes(gzip.compress(_idx_bytes(labels)) if compress else _idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(label_path), labels)


def test_mnist_layout_read_from_root(tmp_path: Path) -> None:
    """Hand-written IDX files in root/MNIST/raw load as "mnist" with the fixed MNIST normalisation."""
    rng = np.random.default_rng(1)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 10
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images)))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(labels))
    data = load_dataset("mnist", "test", root=tmp_path, download=False)
    assert data.images.shape == (20, 1, 28, 28)
    assert data.labels.tolist() == labels.tolist()
    assert data.mean == pytest.approx((0.1307,)) and data.std == pytest.approx((0.3081,))
    expected = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    torch.testing.assert_close(data.denormalize(), expected, atol=1e-5, rtol=0)


# ================================================================= digits (bundled with scikit-learn)
def test_digits_splits(digits_train: ImageDataset, digits_test: ImageDataset) -> None:
    assert len(digits_train) + len(digits_test) == 1797
    assert len(digits_train) > len(digits_test) > 0
    assert len(digits_train) == pytest.approx(0.8 * 1797, abs=10)
    for data in (digits_train, digits_test):
        assert data.image_shape == (1, 8, 8)
        assert data.num_classes == 10
        assert data.class_names == [str(d) for d in range(10)]
        assert data.images.dtype == torch.float32 and data.labels.dtype == torch.long
    assert set(digits_train.labels.tolist()) == set(range(10))
    assert set(digits_test.labels.tolist()) == set(range(10))
    assert all(c > 0 for c in digits_train.class_counts())
    assert all(c > 0 for c in digits_test.class_counts())


def test_digits_split_is_a_partition_of_sklearn_digits(digits_train: ImageDataset, digits_test: ImageDataset) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    counts = np.bincount(bunch.target, minlength=10)
    total = (torch.bincount(digits_train.labels, minlength=10) + torch.bincount(digits_test.labels, minlength=10))
    assert total.tolist() == counts.tolist()
    # the split is fixed (seeded): loading again gives the same samples
    again = load_dataset("digits", "train")
    assert torch.equal(again.images, digits_train.images) and torch.equal(again.labels, digits_train.labels)


def test_digits_normalisation(digits_train: ImageDataset, digits_test: ImageDataset) -> None:
    images = digits_train.images.double()
    assert abs(images.mean().item()) < 0.01
    assert abs(images.std().item() - 1.0) < 0.01
    # statistics come from the training split only
    assert digits_test.mean == digits_train.mean
    assert digits_test.std == digits_train.std
    assert 0 < digits_train.mean[0] < 1
    pixels = digits_test.denormalize()
    assert pixels.min().item() >= -1e-5 and pixels.max().item() <= 1 + 1e-5


# ================================================================= imagefolder
def _write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _color(c: int, i: int) -> np.ndarray:
    return np.full((6, 6, 3), (40 * c + 10 * i, 100 + 20 * i, 200 - 50 * c), dtype=np.uint8)


@pytest.fixture()
def image_folder(tmp_path: Path) -> Path:
    for c, cls in enumerate(["cat", "dog"]):
        for i in range(3):
            _write_png(tmp_path / "train" / cls / f"{i}.png", _color(c, i))
    return tmp_path


def test_imagefolder_loads_classes_from_subfolders(image_folder: Path) -> None:
    data = load_dataset("imagefolder", root=image_folder)
    assert data.name == "imagefolder"
    assert data.images.shape == (6, 3, 6, 6)
    assert data.images.dtype == torch.float32
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.class_names == ["cat", "dog"]
    assert data.num_classes == 2
    assert len(data.mean) == 3 and len(data.std) == 3
    # per-channel statistics from the images themselves, so the result is normalised per channel
    assert data.images.mean(dim=(0, 2, 3)).abs().max().item() < 1e-4
    pixels = data.denormalize()
    for k, (c, i) in enumerate([(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]):
        expected = torch.from_numpy(_color(c, i).astype(np.float32) / 255.0).permute(2, 0, 1)
        torch.testing.assert_close(pixels[k], expected, atol=1e-5, rtol=0)


def test_imagefolder_of_grayscale_files_has_one_channel(tmp_path: Path) -> None:
    for c, cls in enumerate(["a", "b"]):
        for i in range(2):
            _write_png(tmp_path / cls / f"{i}.png", np.full((5, 5), 60 * c + 20 * i, dtype=np.uint8))
    data = load_dataset("imagefolder", root=tmp_path)
    assert data.images.shape == (2, 1, 5, 5)  # no split folders: one of each class's two images is held out
    values = torch.cat([load_dataset("imagefolder", split, root=tmp_path).denormalize()[:, 0, 0, 0]
                        for split in ("train", "test")])
    assert torch.allclose(values.sort().values, torch.tensor([0, 20, 60, 80]) / 255, atol=1e-5)
    _write_png(tmp_path / "b" / "2.png", np.full((5, 5, 3), (200, 10, 10), dtype=np.uint8))  # one colour file: RGB
    from mgdd.data.registry import _read_cached

    _read_cached.cache_clear()
    assert load_dataset("imagefolder", root=tmp_path).images.shape[1] == 3


def test_imagefolder_without_split_folders_never_tests_on_training_images(tmp_path: Path, caplog) -> None:
    for c, cls in enumerate(["cat", "dog"]):
        for i in range(10):
            _write_png(tmp_path / cls / f"{i}.png", np.full((4, 4, 3), 10 * i + 120 * c, dtype=np.uint8))
    with caplog.at_level("WARNING"):
        train = load_dataset("imagefolder", "train", root=tmp_path)
        test = load_dataset("imagefolder", "test", root=tmp_path)
    assert "no train/ and test/ folders" in caplog.text
    assert len(train) == 16 and len(test) == 4 and test.labels.tolist() == [0, 0, 1, 1]  # stratified, 20 %
    seen = {round(v, 4) for v in train.denormalize()[:, 0, 0, 0].tolist()}
    held = {round(v, 4) for v in test.denormalize()[:, 0, 0, 0].tolist()}
    assert not seen & held and len(seen | held) == 20  # disjoint, and together every image
    again = load_dataset("imagefolder", "test", root=tmp_path)
    assert torch.equal(again.images, test.images)  # the same split every time


def test_imagefolder_test_split_uses_train_statistics(image_folder: Path) -> None:
    for c, cls in enumerate(["cat", "dog"]):
        _write_png(image_folder / "test" / cls / "0.png", _color(c, 2))
    train = load_dataset("imagefolder", "train", root=image_folder)
    test = load_dataset("imagefolder", "test", root=image_folder)
    assert len(test) == 2
    assert test.labels.tolist() == [0, 1]
    assert test.class_names == train.class_names
    assert test.mean == train.mean and test.std == train.std


def test_imagefolder_missing_test_split_is_not_read_as_one_class(image_folder: Path) -> None:
    """root holds only train/<class>/: asking for the test split must not return the training images
    under a single class named "train"."""
    with pytest.raises((DatasetNotAvailableError, ValueError)):
        data = load_dataset("imagefolder", "test", root=image_folder)
        pytest.fail(f"got {data!r} with classes {data.class_names}")  # pragma: no cover


def test_imagefolder_test_split_labels_follow_train_classes(tmp_path: Path) -> None:
    """A class missing from test/ must not shift the label indices of the test split."""
    for c, cls in enumerate(["cat", "dog", "fox"]):
        _write_png(tmp_path / "train" / cls / "0.png", _color(c % 2, c))
    _write_png(tmp_path / "test" / "cat" / "0.png", _color(0, 0))
    _write_png(tmp_path / "test" / "fox" / "0.png", _color(0, 2))
    train = load_dataset("imagefolder", "train", root=tmp_path)
    test = load_dataset("imagefolder", "test", root=tmp_path)
    assert train.class_names == ["cat", "dog", "fox"]
    assert [test.class_names[int(y)] for y in test.labels] == ["cat", "fox"]
    assert test.labels.tolist() == [0, 2]  # "fox" is class 2 in train


def test_imagefolder_sizes_must_agree_unless_resized(tmp_path: Path) -> None:
    _write_png(tmp_path / "a" / "0.png", np.zeros((6, 6, 3), np.uint8))
    _write_png(tmp_path / "b" / "0.png", np.full((8, 10, 3), 255, np.uint8))
    with pytest.raises(ValueError, match="differ in size"):
        load_dataset("imagefolder", root=tmp_path)
    data = load_dataset("imagefolder", root=tmp_path, image_size=4)
    assert data.images.shape == (2, 3, 4, 4)
    assert data.class_names == ["a", "b"]
    assert data.labels.tolist() == [0, 1]


# ================================================================= from_tensors
def test_from_tensors_uint8_scaled_and_normalised() -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 5, 5), generator=gen, dtype=torch.uint8)
    images[:, 1] //= 4  # channels with different statistics
    labels = torch.arange(40) % 4
    data = from_tensors(images, labels)
    assert data.images.dtype == torch.float32
    assert data.num_classes == 4
    assert data.class_names == ["0", "1", "2", "3"]
    assert data.name == "custom"
    pixels = images.float() / 255.0
    expected_mean = pixels.mean(dim=(0, 2, 3))
    expected_std = pixels.std(dim=(0, 2, 3))
    assert data.mean == pytest.approx(tuple(expected_mean.tolist()), abs=1e-6)
    assert data.std == pytest.approx(tuple(expected_std.tolist()), abs=1e-6)
    assert data.images.mean(dim=(0, 2, 3)).abs().max().item() < 1e-5
    torch.testing.assert_close(data.images.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-4, rtol=0)
    torch.testing.assert_close(data.denormalize(), pixels, atol=1e-5, rtol=0)


def test_from_tensors_adds_channel_dimension() -> None:
    images = torch.rand(6, 7, 9)
    data = from_tensors(images, torch.tensor([0, 1, 0, 1, 0, 1]))
    assert data.images.shape == (6, 1, 7, 9)
    assert data.image_shape == (1, 7, 9)
    assert len(data.mean) == 1


def test_from_tensors_explicit_statistics_used_exactly() -> None:
    images = torch.rand(4, 2, 3, 3)
    data = from_tensors(images, torch.tensor([0, 1, 1, 0]), mean=(0.5, 0.25), std=(0.2, 0.4))
    assert data.mean == (0.5, 0.25) and data.std == (0.2, 0.4)
    expected = (images - torch.tensor([0.5, 0.25]).view(1, 2, 1, 1)) / torch.tensor([0.2, 0.4]).view(1, 2, 1, 1)
    torch.testing.assert_close(data.images, expected)


def test_from_tensors_normalized_keeps_values() -> None:
    images = torch.randn(5, 1, 4, 4) * 3
    data = from_tensors(images, torch.tensor([0, 1, 2, 0, 1]), normalized=True, mean=(0.3,), std=(0.7,))
    assert torch.equal(data.images, images)
    assert data.mean == (0.3,) and data.std == (0.7,)
    plain = from_tensors(images, torch.tensor([0, 1, 2, 0, 1]), normalized=True)
    assert torch.equal(plain.images, images)
    assert plain.mean == (0.0,) and plain.std == (1.0,)


def test_from_tensors_class_names_and_num_classes() -> None:
    data = from_tensors(torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 0]), class_names=["x", "y", "z"], name="mine")
    assert data.num_classes == 3 and data.class_names == ["x", "y", "z"] and data.name == "mine"
    data = from_tensors(torch.rand(3, 1, 2, 2), torch.tensor([0, 1, 0]), num_classes=5)
    assert data.num_classes == 5 and len(data.class_names) == 5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_from_tensors_rejects_non_finite(bad: float) -> None:
    images = torch.rand(4, 1, 3, 3)
    images[2, 0, 1, 1] = bad
    with pytest.raises(ValueError, match="NaN"):
        from_tensors(images, torch.tensor([0, 1, 0, 1]))


def test_from_tensors_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError, match="shape"):
        from_tensors(torch.rand(4, 9), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="shape"):
        from_tensors(torch.rand(4, 1, 3, 3, 2), torch.tensor([0, 1, 0, 1]))


def test_from_tensors_rejects_labels_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        from_tensors(torch.rand(4, 1, 3, 3), torch.tensor([0, 1, 2, 3]), num_classes=3)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        from_tensors(torch.rand(2, 1, 3, 3), torch.tensor([-1, 1]), num_classes=2)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        from_tensors(torch.rand(2, 1, 3, 3), torch.tensor([0, 2]), class_names=["a", "b"])


def test_from_tensors_rejects_label_count_mismatch() -> None:
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        from_tensors(torch.rand(4, 1, 3, 3), torch.tensor([0, 1, 0]))


def test_from_tensors_rejects_bad_types() -> None:
    with pytest.raises(TypeError):
        from_tensors([[0.0]], torch.tensor([0, 1]))  # type: ignore[arg-type]  (numpy arrays are accepted)
    with pytest.raises(TypeError):
        from_tensors(torch.zeros(2, 1, 3, 3, dtype=torch.int32), torch.tensor([0, 1]))
    with pytest.raises(TypeError):
        from_tensors(torch.rand(2, 1, 3, 3), torch.tensor([0.0, 1.0]))


# ================================================================= torch Datasets and as_image_dataset
class _TensorPairs(Dataset):
    classes = ["zero", "one", "two"]

    def __init__(self) -> None:
        self.images = torch.rand(6, 1, 4, 4)
        self.labels = [0, 1, 2, 2, 1, 0]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i]


class _PilPairs(Dataset):
    def __init__(self) -> None:
        self.arrays = [np.full((5, 5, 3), 30 * i, dtype=np.uint8) for i in range(4)]
        self.labels = [0, 1, 0, 1]

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return Image.fromarray(self.arrays[i]), torch.tensor(self.labels[i])


def test_from_torch_dataset_with_tensors() -> None:
    source = _TensorPairs()
    data = from_torch_dataset(source)
    assert data.images.shape == (6, 1, 4, 4)
    assert data.labels.tolist() == source.labels
    assert data.labels.dtype == torch.long
    assert data.class_names == ["zero", "one", "two"]  # taken from dataset.classes
    torch.testing.assert_close(data.denormalize(), source.images, atol=1e-5, rtol=0)


def test_from_torch_dataset_with_pil_images() -> None:
    source = _PilPairs()
    data = from_torch_dataset(source, class_names=["dark", "light"], name="pil")
    assert data.images.shape == (4, 3, 5, 5)
    assert data.labels.tolist() == [0, 1, 0, 1]
    assert data.class_names == ["dark", "light"] and data.name == "pil"
    expected = torch.stack([torch.from_numpy(a).permute(2, 0, 1).float() / 255.0 for a in source.arrays])
    torch.testing.assert_close(data.denormalize(), expected, atol=1e-5, rtol=0)


def test_from_torch_dataset_empty() -> None:
    with pytest.raises(ValueError, match="empty"):
        from_torch_dataset(torch.utils.data.TensorDataset(torch.rand(0, 1, 2, 2), torch.zeros(0)))


def test_as_image_dataset() -> None:
    images, labels = torch.rand(4, 1, 3, 3), torch.tensor([0, 1, 1, 0])
    from_tuple = as_image_dataset((images, labels), name="tup")
    assert isinstance(from_tuple, ImageDataset)
    assert from_tuple.name == "tup" and len(from_tuple) == 4
    assert torch.equal(from_tuple.labels, labels)
    assert as_image_dataset(from_tuple) is from_tuple
    from_dataset = as_image_dataset(_TensorPairs())
    assert len(from_dataset) == 6
    with pytest.raises(TypeError, match="list"):
        as_image_dataset([images, labels])  # type: ignore[arg-type]


# ================================================================= class-balanced sampling
@pytest.fixture(scope="module")
def uneven() -> ImageDataset:
    """Class 0: 10 samples, class 1: 8, class 2 ("rare"): 3."""
    labels = torch.tensor([0] * 10 + [1] * 8 + [2] * 3)[torch.randperm(21, generator=torch.Generator().manual_seed(5))]
    return from_tensors(torch.rand(21, 1, 2, 2), labels, class_names=["common", "mid", "rare"])


def test_balanced_indices(digits_train: ImageDataset) -> None:
    idx = digits_train.balanced_indices(5, seed=3)
    assert idx.dtype == torch.long
    assert len(idx) == 50
    assert len(set(idx.tolist())) == 50
    chosen = digits_train.labels[idx]
    assert torch.bincount(chosen, minlength=10).tolist() == [5] * 10
    assert chosen.tolist() == sorted(chosen.tolist())  # class-major order
    assert torch.equal(idx, digits_train.balanced_indices(5, seed=3))
    assert not torch.equal(idx, digits_train.balanced_indices(5, seed=4))


def test_balanced_subset(digits_train: ImageDataset) -> None:
    sub = digits_train.balanced_subset(2, seed=1)
    assert len(sub) == 20
    assert sub.class_counts() == [2] * 10
    idx = digits_train.balanced_indices(2, seed=1)
    assert torch.equal(sub.images, digits_train.images[idx])


@pytest.mark.parametrize("ipc", [0, -1, 2.5, True, "3", None])
def test_check_ipc_rejects_non_positive_integers(ipc, digits_train: ImageDataset) -> None:
    with pytest.raises(ValueError, match="ipc"):
        check_ipc(ipc, digits_train)


def test_check_ipc_accepts_up_to_smallest_class(uneven: ImageDataset) -> None:
    check_ipc(1, uneven)
    check_ipc(3, uneven)
    assert len(uneven.balanced_indices(3)) == 9


def test_check_ipc_names_the_smallest_class(uneven: ImageDataset) -> None:
    with pytest.raises(ValueError) as info:
        check_ipc(4, uneven)
    message = str(info.value)
    assert "ipc=4" in message
    assert "class 2" in message and "'rare'" in message
    assert "3 samples" in message
    with pytest.raises(ValueError, match="rare"):
        uneven.balanced_indices(4)


def test_class_index_consistent_with_labels(uneven: ImageDataset) -> None:
    index = uneven.class_index
    assert len(index) == 3
    assert [len(i) for i in index] == [10, 8, 3] == uneven.class_counts()
    for c, idx in enumerate(index):
        assert (uneven.labels[idx] == c).all()
        assert torch.equal(uneven.images_of_class(c), uneven.images[idx])
    assert sorted(torch.cat(index).tolist()) == list(range(21))


def test_subset_keeps_normalisation_and_names(uneven: ImageDataset) -> None:
    sub = uneven.subset([0, 5, 7])
    assert len(sub) == 3
    assert sub.mean == uneven.mean and sub.std == uneven.std
    assert sub.class_names == uneven.class_names and sub.num_classes == 3
    assert sub.name == uneven.name
    assert torch.equal(sub.images, uneven.images[[0, 5, 7]])
    assert torch.equal(sub.labels, uneven.labels[[0, 5, 7]])
    ts = sub.to_torch()
    assert len(ts) == 3 and torch.equal(ts[1][0], sub.images[1])


def test_image_dataset_validation() -> None:
    with pytest.raises(ValueError, match="class names"):
        ImageDataset(torch.rand(2, 1, 2, 2), torch.tensor([0, 1]), 2, ["a"], (0.0,), (1.0,))
    with pytest.raises(ValueError, match="mean/std"):
        ImageDataset(torch.rand(2, 1, 2, 2), torch.tensor([0, 1]), 2, ["a", "b"], (0.0, 0.0), (1.0, 1.0))
    with pytest.raises(TypeError, match="floating-point"):
        ImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), 2, ["a", "b"], (0.0,), (1.0,))


def test_from_tensors_needs_mean_and_std_together():
    images = torch.rand(4, 1, 5, 5)
    with pytest.raises(ValueError, match="both mean and std"):
        from_tensors(images, torch.tensor([0, 1, 0, 1]), mean=(0.5,))


def test_from_tensors_refuses_out_of_range_floats_and_reads_channels_last_and_numpy() -> None:
    with pytest.raises(ValueError, match=r"floats in \[0, 255\]"):
        from_tensors(torch.arange(4 * 9, dtype=torch.float32).view(4, 1, 3, 3) * 255 / 35, torch.tensor([0, 1, 0, 1]))
    nhwc = torch.rand(4, 5, 5, 3)
    data = from_tensors(nhwc, torch.tensor([0, 1, 0, 1]))
    assert data.image_shape == (3, 5, 5)
    assert torch.allclose(data.denormalize(), nhwc.permute(0, 3, 1, 2), atol=1e-5)
    from_numpy = from_tensors(nhwc.numpy(), torch.tensor([0, 1, 0, 1]).numpy())
    assert torch.allclose(from_numpy.images, data.images)


def test_from_tensors_like_another_split() -> None:
    train = from_tensors(torch.rand(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2]), class_names=["a", "b", "c"])
    test = from_tensors(torch.rand(3, 1, 4, 4), torch.tensor([0, 1, 2]), like=train)
    assert test.mean == train.mean and test.std == train.std and test.class_names == ["a", "b", "c"]


def test_datasets_are_keyword_specs_and_only_resizable_ones_take_image_size() -> None:
    from mgdd.data.registry import SPECS

    assert [name for name, spec in SPECS.items() if spec.resizable] == ["imagefolder"]
    with pytest.raises(TypeError):
        type(SPECS["digits"])("x", 1, 8, 10, None, None, None, "how", None)  # positional: refused
    with pytest.raises(ValueError, match="resizes only"):
        load_dataset("digits", image_size=16)
