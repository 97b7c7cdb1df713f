"""SRe2L / DWA: the teacher (squeeze, resumable), the BN-statistics loss, the directed weight adjustment, recover."""

import json

import pytest
import torch
import torch.nn.functional as F

from mgdd import distill
from mgdd.baselines import BNStatistics, directed_weight_adjustment
from mgdd.cli import main
from mgdd.nets import get_network, seeded_network
from mgdd.io import sha256
from mgdd.teacher import crop_and_flip, load_teacher, train_teacher

TINY = dict(iterations=3, progress=False)


@pytest.fixture(scope="module")
def small_digits(digits_train):
    return digits_train.balanced_subset(20, seed=0)


@pytest.fixture(scope="module")
def teacher_dir(small_digits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    train_teacher(small_digits, folder, epochs=15, lr=0.05, test=small_digits, progress=False)
    return folder


def test_bn_loss_matches_a_hand_computation():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                              torch.nn.Conv2d(3, 2, 3), torch.nn.BatchNorm2d(2)).eval()
    for bn in (net[1], net[4]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    x = torch.randn(5, 1, 8, 8)
    stats = BNStatistics(net, r_var=11.0)
    net(x)
    loss = stats.loss(first_multiplier=10.0)
    a = net[0](x)
    b = net[3](net[2](net[1](a)))
    expected = 0.0
    for weight, h, bn in ((10.0, a, net[1]), (1.0, b, net[4])):
        mean = h.mean((0, 2, 3))
        var = ((h - mean[None, :, None, None]) ** 2).mean((0, 2, 3))  # biased
        expected += weight * (11.0 * (bn.running_var - var).norm() + (bn.running_mean - mean).norm())
    assert torch.allclose(loss, expected, rtol=1e-5)
    stats.remove()


def test_directed_adjustment_has_length_rho_and_keeps_running_statistics():
    x, y = torch.randn(10, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(10)

    def displacement(steps):
        net = seeded_network("ConvNetBN", 1, 10, 8, 0).eval()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        directed_weight_adjustment(net, x, y, rho=0.015, steps=steps)
        params = dict(net.named_parameters())
        return float(torch.sqrt(sum((params[k] - before[k]).pow(2).sum() for k in params))), net, before

    one, _, _ = displacement(1)
    assert one == pytest.approx(0.015, rel=1e-5)  # one normalised step of length rho
    twelve, net, before = displacement(12)  # 12 steps of rho/12: a path of length rho, gradients re-taken
    assert 0.9 * 0.015 < twelve <= 0.015 * (1 + 1e-5)
    fresh = seeded_network("ConvNetBN", 1, 10, 8, 0).eval()
    loss_before = F.cross_entropy(fresh(x), y).item()
    for name, value in net.state_dict().items():
        if "running" in name or "num_batches" in name:
            assert torch.equal(value, before[name]), name
    assert F.cross_entropy(net(x), y).item() > loss_before  # an ascent step
    assert not any(p.requires_grad for p in net.parameters())


def test_crop_and_flip_moves_pixels_within_the_padding():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    out = crop_and_flip(images, torch.tensor([-1.0]), torch.Generator().manual_seed(0), padding=1)
    assert out.shape == images.shape
    for original, moved in zip(images, out):
        values = set(moved.flatten().tolist()) - {-1.0}
        assert values <= set(original.flatten().tolist()) and len(values) >= 9  # at most one row/column lost


def test_teacher_is_saved_resumes_and_refuses_other_options(small_digits, teacher_dir, tmp_path):
    net, config = load_teacher(teacher_dir)
    assert config["arch"] == "ConvNetBN" and config["test_accuracy"] > 50  # 15 epochs on 200 digits (train = test here)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    # one epoch, then a second run to 2 epochs equals 2 epochs straight
    folder = tmp_path / "resumed"
    train_teacher(small_digits, folder, epochs=2, lr=0.05, progress=False)  # fresh copy of the fixture's run
    straight = load_teacher(folder)[0].state_dict()
    interrupted = tmp_path / "interrupted"
    import mgdd.teacher as teacher_module

    original = teacher_module.save_training_state
    calls = []

    def stop_after_first(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt

    teacher_module.save_training_state = stop_after_first
    try:
        with pytest.raises(KeyboardInterrupt):
            train_teacher(small_digits, interrupted, epochs=2, lr=0.05, progress=False)
    finally:
        teacher_module.save_training_state = original
    train_teacher(small_digits, interrupted, epochs=2, lr=0.05, progress=False)
    for name, value in load_teacher(interrupted)[0].state_dict().items():
        assert torch.allclose(value, straight[name], atol=1e-6), name
    with pytest.raises(ValueError, match="other options"):
        train_teacher(small_digits, interrupted, epochs=3, lr=0.05, progress=False)
    with pytest.raises(ValueError, match="BatchNorm"):
        train_teacher(small_digits, tmp_path / "in", arch="ConvNet", epochs=1, progress=False)


def test_recover_lowers_the_teachers_loss_and_keeps_the_valid_range(small_digits, teacher_dir):
    teacher, _ = load_teacher(teacher_dir)
    start = distill("sre2l", small_digits, 2, teacher=str(teacher_dir), iterations=1, lr=1e-6, progress=False)
    syn = distill("sre2l", small_digits, 2, teacher=str(teacher_dir), iterations=30, progress=False)
    assert syn.labels.tolist() == torch.arange(10).repeat_interleave(2).tolist()
    low, high = -small_digits.mean[0] / small_digits.std[0], (1 - small_digits.mean[0]) / small_digits.std[0]
    assert syn.images.min() >= low - 1e-5 and syn.images.max() <= high + 1e-5
    with torch.no_grad():
        assert F.cross_entropy(teacher(syn.images), syn.labels) < F.cross_entropy(teacher(start.images), start.labels)


def test_dwa_starts_from_real_images_and_differs_from_rho_zero(small_digits, teacher_dir, tmp_path, monkeypatch):
    options = dict(teacher=str(teacher_dir), **TINY)
    dwa = distill("dwa", small_digits, 2, seed=1, snapshot_dir=str(tmp_path / "dwa"), **options)
    plain = distill("dwa", small_digits, 2, seed=1, rho=0.0, **options)
    assert dwa.metadata["init"] == "real" and not torch.allclose(dwa.images, plain.images)
    # a finished batch is loaded, not redone
    assert sorted(p.name for p in (tmp_path / "dwa").iterdir()) == ["batch_0000.safetensors", "batch_0001.safetensors"]
    from mgdd.baselines.sre2l import DWA

    def no_recovery(*args, **kwargs):
        raise AssertionError("a finished batch was recovered again")

    with monkeypatch.context() as patched:
        patched.setattr(DWA, "recover", no_recovery)
        again = distill("dwa", small_digits, 2, seed=1, snapshot_dir=str(tmp_path / "dwa"), **options)
    assert torch.equal(again.images, dwa.images)
    # the recovery time counts the resumed batches' seconds, not the seconds of loading them
    assert again.metadata["recover_seconds"] == dwa.metadata["recover_seconds"] > 0
    assert again.distill_seconds == dwa.distill_seconds > again.metadata["wall_time"]  # the work, not the reload
    assert dwa.metadata["teacher_sha256"] == sha256(teacher_dir / "teacher.safetensors")  # which teacher, exactly
    # batches recovered with other settings (iterations, rho) or another teacher are refused, not mixed in
    for other in ({"iterations": 1}, {"rho": 0.0}):
        with pytest.raises(ValueError, match="recovered by another run"):
            distill("dwa", small_digits, 2, seed=1, snapshot_dir=str(tmp_path / "dwa"), **{**options, **other})
    other_teacher = tmp_path / "other-teacher"
    train_teacher(small_digits, other_teacher, epochs=1, lr=0.05, progress=False)
    with pytest.raises(ValueError, match="recovered by another run"):
        distill("dwa", small_digits, 2, seed=1, snapshot_dir=str(tmp_path / "dwa"),
                **{**options, "teacher": str(other_teacher)})
    with pytest.raises(ValueError, match="teacher"):
        distill("sre2l", small_digits, 1)


def test_teacher_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "teacher"
    assert main(["teacher", "--dataset", "digits", "--epochs", "1", "--out", str(out)]) == 0
    assert "ConvNetBN teacher" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["epochs"] == 1


def test_resnet18_teacher_on_colour_tensors(tmp_path):
    from mgdd.data import from_tensors

    g = torch.Generator().manual_seed(0)
    data = from_tensors(torch.rand(20, 3, 16, 16, generator=g), torch.arange(20) % 2, num_classes=2, name="tiny")
    train_teacher(data, tmp_path / "t", arch="ResNet18BN", epochs=1, batch_size=10, progress=False)
    syn = distill("dwa", data, 1, teacher=str(tmp_path / "t"), iterations=2, progress=False)
    assert syn.images.shape == (2, 3, 16, 16)
    start = distill("dwa", data, 1, teacher=str(tmp_path / "t"), iterations=1, progress=False)
    assert not torch.equal(syn.images, start.images)  # a second step moved the colour images through the ResNet


# ---------------------------------------------------------------- relabel protocol and label-robust score
def test_relabel_protocol_queries_the_teacher_on_each_augmented_mixed_batch(small_digits, teacher_dir):
    from mgdd.relabel import train_with_teacher

    teacher, _ = load_teacher(teacher_dir)
    seen = []
    handle = teacher.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].clone()))
    syn = distill("random", small_digits, 3, seed=0)
    net = seeded_network("ConvNet", 1, 10, 8, 0)
    train_with_teacher(net, syn.images, teacher, 2, torch.tensor([0.0]), batch_size=16,
                       rng=torch.Generator().manual_seed(0))
    handle.remove()
    assert len(seen) == 2 * 2  # 2 epochs x 2 batches of <= 16 of the 30 images
    raw = syn.images.flatten(1)
    for batch in seen:  # mixed and cropped: no teacher input is one of the stored images
        distances = torch.cdist(batch.flatten(1), raw)
        assert distances.min() > 1e-3


