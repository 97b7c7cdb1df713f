"""The evaluation protocol on real (tiny) data: it learns, it is seeded, it checks its inputs."""

import pytest
import torch
import torch.nn.functional as F

import mgdd
from mgdd.training import label_loss, resolve_loss, train_network

SMALL_NET = {"width": 16}


def _real_set(train, ipc=10, seed=0):
    return mgdd.distill("random", train, ipc, seed=seed)


def test_learns_from_real_samples_and_not_from_shuffled_labels(digits_train, digits_test, margin_seed, check_bound):
    syn = _real_set(digits_train, seed=margin_seed)
    kwargs = dict(models=2, epochs=100, seed=margin_seed, progress=False, net_options=SMALL_NET)
    good = mgdd.evaluate(syn, digits_test, **kwargs)
    shuffle = torch.randperm(len(syn), generator=torch.Generator().manual_seed(margin_seed))
    shuffled = mgdd.SyntheticSet(syn.images, syn.labels[shuffle], syn.num_classes, syn.class_names, syn.mean, syn.std)
    bad = mgdd.evaluate(shuffled, digits_test, **kwargs)
    # seeds 0-4 on 1 and 2 threads (benchmarks/results/test_margins.md): real labels 71-79 %, shuffled 8-11 %;
    # the former bound of 75 % failed at two of five seeds. Chance is 10 %.
    check_bound("accuracy on 10 real digits per class", good.mean, ">", 60.0)
    # seeds 0-4, 1 and 2 threads: 7.7-10.6 % (chance: 10 %; benchmarks/results/test_margins.md)
    check_bound("accuracy with shuffled labels", bad.mean, "<", 16.0)
    assert good.models == 2 and len(good.accuracies) == 2
    assert good.std == pytest.approx(torch.tensor(good.accuracies, dtype=torch.float64).std(unbiased=False).item())


def test_same_seed_same_accuracy_other_seed_differs(digits_train, digits_test):
    syn = _real_set(digits_train, ipc=5)
    kwargs = dict(models=1, epochs=15, progress=False, net_options=SMALL_NET)
    a = mgdd.evaluate(syn, digits_test, seed=3, **kwargs)
    b = mgdd.evaluate(syn, digits_test, seed=3, **kwargs)
    c = mgdd.evaluate(syn, digits_test, seed=4, **kwargs)
    assert a.accuracies == b.accuracies
    assert a.accuracies != c.accuracies


def test_cross_architecture_returns_one_result_per_arch(digits_train, digits_test):
    syn = _real_set(digits_train, ipc=2)
    results = mgdd.evaluate(syn, digits_test, arch=["ConvNetW16", "MLP"], models=1, epochs=3, progress=False)
    assert set(results) == {"ConvNetW16", "MLP"}
    assert all(r.arch == name and r.epochs == 3 and r.models == 1 for name, r in results.items())
    assert results["ConvNetW16"].accuracies != results["MLP"].accuracies  # two networks, trained apart


def test_a_protocol_is_passed_around_and_overridden_by_single_settings(digits_train, digits_test):
    syn = _real_set(digits_train, ipc=2)
    protocol = mgdd.Protocol(epochs=4, lr=0.02, augment=False)
    kwargs = dict(models=1, progress=False, net_options=SMALL_NET)
    given = mgdd.evaluate(syn, digits_test, protocol=protocol, **kwargs)
    assert (given.epochs, given.lr, given.augment) == (4, 0.02, False)
    assert given.accuracies == mgdd.evaluate(syn, digits_test, epochs=4, lr=0.02, augment=False, **kwargs).accuracies
    overridden = mgdd.evaluate(syn, digits_test, protocol=protocol, epochs=2, **kwargs)
    assert (overridden.epochs, overridden.lr) == (2, 0.02) and protocol.epochs == 4
    with pytest.raises(TypeError, match="unknown settings \\['epoch'\\]"):
        mgdd.evaluate(syn, digits_test, epoch=3, **kwargs)
    with pytest.raises(ValueError, match="epochs"):
        mgdd.Protocol(epochs=0)


def test_learned_lr_is_used_unless_overridden(digits_train, digits_test):
    syn = _real_set(digits_train, ipc=2)
    syn.learned_lr = 0.003
    kwargs = dict(models=1, epochs=1, progress=False, net_options=SMALL_NET)
    assert mgdd.evaluate(syn, digits_test, **kwargs).lr == pytest.approx(0.003)
    assert mgdd.evaluate(syn, digits_test, lr=0.02, **kwargs).lr == pytest.approx(0.02)
    syn.learned_lr = None
    assert mgdd.evaluate(syn, digits_test, **kwargs).lr == pytest.approx(0.01)


def test_soft_label_losses_match_hand_computation():
    outputs = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    hard = torch.tensor([0, 2])
    one_hot = F.one_hot(hard, 3).float()
    assert label_loss(outputs, one_hot, "soft_ce") == pytest.approx(F.cross_entropy(outputs, hard).item())
    expected_mse = ((outputs - one_hot) ** 2).mean().item()
    assert label_loss(outputs, one_hot, "mse") == pytest.approx(expected_mse)
    assert label_loss(outputs, hard, "mse") == pytest.approx(expected_mse)


