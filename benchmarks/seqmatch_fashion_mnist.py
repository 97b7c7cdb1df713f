"""SeqMatch against plain MTT on Fashion-MNIST: same experts, same total distillation iterations.

    python benchmarks/seqmatch_fashion_mnist.py --ipc 10 --subsets 2 --iterations 60 --models 3
    python benchmarks/seqmatch_fashion_mnist.py --ipc 50 --subsets 3 --iterations 60 --models 3

Both methods share one expert buffer (``--experts`` networks, ``--expert-epochs`` epochs, as in
time_to_accuracy.py). MTT runs ``--iterations``; SeqMatch splits the same number of iterations over its
K subsets and also trains its later experts (their seconds are reported separately). Sets are evaluated
under the protocol (ConvNet-3, DSA, ``--epochs``, ``--models``); SeqMatch both by plain training on the
union and by its curriculum (S1, then S1+S2, ...: K times the epochs). Resumable, on a fresh machine too:
runs snapshot into checkpoints/seqmatch/, where each finished SeqMatch subset and the expert buffer's manifest
are committed (the trajectories, later buffers and MTT snapshots are git-ignored: they are rebuilt, and only a
subset still to distil needs them), each evaluated network's accuracy in checkpoints/, finished cells in
results/seqmatch_fashion_mnist.json. A session thus carries SeqMatch at IPC 50 one subset further.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mgdd
from common import (
    CHECKPOINTS_DIR, RESULTS_DIR, SETS_DIR, add_run_options, apply_threads, command_line, evaluate_by_model,
    load_results, machine_description, save_results, today, write_markdown,
)
from mgdd.baselines import train_experts
from mgdd.baselines.experts import buffer_seconds
from mgdd.baselines.seqmatch import FINAL
from mgdd.synthetic import SyntheticSet

NAME = "seqmatch_fashion_mnist"
RUNS = CHECKPOINTS_DIR / "seqmatch"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--subsets", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=["mtt", "seqmatch"], choices=["mtt", "seqmatch"],
                        help="run only these (two processes, one per core, share the results file)")
    parser.add_argument("--iterations", type=int, default=60, help="total MTT iterations of each method")
    parser.add_argument("--subset-iterations", type=int, default=None,
                        help="SeqMatch's iterations per subset (default: --iterations / --subsets, MTT's total; "
                             "the paper gives every subset MTT's full count: --subset-iterations 60)")
    parser.add_argument("--experts", type=int, default=3)
    parser.add_argument("--expert-epochs", type=int, default=6)
    parser.add_argument("--pretrain-epochs", type=int, default=300, help="later experts: epochs per earlier stage")
    parser.add_argument("--batch-syn", type=int, default=None,
                        help="MTT's student minibatch, both methods (default: MTT's, 100); memory and seconds per "
                             "iteration grow with batch-syn x syn_steps (30 above IPC 10)")
    parser.add_argument("--mtt-memory-gb", type=float, default=None,
                        help="MTT's guard on the unrolled student's activations (default: MTT's, 75%% of the "
                             "machine's memory; the estimate is 9.0 GB at IPC 10, 13.5 GB at IPC 50: mtt_memory.md)")
    parser.add_argument("--save-sets", default=str(SETS_DIR),
                        help="save the method's sets to DIR/<method>/ipc<k> (for `mgdd release`)")
    add_run_options(parser)
    args = parser.parse_args()
    if args.subset_iterations is not None and args.subset_iterations < 1:
        parser.error(f"--subset-iterations must be >= 1, got {args.subset_iterations}")
    return args


def main() -> None:
    args = parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    train, test = mgdd.load_dataset("fashion-mnist", "train"), mgdd.load_dataset("fashion-mnist", "test")
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    experts = RUNS / "experts"
    common = dict(experts=str(experts), seed=args.seed, device=device, max_memory_gb=args.mtt_memory_gb)
    if args.batch_syn is not None:
        common["batch_syn"] = args.batch_syn
    per_subset = args.subset_iterations or args.iterations // args.subsets
    runs = {
        "mtt": lambda folder: mgdd.distill("mtt", train, args.ipc, iterations=args.iterations,
                                           snapshot_dir=str(RUNS / folder), snapshot_every=5, **common),
        "seqmatch": lambda folder: mgdd.distill("seqmatch", train, args.ipc, subsets=args.subsets,
                                                iterations=per_subset, snapshot_every=5,
                                                pretrain_epochs=args.pretrain_epochs,
                                                snapshot_dir=str(RUNS / folder), **common),
    }
    for method in args.methods:
        keys, folder, set_name = run_names(method, args.ipc, args.iterations, args.subsets, per_subset,
                                           args.batch_syn, device.type)
        saved = Path(args.save_sets) / method / set_name if args.save_sets else None
        if all(k in results for k in keys) and (saved is None or saved.exists()):
            continue
        if saved is not None and saved.exists():  # distilled before: only its evaluation is left
            syn = SyntheticSet.load(saved)
        else:
            if method == "mtt" or not (RUNS / folder / "subset_1" / FINAL).exists():  # the buffer is needed
                train_experts(train, experts, args.experts, args.expert_epochs, seed=args.seed, test=test,
                              device=device)  # finishes the buffer; nothing to do when it is complete
            syn = runs[method](folder)  # a finished run resumes from its last snapshot in seconds
        expert_seconds = buffer_seconds(experts)
        if saved is not None and not saved.exists():  # for `mgdd release`, which pairs it with this file's accuracy
            syn.save(saved)
        for curriculum, key in zip((False, True), keys):  # SeqMatch's second key is its curriculum
            if key in results:
                continue
            result = evaluate_by_model(  # one network at a time, each saved at once (IPC 50 takes hours)
                f"{NAME} {key}", args.models, args.seed,
                lambda seed, curriculum=curriculum: mgdd.evaluate(syn, test, models=1, epochs=args.epochs, seed=seed,
                                                                  device=device, curriculum=curriculum))
            results[key] = {
                "method": method, "evaluation": "curriculum" if curriculum else "union", "ipc": args.ipc,
                "subsets": syn.metadata.get("subsets"), "iterations": syn.metadata.get("iterations", args.iterations),
                "distill_seconds": syn.metadata["distill_seconds"],
                "later_expert_seconds": syn.metadata.get("later_expert_seconds", 0.0),
                "expert_seconds": round(expert_seconds, 1), "learned_lr": syn.learned_lr,
                "batch_syn": args.batch_syn,
                "accuracies": result.accuracies, "mean": result.mean, "std": result.std, "models": args.models,
                "epochs": args.epochs, "date": today(), "machine": machine_description(device), "command": command_line(),
            }
            print(key, f"{result.mean:.2f} ± {result.std:.2f}", flush=True)
            save_results(path, results)
            write_markdown(RESULTS_DIR / f"{NAME}.md", markdown(results))


def run_names(method: str, ipc: int, iterations: int, subsets: int, subset_iterations: int,
              batch_syn: int | None, device_kind: str = "cpu") -> tuple[list[str], str, str]:
    """A run's result keys (SeqMatch: union, then curriculum), snapshot folder and saved set's folder.

    The equal-budget runs at the default student minibatch keep the plain names; another minibatch
    (``b64``) or SeqMatch with another per-subset count (``sub60``) is another cell in other folders, and
    its set goes beside the release's (which reads only ``ipc<k>`` folders). A run on an accelerator
    (``cuda``) is its own cell too, so that both methods are rerun there with that machine's experts rather
    than compared with the CPU's.
    """
    suffix = f" b{batch_syn}" if batch_syn is not None else ""
    if method == "seqmatch" and subset_iterations != iterations // subsets:
        suffix += f" sub{subset_iterations}"
    if device_kind != "cpu":
        suffix += f" {device_kind}"
    evaluations = ["", " curriculum"] if method == "seqmatch" else [""]
    keys = [f"ipc{ipc} it{iterations}{suffix} {method}{evaluation}" for evaluation in evaluations]
    tag = suffix.replace(" ", "-")
    folder = f"mtt-ipc{ipc}{tag}" if method == "mtt" else f"seqmatch-ipc{ipc}-k{subsets}{tag}"
    return keys, folder, f"ipc{ipc}{tag}"


def markdown(results: dict) -> str:
    lines = ["# SeqMatch vs MTT on Fashion-MNIST (ConvNet-3, standard protocol)", "",
             "Same expert buffer, same total MTT iterations. SeqMatch's later experts are trained in its run "
             "(`later s`); the shared buffer's seconds are `experts s`. Curriculum: S1, then S1+S2, ... (the "
             "epochs per stage).", "",
             "| IPC | method | evaluation | subsets | iterations | batch | distill s | later s | experts s | accuracy | "
             "models x epochs | date, machine |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for entry in sorted(results.values(), key=lambda e: (e["ipc"], e["method"], e["evaluation"])):
        lines.append(f"| {entry['ipc']} | {entry['method']} | {entry['evaluation']} | {entry['subsets'] or '—'} | "
                     f"{entry['iterations']} | {entry.get('batch_syn') or 'default'} | {entry['distill_seconds']:.0f} | "
                     f"{entry['later_expert_seconds']:.0f} | "
                     f"{entry['expert_seconds']:.0f} | {entry['mean']:.2f} ± {entry['std']:.2f} | "
                     f"{entry['models']} x {entry['epochs']} | {entry['date']}, {entry['machine']} |")
    lines += ["", "Commands:", ""] + sorted({f"- `{e['command']}`" for e in results.values()})
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
