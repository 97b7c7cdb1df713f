"""Model and dataset cards, rendered from the markdown templates shipped beside this file."""

from __future__ import annotations

from importlib import resources
from typing import Any


def read_template(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def render_template(name: str, **fields: Any) -> str:
    return read_template(name).format(**{k: ("n/a" if v is None else v) for k, v in fields.items()})
