"""Throughput of the evaluation protocol on Fashion-MNIST, split into training, augmentation and testing.

    python benchmarks/evaluate_speed.py --ipc 1 10 50 --models 3 --epochs 300 --variants whole chunked

Each variant times ``evaluate(random real set, test, models, epochs)`` in the same run, on the same
sets and seeds (`--sets`: random real by default; herding and the adapted MGDD generator for the
accuracy check): ``whole`` is the protocol as it ran before cache-sized chunks (``chunk=0``: one
forward/backward per training batch, test batches of 1000), ``chunked`` is the default (``chunk=None``).
Augmentation and test inference are timed by wrapping DSA and ``accuracy``; training is the rest.
Training throughput is also given in GFLOP/s (FLOPs of one forward + backward counted by
``torch.utils.flop_counter``) and as a share of this machine's fp32 matrix-multiply peak, measured in
the same run (median of 2048x2048 products). Output: results/evaluate_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import mgdd
from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results,
    machine_description, save_results, today, write_markdown,
)
from mgdd import evaluation as protocol
from mgdd.device import resolve_device

NAME = "evaluate_speed"
VARIANTS = {"whole": 0, "chunked": None}
SETS = ("random", "herding", "mgdd")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--sets", nargs="+", default=["random"], choices=SETS,
                        help="synthetic sets timed (mgdd: the bundled generator adapted for --adapt-steps)")
    parser.add_argument("--adapt-steps", type=int, default=200)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--precision-probe", action="store_true",
                        help="also time one forward + backward of the ConvNet on 100 images in fp32 and under "
                             "bf16 autocast (is bf16 worth an option on this CPU?)")
    add_threads_option(parser)
    parser.add_argument("--device", default=None)
    return parser.parse_args()


def sgemm_peak(device: torch.device, size: int = 2048, repeats: int = 5) -> float:
    """fp32 matrix-multiply GFLOP/s: the ceiling the convolutions are measured against."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times[1:]) / 1e9


def training_flops_per_image(channels: int, num_classes: int, image_size, device: torch.device) -> float:
    """FLOPs of one forward + backward of the protocol's ConvNet, per image."""
    net = mgdd.get_network("ConvNet", channels, num_classes, image_size).to(device)
    x = torch.randn(8, channels, *image_size, device=device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), torch.zeros(8, dtype=torch.long, device=device)).backward()
    return counter.get_total_flops() / 8


def precision_probe(device: torch.device, batch: int = 100, repeats: int = 5) -> dict:
    """Seconds per forward + backward of the protocol's ConvNet on ``batch`` images, fp32 vs bf16 autocast."""
    net = mgdd.get_network("ConvNet", 1, 10, (28, 28)).to(device)
    x, y = torch.randn(batch, 1, 28, 28, device=device), torch.randint(0, 10, (batch,), device=device)

    def step(bf16: bool) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        F.cross_entropy(out.float(), y).backward()

    seconds = {}
    for name, bf16 in (("fp32", False), ("bf16", True)):
        step(bf16)
        started = time.perf_counter()
        for _ in range(repeats):
            step(bf16)
        seconds[name] = round((time.perf_counter() - started) / repeats, 4)
    return seconds


