"""MGDD on colour data: the procedural ``hues`` dataset (ten classes that differ only by hue, 16x16 RGB).

    python benchmarks/mgdd_colour.py --ipc 5 --models 3 --epochs 300 --threads 1

Rows, each evaluated under the protocol (ConvNet-3, DSA) on the ``hues`` test split: random real images,
herding, MGDD's default pipeline (the bundled generator is 1-channel, so ``generator="auto"`` skips it on
colour data: start images and their labels), the same with least-squares labels forced, the grey pipeline
of before (the 1-channel generator on images converted to grey and back), and the default pipeline with
``--refine-steps`` of refinement: the set as it comes (the start's one-hot labels kept), and with its learned
labels (trained with MSE, or softmax(labels / 0.1) with soft cross-entropy). Output: results/mgdd_colour.{json,md}.
"""

from __future__ import annotations

import argparse

import mgdd
from common import (
    RESULTS_DIR, add_run_options, apply_threads, command_line, load_results, machine_description, save_results,
    today, write_markdown,
)
from refined_labels import as_distributions

NAME = "mgdd_colour"


def rows(refine_steps: int) -> dict[str, tuple[str, str, dict]]:
    """name -> (description, method, options)."""
    learned = {"refine_steps": refine_steps, "refine_options": {"keep_start_labels": False}, "progress": False}
    return {
        "random": ("random real images, one-hot labels", "random", {}),
        "herding": ("herding, one-hot labels", "herding", {}),
        "mgdd": ("MGDD default (colour: no generator, one-hot labels)", "mgdd", {"progress": False}),
        "mgdd-least-squares": ("MGDD, least-squares labels forced", "mgdd", {"labels": "least-squares",
                                                                              "progress": False}),
        "mgdd-grey": ("the grey pipeline of before: 1-channel generator on grey images, copied to 3 channels",
                      "mgdd", {"generator": "pretrained", "steps": 0, "convert_channels": True, "progress": False}),
        f"mgdd-refine{refine_steps}": (f"MGDD default then {refine_steps} refinement steps (the start's one-hot "
                                       "labels kept)", "mgdd", {"refine_steps": refine_steps, "progress": False}),
        f"mgdd-refine{refine_steps}-learned": (f"MGDD default then {refine_steps} refinement steps, the learned "
                                               "labels saved, trained with MSE", "mgdd", learned),
        f"mgdd-refine{refine_steps}-soft0.1": ("the same set, trained on softmax(learned labels / 0.1) with soft "
                                               "cross-entropy instead of MSE", "mgdd", learned),
    }


def grey_share(syn: mgdd.SyntheticSet) -> float:
    """Largest per-pixel difference between channels (0: grey)."""
    pixels = syn.denormalize()
    return float((pixels.max(1).values - pixels.min(1).values).max())


def render(results: dict) -> str:
    lines = ["# MGDD on colour data (`hues`: ten classes that differ only by hue, 16x16 RGB)", "",
             "Accuracy of ConvNet-3 trained on the set (protocol: SGD, DSA), tested on the `hues` test split.",
             "`max channel gap`: the largest difference between a pixel's channels (0 means grey). `distill s`: the",
             "seconds of that row's call; the rows share one process, so after the first herding start the others",
             "reuse its selection features (this table measures accuracy, not time).", "",
             "| row | IPC | setting | accuracy | max channel gap | distill s | models x epochs | date | machine |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, e in sorted(results.items(), key=lambda kv: (kv[1]["ipc"], kv[0])):
        lines.append(f"| {e['row']} | {e['ipc']} | {e['description']} | {e['mean']:.2f} ± {e['std']:.2f} | "
                     f"{e['channel_gap']:.2f} | {e['distill_seconds']:.0f} | {e['models']} x {e['epochs']} | "
                     f"{e['date']} | {e['machine']} |")
    commands = sorted({e["command"] for e in results.values()})
    return "\n".join(lines + ["", "Commands:", ""] + [f"    {c}" for c in commands] + [""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, nargs="+", default=[5])
    parser.add_argument("--refine-steps", type=int, default=100)
    add_run_options(parser)
    args = parser.parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    train, test = mgdd.load_dataset("hues", "train"), mgdd.load_dataset("hues", "test")
    for ipc in args.ipc:
        for row, (description, method, options) in rows(args.refine_steps).items():
            key = f"{row}/ipc{ipc}"
            if key in results:
                continue
            syn = mgdd.distill(method, train, ipc, seed=args.seed, device=device, **options)
            if row.endswith("-soft0.1"):
                syn = as_distributions(syn, 0.1)
            result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
            results[key] = {"row": row, "ipc": ipc, "description": description, "mean": result.mean,
                            "std": result.std, "accuracies": result.accuracies, "channel_gap": grey_share(syn),
                            "distill_seconds": syn.distill_seconds, "models": args.models, "epochs": args.epochs,
                            "date": today(), "machine": machine_description(device), "command": command_line()}
            save_results(path, results)
            write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))
            print(key, f"{result.mean:.2f} ± {result.std:.2f}", flush=True)


if __name__ == "__main__":
    main()
