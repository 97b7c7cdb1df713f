"""MGDD's pipeline on a dataset at several sizes: (generator adaptation,) one pass, refinement; evaluate; save.

    python adapt.py --ipc 1 10 --protocol quick             # the README's main job (defaults: no generator, 60 s)
    python adapt.py --generator pretrained --ipc 1 10       # the bundled meta generator adapted once, then each size
    python adapt.py --dataset digits --ipc 1 10 --refine 300s --protocol field --models 3 --epochs 300

Each set is the one-pass set (start images, the generator where it is used, closed-form labels) refined for
--refine (seconds or steps; 0: the one pass only). --generator none is the default because at equal seconds the adapted
generator measured below refinement alone (docs/mgdd.md, "The generator's share"). Each set goes to OUT/ipc<k>/
(safetensors + metadata + grid.png); OUT/results.json holds the figures.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import mgdd
from mgdd.configargs import (
    HelpFormatter, add_protocol_options, add_signature_options, protocol_choice, signature_values,
)
from mgdd.generator.meta import (
    ADAPT_LOSSES, DEFAULT_MODEL, INIT_METHODS, LABEL_METHODS, MODEL_POOLS, MetaGenerator, generator_applies,
)
from mgdd.generator.method import DEFAULT_GENERATOR, GENERATORS
from mgdd.generator.model import GeneratorModel
from mgdd.generator.refine import parse_budget
from mgdd.io import write_json_atomic

# adapt() and one_pass() options, their defaults read from the signatures (one source); adapt's
# real_per_class / support_per_class are the adaptation's batches, one_pass() keeps its own defaults for them
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
    "guided_steps": "generator steps per call (default: the model's unroll where the generator applies)",
}
CHOICES = {"model_pool": MODEL_POOLS, "loss": ADAPT_LOSSES, "init": INIT_METHODS, "labels": LABEL_METHODS}
# refinement per set in the main job: two sizes, refined and evaluated quickly, stay within 5 minutes on two cores
# (README); longer budgets keep improving the set (benchmarks/results/time_to_accuracy.md)
DEFAULT_REFINE = "60s"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--generator", choices=GENERATORS, default=DEFAULT_GENERATOR,
                        help="none: start images and labels only; pretrained: --model adapted; untrained: a fresh "
                             "generator adapted the same way (the control); auto: pretrained where it applies")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="bundled name, local directory or Hub id")
    parser.add_argument("--dataset", default="fashion-mnist", help="dataset name (mgdd datasets lists them)")
    parser.add_argument("--root", default=None, help="folder holding the dataset's files")
    parser.add_argument("--adapt-ipc", type=int, nargs="+", default=[10],
                        help="synthetic size per class during adaptation, or a range LOW HIGH drawn per step")
    add_signature_options(parser, MetaGenerator.adapt, ADAPT_OPTIONS, helps=HELPS, choices=CHOICES)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10], help="sizes to generate")
    add_signature_options(parser, MetaGenerator.one_pass, GENERATE_OPTIONS, helps=HELPS, choices=CHOICES)
    parser.add_argument("--refine", default=DEFAULT_REFINE, help="refinement of each set after its one pass: "
                        "seconds ('60', '60s'), steps ('200 steps'), or 0 (the one pass only)")
    add_protocol_options(parser, default="quick")
    parser.add_argument("--no-evaluate", action="store_true", help="save the sets without evaluating them")
    parser.add_argument("--out", default="runs/adapt", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    parser.add_argument("--eval-chunk", type=int, default=None,
                        help="images per forward/backward pass in evaluation (default: cache-sized on CPU; "
                             "0: whole batches, the behaviour before chunking)")
    args = parser.parse_args(argv)
    args.refine = None if args.refine.strip() in ("0", "0s", "0.0") else args.refine
    try:
        parse_budget(args.refine)
    except ValueError as error:
        parser.error(f"--refine: {error}")
    if min(args.ipc) < 1:
        parser.error(f"--ipc must be >= 1, got {args.ipc}")
    return args


def uses_adaptation(args: argparse.Namespace, channels: int) -> bool:
    """Whether any requested size uses the generator (``auto``: where it applies; ``none``: never)."""
    if args.generator == "none":
        return False
    if args.generator in ("pretrained", "untrained"):
        return True
    model_channels = GeneratorModel.from_pretrained(args.model).channels
    return any(generator_applies(ipc, channels, model_channels, args.convert_channels) for ipc in args.ipc)


def build_generator(args: argparse.Namespace, train: mgdd.ImageDataset) -> MetaGenerator:
    """The generator, adapted to ``train`` where one is used; else unadapted (its one pass skips it)."""
    if args.generator == "untrained":
        gen = MetaGenerator(**GeneratorModel.from_pretrained(args.model).config)
    else:
        gen = MetaGenerator.from_pretrained(args.model)
    if uses_adaptation(args, train.channels):
        adapt_ipc = args.adapt_ipc[0] if len(args.adapt_ipc) == 1 else tuple(args.adapt_ipc)
        gen.adapt(train, ipc=adapt_ipc, seed=args.seed, device=args.device, **signature_values(args, ADAPT_OPTIONS))
        logging.info("adapted in %.1f s", gen.adapt_info["seconds"])
    return gen


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    models, epochs, look = protocol_choice(args)
    out = Path(args.out)
    train = mgdd.load_dataset(args.dataset, "train", root=args.root)
    test = None if args.no_evaluate else mgdd.load_dataset(args.dataset, "test", root=args.root)
    gen = build_generator(args, train)
    one_pass = signature_values(args, GENERATE_OPTIONS)
    if not uses_adaptation(args, train.channels):
        one_pass["guided_steps"] = 0  # no generator: the start images with their labels
    results = {"model": args.model, "generator": args.generator, "dataset": args.dataset,
               "adapt_seconds": round(gen.adapt_info.get("seconds", 0.0), 2), "refine_seconds": args.refine,
               "protocol": {"models": models, "epochs": epochs, "label": look}, "sets": {}}
    for ipc in args.ipc:
        started = time.perf_counter()
        syn = gen.generate(ipc, data=None if gen.target is not None else train, refine=args.refine,
                           seed=args.seed, device=args.device, **one_pass)
        seconds = time.perf_counter() - started
        folder = syn.save(out / f"ipc{ipc}")
        entry = {"seconds": round(seconds, 2), "stages": syn.metadata.get("stages"), "path": str(folder)}
        if test is not None:
            result = mgdd.evaluate(syn, test, models=models, epochs=epochs, seed=args.seed, device=args.device,
                                   chunk=args.eval_chunk)
            if look:
                result.extra["protocol"] = look
            entry.update(mean=result.mean, std=result.std, accuracies=result.accuracies, epochs=epochs)
            print(f"IPC {ipc}: {result} (distilled in {seconds:.0f} s) -> {folder}")
        else:
            print(f"IPC {ipc}: distilled in {seconds:.0f} s -> {folder}")
        results["sets"][f"ipc{ipc}"] = entry
        write_json_atomic(out / "results.json", results)
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main()
