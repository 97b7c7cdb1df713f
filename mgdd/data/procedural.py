"""Image classification data made by code, for meta-training with no network.

* ``glyphs``: the 62 characters 0-9, A-Z, a-z rendered from every TrueType font found on the
  machine (system fonts, matplotlib's bundled fonts, Pillow's default), then randomly
  deformed (affine warp, stroke dilation/erosion, blur, contrast).
* ``shapes``: ten kinds of filled silhouettes (ellipse, rectangle, triangle, ...) with random
  geometry and shaded, textured interiors.

Both are deterministic given the split (train and test use different seeds) and disjoint
from every benchmark dataset, which is why the bundled meta generator is trained on them.
"""

from __future__ import annotations

import functools
import math
import string
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

GLYPH_CLASSES = tuple(string.digits + string.ascii_uppercase + string.ascii_lowercase)
SHAPE_CLASSES = (
    "ellipse", "rectangle", "triangle", "pentagon", "hexagon", "star", "ring", "cross", "crescent", "arrow",
)
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
SPLIT_SEEDS = {"train": 0, "test": 1}
# math/symbol fonts map Latin code points to other symbols
SYMBOL_FONT_MARKERS = ("Sym", "cmex", "cmsy", "LastResort", "MathTeX", "NonUni")


def font_files() -> list[Path]:
    """TrueType fonts on this machine that can render Latin letters (sorted, deduplicated by name)."""
    candidates: dict[str, Path] = {}
    dirs = list(FONT_DIRS)
    try:
        import matplotlib

        dirs.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf")
    except ImportError:
        pass
    for directory in dirs:
        if directory.is_dir():
            for path in sorted(directory.rglob("*.ttf")):
                if not any(marker in path.name for marker in SYMBOL_FONT_MARKERS):
                    candidates.setdefault(path.name, path)
    usable = [p for name, p in sorted(candidates.items()) if _renders_latin(p)]
    return usable


def _renders_latin(path: Path) -> bool:
    """Skip symbol-only fonts: 'A' and 'B' must render to different, non-empty bitmaps."""
    try:
        font = ImageFont.truetype(str(path), 20)
    except OSError:
        return False
    a, b = (_render_char(c, font, 24) for c in "AB")
    return a.any() and b.any() and not np.array_equal(a, b)


def _render_char(char: str, font: ImageFont.FreeTypeFont, size: int) -> np.ndarray:
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), char, font=font)
    x = (size - (right - left)) / 2 - left
    y = (size - (bottom - top)) / 2 - top
    draw.text((x, y), char, fill=255, font=font)
    return np.asarray(image)


@functools.lru_cache(maxsize=2)
def glyph_templates(size: int = 28) -> tuple[Tensor, Tensor]:
    """Clean renders: (fonts * 62, 1, size, size) floats in [0, 1] and their class labels."""
    fonts = [ImageFont.truetype(str(p), int(size * 0.75)) for p in font_files()]
    if not fonts:
        fonts = [ImageFont.load_default(size=int(size * 0.75))]
    renders = [_render_char(c, f, size) for f in fonts for c in GLYPH_CLASSES]
    images = torch.from_numpy(np.stack(renders)).float().div(255).unsqueeze(1)
    labels = torch.arange(len(GLYPH_CLASSES)).repeat(len(fonts))
    return images, labels


def random_deform(images: Tensor, rng: torch.Generator) -> Tensor:
    """Random affine warp, stroke width change, blur and contrast, vectorised over the batch."""
    n = images.shape[0]

    def uniform(low: float, high: float) -> Tensor:
        return torch.rand(n, generator=rng) * (high - low) + low

    angle = uniform(-0.3, 0.3)
    shear = uniform(-0.3, 0.3)
    scale = uniform(0.8, 1.15)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([
        torch.stack([cos / scale, (-sin + shear) / scale, uniform(-0.12, 0.12)], 1),
        torch.stack([sin / scale, cos / scale, uniform(-0.12, 0.12)], 1),
    ], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
    stroke = torch.randint(0, 3, (n,), generator=rng)  # 0 erode, 1 keep, 2 dilate
    dilated = F.max_pool2d(out, 3, 1, 1)
    eroded = -F.max_pool2d(-out, 3, 1, 1)
    out = torch.where((stroke == 2)[:, None, None, None], dilated, out)
    out = torch.where((stroke == 0)[:, None, None, None], torch.maximum(eroded, 0.5 * out), out)
    blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    blurred = F.conv2d(out, blur.view(1, 1, 3, 3), padding=1)
    out = torch.where((torch.rand(n, generator=rng) < 0.5)[:, None, None, None], blurred, out)
    return (out * uniform(0.6, 1.0)[:, None, None, None]).clamp(0, 1)


def make_glyphs(split: str, per_class: int, size: int = 28) -> tuple[Tensor, Tensor]:
    """``per_class`` deformed renders of each of the 62 characters, as uint8 (N, 1, size, size)."""
    templates, template_labels = glyph_templates(size)
    rng = torch.Generator().manual_seed(SPLIT_SEEDS[split])
    fonts = len(templates) // len(GLYPH_CLASSES)
    font_choice = torch.randint(fonts, (len(GLYPH_CLASSES), per_class), generator=rng)
    index = (font_choice * len(GLYPH_CLASSES) + torch.arange(len(GLYPH_CLASSES))[:, None]).flatten()
    images = random_deform(templates[index], rng)
    return (images * 255).round().to(torch.uint8), template_labels[index]


def _shape_polygon(
    kind: str, rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float
) -> list[tuple[float, float]]:
    rot = rng.uniform(0, 2 * math.pi)

    def ring(count: int, radii: list[float]) -> list[tuple[float, float]]:
        points = []
        for i in range(count):
            t = rot + 2 * math.pi * i / count
            r = radii[i % len(radii)]
            points.append((cx + r * rx * math.cos(t), cy + r * ry * math.sin(t)))
        return points

    if kind == "triangle":
        return ring(3, [1.0])
    if kind == "pentagon":
        return ring(5, [1.0])
    if kind == "hexagon":
        return ring(6, [1.0])
    if kind == "star":
        return ring(10, [1.0, rng.uniform(0.35, 0.55)])
    if kind == "cross":
        w = rng.uniform(0.25, 0.4)
        base = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w)]
        return [(cx + x * rx, cy + y * ry) for x, y in base]
    if kind == "arrow":
        w, head = rng.uniform(0.2, 0.35), rng.uniform(0.2, 0.5)
        base = [(-1, -w), (head, -w), (head, -1), (1, 0), (head, 1), (head, w), (-1, w)]
        c, s = math.cos(rot), math.sin(rot)
        return [(cx + (x * c - y * s) * rx, cy + (x * s + y * c) * ry) for x, y in base]
    raise KeyError(kind)


