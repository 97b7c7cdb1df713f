"""DM (Zhao & Bilen, WACV 2023): distribution matching in the embedding of random networks.

Each iteration draws a fresh randomly initialised network; per class, the mean embedding of a
real batch and of the synthetic images (the same augmentation draw on both) are matched in
squared Euclidean distance, summed over classes; one SGD step on the images.
"""

from __future__ import annotations

import torch

from ..methods import register_method
from ..nets.features import embed_real
from ..objectives import mean_embedding_loss
from ..iterative import IterativeDistiller, RunState


@register_method
class DM(IterativeDistiller):
    """Dataset condensation with distribution matching.

    Reference defaults: 20000 iterations, lr_img 1.0 (SGD momentum 0.5), batch_real 256 per
    class, DSA on, real initialisation. All classes are embedded in one forward pass (each class
    keeps its own augmentation draw); for instance-norm ConvNets this is exactly the reference's
    per-class computation, for batch-norm nets it is the reference's BN branch.
    """

    name = "dm"

    def __init__(self, *, iterations: int = 20000, lr_img: float = 1.0, **options) -> None:
        super().__init__(iterations=iterations, lr_img=lr_img, **options)

    def iterate(self, state: RunState) -> float:
        net = state.fresh_network(self.arch).train().requires_grad_(False)
        reals, syns = [], []
        for c in range(state.num_classes):
            real, syn = state.real_batch(c, self.batch_real), state.synthetic(c)
            if self.augmenter is not None:
                real, syn = self.augmenter.pair(real, syn, state.device_rng)
            reals.append(real)
            syns.append(syn)
        real_labels = torch.cat([torch.full((len(r),), c, device=state.device) for c, r in enumerate(reals)])
        real_features = embed_real(net, torch.cat(reals))
        syn_features = net.embed(torch.cat(syns))
        loss = mean_embedding_loss(real_features, real_labels, syn_features, state.labels, state.num_classes)
        return state.update(loss, self.name) / state.num_classes
