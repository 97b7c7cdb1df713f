"""Gradient-based distillation of the two-stage student's training data.

Stage A learns M1 points (x, y) for the first-layer step. ``"gradient"``: at fresh symmetric
initialisations, the first-layer gradient on the synthetic points matches the one on the real
stage-1 data, row by row in cosine distance (DC's distance; the student normalises rows, so
only directions matter). ``"performance"``: the student's test loss after its first step on the
synthetic points and a ridge fit on real stage-2 data (one-step performance matching,
differentiable through the closed-form ridge).

Stage B learns M2 points for the second-layer ridge fit (KIP-style): with the first layer from
the stage-A points, the ridge head fitted on the synthetic features must predict the real stage-2
labels, either for the student's own initialisation and biases (``init_seed``: the points encode
its L second-layer weights) or over fresh ones every step (points that transfer). Our choice:
stage-B inputs are stored as coordinates in the top-k principal directions of the stage-A
inputs, so a stage-B point costs k + 1 floats instead of d + 1. Memory = M1 (d + 1) + M2 (k + 1)
+ 0 (the basis is recomputed from the stage-A points).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from .model import (
    StudentConfig,
    features,
    first_layer_direction,
    first_layer_gradient,
    first_stage,
    initial_weights,
    ridge_second_layer,
)


@dataclass
class DistilledData:
    """Distilled training data of the two-stage student."""

    stage1_x: Tensor  # (M1, d)
    stage1_y: Tensor  # (M1,)
    stage2_z: Tensor | None = None  # (M2, k) coordinates in ``basis``
    stage2_y: Tensor | None = None

    @property
    def basis(self) -> Tensor:
        """(d, k) basis of the stage-B coordinates (see :func:`stage2_basis`)."""
        return stage2_basis(self.stage1_x, self.stage2_z.shape[1] if self.stage2_z is not None else None)

    @property
    def stage2_x(self) -> Tensor:
        return self.stage2_z @ self.basis.T

    @property
    def memory(self) -> int:
        """Floats stored: stage-A points (d + 1 each) plus stage-B coordinates and labels (k + 1 each)."""
        stored = self.stage1_x.numel() + self.stage1_y.numel()
        if self.stage2_z is not None:
            stored += self.stage2_z.numel() + self.stage2_y.numel()
        return stored


def principal_basis(x: Tensor, k: int) -> Tensor:
    """(d, k) orthonormal top-k right singular vectors of ``x`` (no centring: the teacher's inputs are centred)."""
    _, _, vh = torch.linalg.svd(x.detach(), full_matrices=False)
    if k > vh.shape[0]:
        raise ValueError(f"stage-B dimension {k} exceeds the rank available from {len(x)} stage-A points")
    return vh[:k].T


def stage2_basis(stage1_x: Tensor, dim: int | None) -> Tensor:
    """(d, k) basis of stage-B points: top-``dim`` principal directions of the stage-A inputs, or the
    identity for full inputs (``dim`` None or d)."""
    d = stage1_x.shape[1]
    return torch.eye(d, dtype=stage1_x.dtype) if dim in (None, d) else principal_basis(stage1_x, dim)


def row_cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    """Mean over rows of 1 - cos(a_j, b_j)."""
    return (1 - F.cosine_similarity(a, b, dim=1, eps=1e-12)).mean()


def distill_stage1(
    real: tuple[Tensor, Tensor], size: int, config: StudentConfig, steps: int = 300, lr: float = 0.05,
    objective: str = "gradient", stage2_real: tuple[Tensor, Tensor] | None = None, real_batch: int | None = 8192,
    inits_per_step: int = 1, seed: int = 0, progress: bool = False,
) -> tuple[Tensor, Tensor]:
    """Learn ``size`` stage-1 points from the real stage-1 data (initialised from a random real subset).

    ``real_batch``: real points drawn (with replacement) per step for the target gradient; None: all of them,
    every step (the exact gradient of the real data the reference student trains on).
    """
    if objective not in ("gradient", "performance"):
        raise ValueError(f"objective must be 'gradient' or 'performance', got {objective!r}")
    if objective == "performance" and stage2_real is None:
        raise ValueError("the performance objective needs stage2_real data for the ridge fit")
    x_real, y_real = real
    rng = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(x_real), generator=rng)[:size]
    x = x_real[pick].clone().requires_grad_(True)
    y = y_real[pick].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x, y], lr=lr)
    for _ in tqdm(range(steps), desc=f"stage A ({objective})", disable=not progress, leave=False):
        loss = x.new_zeros(())
        for _ in range(inits_per_step):
            W0, signs = initial_weights(x.shape[1], config.width, rng, x.dtype)
            batch = (slice(None) if real_batch is None
                     else torch.randint(len(x_real), (min(real_batch, len(x_real)),), generator=rng))
            if objective == "gradient":
                # the sign of a_j only flips a row, which the per-row cosine ignores
                target = first_layer_gradient(W0, x_real[batch], y_real[batch])
                loss = loss + row_cosine_distance(first_layer_gradient(W0, x, y), target)
            else:
                loss = loss + _performance_loss(W0, signs, x, y, stage2_real, config, rng, real_batch)
        optimizer.zero_grad()
        (loss / inits_per_step).backward()
        optimizer.step()
    return x.detach(), y.detach()


