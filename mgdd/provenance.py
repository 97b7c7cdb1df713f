"""Where a result came from: the date, the machine and the command, recorded next to every figure."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shlex
import sys
from pathlib import Path

import torch


# AMD's (family, model) -> generation: their model name on these machines is only "AMD EPYC"
_AMD_GENERATIONS = {(23, range(0x30, 0x40)): "Zen 2", (25, range(0x00, 0x10)): "Zen 3",
                    (25, range(0x10, 0x20)): "Zen 4", (25, range(0xA0, 0xB0)): "Zen 4c", (26, range(0, 0x80)): "Zen 5"}


def processor_model() -> str:
    """The CPU's model name, with its family/model numbers (and AMD's generation) when the name alone does not
    tell two processors apart: timings are compared only within one processor model."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
            if not line.strip():
                break
    except OSError:
        return platform.processor() or platform.machine()
    name = fields.get("model name", platform.processor() or platform.machine())
    if "cpu family" not in fields or "model" not in fields:
        return name
    family, model = int(fields["cpu family"]), int(fields["model"])
    generation = next((g for (f, models), g in _AMD_GENERATIONS.items() if f == family and model in models), None)
    details = ", ".join(x for x in (generation if "AMD" in name else None, f"family {family} model {model}") if x)
    return f"{name}, {details}"


def machine_description(device: torch.device | str = "cpu") -> str:
    """One line: the CPU model (or GPU name), cores, torch version and threads in use."""
    device = torch.device(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({processor_model()})"
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
