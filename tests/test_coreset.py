"""The distill() interface and the coreset baselines (random, herding, k-center)."""

import pytest
import torch

import mgdd
from mgdd.selection import herding_select, kcenter_select


def test_herding_matches_hand_computation():
    features = torch.tensor([[0.0], [10.0], [4.0], [6.0], [5.0]])
    # mean 5: take 5; then 4 and 6 tie (running mean 4.5 / 5.5), the first wins; then 6 restores 5
    assert herding_select(features, 3).tolist() == [4, 2, 3]


def test_herding_equals_its_definition_step_by_step():
    """The matrix-vector form picks what the definition picks: argmin over i of ||(S + f_i) / t - m||."""
    features = torch.randn(300, 12, generator=torch.Generator().manual_seed(3)).double() * torch.linspace(0.2, 2, 12)
    target, chosen, total = features.mean(0), [], torch.zeros(12, dtype=torch.float64)
    for t in range(1, 21):
        distances = ((total + features) / t - target).pow(2).sum(1)
        distances[chosen] = float("inf")
        chosen.append(int(distances.argmin()))
        total += features[chosen[-1]]
    assert herding_select(features, 20).tolist() == chosen


def test_selection_over_a_random_candidate_subset(digits_train):
    from mgdd.selection import FeatureSelector

    selector = FeatureSelector("herding", feature_epochs=0, candidates_per_class=20)
    picked = selector.select_indices(digits_train, 3, seed=0, device=torch.device("cpu"))
    candidates = selector.candidates(digits_train, seed=0)
    assert [len(c) for c in candidates] == [20] * 10
    allowed = set(torch.cat(candidates).tolist())
    assert len(picked) == 30 and set(picked.tolist()) <= allowed
    assert (digits_train.labels[picked] == torch.arange(10).repeat_interleave(3)).all()
    # other seeds draw other candidates; all of them is the default
    assert set(torch.cat(selector.candidates(digits_train, seed=1)).tolist()) != allowed
    assert sum(len(c) for c in FeatureSelector("herding").candidates(digits_train, 0)) == len(digits_train)
    with pytest.raises(ValueError, match="candidates_per_class"):
        FeatureSelector("herding", candidates_per_class=0)


def test_a_cached_selection_still_counts_its_feature_network(digits_train, monkeypatch):
    """A second IPC selected from cached features costs its feature network too, not only the selection."""
    from mgdd.selection import clear_feature_cache

    monkeypatch.setenv("MGDD_FEATURE_CACHE", "off")  # the first selection computes its features in this process
    clear_feature_cache()
    first = mgdd.distill("herding", digits_train, ipc=2, seed=0, feature_epochs=2)
    second = mgdd.distill("herding", digits_train, ipc=5, seed=0, feature_epochs=2)  # features from the cache
    feature_seconds = first.metadata["feature_seconds"]
    assert feature_seconds > 0 and second.metadata["feature_seconds"] == feature_seconds
    assert second.metadata["wall_time"] < feature_seconds  # the cache hit: without the fix, its cost
    assert second.distill_seconds >= feature_seconds and first.distill_seconds >= feature_seconds
    assert first.distill_seconds <= first.metadata["wall_time"] + 1e-3
    # the metadata says why wall_time and distill_seconds differ
    assert first.metadata["features_cached"] is False and second.metadata["features_cached"] is True


