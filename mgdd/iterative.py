"""The loop of every optimisation-based method (DC, DSA, DM, MTT, FRePo, and MGDD's refinement).

Learnable synthetic images (class-major, hard labels), initialised from real samples or noise,
are optimised for a budget of iterations and/or wall-clock seconds. With a ``snapshot_dir`` the
run writes, every ``snapshot_every`` iterations and at the end,

* ``state.safetensors``: images, extra learnables (MTT's lr), optimiser momentum, iteration and
  elapsed seconds: an interrupted run started again with the same arguments continues exactly
  where it stopped (every random draw is seeded by (seed, iteration), so nothing else is needed).
  It also records the run's identity, its :meth:`~IterativeDistiller.settings` included (every option
  but the budget and the bookkeeping of ``resumable_options``; MTT's expert buffer by its manifest): a
  run with other settings refuses the folder instead of continuing someone else's images;
* ``iter_XXXXXX/``: the synthetic set at that iteration (a :class:`SyntheticSet` folder whose
  metadata records the iteration and the distillation seconds), for time-to-accuracy curves.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .augment import DiffAugment
from .checkpoint import load_training_state, save_training_state
from .data import ImageDataset
from .data.dataset import normalize
from .methods import Distiller
from .augment import DEFAULT_DSA_STRATEGY
from .formation import decode_formation, encode_formation
from .io import CorruptFileError, read_metadata
from .nets import seeded_network
from .selection import FeatureSelector
from .synthetic import SyntheticSet

STATE_FILE = "state.safetensors"
INITS = ("real", "herding", "noise")
# options a resumed run may change: the budget, where and how often it snapshots, its display (a method adds its
# own, e.g. MTT's memory guard, in its class's resumable_options)
RESUMABLE_OPTIONS = frozenset({"iterations", "time_budget", "snapshot_dir", "snapshot_every", "snapshot_at", "resume",
                               "progress"})
logger = logging.getLogger(__name__)
_SNAPSHOT = re.compile(r"^iter_(\d{6,})$")


class Learnables(nn.Module):
    """What a method optimises: the images plus method-specific tensors (e.g. MTT's lr)."""

    def __init__(self, images: Tensor, extras: dict[str, Tensor] | None = None) -> None:
        super().__init__()
        self.images = nn.Parameter(images)
        for name, value in (extras or {}).items():
            self.register_parameter(name, nn.Parameter(value))


@dataclass
class RunState:
    """Everything one iteration needs: data on the device, learnables, optimiser, draws."""

    train: ImageDataset  # on the run's device
    ipc: int
    seed: int
    device: torch.device
    learnables: Learnables
    optimizer: torch.optim.Optimizer
    augmenter: DiffAugment | None
    iteration: int = 0
    elapsed: float = 0.0
    last_loss: float = math.nan
    cpu_rng: torch.Generator = field(default_factory=torch.Generator)
    device_rng: torch.Generator | None = None
    scratch: dict[str, Any] = field(default_factory=dict)  # a method's own per-run objects (e.g. a model pool)
    formation: int = 1  # samples per stored image along each side (multi-formation; see mgdd.formation)

    @property
    def images(self) -> Tensor:
        return self.learnables.images

    @property
    def num_classes(self) -> int:
        return self.train.num_classes

    @property
    def labels(self) -> Tensor:
        """Hard labels of the synthetic samples (decoded ones under multi-formation), class-major."""
        return torch.arange(self.num_classes, device=self.device).repeat_interleave(self.ipc * self.formation**2)

    def samples(self) -> Tensor:
        """The synthetic samples a network sees: the images, decoded under multi-formation (differentiable)."""
        return decode_formation(self.images, self.formation)

    def synthetic(self, c: int) -> Tensor:
        """The learnable images of class ``c`` (a view: gradients flow into the set)."""
        return self.images[c * self.ipc : (c + 1) * self.ipc]

    def real_batch(self, c: int, n: int) -> Tensor:
        """``n`` random real images of class ``c`` (all of them if the class is smaller)."""
        index = self.train.class_index[c]
        pick = torch.randperm(len(index), generator=self.cpu_rng)[:n]
        return self.train.images[index[pick.to(index.device)]]

    def begin_iteration(self) -> None:
        """Reseed the draws from (seed, iteration): resumed runs repeat them exactly."""
        self.cpu_rng.manual_seed(iteration_seed(self.seed, self.iteration))
        self.device_rng = torch.Generator(device=self.device).manual_seed(iteration_seed(self.seed, self.iteration) + 1)

    def fresh_network(self, arch: str, **opts: Any) -> nn.Module:
        """A randomly initialised network, seeded by (seed, iteration)."""
        return seeded_network(arch, self.train.channels, self.num_classes, self.train.image_shape[1:],
                              iteration_seed(self.seed, self.iteration) + 2, self.device, **opts)

    def update(self, loss: Tensor, method: str) -> float:
        """One optimiser step on ``loss``; a non-finite loss stops the run with advice."""
        value = float(loss.item())
        if not math.isfinite(value):
            raise FloatingPointError(
                f"{method}: loss is {value} at iteration {self.iteration}; lower lr_img (the last "
                "snapshot, if any, is intact)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return value


def iteration_seed(seed: int, iteration: int) -> int:
    return (seed * 1_000_003 + iteration * 7919) % (2**62)


class IterativeDistiller(Distiller):
    """Base of the optimisation-based methods. Subclasses implement :meth:`iterate`.

    Shared options:
        iterations: iteration budget.
        time_budget: wall-clock budget in seconds (None: none); the run stops at whichever
            budget runs out first.
        lr_img, momentum: SGD on the images (all reference implementations use momentum 0.5).
        init: ``"real"`` (random real samples of each class), ``"herding"`` (herding selection in the
            features of a briefly trained ConvNet, as the herding baseline) or ``"noise"`` (standard normal).
        batch_real: real images per class per matching step.
        arch: network the method matches through.
        dsa, dsa_strategy: differentiable Siamese augmentation during distillation.
        snapshot_dir, snapshot_every, resume: see the module docstring.
        snapshot_at: elapsed seconds at which to snapshot as well (the first iteration that ends past each),
            for a curve of accuracy against seconds from one run.
        start: a :class:`SyntheticSet` to start from instead of ``init`` (its images, and its labels for a
            method that learns labels): a warm start, e.g. MGDD's one-pass set. Recorded by its checksum.
        seconds_before: seconds already spent on the set before this run (MGDD's one-pass stage): the clock
            of the run, its ``time_budget``, ``snapshot_at`` and the recorded ``distill_seconds`` start there.
        formation: multi-formation factor (IDC): each stored image holds formation**2 samples at
            1/formation resolution, initialised from that many real images; methods that support it
            set ``supports_formation``.
        progress: tqdm bar.
    """

    supports_formation: bool = False
    resumable_options: frozenset[str] = RESUMABLE_OPTIONS
    # options added after snapshots existed -> their default: recorded in the settings only when set otherwise
    recorded_when_set: ClassVar[dict[str, Any]] = {"start": None, "seconds_before": 0.0}

    def __init__(
        self,
        *,
        iterations: int = 1000,
        time_budget: float | None = None,
        lr_img: float = 0.1,
        momentum: float = 0.5,
        init: str = "real",
        batch_real: int = 256,
        arch: str = "ConvNet",
        dsa: bool = True,
        dsa_strategy: str = DEFAULT_DSA_STRATEGY,
        snapshot_dir: str | None = None,
        snapshot_every: int = 100,
        snapshot_at: tuple[float, ...] | list[float] = (),
        start: SyntheticSet | None = None,
        seconds_before: float = 0.0,
        resume: bool = True,
        formation: int = 1,
        progress: bool = True,
    ) -> None:
        if iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {iterations}")
        if time_budget is not None and time_budget <= 0:
            raise ValueError(f"time_budget must be positive seconds, got {time_budget}")
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        if lr_img <= 0 or batch_real < 1 or snapshot_every < 1:
            raise ValueError("lr_img must be > 0, batch_real and snapshot_every >= 1")
        if formation < 1 or (formation > 1 and not self.supports_formation):
            raise ValueError(f"formation must be 1 for {self.name!r} (multi-formation: {self.name!r} "
                             f"{'supports' if self.supports_formation else 'does not support'} it), got {formation}")
        self.iterations = iterations
        self.time_budget = time_budget
        self.lr_img = lr_img
        self.momentum = momentum
        self.init = init
        self.batch_real = batch_real
        self.arch = arch
        self.augmenter = DiffAugment(dsa_strategy) if dsa else None
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.snapshot_every = snapshot_every
        self.snapshot_at = tuple(sorted(float(t) for t in snapshot_at))
        self.start = start
        if seconds_before < 0:
            raise ValueError(f"seconds_before must be >= 0, got {seconds_before}")
        self.seconds_before = float(seconds_before)
        self.resume = resume
        self.formation = formation
        self.progress = progress

    # ------------------------------------------------------------------ method hooks
    def iterate(self, state: RunState) -> float:  # pragma: no cover - abstract
        """One iteration (may take several optimiser steps); returns its mean loss."""
        raise NotImplementedError

    def prepare(self, train: ImageDataset, ipc: int, device: torch.device) -> None:
        """Once per run before the loop (e.g. load expert trajectories). Counted in the elapsed time."""

    def extra_learnables(self, train: ImageDataset, ipc: int) -> dict[str, tuple[Tensor, float]]:
        """Learnable tensors besides the images, each with its SGD learning rate."""
        return {}

    def initialise(self, state: RunState) -> None:
        """Once per run after :meth:`prepare`, before the loop; ``state.iteration > 0`` when resumed."""

    def make_optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        """The optimiser of the learnables (reference methods: SGD with momentum)."""
        return torch.optim.SGD(groups, lr=self.lr_img, momentum=self.momentum)

    def synthetic_labels(self, state: RunState) -> Tensor:
        """Labels of the saved set: hard class labels unless a method learns its own."""
        return state.labels

    def after_step(self, state: RunState) -> None:
        """Called after every iteration (e.g. to keep a learned lr positive)."""

    def learned_lr(self, state: RunState) -> float | None:
        return None

    # ------------------------------------------------------------------ the loop
    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        started = time.perf_counter()
        state = self._start(train, ipc, seed, device)
        self.prepare(state.train, ipc, device)
        self.initialise(state)
        if state.iteration < self.iterations and not self._out_of_time(state):
            state.elapsed += time.perf_counter() - started  # a finished run, reloaded, has cost nothing more
        # a run bounded by seconds has no meaningful iteration total to show
        total = None if self.time_budget is not None and self.iterations >= 10**6 else self.iterations
        bar = tqdm(total=total, initial=state.iteration, desc=f"{self.name} ipc{ipc}",
                   disable=not self.progress, leave=False)
        try:
            while state.iteration < self.iterations and not self._out_of_time(state):
                tick = time.perf_counter()
                state.begin_iteration()
                state.last_loss = self.iterate(state)
                self.after_step(state)
                state.iteration += 1
                state.elapsed += time.perf_counter() - tick
                bar.update(1)
                bar.set_postfix(loss=f"{state.last_loss:.4f}", s=f"{state.elapsed:.0f}")
                if self.snapshot_dir is not None and self._snapshot_due(state, state.elapsed - (time.perf_counter() - tick)):
                    self._snapshot(state)
        except KeyboardInterrupt:
            logger.warning("%s interrupted at iteration %d. %s", self.name, state.iteration, self.resume_hint())
            raise
        finally:
            bar.close()
        if self.snapshot_dir is not None and not (self.snapshot_dir / _snapshot_name(state.iteration)).exists():
            self._snapshot(state)
        return self._synthetic_set(state)

    def _snapshot_due(self, state: RunState, previous_elapsed: float) -> bool:
        """Every ``snapshot_every`` iterations, and at the iteration that crossed a time of ``snapshot_at``."""
        crossed = any(previous_elapsed < t <= state.elapsed for t in self.snapshot_at)
        return crossed or state.iteration % self.snapshot_every == 0

    def resume_hint(self) -> str:
        """What an interrupted run left and how to continue it."""
        if self.snapshot_dir is None:
            return "Nothing was kept: pass snapshot_dir to make the run resumable."
        saved = list_snapshots(self.snapshot_dir) if self.snapshot_dir.is_dir() else []
        if not saved:
            return (f"No snapshot in {self.snapshot_dir} yet (the first comes after {self.snapshot_every} iterations "
                    "or at the first snapshot_at time); the same call starts again.")
        return (f"The last snapshot (iteration {saved[-1][0]}) is in {self.snapshot_dir}: the same call with the same "
                "arguments continues from it.")

    def _out_of_time(self, state: RunState) -> bool:
        return self.time_budget is not None and state.elapsed >= self.time_budget

    def _start(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> RunState:
        data = train.to(device)
        rng = torch.Generator().manual_seed(seed)
        samples = ipc * self.formation**2  # per class
        if self.start is not None:
            images = self._start_images(train, ipc)
        elif self.init == "real":
            images = encode_formation(train.images[train.balanced_indices(samples, seed)], self.formation)
        elif self.init == "herding":
            herded = FeatureSelector("herding").select_indices(train, samples, seed, device)
            images = encode_formation(train.images[herded], self.formation)
        else:
            images = torch.randn((ipc * train.num_classes, *train.image_shape), generator=rng)
        extras = self.extra_learnables(train, ipc)
        learnables = Learnables(images.to(device), {k: v.to(device) for k, (v, _) in extras.items()})
        groups = [{"params": [learnables.images], "lr": self.lr_img}]
        groups += [{"params": [getattr(learnables, k)], "lr": lr} for k, (_, lr) in extras.items()]
        optimizer = self.make_optimizer(groups)
        state = RunState(data, ipc, seed, device, learnables, optimizer, self.augmenter, formation=self.formation,
                         elapsed=self.seconds_before)
        path = self.snapshot_dir / STATE_FILE if self.snapshot_dir is not None else None
        if path is not None and path.exists() and self.resume:
            self._restore(state, path, train)
        return state

    def _start_images(self, train: ImageDataset, ipc: int) -> Tensor:
        start = self.start
        expected = (ipc * train.num_classes, *train.image_shape)
        if tuple(start.images.shape) != expected or start.num_classes != train.num_classes:
            raise ValueError(f"start set holds {tuple(start.images.shape)} images of {start.num_classes} classes; "
                             f"this run needs {expected} of {train.num_classes}")
        if self.formation != start.formation:
            raise ValueError(f"start set has formation {start.formation}, this run {self.formation}")
        if not torch.equal(start.sample_classes.cpu(), torch.arange(train.num_classes).repeat_interleave(ipc)):
            raise ValueError("start set must be class-major with ipc images per class, as distill() makes them")
        # the start set's pixels, renormalised to this data's normalisation if the set carries another
        return normalize(start.denormalize(), train.mean, train.std)

    def settings(self) -> dict[str, Any]:
        """The options that decide what a run computes: all but ``resumable_options``, as JSON values."""
        resolved = {**self.resolved_options(), **self.described_options()}
        for option, unset in self.recorded_when_set.items():  # so that snapshots older than the option resume
            if resolved.get(option) == unset:
                resolved.pop(option, None)
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(resolved.items())
                    if k not in self.resumable_options}
        for k, v in settings.items():
            if not isinstance(v, (int, float, str, bool, list, dict, type(None))):
                raise TypeError(f"option {k!r} of {self.name!r} ({type(v).__name__}) needs a JSON description "
                                "in described_options() to be recorded with its snapshots")
        return settings

    def described_options(self) -> dict[str, Any]:
        """JSON stand-ins for options that are not plain values (a file's checksum for a folder, ...)."""
        return {"start": self.start.fingerprint()} if self.start is not None else {}

    def _identity(self, state: RunState) -> dict[str, Any]:
        return {"method": self.name, "dataset": state.train.name, "ipc": state.ipc, "seed": state.seed,
                "image_shape": list(state.train.image_shape), "num_classes": state.num_classes,
                "formation": self.formation, "settings": self.settings()}

    def _restore(self, state: RunState, path: Path, train: ImageDataset) -> None:
        expected = self._identity(state)
        header = _saved_header(path)["extra"]
        if "settings" not in header:  # saved before states recorded their settings: only the rest can be checked
            logger.warning("%s records no settings (saved by an older mgdd): resuming without checking that "
                           "its options match this run's", path)
            expected.pop("settings")
        saved = {k: header.get(k, 1 if k == "formation" else None) for k in expected}  # states before formation: 1
        if saved != expected:
            raise ValueError(
                f"{path} belongs to another run ({_differences(saved, expected)}). Use another snapshot_dir, "
                "or resume=False to start over there"
            )
        iteration, extra = load_training_state(path, state.learnables, state.optimizer, torch.Generator())
        state.iteration, state.elapsed = iteration, float(extra["elapsed"])
        state.last_loss = float(extra.get("loss", math.nan))

    def _snapshot(self, state: RunState) -> None:
        assert self.snapshot_dir is not None
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        self._synthetic_set(state).save(self.snapshot_dir / _snapshot_name(state.iteration))
        extra = {**self._identity(state), "elapsed": state.elapsed, "loss": state.last_loss}
        save_training_state(self.snapshot_dir / STATE_FILE, state.learnables, state.optimizer, state.iteration,
                            torch.Generator(), extra)

    def _synthetic_set(self, state: RunState) -> SyntheticSet:
        train = state.train
        lr = self.learned_lr(state)
        metadata = {"method": self.name, "dataset": train.name, "ipc": state.ipc, "seed": state.seed,
                    "arch": self.arch, "iteration": state.iteration, "distill_seconds": round(state.elapsed, 3),
                    "loss": state.last_loss}
        labels = self.synthetic_labels(state).detach().cpu().clone()
        if labels.is_floating_point():  # learned soft labels: record the class each image was made for
            metadata["classes"] = state.labels[:: self.formation**2].cpu().tolist()
        return SyntheticSet(state.images.detach().cpu().clone(), labels, train.num_classes,
                            list(train.class_names), train.mean, train.std, lr, metadata, self.formation)


def _saved_header(path: Path) -> dict[str, Any]:
    metadata = read_metadata(path)
    if "mgdd_training_state" not in metadata:
        raise CorruptFileError(f"{path} is not an mgdd training state")
    return json.loads(metadata["mgdd_training_state"])


def _differences(saved: dict[str, Any], expected: dict[str, Any]) -> str:
    """'key: X there, Y here' for each differing entry, settings compared option by option."""
    parts = []
    for key in expected:
        there, here = saved.get(key), expected[key]
        if key == "settings" and isinstance(there, dict):
            parts += [f"{k}: {there.get(k)!r} there, {here.get(k)!r} here" for k in sorted({*there, *here})
                      if there.get(k) != here.get(k)]
        elif there != here:
            parts.append(f"{key}: {there!r} there, {here!r} here")
    return "; ".join(parts)


def _snapshot_name(iteration: int) -> str:
    return f"iter_{iteration:06d}"


def list_snapshots(folder: str | Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every snapshot set in ``folder``, in order."""
    folder = Path(folder)
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _SNAPSHOT.match(p.name))]
    return sorted(found)
