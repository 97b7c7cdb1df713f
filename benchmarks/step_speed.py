"""The real batch of a distillation step embedded whole (before) and in chunks (``embed_real``), in one run.

    python benchmarks/step_speed.py --threads 1

FeatureRegression (FRePo, MGDD's refinement) embeds 50 real images per class each step (500 on Fashion-MNIST), DM
256 per class (2560), each through a fresh width-128 ConvNet-3 without gradients. Both ways are timed on the same
networks (mean over ``--repeats`` networks, alternating), and the largest difference of their features is reported
(0: chunks are exact for networks without BatchNorm). Output: results/step_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import torch

from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results, machine_description, save_results,
    today, write_markdown,
)

import mgdd
from mgdd.nets import seeded_network
from mgdd.nets.features import embed_real

NAME = "step_speed"
BATCHES = {"FeatureRegression (FRePo, MGDD refinement)": 500, "DM": 2560}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=4)
    add_threads_option(parser)
    args = parser.parse_args()
    apply_threads(args)
    images = mgdd.load_dataset("fashion-mnist", "train").images
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for name, count in BATCHES.items():
        real = images[:count]
        seconds = {"whole": 0.0, "chunks": 0.0}
        difference = 0.0
        for seed in range(args.repeats):
            net = seeded_network("ConvNet", 1, 10, (28, 28), seed, torch.device("cpu"), width=128).requires_grad_(False)
            started = time.perf_counter()
            with torch.no_grad():
                whole = net.embed(real)
            seconds["whole"] += time.perf_counter() - started
            started = time.perf_counter()
            chunked = embed_real(net, real)
            seconds["chunks"] += time.perf_counter() - started
            difference = max(difference, float((whole - chunked).abs().max()))
        row = {"images": count, "whole_s": round(seconds["whole"] / args.repeats, 3),
               "chunks_s": round(seconds["chunks"] / args.repeats, 3),
               "speedup": round(seconds["whole"] / seconds["chunks"], 2), "max_difference": difference,
               "threads": torch.get_num_threads(), "date": today(),
               "machine": machine_description(torch.device("cpu")), "command": command_line()}
        print(name, row, flush=True)
        results[f"{today()} {name} {row['threads']} threads"] = {"step": name, **row}
        save_results(path, results)
    lines = ["# A distillation step's real batch: embedded whole or in chunks", "",
             "Rows come from `benchmarks/step_speed.py`: seconds per fresh width-128 ConvNet-3 (mean over the "
             "repeats), whole batch against `mgdd.nets.features.embed_real` (chunks of 8 on CPU), same networks, "
             "same run.", "", "| step | images | whole s | chunks s | speed-up | max difference | threads | date | "
             "machine |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in results.values():
        lines.append(f"| {row['step']} | {row['images']} | {row['whole_s']} | {row['chunks_s']} | "
                     f"{row['speedup']:.2f}x | {row['max_difference']:.1e} | {row['threads']} | {row['date']} | "
                     f"{row['machine']} |")
    lines += ["", f"Command: `{command_line()}`", ""]
    write_markdown(RESULTS_DIR / f"{NAME}.md", "\n".join(lines))


if __name__ == "__main__":
    main()
