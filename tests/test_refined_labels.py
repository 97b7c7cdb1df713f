"""The label treatments of benchmarks/refined_labels.py, on a tiny refined set."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import mgdd  # noqa: E402
from refined_labels import with_treatment  # noqa: E402


@pytest.fixture(scope="module")
def refined(digits_train):
    return mgdd.distill("mgdd", digits_train.balanced_subset(20, seed=0), 2, generator="none", refine_steps=3,
                        progress=False)


def test_each_treatment_keeps_the_images_and_changes_only_the_labels(refined):
    hard = with_treatment(refined, "hard")
    assert not hard.soft_labels and torch.equal(hard.labels, refined.sample_classes)
    platt = with_treatment(refined, "platt")
    expected = torch.softmax(refined.metadata["platt_scale"] * refined.labels.double(), dim=1).float()
    assert torch.allclose(platt.labels, expected) and torch.allclose(platt.labels.sum(1), torch.ones(len(refined)))
    sharp, flat = with_treatment(refined, "soft0.1"), with_treatment(refined, "soft1")
    assert sharp.labels.max(1).values.mean() > flat.labels.max(1).values.mean()  # lower temperature, sharper
    for treated in (hard, platt, sharp):
        assert torch.equal(treated.images, refined.images)
    with pytest.raises(ValueError, match="treatment"):
        with_treatment(refined, "soft")
    with pytest.raises(ValueError, match="hard labels already"):
        with_treatment(hard, "hard")


def test_the_release_takes_an_ipc50_rung_with_the_labels_the_pipeline_keeps(refined, tmp_path, monkeypatch):
    import mgdd_release_sets

    monkeypatch.setattr(mgdd_release_sets, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    refined.save(tmp_path / "rung")
    entry = {"set": "rung", "accuracy": 84.3, "std": 0.1, "models": 3}
    relabelled = {"t/ipc50/mgdd/1200 hard": {"accuracy": 86.3, "std": 0.2, "models": 3}}
    syn, evaluated, how = mgdd_release_sets.as_released("t/ipc50/mgdd/1200", entry, 50, "mgdd", 1200, relabelled)
    assert not syn.soft_labels and torch.equal(syn.labels, refined.sample_classes)
    assert torch.equal(syn.images, refined.images) and syn.metadata["refined_labels"] == "one-hot (the start's)"
    assert evaluated["accuracy"] == 86.3 and evaluated["set"] == "rung" and "refined_labels.py" in how
    _, unevaluated, _ = mgdd_release_sets.as_released("t/ipc50/mgdd/1200", entry, 50, "mgdd", 1200, {})
    assert unevaluated["accuracy"] is None  # the learned-label accuracy is not the released set's
    syn, evaluated, how = mgdd_release_sets.as_released("t/ipc10/mgdd/1200", entry, 10, "mgdd", 1200, relabelled)
    assert syn.soft_labels and evaluated is entry and "time_to_accuracy.py" in how
