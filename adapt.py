"""Adapt the MGDD meta generator to a dataset, generate sets at several IPCs, evaluate, save.

    python adapt.py                                   # bundled generator, Fashion-MNIST, IPC 1/10/50
    python adapt.py --dataset digits --steps 100 --ipc 1 10 --epochs 300 --models 3
    python adapt.py --model me/mgdd-fmnist --out runs/fmnist

Each set goes to OUT/ipc<k>/ (safetensors + metadata + grid.png); OUT/results.json holds the figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import mgdd
from mgdd.configargs import HelpFormatter, add_signature_options, signature_values
from mgdd.generator.meta import (
    ADAPT_LOSSES, DEFAULT_MODEL, INIT_METHODS, LABEL_METHODS, MODEL_POOLS, MetaGenerator,
)
from mgdd.io import write_json_atomic


# adapt() and generate() options, their defaults read from the signatures (one source); adapt's
# real_per_class / support_per_class are the adaptation's batches, generate() keeps its own defaults for them
ADAPT_OPTIONS = ("steps", "lr", "real_per_class", "support_per_class", "augment", "pool_size", "pool_per_class",
                 "mean_weight", "model_pool", "max_online_updates", "online_lr", "loss", "convert_channels")
GENERATE_OPTIONS = ("init", "labels", "label_networks", "label_ridge", "guided_steps", "guide_per_class")
HELPS = {
    "steps": "adaptation steps",
    "model_pool": "feature networks of the adaptation loss: frozen random, or trained online (FRePo)",
    "loss": "adaptation loss on the ridge predictions: MSE, or RFAD's Platt-scaled cross-entropy",
    "mean_weight": "weight of DM's class-mean term in the adaptation loss",
    "init": "starting real images (herding: the herding baseline's selection)",
    "label_networks": "random networks the least-squares labels are solved across",
    "label_ridge": "ridge of the label solve's heads (default: the model's)",
    "guided_steps": "generator steps per call (default: the model's unroll)",
}
CHOICES = {"model_pool": MODEL_POOLS, "loss": ADAPT_LOSSES, "init": INIT_METHODS, "labels": LABEL_METHODS}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, help="bundled name, local directory or Hub id")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--root", default=None)
    parser.add_argument("--adapt-ipc", type=int, nargs="+", default=[10],
                        help="synthetic size per class during adaptation, or a range LOW HIGH drawn per step")
    add_signature_options(parser, MetaGenerator.adapt, ADAPT_OPTIONS, helps=HELPS, choices=CHOICES)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10, 50], help="sizes to generate")
    add_signature_options(parser, MetaGenerator.one_pass, GENERATE_OPTIONS, helps=HELPS, choices=CHOICES)
    parser.add_argument("--epochs", type=int, default=300, help="evaluation epochs (0: no evaluation)")
    parser.add_argument("--models", type=int, default=3, help="evaluation models")
    parser.add_argument("--out", default="runs/adapt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--eval-chunk", type=int, default=None,
                        help="images per forward/backward pass in evaluation (default: cache-sized on CPU; "
                             "0: whole batches, the behaviour before chunking)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    train = mgdd.load_dataset(args.dataset, "train", root=args.root)
    gen = MetaGenerator.from_pretrained(args.model)
    adapt_ipc = args.adapt_ipc[0] if len(args.adapt_ipc) == 1 else tuple(args.adapt_ipc)
    gen.adapt(train, ipc=adapt_ipc, seed=args.seed, device=args.device, **signature_values(args, ADAPT_OPTIONS))
    results = {"model": args.model, "dataset": args.dataset, "adapt_steps": args.steps,
               "adapt_seconds": round(gen.adapt_info["seconds"], 2), "sets": {}}
    print(f"adapted in {gen.adapt_info['seconds']:.1f} s")
    test = mgdd.load_dataset(args.dataset, "test", root=args.root) if args.epochs > 0 else None
    for ipc in args.ipc:
        started = time.perf_counter()
        syn = gen.generate(ipc, seed=args.seed, device=args.device, **signature_values(args, GENERATE_OPTIONS))
        seconds = time.perf_counter() - started
        folder = syn.save(out / f"ipc{ipc}")
        entry = {"generate_seconds": round(seconds, 3), "path": str(folder)}
        if test is not None:
            result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed,
                                   device=args.device, chunk=args.eval_chunk)
            entry.update(mean=result.mean, std=result.std, accuracies=result.accuracies, epochs=args.epochs)
            print(f"IPC {ipc}: {result} (generated in {seconds:.2f} s)")
        else:
            print(f"IPC {ipc}: generated in {seconds:.2f} s -> {folder}")
        results["sets"][f"ipc{ipc}"] = entry
        write_json_atomic(out / "results.json", results)
    return results


if __name__ == "__main__":
    main()
