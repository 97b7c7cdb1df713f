"""Sets distilled as a sequence of subsets (SeqMatch) and the curriculum that trains on them in order.

A set that records ``metadata["subsets"]`` (per-class sizes, in distillation order, summing to its IPC)
holds, within each class, subset 1's images first, then subset 2's, and so on.
``metadata["subset_lrs"]`` (optional) holds each subset's learned learning rate. The curriculum of
SeqMatch's evaluation trains one network on S1, then on S1+S2, ..., and the final accuracy counts.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .synthetic import SyntheticSet

SUBSETS_KEY = "subsets"
SUBSET_LRS_KEY = "subset_lrs"


def subset_sizes(syn: SyntheticSet) -> list[int] | None:
    """Per-class subset sizes recorded by the method, or None for a set distilled in one piece."""
    sizes = syn.metadata.get(SUBSETS_KEY)
    return [int(s) for s in sizes] if sizes else None


def curriculum_stages(syn: SyntheticSet) -> list[tuple[Tensor, float | None]]:
    """(indices, lr) of each curriculum stage: the union of the first k subsets, and subset k's learned lr.

    Raises ValueError when the set records no subsets or its classes do not hold them.
    """
    sizes = subset_sizes(syn)
    if sizes is None:
        raise ValueError(f"this set records no subsets (metadata[{SUBSETS_KEY!r}]); "
                         "curriculum evaluation needs a set distilled subset by subset (SeqMatch)")
    if min(sizes) < 1:
        raise ValueError(f"subset sizes must be >= 1, got {sizes}")
    lrs = syn.metadata.get(SUBSET_LRS_KEY)
    if lrs is not None and len(lrs) != len(sizes):
        raise ValueError(f"{len(lrs)} subset learning rates for {len(sizes)} subsets")
    per_class = [torch.nonzero(syn.hard_labels == c).flatten() for c in range(syn.num_classes)]
    if any(len(p) != sum(sizes) for p in per_class):
        counts = sorted({len(p) for p in per_class})
        raise ValueError(f"subsets of sizes {sizes} need {sum(sizes)} images in every class, found {counts}")
    stages, end = [], 0
    for k, size in enumerate(sizes):
        end += size
        indices = torch.cat([p[:end] for p in per_class])
        stages.append((indices, float(lrs[k]) if lrs is not None else None))
    return stages
