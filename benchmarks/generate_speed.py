"""Wall time of MetaGenerator.generate(ipc) on Fashion-MNIST, with the share of each part.

    python benchmarks/generate_speed.py --ipc 1 10 50 --repeats 5

Timing does not depend on the weights, so the bundled generator is used without adaptation
(``generate(data=...)``). The first call per IPC is a warm-up (it embeds the fixed real subsets
of the guidance and label networks, a one-off per dataset, reported as ``first call s``); the
figure is the median of ``--repeats`` later calls. The parts (guidance, generator forward,
label features, label solve) are timed separately with the same inputs. A fixed reference workload,
one forward + backward of the evaluation ConvNet on 500 Fashion-MNIST-sized images, is timed in the
same run: ``generate`` seconds divided by it is a ratio that holds across machines (the MGDD issue's
2 s target on its 2-core machine is a ratio target there).
Output: results/generate_speed.{json,md}.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import mgdd
from common import RESULTS_DIR, command_line, load_results, machine_description, save_results, today, write_markdown
from mgdd.nets.features import embed
from mgdd.ridge import solve_labels
from mgdd.generator.meta import DEFAULT_MODEL, MetaGenerator, default_label_samples
from mgdd.generator.step import guidance, sample_task

NAME = "generate_speed"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="", help="a name for this configuration (e.g. before/after a change)")
    parser.add_argument("--device", default=None)
    return parser.parse_args()


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def reference_seconds(device, repeats: int) -> float:
    """Median seconds of one forward + backward of the protocol's ConvNet on 500 random 28x28 images."""
    net = mgdd.get_network("ConvNet", 1, 10, (28, 28)).to(device)
    x, y = torch.randn(500, 1, 28, 28, device=device), torch.randint(0, 10, (500,), device=device)

    def step() -> None:
        torch.nn.functional.cross_entropy(net(x), y).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()
    return median_seconds(step, repeats)


@torch.no_grad()
def part_seconds(gen: MetaGenerator, data, ipc: int, repeats: int, device) -> dict[str, float]:
    """Seconds of each part of one generate call, same inputs as generate uses."""
    target = gen._target_for(data)
    guide = gen._reference(target, 100, 2, device)
    reference = gen._reference(target, default_label_samples(ipc), 1, device)
    task = sample_task(data, ipc, torch.Generator().manual_seed(0), real_per_class=1).to(device)
    direction = guidance(task.initial, guide["net"], guide["features"], guide["targets"], gen.model.ridge, gen.model.label_ridge)
    images = gen.generator(task.initial, task.initial_labels, task.support, task.support_labels, task.num_classes,
                           direction)
    features = embed(reference["net"], images).to(device)
    return {
        "guidance": median_seconds(lambda: guidance(task.initial, guide["net"], guide["features"], guide["targets"],
                                                    gen.model.ridge, gen.model.label_ridge), repeats),
        "generator": median_seconds(lambda: gen.generator(task.initial, task.initial_labels, task.support,
                                                          task.support_labels, task.num_classes, direction), repeats),
        "label features": median_seconds(lambda: embed(reference["net"], images), repeats),
        "label solve": median_seconds(lambda: solve_labels(features, reference["features"], reference["targets"],
                                                           gen.model.ridge, gen.model.label_ridge), repeats),
    }


def render(results: dict) -> str:
    lines = ["# generate() wall time on Fashion-MNIST", "",
             "Median of repeated calls after a warm-up; parts timed separately with the same inputs. Reference: one "
             "forward + backward of the evaluation ConvNet on 500 images in the same run (— where not measured); "
             "x ref: generate seconds / reference seconds.", "",
             "| configuration | IPC | generate s | first call s | reference s | x ref | guidance s | generator s |"
             " label features s | label solve s | threads | date | machine |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in sorted(results.values(), key=lambda r: (r["label"], r["ipc"])):
        p = r["parts"]
        ref = r.get("reference_seconds")
        reference = f"{ref:.2f} | {r['seconds'] / ref:.2f}" if ref else "— | —"
        lines.append(f"| {r['label'] or '—'} | {r['ipc']} | {r['seconds']:.2f} | {r['first_call_seconds']:.2f}"
                     f" | {reference} | {p['guidance']:.2f} | {p['generator']:.2f} | {p['label features']:.2f}"
                     f" | {p['label solve']:.3f} | {r['threads']} | {r['date']} | {r['machine']} |")
    lines += ["", "Commands:", ""] + [f"    {c}" for c in sorted({r["command"] for r in results.values()})]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    device = mgdd.resolve_device(args.device)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    train = mgdd.load_dataset("fashion-mnist", "train")
    for ipc in args.ipc:
        gen = MetaGenerator.from_pretrained(DEFAULT_MODEL)
        started = time.perf_counter()
        gen.generate(ipc, data=train, device=device)
        first_call = time.perf_counter() - started
        seconds = median_seconds(lambda: gen.generate(ipc, data=train, device=device), args.repeats)
        results[f"{args.label}/ipc{ipc}"] = {
            "label": args.label, "ipc": ipc, "seconds": seconds, "first_call_seconds": first_call,
            "parts": part_seconds(gen, train, ipc, args.repeats, device), "threads": torch.get_num_threads(),
            "reference_seconds": reference_seconds(device, args.repeats),
            "repeats": args.repeats, "date": today(), "machine": machine_description(device),
            "command": command_line(),
        }
        print(ipc, round(seconds, 3), {k: round(v, 3) for k, v in results[f"{args.label}/ipc{ipc}"]["parts"].items()},
              flush=True)
        save_results(path, results)
    write_markdown(RESULTS_DIR / f"{NAME}.md", render(results))


if __name__ == "__main__":
    main()
