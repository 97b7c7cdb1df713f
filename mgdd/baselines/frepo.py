"""FRePo (Zhou, Nezhadarya & Ba, NeurIPS 2022): dataset distillation by neural feature regression with pooling.

Each iteration draws one network from a pool of models that are **trained online on the synthetic
set** and reset after ``max_online_updates`` updates (staggered, so the pool always holds networks
of different ages). On that network's last-hidden-layer features, a kernel ridge-regression head
fitted on the synthetic set (with the synthetic labels) predicts a batch of real images; its error
against the real images' centred one-hot targets is the loss of the images **and of the labels**,
both learned by gradient. Then the drawn network takes one optimiser step on the synthetic set.

Its options beyond the paper (frozen random networks, Platt loss, label starts, DM's mean term, herding
or any start set, multi-formation) are those of :class:`mgdd.feature_regression.FeatureRegression`, the
objective it shares with MGDD's refinement, measured in the ablation of ``docs/mgdd.md``.

What differs from the reference (yongchao97/FRePo): Adam instead of LAMB, no cosine schedule,
pool networks are the evaluation ConvNet (instance norm by default; ``norm="none"`` for the
paper's choice), ``batch_real`` real images per class per iteration (FRePo: 1024 in all), and a
resumed run restarts its model pool (images, labels and their optimiser state continue exactly).
"""

from __future__ import annotations

from ..feature_regression import FeatureRegression
from ..methods import register_method


@register_method
class FRePo(FeatureRegression):
    """Neural feature regression with an online model pool; learns images and labels.

    Defaults follow the paper where this CPU allows: pool of 4 ConvNet-128 trained online
    (Adam 3e-4) and reset after 40 updates, ridge 1e-6 (relative to the kernel's mean diagonal),
    MSE to centred one-hot targets, learned labels, Adam 3e-3 on images and labels, no
    augmentation inside the objective. The objective and its options live in
    :class:`mgdd.feature_regression.FeatureRegression`, shared with MGDD's refinement.
    """

    name = "frepo"