def test_evaluate_with_a_teacher_and_with_fixed_teacher_labels(small_digits, teacher_dir):
    import mgdd
    from mgdd.relabel import with_teacher_labels

    syn = distill("random", small_digits, 2, seed=0)
    result = mgdd.evaluate(syn, small_digits, models=1, epochs=3, teacher=str(teacher_dir), progress=False)
    assert result.loss == "teacher_kl" and result.lr == 1e-3 and result.extra["temperature"] == 30.0
    teacher, _ = load_teacher(teacher_dir)
    fixed = with_teacher_labels(syn, teacher, temperature=2.0)
    assert torch.allclose(fixed.labels.sum(1), torch.ones(len(fixed)), atol=1e-5)
    assert torch.allclose(fixed.labels, F.softmax(teacher(syn.images) / 2.0, dim=1), atol=1e-6)
    assert mgdd.evaluate(fixed, small_digits, models=1, epochs=2, progress=False).loss == "soft_ce"
    wrong = get_network("ConvNetBN", 1, 3, 8)
    with pytest.raises(ValueError, match="predicts 3 classes"):
        mgdd.evaluate(syn, small_digits, models=1, epochs=1, teacher=wrong, progress=False)


def test_label_robust_score_by_hand():
    import math

    from mgdd.relabel import label_robust_score

    scores = label_robust_score(full_hard=0.9, syn_hard=0.7, syn_soft=0.8, random_soft=0.75)
    assert scores["hlr"] == pytest.approx(0.2) and scores["ior"] == pytest.approx(0.05)
    alpha = 0.5 * 0.05 - 0.5 * 0.2
    assert scores["lrs"] == pytest.approx((math.exp(alpha) - math.exp(-1)) / (math.exp(1) - math.exp(-1)))
    assert label_robust_score(1.0, 1.0, 1.0, 0.0)["lrs"] > label_robust_score(1.0, 0.5, 1.0, 0.0)["lrs"]
    with pytest.raises(ValueError, match="fractions"):
        label_robust_score(90.0, 70.0, 80.0, 75.0)