def _performance_loss(W0, signs, x, y, stage2_real, config, rng, real_batch) -> Tensor:
    """Ridge fitted on one half of a real stage-2 batch, scored on the other, after the synthetic first step."""
    W = first_layer_direction(W0, signs, x, y)
    b = config.bias_std * torch.randn(config.width, generator=rng, dtype=x.dtype)
    x2, y2 = stage2_real
    batch = torch.randperm(len(x2), generator=rng) if real_batch is None else \
        torch.randint(len(x2), (min(real_batch, len(x2)),), generator=rng)
    fit, score = batch[: len(batch) // 2], batch[len(batch) // 2 :]
    a = ridge_second_layer(features(W, b, x2[fit]), y2[fit], config.ridge)
    return (features(W, b, x2[score]) @ a - y2[score]).pow(2).mean()


def distill_stage2(
    stage1: tuple[Tensor, Tensor], real: tuple[Tensor, Tensor], size: int, config: StudentConfig, dim: int | None = None,
    steps: int = 300, lr: float = 0.02, real_batch: int = 4096, init_seed: int | None = None, seed: int = 0,
    progress: bool = False,
) -> DistilledData:
    """Learn ``size`` stage-2 points by KIP-style ridge matching: full inputs, or ``dim`` coordinates in the stage-A principal basis.

    ``init_seed`` None: a fresh initialisation and biases every step (points that transfer to
    any student). An int: the one network that ``train_student`` draws from a generator with that
    seed, fixed throughout (points for that student, whose L second-layer weights they encode).
    """
    x1, y1 = stage1
    basis = stage2_basis(x1, dim)
    x_real, y_real = real
    rng = torch.Generator().manual_seed(seed + 1)
    pick = torch.randperm(len(x_real), generator=rng)[:size]
    z = (x_real[pick] @ basis).clone().requires_grad_(True)  # real points, projected
    y = y_real[pick].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z, y], lr=lr)
    fixed = None if init_seed is None else first_stage(stage1, config, torch.Generator().manual_seed(init_seed))
    for _ in tqdm(range(steps), desc="stage B", disable=not progress, leave=False):
        W, b = fixed or first_stage(stage1, config, rng)
        a = ridge_second_layer(features(W, b, z @ basis.T), y, config.ridge)
        batch = torch.randint(len(x_real), (min(real_batch, len(x_real)),), generator=rng)
        loss = (features(W, b, x_real[batch]) @ a - y_real[batch]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return DistilledData(x1, y1, z.detach(), y.detach())
