"""Curriculum evaluation of sets distilled subset by subset (SeqMatch): stages, order, learning rates."""

import pytest
import torch

import mgdd
import mgdd.training as training_module
from mgdd.curriculum import curriculum_stages
from mgdd.synthetic import SyntheticSet


def _set(sizes, lrs=None, ipc=None, classes=3):
    ipc = ipc or sum(sizes)
    labels = torch.arange(classes).repeat_interleave(ipc)
    images = torch.arange(len(labels), dtype=torch.float32)[:, None, None, None].expand(-1, 1, 8, 8).clone()
    metadata = {"subsets": sizes, **({"subset_lrs": lrs} if lrs else {})}
    return SyntheticSet(images, labels, classes, [str(c) for c in range(classes)], (0.0,), (1.0,), metadata=metadata)


def test_stages_are_growing_unions_of_the_subsets_in_every_class():
    syn = _set([2, 1], lrs=[0.02, 0.005])
    (first, lr1), (second, lr2) = curriculum_stages(syn)
    assert first.tolist() == [0, 1, 3, 4, 6, 7]  # the first 2 of each class of 3
    assert sorted(second.tolist()) == list(range(9)) and (lr1, lr2) == (0.02, 0.005)


def test_sets_without_or_with_inconsistent_subsets_are_refused():
    plain = _set([3])
    plain.metadata.pop("subsets")
    with pytest.raises(ValueError, match="records no subsets"):
        curriculum_stages(plain)
    with pytest.raises(ValueError, match="need 4 images in every class"):
        curriculum_stages(_set([2, 2], ipc=3))
    with pytest.raises(ValueError, match="2 subset learning rates for 3 subsets"):
        curriculum_stages(_set([1, 1, 1], lrs=[0.1, 0.1]))


def test_curriculum_trains_one_network_on_each_stage_in_order(monkeypatch, digits_train):
    calls = []
    real_train = training_module.train_network

    def recording(net, images, targets, epochs, lr, *args, **kwargs):
        calls.append((id(net), len(images), lr))
        return real_train(net, images, targets, epochs, lr, *args, **kwargs)

    monkeypatch.setattr(training_module, "train_network", recording)
    syn = mgdd.distill("random", digits_train, 3, seed=0)
    test = digits_train
    syn.metadata.update(subsets=[1, 2], subset_lrs=[0.02, 0.01])
    result = mgdd.evaluate(syn, test, models=1, epochs=2, progress=False, curriculum=True)
    assert [(n, lr) for _, n, lr in calls] == [(10, 0.02), (30, 0.01)]
    assert calls[0][0] == calls[1][0]  # the same network continues
    assert result.extra["curriculum_lrs"] == [0.02, 0.01]
    calls.clear()
    mgdd.evaluate(syn, test, models=1, epochs=2, lr=0.05, progress=False, curriculum=True)
    assert [lr for *_, lr in calls] == [0.05, 0.05]  # an explicit lr overrides the learned ones
