"""Multi-formation (IDC, Kim et al., ICML 2022): several lower-resolution samples per stored image.

A stored H x W image holds ``factor**2`` samples, each an (H/factor) x (W/factor) tile of a
``factor`` x ``factor`` grid; decoding upsamples every tile bilinearly to H x W. At the same memory a
set then trains the network on ``factor**2`` times as many samples, at lower resolution.
Decoded samples are ordered slot by slot (tiles row-major), so a class-major set stays class-major.
"""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
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
    tiles = rearrange(stored, "m c (fh h) (fw w) -> (m fh fw) c h w", fh=factor, fw=factor)  # slot by slot, row-major
    return F.interpolate(tiles, size=stored.shape[-2:], mode="bilinear", align_corners=False)


def encode_formation(samples: Tensor, factor: int) -> Tensor:
    """(m * factor**2, C, H, W) full-size samples -> (m, C, H, W) stored images: each downsampled
    (area average) to one tile of its slot. Used to initialise a multi-formation set from real images."""
    _check(samples, factor)
    if factor == 1:
        return samples
    n, _, height, width = samples.shape
    if n % (factor * factor):
        raise ValueError(f"{n} samples do not fill slots of {factor * factor}")
    tiles = F.adaptive_avg_pool2d(samples, (height // factor, width // factor))
    return rearrange(tiles, "(m fh fw) c h w -> m c (fh h) (fw w)", fh=factor, fw=factor)