class Stopwatch:
    """Seconds spent inside the wrapped callables."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def timed_evaluate(syn, test, args, chunk) -> dict:
    augment, testing = Stopwatch(), Stopwatch()
    original_call, original_accuracy = protocol.DiffAugment.__call__, protocol.accuracy
    protocol.DiffAugment.__call__ = augment.wrap(original_call)
    protocol.accuracy = testing.wrap(original_accuracy)
    try:
        result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, device=args.device, chunk=chunk,
                               progress=False)
    finally:
        protocol.DiffAugment.__call__, protocol.accuracy = original_call, original_accuracy
    train_seconds = result.wall_time - testing.seconds
    images = args.models * args.epochs * len(syn)
    return {"accuracies": result.accuracies, "mean": result.mean, "wall_seconds": round(result.wall_time, 2),
            "train_seconds": round(train_seconds, 2), "augment_seconds": round(augment.seconds, 2),
            "test_seconds": round(testing.seconds, 2), "train_images_per_second": round(images / train_seconds, 1)}


def markdown(results: dict) -> str:
    lines = ["# Evaluation protocol throughput", "",
             "Rows come from `benchmarks/evaluate_speed.py` (command per run below). `whole`: one forward/backward per "
             "training batch and test batches of 1000 (before chunking); `chunked`: the default, cache-sized chunks "
             "on CPU. Training throughput in images per second; GFLOP/s of forward + backward; share of the "
             "machine's fp32 matmul peak measured in the same run. Ratio: chunked / whole in the same run.", ""]
    for key, run in sorted(results.items()):
        lines += [f"## {key}", "", f"{run['date']}, {run['machine']}.", f"Command: `{run['command']}`", "",
                  f"fp32 matmul peak {run['peak_gflops']:.0f} GFLOP/s; {run['gflop_per_image']:.3f} GFLOP per "
                  "training image (forward + backward).", ""]
        if "precision_probe" in run:
            probe = run["precision_probe"]
            lines += [f"One forward + backward on 100 images: fp32 {probe['fp32']:.3f} s, bf16 autocast "
                      f"{probe['bf16']:.3f} s ({probe['fp32'] / probe['bf16']:.2f}x).", ""]
        lines += ["| IPC | variant | train img/s | GFLOP/s | % of peak | train s | of which DSA s | test s | wall s "
                  "| accuracy | vs whole | train speed-up |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for ipc, variants in sorted(run["ipc"].items(), key=lambda item: int(item[0].split()[0])):
            base = variants.get("whole")
            for name, row in variants.items():
                gflops = row["train_images_per_second"] * run["gflop_per_image"]
                ratio = (f"{row['train_images_per_second'] / base['train_images_per_second']:.2f}x"
                         if base and name != "whole" else "")
                shift = f"{row['mean'] - base['mean']:+.2f}" if base and name != "whole" else ""
                lines.append(
                    f"| {ipc} | {name} | {row['train_images_per_second']:.0f} | {gflops:.0f} | "
                    f"{100 * gflops / run['peak_gflops']:.0f} | {row['train_seconds']:.1f} | {row['augment_seconds']:.1f} "
                    f"| {row['test_seconds']:.1f} | {row['wall_seconds']:.1f} | {row['mean']:.2f} | {shift} | {ratio} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    apply_threads(args)
    device = resolve_device(args.device)
    train, test = mgdd.load_dataset("fashion-mnist", "train"), mgdd.load_dataset("fashion-mnist", "test")
    run = {"date": today(), "machine": machine_description(device), "command": command_line(),
           "models": args.models, "epochs": args.epochs, "peak_gflops": round(sgemm_peak(device), 1),
           "gflop_per_image": training_flops_per_image(1, 10, (28, 28), device) / 1e9, "ipc": {}}
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    key = f"{today()} {device.type} {torch.get_num_threads()} threads, {args.models} models x {args.epochs} epochs"
    if args.precision_probe:
        run["precision_probe"] = precision_probe(device)
        print(f"forward + backward of 100 images: {run['precision_probe']}", flush=True)
    for ipc in args.ipc:
        for set_name in args.sets:
            syn = synthetic_set(set_name, train, ipc, args)
            row_key = str(ipc) if set_name == "random" else f"{ipc} {set_name}"
            run["ipc"][row_key] = {}
            for name in args.variants:
                row = timed_evaluate(syn, test, args, VARIANTS[name])
                run["ipc"][row_key][name] = row
                print(f"IPC {row_key} {name}: {row}", flush=True)
                results[key] = run
                save_results(path, results)
                write_markdown(RESULTS_DIR / f"{NAME}.md", markdown(results))


def synthetic_set(name: str, train, ipc: int, args: argparse.Namespace) -> mgdd.SyntheticSet:
    """The set a row is timed on: random real, herding, or MGDD as the README's main job makes it."""
    if name != "mgdd":
        return mgdd.distill(name, train, ipc, seed=0)
    return mgdd.distill("mgdd", train, ipc, seed=0, device=args.device, steps=args.adapt_steps)


if __name__ == "__main__":
    main()
