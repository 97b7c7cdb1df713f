"""Multi-formation (IDC, Kim et al., ICML 2022): several lower-resolution samples per stored image.

A stored H x W image holds ``factor**2`` samples, each an (H/factor) x (W/factor) tile of a
``factor`` x ``factor`` grid; decoding upsamples every tile bilinearly to H x W. At the same memory a
set then trains the network on ``factor**2`` times as many samples, at lower resolution.
Decoded samples are ordered slot by slot (tiles row-major), so a class-major set stays class-major.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def _check(images: Tensor, factor: int) -> None:
    if factor < 1:
        raise ValueError(f"formation factor must be >= 1, got {factor}")
    height, width = images.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(f"images of {height}x{width} do not split into a {factor}x{factor} grid")


def decode_formation(stored: Tensor, factor: int) -> Tensor:
    """(m, C, H, W) stored images -> (m * factor**2, C, H, W) samples (differentiable)."""
    _check(stored, factor)
    if factor == 1:
        return stored
    m, channels, height, width = stored.shape
    tile_h, tile_w = height // factor, width // factor
    tiles = stored.reshape(m, channels, factor, tile_h, factor, tile_w).permute(0, 2, 4, 1, 3, 5)
    tiles = tiles.reshape(m * factor * factor, channels, tile_h, tile_w)
    return F.interpolate(tiles, size=(height, width), mode="bilinear", align_corners=False)


def encode_formation(samples: Tensor, factor: int) -> Tensor:
    """(m * factor**2, C, H, W) full-size samples -> (m, C, H, W) stored images: each downsampled
    (area average) to one tile of its slot. Used to initialise a multi-formation set from real images."""
    _check(samples, factor)
    if factor == 1:
        return samples
    n, channels, height, width = samples.shape
    if n % (factor * factor):
        raise ValueError(f"{n} samples do not fill slots of {factor * factor}")
    tile_h, tile_w = height // factor, width // factor
    tiles = F.adaptive_avg_pool2d(samples, (tile_h, tile_w))
    tiles = tiles.reshape(n // factor**2, factor, factor, channels, tile_h, tile_w).permute(0, 3, 1, 4, 2, 5)
    return tiles.reshape(n // factor**2, channels, height, width)
