"""Coreset selection in a network's feature space, per class: herding and k-center.

Herding (Welling, 2009) greedily adds the sample that keeps the running mean of the selected
features closest to the class mean; k-center greedy (Sener & Savarese, 2018) adds the sample
farthest from everything selected so far. As in the DC paper's baselines, features come from a
ConvNet trained on the real data: ``feature_epochs`` (3) on ``feature_per_class`` (100) images per class;
0 epochs gives a random ConvNet. Selection runs over ``candidates_per_class`` (500) random images per
class (``None``: every image). These defaults replace one epoch on all 60000 Fashion-MNIST images and
selection over all of them: the same IPC 10 accuracy (78.68 ± 0.27 against 78.70 ± 0.35, 3 models) at a
fraction of the time (`benchmarks/results/coreset_fashion_mnist.md`, `docs/baselines.md`).
Used by the coreset baselines, the iterative methods' herding initialisation and MGDD's herding start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .data import ImageDataset
from .io import CorruptFileError, load_tensors, save_tensors_atomic, sha256, write_json_atomic
from .nets import get_network
from .nets.features import embed
from .training import train_network

RULES = ("herding", "kcenter")


class SelectionFeatures(NamedTuple):
    """The candidates per class, their features (class-major) and the seconds it took to compute them: a cached
    entry keeps its cost, so that a set selected from it still counts the feature network it needed."""

    candidates: list[Tensor]
    features: Tensor
    seconds: float
    cached: bool = False  # True when this call reused them (from this process or the disk cache)


_FEATURE_CACHE: "OrderedDict[tuple, SelectionFeatures]" = OrderedDict()
_FEATURE_CACHE_SIZE = 2
logger = logging.getLogger(__name__)
DISK_CACHE_ENV = "MGDD_FEATURE_CACHE"  # a folder, or "off"; default ~/.cache/mgdd/selection


def disk_cache_dir() -> Path | None:
    """Where selection features are kept across processes (None: not kept on disk)."""
    setting = os.environ.get(DISK_CACHE_ENV, "")
    if setting.strip().lower() in ("off", "0", "no", "false"):
        return None
    return Path(setting).expanduser() if setting else Path.home() / ".cache" / "mgdd" / "selection"


def dataset_fingerprint(data: ImageDataset) -> str:
    """sha256 of a dataset's images and labels (about a second for Fashion-MNIST's 60000 images)."""
    digest = hashlib.sha256(data.images.detach().cpu().float().contiguous().numpy().tobytes())
    digest.update(data.labels.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class FeatureSelector:
    """Select ``ipc`` samples per class by ``rule`` in the features of a briefly trained network."""

    rule: str = "herding"
    feature_arch: str = "ConvNet"
    feature_epochs: int = 3
    feature_lr: float = 0.01
    feature_per_class: int | None = 100
    candidates_per_class: int | None = 500
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.feature_epochs < 0:
            raise ValueError(f"feature_epochs must be >= 0, got {self.feature_epochs}")
        if self.feature_per_class is not None and self.feature_per_class < 1:
            raise ValueError(f"feature_per_class must be >= 1 or None (all), got {self.feature_per_class}")
        if self.candidates_per_class is not None and self.candidates_per_class < 1:
            raise ValueError(f"candidates_per_class must be >= 1 or None (all), got {self.candidates_per_class}")

    def select_indices(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> Tensor:
        """Indices into ``train`` of the ``ipc`` selected samples of each class, class-major."""
        candidates, features = self.features(train, seed, device)[:2]
        rng = torch.Generator().manual_seed(seed)
        pick = herding_select if self.rule == "herding" else (lambda f, k: kcenter_select(f, k, rng))
        picks, start = [], 0
        for idx in candidates:  # features are class-major, in the order of the candidates
            picks.append(idx[pick(features[start:start + len(idx)], ipc)])
            start += len(idx)
        return torch.cat(picks)

    def candidates(self, train: ImageDataset, seed: int) -> list[Tensor]:
        """Per class, the indices selection runs over: all, or ``candidates_per_class`` drawn at random."""
        if self.candidates_per_class is None:
            return list(train.class_index)
        rng = torch.Generator().manual_seed(seed + 1)
        return [idx[torch.randperm(len(idx), generator=rng)[: self.candidates_per_class]] for idx in train.class_index]

    def features(self, train: ImageDataset, seed: int, device: torch.device) -> SelectionFeatures:
        """The candidates per class, their features and their cost: cached per dataset, network and seed in the
        process and on disk (:func:`disk_cache_dir`, safetensors with a checksum), so that another process or
        method selecting from the same data reuses them. A cached entry keeps its cost (``seconds``)."""
        key = (train.name, len(train), train.images.data_ptr(), self, seed, str(device))
        if key in _FEATURE_CACHE:
            return _FEATURE_CACHE[key]._replace(cached=True)
        path = self._disk_path(train, seed, device)  # the dataset's fingerprint, once
        found = self._from_disk(path, device) or self._compute(train, seed, device, path)
        _FEATURE_CACHE[key] = found
        while len(_FEATURE_CACHE) > _FEATURE_CACHE_SIZE:
            _FEATURE_CACHE.popitem(last=False)
        return found

    def _compute(self, train: ImageDataset, seed: int, device: torch.device, path: Path | None) -> SelectionFeatures:
        started = time.perf_counter()
        candidates = self.candidates(train, seed)
        net = self.feature_network(train, seed, device)
        features = embed_with_progress(net, train.images[torch.cat(candidates)], f"{self.rule}: features")
        found = SelectionFeatures(candidates, features, time.perf_counter() - started)
        if path is not None:
            self._to_disk(path, train, seed, found)
        return found

    def _disk_path(self, train: ImageDataset, seed: int, device: torch.device) -> Path | None:
        folder = disk_cache_dir()
        if folder is None:
            return None
        network = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("rule", "candidates_per_class")}
        key = json.dumps({"data": dataset_fingerprint(train), "network": network, "seed": seed,
                          "candidates": self.candidates_per_class, "device": torch.device(device).type},
                         sort_keys=True)
        return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.safetensors"

    def _from_disk(self, path: Path | None, device: torch.device) -> SelectionFeatures | None:
        if path is None or not path.exists():
            return None
        try:
            recorded = json.loads(path.with_suffix(".json").read_text())["sha256"]
            if sha256(path) != recorded:
                raise CorruptFileError(f"{path} does not match its checksum")
            tensors, metadata = load_tensors(path)
        except (OSError, KeyError, ValueError) as error:  # CorruptFileError is a ValueError
            logger.warning("selection features in %s are unreadable (%s); computing them again", path, error)
            return None
        lengths = tensors["lengths"].tolist()
        candidates = list(tensors["candidates"].split(lengths))
        logger.info("selection features from %s (cost %.1f s when computed)", path, float(metadata["seconds"]))
        return SelectionFeatures(candidates, tensors["features"].to(device), float(metadata["seconds"]), cached=True)

    def _to_disk(self, path: Path, train: ImageDataset, seed: int, found: SelectionFeatures) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_tensors_atomic(path, {"candidates": torch.cat(found.candidates),
                                       "lengths": torch.tensor([len(c) for c in found.candidates]),
                                       "features": found.features}, metadata={"seconds": repr(found.seconds)})
            write_json_atomic(path.with_suffix(".json"), {"sha256": sha256(path), "dataset": train.name,
                                                          "seed": seed, "selector": dataclasses.asdict(self)})
        except OSError as error:  # a read-only home must not stop a selection
            logger.warning("cannot keep selection features in %s (%s)", path.parent, error)

    def feature_network(self, train: ImageDataset, seed: int, device: torch.device) -> torch.nn.Module:
        torch.manual_seed(seed)
        net = get_network(self.feature_arch, train.channels, train.num_classes, train.image_shape[1:]).to(device)
        if self.feature_epochs:
            rng = torch.Generator(device=device).manual_seed(seed)
            if self.feature_per_class is not None:  # a class-balanced subset: a faster feature network
                train = train.balanced_subset(min(self.feature_per_class, min(train.class_counts())), seed)
            # constant lr: the protocol's half-way decay is meant for long runs; enable_grad: callers may be in no_grad
            steps = self.feature_epochs * -(-len(train) // self.batch_size)
            with torch.enable_grad(), tqdm(total=steps, desc=f"{self.rule}: feature network on {len(train)} images",
                                           leave=False) as bar:
                train_network(
                    net, train.images.to(device), train.labels.to(device), self.feature_epochs, self.feature_lr,
                    self.batch_size, rng=rng, on_batch=bar.update,
                )
        return net.eval()


def clear_feature_cache() -> None:
    """Forget the selection features cached in this process (the disk cache stays: set ``MGDD_FEATURE_CACHE=off``
    so that the next selection trains its feature network again, as timed benchmarks do)."""
    _FEATURE_CACHE.clear()


def embed_with_progress(net: torch.nn.Module, images: Tensor, desc: str, batch_size: int = 1024) -> Tensor:
    """:func:`~mgdd.nets.features.embed` (cache-sized chunks: 1.6x faster than batches of 256 on CPU) with a
    progress bar every ``batch_size`` images (tens of thousands of images take minutes)."""
    with tqdm(total=len(images), desc=desc, unit="img", leave=False) as bar:
        chunks = []
        for batch in images.split(batch_size):
            chunks.append(embed(net, batch))
            bar.update(len(batch))
    return torch.cat(chunks)


def herding_select(features: Tensor, k: int) -> Tensor:
    """Indices of ``k`` samples whose running feature mean tracks the full mean (greedy herding).

    Step t adds the sample i minimising ``||(S + f_i) / t - m||^2`` (S: sum of those chosen, m: the mean).
    Expanded, that is ``||f_i||^2 + 2 f_i . (S - t m)`` plus a constant: one matrix-vector product per step
    instead of a new (n, d) array.
    """
    features = features.double()
    target = features.mean(0)
    squared_norms = features.pow(2).sum(1)
    selected_sum = torch.zeros_like(target)
    order = []
    for t in range(1, k + 1):
        scores = squared_norms + 2 * (features @ (selected_sum - t * target))
        if order:
            scores[torch.tensor(order)] = float("inf")
        best = int(scores.argmin())
        order.append(best)
        selected_sum += features[best]
    return torch.tensor(order, dtype=torch.long)


def kcenter_select(features: Tensor, k: int, rng: torch.Generator | None = None) -> Tensor:
    """Greedy k-center (Sener & Savarese): a random first center, then repeatedly the farthest sample."""
    features = features.double()
    first = int(torch.randint(len(features), (1,), generator=rng))
    order = [first]
    min_dist = (features - features[first]).pow(2).sum(1)
    for _ in range(k - 1):
        nxt = int(min_dist.argmax())
        order.append(nxt)
        min_dist = torch.minimum(min_dist, (features - features[nxt]).pow(2).sum(1))
    return torch.tensor(order, dtype=torch.long)
