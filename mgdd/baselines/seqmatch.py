"""SeqMatch (Du et al., NeurIPS 2023): sequential subset matching on top of MTT.

The IPC budget is split into K subsets distilled one after another. Subset 1 is plain MTT. For
subset k > 1, new experts start from a network trained on the earlier subsets (S1, then S1+S2, ...,
the evaluation protocol with each subset's learned lr) and then train on the real data, saving every
epoch; MTT then distils subset k against them, its student's mini-batches drawn from the frozen
earlier subsets plus the trainable new one. Later subsets thus learn what a network trained on the
earlier ones still lacks, instead of every image learning the same easy features.

The set keeps, within each class, S1's images first, then S2's, ... (``metadata["subsets"]``, each
subset's learned lr in ``metadata["subset_lrs"]``; ``distill_seconds`` sums the subsets' MTT runs and
``later_expert_seconds`` the later experts' training), so ``evaluate(..., curriculum=True)`` can train
on them in order as the paper does; plain training on the union uses the last subset's lr.

Differences from the reference (shqii1j/seqmatch): no image selection by test accuracy (it leaks the
test split); later experts train ``expert_epochs_real`` epochs on real data (the reference: 20) after
``pretrain_epochs`` per earlier stage (the reference: 1000), set for a CPU; the later experts are built
inside the run, in ``snapshot_dir`` (or next to the given buffer), and a finished subset is never redone.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

from ..curriculum import SUBSET_LRS_KEY, SUBSETS_KEY
from ..data import ImageDataset
from ..methods import Distiller, register_method
from ..synthetic import SyntheticSet
from .experts import buffer_seconds, pretraining_record, read_manifest, train_experts
from .trajectory_matching import MTT

FINAL = "final"


def split_ipc(ipc: int, subsets: int) -> list[int]:
    """``ipc`` split into ``subsets`` near-equal sizes, larger first (50, 3 -> [17, 17, 16])."""
    if not 1 <= subsets <= ipc:
        raise ValueError(f"subsets must be between 1 and ipc={ipc}, got {subsets}")
    base, extra = divmod(ipc, subsets)
    return [base + (k < extra) for k in range(subsets)]


def join_subsets(parts: list[SyntheticSet], metadata: dict) -> SyntheticSet:
    """One set from class-major subsets: within each class, the subsets' images in order."""
    first = parts[0]
    classes = first.num_classes
    sizes = [len(p) // classes for p in parts]

    def interleave(tensors: list[torch.Tensor]) -> torch.Tensor:
        per_class = [t.reshape(classes, size, *t.shape[1:]) for t, size in zip(tensors, sizes)]
        return torch.cat(per_class, dim=1).reshape(-1, *tensors[0].shape[1:])

    lrs = [p.learned_lr for p in parts]
    metadata = {**metadata, SUBSETS_KEY: sizes, SUBSET_LRS_KEY: lrs if None not in lrs else None}
    return SyntheticSet(interleave([p.images for p in parts]), interleave([p.labels for p in parts]), classes,
                        list(first.class_names), first.mean, first.std, lrs[-1], metadata)


@register_method
class SeqMatch(Distiller):
    """Sequential subset matching: ``subsets`` (K) or explicit per-class ``sizes``, each distilled by MTT.

    Options: ``experts`` (the plain buffer of ``mgdd experts``: subset 1's experts and the recipe of the
    later ones), ``subsets`` / ``sizes``, ``later_experts`` (networks per later buffer; default: as many as
    the plain buffer), ``expert_epochs_real`` (their epochs on real data; default: the plain buffer's),
    ``pretrain_epochs`` (protocol epochs per earlier stage), ``snapshot_dir`` (resumable: one folder per
    subset, the later experts beside them), ``time_budget`` (seconds per subset); every other option goes
    to :class:`~mgdd.baselines.trajectory_matching.MTT` (``iterations`` per subset, ``syn_steps``, ...).
    """

    name = "seqmatch"

    def __init__(
        self,
        *,
        experts: str | None = None,
        subsets: int = 2,
        sizes: list[int] | None = None,
        later_experts: int | None = None,
        expert_epochs_real: int | None = None,
        pretrain_epochs: int = 300,
        snapshot_dir: str | None = None,
        progress: bool = True,
        **mtt_options,
    ) -> None:
        if experts is None:
            raise ValueError("seqmatch needs option experts=FOLDER: a buffer made by `mgdd experts`")
        if sizes is not None and (not sizes or min(sizes) < 1):
            raise ValueError(f"sizes must be per-class subset sizes >= 1, got {sizes}")
        if pretrain_epochs < 1 or (later_experts is not None and later_experts < 1):
            raise ValueError("pretrain_epochs and later_experts must be >= 1")
        self.experts, self.subsets, self.sizes = Path(experts), subsets, sizes
        self.later_experts, self.expert_epochs_real = later_experts, expert_epochs_real
        self.pretrain_epochs, self.progress = pretrain_epochs, progress
        self.snapshot_dir = Path(snapshot_dir) if snapshot_dir else None
        self.mtt_options = mtt_options
        MTT(experts=str(experts), **mtt_options)  # check MTT's options before any work

    @classmethod
    def _keyword_parameters(cls) -> list[inspect.Parameter]:
        """SeqMatch's options, then MTT's, which it passes on (``frozen`` is SeqMatch's to set)."""
        own = super()._keyword_parameters()
        names = {p.name for p in own} | {"frozen"}
        return own + [p for p in MTT._keyword_parameters() if p.name not in names]

    def subset_sizes(self, ipc: int) -> list[int]:
        if self.sizes is None:
            return split_ipc(ipc, self.subsets)
        if sum(self.sizes) != ipc:
            raise ValueError(f"sizes {self.sizes} add up to {sum(self.sizes)}, not ipc={ipc}")
        return list(self.sizes)

    def run(self, train: ImageDataset, ipc: int, seed: int, device: torch.device) -> SyntheticSet:
        sizes = self.subset_sizes(ipc)
        parts: list[SyntheticSet] = []
        for k, size in enumerate(sizes):
            folder = self.snapshot_dir / f"subset_{k + 1}" if self.snapshot_dir is not None else None
            if folder is not None and (folder / FINAL).exists() and self.mtt_options.get("resume", True):  # done before
                parts.append(SyntheticSet.load(folder / FINAL))
                continue
            earlier = join_subsets(parts, {}) if parts else None
            experts = self.experts if earlier is None else self._later_experts(train, earlier, seed, device)
            mtt = MTT(experts=str(experts), frozen=earlier, progress=self.progress,
                      snapshot_dir=str(folder / "mtt") if folder is not None else None, **self.mtt_options)
            part = mtt.run(train, size, seed + k, device)  # seed + k: other initial real images per subset
            # kept with the subset, so that a resume on a machine without the (large) later buffer still counts them
            part.metadata["later_expert_seconds"] = 0.0 if earlier is None else round(buffer_seconds(experts), 1)
            if folder is not None:
                part.save(folder / FINAL, grid=False)
            parts.append(part)
        expert_seconds = sum(p.metadata["later_expert_seconds"] for p in parts)
        return join_subsets(parts, {"method": self.name, "dataset": train.name, "ipc": ipc, "seed": seed,
                                    "arch": self.mtt_options.get("arch", "ConvNet"),
                                    "iterations": [p.metadata.get("iteration") for p in parts],
                                    "distill_seconds": round(sum(p.metadata.get("distill_seconds", 0.0)
                                                                 for p in parts), 3),
                                    "later_expert_seconds": round(expert_seconds, 1)})

    def _later_folder(self, earlier: SyntheticSet) -> Path:
        root = self.snapshot_dir if self.snapshot_dir is not None else self.experts.parent
        return root / f"{self.experts.name}-after-{pretraining_record(earlier, self.pretrain_epochs)['fingerprint']}"

    def _later_experts(self, train: ImageDataset, earlier: SyntheticSet, seed: int, device: torch.device) -> Path:
        """The buffer for the next subset: networks trained on ``earlier`` first, then on the real data."""
        plain = read_manifest(self.experts)
        folder = self._later_folder(earlier)
        train_experts(
            train, folder, experts=self.later_experts or len(plain["experts"]),
            epochs=self.expert_epochs_real or plain["epochs"], arch=plain["arch"], lr=plain["lr"],
            momentum=plain["momentum"], weight_decay=plain["weight_decay"], batch_size=plain["batch_size"],
            dsa=plain["dsa"], per_class=plain["per_class"], seed=plain["seed"], device=device,
            progress=self.progress, pretrain=earlier, pretrain_epochs=self.pretrain_epochs,
        )
        return folder
