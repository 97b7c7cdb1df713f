"""The multi-index distillation study (issue 5) as recorded in docs/theory.md.

    python benchmarks/theory_multi_index.py                  # docs/theory: the default study, 3 teachers per size
    python benchmarks/theory_multi_index.py --variant fresh  # docs/theory-fresh: stage B over fresh initialisations

Each variant is one call of ``python -m mgdd.theory`` (printed and recorded in the results with the
date and the machine); the scaling search resumes from ``<out>/partial.json`` if interrupted.
Extra arguments are passed on (e.g. ``--seed 1``).
"""

from __future__ import annotations

import argparse
import sys

from mgdd.theory.__main__ import main as theory_main

VARIANTS = {
    "default": ["--teachers", "3", "--out", "docs/theory"],
    "fresh": ["--stage2-init", "fresh", "--out", "docs/theory-fresh"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="default")
    args, extra = parser.parse_known_args(argv)
    theory_args = VARIANTS[args.variant] + extra
    print("python -m mgdd.theory " + " ".join(theory_args), flush=True)
    return theory_main(theory_args)


if __name__ == "__main__":
    sys.exit(main())
