"""The ``emotionkd`` command line. Every command is a thin wrapper: parse → call library → print.

Heavy modules (torch, h5py, scipy, the library itself) are imported inside the commands so
that ``emotionkd --help`` starts fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from emotionkd import __version__

app = typer.Typer(
    name="emotionkd",
    help="Emotion recognition from physiological signals by cross-modal knowledge distillation "
    "(EEG+GSR teacher → GSR-only student).",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
synth_app = typer.Typer(
    help="Write synthetic recordings in the real raw layouts (for demos and tests).",
    no_args_is_help=True,
)
preprocess_app = typer.Typer(help="Turn a raw dataset folder into an HDF5 store.",
                             no_args_is_help=True)
app.add_typer(synth_app, name="synth")
app.add_typer(preprocess_app, name="preprocess")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emotionkd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    if debug:
        os.environ["EMOTIONKD_DEBUG"] = "1"


# ---------------------------------------------------------------------------------------------
# synth


@synth_app.command("deap")
def synth_deap(
    out: Path = typer.Option(..., "--out", help="Folder to write s01.dat … into (created)."),
    subjects: int = typer.Option(4, "--subjects", min=1, max=99, help="Number of subjects."),
    trials: int = typer.Option(40, "--trials", min=1, help="Trials per subject (DEAP: 40)."),
    seconds: float = typer.Option(
        60.0, "--seconds", min=1.0,
        help="Stimulus seconds per trial (DEAP: 60), after the 3-s baseline."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same files."),
    fmt: str = typer.Option(
        "dat", "--format",
        help="dat (data_preprocessed_python) or mat (data_preprocessed_matlab)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing sXX files."),
) -> None:
    """Write synthetic subjects in DEAP's preprocessed layout (128 Hz, GSR in Ohm at row 36)."""
    from emotionkd.console import console, progress_task
    from emotionkd.datasets.synthetic import write_deap

    with progress_task("synth deap", total=subjects) as cb:
        paths = write_deap(out, n_subjects=subjects, n_trials=trials, seconds=seconds, seed=seed,
                           fmt=fmt, overwrite=overwrite, progress=cb)
    size = sum(p.stat().st_size for p in paths) / 2**20
    console.print(f"wrote {len(paths)} subject files ({size:.1f} MiB) to {out}")


# ---------------------------------------------------------------------------------------------
# preprocess


def _print_preprocess_report(report) -> None:  # noqa: ANN001
    from emotionkd.console import console

    console.print(
        f"wrote [bold]{report.out}[/]: {report.n_subjects} subjects, {report.n_trials} trials, "
        f"{report.total_duration_s / 60:.1f} min of stimulus at {report.sampling_rate:g} Hz, "
        f"{len(report.eeg_channels)} EEG channels + GSR (µS) in {report.seconds:.1f} s"
    )
    if report.stray:
        shown = ", ".join(report.stray[:8]) + (" …" if len(report.stray) > 8 else "")
        console.print(f"ignored {len(report.stray)} other entr"
                      f"{'y' if len(report.stray) == 1 else 'ies'}: {shown}")
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)}:[/]")
        for job, reason in report.skipped:
            console.print(f"  {job}: {reason}", highlight=False, soft_wrap=True)


@preprocess_app.command("deap")
def preprocess_deap_cmd(
    raw: Path = typer.Option(..., "--raw",
                             help="DEAP data_preprocessed_python (or _matlab) folder."),
    out: Path = typer.Option(..., "--out", help="Output HDF5 store, e.g. deap.h5."),
    eeg_channels: str = typer.Option(
        "all", "--eeg-channels",
        help="'all' (32), 'tsception28' (32 minus Fz, Cz, Pz, Oz) or comma-separated names."),
    baseline: str = typer.Option(
        "subtract", "--baseline",
        help="subtract: remove each channel's 3-s pre-trial mean, then drop the baseline; "
             "none: drop it; keep: store it (stimulus start recorded)."),
    gsr_unit: str = typer.Option("auto", "--gsr-unit",
                                 help="Raw GSR unit: auto (by magnitude), ohm, us or ns."),
    fmt: str = typer.Option("auto", "--format", help="auto, dat or mat."),
    workers: int = typer.Option(1, "--workers", min=1, help="Files processed in parallel."),
    skip_bad: bool = typer.Option(False, "--skip-bad",
                                  help="Skip unreadable or invalid files (listed at the end)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """DEAP (.dat or .mat per subject) → HDF5 store: EEG channels by name, GSR in µS."""
    from emotionkd.console import progress_task
    from emotionkd.preprocess import preprocess_deap

    with progress_task("preprocess deap") as cb:
        report = preprocess_deap(raw, out, eeg_channels=eeg_channels, baseline=baseline,
                                 gsr_unit=gsr_unit, fmt=fmt, overwrite=overwrite,
                                 skip_bad=skip_bad, workers=workers, progress=cb)
    _print_preprocess_report(report)


# ---------------------------------------------------------------------------------------------
# info


@app.command("info")
def info_cmd(
    path: Path = typer.Argument(..., help="An HDF5 store or a checkpoint (.pt)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Summarise a store (source, rate, channels, subjects, ratings, class balance)."""
    import json

    from emotionkd.console import console
    from emotionkd.store import open_store

    summary = open_store(path).summary()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    _print_store_summary(summary, console)


def _print_store_summary(s: dict, console) -> None:  # noqa: ANN001
    from rich.table import Table

    hours = s["total_duration_s"] / 3600
    console.print(f"[bold]{s['path']}[/]  ({s['format']}, {s['created_with']})")
    console.print(f"source: {s['source']}   sampling rate: {s['sampling_rate']:g} Hz   "
                  f"GSR unit: {s['gsr_unit']}")
    console.print(f"EEG channels ({len(s['eeg_channels'])}): {', '.join(s['eeg_channels'])}")
    subj = s["subjects"]
    console.print(f"subjects ({len(subj)}): {', '.join(map(str, subj))}")
    console.print(f"trials: {s['n_trials']}   total duration: {hours:.2f} h")
    pre = s["preprocessing"]
    if pre:
        keys = ("reader", "baseline", "gsr_unit_option", "raw_sampling_rate")
        console.print("preprocessing: " + ", ".join(f"{k}={pre[k]}" for k in keys if k in pre))
    table = Table(title="ratings: distribution and class balance at threshold 5")
    for col in ("rating", "mean±sd", "range", "n per 1..9", ">5/=5/<5", "majority"):
        table.add_column(col, no_wrap=True)
    for name, r in s["ratings"].items():
        n = r["high_gt5"] + r["equal5"] + r["low_lt5"]
        maj = max(r["high_gt5"], n - r["high_gt5"]) / n
        table.add_row(name, f"{r['mean']:.1f}±{r['sd']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}",
                      " ".join(map(str, r["histogram_1_to_9"])),
                      f"{r['high_gt5']}/{r['equal5']}/{r['low_lt5']}", f"{100 * maj:.1f}%")
    console.print(table)


# ---------------------------------------------------------------------------------------------
# entry point


def main(argv: Optional[list[str]] = None) -> None:  # noqa: UP045
    """Console-script entry point: one-line errors, non-zero exit, tracebacks with --debug."""
    from emotionkd.errors import EmotionKDError

    try:
        app(args=argv, prog_name="emotionkd")  # click/typer handle usage errors and exit
    except EmotionKDError as exc:
        from emotionkd.console import is_debug, print_error

        if is_debug():
            raise
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        from emotionkd.console import print_error

        print_error("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
