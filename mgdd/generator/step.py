"""The one training step shared by meta-training and adaptation.

generate the synthetic set from its initial real samples -> embed it and two real batches with
a feature network drawn from a pool -> solve the synthetic labels in closed form on the first
real batch -> score the ridge head on the second (held-out) batch -> one backward pass.
A single backward per step keeps the step compatible with DistributedDataParallel.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..augment import DiffAugment
from ..data import ImageDataset
from ..device import inference_chunk
from ..nets import seeded_network
from ..nets.features import embed
from ..objectives import relative_mean_mismatch
from ..ridge import DEFAULT_LABEL_RIDGE, DEFAULT_RIDGE, platt_cross_entropy, ridge_predict, solve_labels
from .network import ConditionalGenerator


@dataclass
class Task:
    """One distillation problem: a class subset of one dataset at one size."""

    initial: Tensor  # (m, C, H, W) initial real samples, class-major
    initial_labels: Tensor  # (m,) in [0, k)
    support: Tensor  # real samples for the class / dataset codes
    support_labels: Tensor
    real: Tensor | None  # real batch for the label solve (images) ...
    real_targets: Tensor  # (n, k) one-hot
    query: Tensor | None  # held-out real batch for the loss (images) ...
    query_targets: Tensor
    num_classes: int
    real_features: Tensor | None = None  # ... or their cached features (from a FeaturePool)
    query_features: Tensor | None = None
    pool_net: int | None = None  # index of the pool network those features come from
    guide_net: int | None = None  # a different pool network, for the guidance
    guide_features: Tensor | None = None  # its features of the real batch

    def to(self, device: torch.device) -> "Task":
        moved = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.__dict__.items()}
        return Task(**moved)


def _per_class_draw(index: Tensor, count: int, rng: torch.Generator) -> Tensor:
    """``count`` indices from ``index`` without replacement (with replacement if the class is smaller)."""
    if count <= len(index):
        return index[torch.randperm(len(index), generator=rng)[:count]]
    return index[torch.randint(len(index), (count,), generator=rng)]


class FeaturePool:
    """Frozen random feature networks with the features of a fixed real subset computed once.

    Embedding real batches dominates the cost of a step; with a pool, a step embeds only the
    synthetic samples and looks the real features up (for one of ``size`` networks).
    """

    def __init__(
        self,
        data: ImageDataset,
        size: int = 8,
        per_class: int = 256,
        arch: str = "ConvNet",
        width: int = 128,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        rng = torch.Generator().manual_seed(seed)
        picks = [_per_class_draw(idx, min(per_class, len(idx)), rng) for idx in data.class_index]
        self.index = torch.cat(picks)
        self.class_positions = list(torch.split(torch.arange(len(self.index)), [len(p) for p in picks]))
        images = data.images[self.index]
        self.nets = [
            random_feature_net(data.channels, data.image_shape[1:], arch, width, rng, device)
            for _ in range(size)
        ]
        self.features = [embed(net, images).to(device) for net in self.nets]

    def __len__(self) -> int:
        return len(self.nets)


def sample_task(
    data: ImageDataset,
    ipc: int,
    rng: torch.Generator,
    classes: Tensor | None = None,
    real_per_class: int = 32,
    support_per_class: int = 16,
    initial_indices: Tensor | None = None,
    pool: FeaturePool | None = None,
) -> Task:
    """Draw a task from ``data``: ``ipc`` initial samples per class plus real batches.

    ``classes`` restricts the task to a class subset (relabelled 0..k-1); ``initial_indices``
    fixes the initial samples (adaptation keeps them, meta-training redraws them). With a
    ``pool``, the real batches are drawn from its subset and come as cached features of one of
    its networks (``task.pool_net``).
    """
    classes = torch.arange(data.num_classes) if classes is None else classes
    k = len(classes)
    init, support, real, query = [], [], [], []
    for c in classes.tolist():
        idx = data.class_index[c]
        if len(idx) == 0:
            raise ValueError(f"class {c} ({data.class_names[c]!r}) has no samples")
        if initial_indices is None:
            init.append(_per_class_draw(idx, ipc, rng))
        support.append(_per_class_draw(idx, support_per_class, rng))
        source = pool.class_positions[c] if pool is not None else idx
        drawn = _per_class_draw(source, 2 * real_per_class, rng)
        real.append(drawn[:real_per_class])
        query.append(drawn[real_per_class:])
    if initial_indices is None:
        initial_indices = torch.cat(init)
    remap = torch.full((data.num_classes,), -1, dtype=torch.long)
    remap[classes] = torch.arange(k)

    def pick(indices: list[Tensor]) -> tuple[Tensor, Tensor]:
        flat = torch.cat(indices)
        return data.images[flat], remap[data.labels[flat]]

    support_x, support_y = pick(support)
    task_args = dict(initial=data.images[initial_indices], initial_labels=remap[data.labels[initial_indices]],
                     support=support_x, support_labels=support_y, num_classes=k)
    if pool is None:
        real_x, real_y = pick(real)
        query_x, query_y = pick(query)
        return Task(real=real_x, real_targets=F.one_hot(real_y, k).float(), query=query_x,
                    query_targets=F.one_hot(query_y, k).float(), **task_args)
    net_index, guide_index = _two_indices(len(pool), rng)
    real_pos, query_pos = torch.cat(real), torch.cat(query)
    features = pool.features[net_index]
    guide_features = pool.features[guide_index][real_pos.to(features.device)]
    return Task(
        real=None, real_targets=F.one_hot(remap[data.labels[pool.index[real_pos]]], k).float(),
        query=None, query_targets=F.one_hot(remap[data.labels[pool.index[query_pos]]], k).float(),
        real_features=features[real_pos.to(features.device)], query_features=features[query_pos.to(features.device)],
        pool_net=net_index, guide_net=guide_index, guide_features=guide_features, **task_args,
    )


def _two_indices(n: int, rng: torch.Generator) -> tuple[int, int]:
    """Two different indices in [0, n) (the same one when n == 1)."""
    order = torch.randperm(n, generator=rng)
    return int(order[0]), int(order[1 % n])


def random_feature_net(
    channels: int, image_size: tuple[int, int], arch: str = "ConvNet", width: int = 128,
    rng: torch.Generator | None = None, device: torch.device | str = "cpu",
) -> nn.Module:
    """A freshly initialised, frozen feature network (seeded through ``rng``)."""
    seed = int(torch.randint(2**31 - 1, (1,), generator=rng)) if rng is not None else None
    net = seeded_network(arch, channels, 2, image_size, seed, device, width=width)
    return net.eval().requires_grad_(False)


def ridge_loss(
    syn_features: Tensor, real_features: Tensor, real_targets: Tensor, query_features: Tensor,
    query_targets: Tensor, ridge: float, label_ridge: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """MSE of the synthetic ridge head (labels solved on the real batch) on the query batch, its predictions
    and the solved labels."""
    labels = solve_labels(syn_features, real_features, real_targets, ridge, label_ridge)
    prediction = ridge_predict(syn_features, labels, query_features, ridge)
    return F.mse_loss(prediction, query_targets.double()), prediction, labels


def guidance(
    images: Tensor, feature_net: nn.Module, real_features: Tensor, real_targets: Tensor,
    ridge: float = DEFAULT_RIDGE, label_ridge: float = DEFAULT_LABEL_RIDGE,
) -> Tensor:
    """Gradient of the ridge loss w.r.t. ``images``, scaled to unit RMS over the set (no graph kept).

    This tells the generator, per sample, which way the distillation objective wants it to move;
    meta-training teaches the generator to turn it into a good update (a learned optimiser step).
    """
    # one forward per cache-sized chunk, graphs kept (a few hundred MB at IPC 50), one backward through all:
    # 1.2-1.4x faster on CPU than embedding without a graph and then a forward + vector-Jacobian product per chunk
    with torch.enable_grad():
        chunks = [x.detach().requires_grad_(True) for x in images.split(inference_chunk(images.device))]
        features = torch.cat([feature_net.embed(x) for x in chunks])
        loss, _, _ = ridge_loss(features, real_features, real_targets, real_features, real_targets, ridge, label_ridge)
        grad = torch.cat(torch.autograd.grad(loss, chunks))
    return grad / grad.pow(2).mean().sqrt().clamp_min(1e-20)


def synthesize(
    gen: ConditionalGenerator | nn.Module,
    task: Task,
    feature_net: nn.Module | None,
    real_features: Tensor | None = None,
    unroll: int = 1,
    ridge: float = DEFAULT_RIDGE,
    label_ridge: float = DEFAULT_LABEL_RIDGE,
    clamp: bool = True,
    timer: "PartTimer | None" = None,
) -> Tensor:
    """The synthetic samples of ``task``: ``unroll`` guided generator steps from the initial samples.

    ``gen`` may be wrapped (e.g. by DDP). Without a feature network the generator runs once, unguided.
    ``clamp``: keep every step's output within the real data's range (:func:`data_range`).
    ``timer``: adds the seconds of the guidance and of the generator under those names.
    """
    timer = timer or PartTimer(task.initial.device, enabled=False)
    x = task.initial
    low, high = data_range(task)
    for _ in range(max(unroll, 1)):
        guide = None
        if feature_net is not None and unroll > 0:
            with timer("guidance"):
                guide = guidance(x, feature_net, real_features, task.real_targets, ridge, label_ridge)
        with timer("generator"):
            if torch.is_grad_enabled() or not isinstance(gen, ConditionalGenerator):
                x = gen(x, task.initial_labels, task.support, task.support_labels, task.num_classes, guide)
            else:
                x = _transform_in_chunks(gen, x, task, guide)
        if clamp:
            x = torch.maximum(torch.minimum(x, high), low)
    return x


class PartTimer:
    """Wall seconds per named part, summed over repeats: ``with timer("guidance"): ...``. On CUDA each part
    synchronises first and last, so that the seconds are the part's and not its queue's."""

    def __init__(self, device: torch.device | str, enabled: bool = True) -> None:
        self.device, self.enabled, self.seconds = torch.device(device), enabled, {}

    @contextmanager
    def __call__(self, name: str):
        if not self.enabled:
            yield
            return
        self._sync()
        started = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def data_range(task: Task) -> tuple[Tensor, Tensor]:
    """Per-channel (low, high) pixel bounds, (1, C, 1, 1) each, of the real samples of ``task``.

    Generated pixels are clamped to the range of real ones (a generator adapted without bounds pushed
    Fashion-MNIST pixels to 12 in normalised units, where real data stops near 2): a pixel outside the
    range has no effect on the loss and no gradient, so the generator gains nothing by leaving it.
    """
    real = torch.cat([task.initial, task.support])
    return real.amin(dim=(0, 2, 3), keepdim=True), real.amax(dim=(0, 2, 3), keepdim=True)


def _transform_in_chunks(gen: ConditionalGenerator, x: Tensor, task: Task, guide: Tensor | None) -> Tensor:
    """``gen(x, ...)`` for inference: task codes once, then the per-sample map in cache-sized chunks."""
    class_codes, dataset_code = gen.task_codes(task.support, task.support_labels, task.num_classes)
    codes = class_codes[task.initial_labels]
    chunk = inference_chunk(x.device)
    guides = guide.split(chunk) if guide is not None else [None] * len(x.split(chunk))
    return torch.cat([gen.transform(xc, cc, dataset_code, gc)
                      for xc, cc, gc in zip(x.split(chunk), codes.split(chunk), guides)])


def distillation_loss(
    gen: ConditionalGenerator | nn.Module,
    task: Task,
    feature_net: nn.Module,
    ridge: float = DEFAULT_RIDGE,
    label_ridge: float = DEFAULT_LABEL_RIDGE,
    augmenter: DiffAugment | None = None,
    rng: torch.Generator | None = None,
    unroll: int = 1,
    guide_net: nn.Module | None = None,
    mean_weight: float = 0.0,
    outputs: dict | None = None,
    clamp: bool = True,
    compare_initial: bool = True,
    platt_log_scale: Tensor | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Loss of one step (differentiable into ``gen``) and a few statistics for logging.

    The guidance comes from ``guide_net`` (default: ``feature_net``); a network other than the
    one that scores the result keeps the generator from exploiting one network's quirks.
    ``mean_weight > 0`` adds DM's class-mean embedding term (``relative_mean_mismatch`` against
    the real and query batches) to the ridge loss. A dict passed as ``outputs`` receives the synthetic
    samples and their solved labels, detached (``"synthetic"``, ``"labels"``): an online model pool trains on them.
    ``compare_initial``: also log the loss of the untouched initial samples (``"initial_loss"``, one more forward pass).
    ``platt_log_scale`` (a learnable scalar): score the ridge predictions by RFAD's Platt-scaled cross-entropy,
    ``cross_entropy(exp(platt_log_scale) * prediction, class)``, instead of MSE (the FRePo ablation's best lever);
    ``stats["loss"]`` stays the MSE, comparable across settings.
    """
    real_features, query_features = task.real_features, task.query_features
    with torch.no_grad():
        if real_features is None:
            real_features = feature_net.embed(augmenter(task.real, rng=rng) if augmenter else task.real)
        if query_features is None:
            query_features = feature_net.embed(augmenter(task.query, rng=rng) if augmenter else task.query)
    guide_net = feature_net if guide_net is None else guide_net
    guide_features = task.guide_features
    if guide_features is None:
        with torch.no_grad():
            guide_features = real_features if guide_net is feature_net else guide_net.embed(task.real)
    synthetic = synthesize(gen, task, guide_net, guide_features, unroll, ridge, label_ridge, clamp)
    syn_features = feature_net.embed(augmenter(synthetic, rng=rng) if augmenter else synthetic)
    loss, prediction, labels = ridge_loss(syn_features, real_features, task.real_targets, query_features,
                                  task.query_targets, ridge, label_ridge)
    stats = {"loss": loss.item()}
    if platt_log_scale is not None:
        loss = platt_cross_entropy(prediction, platt_log_scale, task.query_targets.argmax(1))
        stats["platt_scale"] = platt_log_scale.exp().item()
    if outputs is not None:
        outputs.update(synthetic=synthetic.detach(), labels=labels.detach().float())
    if mean_weight > 0:
        mismatch = relative_mean_mismatch(syn_features, task.initial_labels, torch.cat([real_features, query_features]),
                                          torch.cat([task.real_targets, task.query_targets]), task.num_classes)
        loss = loss + mean_weight * mismatch
        stats["mean_mismatch"] = mismatch.item()
    with torch.no_grad():
        stats["ridge_acc"] = (prediction.argmax(1) == task.query_targets.argmax(1)).double().mean().item()
        if compare_initial:  # the same loss for the untouched initial samples: what the generator is improving on
            initial_loss, _, _ = ridge_loss(feature_net.embed(task.initial), real_features, task.real_targets,
                                         query_features, task.query_targets, ridge, label_ridge)
            stats["initial_loss"] = initial_loss.item()
    return loss.float(), stats


