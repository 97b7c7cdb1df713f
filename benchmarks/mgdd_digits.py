"""MGDD on custom data: scikit-learn's digits, upsampled to 28x28 and passed through ``from_tensors``.

    python benchmarks/mgdd_digits.py --ipc 1 10 --models 3 --threads 1

The bundled generator is adapted with the package's defaults, then each size is generated and evaluated
under the protocol (ConvNet-3, DSA, ``--epochs``), against random real images of the same size from the
same tensors. The test split is the digits test split, made with ``from_tensors(..., like=train)``.
Output: results/mgdd_digits.{json,md}.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import mgdd
from common import (
    RESULTS_DIR, add_run_options, apply_threads, command_line, load_results, machine_description, save_results,
    today, write_markdown,
)
from mgdd.generator.meta import MetaGenerator

NAME = "mgdd_digits"


def as_user_data(split: str, like: mgdd.ImageDataset | None = None) -> mgdd.ImageDataset:
    """The digits split as a user would bring it: pixels in [0, 1], upsampled to 28x28, through from_tensors."""
    digits = mgdd.load_dataset("digits", split)
    pixels = F.interpolate(digits.denormalize(), size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    return mgdd.from_tensors(pixels, digits.labels, class_names=list(digits.class_names), name="digits-28",
                             like=like)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10])
    add_run_options(parser)
    args = parser.parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    train = as_user_data("train")
    test = as_user_data("test", like=train)
    gen = None
    for ipc in args.ipc:
        for method in ("random", "mgdd"):
            key = f"{method}/ipc{ipc}"
            if key in results:
                continue
            if method == "random":
                syn = mgdd.distill("random", train, ipc, seed=args.seed)
            else:
                if gen is None:
                    gen = MetaGenerator.from_pretrained().adapt(train, seed=args.seed, device=device)
                syn = gen.generate(ipc, seed=args.seed, device=device)
            result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
            results[key] = {
                "method": method, "ipc": ipc, "mean": result.mean, "std": result.std, "accuracies": result.accuracies,
                "labels": syn.metadata.get("labels", "hard"), "models": args.models, "epochs": args.epochs,
                "adapt_seconds": gen.adapt_info["seconds"] if method == "mgdd" else None,
                "threads": torch.get_num_threads(), "date": today(), "machine": machine_description(device),
                "command": command_line(),
            }
            save_results(path, results)
            print(key, f"{result.mean:.2f} ± {result.std:.2f}", flush=True)
    write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))


def render(results: dict) -> str:
    lines = ["# MGDD on custom data: digits upsampled to 28x28 through from_tensors", "",
             "Bundled generator adapted with the defaults, then generated; random real images of the same tensors as",
             "the reference. ConvNet-3 protocol, mean ± std over the listed models.", "",
             "| IPC | random real | MGDD | MGDD labels | adapt s | models x epochs | date |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for ipc in sorted({r["ipc"] for r in results.values()}):
        random, mgdd_row = results.get(f"random/ipc{ipc}"), results.get(f"mgdd/ipc{ipc}")
        cell = (lambda r: f"{r['mean']:.2f} ± {r['std']:.2f}" if r else "—")
        adapt = f"{mgdd_row['adapt_seconds']:.0f}" if mgdd_row else "—"
        any_row = mgdd_row or random
        lines.append(f"| {ipc} | {cell(random)} | {cell(mgdd_row)} | {mgdd_row['labels'] if mgdd_row else '—'} | {adapt}"
                     f" | {any_row['models']} x {any_row['epochs']} | {any_row['date']} |")
    entries = list(results.values())
    lines += ["", f"Machine: {entries[0]['machine']}", "", "Commands:", ""]
    lines += [f"    {c}" for c in sorted({r['command'] for r in entries})]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
