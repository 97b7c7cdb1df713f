"""MTT (Cazenavette et al., CVPR 2022): matching training trajectories.

Each iteration picks an expert trajectory and a start epoch s < ``max_start_epoch``; a student
starts from the expert's parameters at epoch s and takes ``syn_steps`` SGD steps on
(augmented) synthetic mini-batches with a learnable lr; the loss is

    ||theta_student - theta*_{s+M}||^2 / ||theta*_s - theta*_{s+M}||^2      (M = expert_epochs)

back-propagated through the unrolled steps into the images and the lr. The student is run
with ``torch.func.functional_call`` on a dict of parameter tensors.

Fashion-MNIST defaults (the reference tables cover CIFAR/Tiny ImageNet only; our choices for
a 2-core CPU, where an expert epoch costs minutes): experts of 6 epochs, expert_epochs 2,
max_start_epoch 4, syn_steps 20 at IPC <= 10 and 30 above, batch_syn = the whole set up to
100 images, lr_img 100 (no ZCA whitening, so pixel gradients are larger than the reference's
ZCA setting where lr_img is 1000), lr_lr 1e-5, initial lr 0.01 (the experts' lr).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..data import ImageDataset
from ..methods import register_method
from ..device import memory_gb
from ..nets import seeded_network
from ..synthetic import SyntheticSet
from ..io import sha256
from .experts import MANIFEST, ExpertBuffer, load_experts
from ..iterative import RESUMABLE_OPTIONS, IterativeDistiller, RunState

_MIN_LR = 1e-6
# the default guard: the share of the device's memory an unroll may take (benchmarks/results/mtt_memory.md: the
# estimate is 9.0 GB at IPC 10 and 13.5 GB at IPC 50, against peaks of 6.0 and 8.9 GB above the process's start)
MEMORY_SHARE = 0.75


def parameter_matching_loss(student: dict[str, Tensor], start: dict[str, Tensor], target: dict[str, Tensor]) -> Tensor:
    """MTT's normalised distance: ||student - target||^2 / ||start - target||^2 over all parameters."""
    reached = sum((student[k] - target[k]).pow(2).sum() for k in target)
    travelled = sum((start[k] - target[k]).pow(2).sum() for k in target)
    return reached / travelled


def unroll_student(
    net: nn.Module, params: dict[str, Tensor], images: Tensor, labels: Tensor, lr: Tensor, steps: int,
    batch_size: int, rng: torch.Generator, augmenter=None,
) -> dict[str, Tensor]:
    """``steps`` differentiable SGD steps of ``net`` from ``params`` on shuffled mini-batches of the images."""
    chunks: list[Tensor] = []
    for _ in range(steps):
        if not chunks:
            order = torch.randperm(len(images), generator=rng, device=rng.device)
            chunks = list(torch.split(order, batch_size))
        index = chunks.pop()
        x = images[index]
        if augmenter is not None:
            x = augmenter(x, rng=rng)
        loss = F.cross_entropy(functional_call(net, params, (x,)), labels[index])
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
        params = {k: p - lr * g for (k, p), g in zip(params.items(), grads)}
    return params


