"""Training a network on a (synthetic) set: the protocol's SGD schedule, label losses, gradient chunking, accuracy.

Shared by the evaluation protocol, the baselines' inner loops, the expert trajectories and the teachers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .augment import DiffAugment
from .device import inference_chunk, train_chunk

LOSSES = ("auto", "ce", "soft_ce", "mse")


def resolve_loss(labels: Tensor, loss: str) -> str:
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {LOSSES}")
    if not labels.is_floating_point():
        if loss == "soft_ce":
            raise ValueError("soft_ce needs soft labels; this set has hard labels")
        return "ce" if loss == "auto" else loss
    if loss == "ce":
        raise ValueError("loss='ce' needs hard labels; use 'soft_ce' or 'mse' for soft labels")
    is_distribution = bool((labels >= 0).all()) and torch.allclose(
        labels.sum(1), torch.ones(len(labels), device=labels.device, dtype=labels.dtype), atol=1e-3
    )
    if loss == "auto":
        return "soft_ce" if is_distribution else "mse"
    return loss


def label_loss(outputs: Tensor, targets: Tensor, loss: str) -> Tensor:
    """Loss of network ``outputs`` against hard or soft ``targets``."""
    if loss == "ce":
        return F.cross_entropy(outputs, targets)
    if loss == "soft_ce":
        return -(targets * F.log_softmax(outputs, dim=1)).sum(1).mean()
    if not targets.is_floating_point():
        targets = F.one_hot(targets, outputs.shape[1]).to(outputs.dtype)
    return F.mse_loss(outputs, targets)


def train_network(
    net: nn.Module,
    images: Tensor,
    targets: Tensor,
    epochs: int,
    lr: float,
    batch_size: int = 256,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    augmenter: DiffAugment | None = None,
    loss: str = "ce",
    rng: torch.Generator | None = None,
    on_epoch=None,
    on_batch=None,
    lr_decay: bool = True,
    chunk: int | None = None,
) -> nn.Module:
    """Train ``net`` with the protocol's schedule (lr x0.1 at half of training; ``lr_decay=False``: constant).

    ``chunk``: images per forward/backward pass (see :func:`evaluate`); None: :func:`train_chunk`.
    ``on_epoch`` / ``on_batch``: called with 1 after each epoch / optimiser step (progress bars).
    """
    net.train()
    n = images.shape[0]
    chunk = train_chunk(net, images.device) if chunk is None else chunk
    decay_epoch = epochs // 2 if lr_decay else -1
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    for epoch in range(epochs):
        if epoch == decay_epoch and epoch > 0:
            optimizer = torch.optim.SGD(
                net.parameters(), lr=lr * 0.1, momentum=momentum, weight_decay=weight_decay
            )
        order = torch.randperm(n, device=images.device, generator=rng)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            x = images[batch]
            if augmenter is not None:
                x = augmenter(x, rng=rng)
            optimizer.zero_grad(set_to_none=True)
            value = accumulate_gradients(net, x, targets[batch], loss, chunk)
            optimizer.step()
            if on_batch is not None:
                on_batch(1)
        # checked once per epoch: .item() synchronises with the accelerator
        if not math.isfinite(value.item()):
            raise FloatingPointError(f"training loss became {value.item()} at epoch {epoch}; lower the lr")
        if on_epoch is not None:
            on_epoch(1)
    return net


def train_stages(
    net: nn.Module, images: Tensor, targets: Tensor, stages: list[tuple[Tensor | None, float]], epochs: int,
    batch_size: int = 256, momentum: float = 0.9, weight_decay: float = 5e-4, augmenter: DiffAugment | None = None,
    loss: str = "ce", rng: torch.Generator | None = None, on_epoch=None, chunk: int | None = None,
) -> nn.Module:
    """:func:`train_network` for ``epochs`` on each stage in turn: ``(indices, lr)``, indices None for all images
    (one stage: the protocol; several: a curriculum, see :func:`mgdd.curriculum.curriculum_stages`)."""
    for indices, lr in stages:
        stage_images, stage_targets = (images, targets) if indices is None else (images[indices], targets[indices])
        train_network(net, stage_images, stage_targets, epochs, lr, batch_size, momentum, weight_decay, augmenter,
                      loss, rng, on_epoch=on_epoch, chunk=chunk)
    return net


def accumulate_gradients(net: nn.Module, x: Tensor, targets: Tensor, loss: str, chunk: int | None) -> Tensor:
    """Back-propagate the batch loss of ``net`` on ``x`` in chunks of ``chunk`` images (None or 0: at once).

    Every loss is a mean over samples, so each chunk's mean weighted by its share of the batch sums to the
    batch's: the gradients equal one pass over the batch up to float rounding. Returns the batch loss.
    """
    if not chunk or chunk >= len(x):
        value = label_loss(net(x), targets, loss)
        value.backward()
        return value.detach()
    total = x.new_zeros(())
    for start in range(0, len(x), chunk):
        part = label_loss(net(x[start : start + chunk]), targets[start : start + chunk], loss)
        part = part * (min(chunk, len(x) - start) / len(x))
        part.backward()
        total += part.detach()
    return total


@torch.inference_mode()
def accuracy(net: nn.Module, images: Tensor, labels: Tensor, batch_size: int | None = None) -> float:
    """Top-1 accuracy (fraction) of ``net`` on ``images``, in batches of ``batch_size`` (None: cache-sized)."""
    batch_size = batch_size or inference_chunk(images.device)
    was_training = net.training
    net.eval()
    correct = 0
    for start in range(0, images.shape[0], batch_size):
        outputs = net(images[start : start + batch_size])
        correct += int((outputs.argmax(1) == labels[start : start + batch_size]).sum())
    net.train(was_training)
    return correct / images.shape[0]