def test_auto_loss_choice():
    assert resolve_loss(torch.tensor([0, 1]), "auto") == "ce"
    assert resolve_loss(torch.tensor([[0.2, 0.8], [1.0, 0.0]]), "auto") == "soft_ce"
    assert resolve_loss(torch.tensor([[1.3, -0.2], [0.1, 0.4]]), "auto") == "mse"
    with pytest.raises(ValueError, match="soft labels"):
        resolve_loss(torch.tensor([0, 1]), "soft_ce")
    with pytest.raises(ValueError, match="unknown loss"):
        resolve_loss(torch.tensor([0, 1]), "hinge")


def test_soft_labels_train(digits_train, digits_test, margin_seed, check_bound):
    syn = _real_set(digits_train, ipc=10, seed=margin_seed)
    soft = mgdd.SyntheticSet(
        syn.images, F.one_hot(syn.labels, 10).float() * 0.9 + 0.01, 10, syn.class_names, syn.mean, syn.std
    )
    result = mgdd.evaluate(soft, digits_test, models=1, epochs=100, seed=margin_seed, progress=False,
                           net_options=SMALL_NET)
    assert result.loss == "soft_ce"
    # seeds 0-4, 1 and 2 threads: 68-78 % (the former bound of 70 % failed at one seed); chance is 10 %
    check_bound("accuracy with soft labels", result.mean, ">", 55.0)


def test_rejects_incompatible_test_data(digits_train, digits_test):
    syn = _real_set(digits_train, ipc=1)
    larger = mgdd.from_tensors(torch.nn.functional.interpolate(digits_test.denormalize(), size=(28, 28)),
                               digits_test.labels)  # 28x28 test images for an 8x8 set: needs digits only
    with pytest.raises(ValueError, match="test images"):
        mgdd.evaluate(syn, larger, models=1, epochs=1, progress=False)
    shifted = mgdd.from_tensors(digits_test.denormalize(), digits_test.labels, mean=(0.5,), std=(0.5,))
    with pytest.raises(ValueError, match="normalised"):
        mgdd.evaluate(syn, shifted, models=1, epochs=1, progress=False)
    with pytest.raises(ValueError, match=">= 1"):
        mgdd.evaluate(syn, digits_test, models=0, epochs=1, progress=False)
    with pytest.raises(KeyError, match="available"):
        mgdd.evaluate(syn, digits_test, arch="NoSuchNet", models=1, epochs=1, progress=False)


def test_chunked_training_equals_whole_batches():
    """Gradients accumulated over chunks of a batch are the batch's gradients: in float64 the nets agree."""
    rng = torch.Generator().manual_seed(0)
    images = torch.randn(20, 1, 8, 8, generator=rng, dtype=torch.float64)
    targets = torch.arange(4).repeat(5)
    trained = []
    for chunk in (0, 3, 7):
        torch.manual_seed(0)
        net = mgdd.get_network("ConvNetW16", 1, 4, 8).double()
        train_network(net, images, targets, 4, 0.05, batch_size=16, chunk=chunk,
                      rng=torch.Generator().manual_seed(1))
        trained.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    moved = (trained[0] - torch.cat([p.flatten() for p in mgdd.get_network("ConvNetW16", 1, 4, 8).double()
                                     .parameters()])).abs().max()
    assert moved > 1e-3  # training changed the weights
    for other in trained[1:]:
        torch.testing.assert_close(other, trained[0], rtol=1e-10, atol=1e-12)


def test_chunks_leave_batchnorm_nets_whole_and_are_validated(digits_train, digits_test):
    from mgdd.device import train_chunk

    assert train_chunk(mgdd.get_network("ConvNet", 1, 10, 8), "cpu") == 32
    assert train_chunk(mgdd.get_network("ConvNetBN", 1, 10, 8), "cpu") is None  # batch statistics couple samples
    assert train_chunk(mgdd.get_network("ConvNet", 1, 10, 8), "cuda") is None
    with pytest.raises(ValueError, match="chunk"):
        mgdd.evaluate(_real_set(digits_train, ipc=1), digits_test, models=1, epochs=1, chunk=-1, progress=False)


def test_the_protocol_trains_with_the_fields_settings(digits_train, digits_test, monkeypatch):
    """SGD with momentum 0.9 and weight decay 5e-4, lr x0.1 at half of training, batches of 256, DSA on."""
    import torch

    from mgdd.augment import DiffAugment

    made, steps, augmented = [], [], []
    original_sgd, original_call = torch.optim.SGD, DiffAugment.__call__

    class RecordingSGD(original_sgd):
        def __init__(self, params, **kwargs):
            super().__init__(params, **kwargs)
            made.append({k: kwargs[k] for k in ("lr", "momentum", "weight_decay")} | {"at_step": len(steps)})

        def step(self, *args, **kwargs):
            steps.append(1)
            return super().step(*args, **kwargs)

    def recording_call(self, x, *args, **kwargs):
        augmented.append(len(x))
        return original_call(self, x, *args, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", RecordingSGD)
    monkeypatch.setattr(DiffAugment, "__call__", recording_call)
    syn = _real_set(digits_train, ipc=30)  # 300 images: two batches of at most 256 per epoch
    mgdd.evaluate(syn, digits_test, models=1, epochs=4, progress=False)
    assert made == [{"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "at_step": 0},
                    {"lr": pytest.approx(0.001), "momentum": 0.9, "weight_decay": 5e-4, "at_step": 4}]
    assert len(steps) == 8 and augmented[:2] == [256, 44]  # 2 steps an epoch; every batch augmented
