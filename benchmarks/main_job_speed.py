"""Wall time of the README's main job (`python adapt.py`), end to end, with evaluation chunked (default) and whole (before).

    python benchmarks/main_job_speed.py --variants chunked whole

Runs ``adapt.py --ipc 1 10`` (the README's command, its defaults) in this process once per variant, in
the same run on the same machine; ``whole`` passes ``--eval-chunk 0`` (one forward/backward per
training batch and test batches of 1000, the protocol's code before chunking). Output:
results/main_job_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results,
    machine_description, save_results, today, write_markdown,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import adapt  # noqa: E402  (the README's main job, at the repository root)

NAME = "main_job_speed"
README_ARGS = ["--ipc", "1", "10"]
VARIANTS = {"chunked": [], "whole": ["--eval-chunk", "0"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    add_threads_option(parser)
    args = parser.parse_args()
    apply_threads(args)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    key = f"{today()} {torch.get_num_threads()} threads"
    run = {"date": today(), "machine": machine_description(torch.device("cpu")), "command": command_line(),
           "readme_command": "python adapt.py " + " ".join(README_ARGS), "variants": {}}
    for name in args.variants:
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            figures = adapt.main(README_ARGS + VARIANTS[name] + ["--out", out])
            seconds = time.perf_counter() - started
        run["variants"][name] = {"wall_seconds": round(seconds, 1), "adapt_seconds": figures["adapt_seconds"],
                                 "accuracy": {k: v["mean"] for k, v in figures["sets"].items()}}
        print(f"{name}: {run['variants'][name]}", flush=True)
        results[key] = run
        save_results(path, results)
        write_markdown(RESULTS_DIR / f"{NAME}.md", markdown(results))


def markdown(results: dict) -> str:
    lines = ["# README main job, end to end", "",
             "Rows come from `benchmarks/main_job_speed.py`: wall time of the README's main job in one process "
             "(data loading, adaptation, generation, evaluation, saving). `whole`: evaluation as before chunking "
             "(`--eval-chunk 0`); `chunked`: the default.", ""]
    for key, run in sorted(results.items()):
        lines += [f"## {key}", "", f"{run['date']}, {run['machine']}.", f"Command: `{run['command']}` "
                  f"(runs `{run['readme_command']}`)", ""] + ([run["note"], ""] if run.get("note") else []) + [
                  "| variant | wall s | of which adaptation s | accuracy IPC 1 | accuracy IPC 10 | speed-up |",
                  "| --- | --- | --- | --- | --- | --- |"]
        base = run["variants"].get("whole")
        for name, row in run["variants"].items():
            ratio = f"{base['wall_seconds'] / row['wall_seconds']:.2f}x" if base and name != "whole" else ""
            accuracy = row["accuracy"]
            lines.append(f"| {name} | {row['wall_seconds']:.0f} | {row['adapt_seconds']:.0f} | "
                         f"{accuracy.get('ipc1', float('nan')):.2f} | {accuracy.get('ipc10', float('nan')):.2f} | {ratio} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
