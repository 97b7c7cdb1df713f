"""MGDD's anytime pipeline: one pass, then warm-started refinement (mgdd/generator/refine.py, method.py)."""

import pytest
import torch
import torch.nn.functional as F

import mgdd
from mgdd.generator.refine import parse_budget, refine_set
from mgdd.nets import seeded_network
from mgdd.ridge import ridge_predict


def test_budget_is_seconds_or_steps_and_checked():
    assert parse_budget(None) == (None, None)
    assert parse_budget(30) == (30.0, None) and parse_budget("300s") == (300.0, None)
    assert parse_budget("500 steps") == (None, 500)
    for bad in (0, -5, "soon", "0 steps", True):
        with pytest.raises(ValueError, match="refine"):
            parse_budget(bad)


def heldout_loss(syn, data, test):
    """The refinement's objective on held-out real images, under networks it never saw: the cross-entropy of the
    ridge head fitted on the set, at its best temperature (so that the start, which learned no scale, is not
    penalised for it)."""
    losses = []
    targets = syn.labels.double() if syn.soft_labels else F.one_hot(syn.labels, syn.num_classes).double()
    for k in range(4):
        net = seeded_network("ConvNet", 1, 10, data.image_shape[1:], 10_000 + k, torch.device("cpu"), width=128).eval()
        with torch.no_grad():
            prediction = ridge_predict(net.embed(syn.images), targets, net.embed(test.images), 1e-6)
        losses.append(min(F.cross_entropy(prediction * 2.0**e, test.labels).item() for e in range(-2, 12)))
    return sum(losses) / len(losses)


def test_refinement_lowers_the_objective_on_held_out_data(digits_train, digits_test, check_bound, margin_seed):
    one_pass = mgdd.distill("mgdd", digits_train, 2, generator="none", seed=margin_seed, progress=False)
    refined = refine_set(one_pass, digits_train, steps=60, seed=margin_seed, progress=False)
    # seeds 0-2, 1 and 2 threads: 0.89-0.92 (benchmarks/results/test_margins_new_bounds.md)
    check_bound("refined / one-pass held-out loss", heldout_loss(refined, digits_train, digits_test)
                / heldout_loss(one_pass, digits_train, digits_test), "<", 0.97)
    assert refined.metadata["refine"]["steps"] == 60 and refined.soft_labels


def test_stages_add_up_and_the_run_resumes_bit_exactly(digits_train, tmp_path):
    small = digits_train.balanced_subset(30, seed=0)
    first = mgdd.distill("mgdd", small, 2, generator="none", refine_steps=6, snapshot_dir=str(tmp_path),
                         progress=False)
    stages = first.metadata["stages"]
    assert stages["adaptation"] == 0 and stages["one_pass"] > 0 and stages["refinement"] > 0
    assert first.metadata["distill_seconds"] == pytest.approx(sum(stages.values()), abs=2e-3)
    assert (tmp_path / "one_pass").is_dir() and (tmp_path / "iter_000006").is_dir()
    snapshot = mgdd.SyntheticSet.load(tmp_path / "iter_000006")  # a snapshot is the set the run returned
    assert snapshot.metadata["method"] == "mgdd" and snapshot.metadata["refined_by"] == "feature-regression"
    assert snapshot.metadata["stages"] == stages and torch.equal(snapshot.images, first.images)
    resumed = mgdd.distill("mgdd", small, 2, generator="none", refine_steps=12, snapshot_dir=str(tmp_path),
                           progress=False)
    straight = mgdd.distill("mgdd", small, 2, generator="none", refine_steps=12, progress=False)
    assert resumed.metadata["iteration"] == 12
    assert torch.equal(resumed.images, straight.images) and torch.equal(resumed.labels, straight.labels)
    assert not torch.equal(resumed.images, first.images)
    with pytest.raises(ValueError, match="other settings"):  # another one pass must not continue this one
        mgdd.distill("mgdd", small, 2, generator="none", init="random", refine_steps=12, snapshot_dir=str(tmp_path),
                     progress=False)


def test_a_time_budget_bounds_the_whole_pipeline(digits_train):
    small = digits_train.balanced_subset(30, seed=0)
    syn = mgdd.distill("mgdd", small, 1, generator="none", time_budget=4.0, progress=False)
    # the budget is checked after each step: the run ends within one step of it
    assert 4.0 <= syn.metadata["distill_seconds"] < 4.0 + 2.0
    assert syn.metadata["iteration"] >= 1


def test_auto_skips_the_generator_where_it_measured_worse(digits_train):
    assert mgdd.methods.get_method("mgdd").create().resolve_generator(digits_train, 10) == "none"  # the default
    method = mgdd.methods.get_method("mgdd").create(generator="auto")
    assert method.resolve_generator(digits_train, 10) == "pretrained"
    assert method.resolve_generator(digits_train, 50) == "none"


