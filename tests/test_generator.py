"""Conditional generator, task sampling and the shared distillation step."""

import math

import pytest
import torch

from mgdd.ridge import DEFAULT_RIDGE, ridge_predict
from mgdd.generator.network import ConditionalGenerator
from mgdd.generator.step import (
    distillation_loss, guidance, random_feature_net, relative_mean_mismatch, sample_task, synthesize,
)


def test_fresh_generator_is_the_identity_at_any_resolution():
    gen = ConditionalGenerator(channels=1, width=16, code_dim=16, blocks=2)
    for size in (8, 28, 33):
        x = torch.randn(5, 1, size, size)
        codes = torch.randn(5, 16)
        assert torch.equal(gen.transform(x, codes, torch.randn(16)), x)
        assert torch.equal(gen.transform(x, codes, torch.randn(16), guide=torch.randn_like(x)), x)
        labels = torch.tensor([0, 1, 1, 0, 1])
        assert torch.equal(gen(x, labels, x, labels, 2), x)


def test_generator_rejects_wrong_channels():
    gen = ConditionalGenerator(channels=1, width=16, code_dim=16, blocks=1)
    with pytest.raises(ValueError, match="1-channel"):
        gen.transform(torch.randn(2, 3, 8, 8), torch.randn(2, 16), torch.randn(16))


def test_class_codes_are_class_means():
    gen = ConditionalGenerator(channels=1, width=16, code_dim=8, blocks=1)
    support = torch.randn(6, 1, 8, 8)
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    class_codes, dataset_code = gen.task_codes(support, labels, 3)
    codes = gen.encoder(support)
    assert torch.allclose(class_codes[1], codes[2:5].mean(0), atol=1e-6)
    assert torch.allclose(dataset_code, class_codes.mean(0), atol=1e-6)


def test_sample_task_draws_balanced_batches(digits_train):
    g = torch.Generator().manual_seed(0)
    classes = torch.tensor([3, 7, 9])
    task = sample_task(digits_train, ipc=4, rng=g, classes=classes, real_per_class=5, support_per_class=2)
    assert task.num_classes == 3
    assert task.initial.shape == (12, 1, 8, 8)
    assert task.initial_labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert task.real_targets.sum(0).tolist() == [5.0, 5.0, 5.0]
    assert task.query_targets.sum(0).tolist() == [5.0, 5.0, 5.0]
    # the relabelled initial samples really come from classes 3, 7, 9
    flat = digits_train.images.flatten(1)
    first = (flat == task.initial[0].flatten()).all(1).nonzero().flatten()
    assert digits_train.labels[first[0]] == 3
    # real and query batches are disjoint draws
    real = {tuple(r.tolist()) for r in task.real.flatten(1)}
    query = {tuple(r.tolist()) for r in task.query.flatten(1)}
    assert not real & query


def test_fixed_initial_indices_are_kept(digits_train):
    initial = digits_train.balanced_indices(2, seed=5)
    a = sample_task(digits_train, 2, torch.Generator().manual_seed(0), initial_indices=initial)
    b = sample_task(digits_train, 2, torch.Generator().manual_seed(1), initial_indices=initial)
    assert torch.equal(a.initial, b.initial)
    assert not torch.equal(a.real, b.real)


def test_random_feature_nets_are_seeded_and_frozen():
    a = random_feature_net(1, (8, 8), width=16, rng=torch.Generator().manual_seed(3))
    b = random_feature_net(1, (8, 8), width=16, rng=torch.Generator().manual_seed(3))
    c = random_feature_net(1, (8, 8), width=16, rng=torch.Generator().manual_seed(4))
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(a.embed(x), b.embed(x)) and not torch.equal(a.embed(x), c.embed(x))
    assert not any(p.requires_grad for p in a.parameters())