def test_selection_features_are_reused_across_processes_from_a_checked_disk_cache(digits_train, tmp_path,
                                                                                 monkeypatch, caplog):
    from mgdd.selection import FeatureSelector, clear_feature_cache

    monkeypatch.setenv("MGDD_FEATURE_CACHE", str(tmp_path))
    selector = FeatureSelector("herding", feature_epochs=1, feature_per_class=20, candidates_per_class=50)
    clear_feature_cache()
    first = selector.select_indices(digits_train, 3, 0, torch.device("cpu"))
    files = sorted(tmp_path.glob("*.safetensors"))
    assert len(files) == 1 and files[0].with_suffix(".json").exists()
    clear_feature_cache()  # a new process: only the disk cache is left
    monkeypatch.setattr(FeatureSelector, "feature_network", lambda *a: pytest.fail("features computed again"))
    with caplog.at_level("INFO"):
        assert torch.equal(selector.select_indices(digits_train, 3, 0, torch.device("cpu")), first)
    assert "selection features from" in caplog.text
    kcenter = FeatureSelector("kcenter", feature_epochs=1, feature_per_class=20, candidates_per_class=50)
    kcenter.select_indices(digits_train, 3, 0, torch.device("cpu"))  # another rule, the same network: reused
    monkeypatch.undo()
    monkeypatch.setenv("MGDD_FEATURE_CACHE", str(tmp_path))
    data = bytearray(files[0].read_bytes())
    data[-8:] = bytes(8)  # a damaged cache file is recomputed, with a warning, never used
    files[0].write_bytes(bytes(data))
    clear_feature_cache()
    with caplog.at_level("WARNING"):
        assert torch.equal(selector.select_indices(digits_train, 3, 0, torch.device("cpu")), first)
    assert "does not match its checksum" in caplog.text


def test_kcenter_matches_hand_computation():
    features = torch.tensor([[0.0], [1.0], [2.0], [10.0], [11.0]])
    rng = torch.Generator().manual_seed(0)
    first = int(torch.randint(5, (1,), generator=torch.Generator().manual_seed(0)))
    order = kcenter_select(features, 3, rng).tolist()
    assert order[0] == first
    # from any start, the farthest point comes next, then the one farthest from both
    expected = {0: [0, 4, 2], 1: [1, 4, 0], 2: [2, 4, 0], 3: [3, 0, 2], 4: [4, 0, 2]}[first]
    assert order == expected


def test_herding_tracks_the_mean_better_than_random(margin_seed, check_bound):
    rng = torch.Generator().manual_seed(margin_seed)
    features = torch.randn(500, 16, generator=rng) * torch.linspace(0.1, 3, 16)
    target = features.mean(0)
    herd_error = (features[herding_select(features, 10)].mean(0) - target).norm()
    random_errors = [
        (features[torch.randperm(500, generator=rng)[:10]].mean(0) - target).norm() for _ in range(20)
    ]
    check_bound("herding mean error / random's", herd_error / torch.stack(random_errors).mean(), "<", 0.25)


def test_kcenter_covers_better_than_random(margin_seed, check_bound):
    rng = torch.Generator().manual_seed(1 + margin_seed)
    features = torch.rand(400, 2, generator=rng)

    def coverage_radius(idx):
        return torch.cdist(features, features[idx]).min(1).values.max()

    random_radius = torch.stack([coverage_radius(torch.randperm(400, generator=rng)[:10]) for _ in range(20)])
    check_bound("k-center radius / best random radius", coverage_radius(kcenter_select(features, 10, rng))
                / random_radius.min(), "<", 1.0)


@pytest.mark.parametrize("method", ["random", "herding", "kcenter"])
def test_methods_return_real_samples_of_the_right_class(digits_train, method):
    options = {} if method == "random" else {"feature_epochs": 1}
    syn = mgdd.distill(method, digits_train, ipc=3, seed=0, **options)
    assert len(syn) == 30 and syn.ipc == 3
    assert syn.labels.bincount(minlength=10).tolist() == [3] * 10
    # every image is a real training image of its class
    flat = digits_train.images.flatten(1)
    for image, label in zip(syn.images.flatten(1), syn.labels):
        matches = (flat == image).all(1).nonzero().flatten()
        assert len(matches) >= 1 and (digits_train.labels[matches] == label).any()
    meta = syn.metadata
    assert meta["method"] == method and meta["dataset"] == "digits" and meta["ipc"] == 3 and meta["seed"] == 0
    assert meta["wall_time"] >= 0 and "mgdd_version" in meta
    if method != "random":
        assert meta["options"]["feature_epochs"] == 1 and meta["options"]["feature_arch"] == "ConvNet"


