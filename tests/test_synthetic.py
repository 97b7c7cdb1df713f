"""Tests for SyntheticSet (mgdd.synthetic) and its on-disk format (mgdd.io)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import mgdd
import mgdd.io
from mgdd.data import ImageDataset, from_tensors
from mgdd.io import CorruptFileError
from mgdd.synthetic import GRID_FILE, METADATA_FILE, TENSOR_FILE, SyntheticSet

NUM_CLASSES = 3
NAMES = ["ant", "bee", "cat"]
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def _hard(ipc: int = 2, seed: int = 0, shape=(3, 5, 7), **kw) -> SyntheticSet:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(NUM_CLASSES * ipc, *shape, generator=gen)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(ipc)
    metadata = {"method": "test-method", "dataset": "toy", "ipc": ipc, "seed": seed, "options": {"a": [1, 2]}}
    channels = shape[0]
    return SyntheticSet(images, labels, NUM_CLASSES, list(NAMES), MEAN[:channels], STD[:channels],
                        metadata=metadata, **kw)


def _soft(ipc: int = 2, seed: int = 1) -> SyntheticSet:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(NUM_CLASSES * ipc, 3, 5, 7, generator=gen)
    logits = torch.randn(NUM_CLASSES * ipc, NUM_CLASSES, generator=gen)
    # make the argmax follow a known class per sample
    target = torch.arange(NUM_CLASSES).repeat_interleave(ipc)
    logits[torch.arange(len(target)), target] += 10
    labels = logits.softmax(dim=1)
    return SyntheticSet(images, labels, NUM_CLASSES, list(NAMES), MEAN, STD, learned_lr=0.0123456789,
                        metadata={"method": "soft-method", "dataset": "toy"})


def _assert_same(a: SyntheticSet, b: SyntheticSet) -> None:
    assert a.images.dtype == b.images.dtype and torch.equal(a.images, b.images)
    assert a.labels.dtype == b.labels.dtype and torch.equal(a.labels, b.labels)
    assert a.num_classes == b.num_classes
    assert a.class_names == b.class_names
    assert a.mean == b.mean and a.std == b.std
    assert a.learned_lr == b.learned_lr
    assert a.metadata == b.metadata


# ================================================================= save / load round trip
@pytest.mark.parametrize("make", [_hard, _soft, lambda: _hard(learned_lr=0.01)], ids=["hard", "soft", "lr"])
def test_save_load_bit_exact(tmp_path: Path, make) -> None:
    syn = make()
    folder = syn.save(tmp_path / "set")
    assert folder == tmp_path / "set"
    assert (folder / TENSOR_FILE).is_file() and (folder / METADATA_FILE).is_file()
    loaded = SyntheticSet.load(folder)
    _assert_same(syn, loaded)
    assert loaded.metadata["mgdd_version"] == mgdd.__version__
    # the tensor file alone is enough
    _assert_same(syn, SyntheticSet.load(folder / TENSOR_FILE))
    _assert_same(syn, SyntheticSet.load(str(folder)))


def test_round_trip_of_soft_labels_and_learned_lr(tmp_path: Path) -> None:
    syn = _soft()
    loaded = SyntheticSet.load(syn.save(tmp_path))
    assert loaded.soft_labels
    assert loaded.labels.dtype == torch.float32
    assert loaded.labels.shape == (6, NUM_CLASSES)
    assert loaded.learned_lr == 0.0123456789
    assert loaded.class_names == NAMES
    assert loaded.mean == MEAN and loaded.std == STD


def test_metadata_json_mirrors_header(tmp_path: Path) -> None:
    syn = _hard(learned_lr=0.5)
    folder = syn.save(tmp_path)
    header = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    assert header["metadata"] == syn.metadata
    assert header["metadata"]["method"] == "test-method"
    assert header["num_classes"] == NUM_CLASSES
    assert header["class_names"] == NAMES
    assert header["mean"] == list(MEAN) and header["std"] == list(STD)
    assert header["learned_lr"] == 0.5
    assert header["format_version"] == 1
    # and the authoritative copy inside the safetensors header says the same
    _, raw = mgdd.io.load_tensors(folder / TENSOR_FILE)
    checksum = header.pop("sha256")  # the JSON copy also records the tensor file's checksum
    assert json.loads(raw["mgdd"]) == header
    assert checksum == {TENSOR_FILE: mgdd.io.sha256(folder / TENSOR_FILE)}


def test_grid_png_has_one_row_per_class(tmp_path: Path) -> None:
    ipc, c, h, w = 4, 3, 5, 7
    syn = _hard(ipc=ipc, shape=(c, h, w))
    folder = syn.save(tmp_path)
    path = folder / GRID_FILE
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    # make_grid(nrow=columns, padding=1): each cell is (H+1) x (W+1), plus one padding line at the end; class names in
    # a left margin, a caption line below
    columns = min(10, ipc)
    margin = 6 * max(len(n) for n in NAMES) + 8
    assert height == NUM_CLASSES * (h + 1) + 1 + 14
    assert width >= margin + columns * (w + 1) + 1


def test_grid_caps_columns_and_pads_short_classes(tmp_path: Path) -> None:
    # class 0: 12 samples, class 1: 1 sample, class 2: none -> 10 columns, blanks fill rows 1 and 2
    labels = torch.tensor([0] * 12 + [1])
    syn = SyntheticSet(torch.randn(13, 1, 4, 4), labels, 3, NAMES, (0.5,), (0.25,))
    path = syn.save_grid(tmp_path / "g.png")
    margin = 6 * max(len(n) for n in NAMES) + 8
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"))
    grid = pixels[:16, margin:margin + 51]  # the images: 3 rows of 10 cells of 5 x 5
    assert grid.shape == (16, 51)
    assert (grid[11:15, :] == 255).all()  # the empty row for class 2 is blank (white)
    assert (grid[6:10, 6:] == 255).all()  # class 1: one image, then blanks
    assert not (grid[1:5, 1:5] == 255).all()  # class 0's first image is there
    assert (pixels[:16, :margin] < 255).any()  # class names in the margin


def test_save_without_grid(tmp_path: Path) -> None:
    folder = _hard().save(tmp_path / "nogrid", grid=False)
    assert not (folder / GRID_FILE).exists()
    assert sorted(p.name for p in folder.iterdir()) == [METADATA_FILE, TENSOR_FILE]


def test_save_into_a_file_path_fails(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(NotADirectoryError):
        _hard().save(file)


# ================================================================= corrupt and missing files
def test_truncated_file_is_corrupt(tmp_path: Path) -> None:
    folder = _hard().save(tmp_path / "set")
    file = folder / TENSOR_FILE
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError) as info:
        SyntheticSet.load(folder)
    assert isinstance(info.value, ValueError)
    assert str(file) in str(info.value)


def test_random_bytes_are_corrupt(tmp_path: Path) -> None:
    file = tmp_path / TENSOR_FILE
    file.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(CorruptFileError, match="synthetic.safetensors"):
        SyntheticSet.load(file)
    file.write_bytes(b"")
    with pytest.raises(CorruptFileError):
        SyntheticSet.load(tmp_path)


def test_safetensors_without_mgdd_header_is_corrupt(tmp_path: Path) -> None:
    file = tmp_path / TENSOR_FILE
    save_file({"images": torch.randn(2, 1, 3, 3), "labels": torch.tensor([0, 1])}, str(file))
    with pytest.raises(CorruptFileError, match="not an mgdd synthetic set") as info:
        SyntheticSet.load(tmp_path)
    assert str(file) in str(info.value)
    save_file({"images": torch.randn(2, 1, 3, 3)}, str(file), metadata={"mgdd": json.dumps(_hard()._header())})
    with pytest.raises(CorruptFileError):  # header present, "labels" tensor missing
        SyntheticSet.load(file)
    save_file({"x": torch.zeros(1)}, str(file), metadata={"mgdd": "{not json"})
    with pytest.raises(CorruptFileError):
        SyntheticSet.load(file)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SyntheticSet.load(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        SyntheticSet.load(tmp_path)  # a folder without synthetic.safetensors
    with pytest.raises(FileNotFoundError):
        mgdd.io.load_tensors(tmp_path / "nothing.safetensors")


# ================================================================= atomic writes
def test_failed_save_leaves_previous_set_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "set"
    old = _hard(seed=1)
    old.save(folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    calls = []

    def half_write(tensors, filename, metadata=None):
        calls.append(filename)
        Path(filename).write_bytes(b"\x00\x01garbage")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(mgdd.io, "save_file", half_write)
    with pytest.raises(OSError, match="simulated"):
        _hard(seed=2).save(folder)
    assert len(calls) == 1
    assert Path(calls[0]) != folder / TENSOR_FILE  # it wrote to a temporary file, not over the set
    assert Path(calls[0]).parent == folder
    monkeypatch.undo()

    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # no temp files left behind
    for name, content in before.items():
        assert (folder / name).read_bytes() == content
    _assert_same(old, SyntheticSet.load(folder))


def test_save_over_existing_set_replaces_it(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    _hard(seed=1).save(folder)
    new = _soft()
    new.save(folder)
    _assert_same(new, SyntheticSet.load(folder))
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_path_cleans_up_on_error(tmp_path: Path) -> None:
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with mgdd.io.atomic_path(target) as tmp:
            tmp.write_text("new, half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
    mgdd.io.write_text_atomic(target, "new")
    assert target.read_text() == "new"


# ================================================================= validation
def test_rejects_nan_images() -> None:
    images = torch.randn(3, 1, 2, 2)
    images[1, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        SyntheticSet(images, torch.tensor([0, 1, 2]), 3, NAMES, (0.0,), (1.0,))


def test_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError, match="shape"):
        SyntheticSet(torch.randn(3, 4, 4), torch.tensor([0, 1, 2]), 3, NAMES, (0.0,), (1.0,))


def test_rejects_labels_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.tensor([0, 1, 3]), 3, NAMES, (0.0,), (1.0,))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.tensor([0, -1, 2]), 3, NAMES, (0.0,), (1.0,))


def test_rejects_label_count_mismatch() -> None:
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.tensor([0, 1]), 3, NAMES, (0.0,), (1.0,))


def test_rejects_soft_labels_of_wrong_width() -> None:
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.rand(3, 4), 3, NAMES, (0.0,), (1.0,))
    with pytest.raises(ValueError, match="NaN"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.full((3, 3), float("nan")), 3, NAMES, (0.0,), (1.0,))


def test_rejects_class_names_length_mismatch() -> None:
    with pytest.raises(ValueError, match="class names"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.tensor([0, 1, 2]), 3, ["a", "b"], (0.0,), (1.0,))


def test_rejects_mean_std_per_channel_mismatch() -> None:
    with pytest.raises(ValueError, match="mean/std"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.tensor([0, 1, 2]), 3, NAMES, MEAN, STD)


@pytest.mark.parametrize("lr", [0.0, -0.01, float("nan")])
def test_rejects_non_positive_learned_lr(lr: float) -> None:
    with pytest.raises(ValueError, match="learned_lr"):
        SyntheticSet(torch.randn(3, 1, 2, 2), torch.tensor([0, 1, 2]), 3, NAMES, (0.0,), (1.0,), learned_lr=lr)


# ================================================================= properties and conversions
def test_hard_label_properties() -> None:
    syn = _hard(ipc=4)
    assert len(syn) == 12
    assert syn.ipc == 4
    assert not syn.soft_labels
    assert syn.hard_labels is syn.labels
    assert syn.image_shape == (3, 5, 7)
    uneven = SyntheticSet(torch.randn(5, 1, 2, 2), torch.tensor([0, 0, 0, 1, 2]), 3, NAMES, (0.0,), (1.0,))
    assert uneven.ipc == 3  # the largest class count


def test_soft_label_properties() -> None:
    syn = _soft(ipc=2)
    assert syn.soft_labels
    assert syn.hard_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert torch.equal(syn.hard_labels, syn.labels.argmax(dim=1))
    assert syn.ipc == 2
    assert "soft" in repr(syn) and "soft-method" in repr(syn)


def test_to_torch() -> None:
    for syn in (_hard(), _soft()):
        ds = syn.to_torch()
        assert isinstance(ds, torch.utils.data.TensorDataset)
        assert len(ds) == len(syn)
        for i in (0, len(syn) - 1):
            image, label = ds[i]
            assert torch.equal(image, syn.images[i])
            assert torch.equal(label, syn.labels[i])


def test_denormalize() -> None:
    syn = _hard()
    expected = syn.images * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    torch.testing.assert_close(syn.denormalize(), expected)


def test_from_real() -> None:
    gen = torch.Generator().manual_seed(0)
    real = from_tensors(torch.rand(12, 1, 4, 4, generator=gen), torch.arange(12) % 3, class_names=NAMES, name="toy")
    assert isinstance(real, ImageDataset)
    idx = torch.tensor([0, 3, 1, 4, 2, 5])
    syn = SyntheticSet.from_real(real, idx, metadata={"method": "random"})
    assert torch.equal(syn.images, real.images[idx])
    assert torch.equal(syn.labels, real.labels[idx])
    assert syn.class_names == NAMES and syn.num_classes == 3
    assert syn.mean == real.mean and syn.std == real.std
    assert syn.metadata["method"] == "random"
    assert syn.ipc == 2
    syn.images += 1  # a copy, not a view of the real data
    assert not torch.equal(syn.images, real.images[idx])


def test_export_dd_ranking(tmp_path: Path) -> None:
    syn = _soft()
    folder = syn.export_dd_ranking(tmp_path / "ddr")
    assert sorted(p.name for p in folder.iterdir()) == ["images.pt", "labels.pt", "lr.pt"]
    images = torch.load(folder / "images.pt", weights_only=True)
    labels = torch.load(folder / "labels.pt", weights_only=True)
    lr = torch.load(folder / "lr.pt", weights_only=True)
    assert torch.equal(images, syn.images)
    assert torch.equal(labels, syn.labels)
    assert lr.dim() == 0
    assert lr.item() == pytest.approx(syn.learned_lr, rel=1e-6)

    hard = _hard()
    folder = hard.export_dd_ranking(tmp_path / "ddr-hard")
    assert sorted(p.name for p in folder.iterdir()) == ["images.pt", "labels.pt"]
    assert torch.equal(torch.load(folder / "images.pt", weights_only=True), hard.images)
    loaded_labels = torch.load(folder / "labels.pt", weights_only=True)
    assert loaded_labels.dtype == torch.long and torch.equal(loaded_labels, hard.labels)


def test_save_without_grid_removes_a_stale_grid(tmp_path):
    folder = _hard().save(tmp_path / "set")
    assert (folder / GRID_FILE).exists()
    _hard().save(folder, grid=False)
    assert not (folder / GRID_FILE).exists()


def test_sample_classes_come_from_the_method_not_the_argmax(tmp_path):
    from mgdd import SyntheticSet

    images = torch.rand(4, 1, 5, 5)
    labels = torch.tensor([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])  # argmax 1, 0, 1, 0
    syn = SyntheticSet(images, labels, 2, ["a", "b"], (0.0,), (1.0,), metadata={"classes": [0, 0, 1, 1]})
    assert syn.sample_classes.tolist() == [0, 0, 1, 1] and syn.hard_labels.tolist() == [1, 0, 1, 0]
    loaded = SyntheticSet.load(syn.save(tmp_path / "s"))
    assert loaded.sample_classes.tolist() == [0, 0, 1, 1]
    plain = SyntheticSet(images, labels, 2, ["a", "b"], (0.0,), (1.0,))
    assert plain.sample_classes.tolist() == [1, 0, 1, 0]  # nothing recorded: the argmax


def test_distill_seconds_prefers_the_methods_total_over_the_calls_wall_time() -> None:
    def made(**seconds):
        syn = _hard()
        syn.metadata.update(seconds)
        return syn

    assert made(wall_time=0.5).distill_seconds == 0.5
    assert made(wall_time=0.5, recover_seconds=120.0).distill_seconds == 120.0  # SRe2L/DWA, resumed
    assert made(wall_time=0.5, distill_seconds=300.0, recover_seconds=None).distill_seconds == 300.0
    assert made().distill_seconds is None
