"""Stage A of the fair theory test, probed: does distilling against the exact real gradient, or for longer,
close the gap to the full-data student at small d?

    python benchmarks/theory_stage_a_probe.py --d 32 128 --m1 16 64 256 --threads 1

For each d (r and L of the fair test's base), the first teacher and its calibrated real stage-1 size (read
from docs/theory-fair*/partial-*.json when there, else calibrated again), M1 points are distilled by
gradient matching with each variant: 300 steps on 8192-point real batches (the study's setting), 300 and
1000 steps on the exact gradient of all the real stage-1 points. Each row is the test MSE after the
distilled stage A followed by the real stage-2 data, beside the full-data student's MSE and the absolute
target (tolerance x reference MSE). Results: results/theory_stage_a_probe.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import (
    RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results, machine_description,
    save_results, today, write_markdown,
)
from mgdd.theory.distill import distill_stage1
from mgdd.theory.fair import FAIR_CONFIG
from mgdd.theory.study import Problem, calibrate_stage1_size

NAME = "theory_stage_a_probe"
DOCS = Path(__file__).resolve().parents[1] / "docs"
VARIANTS = {"batch 8192, 300 steps": (300, 8192), "exact, 300 steps": (300, None), "exact, 1000 steps": (1000, None)}


def stage1_size(cell: tuple[int, int, int]) -> int:
    """The fair test's calibrated real stage-1 size of ``cell``, from its partial files if they hold it."""
    for path in sorted(DOCS.glob("theory-fair*/partial-*.json")):
        sizes = json.loads(path.read_text()).get("stage1_sizes", {})
        if str(cell) in sizes:
            return sizes[str(cell)]
    return calibrate_stage1_size(*cell, FAIR_CONFIG)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--m1", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    add_threads_option(parser)
    args = parser.parse_args()
    apply_threads(args)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    _, r, width = FAIR_CONFIG.base
    target = FAIR_CONFIG.tolerance * FAIR_CONFIG.reference_mse
    for d in args.d:
        n1 = stage1_size((d, r, width))
        problem = Problem.create(d, r, width, FAIR_CONFIG, 0, n1)
        for m1 in args.m1:
            for variant in args.variants:
                key = f"d{d} m1 {m1} {variant}"
                if key in results:
                    continue
                steps, batch = VARIANTS[variant]
                started = time.perf_counter()
                points = distill_stage1(problem.stage1, m1, problem.student, steps=steps, real_batch=batch,
                                        seed=problem.seed)
                results[key] = {"d": d, "r": r, "width": width, "stage1_size": n1, "m1": m1, "variant": variant,
                                "full_mse": problem.full_mse, "target": target,
                                "mse_a": problem.mse(points, problem.stage2),
                                "seconds": round(time.perf_counter() - started, 1), "date": today(),
                                "machine": machine_description("cpu"), "command": command_line()}
                print(key, f"{results[key]['mse_a']:.4f}", flush=True)
                save_results(path, results)
    write_markdown(RESULTS_DIR / f"{NAME}.md", markdown(results))


def markdown(results: dict) -> str:
    rows = sorted(results.values(), key=lambda e: (e["d"], e["m1"], list(VARIANTS).index(e["variant"])))
    lines = ["# Stage A of the fair theory test: exact real gradient and longer distillation", "",
             "First teacher of each d, calibrated real stage-1 size; test MSE after the distilled stage A and the "
             "real stage-2 data (mean over the study's 3 students). `full`: the full-data student; `target`: the "
             "absolute criterion (tolerance x reference MSE).", "",
             "| d | r | L | stage-1 points | M1 | variant | stage-A MSE | full-data MSE | target | passes | s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for e in rows:
        lines.append(f"| {e['d']} | {e['r']} | {e['width']} | {e['stage1_size']} | {e['m1']} | {e['variant']} | "
                     f"{e['mse_a']:.4f} | {e['full_mse']:.4f} | {e['target']:.4f} | "
                     f"{'yes' if e['mse_a'] <= e['target'] else 'no'} | {e['seconds']:.0f} |")
    machines = sorted({f"{e['date']}, {e['machine']}" for e in rows})
    lines += ["", "Runs: " + "; ".join(machines), "", "Commands:", ""] + sorted({f"- `{e['command']}`" for e in rows})
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
