"""MGDD on Fashion-MNIST: accuracy after adaptation, meta-trained vs scratch, unseen sizes, timing.

    python benchmarks/mgdd_fashion_mnist.py --parts adapt curve --models 3 --epochs 300

Parts (each resumable: finished cells are kept in results/mgdd_fashion_mnist.json):
  adapt  adapt the pretrained generator (--steps, at --adapt-ipc), generate every --ipc
         (sizes other than --adapt-ipc were never seen in adaptation), evaluate; time adapt and generate
  curve  meta-trained start vs the same generator from scratch, at each of --curve-steps, IPC --curve-ipc
  variants  adaptation options beyond the defaults (--variants, e.g. mean_weight=1 augment=true), each
         adapted at --adapt-ipc for --steps and evaluated at that IPC
  labels the untrained (identity) generator, i.e. real images (random, or init=herding), with least-squares labels solved
         on --label-real-per-class real samples per class (and "hard": one-hot), at --label-ipc:
         what the labels alone contribute, and how many real samples the solve needs
The markdown table (results/mgdd_fashion_mnist.md) also lists random real and the coreset baselines
from results/coreset_fashion_mnist.json when present.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch

import mgdd
from common import (
    RESULTS_DIR, SETS_DIR, add_run_options, apply_threads, command_line, load_results, machine_description,
    save_results, today, write_markdown,
)
from mgdd.generator.meta import DEFAULT_ADAPT_STEPS, DEFAULT_MODEL, MetaGenerator

NAME = "mgdd_fashion_mnist"
TARGETS = {1: 72.0, 10: 85.0, 50: 88.0}  # accuracy targets of the MGDD issue (%)
GENERATE_SECONDS_TARGET = 2.0  # generate(ipc=50) after adaptation, on this CPU


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="*", default=["adapt", "curve"], choices=["adapt", "curve", "variants", "labels"],
                        help="none: only re-render the markdown from the JSON")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--steps", type=int, default=DEFAULT_ADAPT_STEPS, help="adaptation steps (adapt()'s default)")
    parser.add_argument("--adapt-ipc", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--curve-steps", type=int, nargs="+", default=[0, 50, 100, 200])
    parser.add_argument("--curve-ipc", type=int, default=10)
    parser.add_argument("--curve-lr", type=float, default=None, help="lr for both curve runs (default --lr)")
    parser.add_argument("--variants", nargs="+", default=["mean_weight=1", "augment=true"],
                        help="adapt() options, comma-separated within one variant: mean_weight=1,augment=true")
    parser.add_argument("--variant-ipc", type=int, nargs="+", default=None,
                        help="variants part: adaptation sizes (default --adapt-ipc), one process for all")
    parser.add_argument("--variant-steps", type=int, nargs="+", default=None,
                        help="variants part: adaptation steps (default --steps)")
    parser.add_argument("--generate", default="",
                        help="generate() options of the variants part, as a label variant (e.g. nets=8,init=herding)")
    parser.add_argument("--label-ipc", type=int, nargs="+", default=[50])
    parser.add_argument("--label-real-per-class", nargs="+", default=["100", "500"],
                        help="label solves: COUNT|hard[,nets=N][,ridge=R][,init=I] (real samples per class or "
                             "one-hot labels, networks solved across, head ridge, initial images)")
    parser.add_argument("--save-sets", default=str(SETS_DIR),
                        help="adapt part: save each set of the defaults to DIR/mgdd/ipc<k> (for `mgdd release`)")
    add_run_options(parser)
    return parser.parse_args()


def record(results: dict, key: str, entry: dict, device: torch.device) -> None:
    entry.update(date=today(), machine=machine_description(device), command=command_line())
    results[key] = entry
    save_results(RESULTS_DIR / f"{NAME}.json", results)
    write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))
    print(key, {k: v for k, v in entry.items() if k not in ("command", "machine", "accuracies")}, flush=True)


def run_adapt(args, results, train, test, device) -> None:
    keys = [f"adapt/ipc{ipc}" for ipc in args.ipc]
    if all(k in results for k in keys):
        return
    gen = MetaGenerator.from_pretrained(args.model)
    gen.adapt(train, steps=args.steps, ipc=args.adapt_ipc, lr=args.lr, seed=args.seed, device=device)
    for ipc, key in zip(args.ipc, keys):
        if key in results:
            continue
        gen.generate(ipc, seed=args.seed, device=device)  # warm-up: label features cached, kernels loaded
        started = time.perf_counter()
        syn = gen.generate(ipc, seed=args.seed, device=device)
        generate_seconds = time.perf_counter() - started
        if args.save_sets:
            syn.save(Path(args.save_sets) / "mgdd" / f"ipc{ipc}")
        result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
        record(results, key, {
            "method": "mgdd", "ipc": ipc, "mean": result.mean, "std": result.std, "accuracies": result.accuracies,
            "adapt_steps": args.steps, "adapt_ipc": args.adapt_ipc, "adapt_seconds": gen.adapt_info["seconds"],
            "mean_weight": gen.adapt_info["mean_weight"],
            "generate_seconds": generate_seconds, "unseen_in_adaptation": ipc != args.adapt_ipc,
            "init": syn.metadata["init"], "labels": syn.metadata["labels"],
            "label_networks": syn.metadata["label_networks"],
            "label_real_per_class": syn.metadata["label_real_per_class"],
            "model": args.model, "epochs": args.epochs, "models": args.models,
        }, device)


def untrained(model: str) -> MetaGenerator:
    """A freshly initialised generator with ``model``'s architecture (the "from scratch" start)."""
    return MetaGenerator(**MetaGenerator.from_pretrained(model).model.config)


