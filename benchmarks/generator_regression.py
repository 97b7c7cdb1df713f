"""Design check: can the generator learn what pixel optimisation does to a starting image?

    python benchmarks/generator_regression.py --models 2 --threads 1

docs/mgdd.md ("What would be tried next", item 3): instead of the ridge loss of one random network per
step (a weak, noisy teacher), fit the generator to map starting images to their pixel-optimised
versions. The cheapest check, on one dataset: the pairs (random real start -> FRePo-optimised image) of
one pixel-optimisation run (``objective_ablation.py --rows random-pool``: Fashion-MNIST, IPC 10, seed 0,
300 iterations, 100 pairs) are the training data. Then

1. held-out pairs: fit on 8 pairs per class, predict the other 2; R^2 of the predicted change
   (1 - |x* - g(x0)|^2 / |x* - x0|^2). Near 0 or below: nothing that transfers was learned.
2. new starts: apply the fitted generator (all 100 pairs) to the starting images of another seed and of
   herding, label with generate()'s least-squares labels, evaluate under the protocol, against the
   unchanged start with the same labels (the untrained, identity generator) and against a trivial
   transfer: each class's mean pixel change added to the new start.

If the fitted generator does not beat its start, the design fails before any meta-training.
Output: results/generator_regression.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import mgdd
from common import (
    RESULTS_DIR, add_run_options, apply_threads, command_line, load_results,
    machine_description, save_results, today, write_markdown,
)
from mgdd.generator.meta import DEFAULT_MODEL, MetaGenerator
from mgdd.generator.step import guidance, sample_task

NAME = "generator_regression"
OPTIMISED_SET = Path("runs/objective_ablation/ipc10-it300-seed0-model_pool=random")
GUIDE_SEEDS = (2, 3, 4, 5)  # guidance networks drawn during the fit (generate(seed=s) uses seed s + 2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimised", type=Path, default=OPTIMISED_SET, help="a pixel-optimised set (random start)")
    parser.add_argument("--fit-steps", type=int, default=400)
    parser.add_argument("--fit-lr", type=float, default=1e-3)
    parser.add_argument("--start", choices=["meta", "scratch"], default="meta",
                        help="the generator the fit starts from: the bundled one or an untrained one")
    parser.add_argument("--rows", nargs="*", default=["identity-random", "fitted-random", "mean-shift-random",
                                                       "identity-herding", "fitted-herding"])
    add_run_options(parser, models=2)
    return parser.parse_args()


def pairs(train: mgdd.ImageDataset, optimised: mgdd.SyntheticSet) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the starting images and the optimised images (class-major, as the frepo method keeps them)."""
    ipc, seed = optimised.metadata["ipc"], optimised.metadata["seed"]
    start = train.balanced_indices(ipc, seed)
    if not torch.equal(train.labels[start], optimised.sample_classes):
        raise ValueError("the optimised set's classes do not match its reconstructed start")
    return start, optimised.images


