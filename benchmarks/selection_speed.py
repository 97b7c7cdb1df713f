"""Wall time of the coreset selections (herding, k-center) on Fashion-MNIST, distillation only.

    python benchmarks/selection_speed.py --methods herding kcenter --ipc 10 --threads 1
    python benchmarks/selection_speed.py --methods herding --ipc 10 --threads 1 --option feature_per_class=null \\
        --option feature_epochs=1 --option candidates_per_class=null      # the settings before the change

Each row times ``mgdd.distill(method, train, ipc)`` in a fresh feature cache (the feature network's
training, the features of the candidates, the selection). Accuracies of the same settings are in
coreset_fashion_mnist.md. Output: results/selection_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import time

import torch

import mgdd
from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results, machine_description, save_results,
    today, write_markdown,
)
from mgdd.selection import clear_feature_cache
from mgdd.cli import parse_options

NAME = "selection_speed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["herding", "kcenter"], choices=["herding", "kcenter"])
    parser.add_argument("--ipc", type=int, nargs="+", default=[10])
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="selection option (repeatable); none: the package's defaults")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    add_threads_option(parser)
    args = parser.parse_args()
    apply_threads(args)
    options = parse_options(args.option)
    device = mgdd.resolve_device(args.device)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    train = mgdd.load_dataset("fashion-mnist", "train")
    for method in args.methods:
        for ipc in args.ipc:
            clear_feature_cache()  # time the whole selection, as a first call does
            started = time.perf_counter()
            mgdd.distill(method, train, ipc, seed=args.seed, device=device, **options)
            seconds = time.perf_counter() - started
            key = f"{method}/ipc{ipc}/threads{torch.get_num_threads()}" + "".join(
                f"/{k}={v}" for k, v in sorted(options.items()))
            results[key] = {"method": method, "ipc": ipc, "options": options, "seconds": seconds,
                            "threads": torch.get_num_threads(), "date": today(),
                            "machine": machine_description(device), "command": command_line()}
            save_results(path, results)
            print(key, f"{seconds:.1f} s", flush=True)
    write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))


def render(results: dict) -> str:
    lines = ["# Coreset selection wall time on Fashion-MNIST (distillation only)", "",
             "`mgdd.distill(method, train, ipc)` from a cold feature cache: feature network training, features of the "
             "candidates, selection. Options: none = the package's defaults (`mgdd.selection.FeatureSelector`).", "",
             "| method | IPC | options | seconds | threads | date | machine |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(results.values(), key=lambda r: (r["method"], r["ipc"], r["threads"], str(r["options"]))):
        options = ", ".join(f"{k}={v}" for k, v in sorted(r["options"].items())) or "defaults"
        lines.append(f"| {r['method']} | {r['ipc']} | {options} | {r['seconds']:.1f} | {r['threads']} | {r['date']}"
                     f" | {r['machine']} |")
    lines += ["", "Commands:", ""] + [f"    {c}" for c in sorted({r["command"] for r in results.values()})]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
