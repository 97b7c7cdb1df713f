"""Feature-space objectives shared by methods and the generator: class means and DM's mean-matching losses."""

from __future__ import annotations

import torch
from torch import Tensor


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
