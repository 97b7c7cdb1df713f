"""Shared helpers for benchmark scripts: machine description, resumable JSON results, markdown tables."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from mgdd.io import write_json_atomic, write_text_atomic

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_description(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({cpu})"
    return f"{where}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"


def command_line() -> str:
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def today() -> str:
    return dt.date.today().isoformat()


def load_results(path: Path) -> dict:
    """Results saved so far (a run resumes by skipping what is already there)."""
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(path: Path, results: dict) -> None:
    write_json_atomic(path, results)


def write_markdown(path: Path, text: str) -> None:
    write_text_atomic(path, text)