class UnrolledAdam:
    """Adam's update (torch.optim's rule, bias-corrected) as differentiable tensor operations, so that a
    meta-gradient flows through a few steps of the refinement that follows the one pass."""

    def __init__(self, lrs: list[float], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.lrs, self.betas, self.eps = lrs, betas, eps
        self.steps, self.first, self.second = 0, None, None

    def step(self, params: list[Tensor], grads: list[Tensor]) -> list[Tensor]:
        beta1, beta2 = self.betas
        self.steps += 1
        if self.first is None:
            self.first = [torch.zeros_like(p) for p in params]
            self.second = [torch.zeros_like(p) for p in params]
        updated = []
        for i, (param, grad, lr) in enumerate(zip(params, grads, self.lrs)):
            self.first[i] = beta1 * self.first[i] + (1 - beta1) * grad
            self.second[i] = beta2 * self.second[i] + (1 - beta2) * grad * grad
            first = self.first[i] / (1 - beta1**self.steps)
            # + 1e-30 inside the root: its derivative stays finite where a gradient is exactly 0
            second = (self.second[i] / (1 - beta2**self.steps) + 1e-30).sqrt()
            updated.append(param - lr * first / (second + self.eps))
        return updated


def refinement_meta_loss(
    gen: ConditionalGenerator | nn.Module,
    task: Task,
    feature_nets: list[nn.Module],
    guide_net: nn.Module,
    lr: float = 3e-3,
    ridge: float = DEFAULT_RIDGE,
    label_ridge: float = DEFAULT_LABEL_RIDGE,
    refine_ridge: float = 1e-6,
    unroll: int = 1,
    clamp: bool = True,
) -> tuple[Tensor, dict[str, float]]:
    """The refinement's objective after a few of its steps from the generated set, differentiable into ``gen``.

    The one pass (``unroll`` guided generator steps, least-squares labels on ``feature_nets[0]``) starts
    ``len(feature_nets) - 2`` steps of MGDD's refinement (:mod:`mgdd.generator.refine`): pixels, labels and the
    Platt scale move by Adam (``lr``, its default) on the Platt cross-entropy of the ridge head on the real batch,
    one frozen network per step (``feature_nets[1:-1]``); the loss is that cross-entropy on the held-out query
    batch in ``feature_nets[-1]``. ``stats``: that loss, the same loss of the one-pass set (no refinement), and
    the ridge head's query accuracy after the steps.
    """
    if task.real is None or task.query is None:
        raise ValueError("refinement_meta_loss needs the task's real images (a task drawn without a FeaturePool)")
    if len(feature_nets) < 2:
        raise ValueError("refinement_meta_loss needs a network for the labels and one for the loss at least")
    real_classes, query_classes = task.real_targets.argmax(1), task.query_targets.argmax(1)
    with torch.no_grad():
        real = [net.embed(task.real) for net in feature_nets[:-1]]
        query = feature_nets[-1].embed(task.query)
        guide_features = guide_net.embed(task.real)
    images = synthesize(gen, task, guide_net, guide_features, unroll, ridge, label_ridge, clamp)
    labels = solve_labels(feature_nets[0].embed(images), real[0], task.real_targets, ridge, label_ridge).float()
    log_scale = torch.zeros((), device=images.device, requires_grad=True)

    def query_loss(x: Tensor, y: Tensor, scale: Tensor) -> tuple[Tensor, Tensor]:
        prediction = ridge_predict(feature_nets[-1].embed(x), y, query, refine_ridge)
        return platt_cross_entropy(prediction, scale, query_classes), prediction

    with torch.no_grad():
        one_pass_loss, _ = query_loss(images, labels, log_scale)
    adam = UnrolledAdam([lr, lr, lr])
    x, y, scale = images, labels, log_scale
    for net, real_features in zip(feature_nets[1:-1], real[1:]):
        prediction = ridge_predict(net.embed(x), y, real_features, refine_ridge)
        step_loss = platt_cross_entropy(prediction, scale, real_classes)
        grads = torch.autograd.grad(step_loss, [x, y, scale], create_graph=True)
        x, y, scale = adam.step([x, y, scale], list(grads))
    loss, prediction = query_loss(x, y, scale)
    with torch.no_grad():
        accuracy = (prediction.argmax(1) == query_classes).double().mean().item()
    stats = {"loss": loss.item(), "one_pass_loss": one_pass_loss.item(), "ridge_acc": accuracy,
             "platt_scale": scale.exp().item()}
    return loss.float(), stats
