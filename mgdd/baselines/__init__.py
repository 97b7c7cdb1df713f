"""Baseline distillation methods, each registered with :func:`mgdd.distill`."""

from .coreset import Herding, KCenter, RandomReal, embed, herding_select, kcenter_select

__all__ = ["Herding", "KCenter", "RandomReal", "embed", "herding_select", "kcenter_select"]
