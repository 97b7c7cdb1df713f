"""Random real, herding and k-center on Fashion-MNIST under the standard protocol; any other method at a
stated number of iterations (``--iterations``), for the released sets.

    python benchmarks/coreset_baselines.py --ipc 1 10 50 --models 3 --epochs 300
    python benchmarks/coreset_baselines.py --methods herding --ipc 10 --option feature_per_class=100 --threads 1
    python benchmarks/coreset_baselines.py --sets-only --threads 1      # the sets of the defaults, for `mgdd release`
    python benchmarks/coreset_baselines.py --name baselines_fashion_mnist --methods dm --ipc 10 --iterations 166

``--option KEY=VALUE`` passes method options (e.g. the feature network of herding and k-center); such
cells are kept under their own key, beside the cells of the defaults. ``--iterations N`` is a budget, not a
variant: the cell (key ``.../itN``) and its set stand for the method's defaults, and the run snapshots to
runs/sets-snapshots/ so that it resumes; ``--experts DIR`` gives MTT its expert buffer.

Each (method, ipc) cell is saved to results/coreset_fashion_mnist.json as soon as it is done,
so an interrupted run resumes where it stopped; the markdown table is rewritten each time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mgdd
from common import (
    RESULTS_DIR, SETS_DIR, add_run_options, apply_threads, command_line, evaluate_by_model, load_results,
    machine_description, save_results, today, write_markdown,
)
from mgdd.cli import parse_options

SNAPSHOTS = Path(__file__).resolve().parent / "runs" / "sets-snapshots"
PUBLISHED = {  # random real, ConvNet, Fashion-MNIST (DC paper, ICLR 2021)
    ("random", 1): 51.4, ("random", 10): 73.8, ("random", 50): 82.5,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["random", "herding", "kcenter"])
    parser.add_argument("--ipc", nargs="+", type=int, default=[1, 10, 50])
    add_run_options(parser)
    parser.add_argument("--name", default="coreset_fashion_mnist")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="method option for herding / k-center (repeatable)")
    parser.add_argument("--save-sets", default=str(SETS_DIR),
                        help="save each set of the defaults to DIR/<method>/ipc<k> (what `mgdd release` collects)")
    parser.add_argument("--sets-only", action="store_true",
                        help="only distil and save the sets (also those of measured cells), no evaluation")
    parser.add_argument("--iterations", type=int, default=None,
                        help="iterations of an iterative method (dc, dsa, dm, mtt, frepo): its budget")
    parser.add_argument("--experts", default=None, help="MTT's expert buffer (`mgdd experts`)")
    args = parser.parse_args()
    if args.iterations is not None and args.iterations < 1:
        parser.error(f"--iterations must be >= 1, got {args.iterations}")
    if args.iterations is not None and "mtt" in args.methods and not args.experts:
        parser.error("mtt needs --experts DIR (an expert buffer made by `mgdd experts`)")
    apply_threads(args)
    options = parse_options(args.option)
    suffix = "".join(f"/{k}={v}" for k, v in sorted(options.items()))
    suffix += f"/it{args.iterations}" if args.iterations is not None else ""

    device = mgdd.resolve_device(args.device)
    json_path, md_path = RESULTS_DIR / f"{args.name}.json", RESULTS_DIR / f"{args.name}.md"
    results = load_results(json_path)
    train = mgdd.load_dataset("fashion-mnist", "train")
    test = mgdd.load_dataset("fashion-mnist", "test")
    for ipc in args.ipc:
        for method in args.methods:
            key = f"{method}/ipc{ipc}" + (suffix if method != "random" else "")
            if key in results and not args.sets_only:
                continue
            syn = mgdd.distill(method, train, ipc, seed=args.seed, device=device,
                               **(options if method != "random" else {}), **budget(args, method, ipc))
            if args.save_sets and (not options or method == "random"):
                syn.save(Path(args.save_sets) / method / f"ipc{ipc}")
            if args.sets_only:
                continue
            result = evaluate_by_model(  # one network at a time, each saved at once (IPC 50 takes an hour)
                f"{args.name} {key}", args.models, args.seed,
                lambda seed: mgdd.evaluate(syn, test, models=1, epochs=args.epochs, seed=seed, device=device))
            results[key] = {
                "method": method, "options": options if method != "random" else {}, "ipc": ipc,
                "iterations": syn.metadata.get("iteration"), "mean": result.mean, "std": result.std,
                "accuracies": result.accuracies, "distill_seconds": syn.distill_seconds,
                "total_seconds": syn.distill_seconds + result.wall_time, "epochs": args.epochs, "models": args.models,
                "date": today(), "machine": machine_description(device), "command": command_line(),
            }
            save_results(json_path, results)
            write_markdown(md_path, render(results))
            print(f"{key}: {result}", flush=True)
    write_markdown(md_path, render(results))


def budget(args: argparse.Namespace, method: str, ipc: int) -> dict:
    """An iterative method's budget and resources: iterations, a snapshot folder to resume from, MTT's experts."""
    if args.iterations is None or method in ("random", "herding", "kcenter"):
        return {}
    folder = f"{method}-ipc{ipc}-it{args.iterations}"
    folder += f"-{Path(args.experts).name}" if method == "mtt" else ""  # a run per buffer: mtt's snapshots differ
    extra = {"iterations": args.iterations, "snapshot_dir": str(SNAPSHOTS / folder)}
    return extra | ({"experts": args.experts} if method == "mtt" else {})


def render(results: dict) -> str:
    rows = sorted(results.values(), key=lambda r: (r["ipc"], r["method"], str(sorted(r.get("options", {}).items()))))
    lines = [
        "# Coreset and fixed-budget baselines on Fashion-MNIST (ConvNet-3, standard protocol)",
        "",
        "Test accuracy (%) of ConvNet-3 (128 ch, instance norm) trained from scratch on each set: SGD momentum 0.9,",
        "wd 5e-4, lr 0.01 (x0.1 at half), batch 256, DSA augmentation; mean ± std over the listed models.",
        "Herding and k-center (random first center) select in the features of a ConvNet trained on the real data: by",
        "default 3 epochs on 100 images per class, selection over 500 random images per class (`mgdd.selection`);",
        "rows with `feature_epochs=1, feature_per_class=None, candidates_per_class=None` are the settings before",
        "(1 epoch on all 60000 images, selection over all).",
        "",
        "Rows with options name them (`feature_per_class`: real images per class the feature network trains on,",
        "`feature_epochs`, `candidates_per_class`: random images per class the selection runs over; default all).",
        "Iterative methods (DC, DSA, DM, MTT) ran the iterations listed with their defaults: the released sets.",
        "",
        "| method | IPC | iterations | accuracy | published | models | epochs | distill s | total s | date | machine |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        published = PUBLISHED.get((r["method"], r["ipc"])) if not r.get("options") else None
        name = r["method"] + "".join(f", {k}={v}" for k, v in sorted(r.get("options", {}).items()))
        name += " *" if r.get("note") else ""
        lines.append(
            f"| {name} | {r['ipc']} | {r.get('iterations') or '—'} | {r['mean']:.2f} ± {r['std']:.2f} | "
            f"{published if published is not None else '—'} | {r['models']} | {r['epochs']} | "
            f"{r['distill_seconds']:.1f} | {r['total_seconds']:.0f} | {r['date']} | {r['machine']} |"
        )
    notes = sorted({r["note"] for r in rows if r.get("note")})
    lines += [""] + [f"\\* {n}" for n in notes] if notes else []
    commands = sorted({r["command"] for r in rows})
    lines += ["", "Commands:", ""] + [f"    {c}" for c in commands] + [""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
