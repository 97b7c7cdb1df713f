"""FRePo (pixel optimisation of the feature-regression objective): objective, labels, options, resume."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mgdd import distill, evaluate
from mgdd.baselines import centred_targets, list_snapshots
from mgdd.iterative import iteration_seed
from mgdd.ridge import ridge_predict, solve_labels
from mgdd.nets import seeded_network


@pytest.fixture(scope="module")
def small_digits(digits_train):
    return digits_train.balanced_subset(40, seed=0)


def test_centred_targets_are_one_hot_minus_one_over_c():
    got = centred_targets(torch.tensor([0, 2]), 4)
    torch.testing.assert_close(got, torch.tensor([[0.75, -0.25, -0.25, -0.25], [-0.25, -0.25, 0.75, -0.25]]))


def _held_out_regression_error(syn, data, seeds):
    """MSE of the ridge head fitted on (syn images, syn labels) predicting all of ``data``, over unseen networks."""
    targets = centred_targets(data.labels, data.num_classes).double()
    total = 0.0
    for seed in seeds:
        net = seeded_network("ConvNet", 1, data.num_classes, 8, seed).requires_grad_(False)
        prediction = ridge_predict(net.embed(syn.images), syn.labels, net.embed(data.images), 1e-6)
        total += F.mse_loss(prediction, targets).item()
    return total


@pytest.mark.parametrize("model_pool", ["online", "random"])
def test_frepo_lowers_the_regression_error_on_unseen_networks(small_digits, model_pool, margin_seed, check_bound):
    options = dict(ipc=2, model_pool=model_pool, pool_size=2, max_online_updates=10, width=32, lr_img=0.01,
                   lr_label=0.01, seed=margin_seed,
                   progress=False)
    initial = distill("frepo", small_digits, iterations=0, **options)
    final = distill("frepo", small_digits, iterations=25, **options)
    seeds = range(3000, 3004)
    # random features, not the trained pool's: the online objective lowers this less. Seeds 0-3 on 1 thread and
    # seed 0 on 2 threads: online 0.90-0.93, random 0.87-0.90 (lr 0.01; at 3e-3 both stayed near 0.94)
    ratio = _held_out_regression_error(final, small_digits, seeds) / _held_out_regression_error(initial, small_digits, seeds)
    check_bound(f"frepo ({model_pool} pool) held-out regression error after / before", ratio, "<", 0.98)
    assert final.labels.is_floating_point() and not torch.equal(final.labels, initial.labels)


def test_least_squares_label_init_is_the_closed_form_solve(small_digits):
    syn = distill("frepo", small_digits, ipc=2, iterations=0, label_init="least-squares", width=32, batch_real=8,
                  seed=3, progress=False)
    # the solve uses the network seeded like iteration 0's and the real batch drawn at iteration 0
    net = seeded_network("ConvNet", 1, 10, 8, iteration_seed(3, 0) + 3, width=32).requires_grad_(False)
    rng = torch.Generator().manual_seed(iteration_seed(3, 0))
    picks = [idx[torch.randperm(len(idx), generator=rng)[:8]] for idx in small_digits.class_index]
    real = torch.cat(picks)
    expected = solve_labels(net.embed(syn.images), net.embed(small_digits.images[real]),
                            centred_targets(small_digits.labels[real], 10), 1e-6)
    torch.testing.assert_close(syn.labels, expected.float(), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(syn.labels, centred_targets(torch.arange(10).repeat_interleave(2), 10), atol=1e-2)


def test_fixed_labels_stay_and_platt_learns_its_scale(small_digits):
    fixed = distill("frepo", small_digits, ipc=1, iterations=3, learn_labels=False, width=32, progress=False)
    torch.testing.assert_close(fixed.labels, centred_targets(torch.arange(10), 10))
    initial = distill("frepo", small_digits, ipc=1, iterations=0, width=32, progress=False)
    assert not torch.equal(fixed.images, initial.images)
    platt = distill("frepo", small_digits, ipc=1, iterations=3, loss="platt", width=32, progress=False)
    # the scale starts at 1 (log-scale 0) and is learned: after 3 Adam steps at lr 3e-3 it has moved by about 3e-3 x 3
    assert platt.metadata["loss"] > 0 and abs(platt.metadata["platt_scale"] - 1.0) > 1e-3
    assert "platt_scale" not in fixed.metadata  # the MSE objective has no scale


def test_frepo_sets_are_evaluated_with_mse_on_their_labels(small_digits, digits_test):
    syn = distill("frepo", small_digits, ipc=1, iterations=2, width=32, progress=False)
    assert (syn.labels < 0).any()  # centred regression targets, not distributions
    assert evaluate(syn, digits_test, models=1, epochs=2, progress=False).loss == "mse"


def test_frepo_resumes_exactly_with_a_random_pool(small_digits, tmp_path):
    options = dict(ipc=1, model_pool="random", width=32, progress=False)
    straight = distill("frepo", small_digits, iterations=4, **options)
    distill("frepo", small_digits, iterations=2, snapshot_dir=str(tmp_path), **options)
    resumed = distill("frepo", small_digits, iterations=4, snapshot_dir=str(tmp_path), **options)
    torch.testing.assert_close(resumed.images, straight.images, rtol=0, atol=0)
    torch.testing.assert_close(resumed.labels, straight.labels, rtol=0, atol=0)
    assert [i for i, _ in list_snapshots(tmp_path)] == [2, 4]


@pytest.mark.parametrize("options, message", [
    (dict(model_pool="frozen"), "model_pool"), (dict(loss="ce"), "loss"), (dict(label_init="zeros"), "label_init"),
    (dict(pool_size=0), "pool_size"), (dict(ridge=0.0), "ridge"), (dict(init="kcenter"), "init"),
])
def test_frepo_rejects_bad_options(small_digits, options, message):
    with pytest.raises(ValueError, match=message):
        distill("frepo", small_digits, ipc=1, iterations=1, progress=False, **options)
