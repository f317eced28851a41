"""Command-line options derived from config dataclasses, so a setting is written once: its field.

`add_options(parser, Config)` adds one option per field, typed, with the field's default; a field's
metadata may give "help", "flag" (the option's name, default `--field-name`), "choices", or
`cli=False` to leave it out. A bool field that defaults to True becomes `--no-<name>`.
`config_from_args(Config, args, **values)` builds the config back from the parsed arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if not meta.get("cli", True):
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None if f.default is dataclasses.MISSING else f.default
        kind = _base_type(hints[f.name])
        help_text = meta.get("help", "")
        if kind is bool:
            negated = default is True
            flag = meta.get("flag", ("--no-" if negated else "--") + f.name.replace("_", "-"))
            action = "store_false" if negated else "store_true"
            parser.add_argument(flag, dest=f.name, action=action, help=help_text)
            continue
        if default is not None and not required:
            help_text = f"{help_text} (default: %(default)s)" if help_text else "(default: %(default)s)"
        parser.add_argument(
            meta.get("flag", "--" + f.name.replace("_", "-")),
            dest=f.name,
            type=kind,
            default=default,
            required=required,
            choices=meta.get("choices"),
            help=help_text,
        )


def config_from_args(cls: type, args: argparse.Namespace, **values: Any):
    """`cls` from the parsed options `add_options` made, with `values` for the fields it left out."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}
    return cls(**given, **values)


def _base_type(hint) -> type:
    """`int`, `float`, `str`, `bool` or `Path` of a hint like `Path | None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (hint,) = [a for a in typing.get_args(hint) if a is not type(None)]
    return hint
