"""Coreset selection in a network's feature space, per class: herding and k-center.

Herding (Welling, 2009) greedily adds the sample that keeps the running mean of the selected
features closest to the class mean; k-center greedy (Sener & Savarese, 2018) adds the sample
farthest from everything selected so far. As in the DC paper's baselines, features come from a
ConvNet trained on the real data (``feature_epochs`` on ``feature_per_class`` images per class, default
all of them; 0 epochs gives a random ConvNet). Selection always runs over every training image.
Used by the coreset baselines, the iterative methods' herding initialisation and MGDD's herding start.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .data import ImageDataset
from .nets import get_network
from .nets.features import embed
from .training import train_network

RULES = ("herding", "kcenter")
_FEATURE_CACHE: "OrderedDict[tuple, Tensor]" = OrderedDict()
_FEATURE_CACHE_SIZE = 2


@dataclass(frozen=True)
class FeatureSelector:
    """Select ``ipc`` samples per class by ``rule`` in the features of a briefly trained network."""

    rule: str = "herding"
    feature_arch: str = "ConvNet"
    feature_epochs: int = 1
    feature_lr: float = 0.01
    feature_per_class: int | None = None
    batch_size: int = 256

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {self.rule!r}")
        if self.feature_epochs < 0:
            raise ValueError(f"feature_epochs must be >= 0, got {self.feature_epochs}")
        if self.feature_per_class is not None and self.feature_per_class < 1:
            raise ValueError(f"feature_per_class must be >= 1 or None (all), got {self.feature_per_class}")

    def select_indices(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> Tensor:
        """Indices into ``train`` of the ``ipc`` selected samples of each class, class-major."""
        features = self.features(train, seed, device)
        rng = torch.Generator().manual_seed(seed)
        pick = herding_select if self.rule == "herding" else (lambda f, k: kcenter_select(f, k, rng))
        return torch.cat([idx[pick(features[idx], ipc)] for idx in train.class_index])

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
