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
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .synthetic import SyntheticSet
from .teacher import crop_and_flip

if TYPE_CHECKING:  # evaluation imports this module's trainer
    from .evaluation import EvalResult

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


LABEL_PROTOCOLS = ("hard", "fixed", "relabel")


def evaluate_label_protocol(
    data: SyntheticSet, test, teacher: nn.Module, protocol: str, models: int = 3, epochs: int = 300,
    relabel_epochs: int | None = None, fixed_temperature: float = 1.0, seed: int = 0, device=None,
    progress: bool = True,
) -> EvalResult:
    """``data`` under one label protocol: ``hard`` (one-hot class labels, the standard protocol), ``fixed``
    (the teacher's soft labels at ``fixed_temperature``, one per image, soft cross-entropy) or ``relabel``
    (the teacher online, :func:`train_with_teacher`, for ``relabel_epochs`` or ``epochs``)."""
    from .evaluation import evaluate

    if protocol not in LABEL_PROTOCOLS:
        raise ValueError(f"unknown label protocol {protocol!r}; choose from {list(LABEL_PROTOCOLS)}")
    hard = dataclasses.replace(data, labels=data.hard_labels)
    common = dict(models=models, seed=seed, device=device, progress=progress)
    if protocol == "hard":
        return evaluate(hard, test, epochs=epochs, **common)
    if protocol == "fixed":
        return evaluate(with_teacher_labels(hard, teacher, fixed_temperature), test, epochs=epochs, **common)
    return evaluate(hard, test, epochs=relabel_epochs or epochs, teacher=teacher, **common)


def evaluate_label_protocols(
    data: SyntheticSet, test, teacher: nn.Module, models: int = 3, epochs: int = 300,
    relabel_epochs: int | None = None, fixed_temperature: float = 1.0, seed: int = 0, device=None,
    progress: bool = True, protocols: Sequence[str] = LABEL_PROTOCOLS,
) -> dict[str, EvalResult]:
    """``data`` under each of ``protocols`` (:func:`evaluate_label_protocol`). Returns ``{protocol: EvalResult}``."""
    unknown = sorted(set(protocols) - set(LABEL_PROTOCOLS))
    if unknown:  # before any network trains
        raise ValueError(f"unknown label protocols {unknown}; choose from {list(LABEL_PROTOCOLS)}")
    options = dict(models=models, epochs=epochs, relabel_epochs=relabel_epochs, fixed_temperature=fixed_temperature,
                   seed=seed, device=device, progress=progress)
    return {protocol: evaluate_label_protocol(data, test, teacher, protocol, **options) for protocol in protocols}


def compare_label_protocols(
    syn: SyntheticSet, random_set: SyntheticSet, test, teacher: nn.Module, full_data_accuracy: float,
    models: int = 3, epochs: int = 300, relabel_epochs: int | None = None, fixed_temperature: float = 1.0,
    seed: int = 0, device=None, progress: bool = True,
) -> dict:
    """The set and random real images of the same size under each label protocol, and DD-Ranking's scores.

    ``full_data_accuracy``: a network trained on the full data with hard labels, in % (HLR's reference).
    Returns ``{"set": {protocol: EvalResult}, "random": {...}, "scores": label_robust_score(...)}`` with the
    scores taken under the relabel protocol.
    """
    options = dict(models=models, epochs=epochs, relabel_epochs=relabel_epochs, fixed_temperature=fixed_temperature,
                   seed=seed, device=device, progress=progress)
    results = {"set": evaluate_label_protocols(syn, test, teacher, **options)}
    results["random"] = evaluate_label_protocols(random_set, test, teacher, **options)
    scores = label_robust_score(full_data_accuracy / 100, results["set"]["hard"].mean / 100,
                                results["set"]["relabel"].mean / 100, results["random"]["relabel"].mean / 100)
    return {**results, "scores": scores}
