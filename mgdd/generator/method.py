"""MGDD as a method like the others: ``mgdd.distill("mgdd", train, ipc)`` and ``mgdd distill --method mgdd``."""

from __future__ import annotations

import time

import torch

from ..data import ImageDataset
from ..methods import Distiller, register_method
from ..synthetic import SyntheticSet
from .meta import (
    DEFAULT_ADAPT_STEPS, DEFAULT_INIT, DEFAULT_LABEL_NETWORKS, DEFAULT_LABELS, DEFAULT_MEAN_WEIGHT, DEFAULT_MODEL,
    INIT_METHODS, LABEL_METHODS, MetaGenerator,
)


@register_method
class MGDD(Distiller):
    """Adapt a pretrained meta generator to the data for ``steps`` steps, then generate the set.

    Options mirror :meth:`MetaGenerator.adapt` and :meth:`MetaGenerator.generate` (``adapt_ipc``: a size or a
    range [low, high] drawn per step); ``model`` is a
    bundled name, a local directory or a Hub id. The set's metadata records the adaptation and the
    generation seconds; ``distill_seconds`` is their sum (the time a user waits, model loading aside).
    """

    name = "mgdd"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        steps: int = DEFAULT_ADAPT_STEPS,
        adapt_ipc: int | list[int] = 10,
        lr: float = 1e-4,
        mean_weight: float = DEFAULT_MEAN_WEIGHT,
        model_pool: str = "random",
        init: str = DEFAULT_INIT,
        labels: str = DEFAULT_LABELS,
        label_networks: int = DEFAULT_LABEL_NETWORKS,
        convert_channels: bool = False,
        progress: bool = True,
    ) -> None:
        sizes = [adapt_ipc] if isinstance(adapt_ipc, int) else list(adapt_ipc)
        if steps < 0 or not 1 <= len(sizes) <= 2 or min(sizes) < 1 or lr <= 0 or mean_weight < 0:
            raise ValueError("steps must be >= 0, adapt_ipc a size >= 1 or a range [low, high], lr > 0 and "
                             "mean_weight >= 0")
        if init not in INIT_METHODS or labels not in LABEL_METHODS:
            raise ValueError(f"init must be one of {INIT_METHODS} and labels one of {LABEL_METHODS}")
        self.adapt_ipc = sizes[0] if len(sizes) == 1 else tuple(sizes)
        self.model, self.steps, self.lr, self.mean_weight = model, steps, lr, mean_weight
        self.model_pool = model_pool
        self.init, self.labels, self.convert_channels, self.progress = init, labels, convert_channels, progress
        self.label_networks = label_networks

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        gen = MetaGenerator.from_pretrained(self.model)
        gen.adapt(train, steps=self.steps, ipc=self.adapt_ipc, lr=self.lr, seed=seed, device=device,
                  progress=self.progress, convert_channels=self.convert_channels, mean_weight=self.mean_weight,
                  model_pool=self.model_pool)
        started = time.perf_counter()
        syn = gen.generate(ipc, init=self.init, labels=self.labels, label_networks=self.label_networks, seed=seed,
                           device=device, convert_channels=self.convert_channels)
        generate_seconds = time.perf_counter() - started
        syn.metadata.update(model=self.model, generate_seconds=round(generate_seconds, 3),
                            distill_seconds=round(gen.adapt_info["seconds"] + generate_seconds, 3))
        return syn
