"""Memory of MTT's unrolled student: the guard's estimate (each storage once, and per saved tensor) against the
peak memory of a process that runs one MTT iteration.

    python benchmarks/mtt_memory.py --ipc 10 50 --experts runs/experts --threads 1

Each IPC runs in a fresh process (so that its peak resident memory is its own): it measures the autograd graph of
one student step both ways (``student_step_bytes``), multiplies by the unroll's steps (20 up to IPC 10, 30 above),
then runs one iteration of ``distill("mtt", ...)`` on Fashion-MNIST with the guard raised out of the way, and
records the process's peak resident memory before and after. Output: results/mtt_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results, machine_description,
    save_results, today, write_markdown,
)

import mgdd
from mgdd.baselines.trajectory_matching import MTT, student_step_bytes

NAME = "mtt_memory"
GB = 2**30


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB  # Linux reports KiB


def measure(ipc: int, experts: str) -> dict:
    """One IPC, in this process: the estimates, then one iteration and the peak memory it reached."""
    train = mgdd.load_dataset("fashion-mnist", "train")
    mtt = MTT(experts=experts, iterations=1, max_memory_gb=1e6, progress=False)
    student = mgdd.nets.seeded_network(mtt.arch, train.channels, train.num_classes, train.image_shape[1:], 0,
                                       torch.device("cpu"))
    batch = mtt.batch_for(ipc * train.num_classes)
    images, labels = train.images[:batch], train.labels[:batch]
    steps = mtt.steps_for(ipc)
    once, per_tensor = (student_step_bytes(student, images, labels, storage_once=flag) * steps / GB
                        for flag in (True, False))
    before = peak_rss_gb()
    started = time.perf_counter()
    mgdd.distill("mtt", train, ipc, seed=0, experts=experts, iterations=1, max_memory_gb=1e6, progress=False)
    return {"ipc": ipc, "syn_steps": steps, "batch": batch, "estimate_gb": round(once, 2),
            "estimate_per_tensor_gb": round(per_tensor, 2), "peak_before_gb": round(before, 2),
            "peak_gb": round(peak_rss_gb(), 2), "iteration_seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--experts", required=True, help="an expert buffer of Fashion-MNIST (`mgdd experts`)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # the child process's IPC
    add_threads_option(parser)
    args = parser.parse_args()
    apply_threads(args)
    if args.one is not None:
        print(json.dumps(measure(args.one, args.experts)))
        return
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for ipc in args.ipc:
        child = [sys.executable, __file__, "--one", str(ipc), "--experts", args.experts]
        if args.threads is not None:
            child += ["--threads", str(args.threads)]
        output = subprocess.run(child, check=True, capture_output=True, text=True).stdout
        row = json.loads(output.strip().splitlines()[-1])
        row.update(date=today(), machine=machine_description(torch.device("cpu")), command=command_line())
        print(row, flush=True)
        results[f"ipc{ipc}"] = row
        save_results(path, results)
    write_markdown(RESULTS_DIR / f"{NAME}.md", markdown(results))


def markdown(results: dict) -> str:
    lines = ["# MTT: memory of the unrolled student", "",
             "Rows come from `benchmarks/mtt_memory.py`. Estimate: bytes one student step saves for backward, times "
             "the unroll's steps, each storage counted once (the guard, `max_memory_gb`) or once per saved tensor "
             "(the guard before 2026-11-27). Peak: the resident memory of a fresh process after one MTT iteration "
             "(before: after loading the data and measuring).", "",
             "| IPC | steps x batch | estimate GB | per-tensor estimate GB | peak before GB | peak GB | "
             "iteration s | date | machine | command |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, row in sorted(results.items(), key=lambda item: item[1]["ipc"]):
        lines.append(f"| {row['ipc']} | {row['syn_steps']} x {row['batch']} | {row['estimate_gb']:.2f} | "
                     f"{row['estimate_per_tensor_gb']:.2f} | {row['peak_before_gb']:.2f} | {row['peak_gb']:.2f} | "
                     f"{row['iteration_seconds']:.0f} | {row['date']} | {row['machine']} | `{row['command']}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