def default_adapt_rows(results: dict, prefix: str = "adapt") -> list[dict]:
    """The pipeline's defaults, one entry per IPC (keys ``adapt/ipc<k>``), by IPC. Entries of earlier defaults
    are kept under ``adapt-v1/`` and variants under longer keys."""
    rows = [r for k, r in results.items() if re.fullmatch(rf"{prefix}/ipc\d+", k)]
    return sorted(rows, key=lambda r: r["ipc"])


def describe_adapt_labels(r: dict) -> str:
    if r.get("labels") == "hard":
        return "one-hot"
    nets = r.get("label_networks") or 1
    return f"least-squares, {r['label_real_per_class']} real / class" + (f", {nets} networks" if nets > 1 else "")


def meta_vs_scratch(curve: list[dict]) -> tuple[int, int]:
    """(wins, pairs): in how many of the (IPC, steps) pairs measured from both starts the meta-trained one is ahead."""
    by = {(r["start"], r["steps"], r["ipc"]): r["mean"] for r in curve}
    pairs = [(steps, ipc) for (start, steps, ipc) in by if start == "meta" and ("scratch", steps, ipc) in by]
    return sum(by[("meta", s, i)] > by[("scratch", s, i)] for s, i in pairs), len(pairs)


def run_curve(args, results, train, test, device) -> None:
    lr = args.curve_lr if args.curve_lr is not None else args.lr
    for start in ("meta", "scratch"):
        for steps in args.curve_steps:
            key = f"curve/{start}/steps{steps}" + (f"/ipc{args.curve_ipc}" if args.curve_ipc != 10 else "")
            if key in results:
                continue
            torch.manual_seed(args.seed)
            gen = MetaGenerator.from_pretrained(args.model) if start == "meta" else untrained(args.model)
            gen.adapt(train, steps=steps, ipc=args.curve_ipc, lr=lr, seed=args.seed, device=device)
            syn = gen.generate(args.curve_ipc, seed=args.seed, device=device)
            result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
            record(results, key, {
                "start": start, "steps": steps, "ipc": args.curve_ipc, "lr": lr, "mean": result.mean,
                "std": result.std, "accuracies": result.accuracies, "adapt_seconds": gen.adapt_info["seconds"],
                "final_loss": (sum(gen.adapt_info["losses"][-10:]) / max(1, len(gen.adapt_info["losses"][-10:]))
                               if steps else None),
                "model": args.model, "epochs": args.epochs, "models": args.models,
            }, device)


