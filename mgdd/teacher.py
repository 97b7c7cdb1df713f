"""SRe2L's squeeze step: a BatchNorm teacher trained on the real data (resumable), saved as safetensors + JSON.

Recipe of the reference squeeze (VILA-Lab/SRe2L, AngusDujw/Diversity-Driven-Synthesis): SGD lr 0.1,
momentum 0.9, weight decay 5e-4, cosine schedule over the epochs, batch 128, random crop (4-pixel
padding at 32 px, scaled with the image: height // 8) and horizontal flip. The reference trains 200 epochs
on CIFAR; on this CPU a Fashion-MNIST
teacher gets a few epochs (``epochs``), and its test accuracy is recorded in its config.

A teacher is found by :func:`resolve_teacher`: a bundled name (``DEFAULT_TEACHER`` ships with the package and
works offline), a folder, or a Hub model id (``mgdd release --teacher`` builds that repository).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .checkpoint import load_training_state, save_training_state
from .data import ImageDataset
from .device import resolve_device
from .training import accuracy
from .io import BUNDLED_DIR, bundled_names, load_tensors, save_tensors_atomic, write_json_atomic
from .nets import get_network

logger = logging.getLogger(__name__)

STATE_FILE = "state.safetensors"
WEIGHTS_FILE = "teacher.safetensors"
CONFIG_FILE = "config.json"
DEFAULT_TEACHER = "teacher-convnetbn-fashion-mnist"


def crop_and_flip(images: Tensor, pad_value: Tensor, rng: torch.Generator, padding: int = 4) -> Tensor:
    """Per-sample random crop after ``padding`` pixels of ``pad_value`` (per channel) and a random horizontal flip."""
    n, c, h, w = images.shape
    padded = pad_value.view(1, c, 1, 1).expand(n, c, h + 2 * padding, w + 2 * padding).clone()
    padded[:, :, padding:padding + h, padding:padding + w] = images
    dy = torch.randint(2 * padding + 1, (n, 1), generator=rng, device=rng.device).to(images.device)
    dx = torch.randint(2 * padding + 1, (n, 1), generator=rng, device=rng.device).to(images.device)
    rows = (dy + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (dx + torch.arange(w, device=images.device))[:, None, None, :]
    cropped = padded[torch.arange(n, device=images.device)[:, None, None, None],
                     torch.arange(c, device=images.device)[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=rng, device=rng.device).to(images.device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def train_teacher(
    train: ImageDataset,
    out_dir: str | Path,
    arch: str = "ConvNetBN",
    epochs: int = 5,
    lr: float = 0.1,
    batch_size: int = 128,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    seed: int = 0,
    test: ImageDataset | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> nn.Module:
    """Train (or finish training) a teacher on ``train`` into ``out_dir``; returns it in eval mode.

    A checkpoint after every epoch (``state.safetensors``) lets an interrupted run continue exactly;
    the finished teacher is ``teacher.safetensors`` + ``config.json`` (with the test accuracy when
    ``test`` is given). Load it with :func:`load_teacher`.
    """
    if epochs < 1 or lr <= 0 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder")
    device = resolve_device(device)
    torch.manual_seed(seed)
    net = get_network(arch, train.channels, train.num_classes, train.image_shape[1:]).to(device)
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()):
        raise ValueError(f"{arch} has no BatchNorm layers; a teacher for SRe2L/DWA needs them (e.g. ConvNetBN)")
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    rng = torch.Generator().manual_seed(seed)
    config = {"arch": arch, "channels": train.channels, "num_classes": train.num_classes,
              "image_shape": list(train.image_shape), "dataset": train.name, "mean": list(train.mean),
              "std": list(train.std), "epochs": epochs, "lr": lr, "batch_size": batch_size, "momentum": momentum,
              "weight_decay": weight_decay, "seed": seed}
    start, seconds = 0, 0.0
    state_path = out_dir / STATE_FILE
    if state_path.exists():
        start, extra = load_training_state(state_path, net, optimizer, rng)
        if extra.get("config") != config:
            raise ValueError(f"{out_dir} holds a teacher trained with other options ({extra.get('config')}); "
                             "use another folder")
        seconds = float(extra.get("seconds", 0.0))
        logger.info("resuming the teacher at epoch %d of %d from %s", start, epochs, state_path)
    images, labels = train.images.to(device), train.labels.to(device)
    pad_value = ((0.0 - torch.tensor(train.mean)) / torch.tensor(train.std)).to(device)  # black, normalised
    bar = tqdm(range(start, epochs), initial=start, total=epochs, desc=f"teacher {arch}", disable=not progress)
    for epoch in bar:
        started = time.perf_counter()
        for group in optimizer.param_groups:  # cosine over the epochs, as CosineAnnealingLR stepped per epoch
            group["lr"] = 0.5 * (1 + math.cos(math.pi * epoch / epochs)) * lr
        net.train()
        order = torch.randperm(len(images), generator=rng).to(device)
        for batch in order.split(batch_size):
            x = crop_and_flip(images[batch], pad_value, rng, padding=max(1, train.image_shape[1] // 8))
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), labels[batch])
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - started
        bar.set_postfix(loss=f"{loss.item():.3f}")
        out_dir.mkdir(parents=True, exist_ok=True)
        save_training_state(state_path, net, optimizer, epoch + 1, rng, {"config": config, "seconds": seconds})
    net.eval()
    config["seconds"] = round(seconds, 1)
    if test is not None:
        config["test_accuracy"] = round(100 * accuracy(net, test.images.to(device), test.labels.to(device)), 2)
    save_tensors_atomic(out_dir / WEIGHTS_FILE, {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
    write_json_atomic(out_dir / CONFIG_FILE, config)
    return net


def bundled_teachers() -> list[str]:
    """Names of the teachers shipped inside the package."""
    return bundled_names(WEIGHTS_FILE)


def resolve_teacher(source: str | Path, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """The folder of a teacher: a bundled name, an existing folder, or a Hub model id ``org/name`` (its config
    and weights downloaded once, then read from the Hub cache, offline too)."""
    name = str(source)
    if (BUNDLED_DIR / name / WEIGHTS_FILE).is_file():
        return BUNDLED_DIR / name
    local = Path(source).expanduser()
    if local.exists() or name.count("/") != 1 or name.startswith((".", "/", "~")):
        return local  # load_teacher says what is missing there
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        for filename in (CONFIG_FILE, WEIGHTS_FILE):
            folder = Path(hf_hub_download(name, filename, revision=revision, cache_dir=cache_dir)).parent
    except LocalEntryNotFoundError as error:
        raise ConnectionError(f"no folder {name!r} here, and the Hub teacher {name!r} cannot be downloaded (no "
                              f"network) nor found in the Hub cache. The bundled {DEFAULT_TEACHER!r} works "
                              "offline") from error
    except (RepositoryNotFoundError, EntryNotFoundError) as error:
        known = ", ".join(bundled_teachers()) or "none"
        raise FileNotFoundError(f"{name!r} is not a folder here, a bundled teacher ({known}), or a Hub repository "
                                f"with {CONFIG_FILE} and {WEIGHTS_FILE}") from error
    return folder


def load_teacher(path: str | Path, device: str | torch.device | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A teacher saved by :func:`train_teacher` (eval mode, frozen) and its config; ``path`` is anything
    :func:`resolve_teacher` takes (a bundled name, a folder, a Hub id)."""
    path = resolve_teacher(path)
    if not (path / CONFIG_FILE).exists() or not (path / WEIGHTS_FILE).exists():
        raise FileNotFoundError(f"no finished teacher at {path} (needs {CONFIG_FILE} and {WEIGHTS_FILE}); "
                                f"train one with `mgdd teacher --dataset NAME --out {path}`")
    config = json.loads((path / CONFIG_FILE).read_text())
    net = get_network(config["arch"], config["channels"], config["num_classes"], config["image_shape"][1:])
    weights, _ = load_tensors(path / WEIGHTS_FILE)
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise ValueError(f"{path / WEIGHTS_FILE} does not match its config ({config['arch']}): {error}") from error
    return net.to(resolve_device(device)).eval().requires_grad_(False), config
