"""Command-line options built from the dataclasses and signatures they fill, so that defaults have one source."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from typing import Any, Callable, Iterable


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The script's docstring as written, and every option's default in ``--help``."""


_SIMPLE_TYPES = {"int": int, "float": float, "str": str}

# evaluation presets: (models, epochs); "field" is the published protocol, "quick" a first look on a CPU
PROTOCOL_PRESETS = {"field": (5, 1000), "quick": (1, 100)}
QUICK_LOOK = "quick look, not the published protocol"


def add_protocol_options(parser: argparse.ArgumentParser, default: str = "field") -> None:
    """``--protocol`` (a preset of models x epochs) and ``--models`` / ``--epochs`` that override it."""
    parser.add_argument("--protocol", choices=sorted(PROTOCOL_PRESETS), default=default,
                        help="field: the published protocol (5 models x 1000 epochs); quick: a first look on a CPU "
                             "(1 model x 100 epochs, labelled as such in the output and the JSON)")
    parser.add_argument("--models", type=int, default=None,
                        help="networks trained from scratch on the set (default: the protocol's)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs of each (default: the protocol's; DC's protocol: 300)")


def protocol_choice(args: argparse.Namespace) -> tuple[int, int, str | None]:
    """(models, epochs, label): the preset with any override; the label names a quick look as one."""
    preset_models, preset_epochs = PROTOCOL_PRESETS[args.protocol]
    models = args.models if args.models is not None else preset_models
    epochs = args.epochs if args.epochs is not None else preset_epochs
    if models < 1 or epochs < 1:
        raise SystemExit(f"error: --models and --epochs must be >= 1, got {models} and {epochs}")
    return models, epochs, QUICK_LOOK if (models, epochs) == PROTOCOL_PRESETS["quick"] else None


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
        _add(parser, field.name, default, (helps or {}).get(field.name), field.type)


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
