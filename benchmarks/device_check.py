"""One short check on an accelerator: the protocol, DM and MGDD on Fashion-MNIST, with times and accuracies.

    python benchmarks/device_check.py                 # CUDA if present: evaluate 5 x 1000 epochs at IPC 10, ...
    python benchmarks/device_check.py --quick         # a smoke run of the same steps (CPU: about a minute)
    python benchmarks/device_check.py --meta-train 8 --out $OUT   # only: meta-train on the refinement's objective
    python benchmarks/device_check.py --meta-train 0.2 --quick --out /tmp/meta   # its smoke run (CPU: seconds)

Steps: ``evaluate`` of a random real IPC 10 set (``--models`` x ``--epochs``), DM at IPC 10 for
``--dm-iterations`` iterations and FRePo for ``--frepo-iterations`` (each then evaluated the same way),
MGDD: the bundled generator adapted for
``--adapt-steps`` steps, ``generate(ipc=50)`` timed on its own, the IPC 50 set evaluated. Every figure
goes to results/device_check.{json,md} under the device's name (the card for CUDA).

``--meta-train MINUTES`` does only this: the bundled generator meta-trained further on the procedural sources
(glyphs, shapes, digits) with the refinement's objective (``MetaTrainConfig(objective="refinement")``: the Platt
loss after a few unrolled Adam steps of the refinement, learned labels and scale) for MINUTES, its checkpoint in
``--out/model`` (then adapted and evaluated on the CPU: ``time_to_accuracy.py --methods mgdd-meta-refinement``
reads the default ``--out``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import mgdd
from common import RESULTS_DIR, command_line, load_results, machine_description, save_results, today, write_markdown
from mgdd.device import resolve_device
from mgdd.generator.meta import DEFAULT_MODEL, MetaGenerator
from mgdd.generator.meta_train import MetaTrainConfig, meta_train, resize_dataset

NAME = "device_check"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--dm-iterations", type=int, default=1000)
    parser.add_argument("--frepo-iterations", type=int, default=500)
    parser.add_argument("--adapt-steps", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="1 model, 5 epochs, 5 DM iterations, 5 adaptation steps")
    parser.add_argument("--device", default=None)
    parser.add_argument("--meta-train", type=float, default=None, metavar="MINUTES",
                        help="only meta-train on the refinement's objective for MINUTES, into --out")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "runs" / "meta_refinement"),
                        help="output folder of --meta-train (default: where time_to_accuracy.py's "
                             "mgdd-meta-refinement reads it)")
    args = parser.parse_args()
    if args.meta_train is not None and args.meta_train <= 0:
        parser.error(f"--meta-train takes positive minutes, got {args.meta_train}")
    if args.quick:
        args.models, args.epochs, args.dm_iterations, args.frepo_iterations, args.adapt_steps = 1, 5, 5, 5, 5
    return args


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn):
    synchronise(device)
    started = time.perf_counter()
    value = fn()
    synchronise(device)
    return value, round(time.perf_counter() - started, 2)


META_SOURCES = ("glyphs", "shapes", "digits")


def meta_train_on_refinement(minutes: float, out: str, quick: bool = False, device: str | None = None) -> dict:
    """The bundled generator meta-trained on the refinement's objective for ``minutes`` (``quick``: tiny tasks,
    three steps at most), saved to ``out/model``; returns the run's figures."""
    model = MetaGenerator.from_pretrained(DEFAULT_MODEL)
    size = model.provenance.get("train_image_size", 28)
    sources = [resize_dataset(mgdd.load_dataset(name, "train"), size) for name in META_SOURCES]
    tiny = dict(steps=3, ipcs=(1, 2), real_per_class=8, support_per_class=4, refine_steps=1) if quick else {}
    config = MetaTrainConfig(**{"steps": 100_000, "objective": "refinement", "pool_size": 0, "save_every": 200,
                                "max_seconds": minutes * 60, "sources": list(META_SOURCES), **tiny})
    cpu = resolve_device(device).type == "cpu"
    meta_train(model, sources, out, config, cpu=cpu, progress=True)
    return {"minutes": minutes, **model.provenance["meta_training"]}


def main() -> None:
    args = parse_args()
    if args.meta_train is not None:
        print(meta_train_on_refinement(args.meta_train, args.out, args.quick, args.device), flush=True)
        return
    device = resolve_device(args.device)
    train, test = mgdd.load_dataset("fashion-mnist", "train"), mgdd.load_dataset("fashion-mnist", "test")

    def evaluate(syn):
        result, seconds = timed(device, lambda: mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs,
                                                                device=device, progress=False))
        return {"mean": round(result.mean, 2), "std": round(result.std, 2), "evaluate_seconds": seconds}

    steps = {}
    steps["evaluate random real IPC 10"] = evaluate(mgdd.distill("random", train, 10, seed=0))
    print(steps, flush=True)
    dm, seconds = timed(device, lambda: mgdd.distill("dm", train, 10, iterations=args.dm_iterations, device=device,
                                                     progress=False))
    steps["DM IPC 10"] = {"distill_seconds": seconds, "iterations": args.dm_iterations, **evaluate(dm)}
    print(steps, flush=True)
    frepo, seconds = timed(device, lambda: mgdd.distill("frepo", train, 10, iterations=args.frepo_iterations,
                                                        device=device, progress=False))
    steps["FRePo IPC 10"] = {"distill_seconds": seconds, "iterations": args.frepo_iterations, **evaluate(frepo)}
    print(steps, flush=True)
    gen = MetaGenerator.from_pretrained(DEFAULT_MODEL)
    _, adapt_seconds = timed(device, lambda: gen.adapt(train, steps=args.adapt_steps, device=device, progress=False))
    gen.generate(50, device=device)  # warm-up: embeds the reference subsets once per dataset
    syn, generate_seconds = timed(device, lambda: gen.generate(50, device=device))
    steps["MGDD IPC 50"] = {"adapt_steps": args.adapt_steps, "adapt_seconds": adapt_seconds,
                            "generate_seconds": generate_seconds, **evaluate(syn)}
    print(steps, flush=True)

    run = {"date": today(), "machine": machine_description(device), "command": command_line(),
           "models": args.models, "epochs": args.epochs, "steps": steps}
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    results[f"{today()} {machine_description(device)}"] = run
    save_results(path, results)
    lines = ["# Device check", "", "Rows come from `benchmarks/device_check.py`; each run records its command.", ""]
    for key, entry in sorted(results.items()):
        lines += [f"## {key}", "", f"Command: `{entry['command']}` ({entry['models']} models x {entry['epochs']} epochs)",
                  "", "| step | figures |", "| --- | --- |"]
        lines += [f"| {name} | {', '.join(f'{k} {v}' for k, v in figures.items())} |"
                  for name, figures in entry["steps"].items()]
        lines.append("")
    write_markdown(RESULTS_DIR / f"{NAME}.md", "\n".join(lines))


if __name__ == "__main__":
    main()
