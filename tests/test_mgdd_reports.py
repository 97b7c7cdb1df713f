"""The MGDD results table (targets, variants) and the model card composed from results JSON, on hand-made entries."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from mgdd_fashion_mnist import describe_labels, parse_label_variant, parse_variant, render, targets_section  # noqa: E402
from model_card_results import results_text  # noqa: E402


def adapt_entry(ipc, mean, generate_seconds=0.5):
    return {"ipc": ipc, "mean": mean, "std": 0.2, "adapt_steps": 200, "adapt_ipc": 10, "adapt_seconds": 500.0,
            "generate_seconds": generate_seconds, "unseen_in_adaptation": ipc != 10}


def curve_entry(start, steps, ipc, mean):
    return {"start": start, "steps": steps, "ipc": ipc, "mean": mean, "std": 0.3}


def test_targets_section_gives_each_verdict():
    adapt = [adapt_entry(1, 73.0), adapt_entry(10, 80.0), adapt_entry(50, 88.5, generate_seconds=2.5)]
    curve = [curve_entry("meta", 0, 10, 78.0), curve_entry("scratch", 0, 10, 77.0),
             curve_entry("meta", 50, 10, 78.0), curve_entry("scratch", 50, 10, 79.0),
             curve_entry("meta", 200, 10, 80.0)]  # no scratch partner: not counted
    text = "\n".join(targets_section(adapt, curve))
    assert "| IPC 1 >= 72 % | 73.00 % | met |" in text
    assert "| IPC 10 >= 85 % | 80.00 % | **missed** |" in text
    assert "| IPC 50 >= 88 % | 88.50 % | met |" in text
    assert "| generate(ipc=50) < 2 s | 2.50 s (" in text and "generate_speed.md) | **missed** |" in text
    assert "1 of 2 (IPC, steps) pairs | **missed** |" in text


def test_card_text_comes_from_the_entries():
    superseded = {**adapt_entry(10, 70.0), "label_real_per_class": 7}  # not the default solve: left out
    mgdd = {"adapt/ipc1": adapt_entry(1, 61.5), "adapt/ipc10": adapt_entry(10, 86.0), "adapt/ipc10/x": superseded,
            "curve/meta/steps0": curve_entry("meta", 0, 10, 77.0),
            "curve/scratch/steps0": curve_entry("scratch", 0, 10, 79.0)}
    coreset = {"r1": {"method": "random", "ipc": 1, "mean": 52.0, "std": 1.0},
               "h1": {"method": "herding", "ipc": 1, "mean": 69.0, "std": 1.0}}
    text = results_text(mgdd, {}, coreset)
    assert ("| adapted 200 steps at IPC 10 (500 s), then generate (the defaults) | 61.50 ± 0.20 (size unseen) |"
            " 86.00 ± 0.20 |") in text
    assert "| untrained generator, same labels, 0 steps at that IPC (random start, earlier defaults) | — | 79.00 ± 0.30 |" in text
    assert "| random real images (one-hot labels) | 52.00 ± 1.00 | — |" in text
    assert "Accuracy targets missed: IPC 1 (61.50 < 72)." in text  # IPC 10 met: not listed
    assert "beats the untrained generator in 0 of 1" in text


def test_adaptation_variants_parse_to_adapt_options_and_reject_typos():
    assert parse_variant("mean_weight=1,augment=true") == {"mean_weight": 1.0, "augment": True}
    assert parse_variant("real_per_class=64") == {"real_per_class": 64}
    with pytest.raises(ValueError, match="mean_wieght"):
        parse_variant("mean_wieght=1")
    with pytest.raises(ValueError, match="bad value"):
        parse_variant("augment=maybe")


def test_variants_table_lists_each_variant():
    entry = {"variant": "mean_weight=1", "ipc": 10, "adapt_steps": 200, "mean": 79.5, "std": 0.25, "adapt_seconds": 510.0,
             "models": 3, "machine": "m", "command": "python x"}
    text = render({"variant/mean_weight=1/ipc10/steps200": entry})
    assert "| mean_weight=1 | 10 | 200 | 0 | 79.50 ± 0.25 | 510.0 | 3 |" in text


def test_label_variants_parse_into_generate_options():
    assert parse_label_variant("hard") == {"labels": "hard"}
    assert parse_label_variant("500,nets=8") == {"labels": "least-squares", "real_per_class": 500, "label_networks": 8}
    herding = parse_label_variant("nets=8,init=herding")
    assert herding == {"labels": "least-squares", "label_networks": 8, "init": "herding"}
    assert describe_labels(herding) == "herding images, least-squares, default real per class, solved across 8 networks"
    with pytest.raises(ValueError, match="expected"):
        parse_label_variant("100,temperature=2")


def test_card_states_time_to_accuracy_per_processor():
    zen4 = "AMD EPYC, Zen 4, family 25 model 17"
    tta = {"a": {"method": "mgdd-identity", "ipc": 10, "rung": 1200, "seconds": 1203, "accuracy": 84.14, "std": 0.01,
                 "processor": zen4},
           "b": {"method": "frepo", "ipc": 10, "rung": 1200, "seconds": 1200, "accuracy": 81.98, "std": 0.03,
                 "processor": zen4},
           "old": {"method": "dm", "ipc": 10, "rung": 1200, "seconds": 1201, "accuracy": 80.94, "std": 0.03}}
    text = results_text({}, tta, {})
    assert f"IPC 10, every method distilled on one {zen4}" in text
    assert "1203 s: 84.14, at or above the best baseline so far (frepo 81.98 at 1200 s)" in text
    assert "dm 80.94" not in text  # rows of another processor never enter the comparison
    # the rung table: each method's accuracy at each rung, and the best baseline by then
    assert "| mgdd-identity |  | 84.14 (1203 s) |" in text and "| best baseline by then |  | frepo 81.98 (1200 s) |" in text
