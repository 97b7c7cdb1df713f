"""DC, DSA, DM, MTT: losses against hand computations, objectives improve, resume is exact, guards."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mgdd
from mgdd import distill, from_tensors, get_method
from mgdd.baselines import (
    default_loops,
    gradient_distance,
    list_snapshots,
    load_experts,
    parameter_matching_loss,
    train_experts,
    unroll_student,
)
from mgdd.baselines import experts as experts_module
from mgdd.iterative import iteration_seed
from mgdd.nets import seeded_network
from mgdd.objectives import class_means, mean_embedding_loss


# ---------------------------------------------------------------- losses by hand
def test_gradient_distance_matches_hand_computation():
    conv_real = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(2, 1, 1, 2)
    conv_syn = torch.tensor([[2.0, 0.0], [1.0, 1.0]]).reshape(2, 1, 1, 2)
    linear_real = torch.tensor([[1.0, 2.0, 2.0]])
    linear_syn = torch.tensor([[-1.0, -2.0, -2.0]])
    bias = torch.tensor([5.0, -3.0])
    got = gradient_distance([conv_syn, linear_syn, bias], [conv_real, linear_real, -bias])
    # conv rows: cos 1 -> 0, cos 1/sqrt(2) -> 1 - 0.7071; linear: cos -1 -> 2; biases skipped
    expected = (1 - 1 / math.sqrt(2)) + 2.0
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_mean_embedding_loss_matches_hand_computation():
    real = torch.tensor([[1.0, 0.0], [3.0, 2.0], [0.0, 4.0]])
    real_labels = torch.tensor([0, 0, 1])
    syn = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    syn_labels = torch.tensor([0, 1])
    # class 0: real mean (2, 1) vs (1, 1) -> 1; class 1: (0, 4) vs (1, 1) -> 1 + 9
    assert mean_embedding_loss(real, real_labels, syn, syn_labels, 2).item() == pytest.approx(11.0)
    assert class_means(syn, syn_labels, 3)[2].abs().sum() == 0  # an empty class has a zero mean


def test_parameter_matching_loss_matches_hand_computation():
    start = {"w": torch.tensor([0.0, 0.0]), "b": torch.tensor([1.0])}
    target = {"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([1.0])}
    student = {"w": torch.tensor([3.0, 2.0]), "b": torch.tensor([2.0])}
    # ||student - target||^2 = 4 + 1 = 5; ||start - target||^2 = 25
    assert parameter_matching_loss(student, start, target).item() == pytest.approx(0.2)


def test_unrolled_student_equals_plain_sgd_steps():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    images, labels = torch.randn(4, 3), torch.tensor([0, 1, 1, 0])
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}
    rng = torch.Generator().manual_seed(0)
    final = unroll_student(net, params, images, labels, torch.tensor(0.5), 2, 4, rng)
    reference = nn.Linear(3, 2)
    reference.load_state_dict(net.state_dict())
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
    for _ in range(2):  # full batch: the shuffle does not matter
        optimizer.zero_grad()
        F.cross_entropy(reference(images), labels).backward()
        optimizer.step()
    for name, value in reference.named_parameters():
        torch.testing.assert_close(final[name].detach(), value.detach())
    # and the result is differentiable in the lr
    assert final["weight"].requires_grad


def test_default_loops_follow_the_reference():
    assert default_loops(1) == (1, 1) and default_loops(10) == (10, 50) and default_loops(50) == (50, 10)
    assert default_loops(5) == (5, 100)


# ---------------------------------------------------------------- objectives improve
@pytest.fixture(scope="module")
def small_digits(digits_train):
    return digits_train.balanced_subset(40, seed=0)


def _dm_objective(images, data, seeds):
    labels = torch.arange(data.num_classes).repeat_interleave(len(images) // data.num_classes)
    total = 0.0
    for seed in seeds:
        net = seeded_network("ConvNet", 1, data.num_classes, 8, seed).requires_grad_(False)
        total += mean_embedding_loss(net.embed(data.images), data.labels, net.embed(images), labels,
                                     data.num_classes).item()
    return total


def test_dm_lowers_its_objective_on_held_out_networks(small_digits, margin_seed, check_bound):
    initial = distill("dm", small_digits, ipc=1, iterations=0, seed=margin_seed, progress=False)
    final = distill("dm", small_digits, ipc=1, iterations=40, dsa=False, seed=margin_seed, progress=False)
    seeds = range(1000, 1005)  # networks the run never saw
    before, after = _dm_objective(initial.images, small_digits, seeds), _dm_objective(final.images, small_digits, seeds)
    check_bound("DM held-out objective after / before", after / before, "<", 0.7)
    assert final.metadata["iteration"] == 40 and final.labels.tolist() == list(range(10))


class _HeldOutGradientMatching:
    """DC's objective for one synthetic image per class on networks no run saw; real gradients computed once."""

    def __init__(self, data, seeds):
        self.nets = [seeded_network("ConvNet", 1, data.num_classes, 8, seed) for seed in seeds]
        self.real_grads = [[self._grads(net, data.images[data.labels == c], c) for c in range(data.num_classes)]
                           for net in self.nets]

    @staticmethod
    def _grads(net, images, c):
        return torch.autograd.grad(F.cross_entropy(net(images), torch.full((len(images),), c)), list(net.parameters()))

    def __call__(self, images):
        return sum(gradient_distance(self._grads(net, images[c : c + 1], c), real).item()
                   for net, per_class in zip(self.nets, self.real_grads) for c, real in enumerate(per_class))


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_gradient_matching_lowers_its_objective(small_digits, method, margin_seed, check_bound):
    # DC's step is proportional to 1 / |gradient on the synthetic image|: when that gradient nearly vanishes, one
    # image jumps far (|pixel| 4 -> 20 in one step) and the held-out objective climbs back. When such a jump comes
    # depends on float rounding, hence on the processor and thread count: the former check (seed 0, 25 iterations,
    # 10 % lower) passed on Intel Xeons, lowered it 8 % on an AVX-512 EPYC and 1 % on an AVX2 EPYC (|pixel| 21);
    # seeds 0-6 at 25 iterations gave 0.67-0.80, and 0.97-0.99 for seed 0. So the check takes the median over
    # three runs, stopped at 15 iterations, before most jumps. Seeds 0-4 on 1 and 2 threads
    # (benchmarks/results/test_margins.md): DC 0.74-0.79, DSA 0.77-0.86. DSA optimises the objective under
    # augmentation and is measured without, so it lowers it less: its bound is 0.95.
    objective = _HeldOutGradientMatching(small_digits, range(2000, 2003))
    ratios = []
    for seed in range(3 * margin_seed, 3 * margin_seed + 3):
        initial = distill(method, small_digits, ipc=1, iterations=0, seed=seed, progress=False)
        final = distill(method, small_digits, ipc=1, iterations=15, seed=seed, progress=False)
        ratios.append(objective(final.images) / objective(initial.images))
    bound = {"dc": 0.9, "dsa": 0.95}[method]
    check_bound(f"{method} held-out objective after / before (median of 3 seeds)", sorted(ratios)[1], "<", bound)
    assert final.metadata["options"]["outer_loop"] is None and final.metadata["method"] == method


