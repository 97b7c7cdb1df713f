#!/bin/bash
# Wall time of the README's first commands on this machine: the install into a fresh virtual environment, and the
# test suite. Run from the repository root on an idle machine (the main job: benchmarks/main_job_speed.py):
#     bash benchmarks/readme_commands.sh
# Writes nothing; benchmarks/results/readme_commands.md records what it printed.
set -euo pipefail
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
start=$(date +%s.%N); "$venv/bin/pip" install -q -e ".[dev]"; end=$(date +%s.%N)
echo "install: $(echo "$end - $start" | bc) s, venv $(du -sh "$venv" | cut -f1)"
start=$(date +%s.%N); "$venv/bin/python" -m pytest -q -p no:cacheprovider | tail -1; end=$(date +%s.%N)
echo "tests: $(echo "$end - $start" | bc) s"
rm -rf "$(dirname "$venv")"
