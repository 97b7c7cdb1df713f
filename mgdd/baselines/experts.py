"""Expert trajectories for MTT: networks trained on the real data, parameters saved every epoch.

Layout of a buffer folder::

    manifest.json              dataset, architecture, training options, finished experts
    expert_000.safetensors     one tensor per parameter, stacked over epochs: (epochs + 1, *shape)
    expert_001.partial.safetensors   an expert still in training (resumed from its last epoch)

Training follows the MTT reference buffer: SGD lr 0.01, no momentum, no weight decay, batch
256, DSA augmentation, constant lr. Every epoch's draws are seeded by (seed, expert, epoch),
so an interrupted buffer resumes exactly; finished experts are never recomputed.

SeqMatch's experts for a later subset (``pretrain``): each network is first trained on the earlier
synthetic subsets (S1, then S1+S2, ... with the evaluation protocol and each subset's learned lr),
and its trajectory on the real data starts from there. The manifest records which subsets
(``pretrained_on``: their fingerprint), so a buffer built after other subsets is refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..augment import DEFAULT_DSA_STRATEGY, DiffAugment
from ..curriculum import curriculum_stages, subset_sizes
from ..data import ImageDataset
from ..device import resolve_device
from ..training import accuracy, resolve_loss, train_network, train_stages
from ..io import load_tensors, save_tensors_atomic, write_json_atomic
from ..nets import seeded_network
from ..synthetic import SyntheticSet

MANIFEST = "manifest.json"
_TRAINING_KEYS = ("dataset", "arch", "epochs", "lr", "momentum", "weight_decay", "batch_size", "dsa", "seed",
                  "per_class", "num_classes", "image_shape", "pretrained_on")


@dataclass
class ExpertBuffer:
    """Loaded trajectories: ``trajectories[i][name]`` is a (epochs + 1, *shape) tensor."""

    manifest: dict[str, Any]
    trajectories: list[dict[str, Tensor]]

    @property
    def epochs(self) -> int:
        return int(self.manifest["epochs"])

    def __len__(self) -> int:
        return len(self.trajectories)

    def parameters_at(self, expert: int, epoch: int) -> dict[str, Tensor]:
        return {name: stack[epoch] for name, stack in self.trajectories[expert].items()}


def _expert_file(folder: Path, index: int, partial: bool = False) -> Path:
    return folder / f"expert_{index:03d}{'.partial' if partial else ''}.safetensors"


def train_experts(
    train: ImageDataset,
    folder: str | Path,
    experts: int = 5,
    epochs: int = 10,
    arch: str = "ConvNet",
    lr: float = 0.01,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    batch_size: int = 256,
    dsa: bool = True,
    per_class: int | None = None,
    seed: int = 0,
    test: ImageDataset | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    pretrain: SyntheticSet | None = None,
    pretrain_epochs: int = 300,
) -> ExpertBuffer:
    """Train (or finish training) ``experts`` trajectories of ``epochs`` epochs into ``folder``.

    ``per_class`` trains on a class-balanced random subset (a CPU budget; the reference uses
    the full training set). With ``test``, each expert's final test accuracy goes into the manifest.
    ``pretrain``: a synthetic set each network is trained on first, ``pretrain_epochs`` per curriculum
    stage (SeqMatch's experts for a later subset; the stages come from its recorded subsets).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    options = {"dataset": train.name, "arch": arch, "epochs": epochs, "lr": lr, "momentum": momentum,
               "weight_decay": weight_decay, "batch_size": batch_size, "dsa": dsa, "seed": seed,
               "per_class": per_class, "num_classes": train.num_classes, "image_shape": list(train.image_shape),
               "pretrained_on": pretraining_record(pretrain, pretrain_epochs)}
    manifest = _open_manifest(folder, options)
    data = train.balanced_subset(per_class, seed) if per_class else train
    images, labels = data.images.to(device), data.labels.to(device)
    augmenter = DiffAugment(DEFAULT_DSA_STRATEGY) if dsa else None
    bar = tqdm(total=experts * epochs, desc="experts", disable=not progress)
    for index in range(experts):
        if _expert_file(folder, index).exists():
            bar.update(epochs)
            continue
        started = time.perf_counter()
        net, trajectory = _resume_expert(folder, index, arch, data, seed, device, pretrain, pretrain_epochs)
        bar.update(len(trajectory) - 1)
        for epoch in range(len(trajectory) - 1, epochs):
            rng = torch.Generator(device=device).manual_seed(seed * 1_000_003 + index * 1009 + epoch)
            train_network(net, images, labels, 1, lr, batch_size, momentum, weight_decay, augmenter,
                          rng=rng, lr_decay=False)
            trajectory.append({k: v.detach().cpu().clone() for k, v in net.named_parameters()})
            _save_trajectory(_expert_file(folder, index, partial=True), trajectory)
            bar.update(1)
        _expert_file(folder, index, partial=True).replace(_expert_file(folder, index))
        record = {"index": index, "seconds": round(time.perf_counter() - started, 1)}
        if test is not None:
            record["test_accuracy"] = round(100 * accuracy(net, test.images.to(device), test.labels.to(device)), 2)
        manifest["experts"] = [e for e in manifest["experts"] if e["index"] != index] + [record]
        write_json_atomic(folder / MANIFEST, manifest)
    bar.close()
    return load_experts(folder)