VARIANT_OPTIONS = {"mean_weight": float, "augment": lambda v: {"true": True, "false": False}[v.lower()],
                   "real_per_class": int, "lr": float, "pool_size": int,
                   "model_pool": lambda v: {"random": "random", "online": "online"}[v],
                   "loss": lambda v: {"mse": "mse", "platt": "platt"}[v]}


def parse_variant(spec: str) -> dict:
    """``"mean_weight=1,augment=true"`` -> ``{"mean_weight": 1.0, "augment": True}`` (adapt() keywords)."""
    options = {}
    for item in spec.split(","):
        name, _, value = item.partition("=")
        if name not in VARIANT_OPTIONS or not value:
            raise ValueError(f"variant option {item!r}: expected one of {sorted(VARIANT_OPTIONS)} as name=value")
        try:
            options[name] = VARIANT_OPTIONS[name](value)
        except (KeyError, ValueError):
            raise ValueError(f"variant option {item!r}: bad value {value!r}") from None
    return options


def run_variants(args, results, train, test, device) -> None:
    for ipc in args.variant_ipc or [args.adapt_ipc]:
        for steps in args.variant_steps or [args.steps]:
            for spec in args.variants:
                run_variant(args, results, train, test, device, spec, ipc, steps)


def run_variant(args, results, train, test, device, spec: str, ipc: int, steps: int) -> None:
    options = {"lr": args.lr, **parse_variant(spec)}
    key = f"variant/{spec}/ipc{ipc}/steps{steps}" + (f"/seed{args.seed}" if args.seed else "")
    key += f"/generate:{args.generate}" if args.generate else ""
    if key in results:
        return
    gen = MetaGenerator.from_pretrained(args.model)
    gen.adapt(train, steps=steps, ipc=ipc, seed=args.seed, device=device, **options)
    generate_options = parse_label_variant(args.generate) if args.generate else {}
    syn = gen.generate(ipc, seed=args.seed, device=device, **generate_options)
    result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
    record(results, key, {
        "variant": spec + (f"; generate: {describe_labels(generate_options)}" if args.generate else ""),
        "ipc": ipc, "adapt_steps": steps, "seed": args.seed,
        "mean": result.mean, "std": result.std,
        "accuracies": result.accuracies, "adapt_seconds": gen.adapt_info["seconds"],
        "model": args.model, "epochs": args.epochs, "models": args.models,
    }, device)


def parse_label_variant(spec: str) -> dict:
    """``"500,nets=4,ridge=1e-6,init=herding"`` -> generate() options; ``"hard"`` -> one-hot labels; without a
    count, the label solve uses generate()'s default number of real samples for the IPC."""
    items = spec.split(",")
    count = items.pop(0) if "=" not in items[0] else "default"
    options = {"labels": "hard" if count == "hard" else "least-squares"}
    if count not in ("hard", "default"):
        options["real_per_class"] = int(count)
    for item in items:
        name, _, value = item.partition("=")
        if name == "nets":
            options["label_networks"] = int(value)
        elif name == "ridge":
            options["label_ridge"] = float(value)
        elif name == "init":
            options["init"] = value
        else:
            raise ValueError(f"label variant {spec!r}: expected [COUNT|hard,][nets=N,][ridge=R,][init=I]")
    return options


def describe_labels(options: dict) -> str:
    start = f"{options['init']} images, " if "init" in options else ""
    if options["labels"] == "hard":
        return start + "one-hot"
    text = start + f"least-squares, {options.get('real_per_class', 'default')} real per class"
    if options.get("label_networks", 1) > 1:
        text += f", solved across {options['label_networks']} networks"
    if "label_ridge" in options:
        text += f", head ridge {options['label_ridge']:g}"
    return text


