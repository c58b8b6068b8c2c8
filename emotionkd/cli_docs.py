"""The generated parts of the docs: option tables from the commands, and command output.

docs/cli.md holds prose written by hand and, between marker comments, blocks made from the
commands themselves, so that options, defaults, choices and help in the docs are the ones
``--help`` shows (the defaults of the training commands come from :mod:`emotionkd.config`)::

    <!-- generated: options of train-teacher -->
    … the option tables …
    <!-- end generated -->

    <!-- generated: emotionkd evaluate --config examples/deap_paper.toml --print-config -->
    … that command's output, in a code block …
    <!-- end generated -->

Rewrite the blocks with ``python -m emotionkd.cli_docs docs/cli.md docs/reproducing.md``;
``--check`` only reports stale files (the test suite runs it).
"""

from __future__ import annotations

import enum
import inspect
import re
import shlex
import sys
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import typer

from emotionkd.cli import PANELS, build_app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("docs/cli.md", "docs/reproducing.md")
BLOCK = re.compile(r"(<!-- generated: (?P<what>.+?) -->\n)(?P<body>.*?)(<!-- end generated -->)",
                   re.S)


def commands() -> Iterator[tuple[str, Callable[..., Any]]]:
    """``("synth deap", callback)`` … for every command, in the order of ``emotionkd --help``."""
    app = build_app()
    for info in app.registered_commands:
        yield info.name, info.callback
    for group in app.registered_groups:
        for info in group.typer_instance.registered_commands:
            yield f"{group.name} {info.name}", info.callback


def _callback(name: str) -> Callable[..., Any]:
    found = dict(commands())
    if name not in found:
        raise SystemExit(f"cli_docs: no command {name!r}; commands: {', '.join(found)}")
    return found[name]


def _choices(annotation: Any) -> list[str]:
    args = typing.get_args(annotation) or (annotation,)
    for a in args:
        if inspect.isclass(a) and issubclass(a, enum.Enum):
            return [m.value for m in a]
    return []


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(info: Any, is_bool: bool) -> str:
    value = info.default
    if isinstance(info.show_default, str):
        return info.show_default
    if value is ... or (info.help or "").endswith("(required)."):
        return "required"
    if value is None or info.show_default is False:
        return ""
    if is_bool:
        return "on" if value else "off"
    return str(value.value if isinstance(value, enum.Enum) else value)


def option_rows(name: str) -> dict[str, list[tuple[str, str, str]]]:
    """The rows (option, default, meaning) of a command's visible parameters, by help panel
    ("" for the command's own options)."""
    fn = _callback(name)
    hints = typing.get_type_hints(fn)
    panels: dict[str, list[tuple[str, str, str]]] = {}
    for p in inspect.signature(fn).parameters.values():
        info = p.default
        if not isinstance(info, typer.models.ParameterInfo) or getattr(info, "hidden", False):
            continue
        annotation = hints.get(p.name, p.annotation)
        is_bool = bool in (typing.get_args(annotation) or (annotation,))
        choices = _choices(annotation)
        if isinstance(info, typer.models.ArgumentInfo):
            option = f"`{p.name.upper()}`"
        else:
            decls = [d for d in (info.param_decls or ()) if d.startswith("--")]
            option = "`" + "`, `".join(decls) + "`"
        if choices:
            option += " " + "\\|".join(choices)
        shown = (info.help or "").replace(" (required).", ".")  # the default column says it
        row = (option, _cell(_default(info, is_bool)), _cell(shown))
        panels.setdefault(getattr(info, "rich_help_panel", None) or "", []).append(row)
    return panels


def options_block(name: str) -> str:
    """The option tables of a command, the configuration's tables under their own headings."""
    table_of = {title: key for key, title in PANELS.items()}
    out: list[str] = []
    for panel, rows in option_rows(name).items():
        if panel in table_of:
            out += [f"*{panel}* — the `[{table_of[panel]}]` table of a `--config` file:", ""]
        elif panel:  # a command's own group of options
            out += [f"*{panel}*:", ""]
        out += ["| option | default | meaning |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        out.append("")
    return "\n".join(out)


def command_output(args: Sequence[str]) -> str:
    """What ``emotionkd ARGS`` prints on stdout, as a code block (run from the repository)."""
    import contextlib
    import io
    import os

    from emotionkd.cli import main

    buf = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(buf):
            try:
                main(list(args))
            except SystemExit as exc:
                if exc.code:
                    raise RuntimeError(f"emotionkd {' '.join(args)} failed") from None
    finally:
        os.chdir(cwd)
    lang = "toml" if "--print-config" in args else ""
    return f"```{lang}\n{buf.getvalue().rstrip()}\n```\n"


def render(what: str) -> str:
    """The body of a generated block."""
    if what.startswith("options of "):
        return options_block(what[len("options of "):])
    words = shlex.split(what)
    if words[:1] == ["emotionkd"]:
        return command_output(words[1:])
    raise SystemExit(f"cli_docs: cannot generate {what!r}")


def update(text: str) -> str:
    """``text`` with every generated block rewritten."""
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("what")) + m.group(4), text)


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite (or with ``--check``, only compare) the generated blocks of the given files."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    files = [Path(a) for a in args if a != "--check"] or [ROOT / d for d in DOCS]
    stale = []
    for path in files:
        text = path.read_text()
        new = update(text)
        if new != text:
            stale.append(str(path))
            if not check:
                path.write_text(new)
    if check and stale:
        print(f"stale: {', '.join(stale)}; run python -m emotionkd.cli_docs", file=sys.stderr)
        return 1
    for s in stale:
        print(f"rewrote {s}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
