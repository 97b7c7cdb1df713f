"""MGDD's released Fashion-MNIST sets: the pipeline's set at its release budget, taken from the time-to-accuracy run.

    python benchmarks/mgdd_release_sets.py            # then: bash benchmarks/release_fashion_mnist.sh

For each IPC, the set of the default pipeline (``distill("mgdd", ...)``: no generator, herding start, labels
solved across 8 networks, refinement) at its release budget (``RELEASE``: the largest rung of its run) is copied
from ``checkpoints/time_to_accuracy/<table>/`` to ``runs/sets/fashion-mnist/mgdd/ipc<k>/`` (where
``release_fashion_mnist.sh`` collects sets), and its accuracy (3 models at least, evaluated by
``time_to_accuracy.py --phase evaluate --models 3``) goes to results/mgdd_release.json with the seconds it took.

A rung whose run saved learned labels from a one-hot start (IPC 50, distilled before the refinement kept the one
pass's label policy) is released as the pipeline now emits it: the same images with their one-hot labels
(``refined_labels.with_treatment(..., "hard")``; the objective, and so the images, did not change), its
accuracy from results/refined_labels.json (``refined_labels.py --treatments hard --models 3``).
"""

from __future__ import annotations

import argparse
import shutil

from common import CHECKPOINTS_DIR, RESULTS_DIR, SETS_DIR, command_line, load_results, save_results, today

import mgdd
from refined_labels import with_treatment
from time_to_accuracy import SHIPPED_TABLE, processor_slug

NAME = "mgdd_release"
# IPC -> (time-to-accuracy method of the default pipeline, rung in seconds): the largest rung of each run
RELEASE = {1: ("mgdd", 600), 10: ("mgdd-identity", 1200), 50: ("mgdd", 1200)}
# the rungs whose sets are released with the labels the pipeline keeps now (see the module's docstring)
KEEPS_ONE_HOT = {50}
MIN_MODELS = 3


def as_released(key: str, entry: dict, ipc: int, method: str, rung: int,
                relabelled: dict) -> tuple[mgdd.SyntheticSet, dict, str]:
    """The rung's set as the pipeline emits it now, the result that evaluated it, and the command that would."""
    syn = mgdd.SyntheticSet.load(CHECKPOINTS_DIR.parent / entry["set"])  # checked against its sha256
    if ipc in KEEPS_ONE_HOT and syn.soft_labels:
        syn = with_treatment(syn, "hard")
        syn.metadata["refined_labels"] = "one-hot (the start's)"
        return (syn, {**entry, **relabelled.get(f"{key} hard", {"accuracy": None})},
                f"refined_labels.py --sets {key} --treatments hard --models {MIN_MODELS}")
    return syn, entry, (f"time_to_accuracy.py --phase evaluate --ipc {ipc} --methods {method} --ladder {rung} "
                        f"--models {MIN_MODELS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default=SHIPPED_TABLE,
                        help="the time-to-accuracy table the sets come from (default: the shipped one)")
    args = parser.parse_args()
    tta = load_results(RESULTS_DIR / "time_to_accuracy.json")
    relabelled = load_results(RESULTS_DIR / "refined_labels.json")
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for ipc, (method, rung) in RELEASE.items():
        key = f"{processor_slug(args.table)}/ipc{ipc}/{method}/{rung}"
        entry = tta.get(key)
        if entry is None:
            print(f"IPC {ipc}: {key} is not distilled; skipped")
            continue
        syn, evaluated, how = as_released(key, entry, ipc, method, rung, relabelled)
        if evaluated.get("accuracy") is None or evaluated.get("models", 0) < MIN_MODELS:
            print(f"IPC {ipc}: {key} is not evaluated with {MIN_MODELS} models yet ({how}); skipped")
            continue
        # snapshots from before 2026-12-07 name the refinement's loop as their method; the set is MGDD's pipeline
        refined_by = syn.metadata.get("refined_by", syn.metadata.get("method"))
        syn.metadata.update(method="mgdd", refined_by=refined_by, pipeline_options=entry.get("options"))
        target = SETS_DIR / "mgdd" / f"ipc{ipc}"
        if target.exists():
            shutil.rmtree(target)
        syn.save(target)
        results[f"mgdd/ipc{ipc}"] = {
            "method": "mgdd", "ipc": ipc, "mean": evaluated["accuracy"], "std": evaluated["std"],
            "models": evaluated["models"], "epochs": evaluated["epochs"], "labels": syn.metadata.get("refined_labels"),
            "rung": rung, "seconds": entry["seconds"], "iterations": entry.get("iterations"),
            "stages": entry.get("stages"), "pipeline": f"time_to_accuracy {method}, options {entry.get('options')}",
            "source": key, "processor": entry["processor"], "date": evaluated["date"],
            "machine": evaluated["machine"], "command": evaluated["command"],
            "distill_command": entry["distill_command"], "release_date": today(), "release_command": command_line()}
        print(f"IPC {ipc}: {evaluated['accuracy']} ± {evaluated['std']} ({evaluated['models']} models) after "
              f"{entry['seconds']:.0f} s -> {target}")
    save_results(path, results)


if __name__ == "__main__":
    main()
