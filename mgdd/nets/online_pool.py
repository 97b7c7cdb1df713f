"""A pool of networks trained online on a synthetic set and reset when they grow old (FRePo's model pool).

Distillation objectives read features from the pool's networks; after each use the drawn network takes
one optimiser step on the current synthetic set, so the pool always holds networks at different stages
of training on it (ages are staggered at the start). FRePo (pixel optimisation) and MGDD's adaptation
share this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class PoolMember:
    net: nn.Module
    optimizer: torch.optim.Optimizer
    age: int = 0  # online updates so far


class OnlineModelPool:
    """``size`` networks from ``build(seed)``, trained with Adam (``lr``) and reset after ``max_updates``.

    Seeds: member ``i`` is built with ``seed + i``; a member reset by :meth:`draw` with ``reset_seed + i``
    (callers pass seeds derived from their own run seed and iteration, so a run repeats its pool).
    """

    def __init__(self, build: Callable[[int], nn.Module], size: int, max_updates: int, lr: float, seed: int) -> None:
        if size < 1 or max_updates < 1 or lr <= 0:
            raise ValueError("pool size and max_updates must be >= 1 and lr > 0")
        self.build, self.max_updates, self.lr = build, max_updates, lr
        self.members = [self._fresh(seed + index, age=index * max_updates // size) for index in range(size)]

    def __len__(self) -> int:
        return len(self.members)

    def _fresh(self, seed: int, age: int = 0) -> PoolMember:
        net = self.build(seed)
        return PoolMember(net, torch.optim.Adam(net.parameters(), lr=self.lr), age)

    def draw(self, rng: torch.Generator, reset_seed: int) -> PoolMember:
        """A member drawn with ``rng``; replaced by a fresh network first if it has reached ``max_updates``.

        The member's network is returned in eval mode with gradients off, ready to read features.
        """
        index = int(torch.randint(len(self.members), (), generator=rng))
        if self.members[index].age >= self.max_updates:
            self.members[index] = self._fresh(reset_seed + index)
        member = self.members[index]
        member.net.eval().requires_grad_(False)
        return member

    @staticmethod
    def train_step(member: PoolMember, images: Tensor, targets: Tensor) -> float:
        """One optimiser step of ``member`` on (``images``, ``targets``) with MSE (detached inputs); returns the loss."""
        net = member.net.train().requires_grad_(True)
        member.optimizer.zero_grad(set_to_none=True)
        loss = F.mse_loss(net(images.detach()), targets.detach().to(images.dtype))
        loss.backward()
        member.optimizer.step()
        member.age += 1
        net.eval().requires_grad_(False)
        return float(loss.item())
