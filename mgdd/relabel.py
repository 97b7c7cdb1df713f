"""The teacher-relabel protocol of SRe2L / DWA, fixed teacher soft labels, and DD-Ranking's label-robust score.

Relabel protocol (the reference's validation): each epoch, each batch of ``batch_size`` synthetic images is
randomly cropped and flipped, mixed with a shuffled copy of itself (mixup, lambda ~ Beta(0.8, 0.8)), and
the student learns the teacher's predictions on exactly that batch: KL(softmax(teacher / T) ||
softmax(student / T)), T = 30, AdamW lr 1e-3, weight decay 0.01, cosine schedule over the epochs. The
teacher is in eval mode (the reference leaves it in train mode, so its labels depend on the batch's
statistics); the final test accuracy is reported, never the best one seen.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .synthetic import SyntheticSet
from .teacher import crop_and_flip


RELABEL_DEFAULTS = {"lr": 1e-3, "weight_decay": 0.01, "batch_size": 128, "temperature": 30.0, "mixup_alpha": 0.8}


def train_with_teacher(
    net: nn.Module,
    images: Tensor,
    teacher: nn.Module,
    epochs: int,
    pad_value: Tensor,
    lr: float = RELABEL_DEFAULTS["lr"],
    weight_decay: float = RELABEL_DEFAULTS["weight_decay"],
    batch_size: int = RELABEL_DEFAULTS["batch_size"],
    temperature: float = RELABEL_DEFAULTS["temperature"],
    mixup_alpha: float = RELABEL_DEFAULTS["mixup_alpha"],
    rng: torch.Generator | None = None,
    on_epoch=None,
) -> nn.Module:
    """Train ``net`` on ``images`` with the teacher's soft labels computed online on each augmented, mixed batch."""
    rng = rng or torch.Generator()
    teacher.eval()
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    beta = torch.distributions.Beta(torch.tensor(mixup_alpha), torch.tensor(mixup_alpha))
    padding = max(1, images.shape[2] // 8)
    net.train()
    for epoch in range(epochs):
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * (1 + math.cos(math.pi * epoch / epochs)) * lr
        order = torch.randperm(len(images), generator=rng).to(images.device)
        for batch in order.split(batch_size):
            x = crop_and_flip(images[batch], pad_value, rng, padding)
            mix = float(beta.sample())
            x = mix * x + (1 - mix) * x[torch.randperm(len(x), generator=rng).to(x.device)]
            with torch.no_grad():
                target = F.softmax(teacher(x) / temperature, dim=1)
            loss = F.kl_div(F.log_softmax(net(x) / temperature, dim=1), target, reduction="batchmean")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"relabel training loss became {loss.item()} at epoch {epoch}; lower the lr")
        if on_epoch is not None:
            on_epoch(1)
    return net


@torch.no_grad()
def with_teacher_labels(syn: SyntheticSet, teacher: nn.Module, temperature: float = 1.0) -> SyntheticSet:
    """``syn`` with fixed soft labels: the teacher's softmax(logits / T) on each (unaugmented) image.

    The cheap third mode between hard labels and the online relabel protocol; the plain protocol trains on
    them with the soft cross-entropy.
    """
    device = next(teacher.parameters()).device
    teacher.eval()
    probabilities = torch.cat([F.softmax(teacher(chunk.to(device)) / temperature, dim=1).cpu()
                               for chunk in syn.images.split(256)])
    return dataclasses.replace(syn, labels=probabilities,
                               metadata={**syn.metadata, "labels": f"teacher softmax, T={temperature:g}"})


def label_robust_score(full_hard: float, syn_hard: float, syn_soft: float, random_soft: float,
                       weight: float = 0.5) -> dict[str, float]:
    """DD-Ranking's scores (Li et al., 2025, arXiv:2505.13300; NUS-HPC-AI-Lab/DD-Ranking), accuracies as fractions.

    * hard-label recovery ``HLR = acc(full data, hard) - acc(set, hard)``: how far the images alone are from the
      full data (lower is better);
    * improvement over random ``IOR = acc(set, its labels) - acc(random real, the same labels)``: what the images
      add once the label protocol is the same for both (higher is better);
    * label-robust score ``LRS = (exp(a) - exp(-1)) / (exp(1) - exp(-1))`` with ``a = w * IOR - (1 - w) * HLR``,
      in [0, 1] for accuracies in [0, 1].
    """
    values = (full_hard, syn_hard, syn_soft, random_soft)
    if not all(0.0 <= v <= 1.0 for v in values):
        raise ValueError(f"accuracies must be fractions in [0, 1], got {values}")
    hlr, ior = full_hard - syn_hard, syn_soft - random_soft
    alpha = weight * ior - (1 - weight) * hlr
    return {"hlr": hlr, "ior": ior, "lrs": (math.exp(alpha) - math.exp(-1)) / (math.exp(1) - math.exp(-1))}
