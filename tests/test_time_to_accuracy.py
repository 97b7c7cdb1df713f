"""The acceptance line and the per-processor tables of benchmarks/time_to_accuracy.py, on hand-made entries."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from time_to_accuracy import acceptance, curves, processor_slug, render  # noqa: E402

ZEN4 = "AMD EPYC, Zen 4, family 25 model 17"


def entry(method, seconds, accuracy, processor=ZEN4, **extra):
    return {"method": method, "ipc": 10, "rung": seconds, "seconds": seconds, "accuracy": accuracy, "std": 0.1,
            "models": 2, "epochs": 300, "processor": processor, "distill_date": "2026-12-06",
            "machine": "test", "command": "python x", "distill_command": "python y", **extra}


def test_mgdd_is_compared_with_every_baseline_measured_at_or_before_its_rung():
    results = {"a": entry("mgdd", 60, 80.0), "b": entry("mgdd", 300, 81.0), "c": entry("dm", 120, 80.5),
               "d": entry("herding", 25, 78.7), "e": entry("frepo", 290, 81.5)}
    text = acceptance(curves(results, 10, ZEN4))
    assert "60 s: 80.00, at or above the best baseline so far (herding 78.70 at 25 s)" in text
    assert "300 s: 81.00, BELOW the best baseline so far (frepo 81.50 at 290 s)" in text


def test_tables_never_mix_processors_and_pending_sets_are_counted():
    results = {"a": entry("mgdd", 60, 80.0), "b": entry("dm", 30, 90.0, processor="Intel Xeon"),
               "c": entry("dm", 600, None)}
    assert "no baseline this early" in acceptance(curves(results, 10, ZEN4))  # the Intel row is another table
    table = render(results)
    assert f"## IPC 10, distilled on {ZEN4}" in table and "## IPC 10, distilled on Intel Xeon" in table
    assert "| dm | 600 | 600 | pending |" in table and "1 set(s) distilled, evaluation pending" in table
    assert processor_slug(ZEN4) == "amd-epyc-zen-4-family-25-model-17"


def test_a_code_revision_is_a_table_of_its_own_and_the_shipped_table_is_chosen_by_name():
    from time_to_accuracy import SHIPPED_TABLE, shipped_table

    revised = f"{ZEN4}, chunked embedding"
    results = {"a": entry("mgdd", 300, 81.0), "b": entry("frepo", 290, 81.5),
               "c": entry("mgdd", 300, 82.0, table=revised, distill_date="2026-12-08")}
    assert [e["accuracy"] for e in curves(results, 10, ZEN4)["mgdd"]] == [81.0]  # old code's row only
    assert "no baseline this early" in acceptance(curves(results, 10, revised))  # FRePo ran the old code
    assert f"## IPC 10, distilled on {revised}" in render(results)
    assert SHIPPED_TABLE == ZEN4 and shipped_table(results) == ZEN4  # by name, though the revision is newer
    del results["a"], results["b"]
    assert shipped_table(results) == revised  # the newest evaluated table when the shipped one has no row


def test_each_rung_keeps_the_snapshot_that_crossed_it_and_none_it_passed_over():
    from time_to_accuracy import rung_snapshots

    ladder = [60, 120, 300, 600, 1200]
    dm = [(76, "a"), (125, "b"), (310, "c"), (602, "d"), (700, "every-10"), (1201, "e")]
    assert rung_snapshots(dm, ladder) == {60: (76, "a"), 120: (125, "b"), 300: (310, "c"), 600: (602, "d"),
                                          1200: (1201, "e")}
    # MGDD adapted for 341 s: its refinement's first snapshot is at 602 s, so rungs 60-300 have no set of their own
    assert rung_snapshots([(602, "d"), (1201, "e")], ladder) == {600: (602, "d"), 1200: (1201, "e")}


def test_the_views_show_a_learned_label_run_with_the_labels_the_pipeline_keeps():
    from time_to_accuracy import pipeline_summary, with_kept_labels

    results = {"start": entry("mgdd", 28, 85.0, rung="one-pass", ipc=50), "r600": entry("mgdd", 605, 84.3, ipc=50, rung=600),
               "dm": entry("dm", 604, 84.9, ipc=50), "h": entry("herding", 26, 85.0, ipc=50)}
    relabelled = {"r600 hard": {"set_key": "r600", "treatment": "hard", "accuracy": 85.7, "std": 0.06, "models": 2,
                                "epochs": 300, "machine": "m", "command": "python refined_labels.py"},
                  "r600 platt": {"set_key": "r600", "treatment": "platt", "accuracy": 80.0, "std": 0.1, "models": 2,
                                 "epochs": 300, "machine": "m", "command": "python refined_labels.py"}}
    shown = with_kept_labels(results, relabelled)
    kept = curves(shown, 50, ZEN4)["mgdd, one-hot kept"]
    assert [(e["seconds"], e["accuracy"]) for e in kept] == [(28, 85.0), (605, 85.7)]  # starts at the one pass
    assert "605 s: 84.30, BELOW" in acceptance(curves(shown, 50, ZEN4))  # the run's own row is unchanged
    assert "605 s: 85.70, at or above" in acceptance(curves(shown, 50, ZEN4), "mgdd, one-hot kept")
    assert "mgdd, one-hot kept against the baselines" in render(shown)
    assert results.keys() == {"start", "r600", "dm", "h"}  # the results themselves are not changed
    summary = "\n".join(pipeline_summary(shown, ZEN4))
    assert "| 50 | 85.00 (28 s) |" in summary and "85.70 (605 s)" in summary  # the summary shows the kept labels
