"""Command-line options built from the dataclasses and signatures they fill, so that defaults have one source."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any, Callable, Iterable


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The script's docstring as written, and every option's default in ``--help``."""


_SIMPLE_TYPES = {"int": int, "float": float, "str": str}


def _type_of(annotation: Any) -> type:
    """The option type of an optional parameter: ``int | None`` (or the string of it) -> int; else str."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    first = text.split("|")[0].strip()
    return _SIMPLE_TYPES.get(first, str)


def _add(parser: argparse.ArgumentParser, name: str, default: Any, help_text: str | None,
         annotation: Any = None, choices: Iterable[str] | None = None) -> None:
    flag = "--" + name.replace("_", "-")
    help_text = help_text or name.replace("_", " ")  # some help text, so that --help shows the default
    choices = list(choices) if choices is not None else None
    if isinstance(default, bool):
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif isinstance(default, (tuple, list)):
        kind = type(default[0]) if default else str
        parser.add_argument(flag, type=kind, nargs="+", default=list(default), help=help_text)
    elif default is None:
        parser.add_argument(flag, type=_type_of(annotation), default=None, choices=choices, help=help_text)
    else:
        parser.add_argument(flag, type=type(default), default=default, choices=choices, help=help_text)


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, skip: Iterable[str] = (),
                          helps: dict[str, str] | None = None) -> None:
    """One ``--field-name`` option per field of the dataclass ``cls``, its default the field's."""
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        _add(parser, field.name, default, (helps or {}).get(field.name))


def add_signature_options(parser: argparse.ArgumentParser, function: Callable, names: Iterable[str],
                          helps: dict[str, str] | None = None,
                          choices: dict[str, Iterable[str]] | None = None) -> None:
    """``--name`` options for the keyword parameters ``names`` of ``function``, with its defaults (an optional
    parameter takes the type its annotation names first); ``choices`` restricts string options."""
    parameters = inspect.signature(function).parameters
    for name in names:
        _add(parser, name, parameters[name].default, (helps or {}).get(name), parameters[name].annotation,
             (choices or {}).get(name))


def signature_values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The parsed values of the options ``names`` (as added by :func:`add_signature_options`), as keywords."""
    return {name: getattr(args, name) for name in names}


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
