"""Multi-formation: tiling and decoding by hand, sets that store it, methods that learn it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mgdd import SyntheticSet, distill, evaluate
from mgdd.formation import decode_formation, encode_formation


def test_encode_puts_each_sample_downsampled_in_its_tile_row_major():
    samples = torch.arange(4 * 16, dtype=torch.float32).reshape(4, 1, 4, 4)
    stored = encode_formation(samples, 2)
    assert stored.shape == (1, 1, 4, 4)
    pooled = F.avg_pool2d(samples, 2)  # (4, 1, 2, 2)
    torch.testing.assert_close(stored[0, 0, :2, :2], pooled[0, 0])
    torch.testing.assert_close(stored[0, 0, :2, 2:], pooled[1, 0])
    torch.testing.assert_close(stored[0, 0, 2:, :2], pooled[2, 0])
    torch.testing.assert_close(stored[0, 0, 2:, 2:], pooled[3, 0])


def test_decode_upsamples_every_tile_and_inverts_encode_on_smooth_images():
    constant_tiles = torch.tensor([[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0],
                                   [3.0, 3.0, 4.0, 4.0]]).reshape(1, 1, 4, 4)
    decoded = decode_formation(constant_tiles, 2)
    assert decoded.shape == (4, 1, 4, 4)
    for index, value in enumerate([1.0, 2.0, 3.0, 4.0]):
        torch.testing.assert_close(decoded[index], torch.full((1, 4, 4), value))
    flat = torch.full((8, 3, 6, 6), 0.5)
    torch.testing.assert_close(decode_formation(encode_formation(flat, 2), 2), flat)
    assert decode_formation(flat, 1) is flat


def test_decode_is_differentiable_and_checks_its_input():
    stored = torch.randn(2, 1, 4, 4, requires_grad=True)
    decode_formation(stored, 2).sum().backward()
    assert stored.grad is not None and stored.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="3x3 grid"):
        decode_formation(torch.zeros(1, 1, 4, 4), 3)
    with pytest.raises(ValueError, match="slots of 4"):
        encode_formation(torch.zeros(3, 1, 4, 4), 2)


def _set(formation: int, n_labels: int) -> SyntheticSet:
    return SyntheticSet(torch.randn(2, 1, 8, 8), torch.arange(n_labels) % 2, 2, ["a", "b"], (0.0,), (1.0,),
                        metadata={"method": "test"}, formation=formation)


def test_a_multi_formation_set_counts_stored_images_trains_on_decoded_ones_and_round_trips(tmp_path):
    syn = _set(2, 8)
    assert len(syn) == 2 and syn.decoded().images.shape == (8, 1, 8, 8) and len(syn.to_torch()) == 8
    with pytest.raises(ValueError, match="one per decoded sample"):
        _set(2, 2)
    with pytest.raises(ValueError, match="formation"):
        _set(0, 2)
    loaded = SyntheticSet.load(syn.save(tmp_path / "set"))
    assert loaded.formation == 2
    torch.testing.assert_close(loaded.images, syn.images, rtol=0, atol=0)
    torch.testing.assert_close(loaded.labels, syn.labels, rtol=0, atol=0)


def test_frepo_learns_a_multi_formation_set_and_other_methods_refuse_it(digits_train, digits_test):
    small = digits_train.balanced_subset(40, seed=0)
    syn = distill("frepo", small, ipc=1, iterations=2, formation=2, width=32, progress=False)
    assert syn.formation == 2 and syn.images.shape == (10, 1, 8, 8) and syn.labels.shape == (40, 10)
    assert syn.ipc == 1 and syn.hard_labels.tolist() == torch.arange(10).repeat_interleave(4).tolist()
    assert evaluate(syn, digits_test, models=1, epochs=2, progress=False).models == 1
    with pytest.raises(ValueError, match="does not support"):
        distill("dm", small, ipc=1, iterations=1, formation=2, progress=False)
