"""MGDD's released Fashion-MNIST sets: the pipeline's set at its release budget, taken from the time-to-accuracy run.

    python benchmarks/mgdd_release_sets.py            # then: bash benchmarks/release_fashion_mnist.sh

For each IPC, the set of the default pipeline (``distill("mgdd", ...)``: no generator, herding start, labels
solved across 8 networks, refinement) at its release budget (``RELEASE``: the largest rung of its run) is copied
from ``checkpoints/time_to_accuracy/<table>/`` to ``runs/sets/fashion-mnist/mgdd/ipc<k>/`` (where
``release_fashion_mnist.sh`` collects sets), and its accuracy (3 models at least, evaluated by
``time_to_accuracy.py --phase evaluate --models 3``) goes to results/mgdd_release.json with the seconds it took.
"""

from __future__ import annotations

import argparse
import shutil

from common import CHECKPOINTS_DIR, RESULTS_DIR, SETS_DIR, command_line, load_results, save_results, today

import mgdd
from time_to_accuracy import SHIPPED_TABLE, processor_slug

NAME = "mgdd_release"
# IPC -> (time-to-accuracy method of the default pipeline, rung in seconds): the largest rung of each run
RELEASE = {1: ("mgdd", 600), 10: ("mgdd-identity", 1200), 50: ("mgdd", 1200)}
MIN_MODELS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", default=SHIPPED_TABLE,
                        help="the time-to-accuracy table the sets come from (default: the shipped one)")
    args = parser.parse_args()
    tta = load_results(RESULTS_DIR / "time_to_accuracy.json")
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    for ipc, (method, rung) in RELEASE.items():
        key = f"{processor_slug(args.table)}/ipc{ipc}/{method}/{rung}"
        entry = tta.get(key)
        if entry is None or entry.get("accuracy") is None or entry.get("models", 0) < MIN_MODELS:
            print(f"IPC {ipc}: {key} is not evaluated with {MIN_MODELS} models yet (time_to_accuracy.py --phase "
                  f"evaluate --ipc {ipc} --methods {method} --ladder {rung} --models {MIN_MODELS}); skipped")
            continue
        syn = mgdd.SyntheticSet.load(CHECKPOINTS_DIR.parent / entry["set"])  # checked against its sha256
        # snapshots from before 2026-12-07 name the refinement's loop as their method; the set is MGDD's pipeline
        refined_by = syn.metadata.get("refined_by", syn.metadata.get("method"))
        syn.metadata.update(method="mgdd", refined_by=refined_by, pipeline_options=entry.get("options"))
        target = SETS_DIR / "mgdd" / f"ipc{ipc}"
        if target.exists():
            shutil.rmtree(target)
        syn.save(target)
        results[f"mgdd/ipc{ipc}"] = {
            "method": "mgdd", "ipc": ipc, "mean": entry["accuracy"], "std": entry["std"], "models": entry["models"],
            "epochs": entry["epochs"], "rung": rung, "seconds": entry["seconds"], "iterations": entry.get("iterations"),
            "stages": entry.get("stages"), "pipeline": f"time_to_accuracy {method}, options {entry.get('options')}",
            "source": key, "processor": entry["processor"], "date": entry["date"], "machine": entry["machine"],
            "command": entry["command"], "distill_command": entry["distill_command"], "release_date": today(),
            "release_command": command_line()}
        print(f"IPC {ipc}: {entry['accuracy']} ± {entry['std']} ({entry['models']} models) after "
              f"{entry['seconds']:.0f} s -> {target}")
    save_results(path, results)


if __name__ == "__main__":
    main()
