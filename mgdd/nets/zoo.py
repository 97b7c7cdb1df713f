"""Other architectures of the distillation model zoo (reference small-image variants)."""

from __future__ import annotations

from torch import Tensor, nn

from .layers import EmbedClassifier, ShapeTracker, check_choice, check_common, make_norm, to_hw
from .registry import register_network

__all__ = ["MLP", "LeNet", "AlexNet", "VGG11", "ResNet18", "BasicBlock"]

# "layer" norm needs per-layer spatial shapes, which only ConvNet tracks.
DEEP_NORMS = ("instance", "batch", "group", "none")


@register_network("MLP")
class MLP(EmbedClassifier):
    """Flatten -> 128 -> ReLU -> 128 -> ReLU -> linear head; ``embed`` is the 128-d hidden output."""

    def __init__(self, channels: int, num_classes: int, image_size: int | tuple[int, int], hidden: int = 128) -> None:
        check_common(channels, num_classes)
        if hidden < 1:
            raise ValueError(f"MLP hidden must be >= 1, got {hidden}")
        h, w = to_hw(image_size)
        features = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * h * w, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        super().__init__(features, hidden, num_classes)


@register_network("LeNet")
class LeNet(EmbedClassifier):
    """LeNet-5 as in the reference code; ``embed`` is the 84-d penultimate activation."""

    def __init__(self, channels: int, num_classes: int, image_size: int | tuple[int, int]) -> None:
        check_common(channels, num_classes)
        shape = ShapeTracker("LeNet", channels, to_hw(image_size))
        padding = 2 if channels == 1 else 0
        shape.conv(6, 5, 1, padding)
        shape.pool()
        shape.conv(16, 5)
        shape.pool()
        features = nn.Sequential(
            nn.Conv2d(channels, 6, kernel_size=5, padding=padding),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Flatten(),
            nn.Linear(shape.numel, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
        )
        super().__init__(features, 84, num_classes)


@register_network("AlexNet")
class AlexNet(EmbedClassifier):
    """The reference's small-image AlexNet (5 convs, 3 max-pools, one linear head)."""

    def __init__(self, channels: int, num_classes: int, image_size: int | tuple[int, int]) -> None:
        check_common(channels, num_classes)
        shape = ShapeTracker("AlexNet", channels, to_hw(image_size))
        # (out_channels, kernel, padding, pool_after)
        spec = [
            (128, 5, 4 if channels == 1 else 2, True),
            (192, 5, 2, True),
            (256, 3, 1, False),
            (192, 3, 1, False),
            (192, 3, 1, True),
        ]
        layers: list[nn.Module] = []
        for out_c, k, p, pool in spec:
            layers += [nn.Conv2d(shape.c, out_c, kernel_size=k, padding=p), nn.ReLU()]
            shape.conv(out_c, k, 1, p)
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
                shape.pool()
        super().__init__(nn.Sequential(*layers), shape.numel, num_classes)


VGG11_CFG: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


@register_network("VGG11BN", norm="batch")
@register_network("VGG11")
class VGG11(EmbedClassifier):
    """VGG-11 for small images: conv3x3 -> norm -> ReLU blocks, 5 max-pools, linear head.

    ``norm="instance"`` (reference default) is GroupNorm(c, c); ``"batch"`` gives VGG11BN.
    """

    def __init__(
        self, channels: int, num_classes: int, image_size: int | tuple[int, int], norm: str = "instance"
    ) -> None:
        check_common(channels, num_classes)
        norm = check_choice("norm", norm, DEEP_NORMS)
        shape = ShapeTracker("VGG11", channels, to_hw(image_size))
        layers: list[nn.Module] = []
        for i, item in enumerate(VGG11_CFG):
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                shape.pool()
                continue
            padding = 3 if (i == 0 and channels == 1) else 1
            layers += [nn.Conv2d(shape.c, int(item), kernel_size=3, padding=padding), make_norm(norm, int(item)), nn.ReLU()]
            shape.conv(int(item), 3, 1, padding)
        super().__init__(nn.Sequential(*layers), shape.numel, num_classes)
        self.norm = norm


class BasicBlock(nn.Module):
    """ResNet basic block with a 1x1 projection shortcut when the shape changes."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, norm: str = "instance") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = make_norm(norm, planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = make_norm(norm, planes)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                make_norm(norm, planes),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@register_network("ResNet18BN", norm="batch")
@register_network("ResNet18")
class ResNet18(EmbedClassifier):
    """ResNet-18 for small images (3x3 stem, no stem max-pool); ``embed`` is the 512-d pooled feature.

    ``norm="instance"`` (reference default) is GroupNorm(c, c); ``"batch"`` gives ResNet18BN.
    """

    def __init__(
        self, channels: int, num_classes: int, image_size: int | tuple[int, int], norm: str = "instance"
    ) -> None:
        check_common(channels, num_classes)
        norm = check_choice("norm", norm, DEEP_NORMS)
        to_hw(image_size)  # validates; stride-2 convs with padding 1 never shrink below 1x1
        layers: list[nn.Module] = [
            nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False),
            make_norm(norm, 64),
            nn.ReLU(),
        ]
        in_planes = 64
        for planes, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            for s in (stride, 1):
                layers.append(BasicBlock(in_planes, planes, s, norm))
                in_planes = planes
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(nn.Sequential(*layers), 512, num_classes)
        self.norm = norm
