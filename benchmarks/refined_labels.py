"""How a refined set's learned labels are trained on, measured on time-to-accuracy sets.

    python benchmarks/refined_labels.py --sets amd-epyc-zen-4-family-25-model-17/ipc50/mgdd/600 \
        --treatments hard platt --models 1 --threads 1

The refinement learns its labels (regression targets of a ridge head, scored by a Platt-scaled cross-entropy);
the protocol trains on labels that are not distributions with MSE (``learned``: the time-to-accuracy row
itself). The other treatments keep the images and change the labels: ``hard`` (cross-entropy on the class each
image was made for, as the one-pass set at IPC 50 is trained), ``platt`` (soft cross-entropy on
softmax(platt_scale x labels), the distribution the refinement scored), ``softT`` (soft cross-entropy on
softmax(labels / T), e.g. ``soft0.3``). Each network is saved as it finishes (resumable); the table is
results/refined_labels.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import re

import torch

import mgdd
from common import (
    CHECKPOINTS_DIR, RESULTS_DIR, add_run_options, apply_threads, command_line, evaluate_by_model, load_results,
    machine_description, save_results, today, write_markdown,
)
from time_to_accuracy import publish

NAME = "refined_labels"
_SOFT = re.compile(r"^soft(\d+(?:\.\d+)?)$")


def as_distributions(syn: mgdd.SyntheticSet, temperature: float) -> mgdd.SyntheticSet:
    """The set with its learned labels turned into distributions, softmax(labels / temperature) (the protocol then
    trains with soft cross-entropy)."""
    return dataclasses.replace(syn, labels=torch.softmax(syn.labels.double() / temperature, dim=1).float())


def with_treatment(syn: mgdd.SyntheticSet, treatment: str) -> mgdd.SyntheticSet:
    """``syn`` with its labels as ``treatment`` says (see the module's docstring)."""
    if not syn.soft_labels:
        raise ValueError("the set has hard labels already: nothing to treat")
    if treatment == "hard":
        return dataclasses.replace(syn, labels=syn.sample_classes.clone())
    if treatment == "platt":
        scale = syn.metadata.get("platt_scale")
        if scale is None:
            raise ValueError("the set records no platt_scale (refined with another loss)")
        return as_distributions(syn, 1.0 / scale)
    if (match := _SOFT.match(treatment)) is not None:
        return as_distributions(syn, float(match.group(1)))
    raise ValueError(f"treatment must be hard, platt or softT (e.g. soft0.3), got {treatment!r}")


def render(results: dict, tta: dict) -> str:
    lines = ["# The label treatment of refined sets", "",
             "Images of a time-to-accuracy set (its key), labels as the treatment says; ConvNet-3, 300 epochs, the "
             "standard protocol. `learned`: the row of `time_to_accuracy.md` (MSE on the learned labels). Commands "
             "under the table.", "",
             "| set | seconds | treatment | accuracy | models | date |", "| --- | --- | --- | --- | --- | --- |"]
    for key in sorted({e["set_key"] for e in results.values()}):
        row = tta.get(key, {})
        if row.get("accuracy") is not None:
            lines.append(f"| {key} | {row['seconds']:.0f} | learned (MSE) | {row['accuracy']:.2f} ± {row['std']:.2f} | "
                         f"{row['models']} | {row['date']} |")
        for e in sorted((e for e in results.values() if e["set_key"] == key), key=lambda e: e["treatment"]):
            lines.append(f"| {key} | {row.get('seconds', 0):.0f} | {e['treatment']} | {e['accuracy']:.2f} ± "
                         f"{e['std']:.2f} | {e['models']} | {e['date']} |")
    lines += ["", "Commands:", ""] + [f"    {c}" for c in sorted({e["command"] for e in results.values()})]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", required=True, help="time-to-accuracy keys (table/ipcK/method/rung)")
    parser.add_argument("--treatments", nargs="+", default=["hard", "platt"])
    add_run_options(parser, models=2)
    args = parser.parse_args()
    apply_threads(args)
    tta = load_results(RESULTS_DIR / "time_to_accuracy.json")
    missing = [key for key in args.sets if key not in tta]
    if missing:
        parser.error(f"not in results/time_to_accuracy.json: {missing}")
    for treatment in args.treatments:  # checked before any work
        if treatment not in ("hard", "platt") and not _SOFT.match(treatment):
            parser.error(f"unknown treatment {treatment!r}: hard, platt or softT")
    device = mgdd.resolve_device(args.device)
    test = mgdd.load_dataset("fashion-mnist", "test")
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for key in args.sets:
        for treatment in args.treatments:
            name = f"{key} {treatment}"
            done = results.get(name)
            if done and done["models"] >= args.models and done["epochs"] == args.epochs:
                continue
            syn = with_treatment(mgdd.SyntheticSet.load(CHECKPOINTS_DIR.parent / tta[key]["set"]), treatment)
            earlier = f"{NAME}/{name}/{done['models']}x{args.epochs}" if done and done["epochs"] == args.epochs else None
            result = evaluate_by_model(f"{NAME}/{name}/{args.models}x{args.epochs}", args.models, args.seed,
                                       lambda seed: mgdd.evaluate(syn, test, models=1, epochs=args.epochs, seed=seed,
                                                                  device=device), extends=earlier)
            results[name] = {"set_key": key, "treatment": treatment, "accuracy": round(result.mean, 2),
                             "std": round(result.std, 2), "accuracies": result.accuracies, "models": args.models,
                             "epochs": args.epochs, "date": today(), "machine": machine_description(device),
                             "command": command_line()}
            save_results(path, results)
            print(name, f"{result.mean:.2f} ± {result.std:.2f}", flush=True)
            write_markdown(RESULTS_DIR / f"{NAME}.md", render(load_results(path), tta))
            publish(tta, [tta[key]["ipc"]])  # time_to_accuracy.md shows the pipeline's labels from these


if __name__ == "__main__":
    main()
