"""MetaGenerator: save/load (strict), bad checkpoints, adaptation and any-size generation."""

import json
import math
from pathlib import Path

import pytest
import torch

import mgdd
from mgdd.selection import FeatureSelector
from mgdd.generator.meta import MetaGenerator

TINY = dict(width=16, code_dim=16, blocks=1, feature_width=32)


@pytest.fixture(scope="module")
def adapted(digits_train):
    torch.manual_seed(0)
    gen = MetaGenerator(**TINY)
    return gen.adapt(digits_train, steps=6, ipc=2, lr=1e-3, progress=False)


def test_save_and_load_round_trip(tmp_path):
    gen = MetaGenerator(**TINY)
    with torch.no_grad():
        gen.generator.out.weight.normal_()
    gen.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["width"] == 16 and config["feature_width"] == 32
    assert (tmp_path / "m" / "README.md").read_text().startswith("---")
    loaded = MetaGenerator.from_pretrained(tmp_path / "m")
    assert not loaded.model.training
    for (k, a), (_, b) in zip(gen.model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_config_that_does_not_match_the_weights(tmp_path):
    MetaGenerator(**TINY).save_pretrained(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["width"] = 24
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="do not match"):
        MetaGenerator.from_pretrained(tmp_path / "m")


def test_truncated_weight_file(tmp_path):
    MetaGenerator(**TINY).save_pretrained(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        MetaGenerator.from_pretrained(tmp_path / "m")


def test_missing_weights_and_offline_hub_id(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        MetaGenerator.from_pretrained(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not a bundled model"):
        MetaGenerator.from_pretrained("no-such-model")
    with pytest.raises(ConnectionError, match="mgdd-convnet-28"):
        MetaGenerator.from_pretrained("someone/not-cached-model", cache_dir=str(tmp_path / "cache"))


def test_adaptation_records_its_curve(adapted):
    info = adapted.adapt_info
    assert info["steps"] == 6 and len(info["losses"]) == 6 and info["dataset"] == "digits"
    assert all(loss > 0 for loss in info["losses"])


def test_generates_any_size_with_least_squares_labels(adapted, digits_train):
    for ipc in (1, 3, 7):  # 3 and 7 never seen in adaptation (ipc=2)
        syn = adapted.generate(ipc, seed=1)
        assert len(syn) == 10 * ipc and syn.ipc == ipc
        assert syn.labels.shape == (10 * ipc, 10) and syn.labels.dtype == torch.float32
        assert syn.metadata["method"] == "mgdd" and syn.metadata["adaptation"]["steps"] == 6
        # least-squares labels mostly agree with the class of the initial sample
        classes = torch.arange(10).repeat_interleave(ipc)
        assert syn.sample_classes.tolist() == classes.tolist()  # recorded, whatever the argmax says
        assert (syn.labels.argmax(1) == classes).float().mean() > 0.6
    hard = adapted.generate(2, labels="hard")
    assert hard.labels.tolist() == torch.arange(10).repeat_interleave(2).tolist()
    again = adapted.generate(3, seed=1)
    assert torch.equal(again.images, adapted.generate(3, seed=1).images)
    kcenter = adapted.generate(2, init="kcenter", guided_steps=0)  # the start itself: k-center in random features
    herding = adapted.generate(2, init="herding", guided_steps=0)
    assert kcenter.sample_classes.tolist() == torch.arange(10).repeat_interleave(2).tolist()
    assert not torch.equal(kcenter.images, herding.images)  # another rule, other real images


def test_label_solve_uses_more_real_samples_for_larger_sets(adapted):
    from mgdd.generator.meta import default_label_samples

    assert [default_label_samples(ipc) for ipc in (1, 10, 50)] == [100, 100, 500]
    solved = adapted.generate(12, labels="least-squares")
    assert solved.metadata["label_real_per_class"] == 120
    few = adapted.generate(12, labels="least-squares", real_per_class=20)
    assert few.metadata["label_real_per_class"] == 20
    # the same images, labels solved from fewer real points: different labels
    assert torch.equal(few.images, solved.images)
    assert not torch.allclose(few.labels, solved.labels)


def test_auto_labels_are_solved_up_to_ipc_10_and_one_hot_above(adapted):
    from mgdd.generator.meta import SOFT_LABEL_MAX_IPC

    assert SOFT_LABEL_MAX_IPC == 10
    small, large = adapted.generate(10), adapted.generate(11)
    assert small.metadata["labels"] == "least-squares" and small.labels.is_floating_point()
    assert large.metadata["labels"] == "hard" and large.labels.tolist() == torch.arange(10).repeat_interleave(11).tolist()


def test_labels_solved_across_several_networks(adapted):
    one, four = adapted.generate(5, label_networks=1), adapted.generate(5, label_networks=4)
    assert torch.equal(one.images, four.images)
    assert four.metadata["label_networks"] == 4 and four.metadata["label_ridge"] == adapted.model.ridge
    assert not torch.allclose(one.labels, four.labels, atol=1e-3)
    classes = torch.arange(10).repeat_interleave(5)
    assert (four.labels.argmax(1) == classes).float().mean() > 0.6
    sharp = adapted.generate(5, label_ridge=1e-6)  # a smaller head ridge fits the real batch more tightly
    assert sharp.metadata["label_ridge"] == 1e-6 and not torch.allclose(sharp.labels, one.labels, atol=1e-3)


def test_herding_start_is_the_herding_baselines_selection(digits_train):
    identity = MetaGenerator(**TINY)  # zero-initialised output: the generated images are the initial ones
    syn = identity.generate(2, data=digits_train, init="herding", seed=3)
    herding = mgdd.distill("herding", digits_train, 2, seed=3)
    assert syn.metadata["init"] == "herding"
    assert torch.allclose(syn.images, herding.images, atol=1e-5)


def test_generate_records_the_seconds_of_its_parts(adapted):
    first = adapted.generate(2, label_networks=3, seed=11)  # new label networks: their real features are computed
    again = adapted.generate(2, label_networks=3, seed=11)
    parts = again.metadata["part_seconds"]
    assert {"guidance", "generator", "label features", "label solve", "real features"} <= set(parts)
    assert all(v >= 0 for v in parts.values()) and sum(parts.values()) <= again.metadata["wall_time"] + 1e-3
    assert first.metadata["part_seconds"]["real features"] > parts["real features"]  # cached after the first call
    assert "label solve" not in adapted.generate(2, labels="hard").metadata["part_seconds"]


def test_guided_steps_apply_the_generator_again(adapted):
    one, three = adapted.generate(4, seed=2), adapted.generate(4, seed=2, guided_steps=3)
    assert one.metadata["guided_steps"] == 1 and three.metadata["guided_steps"] == 3
    assert not torch.allclose(one.images, three.images)  # same start, two more generator steps
    none = adapted.generate(4, seed=2, guided_steps=0)  # no generator: the start images as they are
    herded = FeatureSelector("herding").select_indices(adapted.target.data, 4, 2, torch.device("cpu"))
    assert torch.equal(none.images, adapted.target.data.images[herded])
    with pytest.raises(ValueError, match="guided_steps"):
        adapted.generate(4, guided_steps=-1)


def test_generate_rejects_bad_input(adapted, digits_train):
    with pytest.raises(ValueError, match="ipc"):
        adapted.generate(0)
    with pytest.raises(ValueError, match="larger than class"):
        adapted.generate(10_000)
    with pytest.raises(ValueError, match="init"):
        adapted.generate(1, init="best")
    with pytest.raises(ValueError, match="label_networks"):
        adapted.generate(1, label_networks=0)
    with pytest.raises(RuntimeError, match="adapt"):
        MetaGenerator(**TINY).generate(1)


def test_channel_mismatch_is_an_error_unless_converted(digits_train):
    colour = mgdd.from_tensors(digits_train.denormalize().repeat(1, 3, 1, 1), digits_train.labels, name="rgb")
    gen = MetaGenerator(**TINY)
    with pytest.raises(ValueError, match="1-channel"):
        gen.adapt(colour, steps=1, progress=False)
    gen.adapt(colour, steps=1, ipc=1, progress=False, convert_channels=True)
    # the set comes back in the user's channels and normalisation, so it is evaluated against colour data
    syn = gen.generate(1)
    assert syn.image_shape == (3, 8, 8) and syn.mean == colour.mean and syn.std == colour.std
    assert syn.metadata["converted_from_channels"] == 1
    pixels = syn.denormalize()  # grey: the three channels are equal
    assert torch.allclose(pixels[:, 0], pixels[:, 2], atol=1e-5)
    assert torch.equal(gen.generate(1, data=colour).images, syn.images)  # the user's data is the adapted target
    # without adaptation, generate converts the same way on request; otherwise it skips the generator, keeping colour
    fresh = MetaGenerator(**TINY)
    kept = fresh.generate(1, data=colour)
    assert kept.metadata["guided_steps"] == 0 and "converted_from_channels" not in kept.metadata
    assert fresh.generate(1, data=colour, convert_channels=True).metadata["converted_from_channels"] == 1
    with pytest.raises(ValueError, match="convert_channels=True"):
        fresh.generate(1, data=colour, guided_steps=1)  # the generator asked for on colour data


def test_empty_class_and_nan_data_are_rejected():
    images = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 0, 0, 2, 2, 2])  # class 1 is empty
    data = mgdd.from_tensors(images, labels, num_classes=3)
    with pytest.raises(ValueError, match="class 1"):
        MetaGenerator(**TINY).adapt(data, steps=1, ipc=1, progress=False)
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        mgdd.from_tensors(images, labels, num_classes=3)


def test_bundled_default_loads_offline_and_never_saw_fashion_mnist():
    gen = MetaGenerator.from_pretrained()  # the bundled "mgdd-convnet-28"
    assert not gen.model.training and gen.model.channels == 1
    assert gen.model.clamp_output is False  # meta-trained without the clamp (clamping it afterwards cost 1.5 points)
    sources = gen.provenance["meta_training"]["sources"]
    assert sources and "fashion-mnist" not in sources
    assert gen.provenance["meta_training"]["completed_steps"] >= 1000
    # meta-training moved it away from the identity it starts as
    assert gen.generator.out.weight.abs().sum() > 0


def test_shipped_model_card_is_the_bundled_models_rendered_card():
    gen = MetaGenerator.from_pretrained()
    card = str(gen.model.generate_model_card(repo_id="mgdd-convnet-28"))
    repo = Path(__file__).resolve().parents[1]
    assert (repo / "model_cards" / "mgdd-convnet-28.md").read_text() == card
    assert "Measured results" in card and gen.provenance["results"] in card


def test_config_is_architecture_only_and_provenance_travels_in_the_card(tmp_path):
    gen = MetaGenerator(**TINY)
    gen.provenance["meta_training"] = {"completed_steps": 7, "sources": ["digits"]}
    gen.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert set(config) == {"channels", "width", "code_dim", "blocks", "feature_arch", "feature_width", "ridge",
                           "label_ridge", "unroll", "clamp_output"}
    card = (tmp_path / "m" / "README.md").read_text()
    assert "mgdd_provenance:" in card.split("---")[1] and "Meta-trained for 7 steps" in card
    gen.provenance["meta_training"]["completed_steps"] = 9  # a second save rewrites the card
    gen.provenance["results"] = "| setting | IPC 1 |\n| --- | --- |\n| one pass | 71.00 |\n\n- a note"
    gen.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    assert card.count("71.00") == 1 and "71.00" not in card.split("---")[1]  # the table once, in the body
    provenance = MetaGenerator.from_pretrained(tmp_path / "m").provenance
    assert provenance["meta_training"]["completed_steps"] == 9 and provenance["results"] == gen.provenance["results"]
    with pytest.raises(ValueError, match="not both"):
        MetaGenerator(gen.model, width=8)


def test_mgdd_is_a_method_of_distill_and_the_cli(digits_train, tmp_path):
    """distill("mgdd") / `mgdd distill --method mgdd` run the same adapt + generate as the pipeline."""
    from mgdd.cli import main

    torch.manual_seed(0)
    MetaGenerator(**TINY).save_pretrained(tmp_path / "tiny")
    options = dict(model=str(tmp_path / "tiny"), generator="pretrained", steps=2, adapt_ipc=2, lr=1e-3, progress=False)
    syn = mgdd.distill("mgdd", digits_train, ipc=3, seed=1, **options)
    by_hand = MetaGenerator.from_pretrained(tmp_path / "tiny").adapt(digits_train, steps=2, ipc=2, lr=1e-3, seed=1,
                                                                     progress=False).generate(3, seed=1)
    torch.testing.assert_close(syn.images, by_hand.images)
    torch.testing.assert_close(syn.labels, by_hand.labels)
    assert syn.metadata["method"] == "mgdd" and syn.metadata["distill_seconds"] > 0
    assert syn.metadata["options"]["steps"] == 2
    out = tmp_path / "set"
    assert main(["distill", "--method", "mgdd", "--dataset", "digits", "--ipc", "2", "--out", str(out),
                 "--option", f"model={tmp_path / 'tiny'}", "--option", "generator=pretrained", "--option", "steps=1",
                 "--option", "adapt_ipc=1"]) == 0
    assert mgdd.SyntheticSet.load(out).metadata["method"] == "mgdd"
    with pytest.raises(ValueError, match="steps"):
        mgdd.distill("mgdd", digits_train, ipc=1, steps=-1)


def test_adaptation_over_a_range_of_sizes(digits_train):
    gen = MetaGenerator(**TINY).adapt(digits_train, steps=8, ipc=(1, 6), lr=1e-3, progress=False)
    sizes = gen.adapt_info["step_ipcs"]
    assert len(sizes) == 8 and all(1 <= s <= 6 for s in sizes) and len(set(sizes)) > 1
    assert gen.adapt_info["ipc"] == [1, 6] and "step_ipcs" not in gen.generate(2).metadata["adaptation"]
    with pytest.raises(ValueError, match="range"):
        MetaGenerator(**TINY).adapt(digits_train, steps=1, ipc=(5, 2), progress=False)


def test_adaptation_with_an_online_model_pool_trains_the_pool(digits_train, monkeypatch):
    from mgdd.nets import online_pool

    pools = []
    original = online_pool.OnlineModelPool.__init__

    def keep(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pools.append(self)

    monkeypatch.setattr(online_pool.OnlineModelPool, "__init__", keep)
    torch.manual_seed(0)
    gen = MetaGenerator(**TINY).adapt(digits_train, steps=4, ipc=2, lr=1e-3, model_pool="online", pool_size=2,
                                      max_online_updates=50, progress=False)
    (pool,) = pools
    # staggered start ages 0 and 25, plus one update per step
    assert sum(m.age for m in pool.members) == 25 + 4
    assert gen.adapt_info["model_pool"] == "online" and all(math.isfinite(v) for v in gen.adapt_info["losses"])
    with pytest.raises(ValueError, match="model_pool"):
        MetaGenerator(**TINY).adapt(digits_train, steps=1, model_pool="frozen", progress=False)


def test_adaptation_with_the_platt_loss_learns_its_scale(digits_train):
    torch.manual_seed(0)
    gen = MetaGenerator(**TINY).adapt(digits_train, steps=10, ipc=2, lr=1e-3, loss="platt", progress=False)
    info = gen.adapt_info
    # the ridge predictions (about 0..1) are far too flat for a cross-entropy: the learned scale must grow from 1
    assert info["loss"] == "platt" and info["platt_scale"] > 1.05
    assert all(math.isfinite(v) for v in info["losses"])
    with pytest.raises(ValueError, match="loss must be one of"):
        MetaGenerator(**TINY).adapt(digits_train, steps=1, loss="hinge", progress=False)


def test_loading_prints_nothing(capsys):
    MetaGenerator.from_pretrained()
    assert capsys.readouterr().out == ""


def test_adaptation_without_steps_computes_no_feature_pool(digits_train, monkeypatch):
    import mgdd.generator.meta as meta

    def no_pool(*args, **kwargs):
        raise AssertionError("a 0-step adaptation embedded real images for a pool it never uses")

    monkeypatch.setattr(meta, "FeaturePool", no_pool)
    gen = MetaGenerator(**TINY)
    before = {k: v.clone() for k, v in gen.model.state_dict().items()}
    gen.adapt(digits_train, steps=0, ipc=2, progress=False)
    assert gen.adapt_info["steps"] == 0 and gen.adapt_info["losses"] == []
    assert all(torch.equal(before[k], v) for k, v in gen.model.state_dict().items())
    with pytest.raises(ValueError, match="steps must be >= 0"):
        gen.adapt(digits_train, steps=-1, progress=False)


def test_a_size_the_generator_was_not_trained_on_is_said(digits_train, caplog):
    with caplog.at_level("WARNING"):
        MetaGenerator.from_pretrained().adapt(digits_train, steps=0, progress=False)
    assert "meta-trained on 28x28 images and the data's are 8x8" in caplog.text