def test_label_protocols_side_by_side(small_digits, teacher_dir):
    from mgdd.label_protocols import compare_label_protocols, evaluate_label_protocols

    teacher, _ = load_teacher(teacher_dir)
    syn = distill("sre2l", small_digits, 1, teacher=str(teacher_dir), iterations=2, progress=False)
    random_set = distill("random", small_digits, 1, seed=0)
    report = compare_label_protocols(syn, random_set, small_digits, teacher, full_data_accuracy=90.0, models=1,
                                     epochs=2, progress=False)
    for name in ("set", "random"):
        assert [report[name][p].loss for p in ("hard", "fixed", "relabel")] == ["ce", "soft_ce", "teacher_kl"]
    scores = report["scores"]
    assert scores["hlr"] == pytest.approx(0.9 - report["set"]["hard"].mean / 100)
    assert scores["ior"] == pytest.approx((report["set"]["relabel"].mean - report["random"]["relabel"].mean) / 100)
    # One set on its own (the benchmark evaluates random images once per IPC) gives the same figures.
    alone = evaluate_label_protocols(random_set, small_digits, teacher, models=1, epochs=2, progress=False)
    assert {p: r.accuracies for p, r in alone.items()} == {p: r.accuracies for p, r in report["random"].items()}
    # a subset of the protocols gives the same figures for those; an unknown one fails before any training
    relabel_only = evaluate_label_protocols(random_set, small_digits, teacher, models=1, epochs=2, progress=False,
                                            protocols=("relabel",))
    assert list(relabel_only) == ["relabel"] and relabel_only["relabel"].accuracies == alone["relabel"].accuracies
    with pytest.raises(ValueError, match="unknown label protocols \\['soft'\\]"):
        evaluate_label_protocols(random_set, small_digits, teacher, protocols=("hard", "soft"))


