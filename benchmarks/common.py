"""Shared helpers for benchmark scripts: machine description, resumable JSON results, markdown tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mgdd.io import write_json_atomic, write_text_atomic
from mgdd.provenance import command_line, machine_description, today  # noqa: F401  (re-exported for the scripts)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# where the benchmarks save their sets for `mgdd release` (its default --sets), whatever the working directory
SETS_DIR = Path(__file__).resolve().parents[1] / "runs" / "sets" / "fashion-mnist"


def load_results(path: Path) -> dict:
    """Results saved so far (a run resumes by skipping what is already there)."""
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(path: Path, results: dict) -> None:
    """Write ``results`` merged with what is on disk, so that two runs of one benchmark at once (say, two
    parts on two cores) keep each other's entries; ``results`` gains the other run's entries too."""
    results.update({**load_results(path), **results})
    write_json_atomic(path, results)


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
