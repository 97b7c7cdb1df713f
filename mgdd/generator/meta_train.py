"""Meta-training: the distillation step over many tasks drawn from several source datasets.

Runs under ``accelerate`` (plain python, ``accelerate launch`` on CPU, one GPU or several).
Each process draws its own tasks; one backward per step, so DDP's gradient all-reduce works.
State is checkpointed (safetensors, atomic) every ``save_every`` steps and at the end.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..checkpoint import load_training_state, save_training_state
from ..io import write_text_atomic
from ..data import ImageDataset, from_tensors
from .meta import MetaGenerator
from .step import FeaturePool, Task, distillation_loss, random_feature_net, refinement_meta_loss, sample_task

STATE_FILE = "state.safetensors"
OBJECTIVES = ("ridge", "refinement")
LOG_FILE = "log.jsonl"


@dataclass
class MetaTrainConfig:
    steps: int = 2000
    lr: float = 3e-4
    ipcs: tuple[int, ...] = (1, 2, 5, 10)
    min_classes: int = 5
    max_classes: int = 10
    real_per_class: int = 32
    support_per_class: int = 16
    save_every: int = 100
    pool_size: int = 4
    pool_per_class: int = 64
    pool_refresh: int = 100
    mean_weight: float = 0.0  # DM's class-mean term added to the ridge loss (see distillation_loss)
    # "ridge": the one-pass set's ridge loss (distillation_loss); "refinement": the refinement's Platt loss after
    # refine_steps of its Adam steps from the one-pass set (refinement_meta_loss; fresh networks, pool_size 0)
    objective: str = "ridge"
    refine_steps: int = 3
    refine_lr: float = 3e-3  # the refinement's Adam lr (FeatureRegression's lr_img and lr_label)
    max_seconds: float | None = None  # stop (and save) at the first step past this many seconds of training
    seed: int = 0
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.objective == "refinement" and (self.pool_size != 0 or self.refine_steps < 1):
            raise ValueError("objective='refinement' embeds each step's real batch in fresh networks: it needs "
                             f"pool_size=0 and refine_steps >= 1 (got {self.pool_size}, {self.refine_steps})")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds}")


def resize_dataset(data: ImageDataset, size: int) -> ImageDataset:
    """``data`` with images resized (bilinear, antialiased) to ``size`` x ``size``."""
    if data.image_shape[1:] == (size, size):
        return data
    pixels = F.interpolate(data.denormalize(), size=(size, size), mode="bilinear", antialias=True,
                           align_corners=False).clamp(0, 1)
    return from_tensors(pixels, data.labels, num_classes=data.num_classes, class_names=data.class_names,
                        name=data.name)


def sample_meta_task(
    sources: list[ImageDataset], config: MetaTrainConfig, rng: torch.Generator, pools: list[FeaturePool] | None = None
) -> tuple[Task, int]:
    """A random (dataset, class subset, ipc) task and the index of its source."""
    source = int(torch.randint(len(sources), (1,), generator=rng))
    data = sources[source]
    low = min(config.min_classes, data.num_classes)
    high = min(config.max_classes, data.num_classes)
    k = int(torch.randint(low, high + 1, (1,), generator=rng))
    classes = torch.randperm(data.num_classes, generator=rng)[:k].sort().values
    ipc = config.ipcs[int(torch.randint(len(config.ipcs), (1,), generator=rng))]
    task = sample_task(data, ipc, rng, classes=classes, real_per_class=config.real_per_class,
                       support_per_class=config.support_per_class, pool=pools[source] if pools else None)
    return task, source


def make_pools(sources: list[ImageDataset], config: MetaTrainConfig, model: MetaGenerator, seed: int,
               device: torch.device) -> list[FeaturePool] | None:
    """Fresh random networks (and their cached real features) for every source; None without pools."""
    if config.pool_size <= 0:
        return None
    arch, width = model.model.feature_arch, model.model.feature_width
    return [FeaturePool(data, config.pool_size, config.pool_per_class, arch, width, seed + i, device)
            for i, data in enumerate(sources)]


def meta_train(
    model: MetaGenerator,
    sources: list[ImageDataset],
    out_dir: str | Path,
    config: MetaTrainConfig,
    resume: bool = False,
    cpu: bool = False,
    progress: bool = True,
) -> MetaGenerator:
    """Meta-train ``model.generator`` on tasks from ``sources``; returns the trained model."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=cpu)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = torch.Generator().manual_seed(config.seed + accelerator.process_index)
    optimizer = torch.optim.Adam(model.generator.parameters(), lr=config.lr)
    start, elapsed = 0, 0.0
    state_path = out_dir / STATE_FILE
    if resume and state_path.exists():
        start, extra = load_training_state(state_path, model.generator, optimizer, rng)
        elapsed = float(extra.get("seconds", 0.0))
        if accelerator.is_main_process:
            _truncate_log(out_dir / LOG_FILE, start)
        accelerator.print(f"resumed at step {start} from {state_path}")
    generator, optimizer = accelerator.prepare(model.generator, optimizer)
    hub = model.model  # weights + config (ridges, unroll, feature networks)
    device = accelerator.device
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, desc="meta-train",
               disable=not (progress and accelerator.is_main_process))
    started = time.perf_counter()
    pools = None
    for step in bar:
        if config.pool_size > 0 and (pools is None or step % config.pool_refresh == 0):
            # seeded by the refresh boundary, so a resumed run rebuilds exactly the pools it had
            boundary = step - step % config.pool_refresh
            pools = make_pools(sources, config, model, config.seed + 1000 * (boundary + 1), device)
        task, source_index = sample_meta_task(sources, config, rng, pools)
        source = sources[source_index].name
        task = task.to(device)
        if pools:
            net, guide = pools[source_index].nets[task.pool_net], pools[source_index].nets[task.guide_net]
        else:
            shape = (task.initial.shape[1], tuple(task.initial.shape[2:]))
            net, guide = (random_feature_net(*shape, hub.feature_arch, hub.feature_width, rng, device)
                          for _ in range(2))
        if config.objective == "refinement":  # no pools (pool_size 0): ``shape`` is set above
            nets = [net, *(random_feature_net(*shape, hub.feature_arch, hub.feature_width, rng, device)
                           for _ in range(config.refine_steps + 1))]
            loss, stats = refinement_meta_loss(generator, task, nets, guide, config.refine_lr, hub.ridge,
                                               hub.label_ridge, unroll=hub.unroll, clamp=hub.clamp_output)
        else:
            loss, stats = distillation_loss(generator, task, net, hub.ridge, hub.label_ridge, unroll=hub.unroll,
                                            guide_net=guide, clamp=hub.clamp_output, mean_weight=config.mean_weight)
        if not math.isfinite(stats["loss"]):
            raise FloatingPointError(f"meta-training loss is not finite at step {step}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        optimizer.step()
        bar.set_postfix(loss=f"{stats['loss']:.4f}", acc=f"{stats['ridge_acc']:.3f}")
        if accelerator.is_main_process:
            record = {"step": step + 1, "source": source, "ipc": int(task.initial.shape[0] // task.num_classes),
                      "classes": task.num_classes, **stats}
            with open(out_dir / LOG_FILE, "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")
        done = step + 1
        seconds = elapsed + time.perf_counter() - started
        out_of_time = config.max_seconds is not None and seconds >= config.max_seconds
        if done % config.save_every == 0 or done == config.steps or out_of_time:
            _checkpoint(accelerator, model, optimizer, done, rng, seconds, config, out_dir)
        if out_of_time:
            accelerator.print(f"meta-training stopped after {seconds:.0f} s (max_seconds) at step {done}")
            break
    model.generator = accelerator.unwrap_model(generator)
    return model


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records past the checkpoint, which the resumed run will write again."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    write_text_atomic(path, "".join(f"{line}\n" for line in kept))


def _checkpoint(accelerator, model: MetaGenerator, optimizer, step: int, rng, seconds: float,
                config: MetaTrainConfig, out_dir: Path) -> None:
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    unwrapped = accelerator.unwrap_model(model.generator)
    save_training_state(out_dir / STATE_FILE, unwrapped, optimizer, step, rng, {"seconds": seconds})
    model.provenance["meta_training"] = {**asdict(config), "completed_steps": step, "seconds": round(seconds, 1)}
    model.save_pretrained(out_dir / "model")
