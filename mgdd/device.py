"""Device choice (CUDA when present, else Apple MPS, else CPU; always overridable) and how many images
to push through a network at once on each device."""

from __future__ import annotations

import os

import torch
from torch import nn

# On CPU, activations of a few images stay in cache, and a large batch of a width-128 ConvNet does not
# (one 32x32x128 map of 100 images is 52 MB): every memory-bound layer (norm, ReLU, pooling) then streams
# from RAM. Inference: 8 at a time embeds 500 images 1.8x faster than one batch of 500 (2-core Xeon).
# Training: forward + backward in chunks of 32 trains 1.36x more images per second than whole batches of
# 256 (IPC 50) and the same at batches of 10 and 100 (2-core AVX2 EPYC, 2 threads;
# benchmarks/results/evaluate_speed.md). GPUs want large batches.
CPU_INFERENCE_CHUNK = 8
CPU_TRAIN_CHUNK = 32
GPU_INFERENCE_CHUNK = 1000


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


def inference_chunk(device: torch.device | str) -> int:
    """How many images to push through a network at once for inference on ``device``."""
    return CPU_INFERENCE_CHUNK if torch.device(device).type == "cpu" else GPU_INFERENCE_CHUNK


def train_chunk(net: nn.Module, device: torch.device | str) -> int | None:
    """Images per forward/backward pass when training ``net`` on ``device``; None: whole batches.

    Chunks are exact (gradients accumulate over them) only where every layer acts on each sample alone:
    a network with BatchNorm trains on whole batches.
    """
    if torch.device(device).type != "cpu" or has_batchnorm(net):
        return None
    return CPU_TRAIN_CHUNK


def has_batchnorm(net: nn.Module) -> bool:
    """Whether ``net`` normalises across the batch (then chunks of a batch are not exact)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


def memory_gb(device: torch.device | str) -> float | None:
    """Memory of ``device`` in GB: a CUDA device's total, else the machine's physical memory (None if unknown)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / 2**30
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None
