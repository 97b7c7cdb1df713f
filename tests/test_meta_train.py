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
