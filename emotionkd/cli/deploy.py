"""The deployment commands: ``export`` (ONNX or TorchScript with a model card), ``predict``
(per-window predictions on a GSR recording) and ``demo`` (the main job on synthetic data)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emotionkd.choices import (
    DECIMALS,
    EXPORT_FORMATS,
    EXPORT_OPSET,
    EXPORT_TOLERANCE,
    GSR_UNITS,
    PREDICTION_FORMATS,
    RECORDING_FORMATS,
)
from emotionkd.cli import render
from emotionkd.cli.options import check_out, choices, number, value
from emotionkd.validation import SEED

ExportFormat = choices("ExportFormat", EXPORT_FORMATS)
RecordingFormat = choices("RecordingFormat", RECORDING_FORMATS)
Unit = choices("Unit", GSR_UNITS)
Decimal = choices("Decimal", DECIMALS)
OutFormat = choices("OutFormat", PREDICTION_FORMATS)


def export_cmd(
    model: Path = typer.Option(..., "--model", help="Checkpoint to export (student or teacher)."),
    fmt: ExportFormat = typer.Option(ExportFormat("onnx"), "--format", help="Export format."),
    out: Path = typer.Option(..., "--out", help="Output file, e.g. s.onnx or s.ts."),
    tolerance: float = number(1e-4, "--tolerance", "Maximum allowed |exported − PyTorch| "
                              "output.", **EXPORT_TOLERANCE),
    opset: int = number(17, "--opset", "ONNX opset version.", integer=True, **EXPORT_OPSET),
    evaluation: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--evaluation",
        help="Run folder of 'emotionkd evaluate' whose per-fold results go into the model card."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing output and model card."),
) -> None:
    """Export to ONNX or TorchScript with metadata, a parity check and a model card.

    The model card (OUT.md) describes the inputs and their preprocessing, the training data
    and protocol, the recorded metrics, intended use and limits (docs/deployment.md).
    """
    from emotionkd.cli.console import console

    check_out(out, overwrite, (model,))  # checked and locked for the whole export
    from emotionkd.export import export_model

    rep = export_model(model, value(fmt), out, tolerance=tolerance, opset=opset,
                       overwrite=overwrite, evaluation=evaluation)
    meta = rep.metadata
    shapes = ", ".join(f"{k} {tuple(v)}" for k, v in meta["input_shapes"].items())
    console.print(f"wrote [bold]{rep.path}[/] ({rep.fmt}, {rep.size_bytes / 1024:.0f} KiB): "
                  f"{meta['model']} {meta['role']}, inputs {shapes} → logits; parity max "
                  f"|diff| {rep.max_abs_diff:.2g} ≤ {rep.tolerance:g}; model card {rep.card}")


#: predict's --out ("-": standard output)
O_PREDICT_OUT = typer.Option(None, "--out", help="Write per-window rows to this .csv or .json; "
                             "- writes them to standard output (CSV unless --out-format json; "
                             "the summary goes to stderr).")


def predict_cmd(
    model: Path = typer.Option(..., "--model", help="Student checkpoint (.pt), .onnx or .ts."),
    input: Path = typer.Option(
        ..., "--input", help="GSR recording: E4 EDA.csv, session .zip or folder; OpenSignals "
                             ".txt (PLUX/BITalino); CSV/TSV; EDF; BDF."),
    out: Optional[Path] = O_PREDICT_OUT,  # noqa: UP045
    fmt: RecordingFormat = typer.Option(RecordingFormat("auto"), "--format",
                                        help="Recording format; auto tells it from the file."),
    column: Optional[str] = typer.Option(None, "--column",  # noqa: UP045
                                         help="CSV column of the GSR signal (name or index)."),
    fs: Optional[float] = number(None, "--fs", "CSV sampling rate (Hz).",  # noqa: UP045
                                 low=0, low_open=True, high=100_000, why=" (Hz)"),
    time_column: Optional[str] = typer.Option(  # noqa: UP045
        None, "--time-column", help="CSV column of sample times in seconds (gives the rate)."),
    decimal: Decimal = typer.Option(
        Decimal("auto"), "--decimal", help="CSV decimal mark; auto reads '.' and refuses files "
                                           "that look like decimal commas."),
    channel: Optional[str] = typer.Option(  # noqa: UP045
        None, "--channel", help="EDF/BDF or OpenSignals channel of the GSR signal (label)."),
    unit: Unit = typer.Option(Unit("auto"), "--unit",
                              help="Unit of the values; auto takes it from the file, else "
                                   "infers it from the range."),
    baseline_seconds: Optional[float] = number(  # noqa: UP045
        None, "--baseline-seconds", low=0, high=3600, why=" (seconds)",
        help="Reference period at the start of the recording (s): its mean is subtracted and "
             "it is dropped, as preprocessing's baseline subtraction does with each "
             "trial's pre-stimulus baseline. Needed by models trained that way with norm "
             "train or none."),
    step: Optional[float] = number(None, "--step", "Window step in seconds; default: the "  # noqa: UP045
                                   "window.", low=0, low_open=True, high=3600,
                                   why=" (seconds)"),
    out_format: Optional[OutFormat] = typer.Option(  # noqa: UP045
        None, "--out-format", show_default="from --out", help="Format of --out."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Predict arousal or valence per window of a GSR recording with a GSR-only model.

    The recording goes through the transformation the model's training inputs went through:
    units, rate, baseline, normalisation (docs/deployment.md).
    """
    from emotionkd.cli.console import print_warning
    from emotionkd.predict import load_predictor, predict_recording, write_predictions
    from emotionkd.recordings import read_recording

    to_stdout = out is not None and str(out) == "-"
    if out is not None and not to_stdout:
        check_out(out, overwrite, (model, input))
    predictor = load_predictor(model)
    rec = read_recording(input, fmt=value(fmt), column=column, fs=fs, time_column=time_column,
                         channel=channel, unit=value(unit), decimal=value(decimal))
    res = predict_recording(predictor, rec, step_s=step, baseline_seconds=baseline_seconds)
    for w in res.warnings:
        print_warning(w)
    if out is not None:
        write_predictions(res, out, value(out_format), overwrite=overwrite,
                          inputs=(model, input))
    else:
        render.predictions(res, f"{input.name}: per-window predictions")
    render.prediction_summary(res, predictor, None if to_stdout else out, stderr=to_stdout)