def student_step_bytes(student: nn.Module, images: Tensor, labels: Tensor, storage_once: bool = True) -> int:
    """Bytes that one differentiable student step (gradients kept for the outer loss) saves for backward.

    ``storage_once``: a storage saved by several ops, or as several views, counts once, as memory holds it;
    ``False`` counts every saved tensor (the guard's earlier estimate, too high).
    """
    saved, seen = 0, set()

    def pack(tensor: Tensor) -> Tensor:
        nonlocal saved
        storage = tensor.untyped_storage()
        if not storage_once or storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            saved += storage.nbytes()
        return tensor

    params = {k: v.detach().clone().requires_grad_(True) for k, v in student.named_parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(functional_call(student, params, (images,)), labels)
        torch.autograd.grad(loss, list(params.values()), create_graph=True)
    return saved


@register_method
class MTT(IterativeDistiller):
    """Dataset distillation by matching training trajectories.

    Options (besides :class:`IterativeDistiller`'s): ``experts`` (buffer folder made by
    ``mgdd experts``), ``syn_steps``, ``expert_epochs``, ``max_start_epoch``, ``batch_syn``,
    ``lr_lr``, ``lr_init``, ``max_memory_gb`` (refuse an unroll whose autograd graph would
    exceed it), ``frozen`` (a synthetic set held fixed that the student also trains on: SeqMatch's
    earlier subsets; only the new images and their lr learn). Reference defaults: 5000 iterations,
    momentum 0.5 for images and lr.
    """

    name = "mtt"
    resumable_options = RESUMABLE_OPTIONS | {"max_memory_gb"}  # a guard: it refuses a run, never changes one

    def __init__(
        self,
        *,
        experts: str | None = None,
        iterations: int = 5000,
        lr_img: float = 100.0,
        syn_steps: int | None = None,
        expert_epochs: int = 2,
        max_start_epoch: int = 4,
        batch_syn: int | None = None,
        lr_lr: float = 1e-5,
        lr_init: float = 0.01,
        max_memory_gb: float | None = None,
        frozen: SyntheticSet | None = None,
        **options,
    ) -> None:
        super().__init__(iterations=iterations, lr_img=lr_img, **options)
        if experts is None:
            raise ValueError("mtt needs option experts=FOLDER: a buffer made by `mgdd experts`")
        if expert_epochs < 1 or max_start_epoch < 1 or lr_init <= 0:
            raise ValueError("expert_epochs and max_start_epoch must be >= 1 and lr_init > 0")
        self.experts = Path(experts)
        self.syn_steps = syn_steps
        self.expert_epochs = expert_epochs
        self.max_start_epoch = max_start_epoch
        self.batch_syn = batch_syn
        self.lr_lr = lr_lr
        self.lr_init = lr_init
        self.max_memory_gb = max_memory_gb
        if frozen is not None and frozen.soft_labels:
            raise ValueError("frozen: MTT's student trains with hard labels; this set has soft labels")
        self.frozen = frozen
        self._frozen_batch: tuple[Tensor, Tensor] | None = None
        self.buffer: ExpertBuffer | None = None
        self.student: nn.Module | None = None

    def described_options(self) -> dict[str, str | None]:
        """The buffer by its manifest's checksum (the folder's name says nothing of what it holds); the frozen
        images of SeqMatch's earlier subsets by theirs."""
        return {**super().described_options(), "experts": sha256(self.experts / MANIFEST),
                "frozen": self.frozen.fingerprint() if self.frozen is not None else None}

    def steps_for(self, ipc: int) -> int:
        return self.syn_steps or (20 if ipc <= 10 else 30)

    def batch_for(self, n: int) -> int:
        return min(self.batch_syn or 100, n)

    def extra_learnables(self, train: ImageDataset, ipc: int) -> dict[str, tuple[Tensor, float]]:
        return {"lr": (torch.tensor(self.lr_init), self.lr_lr)}

    def learned_lr(self, state: RunState) -> float:
        return float(state.learnables.lr.detach())

    def after_step(self, state: RunState) -> None:
        # a negative lr turns the student's descent into ascent; the reference lets it happen
        with torch.no_grad():
            state.learnables.lr.clamp_(min=_MIN_LR)

    def prepare(self, train: ImageDataset, ipc: int, device: torch.device) -> None:
        buffer = load_experts(self.experts)
        manifest = buffer.manifest
        if manifest["num_classes"] != train.num_classes or tuple(manifest["image_shape"]) != train.image_shape:
            raise ValueError(f"experts in {self.experts} were trained on {manifest['dataset']} "
                             f"({manifest['num_classes']} classes, {manifest['image_shape']}), not on this data")
        if manifest["arch"].lower() != self.arch.lower():
            raise ValueError(f"experts are {manifest['arch']} networks but arch={self.arch!r}")
        if self.max_start_epoch + self.expert_epochs > buffer.epochs:
            raise ValueError(f"max_start_epoch + expert_epochs = {self.max_start_epoch + self.expert_epochs} "
                             f"exceeds the {buffer.epochs} epochs of the experts")
        if self.frozen is not None:
            if self.frozen.num_classes != train.num_classes or self.frozen.image_shape != train.image_shape:
                raise ValueError(f"frozen set ({self.frozen.num_classes} classes, {self.frozen.image_shape}) does not "
                                 f"match the data ({train.num_classes} classes, {train.image_shape})")
            self._frozen_batch = (self.frozen.images.to(device), self.frozen.labels.to(device))
        self.buffer = buffer
        self.student = seeded_network(self.arch, train.channels, train.num_classes, train.image_shape[1:], 0, device)
        self._check_memory(train, ipc, device)

    def _check_memory(self, train: ImageDataset, ipc: int, device: torch.device) -> None:
        """Measure the autograd graph of one student step and refuse an unroll that cannot fit."""
        frozen = len(self.frozen.images) if self.frozen is not None else 0
        batch = self.batch_for(ipc * train.num_classes + frozen)
        needed = student_step_bytes(self.student, train.images[:batch].to(device),
                                    train.labels[:batch].to(device)) * self.steps_for(ipc) / 2**30
        limit = self.max_memory_gb
        if limit is None:  # three quarters of the device's memory: the estimate runs about 1.5x above the real peak
            total = memory_gb(device)
            limit = MEMORY_SHARE * total if total is not None else float("inf")
        if needed > limit:
            raise MemoryError(
                f"mtt: {self.steps_for(ipc)} unrolled steps on batches of {batch} would keep about {needed:.1f} GB "
                f"of activations, over {limit:.1f} GB (max_memory_gb={self.max_memory_gb}: "
                f"{'set' if self.max_memory_gb is not None else f'{MEMORY_SHARE:.0%} of this device'}); "
                "lower syn_steps or batch_syn"
            )

    def iterate(self, state: RunState) -> float:
        assert self.buffer is not None and self.student is not None
        expert = int(torch.randint(len(self.buffer), (1,), generator=state.cpu_rng))
        start_epoch = int(torch.randint(self.max_start_epoch, (1,), generator=state.cpu_rng))
        start = {k: v.to(state.device) for k, v in self.buffer.parameters_at(expert, start_epoch).items()}
        target = {k: v.to(state.device) for k, v in
                  self.buffer.parameters_at(expert, start_epoch + self.expert_epochs).items()}
        student = {k: v.clone().requires_grad_(True) for k, v in start.items()}
        images, labels = state.images, state.labels
        if self._frozen_batch is not None:  # mini-batches from the earlier subsets and the trainable one
            images, labels = torch.cat([self._frozen_batch[0], images]), torch.cat([self._frozen_batch[1], labels])
        final = unroll_student(self.student, student, images, labels, state.learnables.lr,
                               self.steps_for(state.ipc), self.batch_for(len(images)), state.device_rng, self.augmenter)
        return state.update(parameter_matching_loss(final, start, target), self.name)
