"""How far each bound-checking test stays from its bound, over seeds and thread counts.

    python benchmarks/test_margins.py --seeds 0 1 2 3 4 --threads 1 2

Tests that compare a trained or optimised result with a fixed bound call the ``check_bound`` fixture
(``tests/conftest.py``). This script runs those tests with ``MGDD_MARGIN_SEED=k`` (their seeds shifted
by k) and ``MGDD_TEST_THREADS=t`` for every k and t, collects every comparison they log, and writes, per
comparison, the range of values seen and the worst value's distance from its bound. While logging,
``check_bound`` records instead of asserting, so a comparison that fails for some seed shows as a
negative margin, and the comparisons after it in the same test are still recorded.
Output: results/test_margins.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from common import RESULTS_DIR, command_line, machine_description, today, write_markdown
from mgdd.io import write_json_atomic

NAME = "test_margins"
REPO = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("-k", dest="select", default="", help="pytest -k expression within the bound tests")
    parser.add_argument("--name", default=NAME, help="results/NAME.{json,md} (another name keeps the full study's "
                        "table when only some tests are measured)")
    return parser.parse_args()


def run_tests(seed: int, threads: int, select: str, log: Path) -> int:
    env = {**os.environ, "MGDD_MARGIN_SEED": str(seed), "MGDD_TEST_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads), "MGDD_MARGIN_LOG": str(log)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "bound", "tests"]
    if select:
        command += ["-k", select]
    return subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL).returncode


def distance(entry: dict) -> float:
    """Relative distance of a value from its bound on the passing side (negative: the check failed)."""
    value, bound = entry["value"], entry["bound"]
    gap = bound - value if entry["relation"] == "<" else value - bound
    return gap / abs(bound) if bound else gap


def summarise(entries: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for entry in entries:
        groups[(entry["test"], entry["name"], entry["relation"], entry["bound"])].append(entry)
    rows = []
    for (test, name, relation, bound), group in sorted(groups.items()):
        worst = min(group, key=distance)
        values = [e["value"] for e in group]
        rows.append({"test": test, "name": name, "relation": relation, "bound": bound, "min": min(values),
                     "max": max(values), "runs": len(group), "worst_margin": distance(worst),
                     "worst_at": {"seed": worst["seed"], "threads": worst["threads"]}})
    return rows


def markdown(rows: list[dict], header: dict) -> str:
    lines = [
        "# Margins of the bound-checking tests", "",
        f"{header['date']}, {header['machine']}.", f"Command: `{header['command']}`", "",
        f"Seeds (MGDD_MARGIN_SEED) {header['seeds']}, threads {header['threads']}. Margin: the worst run's "
        "distance from the bound, as a fraction of the bound (negative: that run failed).", "",
        "| test | value | bound | seen (min .. max) | runs | worst margin | worst at |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        test = row["test"].split("::", 1)[1]
        at = f"seed {row['worst_at']['seed']}, {row['worst_at']['threads']} thr"
        lines.append(f"| {test} | {row['name']} | {row['relation']} {row['bound']:.4g} | {row['min']:.4g} .. "
                     f"{row['max']:.4g} | {row['runs']} | {100 * row['worst_margin']:+.0f} % | {at} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    entries, failed = [], []
    with tempfile.TemporaryDirectory() as folder:
        for threads in args.threads:
            for seed in args.seeds:
                log = Path(folder) / f"seed{seed}_threads{threads}.jsonl"
                code = run_tests(seed, threads, args.select, log)
                if code not in (0, 1):
                    raise SystemExit(f"pytest stopped with exit code {code} (seed {seed}, {threads} threads)")
                if code == 1:
                    failed.append({"seed": seed, "threads": threads})
                found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
                entries += found
                print(f"seed {seed}, {threads} threads: {len(found)} comparisons, "
                      f"{'some tests failed' if code else 'all passed'}", flush=True)
    header = {"date": today(), "machine": machine_description(), "command": command_line(),
              "seeds": args.seeds, "threads": args.threads}
    rows = summarise(entries)
    write_json_atomic(RESULTS_DIR / f"{args.name}.json", {**header, "failed_runs": failed, "rows": rows})
    write_markdown(RESULTS_DIR / f"{args.name}.md", markdown(rows, header))
    print(markdown(rows, header))


if __name__ == "__main__":
    main()
