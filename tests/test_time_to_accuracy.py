"""The headline ratio of benchmarks/time_to_accuracy.py, on hand-made entries."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from time_to_accuracy import headline, render  # noqa: E402


def entry(method, seconds, accuracy, **extra):
    return {"method": method, "ipc": 10, "rung": seconds, "seconds": seconds, "accuracy": accuracy, "std": 0.1,
            "models": 2, "epochs": 300, "date": "2026-11-27", "machine": "test", "command": "python x", **extra}


def test_ratio_uses_the_first_rung_reaching_mgdds_best():
    results = {
        "a": entry("mgdd", 100, 80.0, steps=200), "b": entry("mgdd", 50, 78.0, steps=50),
        "c": entry("dm", 300, 79.0), "d": entry("dm", 600, 80.5), "e": entry("dc", 900, 81.0),
    }
    text = headline(results, 10)
    assert "MGDD: 80.00 % after 100 s" in text
    assert "dm at 600 s; ratio 6.0x" in text


def test_ratio_is_a_lower_bound_when_no_baseline_reaches_mgdd():
    results = {"a": entry("mgdd", 100, 80.0, steps=200), "c": entry("dm", 1200, 79.0),
               "d": entry("mtt", 2400, 79.5, upfront_seconds=1000)}
    text = headline(results, 10)
    assert "ratio > 24.0x" in text and "mtt 79.50 % at 2400 s" in text
    table = render(results)
    assert "| mtt | 2400 | 2400 | 79.50 ± 0.10 |" in table and "| 1000 |" in table