def _open_manifest(folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.exists():
        manifest = {**options, "experts": []}
        write_json_atomic(path, manifest)
        return manifest
    manifest = json.loads(path.read_text())
    differing = {k: (manifest.get(k), options[k]) for k in _TRAINING_KEYS if manifest.get(k) != options[k]}
    if differing:
        raise ValueError(f"{folder} holds experts trained with other options (saved, requested): {differing}; "
                         "use another folder")
    return manifest


def pretraining_record(pretrain: SyntheticSet | None, epochs: int) -> dict[str, Any] | None:
    """What a buffer's networks were trained on before the real data (None: nothing), for its manifest."""
    if pretrain is None:
        return None
    digest = hashlib.sha256(pretrain.images.detach().cpu().contiguous().numpy().tobytes())
    digest.update(pretrain.labels.detach().cpu().contiguous().numpy().tobytes())
    return {"fingerprint": digest.hexdigest()[:16], "subsets": subset_sizes(pretrain), "epochs": epochs}


def pretrain_network(net: torch.nn.Module, pretrain: SyntheticSet, epochs: int, seed: int) -> torch.nn.Module:
    """Train ``net`` on ``pretrain`` as the protocol does, stage by stage when it records subsets."""
    device = next(net.parameters()).device
    stages = curriculum_stages(pretrain) if subset_sizes(pretrain) else [(None, pretrain.learned_lr)]
    stages = [(indices, lr if lr is not None else 0.01) for indices, lr in stages]
    rng = torch.Generator(device=device).manual_seed(seed)
    return train_stages(net, pretrain.images.to(device), pretrain.labels.to(device), stages, epochs,
                        augmenter=DiffAugment(DEFAULT_DSA_STRATEGY), loss=resolve_loss(pretrain.labels, "auto"),
                        rng=rng)


def _resume_expert(folder: Path, index: int, arch: str, data: ImageDataset, seed: int, device: torch.device,
                   pretrain: SyntheticSet | None = None, pretrain_epochs: int = 300):
    net = seeded_network(arch, data.channels, data.num_classes, data.image_shape[1:],
                         seed * 1_000_003 + index, device)
    partial = _expert_file(folder, index, partial=True)
    if not partial.exists():
        if pretrain is not None:
            pretrain_network(net, pretrain, pretrain_epochs, seed * 1_000_003 + index)
        return net, [{k: v.detach().cpu().clone() for k, v in net.named_parameters()}]
    stacks, _ = load_tensors(partial)
    trajectory = [{k: v[e] for k, v in stacks.items()} for e in range(next(iter(stacks.values())).shape[0])]
    net.load_state_dict({k: v.to(device) for k, v in trajectory[-1].items()}, strict=False)
    return net, trajectory


def _save_trajectory(path: Path, trajectory: list[dict[str, Tensor]]) -> None:
    stacks = {name: torch.stack([step[name] for step in trajectory]) for name in trajectory[0]}
    save_tensors_atomic(path, stacks)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """A buffer's manifest (training options, finished experts) without loading its trajectories."""
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"no expert buffer at {folder} (missing {MANIFEST}); make one with "
                                f"`mgdd experts --dataset NAME --out {folder}`")
    return json.loads(path.read_text())


def buffer_seconds(folder: str | Path) -> float:
    """Seconds spent training a buffer's finished experts, from its manifest (no trajectory is read)."""
    return float(sum(e["seconds"] for e in read_manifest(folder)["experts"]))


def load_experts(folder: str | Path, max_experts: int | None = None) -> ExpertBuffer:
    """Load the finished trajectories of a buffer folder (a clear error if there are none)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    files = sorted(folder.glob("expert_[0-9][0-9][0-9].safetensors"))[:max_experts]
    if not files:
        raise FileNotFoundError(f"{folder} has no finished expert trajectory yet; run `mgdd experts` to finish one")
    trajectories = [load_tensors(f)[0] for f in files]
    for f, stacks in zip(files, trajectories):
        lengths = {v.shape[0] for v in stacks.values()}
        if lengths != {manifest["epochs"] + 1}:
            raise ValueError(f"{f} holds {lengths} epochs of parameters, the manifest says {manifest['epochs'] + 1}")
    return ExpertBuffer(manifest, trajectories)