def fit(gen: MetaGenerator, train, start: torch.Tensor, target: torch.Tensor, steps: int, lr: float,
        device: torch.device, seed: int) -> dict:
    """Fit the generator's change of each start image to (target - start) by MSE; returns the fit's record."""
    data_target = gen._target_for(train)
    x0 = train.images[start].to(device)
    target = target.to(device)
    guides = []
    for guide_seed in GUIDE_SEEDS:
        ref = gen._reference(data_target, 100, guide_seed, device)
        guides.append(guidance(x0, ref["net"], ref["features"], ref["targets"], gen.model.ridge, gen.model.label_ridge))
    rng = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(gen.generator.parameters(), lr=lr)
    gen.generator.train()
    baseline = F.mse_loss(x0, target).item()
    losses = []
    for step in range(steps):
        task = sample_task(train, 1, rng, initial_indices=start, real_per_class=1, support_per_class=32).to(device)
        out = gen.generator(x0, task.initial_labels, task.support, task.support_labels, task.num_classes,
                            guides[step % len(guides)])
        loss = F.mse_loss(out, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    gen.generator.eval()
    return {"start_mse": baseline, "final_mse": sum(losses[-20:]) / len(losses[-20:])}


@torch.no_grad()
def predicted_change_r2(gen: MetaGenerator, train, start: torch.Tensor, target: torch.Tensor,
                        device: torch.device, seed: int) -> float:
    """R^2 of the change the generator predicts for ``start`` images against the optimised change."""
    data_target = gen._target_for(train)
    x0, target = train.images[start].to(device), target.to(device)
    ref = gen._reference(data_target, 100, seed + 2, device)
    guide = guidance(x0, ref["net"], ref["features"], ref["targets"], gen.model.ridge, gen.model.label_ridge)
    task = sample_task(train, 1, torch.Generator().manual_seed(seed), initial_indices=start, real_per_class=1,
                       support_per_class=32).to(device)
    out = gen.generator(x0, task.initial_labels, task.support, task.support_labels, task.num_classes, guide)
    return 1 - (target - out).pow(2).sum().item() / (target - x0).pow(2).sum().item()


def held_out_check(args, train, start, target, device) -> dict:
    """Fit on 8 of each class's 10 pairs, R^2 on the other 2 (and on the fitted 8)."""
    ipc = len(start) // train.num_classes
    position = torch.arange(len(start)) % ipc
    fit_rows, held_rows = position < ipc - 2, position >= ipc - 2
    gen = starting_generator(args.start)
    record = fit(gen, train, start[fit_rows], target[fit_rows], args.fit_steps, args.fit_lr, device, args.seed)
    record["r2_fitted"] = predicted_change_r2(gen, train, start[fit_rows], target[fit_rows], device, args.seed + 1)
    record["r2_held_out"] = predicted_change_r2(gen, train, start[held_rows], target[held_rows], device, args.seed + 1)
    return record


def starting_generator(start: str) -> MetaGenerator:
    pretrained = MetaGenerator.from_pretrained(DEFAULT_MODEL)
    return pretrained if start == "meta" else MetaGenerator(**pretrained.model.config)


def mean_shift_set(identity_set: mgdd.SyntheticSet, train, start, target) -> mgdd.SyntheticSet:
    """The new start plus each class's mean pixel change of the optimised pairs (clamped to the data range)."""
    change = target - train.images[start]
    labels = train.labels[start]
    shift = torch.stack([change[labels == c].mean(0) for c in range(train.num_classes)])
    classes = torch.tensor(identity_set.metadata["classes"])
    low, high = train.images.amin(), train.images.amax()
    images = (identity_set.images + shift[classes]).clamp(low, high)
    return dataclasses.replace(identity_set, images=images,
                               metadata={**identity_set.metadata, "method": "mean-shift"})


def main() -> None:
    args = parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    train, test = mgdd.load_dataset("fashion-mnist", "train"), mgdd.load_dataset("fashion-mnist", "test")
    optimised = mgdd.load_synthetic(args.optimised)
    start, target = pairs(train, optimised)
    prefix = f"{args.start}/steps{args.fit_steps}/lr{args.fit_lr:g}"
    common = {"optimised_set": str(args.optimised), "fit_steps": args.fit_steps, "fit_lr": args.fit_lr,
              "generator_start": args.start}

    def record(key: str, entry: dict) -> None:
        entry.update(common, date=today(), machine=machine_description(device), command=command_line())
        results[key] = entry
        save_results(path, results)
        write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))
        print(key, {k: v for k, v in entry.items() if k not in ("command", "machine")}, flush=True)

    if f"{prefix}/held-out" not in results:
        started = time.perf_counter()
        entry = held_out_check(args, train, start, target, device)
        record(f"{prefix}/held-out", {**entry, "seconds": time.perf_counter() - started})
    fitted = starting_generator(args.start)
    fit(fitted, train, start, target, args.fit_steps, args.fit_lr, device, args.seed)
    identity = MetaGenerator(**fitted.model.config)  # zero-initialised change: generate() returns its start
    for row in args.rows:
        key = f"{prefix}/{row}" if row.startswith(("fitted", "mean-shift")) else f"start/{row}"
        if key in results:
            continue
        kind, init = row.rsplit("-", 1)
        seed = args.seed + 1  # a start the fit never saw (herding at this seed draws other candidates too)
        if kind == "fitted":
            syn = fitted.generate(10, data=train, init=init, seed=seed, device=device, progress=False)
        else:
            syn = identity.generate(10, data=train, init=init, seed=seed, device=device, progress=False)
            if kind == "mean-shift":
                syn = mean_shift_set(syn, train, start, target)
        result = mgdd.evaluate(syn, test, models=args.models, epochs=args.epochs, seed=args.seed, device=device)
        record(key, {"row": row, "init": init, "set_seed": seed, "mean": result.mean, "std": result.std,
                     "accuracies": result.accuracies, "models": args.models, "epochs": args.epochs,
                     "max_abs_pixel": syn.images.abs().max().item()})


def render(results: dict) -> str:
    lines = ["# Generator fitted to pixel-optimised images (design check)", "",
             "Fashion-MNIST, IPC 10. Pairs: random real start -> FRePo-optimised image (random-pool row of "
             "objective_ablation.md, seed 0, 300 iterations). R^2: of the predicted pixel change; held out: 2 pairs "
             "per class never fitted. Sets: starts of seed 1 (never fitted), least-squares labels across 8 networks "
             "(generate()'s default), ConvNet-3 protocol.", "",
             "| fit | R^2 fitted | R^2 held out | start MSE | fitted MSE | seconds | date |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, r in sorted(results.items()):
        if key.endswith("/held-out"):
            lines.append(f"| {key.rsplit('/', 1)[0]} | {r['r2_fitted']:.3f} | {r['r2_held_out']:.3f} | "
                         f"{r['start_mse']:.4f} | {r['final_mse']:.4f} | {r['seconds']:.0f} | {r['date']} |")
    lines += ["", "| set | fit | accuracy | models | epochs | max abs pixel | date |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, r in sorted(results.items()):
        if "row" in r:
            fit_name = key.rsplit("/", 1)[0] if not key.startswith("start/") else "—"
            lines.append(f"| {r['row']} | {fit_name} | {r['mean']:.2f} ± {r['std']:.2f} | {r['models']} | {r['epochs']} | "
                         f"{r['max_abs_pixel']:.2f} | {r['date']} |")
    lines += ["", "Machine: " + "; ".join(sorted({r["machine"] for r in results.values()})), "", "Commands:", ""]
    lines += [f"    {c}" for c in sorted({r["command"] for r in results.values()})]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