def test_benchmark_table_puts_the_protocols_side_by_side():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from sre2l_dwa_fashion_mnist import markdown

    cell = {"ipc": 10, "method": "dwa", "iterations": 1000, "recover_seconds": 120.4,
            **{p: {"mean": m, "std": 0.1} for p, m in (("hard", 70.0), ("fixed", 75.0), ("relabel", 80.0))},
            "random": {"hard": 76.0, "fixed": 77.0, "relabel": 78.0},
            "scores": {"hlr": 0.2, "ior": 0.02, "lrs": 0.2}, "models": 3, "epochs": 300, "date": "2026-11-28",
            "machine": "CPU", "command": "python b.py"}
    full = {"accuracy": 90.0, "epochs": 5, "seconds": 600.0, "command": "python b.py"}
    text = markdown({"ipc10 it1000 dwa": cell, "full-data ep5": full})
    assert "| 10 | dwa | 1000 | 120 | 70.00 ± 0.10 | 75.00 ± 0.10 | 80.00 ± 0.10 | 76.00 / 77.00 / 78.00 |" in text
    assert "Full data, hard labels (HLR's reference): 90.00 %" in text
    # a cell evaluated without the fixed protocol, from snapshots older than their recovery seconds
    partial = {**{k: v for k, v in cell.items() if k != "fixed"}, "recover_seconds": None,
               "random": {"hard": 76.0, "relabel": 78.0}}
    text = markdown({"ipc10 it1000 dwa": partial, "full-data ep5": full})
    assert "| 10 | dwa | 1000 | — | 70.00 ± 0.10 | — | 80.00 ± 0.10 | 76.00 / — / 78.00 |" in text


def test_the_bundled_teacher_loads_offline_and_keeps_its_recorded_accuracy(fmnist_test):
    from mgdd.teacher import DEFAULT_TEACHER, bundled_teachers

    assert DEFAULT_TEACHER in bundled_teachers()
    teacher, config = load_teacher(DEFAULT_TEACHER)
    assert config["arch"] == "ConvNetBN" and config["dataset"] == "fashion-mnist" and not teacher.training
    subset = fmnist_test.balanced_subset(200, seed=0)  # 2000 test images: a binomial std of 0.7 points
    with torch.no_grad():
        measured = 100 * (teacher(subset.images).argmax(1) == subset.labels).float().mean().item()
    assert abs(measured - config["test_accuracy"]) < 3.0, (measured, config["test_accuracy"])


def test_a_teacher_that_is_nowhere_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished teacher at .*missing"):
        load_teacher(tmp_path / "missing")
    with pytest.raises(ConnectionError, match="'someone/teacher-x'.*bundled 'teacher-convnetbn-fashion-mnist'"):
        load_teacher("someone/teacher-x")  # the Hub is offline in the tests and nothing is cached
