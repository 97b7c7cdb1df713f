"""Wall time of MetaGenerator.generate(ipc) on Fashion-MNIST, with the share of each part.

    python benchmarks/generate_speed.py --ipc 1 10 50 --repeats 5

Timing does not depend on the weights, so the bundled generator is used without adaptation
(``generate(data=...)``). The first call per IPC is a warm-up (it embeds the fixed real subsets
of the guidance and label networks, a one-off per dataset, reported as ``first call s``); the
figure is the median of ``--repeats`` later calls. The parts (guidance, generator forward,
label features, label solve) are the seconds generate() itself records for each call (its
``metadata["part_seconds"]``), medians over the same calls. A fixed reference workload,
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
from common import RESULTS_DIR, add_threads_option, apply_threads, command_line, load_results, machine_description, save_results, today, write_markdown
from mgdd.generator.meta import DEFAULT_MODEL, MetaGenerator

NAME = "generate_speed"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ipc", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--label", default="", help="a name for this configuration (e.g. before/after a change)")
    parser.add_argument("--device", default=None)
    add_threads_option(parser)
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


def timed_calls(gen: MetaGenerator, data, ipc: int, repeats: int, device) -> tuple[float, dict[str, float]]:
    """Median seconds of ``repeats`` generate calls and the median of each part as generate() records it
    (``metadata["part_seconds"]``: guidance, generator, label features, label solve)."""
    times, parts = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        syn = gen.generate(ipc, data=data, device=device, progress=False)
        times.append(time.perf_counter() - started)
        parts.append(syn.metadata["part_seconds"])
    names = {name for p in parts for name in p}
    return statistics.median(times), {name: statistics.median(p.get(name, 0.0) for p in parts) for name in names}


def render(results: dict) -> str:
    lines = ["# generate() wall time on Fashion-MNIST", "",
             "Median of repeated calls after a warm-up; parts: medians of the seconds each call records. Reference: one "
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
                     f" | {reference} | {p['guidance']:.2f} | {p['generator']:.2f} | {p.get('label features', 0):.2f}"
                     f" | {p.get('label solve', 0):.3f} | {r['threads']} | {r['date']} | {r['machine']} |")
    lines += ["", "Commands:", ""] + [f"    {c}" for c in sorted({r["command"] for r in results.values()})]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    apply_threads(args)
    device = mgdd.resolve_device(args.device)
    path = RESULTS_DIR / f"{NAME}.json"
    results = load_results(path)
    train = mgdd.load_dataset("fashion-mnist", "train")
    for ipc in args.ipc:
        gen = MetaGenerator.from_pretrained(DEFAULT_MODEL)
        started = time.perf_counter()
        gen.generate(ipc, data=train, device=device)
        first_call = time.perf_counter() - started
        seconds, parts = timed_calls(gen, train, ipc, args.repeats, device)
        results[f"{args.label}/ipc{ipc}"] = {
            "label": args.label, "ipc": ipc, "seconds": seconds, "first_call_seconds": first_call,
            "parts": parts, "threads": torch.get_num_threads(),
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
