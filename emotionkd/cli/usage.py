"""How the command line looks and how it refuses what it cannot parse.

* Flags show no value in ``--help`` (``--overwrite``, not ``--overwrite <bool>``), and a value
  given to one (``--overwrite true``) is refused in one line that says how to write it.
* Required options are marked one way, typer's (``*`` and ``[required]``), also the ones the
  training commands need unless ``--print-config`` is given (their help ends "(required).").
* A usage error is one line on stderr naming the option: ``--size: 'huge' is not one of
  paper, small, tiny; did you mean ...?`` (no framed box, no "Value error,"), exit status 2.

Built for the typer range pinned in pyproject.toml (typer's own look of errors and help varies
between its releases).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from emotionkd.validation import closest, did_you_mean

#: what ``--flag VALUE`` users write for a flag
_FLAG_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}
#: the help text's own mark of an option needed unless --print-config is given
_REQUIRED_TEXT = " (required)."
#: exit status of a usage error (click's)
USAGE_EXIT = 2


def _plain(params: list[Any]) -> list[Any]:
    """Flags without a value column (typer shows ``<bool>``)."""
    for p in params:
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""
    return params


class _OneLook:
    """Help of a command or group: plain flags, required options marked one way."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))  # type: ignore[misc]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        marked = [p for p in self.get_params(ctx)
                  if not p.required and (p.help or "").endswith(_REQUIRED_TEXT)]
        saved = [(p, p.help) for p in marked]
        for p in marked:
            p.required, p.help = True, p.help[:-len(_REQUIRED_TEXT)] + "."
        try:
            super().format_help(ctx, formatter)  # type: ignore[misc]
        finally:
            for p, text in saved:
                p.required, p.help = False, text


class PlainCommand(_OneLook, TyperCommand):
    """A command with the house look of ``--help``."""


class PlainGroup(_OneLook, TyperGroup):
    """A group with the house look of ``--help``."""


def plain_commands(*apps: typer.Typer) -> None:
    """Give every command of ``apps`` the house look of ``--help``."""
    for sub in apps:
        for info in sub.registered_commands:
            if info.cls is None or info.cls is TyperCommand:
                info.cls = PlainCommand


# ---------------------------------------------------------------------------------------------
# usage errors in one line


def run(app: typer.Typer, argv: Sequence[str] | None) -> None:
    """Run the command line; a usage error is one line on stderr and exit status 2. Ctrl-C,
    which typer turns into exit status 130, is raised again as KeyboardInterrupt for the
    caller's handler."""
    from emotionkd.cli.console import print_error

    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="emotionkd", standalone_mode=False)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # a group without a command: its help
            typer.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(USAGE_EXIT)
        print_error(usage_message(exc, args))
        sys.exit(getattr(exc, "exit_code", USAGE_EXIT))
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    if code == 130:
        raise KeyboardInterrupt
    if isinstance(code, int) and code:
        sys.exit(code)


def _given(args: Sequence[str], opts: Sequence[str]) -> str | None:
    """The last value given to an option (``--size huge`` or ``--size=huge``)."""
    found = None
    for i, a in enumerate(args):
        name, eq, val = a.partition("=")
        if name in opts:
            found = val if eq else (args[i + 1] if i + 1 < len(args) else None)
    return found


def _choices(param: Any) -> list[str]:
    desc = getattr(param, "type_descriptor", None)
    if desc is None or not getattr(desc, "is_choice", False):
        return []
    return [str(getattr(c, "value", c)) for c in desc.choices or ()]


def _parses(value: str, kind: type) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def _bad_value(exc: Any, args: Sequence[str]) -> str:
    param = exc.param
    if getattr(param, "param_type_name", "") == "argument":
        opt, value = str(param.name).upper(), None
    else:
        opt = next((o for o in param.opts if o.startswith("--")), param.opts[0])
        value = _given(args, [*param.opts, *param.secondary_opts])
    if type(exc).__name__ == "MissingParameter":
        return f"{opt}: missing; it is required (emotionkd {_path(exc)} -h lists the options)"
    allowed = _choices(param)
    if allowed and value is not None:
        return (f"{opt}: {value!r} is not one of {', '.join(allowed)}"
                f"{did_you_mean(value, allowed)}")
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    kind = {int: "a whole number", float: "a number"}.get(annotation)
    if kind and value is not None and not _parses(value, annotation):
        return f"{opt}: {value!r} is not {kind}"
    message = re.sub(r"^Value error, ", "", str(exc.message))
    message = re.sub(r"^Input should be ", "must be ", message)
    return f"{opt} {value}: {message}" if value is not None else f"{opt}: {message}"


def _path(exc: Any) -> str:
    path = exc.ctx.command_path if getattr(exc, "ctx", None) else "emotionkd"
    return path.split(" ", 1)[1] if " " in path else ""


def _flag_with_value(exc: Any, args: Sequence[str]) -> str | None:
    """'--overwrite is a flag: …' when an extra argument is a flag's would-be value."""
    if exc.ctx is None:
        return None
    for p in exc.ctx.command.get_params(exc.ctx):
        if not getattr(p, "is_flag", False):
            continue
        for i, a in enumerate(args[:-1]):
            if a in (*p.opts, *p.secondary_opts) and args[i + 1].lower() in _FLAG_WORDS:
                off = p.secondary_opts[0] if p.secondary_opts else None
                how = f"{p.opts[0]} or {off}" if off else f"{p.opts[0]}, or leave it out"
                return f"{a} is a flag and takes no value ({a} {args[i + 1]}); write {how}"
    return None


def usage_message(exc: Any, args: Sequence[str]) -> str:
    """One line for a usage error: the option, what is wrong and, for a misspelt choice,
    option or command, the likely one."""
    if isinstance(exc, typer.BadParameter) and getattr(exc, "param", None) is not None:
        return _bad_value(exc, args)
    if isinstance(exc, typer.BadParameter) and getattr(exc, "param_hint", None):
        hint = exc.param_hint if isinstance(exc.param_hint, str) else "/".join(exc.param_hint)
        return f"{hint.strip(chr(39))}: {exc.message}"
    possibilities = getattr(exc, "possibilities", None)
    if possibilities is not None and getattr(exc, "option_name", None):
        name = exc.option_name
        where = f"emotionkd {_path(exc)}".strip()
        bare = {p.lstrip("-"): p for p in possibilities}  # the dashes alike in every name
        found = closest(name.lstrip("-"), bare)
        hint = f"; did you mean {bare[found]}?" if found else ""
        return f"{name}: no such option of '{where}'{hint}"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    if message.startswith("Got unexpected extra argument"):
        return _flag_with_value(exc, args) or message
    return message
