"""Where a result came from: the date, the machine and the command, recorded next to every figure."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import sys
from pathlib import Path

import torch


def machine_description(device: torch.device | str = "cpu") -> str:
    """One line: the CPU model (or GPU name), cores, torch version and threads in use."""
    device = torch.device(device)
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


def command_line(program: str | None = None, args: list[str] | None = None) -> str:
    """The command that is running, as a user would type it: ``program`` (e.g. ``-m mgdd.theory``) replaces
    the script path and ``args`` the arguments, for entry points called with their own argument list."""
    words = [shlex.quote(a) for a in (sys.argv[1:] if args is None else args)]
    return " ".join(["python", program or shlex.quote(sys.argv[0]), *words])


def today() -> str:
    return dt.date.today().isoformat()


def provenance(device: torch.device | str = "cpu", program: str | None = None,
               args: list[str] | None = None) -> dict[str, str]:
    """``{"date", "machine", "command"}`` of the current run (see :func:`command_line`)."""
    return {"date": today(), "machine": machine_description(device), "command": command_line(program, args)}
