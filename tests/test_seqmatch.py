"""SeqMatch: subsets distilled in sequence on MTT, later experts start from the earlier subsets, resumes."""

import pytest
import torch

from mgdd import distill
from mgdd.baselines import load_experts, split_ipc, train_experts
from mgdd.baselines.experts import pretrain_network
from mgdd.curriculum import curriculum_stages
from mgdd.nets import seeded_network
from mgdd.synthetic import SyntheticSet

TINY = dict(iterations=2, syn_steps=2, max_start_epoch=1, expert_epochs=1, pretrain_epochs=2, lr_lr=1e-9, progress=False)


@pytest.fixture(scope="module")
def small_digits(digits_train):
    return digits_train.balanced_subset(20, seed=0)


@pytest.fixture(scope="module")
def plain_experts(small_digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("seqmatch") / "experts"
    train_experts(small_digits, folder, experts=1, epochs=2, progress=False)
    return folder


@pytest.fixture(scope="module")
def finished(small_digits, plain_experts, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    return folder, distill("seqmatch", small_digits, 3, experts=str(plain_experts), sizes=[2, 1],
                           snapshot_dir=str(folder), **TINY)


def test_split_and_join_keep_each_class_in_subset_order():
    assert split_ipc(50, 3) == [17, 17, 16] and split_ipc(10, 2) == [5, 5]
    with pytest.raises(ValueError, match="subsets"):
        split_ipc(2, 3)


def test_the_set_records_its_subsets_in_class_major_order(finished):
    _, syn = finished
    assert syn.metadata["subsets"] == [2, 1] and len(syn.metadata["subset_lrs"]) == 2
    assert syn.labels.tolist() == torch.arange(10).repeat_interleave(3).tolist()
    assert syn.learned_lr == syn.metadata["subset_lrs"][-1]
    assert syn.metadata["iterations"] == [2, 2] and syn.metadata["later_expert_seconds"] > 0
    (first, _), (union, _) = curriculum_stages(syn)
    assert len(first) == 20 and len(union) == 30


def test_earlier_subsets_stay_bit_identical(finished):
    folder, syn = finished
    subset_1 = syn.images.reshape(10, 3, *syn.image_shape)[:, :2].reshape(20, *syn.image_shape)
    alone = SyntheticSet.load(folder / "subset_1" / "final")  # subset 1 as its own MTT run left it
    assert torch.equal(subset_1, alone.images)


def test_experts_for_subset_2_start_from_a_network_trained_on_subset_1(finished, small_digits, plain_experts):
    folder, _ = finished
    subset_1 = SyntheticSet.load(folder / "subset_1" / "final")
    (later,) = [p for p in folder.iterdir() if p.name.startswith("experts-after-")]
    buffer = load_experts(later)
    assert buffer.manifest["pretrained_on"]["subsets"] == [2]  # S1 alone: one curriculum stage
    plain = load_experts(plain_experts)
    seed = plain.manifest["seed"] * 1_000_003  # expert 0
    expected = pretrain_network(seeded_network("ConvNet", 1, 10, 8, seed), subset_1, 2, seed)
    start = buffer.parameters_at(0, 0)
    for name, value in expected.named_parameters():
        assert torch.allclose(start[name], value.detach(), atol=1e-6), name
    fresh = dict(seeded_network("ConvNet", 1, 10, 8, seed).named_parameters())
    assert not torch.allclose(start["features.0.weight"], fresh["features.0.weight"])
    # a buffer built after other subsets is refused
    with pytest.raises(ValueError, match="pretrained_on"):
        train_experts(small_digits, later, experts=1, epochs=2, progress=False)


def test_an_interrupted_run_resumes_to_the_same_set(finished, small_digits, plain_experts, tmp_path, monkeypatch):
    _, straight = finished
    import mgdd.baselines.seqmatch as seqmatch

    real_later = seqmatch.SeqMatch._later_experts

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(seqmatch.SeqMatch, "_later_experts", interrupted)
    options = dict(experts=str(plain_experts), sizes=[2, 1], snapshot_dir=str(tmp_path), **TINY)
    with pytest.raises(KeyboardInterrupt):
        distill("seqmatch", small_digits, 3, **options)
    assert (tmp_path / "subset_1" / "final").exists() and not (tmp_path / "subset_2").exists()
    monkeypatch.setattr(seqmatch.SeqMatch, "_later_experts", real_later)
    resumed = distill("seqmatch", small_digits, 3, **options)
    assert torch.equal(resumed.images, straight.images)
    assert resumed.metadata["subset_lrs"] == straight.metadata["subset_lrs"]


def test_a_fresh_machine_resumes_from_the_finished_subsets_and_the_buffer_manifest(finished, small_digits,
                                                                                   plain_experts, tmp_path):
    """What a session commits (each subset's final set, the real buffer's manifest) is enough: the later buffers
    and the trajectories are neither needed nor rebuilt, and the later experts' seconds are not lost."""
    import shutil

    folder, straight = finished
    experts = tmp_path / "experts"
    experts.mkdir()
    shutil.copy(plain_experts / "manifest.json", experts)  # no trajectories
    run = tmp_path / "run"
    for subset in ("subset_1", "subset_2"):
        shutil.copytree(folder / subset / "final", run / subset / "final")
    resumed = distill("seqmatch", small_digits, 3, experts=str(experts), sizes=[2, 1], snapshot_dir=str(run), **TINY)
    assert torch.equal(resumed.images, straight.images)
    assert resumed.metadata["later_expert_seconds"] == straight.metadata["later_expert_seconds"] > 0
    assert sorted(p.name for p in run.iterdir()) == ["subset_1", "subset_2"]


def test_bad_options_are_refused_before_any_work(small_digits, plain_experts):
    with pytest.raises(ValueError, match="experts"):
        distill("seqmatch", small_digits, 2)
    with pytest.raises(ValueError, match="add up to 3, not ipc=4"):
        distill("seqmatch", small_digits, 4, experts=str(plain_experts), sizes=[2, 1], **TINY)
    with pytest.raises(ValueError, match="unknown option"):
        distill("seqmatch", small_digits, 2, experts=str(plain_experts), frozen=None)


def _benchmark():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import seqmatch_fashion_mnist

    return seqmatch_fashion_mnist


def test_benchmark_runs_at_other_budgets_are_other_cells():
    run_names = _benchmark().run_names
    # the equal-budget names are the ones the stored results and snapshots use
    assert run_names("mtt", 50, 60, 3, 20, None) == (["ipc50 it60 mtt"], "mtt-ipc50", "ipc50")
    assert run_names("seqmatch", 10, 60, 2, 30, None) == (
        ["ipc10 it60 seqmatch", "ipc10 it60 seqmatch curriculum"], "seqmatch-ipc10-k2", "ipc10")
    # the paper's budget (every subset MTT's count) and another minibatch are kept apart
    assert run_names("seqmatch", 10, 60, 2, 60, 64) == (
        ["ipc10 it60 b64 sub60 seqmatch", "ipc10 it60 b64 sub60 seqmatch curriculum"],
        "seqmatch-ipc10-k2-b64-sub60", "ipc10-b64-sub60")
    assert run_names("mtt", 10, 60, 2, 60, None) == (["ipc10 it60 mtt"], "mtt-ipc10", "ipc10")
    # a GPU run is compared with a GPU run of the other method, not with the CPU's cells
    assert run_names("mtt", 50, 60, 3, 20, None, "cuda") == (["ipc50 it60 cuda mtt"], "mtt-ipc50-cuda", "ipc50-cuda")


def test_benchmark_table_states_the_budget():
    markdown = _benchmark().markdown

    entry = {"method": "seqmatch", "evaluation": "curriculum", "ipc": 10, "subsets": [5, 5], "iterations": [30, 30],
             "distill_seconds": 1200.4, "later_expert_seconds": 300.0, "expert_seconds": 1114.0, "mean": 80.1,
             "std": 0.2, "models": 3, "epochs": 300, "date": "2026-11-28", "machine": "CPU", "command": "python x.py"}
    text = markdown({"k": entry})
    assert "| 10 | seqmatch | curriculum | [5, 5] | [30, 30] | default | 1200 | 300 | 1114 | 80.10 ± 0.20 | 3 x 300 |" in text
    text = markdown({"k": {**entry, "ipc": 50, "batch_syn": 64}})  # a smaller student minibatch is stated
    assert "| 50 | seqmatch | curriculum | [5, 5] | [30, 30] | 64 | 1200 |" in text
    assert "- `python x.py`" in text
