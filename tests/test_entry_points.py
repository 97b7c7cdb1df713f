"""adapt.py and train_meta.py run end to end on tiny settings."""

import json
import sys
from pathlib import Path

import pytest

import mgdd
from mgdd.generator.meta import MetaGenerator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import adapt  # noqa: E402
import train_meta  # noqa: E402


def test_train_meta_then_adapt(tmp_path):
    out = tmp_path / "meta"
    train_meta.main(["--sources", "digits", "--steps", "2", "--out", str(out), "--width", "16", "--code-dim", "16",
                     "--blocks", "1", "--feature-width", "16", "--real-per-class", "4", "--pool-per-class", "8",
                     "--no-progress", "--cpu"])
    assert (out / "model" / "model.safetensors").exists()
    assert MetaGenerator.from_pretrained(out / "model").provenance["meta_training"]["completed_steps"] == 2

    results = adapt.main(["--model", str(out / "model"), "--generator", "pretrained", "--dataset", "digits",
                          "--steps", "2", "--adapt-ipc", "2", "--ipc", "1", "3", "--refine", "3 steps",
                          "--epochs", "2", "--models", "1", "--out", str(tmp_path / "adapt")])
    saved = json.loads((tmp_path / "adapt" / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert set(saved["sets"]) == {"ipc1", "ipc3"}
    assert saved["sets"]["ipc3"]["mean"] == pytest.approx(sum(saved["sets"]["ipc3"]["accuracies"]))  # 1 model
    syn = mgdd.SyntheticSet.load(tmp_path / "adapt" / "ipc3")
    assert len(syn) == 30 and syn.metadata["method"] == "mgdd"
    assert saved["adapt_seconds"] > 0 and syn.metadata["refine"]["steps"] == 3
    assert (tmp_path / "adapt" / "ipc3" / "grid.png").exists()


def test_train_meta_options_take_their_defaults_from_the_config_and_the_model():
    import dataclasses
    import inspect

    from mgdd.generator.meta_train import MetaTrainConfig
    from mgdd.generator.model import GeneratorModel

    args = train_meta.parse_args([])
    for field in dataclasses.fields(MetaTrainConfig):
        if field.name != "sources":
            default = field.default
            assert getattr(args, field.name) == (list(default) if isinstance(default, tuple) else default), field.name
    signature = inspect.signature(GeneratorModel.__init__).parameters
    assert all(getattr(args, name) == signature[name].default for name in train_meta.MODEL_OPTIONS)
    assert train_meta.parse_args(["--no-clamp-output", "--ipcs", "1", "3"]).clamp_output is False


def test_adapt_options_take_their_defaults_from_adapt_and_generate(monkeypatch):
    import inspect

    args = adapt.parse_args([])
    for function, names in ((MetaGenerator.adapt, adapt.ADAPT_OPTIONS), (MetaGenerator.one_pass, adapt.GENERATE_OPTIONS)):
        signature = inspect.signature(function).parameters
        assert {name: getattr(args, name) for name in names} == {name: signature[name].default for name in names}
    parsed = adapt.parse_args(["--loss", "platt", "--label-ridge", "1e-6", "--guided-steps", "3", "--init", "herding"])
    assert (parsed.loss, parsed.label_ridge, parsed.guided_steps, parsed.init) == ("platt", 1e-6, 3, "herding")
    for bad in (["--loss", "hinge"], ["--init", "best"], ["--label-ridge", "small"]):
        try:
            adapt.parse_args(bad)
        except SystemExit as exit_:
            assert exit_.code == 2
        else:
            raise AssertionError(f"{bad} was accepted")
