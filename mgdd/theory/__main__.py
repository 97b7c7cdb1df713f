"""``python -m mgdd.theory [--quick] [--out DIR] [--seed N]``: run the multi-index distillation study."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..provenance import provenance
from .study import StudyConfig, run_study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mgdd.theory", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a reduced study (under a minute)")
    parser.add_argument("--out", default=None, help="output folder (default: runs/theory or runs/theory-quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="distillation steps per set")
    parser.add_argument("--stage2-full-space", action="store_true",
                        help="store stage-B points as full inputs instead of principal coordinates")
    parser.add_argument("--stage2-init", choices=("fixed", "fresh"), default="fixed",
                        help="distil stage B for each student's own initialisation (fixed) or over fresh ones (fresh)")
    parser.add_argument("--teachers", type=int, default=None, help="teachers per size in the scaling sweeps")
    args = parser.parse_args(argv)
    config = StudyConfig.quick() if args.quick else StudyConfig()
    config.seed = args.seed
    config.stage2_full_space = args.stage2_full_space
    config.stage2_init = args.stage2_init
    if args.teachers:
        config.teachers = args.teachers
    if args.steps:
        config.steps = args.steps
    out = args.out or ("runs/theory-quick" if args.quick else "runs/theory")
    results = run_study(config, out, run=provenance(program="-m mgdd.theory", args=argv))
    print((Path(out) / "results.md").read_text())
    print(f"written to {out} in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
