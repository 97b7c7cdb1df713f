"""MGDD as a method like the others: ``mgdd.distill("mgdd", train, ipc)`` and ``mgdd distill --method mgdd``.

The pipeline is anytime: adaptation (optional), one pass, then warm-started refinement until ``time_budget``
(seconds in all, every stage counted) or ``refine_steps``. With a ``snapshot_dir`` the one-pass set is kept
there (``one_pass/``) with the refinement's snapshots, and the same call continues an interrupted run
bit-exactly: the one-pass stage is not redone.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from ..data import ImageDataset
from ..methods import Distiller, register_method
from ..synthetic import SyntheticSet
from .meta import (
    DEFAULT_ADAPT_STEPS, DEFAULT_INIT, DEFAULT_LABEL_NETWORKS, DEFAULT_LABELS, DEFAULT_MEAN_WEIGHT, DEFAULT_MODEL,
    INIT_METHODS, LABEL_METHODS, MetaGenerator, generator_applies,
)
from .model import GeneratorModel
from .refine import refine_set, with_stages

logger = logging.getLogger(__name__)
GENERATORS = ("auto", "pretrained", "untrained", "none")
# The default skips the generator: at equal seconds it added nothing (IPC 10, one processor, 1200 s: herding start +
# labels + refinement 84.14, the bundled generator adapted 100 steps then refined 82.85; its one pass costs 342 s
# against 43 s; benchmarks/results/time_to_accuracy.md, docs/mgdd.md "The generator's share")
DEFAULT_GENERATOR = "none"
ONE_PASS_DIR = "one_pass"


@register_method
class MGDD(Distiller):
    """MGDD's pipeline: one pass (start images, the generator where asked for, closed-form labels), then refinement.

    ``generator``: ``"pretrained"`` (``model``, a bundled name, local directory or Hub id, adapted),
    ``"untrained"`` (a fresh generator of the same architecture, adapted the same way: the control),
    ``"none"`` (the start images and their closed-form labels as they are: no adaptation, any channels; the
    default, since at equal seconds the adapted generator measured below it), or ``"auto"``: ``"pretrained"`` where
    :func:`~mgdd.generator.meta.generator_applies`, else ``"none"``. Other options mirror :meth:`MetaGenerator.adapt` and :meth:`MetaGenerator.one_pass`
    (``adapt_ipc``: a size or a range [low, high] drawn per step). ``time_budget`` (seconds of the whole
    pipeline) or ``refine_steps`` turn on the refinement; ``refine_options`` override its objective.
    The set's metadata records each stage's seconds (``stages``); ``distill_seconds`` is their sum.
    """

    name = "mgdd"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        generator: str = DEFAULT_GENERATOR,
        steps: int = DEFAULT_ADAPT_STEPS,
        adapt_ipc: int | list[int] = 10,
        lr: float = 1e-4,
        mean_weight: float = DEFAULT_MEAN_WEIGHT,
        model_pool: str = "random",
        init: str = DEFAULT_INIT,
        labels: str = DEFAULT_LABELS,
        label_networks: int = DEFAULT_LABEL_NETWORKS,
        convert_channels: bool = False,
        time_budget: float | None = None,
        refine_steps: int | None = None,
        refine_options: dict[str, Any] | None = None,
        snapshot_dir: str | None = None,
        snapshot_at: tuple[float, ...] | list[float] = (),
        progress: bool = True,
    ) -> None:
        sizes = [adapt_ipc] if isinstance(adapt_ipc, int) else list(adapt_ipc)
        if steps < 0 or not 1 <= len(sizes) <= 2 or min(sizes) < 1 or lr <= 0 or mean_weight < 0:
            raise ValueError("steps must be >= 0, adapt_ipc a size >= 1 or a range [low, high], lr > 0 and "
                             "mean_weight >= 0")
        if init not in INIT_METHODS or labels not in LABEL_METHODS or generator not in GENERATORS:
            raise ValueError(f"init must be one of {INIT_METHODS}, labels one of {LABEL_METHODS} and generator "
                             f"one of {GENERATORS}")
        if (time_budget is not None and time_budget <= 0) or (refine_steps is not None and refine_steps < 1):
            raise ValueError(f"time_budget must be > 0 seconds and refine_steps >= 1, got {time_budget}, {refine_steps}")
        self.adapt_ipc = sizes[0] if len(sizes) == 1 else tuple(sizes)
        self.model, self.generator, self.steps, self.lr, self.mean_weight = model, generator, steps, lr, mean_weight
        self.model_pool = model_pool
        self.init, self.labels, self.convert_channels, self.progress = init, labels, convert_channels, progress
        self.label_networks = label_networks
        self.time_budget, self.refine_steps, self.refine_options = time_budget, refine_steps, dict(refine_options or {})
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.snapshot_at = tuple(snapshot_at)

    def resolve_generator(self, train: ImageDataset, ipc: int) -> str:
        if self.generator != "auto":
            return self.generator
        channels = GeneratorModel.from_pretrained(self.model).channels
        return "pretrained" if generator_applies(ipc, train.channels, channels, self.convert_channels) else "none"

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        start = self._one_pass(train, ipc, seed, device)
        if self.time_budget is None and self.refine_steps is None:
            return start
        before = start.metadata["distill_seconds"]
        seconds = None if self.time_budget is None else self.time_budget - before
        if seconds is not None and seconds <= 0:
            logger.warning("mgdd: the one pass took %.0f s, the whole time_budget of %.0f s: no refinement",
                           before, self.time_budget)
            return start
        return refine_set(start, train, seconds, self.refine_steps, seed=seed, device=device, seconds_before=before,
                          snapshot_dir=self.snapshot_dir, snapshot_at=self.snapshot_at, progress=self.progress,
                          **self.refine_options)

    # ------------------------------------------------------------------ stage 1
    def one_pass_settings(self, train: ImageDataset, ipc: int, seed: int) -> dict[str, Any]:
        """What the one-pass set depends on (a kept one-pass set from other settings is refused)."""
        options = self.resolved_options()
        keep = ("model", "generator", "steps", "adapt_ipc", "lr", "mean_weight", "model_pool", "init", "labels",
                "label_networks", "convert_channels")
        settings = {k: options[k] for k in keep}
        return json.loads(json.dumps({**settings, "dataset": train.name, "ipc": ipc, "seed": seed}))

    def _one_pass(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        settings = self.one_pass_settings(train, ipc, seed)
        kept = self.snapshot_dir / ONE_PASS_DIR if self.snapshot_dir is not None else None
        if kept is not None and kept.exists():
            start = SyntheticSet.load(kept)
            if start.metadata.get("one_pass_settings") != settings:
                raise ValueError(f"{kept} was made with other settings ({start.metadata.get('one_pass_settings')}, "
                                 f"here {settings}); use another snapshot_dir")
            logger.info("mgdd: one-pass set from %s (%.0f s when it was made)", kept, start.distill_seconds)
            return start
        start = self._make_one_pass(train, ipc, seed, device)
        start.metadata["one_pass_settings"] = settings
        if kept is not None:
            start.save(kept, grid=False)
        return start

    def _make_one_pass(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        generator = self.resolve_generator(train, ipc)
        if generator == "untrained":
            gen = MetaGenerator(**GeneratorModel.from_pretrained(self.model).config)
        else:
            gen = MetaGenerator.from_pretrained(self.model)
        if generator == "none":
            logger.info("mgdd: no generator at IPC %d on %d-channel data (start images and their labels; "
                        "docs/mgdd.md says why)", ipc, train.channels)
        else:
            gen.adapt(train, steps=self.steps, ipc=self.adapt_ipc, lr=self.lr, seed=seed, device=device,
                      progress=self.progress, convert_channels=self.convert_channels, mean_weight=self.mean_weight,
                      model_pool=self.model_pool)
        started = time.perf_counter()
        syn = gen.one_pass(ipc, data=train if generator == "none" else None, init=self.init, labels=self.labels,
                           label_networks=self.label_networks, seed=seed, device=device,
                           convert_channels=self.convert_channels,
                           guided_steps=0 if generator == "none" else gen.model.unroll,
                           progress=self.progress)
        syn.metadata.update(model=self.model if generator != "none" else None, generator=generator)
        return with_stages(syn, gen.adapt_info.get("seconds", 0.0), time.perf_counter() - started)
