"""Feature extraction: a network's ``embed`` over many images, in cache-sized chunks."""

from __future__ import annotations

import torch
from torch import Tensor

from ..device import inference_chunk


def embed(net: torch.nn.Module, images: Tensor, batch_size: int | None = None) -> Tensor:
    """Features ``net.embed(x)`` of all ``images``, in chunks (default :func:`inference_chunk`), on the
    network's device; returned on CPU."""
    device = next(net.parameters()).device
    batch_size = batch_size or inference_chunk(device)
    net.eval()
    with torch.no_grad():
        chunks = [net.embed(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(chunks)
