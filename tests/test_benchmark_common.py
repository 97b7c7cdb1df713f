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


def test_an_entry_a_run_only_loaded_never_overwrites_a_newer_one(tmp_path):
    """The stale copy problem: run A loads, run B changes an entry (a note, a re-measurement) and saves, then A
    saves its own new entry: B's change stays."""
    path = tmp_path / "results.json"
    save_results(path, {"old": {"mean": 1.0}})
    stale, fresh = load_results(path), load_results(path)
    fresh["old"]["note"] = "re-measured"
    save_results(path, fresh)
    stale["new"] = {"mean": 2.0}
    save_results(path, stale)
    assert json.loads(path.read_text()) == {"old": {"mean": 1.0, "note": "re-measured"}, "new": {"mean": 2.0}}
    stale["new"]["mean"] = 2.5  # after a save, the run's later change to its own entry is still written
    save_results(path, stale)
    assert json.loads(path.read_text())["new"] == {"mean": 2.5}
    assert json.loads(path.read_text())["old"]["note"] == "re-measured"


def test_evaluate_by_model_equals_one_call_and_resumes_after_a_kill(tmp_path, digits_train, digits_test):
    import mgdd
    from common import evaluate_by_model

    syn = mgdd.distill("random", digits_train, ipc=2, seed=0)
    options = dict(epochs=4, progress=False, net_options={"width": 8})
    whole = mgdd.evaluate(syn, digits_test, models=3, seed=5, **options)
    store, calls = tmp_path / "partial.json", []

    def one(seed):
        calls.append(seed)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third network
        return mgdd.evaluate(syn, digits_test, models=1, seed=seed, **options)

    try:
        evaluate_by_model("cell", 3, 5, one, store)
    except KeyboardInterrupt:
        pass
    assert json.loads(store.read_text())["cell"]["accuracies"] == whole.accuracies[:2]
    resumed = evaluate_by_model("cell", 3, 5, one, store)
    assert calls == [5, 6, 7, 7]  # the two finished networks are not trained again
    assert resumed.accuracies == whole.accuracies  # network i of one call is seeded seed + i
    assert resumed.epochs == 4 and resumed.wall_time > 0
    # a finished evaluation stays in the store: asked again (the caller was killed before saving), it trains nothing
    assert evaluate_by_model("cell", 3, 5, one, store).accuracies == whole.accuracies and len(calls) == 4
    # more networks for a finished evaluation: only the new one is trained, and it equals a 4-model call
    four = evaluate_by_model("cell-4", 4, 5, one, store, extends="cell")
    assert calls == [5, 6, 7, 7, 8]
    assert four.accuracies == mgdd.evaluate(syn, digits_test, models=4, seed=5, **options).accuracies


def test_neighbour_jobs_lists_the_other_python_processes_and_not_this_one():
    import signal
    import subprocess
    import time

    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # sleeping-neighbour"])
    asking = (f"import sys; sys.path.insert(0, {benchmarks!r}); from common import neighbour_jobs; "
              "print(neighbour_jobs())  # asking-process")
    try:
        time.sleep(0.5)  # the sleeper's command line is in /proc once it has started
        found = subprocess.run([sys.executable, "-c", asking], capture_output=True, text=True, check=True).stdout
        assert "sleeping-neighbour" in found and "asking-process" not in found
        sleeper.send_signal(signal.SIGSTOP)  # a stopped job takes no processor time
        time.sleep(0.2)
        found = subprocess.run([sys.executable, "-c", asking], capture_output=True, text=True, check=True).stdout
        assert "sleeping-neighbour" not in found
    finally:
        sleeper.kill()
