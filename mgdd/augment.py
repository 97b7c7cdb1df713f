"""Differentiable Siamese Augmentation (DSA; Zhao & Bilen, ICML 2021).

Augmentations are split into two steps so the *same* random transform can be
applied to several batches (real and synthetic images in gradient matching):

* :meth:`DiffAugment.sample` draws an :class:`AugmentParams` (which op(s) and
  their random parameters), per sample or shared by the whole batch;
* :meth:`DiffAugment.apply` applies it with differentiable tensor ops only, so
  gradients flow back to the (synthetic) images.

All random draws happen on the input's device; pass a ``torch.Generator`` on
that device for reproducibility, or ``None`` to use the global RNG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DiffAugment", "AugmentParams", "AUGMENT_OPS", "DEFAULT_DSA_STRATEGY"]

AUGMENT_OPS = ("color", "crop", "cutout", "flip", "scale", "rotate")
DEFAULT_DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"  # DSA's strategy for every method and the protocol
_MODES = {"single": "single", "s": "single", "all": "all", "m": "all"}


@dataclass
class AugmentParams:
    """One draw of DSA parameters.

    ``ops`` are the strategy ops to apply, in order. Every tensor has a leading
    dimension of ``n`` (per-sample draw) or 1 (shared draw, broadcast over any
    batch). Only the tensors of the chosen ops are set.
    """

    ops: tuple[str, ...]
    n: int
    height: int
    width: int
    shared: bool = False
    brightness: Tensor | None = None  # (n,) uniform in [0, 1)
    saturation: Tensor | None = None  # (n,) uniform in [0, 1)
    contrast: Tensor | None = None  # (n,) uniform in [0, 1)
    scale: Tensor | None = None  # (n, 2) factors (sx, sy)
    rotate: Tensor | None = None  # (n,) angles in radians
    flip: Tensor | None = None  # (n,) bool, flip along width
    crop: Tensor | None = None  # (n, 2) int translations (dy, dx); content moves by +d
    cutout: Tensor | None = None  # (n, 2) int hole centres (cy, cx)
    cutout_size: tuple[int, int] = field(default=(0, 0))


def _parse_strategy(strategy: str) -> tuple[str, ...]:
    if strategy.lower() in ("", "none"):
        return ()
    ops = tuple(op for op in strategy.lower().split("_") if op)
    unknown = [op for op in ops if op not in AUGMENT_OPS]
    if unknown:
        raise ValueError(f"unknown augmentation op(s) {unknown} in strategy {strategy!r}; valid ops: {list(AUGMENT_OPS)}")
    return ops


def _check_range(name: str, value: float, low: float, high: float = math.inf) -> float:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return float(value)


class DiffAugment:
    """Differentiable Siamese Augmentation with the reference DSA defaults.

    Args:
        strategy: underscore-separated ops from ``color, crop, cutout, flip, scale, rotate``
            (``"none"`` or ``""`` disables augmentation).
        mode: ``"single"`` picks one op uniformly at random per call (reference default
            ``'S'``); ``"all"`` applies every op in order (``'M'``).
        scale: scale factors are drawn from ``U(1/scale, scale)`` per axis.
        rotate_degrees: rotation angles are drawn from ``U(-rotate_degrees, rotate_degrees)``.
        crop: maximum translation as a fraction of the image size (zero fill).
        cutout: hole size as a fraction of the image size.
        flip_prob: probability of a horizontal flip.
        brightness, saturation, contrast: strengths of the three colour jitters.
    """

    def __init__(
        self,
        strategy: str = DEFAULT_DSA_STRATEGY,
        mode: str = "single",
        scale: float = 1.2,
        rotate_degrees: float = 15.0,
        crop: float = 0.125,
        cutout: float = 0.5,
        flip_prob: float = 0.5,
        brightness: float = 1.0,
        saturation: float = 2.0,
        contrast: float = 0.5,
    ) -> None:
        self.ops = _parse_strategy(strategy)
        self.strategy = strategy
        if str(mode).lower() not in _MODES:
            raise ValueError(f"unknown mode {mode!r}; choose 'single' or 'all'")
        self.mode = _MODES[str(mode).lower()]
        self.scale = _check_range("scale", scale, 1.0)
        self.rotate_degrees = _check_range("rotate_degrees", rotate_degrees, 0.0)
        self.crop = _check_range("crop", crop, 0.0, 1.0)
        self.cutout = _check_range("cutout", cutout, 0.0, 1.0)
        self.flip_prob = _check_range("flip_prob", flip_prob, 0.0, 1.0)
        self.brightness = _check_range("brightness", brightness, 0.0)
        self.saturation = _check_range("saturation", saturation, 0.0)
        self.contrast = _check_range("contrast", contrast, 0.0)

    def __repr__(self) -> str:
        return f"DiffAugment(strategy={self.strategy!r}, mode={self.mode!r})"

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        n: int,
        height: int,
        width: int,
        device: torch.device | str,
        rng: torch.Generator | None = None,
        shared: bool = False,
    ) -> AugmentParams:
        """Draw augmentation parameters for ``n`` images of size ``height x width``.

        With ``shared=True`` a single draw (leading dimension 1) is made and later
        broadcast to every sample of any batch: the Siamese setting.
        """
        device = torch.device(device)
        rows = 1 if shared else n

        def rand(*shape: int) -> Tensor:
            return torch.rand(rows, *shape, device=device, generator=rng)

        def randint(low: int, high: int) -> Tensor:
            return torch.randint(low, high, (rows,), device=device, generator=rng)

        ops = self.ops
        if self.mode == "single" and len(ops) > 1:
            idx = int(torch.randint(len(ops), (1,), device=device, generator=rng).item())
            ops = (ops[idx],)

        p = AugmentParams(ops=ops, n=rows, height=height, width=width, shared=shared)
        for op in ops:
            if op == "color":
                p.brightness, p.saturation, p.contrast = rand(), rand(), rand()
            elif op == "scale":
                p.scale = rand(2) * (self.scale - 1.0 / self.scale) + 1.0 / self.scale
            elif op == "rotate":
                p.rotate = (rand() - 0.5) * 2 * math.radians(self.rotate_degrees)
            elif op == "flip":
                p.flip = rand() < self.flip_prob
            elif op == "crop":
                sh, sw = int(height * self.crop + 0.5), int(width * self.crop + 0.5)
                p.crop = torch.stack([randint(-sh, sh + 1), randint(-sw, sw + 1)], dim=1)
            elif op == "cutout":
                ch, cw = int(height * self.cutout + 0.5), int(width * self.cutout + 0.5)
                p.cutout_size = (ch, cw)
                # Reference range: even-sized holes may also be centred one past the last pixel.
                p.cutout = torch.stack([randint(0, height + 1 - ch % 2), randint(0, width + 1 - cw % 2)], dim=1)
        return p

    # ------------------------------------------------------------------ applying
    def apply(self, x: Tensor, params: AugmentParams) -> Tensor:
        """Apply a draw from :meth:`sample` to ``x`` of shape ``(N, C, H, W)`` (differentiable)."""
        if x.dim() != 4:
            raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
        if (x.shape[2], x.shape[3]) != (params.height, params.width):
            raise ValueError(
                f"params were drawn for {params.height}x{params.width} images, got {x.shape[2]}x{x.shape[3]}"
            )
        if params.n not in (1, x.shape[0]):
            raise ValueError(f"params were drawn for {params.n} samples, got a batch of {x.shape[0]}")
        for op in params.ops:
            x = _APPLY[op](self, x, params)
        return x

    def __call__(self, x: Tensor, rng: torch.Generator | None = None) -> Tensor:
        """Augment ``x`` with independent per-sample draws."""
        params = self.sample(x.shape[0], x.shape[2], x.shape[3], x.device, rng, shared=False)
        return self.apply(x, params)

    def pair(self, a: Tensor, b: Tensor, rng: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Apply ONE shared draw (same op, same transform) to both batches; sizes may differ."""
        if a.shape[2:] != b.shape[2:]:
            raise ValueError(f"pair() needs equal image sizes, got {tuple(a.shape[2:])} and {tuple(b.shape[2:])}")
        params = self.sample(1, a.shape[2], a.shape[3], a.device, rng, shared=True)
        return self.apply(a, params), self.apply(b, params)

    # ------------------------------------------------------------------ ops
    def _color(self, x: Tensor, p: AugmentParams) -> Tensor:
        x = x + (_bcast(p.brightness, x) - 0.5) * self.brightness
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_bcast(p.saturation, x) * self.saturation) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * (_bcast(p.contrast, x) + self.contrast) + mean

    def _scale(self, x: Tensor, p: AugmentParams) -> Tensor:
        s = p.scale.to(x.dtype)
        zero = torch.zeros_like(s[:, 0])
        theta = torch.stack(
            [torch.stack([s[:, 0], zero, zero], 1), torch.stack([zero, s[:, 1], zero], 1)], dim=1
        )
        return _warp(x, theta)

    def _rotate(self, x: Tensor, p: AugmentParams) -> Tensor:
        a = p.rotate.to(x.dtype)
        cos, sin, zero = torch.cos(a), torch.sin(a), torch.zeros_like(a)
        theta = torch.stack([torch.stack([cos, sin, zero], 1), torch.stack([-sin, cos, zero], 1)], dim=1)
        return _warp(x, theta)

    def _flip(self, x: Tensor, p: AugmentParams) -> Tensor:
        return torch.where(p.flip.view(-1, 1, 1, 1), x.flip(3), x)

    def _crop(self, x: Tensor, p: AugmentParams) -> Tensor:
        n, c, h, w = x.shape
        # Output pixel (i, j) reads input (i - dy, j - dx); out-of-range reads become 0.
        src_h = torch.arange(h, device=x.device) - p.crop[:, :1]  # (rows, H)
        src_w = torch.arange(w, device=x.device) - p.crop[:, 1:]  # (rows, W)
        valid = ((src_h >= 0) & (src_h < h))[:, None, :, None] & ((src_w >= 0) & (src_w < w))[:, None, None, :]
        idx_h = src_h.clamp(0, h - 1)[:, None, :, None].expand(n, c, h, w)
        idx_w = src_w.clamp(0, w - 1)[:, None, None, :].expand(n, c, h, w)
        out = x.gather(2, idx_h).gather(3, idx_w)
        return out * valid.to(x.dtype)

    def _cutout(self, x: Tensor, p: AugmentParams) -> Tensor:
        _, _, h, w = x.shape
        size_h, size_w = p.cutout_size
        top = p.cutout[:, :1] - size_h // 2  # (rows, 1)
        left = p.cutout[:, 1:] - size_w // 2
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        in_h = (rows >= top) & (rows < top + size_h)  # (rows, H)
        in_w = (cols >= left) & (cols < left + size_w)  # (rows, W)
        hole = in_h[:, None, :, None] & in_w[:, None, None, :]
        return x * (~hole).to(x.dtype)


def _bcast(v: Tensor, x: Tensor) -> Tensor:
    """Per-sample scalar (rows,) -> (rows, 1, 1, 1) in x's dtype."""
    return v.to(x.dtype).view(-1, 1, 1, 1)


def _warp(x: Tensor, theta: Tensor) -> Tensor:
    """Affine resampling as in the reference (align_corners=True, zero padding)."""
    theta = theta.expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


_APPLY = {
    "color": DiffAugment._color,
    "scale": DiffAugment._scale,
    "rotate": DiffAugment._rotate,
    "flip": DiffAugment._flip,
    "crop": DiffAugment._crop,
    "cutout": DiffAugment._cutout,
}
