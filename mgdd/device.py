"""Device choice: CUDA when present, else Apple MPS, else CPU; always overridable."""

from __future__ import annotations

import os

import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else ``$MGDD_DEVICE``, else the best available accelerator."""
    if device is None:
        device = os.environ.get("MGDD_DEVICE") or None
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} requested but CUDA is not available")
    return device
