"""SRe2L's recover step (Yin, Xing & Shen, NeurIPS 2023) and DWA (Du et al., NeurIPS 2024).

Squeeze: a BatchNorm teacher (:mod:`mgdd.teacher`). Recover: the set is made of ``ipc`` independent
batches of one image per class. Each batch is optimised so that the teacher classifies it as its
classes while the statistics of every BatchNorm layer's input on the batch match the layer's running
statistics::

    loss = CE(teacher(x), y) + r_bn * sum_l m_l * (r_var * ||var_l - running_var_l|| + ||mean_l - running_mean_l||)

(biased batch variance, plain L2 norms, m = ``first_bn_multiplier`` for the first BN layer and 1 after),
Adam (betas 0.5, 0.9) with a cosine lr from ``lr`` to 0, a random roll of the batch by up to ``jitter``
pixels each iteration (default: height // 8, the reference's 4 at 32 px), pixels clamped to the data's
valid range after each step. SRe2L starts from
noise with r_var 1. DWA starts from real images with r_var 11 and, once per batch before its first
iteration, moves a copy of the teacher by ``adjust_steps`` normalised ascent steps of the batch's
cross-entropy, each of length ``rho / adjust_steps`` (running statistics untouched), so each batch is
recovered against a differently adjusted teacher: more diverse images.

Relabelling (the teacher's soft labels at evaluation) is not part of this module; the saved sets carry
hard labels.
"""

from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..data import ImageDataset
from ..methods import Distiller, register_method
from ..io import load_tensors, save_tensors_atomic, sha256
from ..synthetic import SyntheticSet
from ..teacher import DEFAULT_TEACHER, WEIGHTS_FILE, load_teacher, resolve_teacher

INITS = ("noise", "real")


