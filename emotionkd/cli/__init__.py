"""The ``emotionkd`` command line: one module per command group over shared options
(:mod:`.options`) and the printing of results (:mod:`.render`):

* :mod:`.data` — ``synth``, ``preprocess`` (DEAP, HCI), ``info``, ``models``;
* :mod:`.ingest` — ``synth amigos``, ``preprocess amigos|files|xdf|bids``;
* :mod:`.train` — ``train-teacher``, ``distill``;
* :mod:`.evaluate` — ``evaluate``, ``report``;
* :mod:`.deploy` — ``export``, ``predict``, ``demo``.

Every command is thin: parse → call the library → print. The app is built on first use from
the configuration's settings and the registries, and built again when a distillation method
is registered, so a new method's choice, flags and help appear everywhere. Heavy modules
(torch, h5py, scipy, the library itself) are imported inside the commands, so that
``emotionkd --help`` starts fast.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any, Optional

import typer

from emotionkd.cli.options import PANELS
from emotionkd.version import __version__

__all__ = ["PANELS", "build_app", "main"]

_BUILT: dict[tuple[str, ...], typer.Typer] = {}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emotionkd {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    if debug:
        os.environ["EMOTIONKD_DEBUG"] = "1"


def _paragraph_help(*apps: typer.Typer) -> None:
    """Give every command its docstring as help with the paragraphs' line breaks removed, so
    that help text flows whatever the typer version (the first paragraph, one line, is the
    summary in the command list)."""
    for sub in apps:
        for info in sub.registered_commands:
            if info.help is None and info.callback is not None:
                doc = inspect.cleandoc(info.callback.__doc__ or "")
                info.help = "\n\n".join(" ".join(par.split()) for par in doc.split("\n\n"))


def build_app() -> typer.Typer:
    """The Typer app with every command (built again when the method registry changed)."""
    from emotionkd.cli import data, deploy, evaluate, ingest, train
    from emotionkd.distill.methods import names, own_settings

    key = (*names(), "|", *own_settings())
    if key in _BUILT:
        return _BUILT[key]
    from emotionkd.cli.usage import PlainGroup, plain_commands

    app = typer.Typer(
        name="emotionkd", cls=PlainGroup,
        help="Emotion recognition from physiological signals by cross-modal knowledge "
        "distillation (EEG+GSR teacher → GSR-only student).",
        add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
        rich_markup_mode="rich", context_settings={"help_option_names": ["-h", "--help"]})
    synth = typer.Typer(help="Write synthetic recordings in the real raw layouts (for demos and "
                        "tests).", no_args_is_help=True, cls=PlainGroup)
    preprocess = typer.Typer(help="Turn a raw dataset folder into an HDF5 store.",
                             no_args_is_help=True, cls=PlainGroup)
    app.add_typer(synth, name="synth")
    app.add_typer(preprocess, name="preprocess")
    app.callback()(_root)
    data.register(app, synth, preprocess)
    ingest.register(synth, preprocess)
    train.register(app)
    evaluate.register(app)
    deploy.register(app)
    _paragraph_help(app, synth, preprocess)
    plain_commands(app, synth, preprocess)
    _BUILT[key] = app
    return app


def __getattr__(name: str) -> Any:
    if name == "app":  # the current app (``from emotionkd.cli import app``)
        return build_app()
    raise AttributeError(f"module 'emotionkd.cli' has no attribute {name!r}")


def _from_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` was raised while handling a KeyboardInterrupt (Ctrl-C)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _interrupted() -> None:
    from emotionkd.cli.console import print_error

    print_error("interrupted (Ctrl-C); unfinished outputs were removed")
    sys.exit(130)


def main(argv: Optional[list[str]] = None) -> None:  # noqa: UP045
    """Console-script entry point: one-line errors, non-zero exit, tracebacks with --debug.

    SIGTERM and SIGHUP end a command like Ctrl-C (its temporary files are removed) with exit
    status 128 + the signal's number; output locks are released when the command ends."""
    from emotionkd.cli import console, usage
    from emotionkd.cli.console import GuardedStdout, StdoutFailed, silence_stdout, stdout_error
    from emotionkd.errors import EmotionKDError
    from emotionkd.locks import Terminated, release_outputs, terminate_on_signals

    console.ARGV[:] = list(sys.argv[1:] if argv is None else argv)
    if sys.stdout is None:  # started with descriptor 1 closed: refused before any work
        from emotionkd.cli.console import print_error

        print_error(stdout_error(None))
        sys.exit(1)
    plain, sys.stdout = sys.stdout, GuardedStdout(sys.stdout)
    try:
        with terminate_on_signals():
            usage.run(build_app(), argv)  # usage errors: one line, exit status 2
        sys.stdout.flush()  # a full disk or a closed pipe shows here, not at exit
    except StdoutFailed as exc:
        from emotionkd.cli.console import print_error

        silence_stdout()
        if isinstance(exc.__cause__, BrokenPipeError):  # `| head`: the reader had enough
            sys.exit(128 + 13)  # as a tool ended by SIGPIPE, without a message
        print_error(str(exc))
        sys.exit(1)
    except EmotionKDError as exc:
        from emotionkd.cli.console import is_debug, print_error

        if is_debug():
            raise
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except Terminated as exc:
        from emotionkd.cli.console import print_error

        print_error(f"{exc}; unfinished outputs were removed")
        sys.exit(128 + exc.signum)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as exc:  # typer turns Ctrl-C into a silent exit 130: say so
        if _from_interrupt(exc):
            _interrupted()
        raise
    except OSError as exc:  # a file-system error no library code translated: still one line
        from emotionkd.cli.console import is_debug, print_error
        from emotionkd.outputs import os_error_message

        if is_debug() or exc.errno is None:
            raise
        print_error(os_error_message(exc))
        sys.exit(1)
    finally:
        if isinstance(sys.stdout, GuardedStdout):
            sys.stdout = plain
        release_outputs()


if __name__ == "__main__":  # pragma: no cover
    main()
