"""Dataset distillation on multi-index models with two-layer networks (after Kinoshita, Nishikawa & Toyoizumi).

A teacher y = g(U^T x) with r-dimensional structure in d dimensions; a two-layer ReLU student
trained by one large first-layer gradient step and a ridge-regression second layer; gradient-based
distillation of the data of each stage; a study of how much memory the distilled data needs.
Run it with ``python -m mgdd.theory`` (``--quick`` for a reduced version). See docs/theory.md.
"""

from .distill import (
    DistilledData,
    distill_stage1,
    distill_stage2,
    principal_basis,
    row_cosine_distance,
    stage2_basis,
)
from .model import (
    MultiIndexTeacher,
    StudentConfig,
    TrainedStudent,
    first_layer_direction,
    first_layer_gradient,
    initial_weights,
    ridge_second_layer,
    mean_squared_error,
    train_student,
)
from .study import StudyConfig, run_study

__all__ = [
    "DistilledData", "distill_stage1", "distill_stage2", "principal_basis", "row_cosine_distance", "stage2_basis",
    "MultiIndexTeacher", "StudentConfig", "TrainedStudent", "first_layer_direction", "first_layer_gradient", "initial_weights",
    "ridge_second_layer", "mean_squared_error", "train_student", "StudyConfig", "run_study",
]
