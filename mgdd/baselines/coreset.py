"""Coreset baselines: random real samples, herding and k-center (:mod:`mgdd.selection`) as methods."""

from __future__ import annotations

import time

import torch

from ..data import ImageDataset
from ..methods import Distiller, register_method
from ..selection import FeatureSelector
from ..synthetic import SyntheticSet


@register_method
class RandomReal(Distiller):
    """Random real samples, class-balanced: the reference every method must beat."""

    name = "random"

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        return SyntheticSet.from_real(train, train.balanced_indices(ipc, seed))


class _FeatureCoreset(Distiller):
    """A :class:`~mgdd.selection.FeatureSelector` with the method's name as its rule."""

    def __init__(
        self,
        *,
        feature_arch: str = FeatureSelector.feature_arch,  # defaults: FeatureSelector's, one source
        feature_epochs: int = FeatureSelector.feature_epochs,
        feature_lr: float = FeatureSelector.feature_lr,
        feature_per_class: int | None = FeatureSelector.feature_per_class,
        candidates_per_class: int | None = FeatureSelector.candidates_per_class,
        batch_size: int = FeatureSelector.batch_size,
    ) -> None:
        self.selector = FeatureSelector(self.name, feature_arch=feature_arch, feature_epochs=feature_epochs,
                                        feature_lr=feature_lr, feature_per_class=feature_per_class,
                                        candidates_per_class=candidates_per_class, batch_size=batch_size)

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        found = self.selector.features(train, seed, device)  # computed now or earlier (cached)
        started = time.perf_counter()
        syn = SyntheticSet.from_real(train, self.selector.select_indices(train, ipc, seed, device))
        # the set's cost includes its feature network even when an earlier selection computed it; wall_time is
        # this call's own seconds (small when the features were cached), so the metadata says which it was
        syn.metadata.update(arch=self.selector.feature_arch, feature_seconds=round(found.seconds, 3),
                            features_cached=found.cached,
                            distill_seconds=round(found.seconds + time.perf_counter() - started, 3))
        return syn


@register_method
class Herding(_FeatureCoreset):
    """Herding selection per class in the features of a (briefly trained) ConvNet."""

    name = "herding"


@register_method
class KCenter(_FeatureCoreset):
    """Greedy k-center selection per class in the features of a (briefly trained) ConvNet."""

    name = "kcenter"
