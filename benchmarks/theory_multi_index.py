"""The multi-index distillation study (issue 5) as recorded in docs/theory.md.

    python benchmarks/theory_multi_index.py                  # docs/theory: the default study, 3 teachers per size
    python benchmarks/theory_multi_index.py --variant fresh  # docs/theory-fresh: stage B over fresh initialisations
    python benchmarks/theory_multi_index.py --part d         # docs/theory-fair: the fair test, one sweep (d, r or L)
    python benchmarks/theory_multi_index.py --part law       # docs/theory-fair/budgets.md: the law's budget C (r^2 d + L)
    python benchmarks/theory_multi_index.py --part headroom  # docs/theory-fair/budgets.md: the law's failing cells probed
    python benchmarks/theory_multi_index.py --part n1        # docs/theory-fair/budgets.md: M1 against n1 at (64, 2, 512)

Each variant is one call of ``python -m mgdd.theory`` (printed and recorded in the results with the
date and the machine); the scaling search resumes from ``<out>/partial.json`` if interrupted.
Extra arguments are passed on (e.g. ``--seed 1``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mgdd.provenance import provenance
from mgdd.theory.__main__ import main as theory_main
from mgdd.theory.budgets import run_law_budget, run_law_headroom, run_n1_sweep
from mgdd.theory.fair import PARTS, run_part

BUDGET_PARTS = {"law": run_law_budget, "headroom": run_law_headroom, "n1": run_n1_sweep}

VARIANTS = {
    "default": ["--teachers", "3", "--out", "docs/theory"],
    "fresh": ["--stage2-init", "fresh", "--out", "docs/theory-fresh"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="default")
    parser.add_argument("--part", choices=[*sorted(PARTS), *BUDGET_PARTS], default=None,
                        help="the fair test of the memory law (mgdd.theory.fair): one sweep, into --out; or one "
                             "of its budgets (mgdd.theory.budgets): the law's (law), its failing cells probed "
                             "(headroom), the real data's (n1)")
    parser.add_argument("--out", default="docs/theory-fair", help="output folder of --part")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--cached", action="store_true",
                        help="--part headroom: compute nothing, report the probes that have run")
    args, extra = parser.parse_known_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part:
        if extra:
            parser.error(f"--part takes no study options, got {extra}")
        run = provenance(program="benchmarks/theory_multi_index.py", args=argv)
        if args.cached and args.part != "headroom":
            parser.error("--cached applies to --part headroom")
        if args.part in BUDGET_PARTS:
            BUDGET_PARTS[args.part](args.out, run=run, **({"compute": False} if args.cached else {}))
            print((Path(args.out) / "budgets.md").read_text())
        else:
            run_part(args.part, args.out, run=run)
            print((Path(args.out) / "results.md").read_text())
        return 0
    theory_args = VARIANTS[args.variant] + extra
    print("python -m mgdd.theory " + " ".join(theory_args), flush=True)
    return theory_main(theory_args)


if __name__ == "__main__":
    sys.exit(main())
