"""tiny-imagenet reads the cs231n folder layout (checked on a hand-built miniature)."""

import pytest
from PIL import Image

import mgdd


def _write_image(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (value, value, value)).save(path)


def test_tiny_imagenet_layout(tmp_path):
    base = tmp_path / "tiny-imagenet-200"
    wnids = ["n001", "n002"]
    base.mkdir()
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for c, wnid in enumerate(wnids):
        for i in range(2):
            _write_image(base / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", 40 + 100 * c)
    rows = []
    for i, wnid in enumerate(["n002", "n001", "n002"]):
        _write_image(base / "val" / "images" / f"val_{i}.JPEG", 40 + 100 * wnids.index(wnid))
        rows.append(f"val_{i}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(rows) + "\n")

    train = mgdd.load_dataset("tiny-imagenet", "train", root=tmp_path, download=False)
    test = mgdd.load_dataset("tiny-imagenet", "test", root=tmp_path, download=False)
    assert train.image_shape == (3, 64, 64) and len(train) == 4 and train.num_classes == 2
    assert train.labels.tolist() == [0, 0, 1, 1]
    assert test.labels.tolist() == [1, 0, 1]
    # brighter class 1 stays brighter after normalisation
    assert test.images[0].mean() > test.images[1].mean()
    assert train.class_names[:2] == wnids


def test_tiny_imagenet_absent(tmp_path):
    with pytest.raises(mgdd.DatasetNotAvailableError, match="tiny-imagenet-200"):
        mgdd.load_dataset("tiny-imagenet", root=tmp_path, download=False)