def demo_cmd(
    out: Path = typer.Option(Path("emotionkd-demo"), "--out", help="Folder for everything the "
                                                                  "demo writes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Reuse a non-empty --out."),
    quick: bool = typer.Option(False, "--quick", help="An even smaller setting (seconds)."),
    seed: int = number(0, "--seed", "Random seed.", integer=True, **SEED),
    print_config: bool = typer.Option(
        False, "--print-config", help="Print the demo's evaluation settings as TOML (for "
                                      "evaluate --config) and exit."),
) -> None:
    """The main job on an embedded default: synthetic data, store, small evaluation.

    Writes a small synthetic DEAP-layout dataset, preprocesses it and runs a subject-wise
    4-fold evaluation of the teacher, the EmotionKD student with and without feedback, the
    student alone and the baselines, reduced so that it runs in under three minutes on a CPU.
    """
    from emotionkd.cli.console import console, progress_task
    from emotionkd.demo import DEMO, QUICK, REDUCTIONS, demo_config, run_demo

    if print_config:
        typer.echo(demo_config(quick, seed).to_toml("evaluate"), nl=False)
        return
    setting = QUICK if quick else DEMO
    demo_config(quick, seed)  # every setting checked before anything is written
    check_out(out, True, kind="dir")
    console.print("[bold]emotionkd demo[/] — reduced so it runs in minutes on a CPU:")
    for key, full in REDUCTIONS:
        console.print(f"  {key}: {setting[key]} (full size: {full})")
    with progress_task("demo", epoch_lines=False) as cb:  # the epochs: in run/epochs/
        res = run_demo(out, quick=quick, overwrite=overwrite, seed=seed, progress=cb,
                       stage=lambda m: console.print(f"• {m}"))
    render.results_table(res.results)
    render.exit_if_failed(res.results, res.run)  # not "done" when a model has no result
    console.print(f"done in {res.seconds / 60:.1f} min. Report: {res.run / 'report.md'}; "
                  f"results: {res.run / 'results.csv'}; models per fold: {res.run / 'models'}; "
                  f"store: {res.store}")
    render.figures(res.results.figures, res.run)
    console.print("Next: the same on real DEAP — emotionkd preprocess deap --raw "
                  "data_preprocessed_python --out deap.h5, then emotionkd evaluate --data "
                  "deap.h5 --loso")



def register(app: typer.Typer) -> None:
    """Add the deployment commands to the command line."""
    app.command("export")(export_cmd)
    app.command("predict")(predict_cmd)
    app.command("demo")(demo_cmd)
