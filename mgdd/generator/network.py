"""The conditional generator: real sample + class code + dataset code -> synthetic sample.

Fully convolutional (any resolution) and residual with a zero-initialised output layer, so a
fresh generator is the identity map and every synthetic sample starts as its real initial
sample. Conditioning is by FiLM from codes that a small encoder computes from real images:
the sample's own code, the mean code of its class, and the mean over classes (the dataset).
Codes are means over real samples, so nothing depends on how many classes a dataset has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _groups(width: int) -> int:
    return 8 if width % 8 == 0 else 1


class ImageEncoder(nn.Module):
    """Images (N, C, H, W) of any size -> codes (N, code_dim)."""

    def __init__(self, channels: int, width: int, code_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1),
            nn.GroupNorm(_groups(width), width),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.GroupNorm(_groups(width), width),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.GroupNorm(_groups(width), width),
            nn.SiLU(),
        )
        self.head = nn.Linear(2 * width, code_dim)

    def forward(self, images: Tensor) -> Tensor:
        h = self.layers(images)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


class FiLMBlock(nn.Module):
    """Residual block whose normalised activations are scaled and shifted by the condition."""

    def __init__(self, width: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(width), width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(width), width, affine=False)
        self.film = nn.Linear(cond_dim, 2 * width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        gamma, beta = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + gamma) + beta
        return x + self.conv2(F.silu(h))


class ConditionalGenerator(nn.Module):
    """``x -> x + delta(x, codes)`` with ``delta == 0`` at initialisation."""

    def __init__(self, channels: int, width: int, code_dim: int, blocks: int) -> None:  # defaults: GeneratorModel
        super().__init__()
        self.channels = channels
        self.encoder = ImageEncoder(channels, width, code_dim)
        self.condition = nn.Sequential(
            nn.Linear(3 * code_dim, code_dim), nn.SiLU(), nn.Linear(code_dim, code_dim)
        )
        # the FiLM blocks work at half resolution (4x cheaper); a full-resolution skip keeps detail
        # input: the image and the guidance (normalised gradient of the ridge loss w.r.t. it)
        self.stem = nn.Conv2d(2 * channels, width, 3, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.blocks = nn.ModuleList(FiLMBlock(width, code_dim) for _ in range(blocks))
        self.out_norm = nn.GroupNorm(_groups(2 * width), 2 * width)
        self.out = nn.Conv2d(2 * width, channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def task_codes(self, support: Tensor, support_labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
        """Class codes (K, code_dim) as mean codes of each class's real samples, and their mean."""
        codes = self.encoder(support)
        one_hot = F.one_hot(support_labels, num_classes).to(codes.dtype)
        counts = one_hot.sum(0).clamp_min(1.0)
        class_codes = (one_hot.t() @ codes) / counts[:, None]
        return class_codes, class_codes.mean(0)

    def forward(
        self,
        initial: Tensor,
        initial_labels: Tensor,
        support: Tensor,
        support_labels: Tensor,
        num_classes: int,
        guide: Tensor | None = None,
    ) -> Tensor:
        """Codes from the real ``support`` samples, then the map of every initial sample.

        One call does all the work, so the step runs through a single (DDP-wrapped) forward.
        """
        class_codes, dataset_code = self.task_codes(support, support_labels, num_classes)
        return self.transform(initial, class_codes[initial_labels], dataset_code, guide)

    def transform(
        self, initial: Tensor, class_codes: Tensor, dataset_code: Tensor, guide: Tensor | None = None
    ) -> Tensor:
        """``initial`` (N, C, H, W); ``class_codes`` (N, code_dim) per sample; ``dataset_code`` (code_dim,);
        ``guide`` (N, C, H, W) or None (zeros)."""
        if initial.shape[1] != self.channels:
            raise ValueError(f"generator expects {self.channels}-channel images, got {initial.shape[1]}")
        guide = torch.zeros_like(initial) if guide is None else guide
        own = self.encoder(initial)
        cond = self.condition(torch.cat([own, class_codes, dataset_code.expand_as(own)], dim=1))
        skip = F.silu(self.stem(torch.cat([initial, guide], dim=1)))
        h = self.down(skip)
        for block in self.blocks:
            h = block(h, cond)
        h = F.interpolate(h, size=initial.shape[-2:], mode="bilinear", align_corners=False)
        return initial + self.out(F.silu(self.out_norm(torch.cat([h, skip], dim=1))))
