"""Coreset baselines: random real samples, herding and k-center in ConvNet feature space.

Herding (Welling, 2009) greedily adds the sample that keeps the running mean of the selected
features closest to the class mean; k-center greedy (Sener & Savarese, 2018) adds the sample
farthest from everything selected so far. As in the DC paper's baselines, features come from a
ConvNet trained on the real data (``feature_epochs`` on ``feature_per_class`` images per class, default
all of them; 0 epochs gives a random ConvNet). Selection always runs over every training image.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor

from ..data import ImageDataset
from ..device import inference_chunk
from ..methods import Distiller, register_method
from ..evaluation import train_network
from ..nets import get_network
from ..synthetic import SyntheticSet

_FEATURE_CACHE: "OrderedDict[tuple, Tensor]" = OrderedDict()
_FEATURE_CACHE_SIZE = 2


@register_method
class RandomReal(Distiller):
    """Random real samples, class-balanced: the reference every method must beat."""

    name = "random"

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        return SyntheticSet.from_real(train, train.balanced_indices(ipc, seed))


class _FeatureCoreset(Distiller):
    """Shared machinery: embed the training set once, then select per class."""

    def __init__(
        self,
        *,
        feature_arch: str = "ConvNet",
        feature_epochs: int = 1,
        feature_lr: float = 0.01,
        feature_per_class: int | None = None,
        batch_size: int = 256,
    ) -> None:
        if feature_epochs < 0:
            raise ValueError(f"feature_epochs must be >= 0, got {feature_epochs}")
        if feature_per_class is not None and feature_per_class < 1:
            raise ValueError(f"feature_per_class must be >= 1 or None (all), got {feature_per_class}")
        self.feature_arch = feature_arch
        self.feature_epochs = feature_epochs
        self.feature_per_class = feature_per_class
        self.feature_lr = feature_lr
        self.batch_size = batch_size

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        syn = SyntheticSet.from_real(train, self.select_indices(train, ipc, seed, device))
        syn.metadata["arch"] = self.feature_arch
        return syn

    def select_indices(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> Tensor:
        """Indices into ``train`` of the ``ipc`` selected samples of each class, class-major."""
        features = self.features(train, seed, device)
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([idx[self.select(features[idx], ipc, generator)] for idx in train.class_index])

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def features(self, train: ImageDataset, seed: int, device: torch.device) -> Tensor:
        """(N, D) features of every training image (cached per dataset, network and seed)."""
        key = (train.name, len(train), train.images.data_ptr(), self.feature_arch, self.feature_epochs,
               self.feature_lr, self.feature_per_class, seed, str(device))
        if key not in _FEATURE_CACHE:
            _FEATURE_CACHE[key] = embed(self.feature_network(train, seed, device), train.images, self.batch_size)
            while len(_FEATURE_CACHE) > _FEATURE_CACHE_SIZE:
                _FEATURE_CACHE.popitem(last=False)
        return _FEATURE_CACHE[key]

    def feature_network(self, train: ImageDataset, seed: int, device: torch.device) -> torch.nn.Module:
        torch.manual_seed(seed)
        net = get_network(self.feature_arch, train.channels, train.num_classes, train.image_shape[1:]).to(device)
        if self.feature_epochs:
            generator = torch.Generator(device=device).manual_seed(seed)
            if self.feature_per_class is not None:  # a class-balanced subset: a faster feature network
                train = train.balanced_subset(min(self.feature_per_class, min(train.class_counts())), seed)
            # constant lr: the protocol's half-way decay is meant for long runs; enable_grad: callers may be in no_grad
            with torch.enable_grad():
                train_network(
                    net, train.images.to(device), train.labels.to(device), self.feature_epochs, self.feature_lr,
                    self.batch_size, generator=generator,
                )
        return net.eval()


def embed(net: torch.nn.Module, images: Tensor, batch_size: int | None = None) -> Tensor:
    """Features ``net.embed(x)`` of all ``images``, in chunks (default :func:`inference_chunk`), on the
    network's device; returned on CPU."""
    device = next(net.parameters()).device
    batch_size = batch_size or inference_chunk(device)
    net.eval()
    with torch.no_grad():
        chunks = [net.embed(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(chunks)


def herding_select(features: Tensor, k: int) -> Tensor:
    """Indices of ``k`` samples whose running feature mean tracks the full mean (greedy herding)."""
    features = features.double()
    target = features.mean(0)
    chosen = torch.zeros(len(features), dtype=torch.bool)
    selected_sum = torch.zeros_like(target)
    order = []
    for t in range(1, k + 1):
        candidate_means = (selected_sum + features) / t
        distances = (candidate_means - target).pow(2).sum(1)
        distances[chosen] = float("inf")
        best = int(distances.argmin())
        order.append(best)
        chosen[best] = True
        selected_sum += features[best]
    return torch.tensor(order, dtype=torch.long)


def kcenter_select(features: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Greedy k-center (Sener & Savarese): a random first center, then repeatedly the farthest sample."""
    features = features.double()
    first = int(torch.randint(len(features), (1,), generator=generator))
    order = [first]
    min_dist = (features - features[first]).pow(2).sum(1)
    for _ in range(k - 1):
        nxt = int(min_dist.argmax())
        order.append(nxt)
        min_dist = torch.minimum(min_dist, (features - features[nxt]).pow(2).sum(1))
    return torch.tensor(order, dtype=torch.long)


@register_method
class Herding(_FeatureCoreset):
    """Herding selection per class in the features of a (briefly trained) ConvNet."""

    name = "herding"

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:
        return herding_select(features, k)


@register_method
class KCenter(_FeatureCoreset):
    """Greedy k-center selection per class in the features of a (briefly trained) ConvNet."""

    name = "kcenter"

    def select(self, features: Tensor, k: int, generator: torch.Generator) -> Tensor:
        return kcenter_select(features, k, generator)