def run_labels(args, results, train, test, device) -> None:
    identity = untrained(args.model)  # zero-initialised output: generate() returns the initial real images
    for ipc in args.label_ipc:
        for variant in args.label_real_per_class:
            key = f"labels/ipc{ipc}/{variant}"
            if key not in results:
                run_label_variant(args, results, train, test, device, identity, ipc, variant, key)


def run_label_variant(args, results, train, test, device, identity, ipc: int, variant: str, key: str) -> None:
    options = parse_label_variant(variant)
    syn = identity.generate(ipc, data=train, seed=args.seed, device=device, **options)
    result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
    if options["labels"] == "least-squares":
        options["real_per_class"] = syn.metadata["label_real_per_class"]
    record(results, key, {
        "ipc": ipc, "labels": describe_labels(options), "options": options,
        "mean": result.mean, "std": result.std, "accuracies": result.accuracies, "epochs": args.epochs,
        "models": args.models,
    }, device)


def render(results: dict) -> str:
    lines = ["# MGDD on Fashion-MNIST (ConvNet-3, standard protocol)", "",
             "Accuracy (%) of ConvNet-3 trained from scratch on the generated set (labels as each row says; the protocol's",
             "loss follows them: MSE on least-squares labels, cross-entropy on one-hot), 300 epochs unless stated, mean ± std over the listed models. Targets of the issue: IPC 1 >= 72,",
             "IPC 10 >= 85, IPC 50 >= 88.", "", "## After adaptation", "",
             "The package's defaults (`adapt()` then `generate()`): starting images, labels and adaptation as the row says.", "",
             "| IPC | accuracy | unseen in adaptation | start | labels | adapt steps | mean_weight | adapt s | generate s"
             " | models | epochs | date |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for prefix, title in (("adapt", None), ("adapt-v1", "Previous defaults (random start, labels from 1 network, "
                                                        "mean_weight 0, 200 steps)")):
        rows = sorted((v for k, v in results.items() if k.startswith(prefix + "/")),
                      key=lambda r: (r["ipc"], r["label_real_per_class"] or 0))
        if title and rows:
            lines += ["", f"## {title}", "",
                      "| IPC | accuracy | unseen in adaptation | start | labels | adapt steps | mean_weight | adapt s"
                      " | generate s | models | epochs | date |",
                      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in rows:
            lines.append(f"| {r['ipc']} | {r['mean']:.2f} ± {r['std']:.2f} | {'yes' if r['unseen_in_adaptation'] else 'no'}"
                         f" | {r.get('init', 'random')} | {describe_adapt_labels(r)} | {r['adapt_steps']}"
                         f" | {r.get('mean_weight', 0):g} | {r['adapt_seconds']:.1f}"
                         f" | {r['generate_seconds']:.2f} | {r['models']} | {r['epochs']} | {r['date']} |")
    curve = [v for k, v in results.items() if k.startswith("curve/")]
    lines += targets_section(default_adapt_rows(results), curve)  # the targets judge the package's defaults
    if curve:
        lines += ["", "## Meta-trained start vs from scratch (equal adaptation steps)", "",
                  "| steps | meta-trained | from scratch | IPC |", "| --- | --- | --- | --- |"]
        by = {(r["start"], r["steps"], r["ipc"]): r for r in curve}
        for ipc, steps in sorted({(r["ipc"], r["steps"]) for r in curve}):
            cells = [f"{by[(s, steps, ipc)]['mean']:.2f} ± {by[(s, steps, ipc)]['std']:.2f}"
                     if (s, steps, ipc) in by else "—" for s in ("meta", "scratch")]
            lines.append(f"| {steps} | {cells[0]} | {cells[1]} | {ipc} |")
    variants = sorted((v for k, v in results.items() if k.startswith("variant/")),
                      key=lambda r: (r["ipc"], r["adapt_steps"], r.get("seed", 0), r["variant"]))
    if variants:
        lines += ["", "## Adaptation variants (seed 0 of the defaults: first table; mean_weight=0 is the default)", "",
                  "`seed` draws the adaptation and the evaluation; ± is over the evaluated models of one set.", "",
                  "| variant | IPC | adapt steps | seed | accuracy | adapt s | models |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        clamped = " (output clamped to the data range)"
        lines += [f"| {r['variant']}{clamped if r.get('clamp_output') else ''} | {r['ipc']} | {r['adapt_steps']} | {r.get('seed', 0)} | {r['mean']:.2f} ± "
                  f"{r['std']:.2f} | {r['adapt_seconds']:.1f} | {r['models']} |" for r in variants]
    labels = sorted((v for k, v in results.items() if k.startswith("labels/")), key=lambda r: (r["ipc"], r["labels"]))
    if labels:
        lines += ["", "## Labels alone: real images (untrained generator; random unless the row says herding) with each labelling", "",
                  "| IPC | labels | accuracy | models |", "| --- | --- | --- | --- |"]
        lines += [f"| {r['ipc']} | {r['labels']} | {r['mean']:.2f} ± {r['std']:.2f} | {r['models']} |" for r in labels]
    baselines = RESULTS_DIR / "coreset_fashion_mnist.json"
    if baselines.exists():
        rows = sorted(json.loads(baselines.read_text()).values(), key=lambda r: (r["ipc"], r["method"]))
        lines += ["", "## Baselines (from coreset_fashion_mnist.md)", "", "| method | IPC | accuracy |",
                  "| --- | --- | --- |"]
        lines += [f"| {r['method']} | {r['ipc']} | {r['mean']:.2f} ± {r['std']:.2f} |" for r in rows]
    entries = list(results.values())
    if entries:
        lines += ["", f"Machine: {entries[0]['machine']}", "", "Commands:", ""]
        lines += [f"    {c}" for c in sorted({r['command'] for r in entries})]
    return "\n".join(lines) + "\n"


def targets_section(adapt: list[dict], curve: list[dict]) -> list[str]:
    """Each target of the issue beside the measured figure, and whether it is met."""
    def verdict(met: bool) -> str:
        return "met" if met else "**missed**"

    lines = ["", "## Targets", "", "| target | measured | verdict |", "| --- | --- | --- |"]
    for r in adapt:
        if r["ipc"] in TARGETS:
            goal = TARGETS[r["ipc"]]
            lines.append(f"| IPC {r['ipc']} >= {goal:.0f} % | {r['mean']:.2f} % | {verdict(r['mean'] >= goal)} |")
    for r in adapt:
        if r["ipc"] == 50:
            seconds = r["generate_seconds"]
            lines.append(f"| generate(ipc=50) < {GENERATE_SECONDS_TARGET:.0f} s | {seconds:.2f} s (as timed here;"
                         " idle-machine figures: generate_speed.md)"
                         f" | {verdict(seconds < GENERATE_SECONDS_TARGET)} |")
    wins, pairs = meta_vs_scratch(curve)
    if pairs:
        lines.append(f"| meta-trained start beats scratch at equal steps | {wins} of {pairs} (IPC, steps) pairs"
                     f" | {verdict(wins == pairs)} |")
    return lines


def main() -> None:
    args = parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    results = load_results(RESULTS_DIR / f"{NAME}.json")
    train = mgdd.load_dataset("fashion-mnist", "train")
    test = mgdd.load_dataset("fashion-mnist", "test")
    if "adapt" in args.parts:
        run_adapt(args, results, train, test, device)
    if "curve" in args.parts:
        run_curve(args, results, train, test, device)
    if "variants" in args.parts:
        run_variants(args, results, train, test, device)
    if "labels" in args.parts:
        run_labels(args, results, train, test, device)
    write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))


if __name__ == "__main__":
    main()
