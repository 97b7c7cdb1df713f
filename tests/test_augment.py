"""Tests for Differentiable Siamese Augmentation (mgdd.augment)."""

from __future__ import annotations

import math

import pytest
import torch

from mgdd.augment import AUGMENT_OPS, AugmentParams, DiffAugment


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _params(**kw) -> AugmentParams:
    """Hand-made parameters for an (n, 8, 8) batch."""
    n = kw.pop("n", 1)
    return AugmentParams(n=n, height=kw.pop("height", 8), width=kw.pop("width", 8), **kw)


def _image(n: int = 3, c: int = 2, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.arange(n * c * h * w, dtype=torch.float32).view(n, c, h, w) + 1.0


# ----------------------------------------------------------------- crop
def test_crop_shifts_by_hand_made_translation() -> None:
    x = _image(n=1)
    out = DiffAugment("crop").apply(x, _params(ops=("crop",), crop=torch.tensor([[2, -1]])))
    expected = torch.zeros_like(x)
    expected[:, :, 2:, :-1] = x[:, :, :-2, 1:]  # content moves 2 down, 1 left
    assert torch.equal(out, expected)


def test_crop_matches_loop_for_random_draws() -> None:
    aug = DiffAugment("crop", crop=0.25)
    x = _image(n=6, w=12)
    p = aug.sample(6, 8, 12, "cpu", _gen(3))
    assert p.crop.shape == (6, 2)
    assert p.crop[:, 0].abs().max() <= 2 and p.crop[:, 1].abs().max() <= 3  # int(8*.25+.5), int(12*.25+.5)
    out = aug.apply(x, p)
    expected = torch.zeros_like(x)
    for i, (dy, dx) in enumerate(p.crop.tolist()):
        for r in range(8):
            for c in range(12):
                if 0 <= r - dy < 8 and 0 <= c - dx < 12:
                    expected[i, :, r, c] = x[i, :, r - dy, c - dx]
    assert torch.equal(out, expected)


# ----------------------------------------------------------------- flip
def test_flip_probability_one_and_zero() -> None:
    x = torch.randn(4, 3, 5, 6)
    assert torch.equal(DiffAugment("flip", flip_prob=1.0)(x), x.flip(3))
    assert torch.equal(DiffAugment("flip", flip_prob=0.0)(x), x)


def test_flip_is_per_sample() -> None:
    x = torch.randn(5, 1, 4, 4)
    p = _params(ops=("flip",), n=5, height=4, width=4, flip=torch.tensor([True, False, True, False, False]))
    out = DiffAugment("flip").apply(x, p)
    for i, f in enumerate(p.flip.tolist()):
        assert torch.equal(out[i], x[i].flip(2) if f else x[i])


# ----------------------------------------------------------------- cutout
def test_cutout_interior_hole() -> None:
    x = torch.ones(1, 2, 8, 8)
    aug = DiffAugment("cutout", cutout=0.5)  # hole 4x4
    out = aug.apply(x, _params(ops=("cutout",), cutout=torch.tensor([[4, 3]]), cutout_size=(4, 4)))
    expected = torch.ones_like(x)
    expected[:, :, 2:6, 1:5] = 0  # rows cy-2..cy+1, cols cx-2..cx+1
    assert torch.equal(out, expected)
    assert int((out == 0).sum()) == 2 * 16


def test_cutout_random_draws_clip_at_borders() -> None:
    aug = DiffAugment("cutout", cutout=0.5)
    p = aug.sample(64, 8, 8, "cpu", _gen(1))
    assert p.cutout_size == (4, 4) and p.cutout.min() >= 0 and p.cutout.max() <= 8
    zeros = (aug.apply(torch.ones(64, 1, 8, 8), p) == 0).sum(dim=(1, 2, 3))
    for (cy, cx), z in zip(p.cutout.tolist(), zeros.tolist()):
        rows = min(cy + 2, 8) - max(cy - 2, 0)
        cols = min(cx + 2, 8) - max(cx - 2, 0)
        assert z == rows * cols and z > 0


# ----------------------------------------------------------------- color
def _color(x: torch.Tensor, b: float, s: float, c: float, **kw) -> torch.Tensor:
    p = _params(ops=("color",), height=x.shape[2], width=x.shape[3],
                brightness=torch.tensor([b]), saturation=torch.tensor([s]), contrast=torch.tensor([c]))
    return DiffAugment("color", **kw).apply(x, p)


def test_brightness_on_constant_image() -> None:
    x = torch.full((1, 3, 4, 4), 0.3)
    # brightness: 0.3 + (0.75 - 0.5) * 1.0; saturation and contrast leave a constant image alone.
    assert torch.allclose(_color(x, 0.75, 0.9, 0.1), torch.full_like(x, 0.55))


def test_saturation_formula() -> None:
    x = torch.tensor([0.2, 0.4, 0.9]).view(1, 3, 1, 1).expand(1, 3, 4, 4).contiguous()
    # u_b = 0.5: no brightness; saturation factor 0.25 * 2 = 0.5 around channel mean 0.5;
    # contrast factor 0.5 + 0.5 = 1 is the identity.
    out = _color(x, 0.5, 0.25, 0.5)
    expected = torch.tensor([0.35, 0.45, 0.7]).view(1, 3, 1, 1).expand_as(x)
    assert torch.allclose(out, expected)


def test_contrast_formula() -> None:
    x = torch.zeros(1, 1, 2, 2)
    x[0, 0, 0, 0] = 4.0  # image mean 1.0
    # saturation with one channel is a no-op; contrast factor 0.0 + 0.5.
    out = _color(x, 0.5, 0.3, 0.0)
    expected = torch.tensor([[2.5, 0.5], [0.5, 0.5]]).view(1, 1, 2, 2)
    assert torch.allclose(out, expected)


# ----------------------------------------------------------------- geometric
def test_identity_scale_and_rotation() -> None:
    x = torch.randn(4, 3, 9, 7)
    assert torch.allclose(DiffAugment("scale", scale=1.0)(x), x, atol=1e-5)
    assert torch.allclose(DiffAugment("rotate", rotate_degrees=0.0)(x), x, atol=1e-5)


def test_scale_theta_layout() -> None:
    x = torch.randn(2, 1, 6, 6)
    aug = DiffAugment("scale")
    flip_w = _params(ops=("scale",), height=6, width=6, scale=torch.tensor([[-1.0, 1.0]]))
    flip_h = _params(ops=("scale",), height=6, width=6, scale=torch.tensor([[1.0, -1.0]]))
    assert torch.allclose(aug.apply(x, flip_w), x.flip(3), atol=1e-5)  # sx acts on width
    assert torch.allclose(aug.apply(x, flip_h), x.flip(2), atol=1e-5)


def test_rotate_quarter_turn() -> None:
    x = torch.randn(2, 2, 5, 5)
    p = _params(ops=("rotate",), height=5, width=5, rotate=torch.tensor([math.pi / 2]))
    # theta [[cos, sin], [-sin, cos]] with angle pi/2 is a clockwise quarter turn.
    assert torch.allclose(DiffAugment("rotate").apply(x, p), torch.rot90(x, -1, (2, 3)), atol=1e-5)


def test_sampled_ranges() -> None:
    aug = DiffAugment("scale_rotate", mode="all", scale=1.2, rotate_degrees=15.0)
    p = aug.sample(500, 8, 8, "cpu", _gen(0))
    assert p.ops == ("scale", "rotate")
    assert p.scale.min() >= 1 / 1.2 and p.scale.max() <= 1.2
    assert p.rotate.abs().max() <= math.radians(15.0) + 1e-6
    assert p.rotate.min() < 0 < p.rotate.max()


# ----------------------------------------------------------------- modes, sharing, draws
def test_single_mode_picks_one_op_uniformly() -> None:
    aug = DiffAugment()
    g = _gen(0)
    picks = [aug.sample(2, 8, 8, "cpu", g).ops for _ in range(300)]
    assert all(len(ops) == 1 for ops in picks)
    assert {ops[0] for ops in picks} == set(AUGMENT_OPS)
    assert DiffAugment(mode="all").sample(2, 8, 8, "cpu").ops == AUGMENT_OPS


def test_shared_params_have_one_row() -> None:
    p = DiffAugment(mode="all").sample(7, 8, 8, "cpu", _gen(0), shared=True)
    for t in (p.brightness, p.saturation, p.contrast, p.scale, p.rotate, p.flip, p.crop, p.cutout):
        assert t.shape[0] == 1


@pytest.mark.parametrize("strategy", list(AUGMENT_OPS) + ["color_crop_cutout_flip_scale_rotate"])
@pytest.mark.parametrize("mode", ["single", "all"])
def test_pair_applies_identical_transform(strategy: str, mode: str) -> None:
    aug = DiffAugment(strategy, mode=mode)
    real = torch.randn(5, 3, 8, 8)
    syn = torch.cat([real[:2], torch.randn(1, 3, 8, 8)])  # different batch size, shares two images
    for seed in range(4):
        out_real, out_syn = aug.pair(real, syn, rng=_gen(seed))
        assert out_real.shape == real.shape and out_syn.shape == syn.shape
        assert torch.allclose(out_real[:2], out_syn[:2], atol=1e-6)


def test_pair_transform_is_the_same_for_every_sample() -> None:
    x = torch.randn(1, 1, 8, 8).expand(4, 1, 8, 8)
    for seed in range(6):
        a, b = DiffAugment(mode="all").pair(x, x[:1], rng=_gen(seed))
        assert torch.allclose(a, b.expand_as(a), atol=1e-6)


@pytest.mark.parametrize("strategy", ["color", "crop", "cutout", "flip", "scale", "rotate"])
def test_per_sample_draws_differ(strategy: str) -> None:
    x = torch.randn(1, 3, 8, 8).expand(16, 3, 8, 8)
    out = DiffAugment(strategy)(x, rng=_gen(0))
    distinct = {tuple(o.flatten().round(decimals=4).tolist()) for o in out}
    assert len(distinct) > 1


def test_same_seed_same_output_and_different_seed_differs() -> None:
    aug = DiffAugment(mode="all")
    x = torch.randn(4, 3, 8, 8)
    assert torch.equal(aug(x, rng=_gen(7)), aug(x, rng=_gen(7)))
    assert not torch.equal(aug(x, rng=_gen(7)), aug(x, rng=_gen(8)))
    torch.manual_seed(5)
    first = aug(x)
    torch.manual_seed(5)
    assert torch.equal(first, aug(x))


@pytest.mark.parametrize("strategy", list(AUGMENT_OPS))
def test_gradients_flow(strategy: str) -> None:
    x = torch.randn(3, 3, 8, 8, requires_grad=True)
    kw = {"flip_prob": 1.0} if strategy == "flip" else {}
    out = DiffAugment(strategy, mode="all", **kw)(x, rng=_gen(0))
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gradient_through_full_pipeline_and_pair() -> None:
    syn = torch.randn(2, 3, 8, 8, requires_grad=True)
    real = torch.randn(6, 3, 8, 8)
    a, b = DiffAugment(mode="all").pair(real, syn, rng=_gen(1))
    ((a.mean(0) - b.mean(0)) ** 2).sum().backward()
    assert torch.isfinite(syn.grad).all() and syn.grad.abs().sum() > 0


# ----------------------------------------------------------------- validation
def test_unknown_op_and_mode() -> None:
    with pytest.raises(ValueError, match=r"blur.*color"):
        DiffAugment("crop_blur")
    with pytest.raises(ValueError, match="mode"):
        DiffAugment(mode="some")
    with pytest.raises(ValueError, match="scale"):
        DiffAugment(scale=0.5)


def test_none_strategy_is_identity() -> None:
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(DiffAugment("none")(x), x)


def test_apply_checks_shapes() -> None:
    aug = DiffAugment("crop")
    p = aug.sample(3, 8, 8, "cpu")
    with pytest.raises(ValueError, match="8x8"):
        aug.apply(torch.randn(3, 1, 6, 6), p)
    with pytest.raises(ValueError, match="3 samples"):
        aug.apply(torch.randn(2, 1, 8, 8), p)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_follow_input_device() -> None:
    x = torch.randn(4, 3, 8, 8, device="cuda", requires_grad=True)
    g = torch.Generator(device="cuda").manual_seed(0)
    out = DiffAugment(mode="all")(x, rng=g)
    a, b = DiffAugment().pair(x, x[:2], rng=g)
    assert out.device == a.device == b.device == x.device
    (out.sum() + a.sum()).backward()
    assert torch.isfinite(x.grad).all()