def test_colour_is_kept_and_beats_random_real_images_on_data_whose_classes_are_hues(check_bound, margin_seed):
    """``hues``: ten classes that differ only by hue. A grey pipeline is near chance there; MGDD's default keeps
    the colour (the 1-channel generator is skipped) and beats random real images of the same size."""
    train, test = mgdd.load_dataset("hues", "train"), mgdd.load_dataset("hues", "test")
    seed = margin_seed
    sets = {"mgdd": mgdd.distill("mgdd", train, 5, seed=seed, progress=False),
            "random": mgdd.distill("random", train, 5, seed=seed),
            "grey": mgdd.distill("mgdd", train, 5, generator="pretrained", steps=0, convert_channels=True, seed=seed,
                                 progress=False)}
    quick = {name: mgdd.evaluate(syn, test, models=1, epochs=100, seed=seed, progress=False).mean
             for name, syn in sets.items()}
    assert sets["mgdd"].metadata["generator"] == "none" and sets["mgdd"].images.shape[1] == 3
    assert sets["mgdd"].metadata["channels"] == {"data": 3, "generator": 1, "handling": "kept"}
    assert sets["grey"].metadata["channels"]["handling"] == "converted"
    pixels = sets["mgdd"].denormalize()
    assert (pixels.max(1).values - pixels.min(1).values).max() > 0.5  # channels differ: not grey
    # seeds 0-2, 1 and 2 threads: MGDD - random +10.6 to +12.9, grey - random -71 to -74 (test_margins_new_bounds.md)
    check_bound("hues IPC 5: MGDD - random real (points)", quick["mgdd"] - quick["random"], ">", 4.0)
    check_bound("hues IPC 5: grey pipeline - random real (points)", quick["grey"] - quick["random"], "<", -30.0)


def test_ctrl_c_during_refinement_says_where_the_last_snapshot_is(digits_train, tmp_path, monkeypatch, caplog):
    from mgdd.feature_regression import FeatureRegression

    small = digits_train.balanced_subset(30, seed=0)
    mgdd.distill("mgdd", small, 1, generator="none", refine_steps=2, snapshot_dir=str(tmp_path), progress=False)
    calls = []
    original = FeatureRegression.iterate

    def interrupt_on_second_call(self, state):
        calls.append(state.iteration)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, state)

    monkeypatch.setattr(FeatureRegression, "iterate", interrupt_on_second_call)
    with caplog.at_level("WARNING"), pytest.raises(KeyboardInterrupt):
        mgdd.distill("mgdd", small, 1, generator="none", refine_steps=10, snapshot_dir=str(tmp_path), progress=False)
    assert "interrupted at iteration 3" in caplog.text
    assert f"The last snapshot (iteration 2) is in {tmp_path}" in caplog.text and "continues from it" in caplog.text


def test_above_ipc_10_the_one_pass_is_the_herding_set_itself(digits_train):
    """Where the generator measured below its start (IPC 50), the one pass cannot fall below herding: it is herding."""
    one_pass = mgdd.distill("mgdd", digits_train, 12, progress=False)
    herding = mgdd.distill("herding", digits_train, 12)
    assert one_pass.metadata["generator"] == "none" and one_pass.metadata["labels"] == "hard"
    assert torch.equal(one_pass.images, herding.images) and torch.equal(one_pass.labels, herding.labels)


def test_generate_refines_from_its_one_pass_with_a_budget_in_steps(digits_train, tmp_path):
    from mgdd.generator.meta import MetaGenerator

    gen = MetaGenerator.from_pretrained()
    one = gen.generate(2, data=digits_train, progress=False)
    refined = gen.generate(2, data=digits_train, refine="5 steps", snapshot_dir=tmp_path, progress=False)
    assert refined.metadata["refine"]["steps"] == 5 and refined.metadata["stages"]["refinement"] > 0
    assert refined.metadata["method"] == "mgdd" and refined.metadata["init"] == one.metadata["init"]
    assert not torch.equal(refined.images, one.images) and (tmp_path / "iter_000005").is_dir()
    with pytest.raises(ValueError, match="refine"):
        gen.generate(2, data=digits_train, refine="soon")


def test_a_start_with_one_hot_labels_keeps_them_after_refinement(digits_train):
    small = digits_train.balanced_subset(30, seed=0)
    soft = mgdd.distill("mgdd", small, 2, generator="none", refine_steps=4, progress=False)
    hard = mgdd.distill("mgdd", small, 2, generator="none", labels="hard", refine_steps=4, progress=False)
    assert soft.soft_labels and soft.metadata["refined_labels"] == "learned"
    assert not hard.soft_labels and torch.equal(hard.labels, hard.sample_classes)
    assert hard.metadata["refined_labels"].startswith("one-hot") and hard.metadata["refine"]["steps"] == 4
    assert not torch.equal(hard.images, mgdd.distill("mgdd", small, 2, generator="none", labels="hard",
                                                     progress=False).images)  # refined, not just the start
    learned = mgdd.distill("mgdd", small, 2, generator="none", labels="hard", refine_steps=4, progress=False,
                           refine_options={"keep_start_labels": False})
    assert learned.soft_labels and learned.metadata["refined_labels"] == "learned"
    assert torch.equal(learned.images, hard.images)  # the same objective, so the same images
    assert learned.labels.shape == (len(hard), 10)
    assert "keep_start_labels" in learned.metadata["refine"]["options"]  # recorded where changed
    assert "keep_start_labels" not in hard.metadata["refine"]["options"]  # and not by default: older snapshots resume
