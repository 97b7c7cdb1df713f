"""Does adaptation lower MGDD's objective on held-out data? A fresh (identity) generator adapted on digits.

    python benchmarks/adaptation_heldout.py --steps 30 100 --seeds 0 1 2 --threads 1

For each seed and step count: a small untrained generator (width 16, feature networks of width 32), its one pass
before adaptation (the herding start with least-squares labels) and after ``adapt(steps)``; the ridge head fitted on
each set predicts the digits test split in the features of 4 random ConvNets it never saw (width 32 and 128), and
the ratio after / before of that held-out MSE is reported (below 1: adaptation helped). Also the adaptation's own
loss (on held-out training batches, its training networks): the mean of its last 10 steps over its first 10.
Output: results/adaptation_heldout.{json,md}.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results, machine_description, save_results,
    today, write_markdown,
)

import mgdd
from mgdd.generator.meta import MetaGenerator
from mgdd.nets import seeded_network
from mgdd.ridge import ridge_predict

NAME = "adaptation_heldout"
SMALL = dict(channels=1, width=16, code_dim=16, blocks=1, feature_width=32)


def heldout_mse(syn: mgdd.SyntheticSet, train: mgdd.ImageDataset, test: mgdd.ImageDataset, width: int) -> float:
    targets = syn.labels.double() if syn.soft_labels else F.one_hot(syn.labels, syn.num_classes).double()
    losses = []
    for k in range(4):
        net = seeded_network("ConvNet", 1, syn.num_classes, train.image_shape[1:], 10_000 + k, torch.device("cpu"),
                             width=width).eval()
        with torch.no_grad():
            prediction = ridge_predict(net.embed(syn.images), targets, net.embed(test.images), 1e-3)
        losses.append(F.mse_loss(prediction.float(), F.one_hot(test.labels, syn.num_classes).float()).item())
    return sum(losses) / len(losses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_threads_option(parser)
    args = parser.parse_args()
    apply_threads(args)
    train, test = mgdd.load_dataset("digits", "train"), mgdd.load_dataset("digits", "test")
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for steps in args.steps:
        for seed in args.seeds:
            torch.manual_seed(seed)
            gen = MetaGenerator(**SMALL)
            before = gen.one_pass(2, data=train, seed=seed, guided_steps=1, labels="least-squares", progress=False)
            gen.adapt(train, steps=steps, ipc=2, lr=1e-3, seed=seed, progress=False)
            after = gen.one_pass(2, seed=seed, labels="least-squares", progress=False)
            losses = gen.adapt_info["losses"]
            row = {"steps": steps, "seed": seed,
                   **{f"heldout_ratio_width{w}": round(heldout_mse(after, train, test, w)
                                                       / heldout_mse(before, train, test, w), 4) for w in (32, 128)},
                   "own_loss_ratio": round(sum(losses[-10:]) / sum(losses[:10]), 4),
                   "adapt_seconds": round(gen.adapt_info["seconds"], 1), "date": today(),
                   "machine": machine_description(torch.device("cpu")), "command": command_line()}
            print(row, flush=True)
            results[f"steps{steps}/seed{seed}"] = row
            save_results(path, results)
    lines = ["# Adaptation of an untrained generator: its objective on held-out data", "",
             "Rows come from `benchmarks/adaptation_heldout.py` (digits, IPC 2, lr 1e-3). Ratios after / before "
             "adaptation, below 1 when it helped: the ridge head's MSE on the test split in 4 unseen random ConvNets "
             "(width 32, the generator's feature width, and 128); the adaptation's own loss, last 10 steps over "
             "first 10.", "", "| steps | seed | held-out, width 32 | held-out, width 128 | own loss | adapt s | date |"
             " machine |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in sorted(results.values(), key=lambda r: (r["steps"], r["seed"])):
        lines.append(f"| {row['steps']} | {row['seed']} | {row['heldout_ratio_width32']:.4f} | "
                     f"{row['heldout_ratio_width128']:.4f} | {row['own_loss_ratio']:.4f} | {row['adapt_seconds']} | "
                     f"{row['date']} | {row['machine']} |")
    lines += ["", f"Command: `{command_line()}`", ""]
    write_markdown(RESULTS_DIR / f"{NAME}.md", "\n".join(lines))


if __name__ == "__main__":
    main()
