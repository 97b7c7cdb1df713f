"""Baseline distillation methods, each registered with :func:`mgdd.distill`."""

from .coreset import Herding, KCenter, RandomReal
from .distribution_matching import DM
from .experts import ExpertBuffer, load_experts, train_experts
from ..ridge import centred_targets
from .frepo import FRePo
from .gradient_matching import DC, DSA, default_loops, gradient_distance
from ..iterative import IterativeDistiller, list_snapshots
from .seqmatch import SeqMatch, join_subsets, split_ipc
from .sre2l import DWA, BNStatistics, SRe2L, directed_weight_adjustment
from .trajectory_matching import MTT, parameter_matching_loss, unroll_student

__all__ = [
    "Herding", "KCenter", "RandomReal", "DM", "FRePo", "centred_targets", "ExpertBuffer", "load_experts",
    "train_experts", "DC", "DSA", "default_loops", "gradient_distance", "IterativeDistiller", "list_snapshots",
    "SeqMatch", "join_subsets", "split_ipc", "SRe2L", "DWA", "BNStatistics", "directed_weight_adjustment", "MTT",
    "parameter_matching_loss", "unroll_student",
]
