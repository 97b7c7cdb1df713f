"""Meta-training: runs on several sources, checkpoints, resumes where it stopped."""

import json

import torch

from mgdd.generator.meta import MetaGenerator
from mgdd.generator.meta_train import MetaTrainConfig, meta_train, resize_dataset

TINY = dict(width=16, code_dim=16, blocks=1, feature_width=16)


def test_meta_training_checkpoints_and_resumes(tmp_path, digits_train):
    big_digits = resize_dataset(digits_train, 12)
    assert big_digits.image_shape == (1, 12, 12)
    sources = [digits_train, big_digits]
    config = MetaTrainConfig(steps=3, ipcs=(1, 2), min_classes=3, max_classes=4, real_per_class=4,
                             support_per_class=2, save_every=2, pool_size=2, pool_per_class=8, pool_refresh=2)
    torch.manual_seed(0)
    model = meta_train(MetaGenerator(**TINY), sources, tmp_path, config, cpu=True, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert {r["source"] for r in log} <= {"digits"} and all(3 <= r["classes"] <= 4 for r in log)
    saved = MetaGenerator.from_pretrained(tmp_path / "model")
    assert saved.provenance["meta_training"]["completed_steps"] == 3
    for (k, a), (_, b) in zip(model.model.state_dict().items(), saved.model.state_dict().items()):
        assert torch.equal(a, b), k

    with open(tmp_path / "log.jsonl", "a") as log:  # a record written after the last checkpoint
        log.write(json.dumps({"step": 4, "loss": 1.0}) + "\n")
    config.steps = 5
    resumed = meta_train(MetaGenerator(**TINY), sources, tmp_path, config, resume=True, cpu=True, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert MetaGenerator.from_pretrained(tmp_path / "model").provenance["meta_training"]["completed_steps"] == 5
    # 3 steps + resume + 2 steps is exactly 5 steps in one go (weights, optimiser, RNG and pools restored)
    torch.manual_seed(0)
    straight = meta_train(MetaGenerator(**TINY), sources, tmp_path / "straight", config, cpu=True, progress=False)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_class_mean_term_enters_the_meta_training_loss(tmp_path, digits_train):
    config = MetaTrainConfig(steps=1, ipcs=(2,), min_classes=3, max_classes=3, real_per_class=4, support_per_class=2,
                             pool_size=1, pool_per_class=8, mean_weight=1.0)
    torch.manual_seed(0)
    meta_train(MetaGenerator(**TINY, unroll=2), [digits_train], tmp_path, config, cpu=True, progress=False)
    (record,) = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert record["mean_mismatch"] > 0  # logged only when the term is in the loss
    assert MetaGenerator.from_pretrained(tmp_path / "model").model.unroll == 2


def test_unrolled_adam_is_torch_adam():
    from mgdd.generator.step import UnrolledAdam

    target = torch.tensor([1.0, -2.0, 0.5])
    mine = torch.zeros(3, requires_grad=True)
    reference = torch.zeros(3, requires_grad=True)
    optimizer = torch.optim.Adam([reference], lr=0.1)
    adam = UnrolledAdam([0.1])
    x = mine
    for _ in range(5):
        (grad,) = torch.autograd.grad(((x - target) ** 4).sum(), [x], create_graph=True)
        (x,) = adam.step([x], [grad])
        optimizer.zero_grad()
        ((reference - target) ** 4).sum().backward()
        optimizer.step()
    assert torch.allclose(x, reference, atol=1e-6)
    (meta_grad,) = torch.autograd.grad(x.sum(), [mine])  # the steps are differentiable
    assert torch.isfinite(meta_grad).all() and meta_grad.abs().sum() > 0


def test_refinement_objective_starts_from_the_one_pass_and_trains_the_generator(tmp_path, digits_train):
    import pytest

    from mgdd.generator.step import random_feature_net, refinement_meta_loss, sample_task

    gen = MetaGenerator(**TINY)
    task = sample_task(digits_train, 2, torch.Generator().manual_seed(0), real_per_class=8, support_per_class=4)
    nets = [random_feature_net(1, (8, 8), "ConvNet", 16, torch.Generator().manual_seed(i)) for i in range(4)]
    no_step, stats = refinement_meta_loss(gen.generator, task, nets[:1] + nets[-1:], nets[0])
    assert no_step.item() == pytest.approx(stats["one_pass_loss"], rel=1e-6)  # no refinement: the one pass
    loss, stats = refinement_meta_loss(gen.generator, task, nets, nets[0], lr=0.05)
    assert loss.item() != pytest.approx(stats["one_pass_loss"], rel=1e-6) and stats["platt_scale"] != 1.0
    loss.backward()
    grads = [p.grad for p in gen.generator.parameters() if p.grad is not None]
    assert grads and sum(g.abs().sum() for g in grads) > 0
    with pytest.raises(ValueError, match="pool_size=0"):
        MetaTrainConfig(objective="refinement")
    with pytest.raises(ValueError, match="objective"):
        MetaTrainConfig(objective="platt")
    config = MetaTrainConfig(steps=50, ipcs=(1,), min_classes=3, max_classes=3, real_per_class=4, support_per_class=2,
                             pool_size=0, objective="refinement", refine_steps=1, max_seconds=1e-3)
    meta_train(MetaGenerator(**TINY), [digits_train], tmp_path, config, cpu=True, progress=False)
    (record,) = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert record["one_pass_loss"] > 0  # the refinement objective's log; max_seconds stopped it after one step
    assert MetaGenerator.from_pretrained(tmp_path / "model").provenance["meta_training"]["completed_steps"] == 1
