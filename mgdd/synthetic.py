"""`SyntheticSet`: a distilled dataset with its labels, normalisation and provenance.

On disk a set is a folder::

    synthetic.safetensors   images, labels (hard: int64 (N,), soft: float32 (N, K)), optional lr
    metadata.json           human-readable copy of the metadata (the safetensors header is authoritative)
    grid.png                one row per class, de-normalised (optional)
    README.md               dataset card (written for the Hub)

Released collections on the Hub hold one such folder per ``<method>/ipc<k>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from .data import ImageDataset, validate_labels
from .data.dataset import LabelledImages
from .cards import render_template
from .formation import decode_formation
from ._version import __version__
from .io import (
    CorruptFileError, atomic_path, load_tensors, push_folder, save_tensors_atomic, sha256, write_json_atomic,
    write_text_atomic,
)

TENSOR_FILE = "synthetic.safetensors"
METADATA_FILE = "metadata.json"
GRID_FILE = "grid.png"
DD_RANKING_FILES = ("images.pt", "labels.pt", "lr.pt")  # export_dd_ranking: images, labels, learned lr
FORMAT_VERSION = 1


@dataclass(repr=False)
class SyntheticSet(LabelledImages):
    """A synthetic (distilled) training set: the fields of :class:`~mgdd.data.dataset.LabelledImages` (images in
    the normalised space of the source dataset; its classes and normalisation), then the ones below.

    Attributes:
        labels: hard labels, long (N,), or soft labels, float (N, num_classes).
        learned_lr: a learning rate distilled together with the images (MTT-style), if any.
        metadata: provenance: method, dataset, ipc, architecture, seed, wall time, version, options.
        formation: multi-formation factor (IDC): each stored image holds ``formation**2`` samples at
            1/formation resolution (:mod:`mgdd.formation`); ``labels`` has one row per decoded sample.
            Training uses :meth:`decoded`; ``len`` and ``ipc`` count stored images (the memory).
    """

    learned_lr: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    formation: int = 1

    def __post_init__(self) -> None:
        self._validate_common("synthetic set")
        if not isinstance(self.formation, int) or self.formation < 1:
            raise ValueError(f"formation must be an integer >= 1, got {self.formation!r}")
        validate_labels(self.labels, self.num_classes, n=self.images.shape[0] * self.formation**2,
                        what="synthetic labels (one per decoded sample)" if self.formation > 1 else "synthetic labels")
        if self.learned_lr is not None and not (self.learned_lr > 0):
            raise ValueError(f"learned_lr must be positive, got {self.learned_lr}")
        self.metadata.setdefault("mgdd_version", __version__)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_real(
        cls, data: ImageDataset, indices: Tensor, metadata: dict[str, Any] | None = None
    ) -> "SyntheticSet":
        """A set made of real samples ``indices`` of ``data`` (coresets, initialisations)."""
        indices = torch.as_tensor(indices, dtype=torch.long)
        return cls(
            data.images[indices].clone(), data.labels[indices].clone(), data.num_classes,
            list(data.class_names), data.mean, data.std, metadata=dict(metadata or {}),
        )

    # ------------------------------------------------------------------ properties
    def __repr__(self) -> str:
        kind = "soft" if self.soft_labels else "hard"
        return (
            f"SyntheticSet(n={len(self)}, image_shape={self.image_shape}, classes={self.num_classes}, "
            f"labels={kind}, method={self.metadata.get('method')!r}, dataset={self.metadata.get('dataset')!r})"
        )

    @property
    def soft_labels(self) -> bool:
        return self.labels.is_floating_point()

    @property
    def hard_labels(self) -> Tensor:
        """Class of every sample (argmax for soft labels)."""
        return self.labels.argmax(dim=1) if self.soft_labels else self.labels

    @property
    def sample_classes(self) -> Tensor:
        """The class each stored image was made for: ``metadata["classes"]`` when the method recorded it (soft-label
        methods do), else the hard labels. A soft label's argmax may name another class than the one its image
        was made for, so grids and counts use this."""
        recorded = self.metadata.get("classes")
        if recorded is not None and len(recorded) == len(self):
            return torch.as_tensor(recorded, dtype=torch.long)
        return self.hard_labels[:: self.formation**2]

    @property
    def distill_seconds(self) -> float | None:
        """Seconds the method spent making the set, summed over the runs of a resumed distillation where the
        method records them (``distill_seconds``; SRe2L/DWA's ``recover_seconds``), else ``wall_time``: the
        seconds of the call that returned it (for a resumed run, only its own part)."""
        for key in ("distill_seconds", "recover_seconds", "wall_time"):
            if self.metadata.get(key) is not None:
                return float(self.metadata[key])
        return None

    @property
    def ipc(self) -> int:
        """Images per class: as recorded by the method, else the largest class count."""
        recorded = self.metadata.get("ipc")
        if isinstance(recorded, int) and recorded * self.num_classes == len(self):
            return recorded
        return int(torch.bincount(self.hard_labels, minlength=self.num_classes).max()) // self.formation**2

    def decoded(self) -> "SyntheticSet":
        """The samples a network trains on: this set itself, or its multi-formation samples decoded."""
        if self.formation == 1:
            return self
        return SyntheticSet(decode_formation(self.images, self.formation), self.labels, self.num_classes,
                            list(self.class_names), self.mean, self.std, self.learned_lr,
                            {**self.metadata, "decoded_from_formation": self.formation})

    def fingerprint(self) -> str:
        """sha256 of the images and labels (what a run started from this set depends on)."""
        digest = hashlib.sha256(self.images.detach().cpu().float().contiguous().numpy().tobytes())
        digest.update(self.labels.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ conversion
    def to_torch(self) -> TensorDataset:
        """A torch ``TensorDataset`` of (image, label) for your own training loop (decoded samples)."""
        decoded = self.decoded()
        return TensorDataset(decoded.images, decoded.labels)

    # ------------------------------------------------------------------ files
    def _header(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "mean": list(self.mean),
            "std": list(self.std),
            "learned_lr": self.learned_lr,
            "formation": self.formation,
            "metadata": self.metadata,
        }

    def save(self, path: str | os.PathLike, grid: bool = True) -> Path:
        """Write the set to folder ``path`` (created if needed); every file is replaced atomically."""
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{folder} exists and is not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        header = self._header()
        tensors = {"images": self.images.float(), "labels": self.labels}
        save_tensors_atomic(folder / TENSOR_FILE, tensors, metadata={"mgdd": json.dumps(header)})
        # the tensor file's checksum beside it: load() refuses a file changed since (a flipped byte included)
        write_json_atomic(folder / METADATA_FILE, {**header, "sha256": {TENSOR_FILE: sha256(folder / TENSOR_FILE)}})
        if grid:
            self.save_grid(folder / GRID_FILE)
        elif (folder / GRID_FILE).exists():
            (folder / GRID_FILE).unlink()  # a stale picture of an older set would mislead
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SyntheticSet":
        """Read a set saved by :meth:`save` (the folder or its ``synthetic.safetensors``)."""
        path = Path(path)
        file = path / TENSOR_FILE if path.is_dir() else path
        if not file.exists():
            raise FileNotFoundError(f"no synthetic set at {path} (expected {file})")
        _check_recorded_checksum(file)
        tensors, raw_meta = load_tensors(file)
        try:
            header = json.loads(raw_meta["mgdd"])
            images, labels = tensors["images"], tensors["labels"]
            return cls(
                images, labels, int(header["num_classes"]), list(header["class_names"]),
                tuple(header["mean"]), tuple(header["std"]), header.get("learned_lr"),
                dict(header.get("metadata", {})), int(header.get("formation", 1)),
            )
        except (KeyError, json.JSONDecodeError, TypeError) as error:
            raise CorruptFileError(f"{file} is not an mgdd synthetic set (missing or bad {error})") from error

    def save_grid(self, path: str | os.PathLike, max_per_class: int = 10) -> Path:
        """PNG of the set, de-normalised, one row per class headed by its name (at most ``max_per_class``
        columns; a caption says how many of each class's images are shown). Pixels are clipped to the real
        data's range [0, 1] for display only. Multi-formation sets show their stored images (each a grid of its
        samples)."""
        from PIL import Image, ImageDraw
        from torchvision.utils import make_grid

        labels = self.sample_classes
        rows = []
        columns = min(max_per_class, self.ipc)
        blank = torch.ones(self.image_shape)
        pixels = self.denormalize().detach().cpu().clamp(0, 1)
        for c in range(self.num_classes):
            members = pixels[labels.cpu() == c][:columns]
            pad = blank.expand(columns - len(members), *self.image_shape)
            rows.append(torch.cat([members, pad]))
        grid = make_grid(torch.cat(rows), nrow=columns, padding=1, pad_value=1.0)
        picture = Image.fromarray((grid.permute(1, 2, 0) * 255).round().byte().numpy()).convert("RGB")
        row_height = (grid.shape[1] - 1) // self.num_classes
        names = [str(n) for n in self.class_names]
        margin = 6 * max(len(n) for n in names) + 8
        caption = f"{columns} of {self.ipc} per class shown; pixels clipped to [0, 1] for display"
        canvas = Image.new("RGB", (max(picture.width + margin, 6 * len(caption) + 8), picture.height + 14), "white")
        canvas.paste(picture, (margin, 0))
        draw = ImageDraw.Draw(canvas)
        for c, name in enumerate(names):
            draw.text((2, c * row_height + max(0, row_height // 2 - 5)), name, fill="black")
        draw.text((2, picture.height + 2), caption, fill="black")
        with atomic_path(path) as tmp:
            canvas.save(tmp, format="png")
        return Path(path)

    def export_dd_ranking(self, folder: str | os.PathLike) -> Path:
        """Write ``images.pt``, ``labels.pt`` (and ``lr.pt``) in the file layout of DD-Ranking's evaluators.

        What works as it is: 3-channel sets of the datasets DD-Ranking 0.2.0 loads (CIFAR-10/100, Tiny-ImageNet).
        A 1-channel set (MNIST, Fashion-MNIST) needs changes on DD-Ranking's side: 0.2.0 has no loader for
        those datasets, builds 3-channel networks, and its DSA crop fails on 1-channel input; mgdd's own
        evaluator (:func:`mgdd.evaluate`, with DD-Ranking's scores in :mod:`mgdd.relabel`) runs them.

        Images stay in the normalised space, as DC/DSA/DM/MTT store their results and as DD-Ranking's
        evaluator expects (it trains on them as they are and tests on normalised images); a multi-formation
        set is exported decoded (the samples a network trains on).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        decoded = self.decoded()
        images, labels, lr = DD_RANKING_FILES
        items = {images: decoded.images.cpu().contiguous(), labels: decoded.labels.cpu().contiguous()}
        if self.learned_lr is not None:
            items[lr] = torch.tensor(self.learned_lr)
        for name, tensor in items.items():
            with atomic_path(folder / name) as tmp:
                torch.save(tensor, tmp)
        return folder

    # ------------------------------------------------------------------ Hub
    def push_to_hub(
        self,
        repo_id: str,
        path_in_repo: str | None = None,
        private: bool = False,
        token: str | None = None,
        commit_message: str | None = None,
    ) -> str:
        """Upload the set (tensors, metadata, grid, dataset card) to a Hub dataset repository.

        ``path_in_repo`` puts it in a sub-folder, e.g. ``"mgdd/ipc10"`` for a released collection.
        Returns the URL of the commit.
        """
        with tempfile.TemporaryDirectory() as tmp:
            self.save(tmp)
            write_text_atomic(Path(tmp) / "README.md", render_synthetic_card(self, repo_id, path_in_repo))
            return push_folder(tmp, repo_id, "dataset",
                               commit_message or f"Upload {self.metadata.get('method', 'synthetic')} set",
                               path_in_repo=path_in_repo, private=private, token=token)


def _check_recorded_checksum(file: Path) -> None:
    """Refuse ``file`` if the ``metadata.json`` beside it records another sha256 for it (sets saved before the
    checksum was recorded load unchecked)."""
    metadata = file.parent / METADATA_FILE
    if not metadata.exists():
        return
    try:
        recorded = json.loads(metadata.read_text()).get("sha256", {}).get(file.name)
    except (json.JSONDecodeError, AttributeError) as error:
        raise CorruptFileError(f"{metadata} is not valid JSON ({error}); restore it or save the set again") from error
    if recorded is not None and sha256(file) != recorded:
        raise CorruptFileError(
            f"{file} does not match the sha256 recorded in {metadata}: the file was corrupted or changed after it "
            "was saved. Download or distil the set again (a released set: `mgdd pull`); if you changed it on "
            "purpose, save it with SyntheticSet.save to record the new checksum")


def render_synthetic_card(syn: SyntheticSet, repo_id: str, path_in_repo: str | None = None) -> str:
    """Dataset card (README.md) for a synthetic set on the Hub."""
    meta = syn.metadata
    load_args = f'"{repo_id}"'
    if path_in_repo and path_in_repo.count("/") == 1 and path_in_repo.split("/")[1].startswith("ipc"):
        method, ipc = path_in_repo.split("/")
        load_args += f', method="{method}", ipc={ipc[3:]}'
    return render_template(
        "synthetic_set.md",
        title=f"{meta.get('method', 'synthetic')} — {meta.get('dataset', 'dataset')}, IPC {syn.ipc}",
        method=meta.get("method"), dataset=meta.get("dataset"), ipc=syn.ipc, num_images=len(syn),
        image_shape="x".join(map(str, syn.image_shape)), label_kind="soft" if syn.soft_labels else "hard",
        arch=meta.get("arch"), seed=meta.get("seed"), wall_time=meta.get("wall_time"),
        version=meta.get("mgdd_version"), load_args=load_args,
        mean=[round(m, 4) for m in syn.mean], std=[round(s, 4) for s in syn.std],
    )
