"""A setting: a dataclass field that carries what the command line, the checks and the docs
need — its help, value type, allowed values, range and flag.

``help``, ``choices``, ``items`` and ``shown`` may be functions of no arguments: they are
read when needed, so a registry that grows (the distillation methods) shows up in choices,
help texts and docs without editing a table. Only the standard library is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import Field, field, fields
from typing import Any

from emotionkd.validation import (
    check_bool,
    check_choice,
    check_items,
    check_number,
    check_text,
    range_text,
)

#: metadata keys whose value may be a function that computes it
_COMPUTED = ("help", "choices", "items", "shown")


def setting(default: Any, help: str | Callable[[], str], *, kind: Any = None,
            choices: Iterable[str] | Callable[[], Iterable[str]] = (),
            items: Iterable[str] | Callable[[], Iterable[str]] = (),
            rule: dict[str, Any] | None = None, flag: bool = True,
            shown: str | Callable[[], str] | None = None) -> Any:
    """A field of a configuration table.

    ``kind`` is the value type (by default the default's; ``"csv"`` for comma-separated
    lists); ``choices`` the allowed values (``items``: allowed entries of a list); ``rule`` the
    range for :func:`~emotionkd.validation.check_number`; ``flag`` whether the commands have
    a flag for it; ``shown`` how help and docs describe a default of None.
    """
    meta = {"help": help, "kind": kind or type(default),
            "choices": choices if callable(choices) else tuple(choices),
            "items": items if callable(items) else tuple(items), "rule": rule or {},
            "flag": flag, "shown": shown}
    return field(default=default, metadata=meta)


def named(name: str, f: Field) -> Field:
    """A setting made outside a dataclass (a distillation method's own) with its name set."""
    f.name = name
    return f


def meta(f: Field, key: str) -> Any:
    """``f``'s metadata entry ``key``, computed where it is a function."""
    value = f.metadata[key]
    if key in _COMPUTED and callable(value):
        value = value()
        return tuple(value) if key in ("choices", "items") else value
    return value


def help_text(f: Field) -> str:
    """The help of a setting with its allowed range, as ``--help`` and docs/cli.md show it."""
    rng = range_text(**f.metadata["rule"]) if f.metadata["kind"] in (int, float) else ""
    return f"{meta(f, 'help')} {rng}".strip()


def is_setting(f: Field) -> bool:
    return "kind" in f.metadata


def flag_name(f: Field) -> str:
    """The flag of a setting (``--kl-weight``), or its key when it has none."""
    return "--" + f.name.replace("_", "-") if f.metadata.get("flag") else f.name


def check_setting(f: Field, value: Any, label: str | None = None) -> Any:
    """``value`` checked and converted for setting ``f``; ``label`` names it in errors (the
    flag by default, ``FILE: key`` for config files)."""
    label = label or flag_name(f)
    if value is None and f.default is None:
        return None
    kind = f.metadata["kind"]
    if kind is bool:
        return check_bool(value, label)
    if kind in (int, float):
        return check_number(value, label, integer=kind is int, **f.metadata["rule"])
    if kind == "csv" and isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    check_text(value, label)
    if meta(f, "choices"):
        check_choice(value, label, meta(f, "choices"))
    if kind == "csv" and meta(f, "items"):
        check_items(value, label, meta(f, "items"))
    return value


def check_table(obj: Any) -> None:
    """Check and convert every setting of a table in place (its ``__post_init__``)."""
    for f in fields(obj):
        if is_setting(f):
            setattr(obj, f.name, check_setting(f, getattr(obj, f.name)))
