"""DC (Zhao, Mopuri & Bilen, ICLR 2021) and DSA (Zhao & Bilen, ICML 2021): gradient matching.

Each iteration draws a fresh network. For ``outer_loop`` rounds: per class, the gradient of the
cross-entropy on a real batch and on the synthetic images of that class are matched with the
layer-wise distance below, summed over classes, and the images take one SGD step; then the
network trains ``inner_loop`` epochs on the (detached) synthetic set. DSA applies one shared
augmentation draw to the real and synthetic batch of each class, and trains the inner network
with per-sample augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..methods import register_method
from ..training import train_network
from ..iterative import IterativeDistiller, RunState

# (outer_loop, inner_loop) of the reference code for the IPCs it defines.
REFERENCE_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}
_BN_SAMPLES_PER_CLASS = 16


def default_loops(ipc: int) -> tuple[int, int]:
    """The reference's (outer_loop, inner_loop); other IPCs (our extension): (min(ipc, 50), 500 / ipc)."""
    if ipc in REFERENCE_LOOPS:
        return REFERENCE_LOOPS[ipc]
    return min(ipc, 50), max(1, round(500 / ipc))


def gradient_distance(grads_syn: Sequence[Tensor], grads_real: Sequence[Tensor]) -> Tensor:
    """DC's matching distance: per layer, sum over output units of (1 - cosine similarity).

    A conv weight (out, in, h, w) is compared row by row after flattening each output
    channel; a linear weight per output unit. One-dimensional tensors (biases, norm scales) are
    skipped, as in the reference.
    """
    total = grads_real[0].new_zeros(())
    for gs, gr in zip(grads_syn, grads_real, strict=True):
        if gr.dim() == 1:
            continue
        gs, gr = gs.reshape(gs.shape[0], -1), gr.reshape(gr.shape[0], -1)
        cosine = (gs * gr).sum(-1) / (gs.norm(dim=-1) * gr.norm(dim=-1) + 1e-6)
        total = total + (1 - cosine).sum()
    return total


def _freeze_batchnorm(net: nn.Module, state: RunState) -> None:
    """BatchNorm nets: set running statistics from a real batch, then freeze them (as the reference)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    real = torch.cat([state.real_batch(c, _BN_SAMPLES_PER_CLASS) for c in range(state.num_classes)])
    with torch.no_grad():
        net.train()(real)
    for module in norms:
        module.eval()


@register_method
class DC(IterativeDistiller):
    """Dataset Condensation with gradient matching.

    Options (besides :class:`IterativeDistiller`'s): ``lr_net`` (inner SGD, no momentum),
    ``outer_loop`` / ``inner_loop`` (default: the reference's per-IPC values),
    ``batch_train`` (inner-loop batch size). Reference defaults: 1000 iterations, lr_img 0.1,
    batch_real 256, no augmentation.
    """

    name = "dc"

    def __init__(
        self,
        *,
        lr_img: float = 0.1,
        dsa: bool = False,
        lr_net: float = 0.01,
        outer_loop: int | None = None,
        inner_loop: int | None = None,
        batch_train: int = 256,
        **options,
    ) -> None:
        super().__init__(lr_img=lr_img, dsa=dsa, **options)
        self.lr_net = lr_net
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop
        self.batch_train = batch_train

    def loops(self, ipc: int) -> tuple[int, int]:
        outer, inner = default_loops(ipc)
        return self.outer_loop or outer, self.inner_loop if self.inner_loop is not None else inner

    def iterate(self, state: RunState) -> float:
        outer_loop, inner_loop = self.loops(state.ipc)
        net = state.fresh_network(self.arch).train()
        params = [p for p in net.parameters() if p.requires_grad]
        _freeze_batchnorm(net, state)
        total = 0.0
        for round_index in range(outer_loop):
            total += state.update(self.matching_loss(net, params, state), self.name)
            if round_index == outer_loop - 1:
                break
            train_network(net, state.images.detach().clone(), state.labels, inner_loop, self.lr_net,
                          self.batch_train, momentum=0.0, weight_decay=0.0, augmenter=self.augmenter,
                          rng=state.device_rng, lr_decay=False)
        return total / (outer_loop * state.num_classes)

    def matching_loss(self, net: nn.Module, params: list[Tensor], state: RunState) -> Tensor:
        """Sum over classes of the gradient distance between a real batch and the synthetic images."""
        loss = state.images.new_zeros(())
        for c in range(state.num_classes):
            real, syn = state.real_batch(c, self.batch_real), state.synthetic(c)
            if self.augmenter is not None:
                real, syn = self.augmenter.pair(real, syn, state.device_rng)
            target = torch.full((len(real),), c, device=state.device)
            grads_real = torch.autograd.grad(F.cross_entropy(net(real), target), params)
            grads_real = [g.detach() for g in grads_real]
            target = torch.full((len(syn),), c, device=state.device)
            grads_syn = torch.autograd.grad(F.cross_entropy(net(syn), target), params, create_graph=True)
            loss = loss + gradient_distance(grads_syn, grads_real)
        return loss


@register_method
class DSA(DC):
    """DC with Differentiable Siamese Augmentation (the same draw on the real and synthetic batch)."""

    name = "dsa"

    def __init__(self, *, dsa: bool = True, **options) -> None:
        super().__init__(dsa=dsa, **options)
