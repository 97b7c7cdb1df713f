"""Tests for the distillation model zoo (mgdd.nets)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mgdd.nets import available_networks, get_network, seeded_network


def _convs(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def _count(net: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in net.modules())


# ----------------------------------------------------------------- reference ConvNet
def test_reference_convnet_on_mnist_shape() -> None:
    net = get_network("ConvNet", 1, 10, 28)
    assert net.feature_dim == 2048
    assert _convs(net)[0].padding == (3, 3)  # reference quirk: 28x28 -> 32x32
    assert all(c.padding == (1, 1) for c in _convs(net)[1:])
    x = torch.randn(2, 1, 28, 28)
    assert net.features(x).shape == (2, 128, 4, 4)
    assert net.embed(x).shape == (2, 2048)
    assert torch.allclose(net(x), net.classifier(net.embed(x)))


def test_reference_convnet_on_cifar_shape() -> None:
    net = get_network("ConvNet", 3, 10, 32)
    assert net.feature_dim == 2048
    assert _convs(net)[0].padding == (1, 1)
    assert net.embed(torch.randn(2, 3, 32, 32)).shape == (2, 2048)


def test_instance_norm_is_per_channel_groupnorm() -> None:
    norms = [m for m in get_network("ConvNet", 3, 10, 32).modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 3
    assert all(m.num_groups == 128 and m.num_channels == 128 and m.affine for m in norms)


def test_default_convnet_parameter_count() -> None:
    width, classes = 128, 10
    conv1 = 1 * width * 9 + width
    conv = width * width * 9 + width
    norm = 2 * width
    head = 2048 * classes + classes
    expected = conv1 + 2 * conv + 3 * norm + head
    assert expected == 317706
    net = get_network("ConvNet", 1, classes, 28)
    assert sum(p.numel() for p in net.parameters()) == expected


# ----------------------------------------------------------------- every architecture
ARCHS = [
    ("ConvNet", {"width": 8}),
    ("ConvNetBN", {"width": 8}),
    ("ConvNetLN", {"width": 8}),
    ("ConvNetGN", {"width": 8}),
    ("ConvNetNN", {"width": 8, "activation": "gelu"}),
    ("ConvNetMP", {"width": 8, "activation": "leakyrelu"}),
    ("ConvNetNP", {"width": 4, "depth": 1, "activation": "sigmoid"}),
    ("ConvNetD4", {"width": 8}),
    ("MLP", {}),
    ("LeNet", {}),
    ("AlexNet", {}),
    ("VGG11", {}),
    ("VGG11BN", {}),
    ("ResNet18", {}),
    ("ResNet18BN", {}),
]


@pytest.mark.parametrize("name,opts", ARCHS, ids=[a for a, _ in ARCHS])
@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_forward_backward(name: str, opts: dict, channels: int, size: int) -> None:
    torch.manual_seed(0)
    net = get_network(name, channels, 7, size, **opts)
    x = torch.randn(2, channels, size, size, requires_grad=True)
    out = net(x)
    assert out.shape == (2, 7)
    emb = net.embed(x)
    assert emb.shape == (2, net.feature_dim)
    assert isinstance(net.classifier, nn.Linear) and net.classifier.in_features == net.feature_dim
    nn.functional.cross_entropy(out, torch.tensor([0, 3])).backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "name,channels,size,dim",
    [
        ("MLP", 1, 28, 128),
        ("LeNet", 1, 28, 84),
        ("LeNet", 3, 32, 84),
        ("AlexNet", 1, 28, 192 * 4 * 4),
        ("AlexNet", 3, 32, 192 * 4 * 4),
        ("VGG11", 1, 28, 512),
        ("VGG11", 3, 32, 512),
        ("ResNet18", 3, 32, 512),
    ],
)
def test_feature_dims(name: str, channels: int, size: int, dim: int) -> None:
    assert get_network(name, channels, 10, size).feature_dim == dim


def test_lenet_and_mlp_sizes_follow_image() -> None:
    lenet = get_network("LeNet", 1, 10, 28)
    assert _convs(lenet)[0].padding == (2, 2)
    assert [m.in_features for m in lenet.modules() if isinstance(m, nn.Linear)][0] == 16 * 5 * 5
    assert get_network("LeNet", 3, 10, 32).features[0].padding == (0, 0)
    mlp = get_network("MLP", 3, 10, (16, 8))
    assert mlp.features[1].in_features == 3 * 16 * 8


def test_deep_nets_norm_variants() -> None:
    assert _count(get_network("ResNet18", 3, 10, 32), nn.GroupNorm) == 20
    assert _count(get_network("ResNet18", 3, 10, 32), nn.BatchNorm2d) == 0
    assert _count(get_network("ResNet18BN", 3, 10, 32), nn.BatchNorm2d) == 20
    vgg = get_network("VGG11", 1, 10, 28)
    assert _convs(vgg)[0].padding == (3, 3) and len(_convs(vgg)) == 8
    assert _count(vgg, nn.GroupNorm) == 8
    assert _count(get_network("VGG11BN", 3, 10, 32), nn.BatchNorm2d) == 8


# ----------------------------------------------------------------- names and options
def test_name_parsing() -> None:
    assert "ConvNetD4" in available_networks()
    assert len(_convs(get_network("ConvNetD4", 3, 10, 32, width=8))) == 4
    assert len(_convs(get_network("convnetd1", 3, 10, 32, width=8))) == 1
    w32 = get_network("ConvNetW32", 3, 10, 32)
    assert {c.out_channels for c in _convs(w32)} == {32} and w32.feature_dim == 32 * 4 * 4
    assert get_network("CONVNETW48", 3, 10, 32).width == 48
    bn = get_network("ConvNetBN", 3, 10, 32, width=8)
    assert _count(bn, nn.BatchNorm2d) == 3 and _count(bn, nn.GroupNorm) == 0
    gn = [m for m in get_network("ConvNetGN", 3, 10, 32, width=8).modules() if isinstance(m, nn.GroupNorm)]
    assert all(m.num_groups == 4 for m in gn)
    ln = [m for m in get_network("ConvNetLN", 1, 10, 28, width=8).modules() if isinstance(m, nn.LayerNorm)]
    assert ln[0].normalized_shape == (8, 32, 32) and ln[-1].normalized_shape == (8, 8, 8)
    nn_net = get_network("ConvNetNN", 3, 10, 32, width=8)
    assert _count(nn_net, nn.GroupNorm) + _count(nn_net, nn.BatchNorm2d) == 0
    assert _count(get_network("ConvNetMP", 3, 10, 32, width=8), nn.MaxPool2d) == 3
    np_net = get_network("ConvNetNP", 3, 10, 16, width=8)
    assert _count(np_net, nn.AvgPool2d) == 0 and np_net.feature_dim == 8 * 16 * 16
    combo = get_network("ConvNetD2W16BNMP", 3, 10, 32)
    assert (combo.depth, combo.width, combo.norm, combo.pooling) == (2, 16, "batch", "max")
    assert combo.feature_dim == 16 * 8 * 8


def test_opts_override_name() -> None:
    net = get_network("ConvNetD4", 3, 10, 32, depth=2, width=8)
    assert len(_convs(net)) == 2
    net = get_network("ConvNetBN", 3, 10, 32, width=8, norm="instance")
    assert _count(net, nn.BatchNorm2d) == 0 and _count(net, nn.GroupNorm) == 3
    assert _count(get_network("ResNet18BN", 3, 10, 32, norm="instance"), nn.BatchNorm2d) == 0


def test_every_available_name_builds() -> None:
    images = torch.randn(2, 3, 64, 64)
    for name in available_networks():
        if name.startswith("ConvNet"):
            opts = {} if "W" in name[7:] else {"width": 4}
            net = get_network(name, 3, 10, 64, **opts)
            assert net(images).shape == (2, 10), name  # builds, and maps images to one logit per class


# ----------------------------------------------------------------- errors
def test_unknown_name_lists_available() -> None:
    with pytest.raises(KeyError, match="available") as err:
        get_network("ResNet50", 3, 10, 32)
    assert "ConvNet" in str(err.value) and "ResNet18" in str(err.value)
    with pytest.raises(KeyError):
        get_network("ConvNetXYZ", 3, 10, 32)


def test_image_too_small() -> None:
    with pytest.raises(ValueError, match=r"LeNet.*8x8"):
        get_network("LeNet", 3, 10, 8)
    with pytest.raises(ValueError, match=r"VGG11.*16x16"):
        get_network("VGG11", 3, 10, 16)
    with pytest.raises(ValueError, match=r"ConvNet.*32x32"):
        get_network("ConvNetD6", 3, 10, 32, width=4)


@pytest.mark.parametrize(
    "name,args,opts,pattern",
    [
        ("ConvNet", (3, 10, 32), {"norm": "weird"}, "norm"),
        ("ConvNet", (3, 10, 32), {"activation": "tanh"}, "activation"),
        ("ConvNet", (3, 10, 32), {"pooling": "sum"}, "pooling"),
        ("ConvNet", (3, 10, 32), {"width": 0}, "width"),
        ("ConvNet", (3, 10, 32), {"depth": 0}, "depth"),
        ("ConvNet", (0, 10, 32), {}, "channels"),
        ("MLP", (3, 1, 32), {}, "num_classes"),
        ("LeNet", (3, 10, 32), {"width": 8}, "width"),
        ("ResNet18", (3, 10, 32), {"norm": "layer"}, "norm"),
    ],
)
def test_bad_options(name: str, args: tuple, opts: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        get_network(name, *args, **opts)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["ConvNetLN", "LeNet", "ResNet18BN"])
def test_cuda_forward(name: str) -> None:
    net = get_network(name, 3, 10, 32).cuda()
    assert net(torch.randn(2, 3, 32, 32, device="cuda")).shape == (2, 10)


def test_networks_register_next_to_their_class_with_options_from_the_signature(monkeypatch):
    from torch import nn

    from mgdd.nets import available_networks, get_network, registry
    from mgdd.nets.layers import EmbedClassifier
    from mgdd.nets.registry import network_options, register_network

    monkeypatch.setattr(registry, "_NAMES", dict(registry._NAMES))  # the test's names go away afterwards

    @register_network("TinyTestNet")
    @register_network("TinyTestNetWide", hidden=16)
    class TinyTestNet(EmbedClassifier):
        def __init__(self, channels, num_classes, image_size, hidden: int = 4) -> None:
            super().__init__(nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden)), hidden, num_classes)

    assert network_options(TinyTestNet) == ("hidden",)
    assert {"TinyTestNet", "TinyTestNetWide"} <= set(available_networks())
    assert get_network("tinytestnetwide", 1, 3, 8).feature_dim == 16
    with pytest.raises(ValueError, match=r"allowed: \['hidden'\]"):
        get_network("TinyTestNet", 1, 3, 8, width=3)
    with pytest.raises(TypeError, match="no options"):
        register_network("Broken", depth=2)(TinyTestNet)


def test_embed_real_chunks_exactly_and_leaves_batchnorm_networks_whole(monkeypatch):
    from mgdd.nets.features import embed_real

    torch.manual_seed(0)
    x = torch.randn(20, 1, 28, 28)
    net = seeded_network("ConvNet", 1, 10, (28, 28), 0, torch.device("cpu"), width=16).train()
    with torch.no_grad():
        assert torch.equal(embed_real(net, x), net.embed(x)) and net.training  # chunks: exact, mode kept
    sizes = []
    monkeypatch.setattr(net, "embed", lambda images: sizes.append(len(images)) or torch.zeros(len(images), 4))
    embed_real(net, x)
    assert sizes == [8, 8, 4]  # cache-sized chunks on CPU
    calls = []
    bn = seeded_network("ConvNetBN", 1, 10, (28, 28), 0, torch.device("cpu"), width=16).train()
    monkeypatch.setattr(bn, "embed", lambda images: calls.append(len(images)) or torch.zeros(len(images), 4))
    embed_real(bn, x)
    assert calls == [20]  # batch statistics: one batch, not chunks
