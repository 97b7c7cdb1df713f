"""`MetaGenerator`: MGDD's pipeline (adapt a pretrained generator to your data, generate sets of any size).

The weights and their config are a :class:`~mgdd.generator.model.GeneratorModel` (what the Hub holds).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..augment import DiffAugment
from ..data import ImageDataset, as_image_dataset, check_ipc
from ..data.dataset import normalize
from ..device import resolve_device
from ..io import hub_upload_errors
from ..nets import seeded_network
from ..nets.features import embed
from ..nets.online_pool import OnlineModelPool
from ..selection import FeatureSelector, kcenter_select
from ..synthetic import SyntheticSet
from ..ridge import solve_labels_across_networks
from .model import BUNDLED_DIR, DEFAULT_MODEL, GeneratorModel, bundled_models  # noqa: F401 (re-exported)
from .network import ConditionalGenerator
from .refine import parse_budget, refine_set, with_stages
from .step import FeaturePool, PartTimer, distillation_loss, random_feature_net, sample_task, synthesize

logger = logging.getLogger(__name__)
INIT_METHODS = ("random", "kcenter", "herding")
MODEL_POOLS = ("random", "online")
ADAPT_LOSSES = ("mse", "platt")
PLATT_LR = 1e-2  # Adam step of the learned Platt log-scale (the generator's lr is far smaller)
LABEL_METHODS = ("auto", "least-squares", "hard")
# The pipeline's defaults, one source for MetaGenerator, the "mgdd" method and adapt.py. Chosen by the
# measurements in docs/mgdd.md (Fashion-MNIST, ConvNet-3 protocol): herding starts and labels solved across
# 8 networks lift IPC 1 from 57 to 73 and IPC 10 by +1.0; least-squares labels help up to IPC 10 and hurt
# at IPC 50 (83.93 against one-hot 85.15), hence "auto"; DM's mean term added +1.0 to +1.35 to adaptation;
# 100 steps keep the default adaptation within 5 minutes of one core.
DEFAULT_ADAPT_STEPS = 100
DEFAULT_MEAN_WEIGHT = 1.0
DEFAULT_INIT = "herding"
DEFAULT_LABELS = "auto"
DEFAULT_LABEL_NETWORKS = 8
SOFT_LABEL_MAX_IPC = 10  # labels="auto": least-squares up to this IPC (measured better at 1 and 10), one-hot above
# the generator is applied up to this IPC (docs/mgdd.md: at IPC 50 it cost about 2 points against its own start)
GENERATOR_MAX_IPC = 10
LABEL_SEED_STRIDE = 7919  # seeds of the label networks: seed + 1 + stride * j (apart from the guidance's seed + 2)


@dataclass
class AdaptedTarget:
    """Everything :meth:`MetaGenerator.generate` uses besides the weights, stored explicitly.

    ``data``: the target data (initial samples, support codes and label solves come from it);
    ``info``: how the generator was adapted to it (steps, sizes, seconds, loss curve);
    ``references``: random feature networks and their features of real subsets, computed once per
    (size, seed) by the first ``generate`` that needs them;
    ``source``: the data as the user passed it, when its channels were converted to the generator's
    (``convert_channels=True``): generated sets are converted back to its channels and normalisation.
    """

    data: ImageDataset
    info: dict[str, Any]
    references: dict[str, dict] = field(default_factory=dict)
    source: ImageDataset | None = None

    def holds(self, data: ImageDataset) -> bool:
        """Whether ``data`` is this target's data, as passed by the user or converted."""
        return data is self.data or data is self.source


