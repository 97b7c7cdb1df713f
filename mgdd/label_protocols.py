"""The label protocols of SRe2L/DWA's comparison (hard, fixed teacher labels, teacher relabel) and DD-Ranking's
scores of a set against random real images: evaluations built on :func:`mgdd.evaluate` and :mod:`mgdd.relabel`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from torch import nn

from .evaluation import EvalResult, evaluate
from .relabel import label_robust_score, with_teacher_labels
from .synthetic import SyntheticSet

LABEL_PROTOCOLS = ("hard", "fixed", "relabel")


def evaluate_label_protocol(
    data: SyntheticSet, test, teacher: nn.Module, protocol: str, models: int = 3, epochs: int = 300,
    relabel_epochs: int | None = None, fixed_temperature: float = 1.0, seed: int = 0, device=None,
    progress: bool = True,
) -> EvalResult:
    """``data`` under one label protocol: ``hard`` (one-hot class labels, the standard protocol), ``fixed``
    (the teacher's soft labels at ``fixed_temperature``, one per image, soft cross-entropy) or ``relabel``
    (the teacher online, :func:`train_with_teacher`, for ``relabel_epochs`` or ``epochs``)."""
    if protocol not in LABEL_PROTOCOLS:
        raise ValueError(f"unknown label protocol {protocol!r}; choose from {list(LABEL_PROTOCOLS)}")
    hard = dataclasses.replace(data, labels=data.hard_labels)
    common = dict(models=models, seed=seed, device=device, progress=progress)
    if protocol == "hard":
        return evaluate(hard, test, epochs=epochs, **common)
    if protocol == "fixed":
        return evaluate(with_teacher_labels(hard, teacher, fixed_temperature), test, epochs=epochs, **common)
    return evaluate(hard, test, epochs=relabel_epochs or epochs, teacher=teacher, **common)


def evaluate_label_protocols(
    data: SyntheticSet, test, teacher: nn.Module, models: int = 3, epochs: int = 300,
    relabel_epochs: int | None = None, fixed_temperature: float = 1.0, seed: int = 0, device=None,
    progress: bool = True, protocols: Sequence[str] = LABEL_PROTOCOLS,
) -> dict[str, EvalResult]:
    """``data`` under each of ``protocols`` (:func:`evaluate_label_protocol`). Returns ``{protocol: EvalResult}``."""
    unknown = sorted(set(protocols) - set(LABEL_PROTOCOLS))
    if unknown:  # before any network trains
        raise ValueError(f"unknown label protocols {unknown}; choose from {list(LABEL_PROTOCOLS)}")
    options = dict(models=models, epochs=epochs, relabel_epochs=relabel_epochs, fixed_temperature=fixed_temperature,
                   seed=seed, device=device, progress=progress)
    return {protocol: evaluate_label_protocol(data, test, teacher, protocol, **options) for protocol in protocols}


def compare_label_protocols(
    syn: SyntheticSet, random_set: SyntheticSet, test, teacher: nn.Module, full_data_accuracy: float,
    models: int = 3, epochs: int = 300, relabel_epochs: int | None = None, fixed_temperature: float = 1.0,
    seed: int = 0, device=None, progress: bool = True,
) -> dict:
    """The set and random real images of the same size under each label protocol, and DD-Ranking's scores.

    ``full_data_accuracy``: a network trained on the full data with hard labels, in % (HLR's reference).
    Returns ``{"set": {protocol: EvalResult}, "random": {...}, "scores": label_robust_score(...)}`` with the
    scores taken under the relabel protocol.
    """
    options = dict(models=models, epochs=epochs, relabel_epochs=relabel_epochs, fixed_temperature=fixed_temperature,
                   seed=seed, device=device, progress=progress)
    results = {"set": evaluate_label_protocols(syn, test, teacher, **options)}
    results["random"] = evaluate_label_protocols(random_set, test, teacher, **options)
    scores = label_robust_score(full_data_accuracy / 100, results["set"]["hard"].mean / 100,
                                results["set"]["relabel"].mean / 100, results["random"]["relabel"].mean / 100)
    return {**results, "scores": scores}
