"""Resumable training state in one safetensors file: weights, optimiser state, RNG, step.

No pickle: tensors go into safetensors, everything else (step, optimiser hyperparameters,
caller's extras) into its JSON header. The file is replaced atomically, so an interrupted
write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from .io import CorruptFileError, load_tensors, save_tensors_atomic


def save_training_state(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    rng: torch.Generator,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write everything needed to continue training at ``step``."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for name, value in values.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{index}.{name}"] = tensor
    tensors["rng"] = rng.get_state()
    header = {"step": step, "param_groups": state["param_groups"], "extra": extra or {}}
    save_tensors_atomic(path, tensors, metadata={"mgdd_training_state": json.dumps(header)})


def load_training_state(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer, rng: torch.Generator
) -> tuple[int, dict[str, Any]]:
    """Restore a state written by :func:`save_training_state`; returns (step, extra)."""
    tensors, metadata = load_tensors(path)
    if "mgdd_training_state" not in metadata:
        raise CorruptFileError(f"{path} is not an mgdd training checkpoint")
    header = json.loads(metadata["mgdd_training_state"])
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        raise ValueError(f"checkpoint {path} does not match the model: {error}") from error
    optim_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            optim_state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": optim_state, "param_groups": header["param_groups"]})
    rng.set_state(tensors["rng"])
    return int(header["step"]), header["extra"]