class BNStatistics:
    """Forward hooks on a network's BatchNorm layers: the distance of each batch's input statistics to the
    layer's running statistics, ``r_var * ||var - running_var|| + ||mean - running_mean||``, per layer."""

    def __init__(self, net: nn.Module, r_var: float) -> None:
        self.r_var = r_var
        self.distances: list[Tensor] = []
        self.layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def _hook(self, module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> None:
        x = inputs[0]
        dims = [0] + list(range(2, x.dim()))
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        self.distances.append(self.r_var * torch.linalg.vector_norm(module.running_var - var)
                              + torch.linalg.vector_norm(module.running_mean - mean))

    def loss(self, first_multiplier: float) -> Tensor:
        """Weighted sum over the layers of the last forward pass (then forgets it)."""
        weights = [first_multiplier] + [1.0] * (len(self.distances) - 1)
        total = sum(w * d for w, d in zip(weights, self.distances))
        self.distances = []
        return total

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def directed_weight_adjustment(net: nn.Module, images: Tensor, labels: Tensor, rho: float, steps: int) -> nn.Module:
    """DWA: ``steps`` steps ``theta += (rho / steps) * g / ||g||`` with ``g`` the gradient of the cross-entropy on
    the batch (recomputed each step, norm over all parameters). The network stays in eval mode, so BatchNorm
    running statistics are untouched. Modifies and returns ``net``."""
    params = [p.requires_grad_(True) for p in net.parameters()]
    net.eval()
    for _ in range(steps):
        with torch.enable_grad():
            grads = torch.autograd.grad(F.cross_entropy(net(images), labels), params)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.add_(g, alpha=(rho / steps) / (float(norm) + 1e-12))
    return net.requires_grad_(False)


def random_roll(images: Tensor, jitter: int, rng: torch.Generator) -> Tensor:
    """The batch rolled by (dy, dx), each drawn in [0, jitter] (the reference's jitter)."""
    dy, dx = (int(torch.randint(jitter + 1, (1,), generator=rng)) for _ in range(2))
    return torch.roll(images, shifts=(dy, dx), dims=(2, 3))


@register_method
class SRe2L(Distiller):
    """Squeeze, recover (this method), relabel: images recovered from a BatchNorm teacher.

    Options: ``teacher`` (folder made by ``mgdd teacher``), ``iterations`` (per batch), ``lr``, ``r_bn``,
    ``r_var``, ``first_bn_multiplier``, ``jitter``, ``init`` (``"noise"`` or ``"real"``), ``snapshot_dir``
    (each finished batch is saved and never redone), ``progress``.
    """

    name = "sre2l"
    default_init = "noise"

    def __init__(
        self,
        *,
        teacher: str | None = None,
        iterations: int = 1000,
        lr: float = 0.25,
        r_bn: float = 0.01,
        r_var: float = 1.0,
        first_bn_multiplier: float = 10.0,
        jitter: int | None = None,
        init: str | None = None,
        snapshot_dir: str | None = None,
        progress: bool = True,
    ) -> None:
        if teacher is None:
            raise ValueError(f"{self.name} needs option teacher=: a teacher folder made by `mgdd teacher`, a Hub id, "
                             f"or the bundled {DEFAULT_TEACHER!r}")
        init = init or self.default_init
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if iterations < 1 or lr <= 0 or r_bn < 0 or r_var < 0 or (jitter is not None and jitter < 0):
            raise ValueError("iterations must be >= 1, lr > 0, r_bn, r_var and jitter >= 0")
        self.teacher_source, self.iterations, self.lr, self.r_bn, self.r_var = str(teacher), iterations, lr, r_bn, r_var
        self.first_bn_multiplier, self.jitter, self.init = first_bn_multiplier, jitter, init
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.progress = progress

    # ------------------------------------------------------------------ the teacher a batch is recovered against
    def batch_teacher(self, teacher: nn.Module, images: Tensor, labels: Tensor, jitter: int,
                      rng: torch.Generator) -> nn.Module:
        return teacher

    def options(self) -> dict[str, Any]:
        """The recovery's settings, saved with every batch so that a resume never mixes runs."""
        return {"iterations": self.iterations, "lr": self.lr, "r_bn": self.r_bn, "r_var": self.r_var,
                "first_bn_multiplier": self.first_bn_multiplier, "jitter": self.jitter, "init": self.init}

    def _identity(self, train: ImageDataset, ipc: int, seed: int) -> dict[str, Any]:
        return {"method": self.name, "dataset": train.name, "seed": seed, **self.options(),
                "ipc": ipc if self.init == "real" else None,  # real starts are drawn per ipc; noise per batch
                "teacher_sha256": sha256(resolve_teacher(self.teacher_source) / WEIGHTS_FILE)}

    def _batch_path(self, batch: int) -> Path | None:
        return self.snapshot_dir / f"batch_{batch:04d}.safetensors" if self.snapshot_dir is not None else None

    def _resumed_batches(self, ipc: int, identity: dict[str, Any],
                         device: torch.device) -> tuple[list[Tensor], float | None]:
        """The snapshots a killed run left (batches 0, 1, ... in order) and their recovery seconds (None when a
        snapshot predates the seconds); a snapshot from another run is refused rather than mixed in."""
        batches: list[Tensor] = []
        seconds: float | None = 0.0
        while self.snapshot_dir is not None and len(batches) < ipc:
            path = self._batch_path(len(batches))
            if not path.exists():
                break
            tensors, header = load_tensors(path)
            saved = json.loads(header["identity"]) if "identity" in header else None  # None: saved before
            if saved is not None and saved != identity:
                raise ValueError(f"{path} was recovered by another run ({saved}); this run is {identity}. "
                                 "Use another snapshot_dir")
            batches.append(tensors["images"].to(device))
            seconds = seconds + float(header["seconds"]) if seconds is not None and "seconds" in header else None
        return batches, seconds

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        teacher, config = load_teacher(self.teacher_source, device)
        identity = self._identity(train, ipc, seed)
        if config["num_classes"] != train.num_classes or tuple(config["image_shape"]) != train.image_shape:
            raise ValueError(f"the teacher at {self.teacher_source} was trained on {config['dataset']} "
                             f"({config['num_classes']} classes, {config['image_shape']}), not on this data")
        jitter = self.jitter if self.jitter is not None else max(1, train.image_shape[1] // 8)
        mean, std = torch.tensor(train.mean, device=device), torch.tensor(train.std, device=device)
        low, high = (-mean / std).view(1, -1, 1, 1), ((1 - mean) / std).view(1, -1, 1, 1)
        labels = torch.arange(train.num_classes, device=device)
        real = train.balanced_indices(ipc, seed).view(train.num_classes, ipc) if self.init == "real" else None
        batches, seconds = self._resumed_batches(ipc, identity, device)  # seconds: of every batch, resumed ones too
        bar = tqdm(range(len(batches), ipc), initial=len(batches), total=ipc, desc=f"{self.name} batches",
                   disable=not self.progress)
        for batch in bar:
            path = self._batch_path(batch)
            started = time.perf_counter()
            rng = torch.Generator().manual_seed(seed * 1_000_003 + batch)
            if real is not None:
                start = train.images[real[:, batch]].to(device)
            else:
                start = torch.randn((train.num_classes, *train.image_shape), generator=rng).to(device)
            images = self.recover(self.batch_teacher(teacher, start, labels, jitter, rng), start, labels,
                                  low, high, jitter, rng)
            batch_seconds = time.perf_counter() - started
            seconds = seconds + batch_seconds if seconds is not None else None
            if path is not None:
                save_tensors_atomic(path, {"images": images.cpu().contiguous()},
                                    metadata={"seconds": repr(batch_seconds), "identity": json.dumps(identity)})
            batches.append(images)
        images = torch.stack(batches, dim=1).reshape(-1, *train.image_shape)  # class-major: (C, ipc) -> C * ipc
        metadata = {"method": self.name, "dataset": train.name, "ipc": ipc, "seed": seed, "arch": config["arch"],
                    "teacher": self.teacher_source, "teacher_sha256": identity["teacher_sha256"],
                    "teacher_test_accuracy": config.get("test_accuracy"),
                    "init": self.init, "iterations": self.iterations, "recover_seconds": None if seconds is None else round(seconds, 3)}
        return SyntheticSet(images.detach().cpu(), labels.repeat_interleave(ipc).cpu(), train.num_classes,
                            list(train.class_names), train.mean, train.std, metadata=metadata)

    def recover(self, teacher: nn.Module, start: Tensor, labels: Tensor, low: Tensor, high: Tensor, jitter: int,
                rng: torch.Generator) -> Tensor:
        """One batch: CE + BN-statistics loss, Adam with a cosine lr, random roll, clamp to the valid range."""
        images = start.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([images], lr=self.lr, betas=(0.5, 0.9), eps=1e-8)
        statistics = BNStatistics(teacher, self.r_var)
        try:
            for iteration in range(self.iterations):
                for group in optimizer.param_groups:
                    group["lr"] = 0.5 * (1 + math.cos(math.pi * iteration / self.iterations)) * self.lr
                outputs = teacher(random_roll(images, jitter, rng))
                loss = F.cross_entropy(outputs, labels) + self.r_bn * statistics.loss(self.first_bn_multiplier)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    images.copy_(torch.maximum(torch.minimum(images, high), low))
        finally:
            statistics.remove()
        return images.detach()


@register_method
class DWA(SRe2L):
    """Diversity-driven synthesis: SRe2L with a directed weight adjustment of the teacher per batch.

    Extra options: ``rho`` (total length of the adjustment, 0.015), ``adjust_steps`` (12). Defaults follow
    the reference's CIFAR script: real-image initialisation, r_var 11, r_bn 0.01, lr 0.25, 1000 iterations.
    ``rho=0`` is SRe2L with DWA's other settings (the ablation of the paper).
    """

    name = "dwa"
    default_init = "real"

    def __init__(self, *, rho: float = 0.015, adjust_steps: int = 12, r_var: float = 11.0, **options) -> None:
        super().__init__(r_var=r_var, **options)
        if rho < 0 or adjust_steps < 1:
            raise ValueError(f"rho must be >= 0 and adjust_steps >= 1, got {rho}, {adjust_steps}")
        self.rho, self.adjust_steps = rho, adjust_steps

    def options(self) -> dict[str, Any]:
        return {**super().options(), "rho": self.rho, "adjust_steps": self.adjust_steps}

    def batch_teacher(self, teacher: nn.Module, images: Tensor, labels: Tensor, jitter: int,
                      rng: torch.Generator) -> nn.Module:
        if self.rho == 0:
            return teacher
        # on the batch randomly rolled, as the reference (which uses its first iteration's roll)
        rolled = random_roll(images, jitter, rng)
        return directed_weight_adjustment(copy.deepcopy(teacher), rolled, labels, self.rho, self.adjust_steps)
