"""DM (Zhao & Bilen, WACV 2023): distribution matching in the embedding of random networks.

Each iteration draws a fresh randomly initialised network; per class, the mean embedding of a
real batch and of the synthetic images (the same augmentation draw on both) are matched in
squared Euclidean distance, summed over classes; one SGD step on the images.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..methods import register_method
from .iterative import IterativeDistiller, RunState


def class_means(features: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """(num_classes, D) mean feature of each class (zero for a class with no samples)."""
    sums = features.new_zeros(num_classes, features.shape[1]).index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).clamp_min(1).to(features.dtype)
    return sums / counts[:, None]


def mean_embedding_loss(real: Tensor, real_labels: Tensor, syn: Tensor, syn_labels: Tensor, num_classes: int) -> Tensor:
    """DM's loss: sum over classes of ||mean real embedding - mean synthetic embedding||^2."""
    difference = class_means(real, real_labels, num_classes) - class_means(syn, syn_labels, num_classes)
    return difference.pow(2).sum()


def relative_mean_mismatch(
    syn_features: Tensor, syn_labels: Tensor, real_features: Tensor, real_targets: Tensor, num_classes: int,
) -> Tensor:
    """DM's class-mean embedding loss, relative to the real class means' squared norm (scale-free).

    ``sum_c ||mean_real_c - mean_syn_c||^2 / sum_c ||mean_real_c||^2``: 0 when every class's
    synthetic mean equals its real mean, 1 when the synthetic means are all zero.
    """
    real_labels = real_targets.argmax(1)
    real_means = class_means(real_features.double(), real_labels, num_classes)
    syn_means = class_means(syn_features.double(), syn_labels, num_classes)
    return (real_means - syn_means).pow(2).sum() / real_means.pow(2).sum().clamp_min(1e-20)


@register_method
class DM(IterativeDistiller):
    """Dataset condensation with distribution matching.

    Reference defaults: 20000 iterations, lr_img 1.0 (SGD momentum 0.5), batch_real 256 per
    class, DSA on, real initialisation. All classes are embedded in one forward pass (each class
    keeps its own augmentation draw); for instance-norm ConvNets this is exactly the reference's
    per-class computation, for batch-norm nets it is the reference's BN branch.
    """

    name = "dm"

    def __init__(self, *, iterations: int = 20000, lr_img: float = 1.0, **options) -> None:
        super().__init__(iterations=iterations, lr_img=lr_img, **options)

    def iterate(self, state: RunState) -> float:
        net = state.fresh_network(self.arch).train().requires_grad_(False)
        reals, syns = [], []
        for c in range(state.num_classes):
            real, syn = state.real_batch(c, self.batch_real), state.synthetic(c)
            if self.augment is not None:
                real, syn = self.augment.pair(real, syn, state.device_rng)
            reals.append(real)
            syns.append(syn)
        real_labels = torch.cat([torch.full((len(r),), c, device=state.device) for c, r in enumerate(reals)])
        with torch.no_grad():
            real_features = net.embed(torch.cat(reals))
        syn_features = net.embed(torch.cat(syns))
        loss = mean_embedding_loss(real_features, real_labels, syn_features, state.labels, state.num_classes)
        return state.update(loss, self.name) / state.num_classes
