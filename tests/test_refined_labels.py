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
