"""Feature regression: the objective FRePo and MGDD's refinement share, on the shared loop.

Each iteration draws a feature network: from a pool of models **trained online on the synthetic set**
(FRePo; reset after ``max_online_updates`` updates, staggered) or a fresh frozen random one
(``model_pool="random"``, as the kernel objectives of KIP/RFAD). On its last-hidden-layer features, a
kernel ridge-regression head fitted on the synthetic set (with the synthetic labels) predicts a batch of
real images; its error is the loss of the images **and of the labels**, both learned by gradient:
MSE to the real images' centred one-hot targets, or RFAD's Platt-scaled cross-entropy (``loss="platt"``,
learned scale). Options measured in the ablation of ``docs/mgdd.md``:

* ``label_init="least-squares"``: labels start at mgdd's closed-form solve instead of the targets;
* ``mean_weight``: DM's class-mean embedding term, relative to the real means' norm;
* ``init="herding"``: initial images picked by herding; ``start=``: any set (MGDD's one-pass set), its
  soft labels included;
* ``formation=2``: IDC's multi-formation, four half-resolution samples per stored image, with one
  learned label per sample.

:class:`FeatureRegression` is not a registered method: ``mgdd.baselines.FRePo`` registers it with FRePo's
defaults, and MGDD's refinement (``mgdd.generator``) runs it from the one-pass set with the objective that
measured best. Neither imports the other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .iterative import IterativeDistiller, RunState, iteration_seed
from .nets import seeded_network
from .nets.features import embed_real
from .nets.online_pool import OnlineModelPool
from .objectives import relative_mean_mismatch
from .ridge import centred_targets, platt_cross_entropy, ridge_predict, solve_labels

MODEL_POOLS = ("online", "random")
LOSSES = ("mse", "platt")
LABEL_INITS = ("targets", "least-squares")


class FeatureRegression(IterativeDistiller):
    """Images and labels learned by the ridge regression of real data on the synthetic set's features.

    Defaults are FRePo's (see :class:`mgdd.baselines.FRePo`). The saved set carries the learned labels
    (regression targets: the protocol trains on them with MSE). A ``start`` set with soft labels starts the
    labels there (MGDD's one-pass labels); with hard labels, at their centred targets.
    """

    name = "feature-regression"
    supports_formation = True

    def __init__(
        self,
        *,
        iterations: int = 500,
        lr_img: float = 3e-3,
        lr_label: float = 3e-3,
        batch_real: int = 50,
        dsa: bool = False,
        model_pool: str = "online",
        pool_size: int = 4,
        max_online_updates: int = 40,
        online_lr: float = 3e-4,
        width: int = 128,
        norm: str = "instance",
        ridge: float = 1e-6,
        loss: str = "mse",
        learn_labels: bool = True,
        label_init: str = "targets",
        mean_weight: float = 0.0,
        **options,
    ) -> None:
        super().__init__(iterations=iterations, lr_img=lr_img, batch_real=batch_real, dsa=dsa, **options)
        for option, value, choices in (("model_pool", model_pool, MODEL_POOLS), ("loss", loss, LOSSES),
                                       ("label_init", label_init, LABEL_INITS)):
            if value not in choices:
                raise ValueError(f"{option} must be one of {choices}, got {value!r}")
        if pool_size < 1 or max_online_updates < 1 or width < 1:
            raise ValueError("pool_size, max_online_updates and width must be >= 1")
        if lr_label <= 0 or online_lr <= 0 or ridge <= 0 or mean_weight < 0:
            raise ValueError("lr_label, online_lr and ridge must be > 0, mean_weight >= 0")
        self.lr_label, self.model_pool, self.pool_size = lr_label, model_pool, pool_size
        self.max_online_updates, self.online_lr = max_online_updates, online_lr
        self.width, self.norm, self.ridge, self.loss = width, norm, ridge, loss
        self.learn_labels, self.label_init, self.mean_weight = learn_labels, label_init, mean_weight

    # ------------------------------------------------------------------ learnables
    def extra_learnables(self, train, ipc: int) -> dict[str, tuple[Tensor, float]]:
        num_classes = train.num_classes
        labels = centred_targets(torch.arange(num_classes).repeat_interleave(ipc * self.formation**2), num_classes)
        extras = {"labels": (labels, self.lr_label)}
        if self.loss == "platt":
            extras["log_scale"] = (torch.zeros(()), self.lr_label)  # exp(log_scale) multiplies the predictions
        return extras

    def make_optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        return torch.optim.Adam(groups, lr=self.lr_img)

    def synthetic_labels(self, state: RunState) -> Tensor:
        return state.learnables.labels

    def _synthetic_set(self, state: RunState):
        syn = super()._synthetic_set(state)
        if self.loss == "platt":  # the scale the ridge predictions were trained under: softmax(scale * labels) is
            syn.metadata["platt_scale"] = float(state.learnables.log_scale.detach().exp())  # the labels' distribution
        return syn

    def initialise(self, state: RunState) -> None:
        if self.model_pool == "online":
            state.scratch["pool"] = OnlineModelPool(lambda seed: self._network(state, seed), self.pool_size,
                                                    self.max_online_updates, self.online_lr, self._pool_seed(state))
        if state.iteration == 0 and self.start is not None and self.start.soft_labels:
            state.learnables.labels.data.copy_(self.start.labels.to(state.learnables.labels))
        elif state.iteration == 0 and self.label_init == "least-squares":
            state.begin_iteration()
            net = self._network(state, iteration_seed(state.seed, 0) + 3)
            real, real_labels = self._real_batch(state)
            with torch.no_grad():
                solved = solve_labels(net.embed(state.samples()), net.embed(real),
                                      centred_targets(real_labels, state.num_classes), self.ridge)
            state.learnables.labels.data.copy_(solved.to(state.learnables.labels.dtype))
        if not self.learn_labels:
            state.learnables.labels.requires_grad_(False)

    # ------------------------------------------------------------------ one iteration
    def iterate(self, state: RunState) -> float:
        pool = state.scratch.get("pool")
        member = pool.draw(state.cpu_rng, self._pool_seed(state)) if pool is not None else None
        if member is not None:
            net = member.net
        else:
            net = self._network(state, iteration_seed(state.seed, state.iteration) + 2).eval().requires_grad_(False)
        real, real_labels = self._real_batch(state)
        syn = state.samples()
        if self.augmenter is not None:
            real, syn = self.augmenter.pair(real, syn, state.device_rng)
        real_features = embed_real(net, real)
        syn_features = net.embed(syn)
        loss = self.regression_loss(state, syn_features, real_features, real_labels)
        if self.mean_weight > 0:
            loss = loss + self.mean_weight * relative_mean_mismatch(
                syn_features, state.labels, real_features, F.one_hot(real_labels, state.num_classes).double(),
                state.num_classes)
        value = state.update(loss, self.name)
        if member is not None:  # one step of the drawn network on the synthetic set, MSE to its current labels
            OnlineModelPool.train_step(member, state.samples(), state.learnables.labels)
        return value

    def regression_loss(self, state: RunState, syn_features: Tensor, real_features: Tensor, real_labels: Tensor) -> Tensor:
        """Error of the ridge head fitted on the synthetic set, on the real batch."""
        prediction = ridge_predict(syn_features, state.learnables.labels, real_features, self.ridge)
        if self.loss == "platt":
            return platt_cross_entropy(prediction, state.learnables.log_scale, real_labels)
        return F.mse_loss(prediction, centred_targets(real_labels, state.num_classes).double())

    # ------------------------------------------------------------------ the model pool
    def _network(self, state: RunState, seed: int) -> nn.Module:
        return seeded_network(self.arch, state.train.channels, state.num_classes, state.train.image_shape[1:],
                              seed, state.device, width=self.width, norm=self.norm)

    @staticmethod
    def _pool_seed(state: RunState) -> int:
        """Seed of the pool's new networks at this iteration (member i adds i)."""
        return iteration_seed(state.seed, state.iteration) + 101

    def _real_batch(self, state: RunState) -> tuple[Tensor, Tensor]:
        batches = [state.real_batch(c, self.batch_real) for c in range(state.num_classes)]
        labels = torch.cat([torch.full((len(b),), c, device=state.device) for c, b in enumerate(batches)])
        return torch.cat(batches), labels

