"""The shared rich console, progress bars and one-line error rendering.

Library code never prints; it accepts a ``progress`` callback. The CLI builds those callbacks
here so every long job shows the same kind of progress bar.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

#: the arguments of the running command (set by :func:`emotionkd.cli.main`), which runs record
ARGV: list[str] = []

#: progress callback signature: (completed, total, description-or-None, extra fields)
ProgressCallback = Callable[..., None]


def _quiet() -> bool:
    return os.environ.get("EMOTIONKD_NO_PROGRESS", "") not in ("", "0")


def bars_off() -> bool:
    """No live progress bar: ``EMOTIONKD_NO_PROGRESS`` set, or stderr not a terminal (a pipe,
    a log file, a cluster job). Training then prints one line per epoch instead."""
    return _quiet() or not err_console.is_terminal


def make_progress(transient: bool = False) -> Progress:
    """A rich Progress with the house columns (spinner, text, bar, n/m, elapsed, remaining)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=err_console,
        transient=transient,
        disable=_quiet() or not err_console.is_terminal and bool(os.environ.get("CI")),
    )


@contextlib.contextmanager
def progress_task(description: str, total: int | None = None, epoch_lines: bool = True
                  ) -> Iterator[ProgressCallback]:
    """Context manager yielding a callback ``cb(completed, total=None, info='')``.

    The callback is what library functions accept as ``progress``. The bar appears at the
    first call, so a command that fails during validation prints only its error line. With
    the bars off (:func:`bars_off`) and ``epoch_lines``, each call that carries an epoch's
    ``record`` prints ``DESCRIPTION: INFO`` as one line on stdout, so ``> log`` and ``tail
    -f`` show every epoch.
    """
    state: dict[str, Any] = {}
    lines = epoch_lines and bars_off()

    def callback(completed: float, total_: float | None = None, info: str = "",
                 **fields: Any) -> None:
        if lines and fields.get("record") is not None:
            console.print(f"{description}: {info}", markup=False, highlight=False)
        if "prog" not in state:
            prog = make_progress()
            prog.start()
            state["prog"] = prog
            state["task"] = prog.add_task(description, total=total, info="")
        kwargs: dict[str, Any] = {"completed": completed, "info": info}
        if total_ is not None:
            kwargs["total"] = total_
        state["prog"].update(state["task"], **kwargs)

    try:
        yield callback
    finally:
        if "prog" in state:
            state["prog"].stop()


def _line(label: str, message: str) -> None:
    """``label: message`` on one line of stderr; the message is printed as it is (its square
    brackets, e.g. a TOML table's name, are not read as markup)."""
    text = escape(" ".join(str(message).split()))
    err_console.print(f"{label} {text}", markup=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """Render an error as a single line on stderr."""
    _line("[bold red]error:[/]", message)


def print_warning(message: str) -> None:
    _line("[yellow]warning:[/]", message)


def print_note(message: str) -> None:
    """A one-line note on stderr (e.g. a deprecated option that still works)."""
    _line("[cyan]note:[/]", message)


def is_debug() -> bool:
    return os.environ.get("EMOTIONKD_DEBUG", "") not in ("", "0") or "--debug" in sys.argv


# ---------------------------------------------------------------------------------------------
# standard output that cannot be written: a closed descriptor, a full disk, a closed pipe


def stdout_error(exc: OSError | None) -> str:
    """The one line of a failed write to standard output (``exc`` None: it is closed), with
    what happened and what to do, without advice about permissions that does not apply."""
    from emotionkd.errors import OS_REASONS

    if exc is None:
        return ("standard output is closed (>&-): the results cannot be printed; redirect it "
                "to a file or to /dev/null instead")
    what, todo = OS_REASONS.get(exc.errno or 0, (exc.strerror or str(exc), "run again"))
    todo = todo.format(option="file to redirect it to")
    return f"standard output: cannot write the results: {exc.strerror or what} ({what}); {todo}"


class StdoutFailed(Exception):
    """Writing to standard output failed; ``str()`` is the one line to print."""


class GuardedStdout:
    """``sys.stdout`` whose write errors are told apart from those of the files a command
    writes: they become :class:`StdoutFailed` with their own message."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as exc:
            raise StdoutFailed(stdout_error(exc)) from exc

    def write(self, text: str) -> int:
        return self._guard(self._stream.write, text)

    def writelines(self, lines: Iterable[str]) -> None:
        self._guard(self._stream.writelines, lines)

    def flush(self) -> None:
        self._guard(self._stream.flush)


def silence_stdout() -> None:
    """Point descriptor 1 at /dev/null, so that the interpreter's last flush of what could not
    be written adds no second message."""
    with contextlib.suppress(OSError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
