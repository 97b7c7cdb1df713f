"""Model zoo for dataset distillation (ConvNet, MLP, LeNet, AlexNet, VGG11, ResNet18).

Every network exposes ``embed(x) -> (N, feature_dim)``, ``feature_dim`` and a
linear head ``classifier`` with ``forward(x) == classifier(embed(x))``.
"""

from .convnet import ConvNet
from .factory import available_networks, check_network_name, get_network, seeded_network
from .layers import EmbedClassifier
from .zoo import MLP, AlexNet, BasicBlock, LeNet, ResNet18, VGG11

__all__ = [
    "get_network",
    "available_networks",
    "check_network_name",
    "seeded_network",
    "EmbedClassifier",
    "ConvNet",
    "MLP",
    "LeNet",
    "AlexNet",
    "VGG11",
    "ResNet18",
    "BasicBlock",
]