def test_training_steps_lower_the_loss_on_real_data(digits_train, margin_seed, check_bound):
    torch.manual_seed(margin_seed)
    gen = ConditionalGenerator(channels=1, width=16, code_dim=16, blocks=2)
    optimizer = torch.optim.Adam(gen.parameters(), lr=3e-3)
    initial = digits_train.balanced_indices(1, seed=margin_seed)
    net = random_feature_net(1, (8, 8), width=32, rng=torch.Generator().manual_seed(margin_seed))
    task = sample_task(digits_train, 1, torch.Generator().manual_seed(margin_seed), initial_indices=initial,
                       real_per_class=20)
    start, _ = distillation_loss(gen, task, net)
    for _ in range(30):
        loss, stats = distillation_loss(gen, task, net)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    end, _ = distillation_loss(gen, task, net)
    check_bound("ridge loss after 30 steps / before", end.item() / start.item(), "<", 0.9)
    real_features = net.embed(task.real)
    assert synthesize(gen, task, net, real_features).shape == task.initial.shape


def test_guidance_points_downhill_on_the_ridge_loss(digits_train):
    from mgdd.generator.step import ridge_loss

    task = sample_task(digits_train, 2, torch.Generator().manual_seed(0), real_per_class=10)
    net = random_feature_net(1, (8, 8), width=32, rng=torch.Generator().manual_seed(0))
    real = net.embed(task.real)

    def loss_of(images):
        return ridge_loss(net.embed(images), real, task.real_targets, real, task.real_targets, 1e-3, 1e-4)[0]

    guide = guidance(task.initial, net, real, task.real_targets)
    assert guide.pow(2).mean().item() == pytest.approx(1.0, rel=1e-5)
    with torch.no_grad():
        before = loss_of(task.initial)
        after = loss_of(task.initial - 1e-3 * guide)
    assert after < before


def test_feature_pool_serves_cached_real_features(digits_train):
    from mgdd.generator.step import FeaturePool

    pool = FeaturePool(digits_train, size=2, per_class=20, width=16, seed=0)
    assert len(pool) == 2 and len(pool.index) == 200
    task = sample_task(digits_train, 2, torch.Generator().manual_seed(0), real_per_class=5, pool=pool)
    assert task.real is None and task.real_features.shape == (50, pool.features[0].shape[1])
    assert task.guide_net != task.pool_net and task.guide_features.shape == task.real_features.shape
    # the cached features are the network's features of the real samples the targets describe
    net = pool.nets[task.pool_net]
    pairs = (pool.features[task.pool_net][:, None, :] == task.real_features[None]).all(2).nonzero()
    positions = pairs[pairs[:, 1].argsort(), 0]  # pool position of every task row, in task order
    real_images = digits_train.images[pool.index[positions]]
    assert torch.allclose(net.embed(real_images), task.real_features, atol=1e-5)
    assert torch.equal(task.real_targets.argmax(1), digits_train.labels[pool.index[positions]])
    loss, _ = distillation_loss(ConditionalGenerator(1, 16, 16, 1), task, net)
    assert torch.isfinite(loss)


def test_relative_mean_mismatch_matches_a_hand_computation():
    real = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    targets = torch.nn.functional.one_hot(torch.tensor([0, 0, 1]), 2).float()
    syn = torch.tensor([[2.0, 1.0], [0.0, 0.0]])
    # real means (2, 0), (0, 2); synthetic (2, 1), (0, 0): (1 + 4) / (4 + 4)
    value = relative_mean_mismatch(syn, torch.tensor([0, 1]), real, targets, 2)
    assert value.item() == pytest.approx(5 / 8)
    assert relative_mean_mismatch(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 1]), real, targets,
                                  2).item() == 0


