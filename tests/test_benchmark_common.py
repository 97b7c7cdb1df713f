"""Benchmark result files: two runs writing one file keep each other's entries."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from common import load_results, save_results  # noqa: E402


def test_two_runs_saving_one_file_keep_each_others_entries(tmp_path):
    path = tmp_path / "results.json"
    first, second = load_results(path), load_results(path)  # both started before either saved
    first["a"] = {"mean": 1.0}
    save_results(path, first)
    second["b"] = {"mean": 2.0}
    save_results(path, second)
    assert json.loads(path.read_text()) == {"a": {"mean": 1.0}, "b": {"mean": 2.0}}
    assert second == {"a": {"mean": 1.0}, "b": {"mean": 2.0}}  # the second run renders both
    first["a"] = {"mean": 1.5}  # a run's own newer entry wins over the file
    save_results(path, first)
    assert json.loads(path.read_text())["a"] == {"mean": 1.5}
