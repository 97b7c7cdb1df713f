"""Ablation of the distillation objective by pixel optimisation (no generator), Fashion-MNIST.

    python benchmarks/objective_ablation.py --rows frepo random-pool --ipc 10 --iterations 300

Every row runs ``mgdd.distill("frepo", train, ipc, **options)`` for the same iteration budget from
the same initial images, then evaluates the set under the protocol (ConvNet-3, DSA, ``--epochs``,
``--models``; the loss follows the labels: MSE for learned regression labels). Rows are the levers
of the MGDD issue: the objective that the generator will be trained on is the best row, and the
pixel-optimised form is an upper bound that a generator must approach. Resumable: finished rows are
kept in results/objective_ablation.json and skipped; distilled sets are kept in runs/objective_ablation/ (the
label-loss rows evaluate the random-pool set with soft cross-entropy on softmax(labels / T)).
Output: results/objective_ablation.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

import mgdd
from mgdd.formation import decode_formation, encode_formation
from common import (
    RESULTS_DIR, add_run_options, apply_threads, command_line, load_results,
    machine_description, save_results, today, write_markdown,
)

NAME = "objective_ablation"
# lever name -> (options of the frepo method, what the row changes against the first row)
ROWS: dict[str, tuple[dict, str]] = {
    "frepo": ({}, "online pool of 4 ConvNets, learned labels from centred targets, MSE, random real init"),
    "random-pool": ({"model_pool": "random"}, "frozen random networks (fresh each iteration) instead of the online pool"),
    "fixed-labels": ({"model_pool": "random", "learn_labels": False}, "as random-pool, labels fixed at the centred targets"),
    "ls-labels": ({"label_init": "least-squares"}, "labels start at the least-squares solve"),
    "platt": ({"model_pool": "random", "loss": "platt"}, "as random-pool, Platt-scaled cross-entropy instead of MSE"),
    "mean-term": ({"model_pool": "random", "mean_weight": 1.0}, "as random-pool, plus DM's class-mean term (weight 1)"),
    "herding-init": ({"model_pool": "random", "init": "herding"}, "as random-pool, initial images by herding"),
    "platt-herding": ({"model_pool": "random", "loss": "platt", "init": "herding"},
                      "as random-pool, Platt loss and herding start (the two best single levers)"),
    "no-norm": ({"model_pool": "random", "norm": "none"}, "as random-pool, networks without normalisation (the paper's)"),
    "frepo-mf2": ({"formation": 2}, "multi-formation factor 2: 4 half-resolution samples per stored image, "
                  "one learned label each (same memory)"),
    "real-mf2": ({"formation": 2}, "no optimisation: random real images, 4 per stored slot at half resolution "
                 "(multi-formation factor 2), hard labels: what the formation alone gives"),
    "softce-t0.1": ({"model_pool": "random"}, "the random-pool set, evaluated with soft cross-entropy on "
                    "softmax(labels / 0.1) instead of MSE on the labels"),
    "softce-t0.3": ({"model_pool": "random"}, "the random-pool set, evaluated with soft cross-entropy on "
                    "softmax(labels / 0.3) instead of MSE on the labels"),
}
# rows that evaluate another row's set with another label loss: row -> softmax temperature
LABEL_LOSS_ROWS = {"softce-t0.1": 0.1, "softce-t0.3": 0.3}
RUNS = Path("runs") / NAME


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=300)
    add_run_options(parser, models=2)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    train, test = mgdd.load_dataset("fashion-mnist", "train"), mgdd.load_dataset("fashion-mnist", "test")
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for row in args.rows:
        key = f"ipc{args.ipc} it{args.iterations} seed{args.seed} {row}"
        if key in results:
            print(f"{key}: done ({results[key]['mean']:.2f})")
            continue
        options, _ = ROWS[row]
        started = time.perf_counter()
        if row.startswith("real-mf"):
            syn = decoded_real_set(train, args.ipc, options["formation"], args.seed)
        else:
            syn = distilled_set(train, args, options)
        distill_seconds = syn.metadata.get("distill_seconds", time.perf_counter() - started)
        loss = "auto"
        if row in LABEL_LOSS_ROWS:
            syn, loss = with_softmax_labels(syn, LABEL_LOSS_ROWS[row]), "soft_ce"
        result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=args.device,
                               loss=loss)
        results[key] = {"row": row, "options": options, "ipc": args.ipc, "iterations": args.iterations,
                        "seed": args.seed, "distill_seconds": round(distill_seconds, 1),
                        "loss": result.loss, "models": args.models, "epochs": args.epochs,
                        "accuracies": result.accuracies, "mean": result.mean, "std": result.std,
                        "date": today(), "machine": machine_description(device), "command": command_line()}
        print(f"{key}: {result} (distilled in {distill_seconds:.0f} s)", flush=True)
        save_results(path, results)
        write_markdown(RESULTS_DIR / f"{NAME}.md", markdown(results))


def distilled_set(train, args, options: dict) -> mgdd.SyntheticSet:
    """``distill("frepo", ...)`` with ``options``, saved under runs/ and reused by the rows that share it."""
    name = "-".join(f"{k}={v}" for k, v in sorted(options.items())) or "default"
    folder = RUNS / f"ipc{args.ipc}-it{args.iterations}-seed{args.seed}-{name}"
    if (folder / "synthetic.safetensors").exists():
        return mgdd.SyntheticSet.load(folder)
    syn = mgdd.distill("frepo", train, args.ipc, seed=args.seed, iterations=args.iterations, device=args.device,
                       **options)
    syn.save(folder)
    return syn


def with_softmax_labels(syn: mgdd.SyntheticSet, temperature: float) -> mgdd.SyntheticSet:
    """The set with its regression labels turned into distributions, softmax(labels / temperature)."""
    return dataclasses.replace(syn, labels=torch.softmax(syn.labels / temperature, dim=1),
                               metadata={**syn.metadata, "labels": f"softmax(labels / {temperature:g})"})


def decoded_real_set(train, ipc: int, factor: int, seed: int) -> mgdd.SyntheticSet:
    """The samples a multi-formation set of random real images trains on: ipc * factor**2 real images per class,
    each stored at 1/factor resolution and decoded back (hard labels)."""
    indices = train.balanced_indices(ipc * factor**2, seed)
    decoded = decode_formation(encode_formation(train.images[indices], factor), factor)
    return mgdd.SyntheticSet(decoded, train.labels[indices], train.num_classes, list(train.class_names),
                             train.mean, train.std, metadata={"method": f"random-mf{factor}", "ipc": ipc})


def markdown(results: dict) -> str:
    lines = ["# Objective ablation by pixel optimisation (Fashion-MNIST)", "",
             "Rows come from `benchmarks/objective_ablation.py` (command per row). Each row optimises the pixels "
             "(and labels where learned) of the same initial real images with `mgdd.distill(\"frepo\", ...)` and "
             "the row's options, then evaluates under the protocol (ConvNet-3 instance norm, DSA, SGD; the loss "
             "follows the labels: `mse` for learned regression labels).", "",
             "| IPC | iterations | seed | row | change | distill s | eval loss | models x epochs | accuracy | date, machine |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, entry in sorted(results.items(), key=lambda item: (item[1]["ipc"], item[1]["iterations"], item[1]["seed"],
                                                                list(ROWS).index(item[1]["row"]))):
        change = ROWS[entry["row"]][1]
        lines.append(f"| {entry['ipc']} | {entry['iterations']} | {entry['seed']} | {entry['row']} | {change} | "
                     f"{entry['distill_seconds']:.0f} | {entry['loss']} | {entry['models']} x {entry['epochs']} | "
                     f"{entry['mean']:.2f} ± {entry['std']:.2f} | {entry['date']}, {entry['machine']} |")
    lines += ["", "Commands:", ""] + sorted({f"- `{e['command']}`" for e in results.values()})
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