@pytest.fixture(scope="module")
def digit_experts(small_digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("experts")
    return folder, train_experts(small_digits, folder, experts=2, epochs=4, progress=False)


def test_mtt_lowers_its_objective_and_learns_a_positive_lr(small_digits, digit_experts, margin_seed, check_bound):
    folder, buffer = digit_experts
    options = dict(experts=str(folder), max_start_epoch=2, syn_steps=4, progress=False)
    initial = distill("mtt", small_digits, ipc=1, iterations=0, seed=margin_seed, **options)
    final = distill("mtt", small_digits, ipc=1, iterations=30, seed=margin_seed, **options)
    net = seeded_network("ConvNet", 1, 10, 8, 0)

    def objective(syn):
        total = 0.0
        for expert in range(len(buffer)):
            for start_epoch in range(2):
                start, target = buffer.parameters_at(expert, start_epoch), buffer.parameters_at(expert, start_epoch + 2)
                params = {k: v.clone().requires_grad_(True) for k, v in start.items()}
                out = unroll_student(net, params, syn.images, syn.labels, torch.tensor(syn.learned_lr), 4, 10,
                                     torch.Generator().manual_seed(0))
                total += parameter_matching_loss(out, start, target).item()
        return total

    # seeds 0-4, 1 and 2 threads: 0.30-0.34 (benchmarks/results/test_margins.md)
    check_bound("MTT objective after / before", objective(final) / objective(initial), "<", 0.45)
    assert final.learned_lr > 0 and final.learned_lr != pytest.approx(0.01, rel=1e-6)


# ---------------------------------------------------------------- snapshots and resume
def test_resumed_run_continues_exactly(small_digits, tmp_path):
    straight = distill("dm", small_digits, ipc=1, iterations=6, progress=False)
    folder = tmp_path / "run"
    distill("dm", small_digits, ipc=1, iterations=3, snapshot_dir=str(folder), snapshot_every=2, progress=False)
    assert [i for i, _ in list_snapshots(folder)] == [2, 3]
    resumed = distill("dm", small_digits, ipc=1, iterations=6, snapshot_dir=str(folder), snapshot_every=2,
                      progress=False)
    torch.testing.assert_close(resumed.images, straight.images, rtol=0, atol=0)
    assert [i for i, _ in list_snapshots(folder)] == [2, 3, 4, 6]
    snap = mgdd.SyntheticSet.load(folder / "iter_000004")
    assert snap.metadata["iteration"] == 4 and snap.metadata["distill_seconds"] > 0 and snap.ipc == 1
    # a finished run started again only reloads its last snapshot: its seconds stay those of the work done
    again = distill("dm", small_digits, ipc=1, iterations=6, snapshot_dir=str(folder), snapshot_every=2,
                    progress=False)
    assert again.metadata["distill_seconds"] == resumed.metadata["distill_seconds"] == again.distill_seconds
    torch.testing.assert_close(again.images, resumed.images, rtol=0, atol=0)


def test_resume_refuses_another_runs_state(small_digits, tmp_path):
    distill("dm", small_digits, ipc=1, iterations=2, snapshot_dir=str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="another run"):
        distill("dm", small_digits, ipc=2, iterations=2, snapshot_dir=str(tmp_path), progress=False)


def test_resume_names_the_settings_that_differ_and_lets_the_budget_grow(small_digits, tmp_path):
    run = dict(ipc=1, snapshot_dir=str(tmp_path), snapshot_every=1, progress=False)
    distill("dm", small_digits, iterations=2, **run)
    with pytest.raises(ValueError, match=r"lr_img: 1\.0 there, 2\.0 here") as refused:
        distill("dm", small_digits, iterations=2, lr_img=2.0, **run)
    assert "batch_real" not in str(refused.value)  # only what differs is named
    longer = distill("dm", small_digits, iterations=3, **run)  # the budget is not a setting
    assert longer.metadata["iteration"] == 3 and [i for i, _ in list_snapshots(tmp_path)] == [1, 2, 3]


def test_mtt_resume_knows_its_buffer_by_content_not_by_folder(small_digits, digit_experts, tmp_path):
    """A buffer folder re-made with other experts (the same name, as a benchmark's snapshot folder would be) is
    refused; the same buffer copied elsewhere resumes."""
    folder, _ = digit_experts
    same, other = tmp_path / "same", tmp_path / "other"
    shutil.copytree(folder, same)
    shutil.copytree(folder, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["experts"][0]["seconds"] += 1.0  # any change to what the manifest records
    (other / "manifest.json").write_text(json.dumps(manifest))
    run = dict(ipc=1, max_start_epoch=2, syn_steps=2, snapshot_dir=str(tmp_path / "run"), progress=False)
    first = distill("mtt", small_digits, iterations=1, experts=str(folder), **run)
    with pytest.raises(ValueError, match="experts: '[0-9a-f]{64}' there"):
        distill("mtt", small_digits, iterations=2, experts=str(other), **run)
    again = distill("mtt", small_digits, iterations=1, experts=str(same), **run)  # finished: reloaded, not re-run
    torch.testing.assert_close(again.images, first.images, rtol=0, atol=0)


def test_a_state_saved_before_settings_were_recorded_still_resumes(small_digits, tmp_path, monkeypatch, caplog):
    from mgdd.iterative import IterativeDistiller

    current = IterativeDistiller._identity
    monkeypatch.setattr(IterativeDistiller, "_identity",
                        lambda self, state: {k: v for k, v in current(self, state).items() if k != "settings"})
    run = dict(ipc=1, snapshot_dir=str(tmp_path), snapshot_every=1, progress=False)
    distill("dm", small_digits, iterations=1, **run)
    monkeypatch.setattr(IterativeDistiller, "_identity", current)
    with caplog.at_level("WARNING", logger="mgdd.iterative"):
        resumed = distill("dm", small_digits, iterations=2, **run)
    assert resumed.metadata["iteration"] == 2 and "records no settings" in caplog.text


def test_time_budget_stops_the_run(small_digits):
    syn = distill("dm", small_digits, ipc=1, iterations=10_000, time_budget=0.5, progress=False)
    assert 1 <= syn.metadata["iteration"] < 10_000


def test_iteration_seeds_differ():
    assert len({iteration_seed(s, i) for s in range(3) for i in range(100)}) == 300


# ---------------------------------------------------------------- guards and options
def test_diverging_images_stop_with_advice(small_digits):
    with pytest.raises(FloatingPointError, match="lower lr_img"):
        distill("dm", small_digits, ipc=1, iterations=50, lr_img=1e38, dsa=False, progress=False)


def test_mtt_guards(small_digits, digit_experts, tmp_path, monkeypatch):
    from mgdd.baselines import trajectory_matching

    folder, _ = digit_experts
    with pytest.raises(MemoryError, match="syn_steps"):
        distill("mtt", small_digits, ipc=1, iterations=1, experts=str(folder), max_start_epoch=2,
                max_memory_gb=1e-9, progress=False)
    # the default guard: a share of the device's memory (a device of 1 kB refuses; the real one does not)
    monkeypatch.setattr(trajectory_matching, "memory_gb", lambda device: 1e-6)
    with pytest.raises(MemoryError, match="75% of this device"):
        distill("mtt", small_digits, ipc=1, iterations=1, experts=str(folder), max_start_epoch=2, progress=False)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="exceeds the 4 epochs"):
        distill("mtt", small_digits, ipc=1, iterations=1, experts=str(folder), max_start_epoch=3, progress=False)
    with pytest.raises(ValueError, match="experts=FOLDER"):
        distill("mtt", small_digits, ipc=1)
    with pytest.raises(FileNotFoundError, match="mgdd experts"):
        distill("mtt", small_digits, ipc=1, experts=str(tmp_path / "none"), progress=False)
    method = get_method("mtt").create(experts=str(folder))
    state = type("S", (), {})()
    state.learnables = nn.Module()
    state.learnables.lr = nn.Parameter(torch.tensor(-0.5))
    method.after_step(state)  # a learned lr pushed below zero is projected back
    assert state.learnables.lr.item() > 0


def test_inherited_options_are_validated_and_recorded(small_digits):
    assert {"iterations", "lr_img", "lr_net", "outer_loop", "snapshot_dir"} <= set(get_method("dc").option_names())
    assert get_method("dm").defaults()["lr_img"] == 1.0 and get_method("dsa").defaults()["dsa"] is True
    with pytest.raises(ValueError, match="unknown option"):
        distill("dm", small_digits, ipc=1, lr_imgs=1.0)
    syn = distill("dm", small_digits, ipc=1, iterations=1, progress=False)
    assert syn.metadata["options"]["lr_img"] == 1.0 and syn.metadata["options"]["iterations"] == 1


# ---------------------------------------------------------------- expert buffers
def test_expert_buffer_resumes_exactly_after_an_interruption(small_digits, tmp_path, monkeypatch):
    straight = train_experts(small_digits, tmp_path / "a", experts=1, epochs=3, progress=False)
    calls = {"n": 0}
    original = experts_module.train_network

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(experts_module, "train_network", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_experts(small_digits, tmp_path / "b", experts=1, epochs=3, progress=False)
    assert (tmp_path / "b" / "expert_000.partial.safetensors").exists()
    monkeypatch.setattr(experts_module, "train_network", original)
    resumed = train_experts(small_digits, tmp_path / "b", experts=1, epochs=3, progress=False)
    for name, stack in straight.trajectories[0].items():
        assert stack.shape[0] == 4
        torch.testing.assert_close(resumed.trajectories[0][name], stack, rtol=0, atol=0)


def test_expert_buffer_refuses_other_options(small_digits, digit_experts, tmp_path):
    folder, buffer = digit_experts
    assert len(buffer) == 2 and buffer.epochs == 4
    first = buffer.trajectories[0]
    moved = [(first[k][-1] - first[k][0]).abs().sum().item() for k in first]
    assert sum(moved) > 0  # the experts actually trained
    with pytest.raises(ValueError, match="other options"):
        train_experts(small_digits, folder, experts=2, epochs=5, progress=False)
    with pytest.raises(FileNotFoundError, match="mgdd experts"):
        load_experts(tmp_path)


def test_iterative_methods_run_on_custom_tensors():
    rng = torch.Generator().manual_seed(0)
    data = from_tensors(torch.rand(40, 1, 8, 8, generator=rng), torch.arange(4).repeat(10))
    syn = distill("dc", data, ipc=2, iterations=1, outer_loop=2, inner_loop=1, progress=False)
    assert syn.images.shape == (8, 1, 8, 8) and syn.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert not torch.equal(syn.images, data.images[data.balanced_indices(2, 0)])


def test_dsa_matches_through_one_shared_augmentation_of_real_and_synthetic_batches(small_digits, monkeypatch):
    """DSA's distinguishing step: inside matching, the real and the synthetic batch go through the same draw of
    the same transform (siamese); DC matches them unaugmented."""
    from mgdd.augment import DiffAugment

    draws, pairs = [], []
    original_pair, original_sample = DiffAugment.pair, DiffAugment.sample

    def recording_sample(self, *args, **kwargs):
        draws.append(1)
        return original_sample(self, *args, **kwargs)

    def recording_pair(self, a, b, rng=None):
        before = len(draws)
        out = original_pair(self, a, b, rng)
        pairs.append((len(a), len(b), len(draws) - before))
        return out

    monkeypatch.setattr(DiffAugment, "sample", recording_sample)
    monkeypatch.setattr(DiffAugment, "pair", recording_pair)
    distill("dsa", small_digits, ipc=1, iterations=1, outer_loop=1, inner_loop=1, progress=False)
    assert len(pairs) == small_digits.num_classes  # one matched pair per class
    assert all(real > 1 and syn == 1 and shared_draws == 1 for real, syn, shared_draws in pairs)
    pairs.clear()
    distill("dc", small_digits, ipc=1, iterations=1, outer_loop=1, inner_loop=1, progress=False)
    assert pairs == []
