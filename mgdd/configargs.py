"""Command-line options built from the dataclasses and signatures they fill, so that defaults have one source."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any, Callable, Iterable


def _add(parser: argparse.ArgumentParser, name: str, default: Any, help_text: str | None) -> None:
    flag = "--" + name.replace("_", "-")
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif isinstance(default, (tuple, list)):
        kind = type(default[0]) if default else str
        parser.add_argument(flag, type=kind, nargs="+", default=list(default), help=help_text)
    elif default is None:
        parser.add_argument(flag, default=None, help=help_text)
    else:
        parser.add_argument(flag, type=type(default), default=default, help=help_text)


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = (),
                          helps: dict[str, str] | None = None) -> None:
    """One ``--field-name`` option per field of the dataclass ``cls``, its default the field's."""
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        _add(parser, field.name, default, (helps or {}).get(field.name))


def add_signature_options(parser: argparse.ArgumentParser, function: Callable, names: Iterable[str],
                          helps: dict[str, str] | None = None) -> None:
    """``--name`` options for the keyword parameters ``names`` of ``function``, with its defaults."""
    parameters = inspect.signature(function).parameters
    for name in names:
        _add(parser, name, parameters[name].default, (helps or {}).get(name))


def dataclass_from_args(cls: type, args: argparse.Namespace, **extra: Any) -> Any:
    """An instance of ``cls`` from the parsed options of :func:`add_dataclass_options` (lists become tuples
    where the field's default is a tuple)."""
    values = {}
    for field in dataclasses.fields(cls):
        if field.name in extra or not hasattr(args, field.name):
            continue
        value = getattr(args, field.name)
        default = field.default if field.default is not dataclasses.MISSING else None
        values[field.name] = tuple(value) if isinstance(default, tuple) else value
    return cls(**values, **extra)
