"""The field's evaluation protocol: train fresh networks on a synthetic set, test on real data.

Following DC/DSA/DM: SGD (momentum 0.9, weight decay 5e-4, lr 0.01), learning rate x0.1 at
half of training (the optimiser is re-created, as in the reference code), batch 256, DSA
augmentation with per-sample draws, test accuracy on the real test split; mean ± std over
several freshly initialised models.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .augment import DEFAULT_DSA_STRATEGY, DiffAugment
from .curriculum import curriculum_stages
from .data import ImageDataset, as_image_dataset
from .device import GPU_INFERENCE_CHUNK, resolve_device
from .nets import get_network
from .synthetic import SyntheticSet
from .training import accuracy, resolve_loss, train_stages



@dataclass(repr=False)
class EvalResult:
    """Accuracies (in %) of ``models`` networks of one architecture trained on a synthetic set."""

    arch: str
    accuracies: list[float]
    epochs: int
    lr: float
    loss: str
    augment: bool
    wall_time: float
    extra: dict = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    @property
    def models(self) -> int:
        return len(self.accuracies)

    def __str__(self) -> str:
        look = f", {self.extra['protocol']}" if self.extra.get("protocol") else ""
        return (
            f"{self.arch}: {self.mean:.2f} ± {self.std:.2f} % "
            f"({self.models} model{'s' if self.models != 1 else ''}, {self.epochs} epochs, {self.wall_time:.0f} s{look})"
        )

    __repr__ = __str__  # print(evaluate(..., arch=[...])) shows a dict of these

    def to_dict(self) -> dict:
        return {**asdict(self), "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class Protocol:
    """How :func:`evaluate` trains each network on a set: the settings users pass around and compare under.

    Attributes:
        epochs: training epochs (DSA/DM use 1000, DC 300).
        lr: learning rate; ``None`` uses the set's learned lr if it has one, else 0.01 (1e-3 under the
            relabel protocol).
        batch_size: default 256 (128 under the relabel protocol).
        momentum, weight_decay: SGD's.
        augment: DSA augmentation during training, drawn per sample (``dsa_strategy``).
        loss: ``"ce"`` for hard labels, ``"soft_ce"`` (labels are distributions) or ``"mse"`` (labels are
            regression targets) for soft labels; ``"auto"`` picks ce for hard labels, soft_ce when every soft
            label row is a distribution, mse otherwise.
        chunk: images per forward/backward pass, a speed setting that leaves the protocol as it is
            (gradients accumulate over the chunks of a batch). None: cache-sized chunks on CPU for
            networks without BatchNorm, whole batches elsewhere; 0: whole training batches and test
            batches of 1000 (the behaviour before chunking, for speed comparisons).
        temperature: the relabel protocol's softmax temperature of the teacher's labels.
    """

    epochs: int = 1000
    lr: float | None = None
    batch_size: int | None = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    dsa_strategy: str = DEFAULT_DSA_STRATEGY
    loss: str = "auto"
    chunk: int | None = None
    temperature: float = 30.0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.chunk is not None and self.chunk < 0:
            raise ValueError(f"chunk must be >= 0 images (0: whole batches), got {self.chunk}")


PROTOCOL_SETTINGS = tuple(f.name for f in fields(Protocol))


def evaluate(
    syn: SyntheticSet,
    test: ImageDataset,
    arch: str | Sequence[str] = "ConvNet",
    models: int = 5,
    protocol: Protocol | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
    net_options: dict | None = None,
    curriculum: bool = False,
    teacher: nn.Module | str | None = None,
    **settings: Any,
) -> EvalResult | dict[str, EvalResult]:
    """Train ``models`` fresh networks on ``syn`` and report their accuracy on ``test``.

    Args:
        arch: one architecture name, or a list for a cross-architecture table (then a dict
            ``{arch: EvalResult}`` is returned).
        protocol: the training settings (:class:`Protocol`); ``settings`` override single fields of it,
            e.g. ``evaluate(syn, test, models=3, epochs=300)``.
        curriculum: for sets distilled subset by subset (SeqMatch, :mod:`mgdd.curriculum`): each network
            trains ``epochs`` on S1, then ``epochs`` on S1+S2, and so on (each stage with its subset's
            learned lr unless ``lr`` is given); the final accuracy counts.
        teacher: SRe2L/DWA's relabel protocol instead (a teacher or its folder, :mod:`mgdd.teacher`): the
            student learns the teacher's soft labels at ``temperature``, computed online on each augmented,
            mixed batch, with the reference's AdamW and cosine schedule (:mod:`mgdd.relabel`; ``lr`` default
            1e-3, ``batch_size`` default 128); the set's own labels are not used.
    """
    unknown = sorted(set(settings) - set(PROTOCOL_SETTINGS))
    if unknown:
        raise TypeError(f"evaluate() got unknown settings {unknown}; the protocol's are {list(PROTOCOL_SETTINGS)}")
    protocol = replace(protocol or Protocol(), **settings)
    if isinstance(arch, (list, tuple)):
        return {
            name: evaluate(syn, test, name, models, protocol, seed=seed, device=device, progress=progress,
                           net_options=net_options, curriculum=curriculum, teacher=teacher)
            for name in arch
        }
    test = as_image_dataset(test)
    _check_compatible(syn, test)
    syn = syn.decoded()  # multi-formation sets train on their decoded samples
    if models < 1:
        raise ValueError(f"models must be >= 1, got {models}")
    if teacher is not None:
        return _evaluate_with_teacher(syn, test, arch, models, protocol, teacher, seed, device, progress, net_options)
    epochs, lr, chunk = protocol.epochs, protocol.lr, protocol.chunk
    batch_size = protocol.batch_size or 256
    loss = resolve_loss(syn.labels, protocol.loss)
    default_lr = float(lr if lr is not None else (syn.learned_lr or 0.01))
    # (indices, lr) of each training stage: the whole set, or the curriculum's growing unions of subsets
    stages = ([(idx, float(stage_lr) if lr is None and stage_lr is not None else default_lr)
               for idx, stage_lr in curriculum_stages(syn)] if curriculum else [(None, default_lr)])
    device = resolve_device(device)
    images, targets = syn.images.to(device), syn.labels.to(device)
    augmenter = DiffAugment(protocol.dsa_strategy) if protocol.augment else None
    started = time.perf_counter()
    bar = tqdm(total=models * epochs * len(stages), desc=f"evaluate {arch}", disable=not progress, leave=False)

    def train(net: nn.Module, model_index: int) -> None:
        rng = torch.Generator(device=device).manual_seed(seed + model_index)
        train_stages(net, images, targets, stages, epochs, batch_size, protocol.momentum, protocol.weight_decay,
                     augmenter, loss, rng, on_epoch=bar.update, chunk=chunk)

    accuracies = _train_and_test(syn, arch, net_options, models, seed, device, train, test, bar,
                                 GPU_INFERENCE_CHUNK if chunk == 0 else chunk)
    extra = {"curriculum_lrs": [stage_lr for _, stage_lr in stages]} if curriculum else {}
    return EvalResult(arch, accuracies, epochs, stages[-1][1], loss, protocol.augment, time.perf_counter() - started,
                      extra)


def _evaluate_with_teacher(syn, test, arch, models, protocol: Protocol, teacher, seed, device, progress,
                           net_options) -> EvalResult:
    """The relabel protocol of :func:`evaluate` (``teacher`` given)."""
    from .relabel import RELABEL_DEFAULTS, train_with_teacher
    from .teacher import load_teacher

    device = resolve_device(device)
    teacher = load_teacher(teacher, device)[0] if isinstance(teacher, (str, os.PathLike)) else teacher.to(device)
    epochs, temperature = protocol.epochs, protocol.temperature
    lr = float(protocol.lr if protocol.lr is not None else RELABEL_DEFAULTS["lr"])
    batch_size = protocol.batch_size or RELABEL_DEFAULTS["batch_size"]
    images = syn.images.to(device)
    with torch.no_grad():
        outputs = teacher.eval()(images[:1]).shape[1]
    if outputs != syn.num_classes:
        raise ValueError(f"the teacher predicts {outputs} classes but the set has {syn.num_classes}")
    pad_value = ((0.0 - torch.tensor(syn.mean)) / torch.tensor(syn.std)).to(device)
    started = time.perf_counter()
    bar = tqdm(total=models * epochs, desc=f"evaluate {arch} (teacher labels)", disable=not progress, leave=False)

    def train(net: nn.Module, model_index: int) -> None:
        train_with_teacher(net, images, teacher, epochs, pad_value, lr=lr,
                           batch_size=batch_size, temperature=temperature,
                           rng=torch.Generator().manual_seed(seed + model_index), on_epoch=bar.update)

    accuracies = _train_and_test(syn, arch, net_options, models, seed, device, train, test, bar)
    return EvalResult(arch, accuracies, epochs, lr, "teacher_kl", True, time.perf_counter() - started,
                      {"temperature": temperature})


def _train_and_test(syn, arch, net_options, models, seed, device, train, test, bar, test_batch=None) -> list[float]:
    """For each model: seed, build ``arch`` for ``syn``, ``train(net, model_index)``, test; the accuracies in %."""
    test_images, test_labels = test.images.to(device), test.labels.to(device)
    accuracies = []
    for model_index in range(models):
        torch.manual_seed(seed + model_index)
        net = get_network(arch, syn.image_shape[0], syn.num_classes, syn.image_shape[1:], **(net_options or {}))
        train(net.to(device), model_index)
        bar.set_postfix_str(f"testing model {model_index + 1} on {len(test_images)} images")
        accuracies.append(100.0 * accuracy(net, test_images, test_labels, test_batch))
        bar.set_postfix(acc=f"{statistics.fmean(accuracies):.2f}")
    bar.close()
    return accuracies


def _check_compatible(syn: SyntheticSet, test: ImageDataset) -> None:
    if syn.image_shape != test.image_shape:
        raise ValueError(f"synthetic images are {syn.image_shape} but test images are {test.image_shape}")
    if syn.num_classes != test.num_classes:
        raise ValueError(f"synthetic set has {syn.num_classes} classes, test data {test.num_classes}")
    if not all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(syn.mean + syn.std, test.mean + test.std)):
        raise ValueError(
            f"synthetic set is normalised with mean {syn.mean} std {syn.std}, test data with "
            f"mean {test.mean} std {test.std}: load both from the same dataset, or build the test split with "
            "from_tensors(..., like=train)"
        )
