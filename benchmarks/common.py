"""Shared helpers for benchmark scripts: machine description, resumable JSON results, markdown tables."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from mgdd.evaluation import EvalResult
from mgdd.io import write_json_atomic, write_text_atomic
from mgdd.provenance import command_line, machine_description, today  # noqa: F401  (re-exported for the scripts)

# benchmarks time first runs: selection features are computed, never read from a previous process's disk cache
os.environ.setdefault("MGDD_FEATURE_CACHE", "off")

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# where the benchmarks save their sets for `mgdd release` (its default --sets), whatever the working directory
SETS_DIR = Path(__file__).resolve().parents[1] / "runs" / "sets" / "fashion-mnist"
# small state of runs that outlast a session (per-network accuracies, recovered batches), committed so that the
# next session, on a fresh machine, resumes them: see checkpoints/README.md
CHECKPOINTS_DIR = Path(__file__).resolve().parent / "checkpoints"
# per-model accuracies of evaluations still under way: see evaluate_by_model
PARTIAL_EVALUATIONS = CHECKPOINTS_DIR / "partial_evaluations.json"


class Results(dict):
    """A results file's entries as loaded; it remembers them, so that :func:`save_results` can tell the entries
    this run added or changed from the ones it only carried along."""

    def __init__(self, entries: dict) -> None:
        super().__init__(entries)
        self.loaded = _json_copy(entries)


def _json_copy(value):
    return json.loads(json.dumps(value))


def load_results(path: Path) -> Results:
    """Results saved so far (a run resumes by skipping what is already there)."""
    return Results(json.loads(path.read_text()) if path.exists() else {})


def save_results(path: Path, results: dict) -> None:
    """Write the entries this run added or changed over what is on disk now, so that runs of one benchmark at
    once (two parts on two cores, or a second run started hours after the first) keep each other's entries,
    and an entry this run only loaded never overwrites a newer one. ``results`` gains the others' entries."""
    loaded = getattr(results, "loaded", {})
    changed = {key: entry for key, entry in results.items() if _json_copy(entry) != loaded.get(key)}
    merged = {**load_results(path), **changed}
    write_json_atomic(path, merged)
    results.clear()
    results.update(merged)
    if isinstance(results, Results):
        results.loaded = _json_copy(merged)


def evaluate_by_model(name: str, models: int, seed: int, evaluate_one: Callable[[int], EvalResult],
                      store: Path = PARTIAL_EVALUATIONS, extends: str | None = None) -> EvalResult:
    """``models`` networks evaluated one at a time, each accuracy saved to ``store`` under ``name`` as soon as it
    is measured, so that a run killed after hours (an IPC 50 evaluation outlasts a session) resumes at its next
    network, not its first.

    ``evaluate_one(seed)`` evaluates one network (``mgdd.evaluate(..., models=1, seed=seed)``). Network i of
    ``mgdd.evaluate(models=n, seed=s)`` is seeded with s + i, so the result equals that one call. A finished
    entry stays in ``store``: a caller that saves several evaluations as one result (a cell's label protocols)
    may be killed before it saves, and then finds the finished ones there. ``extends``: the name of an evaluation
    of fewer networks of the same set, seed and protocol, whose networks are this one's first (more models added
    to a finished evaluation cost only the new ones).
    """
    def read() -> dict:
        return json.loads(store.read_text()) if store.exists() else {}

    entry = read().get(name) or (read().get(extends) if extends else None)
    for index in range(len(entry["accuracies"]) if entry else 0, models):
        one = evaluate_one(seed + index).to_dict()
        del one["mean"], one["std"]
        if entry:
            one.update(accuracies=entry["accuracies"] + one["accuracies"], wall_time=entry["wall_time"] + one["wall_time"])
        entry = one
        store.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(store, {**read(), name: entry})  # re-read: other evaluations may share the file
    if entry is None:
        raise ValueError(f"models must be >= 1, got {models}")
    fields = {f.name for f in dataclasses.fields(EvalResult)}
    return EvalResult(**{k: v for k, v in entry.items() if k in fields})


def write_markdown(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def add_run_options(parser: argparse.ArgumentParser, models: int = 3, epochs: int = 300) -> None:
    """The options every benchmark shares: the evaluation (``--models`` x ``--epochs``), ``--seed``,
    ``--threads`` and ``--device``."""
    parser.add_argument("--models", type=int, default=models, help="evaluated networks per set")
    parser.add_argument("--epochs", type=int, default=epochs, help="training epochs of each evaluated network")
    parser.add_argument("--seed", type=int, default=0)
    add_threads_option(parser)
    parser.add_argument("--device", default=None)


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's thread count from ``--threads`` (see :func:`add_threads_option`), if given."""
    if args.threads:
        torch.set_num_threads(args.threads)


def neighbour_jobs() -> list[str]:
    """Command lines of the other running Python processes on this machine (Linux /proc; empty elsewhere): a timed
    run's seconds per step depend on the job beside it, so its rows record which jobs those were. A stopped job
    (``kill -STOP``, to free the cores for a timed pair) takes no processor time and is not listed."""
    own = os.getpid()
    found = []
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if int(entry.parent.name) == own:
                continue
            words = entry.read_bytes().decode(errors="replace").split("\0")
            state = (entry.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]  # after "pid (name)"
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
        if words and "python" in Path(words[0]).name and len(words) > 1 and state not in ("T", "t"):
            found.append(" ".join(w for w in words[1:] if w))
    return sorted(found)