def test_seeds_are_reproducible(digits_train):
    a = mgdd.distill("random", digits_train, ipc=4, seed=7)
    b = mgdd.distill("random", digits_train, ipc=4, seed=7)
    c = mgdd.distill("random", digits_train, ipc=4, seed=8)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)
    h1 = mgdd.distill("herding", digits_train, ipc=2, seed=1, feature_epochs=0)
    h2 = mgdd.distill("herding", digits_train, ipc=2, seed=1, feature_epochs=0)
    assert torch.equal(h1.images, h2.images)


def test_registry_errors(digits_train):
    assert {"random", "herding", "kcenter"} <= set(mgdd.available_methods())
    with pytest.raises(KeyError, match="available"):
        mgdd.distill("no-such-method", digits_train, ipc=1)
    with pytest.raises(ValueError, match="unknown option"):
        mgdd.distill("herding", digits_train, ipc=1, learning_rate=3)
    with pytest.raises(ValueError, match="ipc"):
        mgdd.distill("random", digits_train, ipc=0)
    with pytest.raises(ValueError, match="larger than class"):
        mgdd.distill("random", digits_train, ipc=10_000)


def test_custom_methods_can_register(digits_train):
    @mgdd.register_method
    class FirstSamples(mgdd.Distiller):
        name = "first-samples-test"

        def __init__(self, *, offset: int = 0):
            self.offset = offset

        def run(self, train, ipc, seed, device):
            picks = torch.cat([idx[self.offset : self.offset + ipc] for idx in train.class_index])
            return mgdd.SyntheticSet.from_real(train, picks)

    syn = mgdd.distill("first-samples-test", digits_train, ipc=2, offset=1)
    assert syn.metadata["options"] == {"offset": 1}
    assert torch.equal(syn.images[:2], digits_train.images[digits_train.class_index[0][1:3]])
    # the options a set records are the distiller's own, however it was made
    assert FirstSamples().resolved_options() == {"offset": 0}
    assert mgdd.distill("first-samples-test", digits_train, ipc=2).metadata["options"] == {"offset": 0}


def test_feature_network_on_a_class_balanced_subset(digits_train):
    from mgdd import distill

    full = distill("herding", digits_train, 3, seed=0)
    quick = distill("herding", digits_train, 3, seed=0, feature_per_class=10)
    assert quick.labels.tolist() == full.labels.tolist()  # still 3 per class, from all images
    assert not torch.equal(quick.images, full.images)  # other features, another selection
    with pytest.raises(ValueError, match="feature_per_class"):
        distill("herding", digits_train, 1, feature_per_class=0)


def test_the_sets_benchmark_states_an_iterative_methods_budget():
    import argparse
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from coreset_baselines import budget, render

    args = argparse.Namespace(iterations=166, experts="runs/experts")
    assert budget(args, "herding", 10) == {}
    dm = budget(args, "dm", 10)
    assert dm["iterations"] == 166 and dm["snapshot_dir"].endswith("dm-ipc10-it166") and "experts" not in dm
    assert budget(args, "mtt", 1)["experts"] == "runs/experts"
    assert budget(argparse.Namespace(iterations=None, experts=None), "dm", 10) == {}
    row = {"method": "dm", "options": {}, "ipc": 10, "iterations": 166, "mean": 80.9, "std": 0.1, "models": 3,
           "epochs": 300, "distill_seconds": 1201.0, "total_seconds": 2000.0, "date": "2026-11-29", "machine": "CPU",
           "command": "python coreset_baselines.py"}
    assert "| dm | 10 | 166 | 80.90 ± 0.10 | — | 3 | 300 |" in render({"dm/ipc10/it166": row})
