"""MGDD: conditional generator, least-squares labels, meta-training and adaptation."""

from ..ridge import ridge_predict, ridge_predictor, solve_labels, solve_labels_across_networks
from .meta import DEFAULT_MODEL, MetaGenerator
from .method import MGDD
from .model import GeneratorModel
from .network import ConditionalGenerator
from .step import Task, distillation_loss, sample_task

__all__ = [
    "ridge_predict", "ridge_predictor", "solve_labels", "solve_labels_across_networks", "DEFAULT_MODEL", "MetaGenerator", "MGDD", "GeneratorModel",
    "ConditionalGenerator", "Task", "distillation_loss", "sample_task",
]