class MetaGenerator:
    """MGDD's pipeline: a pretrained :class:`GeneratorModel`, adapted to your data, generates sets of any size.

    Typical use::

        gen = MetaGenerator.from_pretrained("mgdd-convnet-28")   # bundled; or a Hub id / local dir
        gen.adapt(load_dataset("fashion-mnist"))            # 100 steps
        syn = gen.generate(ipc=50)

    ``MetaGenerator(**config)`` wraps a fresh (untrained) model; ``MetaGenerator(model)`` an existing one.
    After :meth:`adapt`, ``generate`` depends only on ``model`` (the adapted weights) and ``target``.
    """

    def __init__(self, model: GeneratorModel | None = None, **config: Any) -> None:
        if model is not None and config:
            raise ValueError("pass a GeneratorModel or its config, not both")
        self.model = model if model is not None else GeneratorModel(**config)
        self.target: AdaptedTarget | None = None

    @property
    def generator(self) -> ConditionalGenerator:
        return self.model.generator

    @generator.setter
    def generator(self, module: ConditionalGenerator) -> None:
        self.model.generator = module

    @property
    def provenance(self) -> dict[str, Any]:
        """Where the weights come from (saved in the model card)."""
        return self.model.provenance

    @property
    def adapt_info(self) -> dict[str, Any]:
        """How the generator was adapted ({} before :meth:`adapt`)."""
        return self.target.info if self.target is not None else {}

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | Path = DEFAULT_MODEL, **kwargs: Any) -> "MetaGenerator":
        """Load the bundled default by name, a local directory, or a Hub id (see :meth:`GeneratorModel.from_pretrained`)."""
        return cls(GeneratorModel.from_pretrained(pretrained_model_name_or_path, **kwargs))

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> Any:
        """Weights, config and card (with the provenance) to a folder; ``push_to_hub=True`` uploads them."""
        return self.model.save_pretrained(save_directory, **kwargs)

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> Any:
        """Upload weights, config and card to the Hub repository ``repo_id`` ('org/name')."""
        with hub_upload_errors(repo_id):
            return self.model.push_to_hub(repo_id, **kwargs)

    # ------------------------------------------------------------------ adaptation
    def adapt(
        self,
        data: ImageDataset | Any,
        steps: int = DEFAULT_ADAPT_STEPS,
        ipc: int | tuple[int, int] = 10,
        lr: float = 1e-4,
        real_per_class: int = 32,
        support_per_class: int = 16,
        augment: bool = False,
        pool_size: int = 8,
        pool_per_class: int = 256,
        seed: int = 0,
        device: str | torch.device | None = None,
        progress: bool = True,
        convert_channels: bool = False,
        mean_weight: float = DEFAULT_MEAN_WEIGHT,
        model_pool: str = "random",
        max_online_updates: int = 40,
        online_lr: float = 3e-4,
        loss: str = "mse",
    ) -> "MetaGenerator":
        """Fine-tune the generator on ``data`` for ``steps`` steps of the distillation loss.

        Each step draws fresh initial samples (``ipc`` per class), real batches and a random
        feature network, so the adapted generator serves any later ``generate(ipc=...)``. With
        ``ipc=(low, high)`` every step draws its size log-uniformly in that range, so that one
        adaptation sees the sizes it will be asked for.
        With ``pool_size > 0`` the networks come from a pool of that many, whose features of
        ``pool_per_class`` real samples per class are computed once (much faster steps);
        ``pool_size=0`` draws a fresh network every step. ``model_pool="online"`` uses FRePo's pool
        instead: ``pool_size`` networks trained online on the generated sets (one Adam step, ``online_lr``,
        on each step's samples and solved labels) and reset after ``max_online_updates``; their features
        change, so real batches are embedded every step. ``mean_weight > 0`` adds DM's class-mean
        embedding term to the loss (see ``distillation_loss``). ``loss="platt"`` scores the ridge predictions by
        RFAD's Platt-scaled cross-entropy (a learned scale, Adam at ``PLATT_LR``) instead of MSE.
        Returns ``self``; the loss curve is in ``self.adapt_info``.
        """
        source = as_image_dataset(data)
        data = self._prepare_target(source, convert_channels)
        low, high = (ipc, ipc) if isinstance(ipc, int) else tuple(ipc)
        if not 1 <= low <= high:
            raise ValueError(f"ipc must be a size >= 1 or a range (low, high) with 1 <= low <= high, got {ipc}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        check_ipc(high, data)
        if model_pool not in MODEL_POOLS:
            raise ValueError(f"model_pool must be one of {MODEL_POOLS}, got {model_pool!r}")
        if loss not in ADAPT_LOSSES:
            raise ValueError(f"loss must be one of {ADAPT_LOSSES}, got {loss!r}")
        if model_pool == "online" and pool_size < 1:
            raise ValueError("model_pool='online' needs pool_size >= 1")
        device = resolve_device(device)
        self.model.to(device).train()
        rng = torch.Generator().manual_seed(seed)
        groups = [{"params": list(self.generator.parameters())}]
        platt_log_scale = None
        if loss == "platt":  # RFAD's learned Platt scale, from 1
            platt_log_scale = torch.zeros((), device=device, requires_grad=True)
            groups.append({"params": [platt_log_scale], "lr": PLATT_LR})
        optimizer = torch.optim.Adam(groups, lr=lr)
        augmenter = DiffAugment() if augment else None
        losses, accuracies = [], []
        started = time.perf_counter()
        online = model_pool == "online"
        if online:
            pool = None
            online_pool = OnlineModelPool(lambda s: seeded_network(
                self.model.feature_arch, data.channels, data.num_classes, data.image_shape[1:], s, device,
                width=self.model.feature_width), pool_size, max_online_updates, online_lr, seed + 101)
        else:
            # no steps, no pool: its real features are most of a short adaptation's cost (66.7 s of 137.9 s at IPC 1)
            pool = (FeaturePool(data, pool_size, pool_per_class, self.model.feature_arch, self.model.feature_width,
                                seed, device) if pool_size > 0 and steps > 0 else None)
        bar = tqdm(range(steps), desc="adapt", disable=not progress)
        sizes = []
        for step in bar:
            sizes.append(low if low == high else draw_log_uniform(low, high, rng))
            task = sample_task(data, sizes[-1], rng, real_per_class=real_per_class,
                               support_per_class=support_per_class, pool=pool).to(device)
            if online:
                member = online_pool.draw(rng, seed + 101 + 1000 * (step + 1))
                net = guide = member.net
            elif pool is not None:
                net, guide = pool.nets[task.pool_net], pool.nets[task.guide_net]
            else:
                net, guide = self._random_net(data, rng, device), self._random_net(data, rng, device)
            outputs: dict | None = {} if online else None
            value, stats = distillation_loss(self.generator, task, net, self.model.ridge, self.model.label_ridge,
                                             augmenter, unroll=self.model.unroll, guide_net=guide, mean_weight=mean_weight,
                                             outputs=outputs, clamp=self.model.clamp_output, compare_initial=False,
                                             platt_log_scale=platt_log_scale)
            if not math.isfinite(value.item()):
                raise FloatingPointError("adaptation loss is not finite; lower lr")
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            if online:  # the drawn network learns from this step's set, as in FRePo
                OnlineModelPool.train_step(member, outputs["synthetic"], outputs["labels"])
            losses.append(stats["loss"])
            accuracies.append(stats["ridge_acc"])
            bar.set_postfix(loss=f"{stats['loss']:.4f}", acc=f"{stats['ridge_acc']:.3f}")
        self.model.eval()
        info = {
            "dataset": data.name, "steps": steps, "ipc": ipc if isinstance(ipc, int) else [low, high],
            "step_ipcs": sizes, "lr": lr, "seed": seed, "augment": augment,
            "mean_weight": mean_weight, "model_pool": model_pool, "loss": loss,
            "platt_scale": platt_log_scale.exp().item() if platt_log_scale is not None else None,
            "pool_size": pool_size, "pool_per_class": pool_per_class, "real_per_class": real_per_class,
            "seconds": time.perf_counter() - started, "losses": losses, "ridge_accuracies": accuracies,
        }
        self.target = AdaptedTarget(data, info, source=source if source is not data else None)
        return self

    def _random_net(self, data: ImageDataset, rng: torch.Generator, device: torch.device) -> nn.Module:
        return random_feature_net(data.channels, data.image_shape[1:], self.model.feature_arch,
                                  self.model.feature_width, rng, device)

    def _prepare_target(self, data: ImageDataset, convert_channels: bool) -> ImageDataset:
        trained = self.model.provenance.get("train_image_size")
        if trained and tuple(data.image_shape[1:]) != (trained, trained):
            logger.warning("this generator was meta-trained on %dx%d images and the data's are %dx%d: it runs on them "
                           "as they are (it is fully convolutional), unmeasured at this size; resize the data to "
                           "%d pixels (from_tensors of F.interpolate) to stay where it was trained", trained, trained,
                           *data.image_shape[1:], trained)
        if data.channels == self.model.channels:
            return data
        if not convert_channels:
            raise ValueError(
                f"this generator works on {self.model.channels}-channel images but the data has {data.channels}; "
                "pass convert_channels=True to convert (grayscale <-> repeated channels)"
            )
        return convert_image_channels(data, self.model.channels)

    # ------------------------------------------------------------------ generation
    def generate(
        self,
        ipc: int,
        data: ImageDataset | None = None,
        refine: float | str | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        progress: bool = True,
        snapshot_dir: str | Path | None = None,
        refine_options: dict[str, Any] | None = None,
        **one_pass: Any,
    ) -> SyntheticSet:
        """A synthetic set with ``ipc`` images per class: one pass, then (with ``refine``) warm-started refinement.

        The one pass (:meth:`one_pass`; its options as keywords: ``init``, ``labels``, ``guided_steps``, ...) takes
        seconds. ``refine``: a budget of pixel and label optimisation from that set (:mod:`mgdd.generator.refine`):
        seconds (``300``, ``"300s"``) or steps (``"500 steps"``). With ``snapshot_dir`` the refinement snapshots
        there and a call with the same arguments continues it; Ctrl-C keeps the last snapshot.
        ``refine_options`` override the refinement's objective (:data:`~mgdd.generator.refine.REFINE_OPTIONS`).
        The set's metadata records each stage's seconds (``stages``).
        """
        seconds, steps = parse_budget(refine)  # checked before any work
        data = as_image_dataset(data) if data is not None else None  # a torch Dataset is converted once
        syn = self.one_pass(ipc, data, seed=seed, device=device, progress=progress, **one_pass)
        if seconds is None and steps is None:
            return syn
        own = data if data is not None else (self.target.source or self.target.data)
        start = with_stages(syn, self.adapt_info.get("seconds", 0.0), syn.metadata["wall_time"])
        return refine_set(start, own, seconds, steps, seed=seed, device=resolve_device(device),
                          snapshot_dir=snapshot_dir, progress=progress, **(refine_options or {}))

    @torch.no_grad()
    def one_pass(
        self,
        ipc: int,
        data: ImageDataset | None = None,
        init: str = DEFAULT_INIT,
        labels: str = DEFAULT_LABELS,
        seed: int = 0,
        real_per_class: int | None = None,
        guide_per_class: int = 100,
        support_per_class: int = 32,
        label_networks: int = DEFAULT_LABEL_NETWORKS,
        label_ridge: float | None = None,
        guided_steps: int | None = None,
        device: str | torch.device | None = None,
        progress: bool = True,
        convert_channels: bool = False,
    ) -> SyntheticSet:
        """A synthetic set with ``ipc`` images per class in one forward pass (no refinement).

        Args:
            data: target data (default: the data of the last :meth:`adapt`); before any adaptation it
                becomes ``target`` (unadapted weights), otherwise it is used for this call only.
            init: initial real samples per class: ``"random"``, ``"kcenter"`` (in random-ConvNet features) or
                ``"herding"`` (the herding baseline's selection; its first call per dataset trains a small feature
                ConvNet, about 50 s on one CPU thread for Fashion-MNIST, cached for later calls).
            labels: ``"least-squares"`` (soft labels solved in feature space), ``"hard"`` (one-hot), or ``"auto"``
                (:func:`auto_labels`): least-squares up to IPC ``SOFT_LABEL_MAX_IPC`` (10) on 1-channel data, one-hot
                above and on colour data (each measured better there).
            real_per_class: real samples per class in the label solve; default ``max(100, 10 * ipc)``
                (at IPC 50, 100 per class made the labels worse than one-hot: the solve needs many
                more real points than synthetic ones).
            guide_per_class: real samples per class behind the guidance (the generator's input).
            label_networks: random networks the least-squares labels are solved across (one solve of their
                summed objective, :func:`solve_labels_across_networks`); their real features are cached.
            label_ridge: ridge of the ridge heads in the label solve (default: the model's ``ridge``).
            guided_steps: generator steps, each reading the guidance at its own input (default: the model's
                ``unroll``, what it was trained with, where :func:`generator_applies`, else 0); more steps use the
                generator as a learned optimiser; 0 skips the generator (the start images with their labels: any
                channels).
            progress: a bar while the real features of a new target are computed (the first call's extra seconds).
            convert_channels: accept ``data`` whose channels differ from the generator's, as :meth:`adapt` does.
                Either way, a set for data that was converted comes back in that data's channels and
                normalisation, so that it is evaluated against the data's own test split.
        """
        if init not in INIT_METHODS:
            raise ValueError(f"init must be one of {INIT_METHODS}, got {init!r}")
        if labels not in LABEL_METHODS:
            raise ValueError(f"labels must be one of {LABEL_METHODS}, got {labels!r}")
        if label_networks < 1 or (label_ridge is not None and label_ridge <= 0):
            raise ValueError(f"label_networks must be >= 1 and label_ridge > 0, got {label_networks}, {label_ridge}")
        data = as_image_dataset(data) if data is not None else None  # converted once (a torch Dataset: a copy)
        source_channels = data.channels if data is not None else (
            (self.target.source or self.target.data).channels if self.target is not None else self.model.channels)
        adapted_converted = (self.target is not None and self.target.source is not None
                             and (data is None or self.target.holds(data)))
        uses_generator = generator_applies(ipc, source_channels, self.model.channels,
                                           convert_channels or adapted_converted)
        steps = (self.model.unroll if uses_generator else 0) if guided_steps is None else guided_steps
        if steps < 0:
            raise ValueError(f"guided_steps must be >= 0 (0: no generator, the start images as they are), "
                             f"got {guided_steps}")
        # without the generator nothing needs the generator's channels: the set keeps the data's own (colour stays)
        target = self._target_for(data, convert_channels, keep_channels=steps == 0)
        channel_handling = {"data": source_channels, "generator": self.model.channels,
                            "handling": "converted" if target.source is not None and steps > 0 else "kept"}
        if source_channels != self.model.channels:
            logger.info("%d-channel data, %d-channel generator: %s", source_channels, self.model.channels,
                        "images converted for the generator and back (grey)" if channel_handling["handling"] ==
                        "converted" else "the generator is not applied, the set keeps the data's channels")
        data = target.data
        check_ipc(ipc, data)
        if labels == "auto":
            labels = auto_labels(ipc, (target.source or data).channels)
        device = resolve_device(device)
        self.model.to(device).eval()
        started = time.perf_counter()
        timer = PartTimer(device)
        rng = torch.Generator().manual_seed(seed)
        with timer("initial samples"):
            initial = self._initial_indices(data, ipc, init, rng, device, seed)
            task = sample_task(data, ipc, rng, initial_indices=initial, real_per_class=1,
                               support_per_class=support_per_class).to(device)
        label_count = real_per_class if real_per_class is not None else default_label_samples(ipc)
        wanted = [(guide_per_class, seed + 2)] if steps > 0 else []
        if labels == "least-squares":
            wanted += [(label_count, seed + 1 + LABEL_SEED_STRIDE * j) for j in range(label_networks)]
        missing = [w for w in wanted if self._reference_key(*w, device) not in target.references]
        with timer("real features"):  # once per target: what makes a first call slower
            for count, reference_seed in tqdm(missing, desc="generate: real features (once per target)",
                                              disable=not progress or len(missing) < 2, leave=False):
                self._reference(target, count, reference_seed, device)
        images = task.initial
        if steps > 0:
            guide = self._reference(target, guide_per_class, seed + 2, device)
            task = dataclasses.replace(task, real_targets=guide["targets"])
            images = synthesize(self.generator, task, guide["net"], guide["features"], steps,
                                self.model.ridge, self.model.label_ridge, self.model.clamp_output, timer)
        targets = task.initial_labels
        head_ridge = self.model.ridge if label_ridge is None else label_ridge
        if labels == "least-squares":  # from other networks than the guidance's
            references = [self._reference(target, label_count, seed + 1 + LABEL_SEED_STRIDE * j, device)
                          for j in range(label_networks)]
            with timer("label features"):
                syn_features = torch.stack([embed(r["net"], images).to(device) for r in references])
            with timer("label solve"):
                targets = solve_labels_across_networks(
                    syn_features, torch.stack([r["features"] for r in references]),
                    torch.stack([r["targets"] for r in references]), head_ridge, self.model.label_ridge).float()
        syn = SyntheticSet(
            images.cpu(), targets.cpu(), data.num_classes, list(data.class_names), data.mean, data.std,
            metadata={
                "method": "mgdd", "dataset": data.name, "ipc": ipc, "seed": seed, "arch": self.model.feature_arch,
                "classes": task.initial_labels.cpu().tolist(),
                "init": init, "labels": labels, "guided_steps": steps, "channels": channel_handling,
                "label_real_per_class": label_count if labels == "least-squares" else None,
                "label_networks": label_networks if labels == "least-squares" else None,
                "label_ridge": head_ridge if labels == "least-squares" else None,
                "adaptation": {k: v for k, v in target.info.items() if k not in ("losses", "ridge_accuracies", "step_ipcs")},
            },
        )
        if target.source is not None:
            syn = in_channels_of(syn, target.source)
        syn.metadata["wall_time"] = round(time.perf_counter() - started, 3)
        syn.metadata["part_seconds"] = {name: round(value, 4) for name, value in timer.seconds.items()}
        return syn

    def _target_for(self, data: ImageDataset | None, convert_channels: bool = False,
                    keep_channels: bool = False) -> AdaptedTarget:
        """The adapted target, or one for ``data``: kept as ``self.target`` when nothing was adapted yet, so
        that repeated calls reuse its reference features; another dataset than the adapted one gets a
        target of its own for this call."""
        if data is None or (self.target is not None and self.target.holds(data)):
            if self.target is None:
                raise RuntimeError("call adapt(data) first, or pass data= to generate")
            if keep_channels or self.target.data.channels == self.model.channels:
                return self.target
            data = self.target.data  # kept in its own channels before; the generator needs them converted now
        source = as_image_dataset(data)
        converted = source if keep_channels else self._prepare_target(source, convert_channels)
        target = AdaptedTarget(converted, {}, source=source if source is not converted else None)
        if self.target is None:
            self.target = target
        return target

    def _initial_indices(self, data: ImageDataset, ipc: int, init: str, rng: torch.Generator,
                         device: torch.device, seed: int) -> Tensor:
        if init == "random":
            return data.balanced_indices(ipc, seed=int(torch.randint(2**31 - 1, (1,), generator=rng)))
        if init == "herding":  # the herding baseline's selection (mgdd.selection.FeatureSelector, features cached)
            return FeatureSelector("herding").select_indices(data, ipc, seed, device)  # = the herding baseline's set at this seed
        net = self._random_net(data, rng, device)
        picks = []
        for idx in data.class_index:
            features = embed(net, data.images[idx])
            picks.append(idx[kcenter_select(features, ipc, rng)])
        return torch.cat(picks)

    @staticmethod
    def _reference_key(real_per_class: int, seed: int, device: torch.device) -> str:
        return f"{real_per_class}/{seed}/{device}"

    def _reference(self, target: AdaptedTarget, real_per_class: int, seed: int, device: torch.device) -> dict:
        """A random feature network (seeded) and its features of a fixed real subset, computed once and
        kept in ``target.references``: the guidance and the least-squares labels of :meth:`generate` use two."""
        data = target.data
        key = self._reference_key(real_per_class, seed, device)
        if key not in target.references:
            rng = torch.Generator().manual_seed(seed)
            net = self._random_net(data, rng, device)
            count = min(real_per_class, min(data.class_counts()))
            real = data.balanced_indices(count, seed=seed)
            target.references[key] = {
                "net": net,
                "features": embed(net, data.images[real]).to(device),
                "targets": nn.functional.one_hot(data.labels[real], data.num_classes).double().to(device),
            }
        return target.references[key]


def generator_applies(ipc: int, data_channels: int, model_channels: int, convert_channels: bool = False) -> bool:
    """Where the pipeline applies the generator by default: up to IPC ``GENERATOR_MAX_IPC`` (above, it measured
    below its own start), on data in its channels (or converted on request: colour is otherwise kept)."""
    return ipc <= GENERATOR_MAX_IPC and (data_channels == model_channels or convert_channels)


def auto_labels(ipc: int, channels: int) -> str:
    """``labels="auto"``: least-squares labels where they measured better than one-hot (IPC <= 10 on 1-channel
    data: Fashion-MNIST, digits), one-hot elsewhere (IPC 50: 83.93 against 85.15; colour, the ``hues`` data at
    IPC 5: 72.7 against 95.1, since the random instance-norm features the labels are solved in barely see hue;
    ``benchmarks/results/mgdd_colour.md``)."""
    return "least-squares" if ipc <= SOFT_LABEL_MAX_IPC and channels == 1 else "hard"


def draw_log_uniform(low: int, high: int, rng: torch.Generator) -> int:
    """An integer in [low, high], log-uniformly (small sizes as often as large ones, per octave)."""
    u = float(torch.rand((), generator=rng))
    return min(high, int(math.exp(math.log(low) + u * (math.log(high + 1) - math.log(low)))))


def default_label_samples(ipc: int) -> int:
    """Real samples per class for the least-squares labels of a set with ``ipc`` per class."""
    return max(100, 10 * ipc)


def convert_pixels(pixels: Tensor, channels: int) -> Tensor:
    """Grayscale <-> colour pixels (N, C, H, W): average the channels, or repeat the single one."""
    if pixels.shape[1] == channels:
        return pixels
    if channels == 1:
        return pixels.mean(1, keepdim=True)
    if pixels.shape[1] == 1:
        return pixels.repeat(1, channels, 1, 1)
    raise ValueError(f"cannot convert {pixels.shape[1]}-channel images to {channels} channels")


def convert_image_channels(data: ImageDataset, channels: int) -> ImageDataset:
    """``data`` with its images converted to ``channels`` (see :func:`convert_pixels`)."""
    from ..data import from_tensors

    return from_tensors(convert_pixels(data.denormalize(), channels), data.labels, num_classes=data.num_classes,
                        class_names=data.class_names, name=data.name)


def in_channels_of(syn: SyntheticSet, data: ImageDataset) -> SyntheticSet:
    """``syn`` (made in converted channels) in the channels and normalisation of ``data``, the user's data."""
    pixels = convert_pixels(syn.denormalize(), data.channels)
    return dataclasses.replace(syn, images=normalize(pixels, data.mean, data.std), mean=data.mean, std=data.std,
                               metadata={**syn.metadata, "converted_from_channels": syn.images.shape[1]})