def test_mean_term_is_added_and_trained_down(digits_train, margin_seed, check_bound):
    torch.manual_seed(margin_seed)
    gen = ConditionalGenerator(channels=1, width=16, code_dim=16, blocks=2)
    optimizer = torch.optim.Adam(gen.parameters(), lr=3e-3)
    net = random_feature_net(1, (8, 8), width=32, rng=torch.Generator().manual_seed(margin_seed))
    task = sample_task(digits_train, 2, torch.Generator().manual_seed(margin_seed), real_per_class=20)
    plain, plain_stats = distillation_loss(gen, task, net)
    loss, stats = distillation_loss(gen, task, net, mean_weight=2.0)
    assert "mean_mismatch" not in plain_stats and stats["mean_mismatch"] > 0
    assert loss.item() == pytest.approx(plain.item() + 2.0 * stats["mean_mismatch"], rel=1e-5)
    start = stats["mean_mismatch"]
    for _ in range(30):
        loss, stats = distillation_loss(gen, task, net, mean_weight=2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    check_bound("mean mismatch after 30 steps / before", stats["mean_mismatch"] / start, "<", 0.7)


def test_platt_loss_is_the_scaled_cross_entropy_of_the_ridge_predictions(digits_train):
    torch.manual_seed(0)
    gen = ConditionalGenerator(channels=1, width=16, code_dim=16, blocks=2)
    net = random_feature_net(1, (8, 8), width=32, rng=torch.Generator().manual_seed(0))
    task = sample_task(digits_train, 2, torch.Generator().manual_seed(0), real_per_class=20)
    outputs = {}
    mse, mse_stats = distillation_loss(gen, task, net, outputs=outputs)
    log_scale = torch.tensor(math.log(5.0), requires_grad=True)
    platt, stats = distillation_loss(gen, task, net, platt_log_scale=log_scale)
    assert stats["loss"] == pytest.approx(mse_stats["loss"]) and stats["platt_scale"] == pytest.approx(5.0)
    # by hand: the ridge head fitted on the synthetic set with its solved labels, on the query batch
    syn_features, query_features = net.embed(outputs["synthetic"]), net.embed(task.query)
    prediction = ridge_predict(syn_features, outputs["labels"].double(), query_features, DEFAULT_RIDGE)
    expected = torch.nn.functional.cross_entropy(5.0 * prediction, task.query_targets.argmax(1))
    assert platt.item() == pytest.approx(expected.item(), rel=1e-4)
    platt.backward()
    assert log_scale.grad is not None and log_scale.grad.item() != 0


def test_chunked_inference_equals_one_batch(digits_train, monkeypatch):
    """Guidance, embedding and generation run in cache-sized chunks on CPU; the chunking must not change them."""
    from mgdd import device as device_module
    from mgdd.nets.features import embed

    torch.manual_seed(0)
    gen = ConditionalGenerator(channels=1, width=16, code_dim=16, blocks=2)
    torch.nn.init.normal_(gen.out.weight, std=0.1)  # away from the identity, so the map matters
    net = random_feature_net(1, (8, 8), width=32, rng=torch.Generator().manual_seed(0))
    task = sample_task(digits_train, 5, torch.Generator().manual_seed(1), real_per_class=10)
    real_features = net.embed(task.real).detach()

    def run():
        with torch.no_grad():
            images = synthesize(gen, task, net, real_features)
        return (guidance(task.initial, net, real_features, task.real_targets), embed(net, task.real), images)

    monkeypatch.setattr(device_module, "CPU_INFERENCE_CHUNK", 3)  # 50 samples -> 17 chunks
    chunked = run()
    monkeypatch.setattr(device_module, "CPU_INFERENCE_CHUNK", 10_000)
    whole = run()
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert chunked[0].abs().sum() > 0


def test_generated_pixels_stay_in_the_range_of_real_ones(digits_train):
    gen = ConditionalGenerator(channels=1, width=16, code_dim=8, blocks=1)
    with torch.no_grad():
        gen.out.bias.fill_(50.0)  # a generator that pushes every pixel far above the data
    task = sample_task(digits_train, 2, torch.Generator().manual_seed(0), real_per_class=4)
    real = torch.cat([task.initial, task.support])
    out = synthesize(gen, task, None)
    assert out.max().item() == pytest.approx(real.max().item()) and out.min().item() >= real.min().item()
    assert synthesize(gen, task, None, clamp=False).min().item() > real.max().item() + 40  # unclamped: far above
    with torch.no_grad():
        gen.out.bias.fill_(0.0)
    assert torch.equal(synthesize(gen, task, None), task.initial)  # real samples are untouched
    gen.out.bias.data.fill_(-1e-3)  # in range: the output keeps its gradient
    synthesize(gen, task, None).sum().backward()
    assert gen.out.bias.grad.item() > 0