def _draw_shape(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    scale = 4  # draw large, then downsample: anti-aliased edges
    big = size * scale
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    cx, cy = big / 2 + rng.uniform(-2, 2) * scale, big / 2 + rng.uniform(-2, 2) * scale
    rx, ry = rng.uniform(0.25, 0.45) * big, rng.uniform(0.25, 0.45) * big
    if kind == "ellipse":
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    elif kind == "rectangle":
        draw.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    elif kind == "ring":
        inner = rng.uniform(0.4, 0.7)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        draw.ellipse([cx - rx * inner, cy - ry * inner, cx + rx * inner, cy + ry * inner], fill=0)
    elif kind == "crescent":
        shift = rng.uniform(0.3, 0.6) * rx
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        draw.ellipse([cx - rx + shift, cy - ry, cx + rx + shift, cy + ry], fill=0)
    else:
        draw.polygon(_shape_polygon(kind, rng, cx, cy, rx, ry), fill=255)
    mask = mask.rotate(rng.uniform(-30, 30), resample=Image.BILINEAR)
    alpha = np.asarray(mask.resize((size, size), Image.BOX), dtype=np.float32) / 255
    yy, xx = np.mgrid[0:size, 0:size] / size
    shade = rng.uniform(0.4, 1.0) + rng.uniform(-0.4, 0.4) * (xx - 0.5) + rng.uniform(-0.4, 0.4) * (yy - 0.5)
    texture = rng.uniform(0, 0.25) * rng.standard_normal((size, size))
    return np.clip(alpha * (shade + texture), 0, 1)


def make_shapes(split: str, per_class: int, size: int = 28) -> tuple[Tensor, Tensor]:
    """``per_class`` random silhouettes of each of the ten shape kinds, as uint8 (N, 1, size, size)."""
    rng = np.random.default_rng(1000 + SPLIT_SEEDS[split])
    images = [_draw_shape(kind, rng, size) for kind in SHAPE_CLASSES for _ in range(per_class)]
    labels = torch.arange(len(SHAPE_CLASSES)).repeat_interleave(per_class)
    pixels = torch.from_numpy((np.stack(images) * 255).round().astype(np.uint8)).unsqueeze(1)
    return pixels, labels


HUE_CLASSES = ("red", "orange", "yellow", "lime", "green", "teal", "cyan", "blue", "purple", "magenta")


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """HSV in [0, 1] -> RGB (..., 3), vectorised."""
    k = (np.array([5.0, 3.0, 1.0]) + h[..., None] * 6) % 6
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def make_hues(split: str, per_class: int, size: int = 16) -> tuple[Tensor, Tensor]:
    """Colour shapes whose class is their hue alone: ten hues evenly around the colour wheel, each image a random
    shape kind, size, shade and texture on a grey noise background, as uint8 (N, 3, size, size). A pipeline that
    turns the images grey keeps only brightness, which the shading makes nearly useless; the hue test of MGDD."""
    rng = np.random.default_rng(2000 + SPLIT_SEEDS[split])
    images = []
    for c in range(len(HUE_CLASSES)):
        for _ in range(per_class):
            alpha = _draw_shape(SHAPE_CLASSES[rng.integers(len(SHAPE_CLASSES))], rng, size)
            hue = np.full(alpha.shape, (c / len(HUE_CLASSES) + rng.uniform(-0.03, 0.03)) % 1.0)
            colour = _hsv_to_rgb(hue, np.full(alpha.shape, rng.uniform(0.5, 1.0)), alpha)
            background = np.clip(rng.uniform(0.2, 0.6) + 0.08 * rng.standard_normal((size, size, 1)), 0, 1)
            mask = (alpha > 0.05)[..., None]
            images.append(np.where(mask, colour, background))
    labels = torch.arange(len(HUE_CLASSES)).repeat_interleave(per_class)
    pixels = torch.from_numpy((np.stack(images) * 255).round().astype(np.uint8)).permute(0, 3, 1, 2).contiguous()
    return pixels, labels
