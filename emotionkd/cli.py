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
    eeg_cue: float = typer.Option(
        1.0, "--eeg-cue", help="Strength of the emotion effects on the EEG (0 removes them)."),
    gsr_cue: float = typer.Option(
        1.0, "--gsr-cue", help="Strength of the arousal effects on the GSR (0 removes them)."),
    label_noise: float = typer.Option(
        1.0, "--label-noise", help="SD of the self-reports' noise, in rating points."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing sXX files."),
) -> None:
    """Write synthetic subjects in DEAP's preprocessed layout (128 Hz, GSR in Ohm at row 36)."""
    from emotionkd.console import console, progress_task
    from emotionkd.datasets.synthetic import write_deap

    _check_out(out, True, kind="dir")
    with progress_task("synth deap", total=subjects) as cb:
        paths = write_deap(out, n_subjects=subjects, n_trials=trials, seconds=seconds, seed=seed,
                           eeg_cue=eeg_cue, gsr_cue=gsr_cue, label_noise=label_noise,
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
    if report.ignored:
        console.print(f"left out {len(report.ignored)} neutral-clip sessions (no ratings by "
                      "design)")
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)}:[/]")
        for job, reason in report.skipped:
            line = reason if reason.startswith(job) else f"{job}: {reason}"
            console.print(f"  {line}", highlight=False, soft_wrap=True)


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


@synth_app.command("hci")
def synth_hci(
    out: Path = typer.Option(..., "--out", help="Sessions/ folder to write (created)."),
    subjects: int = typer.Option(2, "--subjects", min=1, max=30, help="Number of subjects."),
    trials: int = typer.Option(20, "--trials", min=1, max=20,
                               help="Emotional clips per subject (each with a neutral clip)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same seed, same files."),
    stimulus: str = typer.Option("35-117", "--stimulus-seconds",
                                 help="Range of emotional-clip lengths in seconds, e.g. 35-117."),
    eeg_cue: float = typer.Option(
        1.0, "--eeg-cue", help="Strength of the emotion effects on the EEG (0 removes them)."),
    gsr_cue: float = typer.Option(
        1.0, "--gsr-cue", help="Strength of the arousal effects on the GSR (0 removes them)."),
    label_noise: float = typer.Option(
        1.0, "--label-noise", help="SD of the self-reports' noise, in rating points."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder."),
) -> None:
    """Write synthetic MAHNOB-HCI sessions (BioSemi BDF + session.xml) in the real layout."""
    from emotionkd.console import console, progress_task
    from emotionkd.datasets.synthetic_hci import write_hci
    from emotionkd.errors import ConfigError

    try:
        lo, hi = (float(x) for x in stimulus.split("-"))
    except ValueError:
        raise ConfigError(f"--stimulus-seconds: cannot read {stimulus!r}; use e.g. 35-117") \
            from None
    _check_out(out, True, kind="dir")
    with progress_task("synth hci", total=subjects * trials) as cb:
        folders = write_hci(out, n_subjects=subjects, n_trials=trials, seed=seed,
                            stimulus_s=(lo, hi), overwrite=overwrite, progress=cb,
                            eeg_cue=eeg_cue, gsr_cue=gsr_cue, label_noise=label_noise)
    size = sum(f.stat().st_size for d in folders for f in d.iterdir()) / 2**20
    console.print(f"wrote {len(folders)} sessions ({len(folders) // 2} emotional with ratings, "
                  f"{len(folders) // 2} neutral; {size:.1f} MiB) to {out}")


@preprocess_app.command("hci")
def preprocess_hci_cmd(
    raw: Path = typer.Option(..., "--raw", help="MAHNOB-HCI Sessions/ folder."),
    out: Path = typer.Option(..., "--out", help="Output HDF5 store, e.g. hci.h5."),
    eeg_channels: str = typer.Option(
        "all", "--eeg-channels",
        help="'all' (32), 'tsception28' or comma-separated names (picked by label)."),
    baseline: str = typer.Option(
        "subtract", "--baseline",
        help="subtract: remove each channel's mean over the 30 s before the stimulus, then "
             "drop it; none: drop it; keep: store it (stimulus start recorded)."),
    gsr_unit: str = typer.Option("auto", "--gsr-unit",
                                 help="Raw GSR1 unit: auto (by magnitude), ohm, us or ns."),
    fs: float = typer.Option(128.0, "--fs", help="Target sampling rate (Hz); 256 keeps it."),
    eeg_filter: str = typer.Option(
        "deap", "--eeg-filter",
        help="deap: band-pass 4-45 Hz and common average reference, as DEAP's preprocessed "
             "EEG; none: keep the raw, unreferenced EEG."),
    workers: int = typer.Option(1, "--workers", min=1, help="Sessions processed in parallel."),
    strict: bool = typer.Option(False, "--strict",
                                help="Stop at the first session that would be skipped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """MAHNOB-HCI Sessions/ (BDF + session.xml) → HDF5 store, same format as DEAP's."""
    from emotionkd.console import progress_task
    from emotionkd.preprocess import preprocess_hci

    with progress_task("preprocess hci") as cb:
        report = preprocess_hci(raw, out, eeg_channels=eeg_channels, baseline=baseline,
                                gsr_unit=gsr_unit, target_fs=fs, eeg_filter=eeg_filter,
                                overwrite=overwrite,
                                strict=strict, workers=workers, progress=cb)
    _print_preprocess_report(report)


# ---------------------------------------------------------------------------------------------
# info


@app.command("info")
def info_cmd(
    path: Path = typer.Argument(..., help="An HDF5 store or a checkpoint (.pt)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Summarise a store (source, rate, channels, subjects, ratings, class balance) or a
    checkpoint (role, model, parameters, data specification, training)."""
    import json

    from emotionkd.console import console

    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        from emotionkd.checkpoint import load_checkpoint, summary

        info = summary(load_checkpoint(path))
        if as_json:
            typer.echo(json.dumps(info, indent=2, default=str))
        else:
            _print_checkpoint_summary(info, console)
        return
    from emotionkd.store import open_store

    info = open_store(path).summary()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    _print_store_summary(info, console)


def _print_checkpoint_summary(s: dict, console) -> None:  # noqa: ANN001
    d = s["data"]
    console.print(f"[bold]{s['path']}[/]  ({s['format']}, {s['created_with']}, {s['created']})")
    console.print(f"{s['role']}: {s['model']}, {s['parameters']:,} parameters")
    cfg = s["model_config"]
    knobs = ("d_model", "n_heads", "head_dim", "n_blocks", "ff_dim", "classifier_dim")
    console.print("model: " + ", ".join(f"{k}={cfg[k]}" for k in knobs if k in cfg))
    console.print(f"data: target {d.get('target')} (high = rating "
                  f"{'>=' if d.get('tie') == 'high' else '>'} {d.get('threshold')}), "
                  f"{d.get('window_s')}-s windows every {d.get('step_s')} s at "
                  f"{d.get('sampling_rate')} Hz, norm {d.get('norm')}, "
                  f"{len(d.get('eeg_channels') or [])} EEG channels, source {d.get('source')}")
    console.print(f"subjects: train {d.get('train_subjects')}, validation "
                  f"{d.get('val_subjects')}, test {d.get('test_subjects')}")
    console.print(_inputs_line(s["preprocessing"], d), highlight=False)
    tr = s["training"]
    best = tr.get("best") or {}
    line = f"training: seed {tr.get('seed')}, {tr.get('epochs_run')} epochs, best epoch " \
           f"{tr.get('best_epoch')}"
    if best:
        line += (f", validation loss {best.get('loss', float('nan')):.3f}, balanced accuracy "
                 f"{best.get('balanced_accuracy', float('nan')):.3f}")
    console.print(line)
    if "distillation" in s:
        dist = s["distillation"]
        console.print(f"distillation: method {dist.get('method')}, feedback "
                      f"{'on' if dist.get('feedback') else 'off'}, teacher "
                      f"{(dist.get('teacher') or {}).get('path')}")


def _inputs_line(pre: dict, d: dict) -> str:
    """How a model's training inputs were made, and what predict needs (for info)."""
    base = pre.get("baseline")
    secs = f"{pre['baseline_s']:g}-s " if pre.get("baseline_s") else ""
    what = {"subtract": f"each trial minus its {secs}pre-stimulus mean",
            "none": "absolute, pre-stimulus period dropped",
            "keep": "absolute, pre-stimulus period kept in the store"}.get(base, str(base))
    raw_fs = pre.get("raw_sampling_rate")
    rate = (f"{raw_fs:g} → {d.get('sampling_rate'):g} Hz" if raw_fs is not None
            else f"{d.get('sampling_rate')} Hz")
    stats = d.get("norm_stats") or {}
    norm = d.get("norm")
    if norm == "train" and "gsr_mean" in stats:
        norm += f" (GSR mean {stats['gsr_mean']:.4g} µS, SD {stats['gsr_std']:.4g} µS)"
    if base == "subtract" and d.get("norm") != "subject":
        need = "predict needs --baseline-seconds S (a rest period at the recording's start)"
    else:
        need = "predict needs no reference period"
    unit = str(pre.get("gsr_unit", "uS")).replace("uS", "µS")
    line = f"inputs: GSR in {unit}, {what}; {rate}; norm {norm}; {need}"
    if not pre.get("recorded", True):
        line += " (preprocessing not recorded in this checkpoint: the defaults are assumed)"
    return line


@app.command("models")
def models_cmd(
    fs: float = typer.Option(128.0, "--fs", help="Sampling rate (Hz)."),
    window: float = typer.Option(4.0, "--window", help="Window length (s)."),
    eeg_channels: int = typer.Option(28, "--n-eeg", help="Number of EEG channels."),
    size: str = typer.Option("paper", "--size", help="paper, small or tiny."),
) -> None:
    """List the registered models with their parameter counts at a data shape."""
    from rich.table import Table

    from emotionkd.config import check_number, model_overrides
    from emotionkd.console import console
    from emotionkd.models.registry import (
        build_model,
        count_parameters,
        default_config,
        model_names,
        model_spec,
    )

    check_number(fs, "--fs", low=1, high=4096, why=" (Hz)")
    check_number(window, "--window", low=0, low_open=True, high=3600, why=" (seconds)")
    over = model_overrides({"size": size})
    table = Table(title=f"models at {window:g} s × {fs:g} Hz, {eeg_channels} EEG channels "
                        f"(size {size}; parameters include BatchNorm statistics)")
    for col in ("name", "role", "inputs", "parameters", "description"):
        table.add_column(col, justify="right" if col == "parameters" else "left",
                         no_wrap=col == "name")
    for name in model_names():
        spec = model_spec(name)
        extra = over if name != "deepconvnet" else {}
        m = build_model(name, default_config(name, fs, window, eeg_channels, extra))
        table.add_row(name, spec["role"], spec["inputs"], f"{count_parameters(m):,}",
                      spec["description"])
    console.print(table)


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
    for col in ("rating", "mean±sd", "range", "n per 1..9", ">5/=5/<5", "maj."):
        table.add_column(col, no_wrap=True)
    for name, r in s["ratings"].items():
        n = r["high_gt5"] + r["equal5"] + r["low_lt5"]
        maj = max(r["high_gt5"], n - r["high_gt5"]) / n
        table.add_row(name, f"{r['mean']:.1f}±{r['sd']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}",
                      " ".join(map(str, r["histogram_1_to_9"])),
                      f"{r['high_gt5']}/{r['equal5']}/{r['low_lt5']}", f"{100 * maj:.1f}%")
    console.print(table)


# ---------------------------------------------------------------------------------------------
# shared options of the training commands (None = not given: the config file or default rules)

DATA_DEFAULTS: dict = {"window": 4.0, "step": 4.0, "target": "arousal", "threshold": 5.0,
                       "tie": "low", "eeg_channels": None, "norm": "subject"}
TRAIN_DEFAULTS: dict = {"epochs": 20, "lr": 1e-4, "batch_size": 64, "weight_decay": 0.0,
                        "patience": 0, "seed": 0, "device": "auto", "monitor": "loss",
                        "class_weight": "balanced", "grad_clip": 1.0}
SPLIT_DEFAULTS: dict = {"train_subjects": None, "val_subjects": None, "test_subjects": None,
                        "val_fraction": 0.2}

O_CONFIG = typer.Option(None, "--config", help="TOML file of options (flags override it).")
O_WINDOW = typer.Option(None, "--window", help="Window length in seconds [default: 4].")
O_STEP = typer.Option(None, "--step", help="Window step in seconds [default: 4, no overlap].")
O_TARGET = typer.Option(None, "--target",
                        help="Rating to predict: arousal, valence, dominance, liking "
                             "[default: arousal].")
O_THRESHOLD = typer.Option(None, "--threshold", help="High = rating > threshold [default: 5].")
O_TIE = typer.Option(None, "--tie", help="Rating equal to the threshold is 'low' (> rule) or "
                                         "'high' (>= rule) [default: low].")
O_CHANNELS = typer.Option(None, "--eeg-channels",
                          help="EEG channels: all, tsception28 or names [default: all in the "
                               "store].")
O_NORM = typer.Option(None, "--norm",
                      help="subject (z-score per subject, unsupervised), train (statistics of "
                           "the training subjects), none [default: subject].")
O_TRAIN_SUBJ = typer.Option(None, "--train-subjects",
                            help="Training subjects, e.g. 1-20 [default: all others].")
O_VAL_SUBJ = typer.Option(None, "--val-subjects",
                          help="Early-stopping validation subjects [default: --val-fraction of "
                               "the training subjects].")
O_TEST_SUBJ = typer.Option(None, "--test-subjects",
                           help="Held-out test subjects, reported at the end [default: none].")
O_VAL_FRAC = typer.Option(None, "--val-fraction",
                          help="Fraction of training subjects held out for validation "
                               "[default: 0.2].")
O_EPOCHS = typer.Option(None, "--epochs", help="Maximum epochs [default: 20].")
O_LR = typer.Option(None, "--lr", help="Adam learning rate [default: 1e-4].")
O_BATCH = typer.Option(None, "--batch-size", help="Batch size [default: 64].")
O_WD = typer.Option(None, "--weight-decay", help="Adam weight decay [default: 0].")
O_PATIENCE = typer.Option(None, "--patience",
                          help="Early stopping: epochs without improvement (0: train every "
                               "epoch; the best validation epoch is restored either way) "
                               "[default: 0].")
O_SEED = typer.Option(None, "--seed", help="Random seed [default: 0].")
O_DEVICE = typer.Option(None, "--device", help="auto (CUDA when present), cpu, cuda, cuda:1 "
                                               "[default: auto].")
O_MONITOR = typer.Option(None, "--monitor", help="Validation quantity for early stopping: loss, "
                                                 "balanced_accuracy, accuracy, macro_f1 "
                                                 "[default: loss].")
O_SIZE = typer.Option(None, "--size", help="Model size: paper, small, tiny [default: paper].")
O_OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output.")


#: every key a config file may hold (one file can serve train-teacher, distill and evaluate;
#: each command uses the keys it knows, a key no command knows is an error)
#: the baselines evaluate runs unless told otherwise (emotionkd.evaluation.DEFAULT_BASELINES;
#: repeated here so that the CLI imports no library module at start-up)
DEFAULT_BASELINES = ("eeg-features", "gsr-features", "shallowconvnet")
CONFIG_KEYS = ("model", "size", "methods", "baselines", "protocol", "k", "subjects", "seeds",
               "quiz_fraction")


def _resolve(given: dict, config: Optional[Path], defaults: dict,  # noqa: UP045
             command: str) -> dict:
    from emotionkd.config import MODEL_KEYS, resolve

    known = (*MODEL_KEYS, *CONFIG_KEYS, *DATA_DEFAULTS, *TRAIN_DEFAULTS, *SPLIT_DEFAULTS,
             *DISTILL_DEFAULTS)
    return resolve(given, defaults, config, extra_keys=known, command=command)


def _data_spec(opts: dict, store):  # noqa: ANN001, ANN202
    from emotionkd.datasets.records import resolve_eeg_channels
    from emotionkd.runs import DataSpec

    chans = opts["eeg_channels"]
    names = None if chans in (None, "", "store") else resolve_eeg_channels(chans)
    if names is not None:
        store.channel_indices(names)  # clear error if the store lacks one
    return DataSpec(window_s=float(opts["window"]), step_s=float(opts["step"]),
                    target=str(opts["target"]), threshold=float(opts["threshold"]),
                    tie=str(opts["tie"]), eeg_channels=names, norm=str(opts["norm"]))


def _train_config(opts: dict):  # noqa: ANN202
    from emotionkd.training import TrainConfig

    return TrainConfig(epochs=int(opts["epochs"]), batch_size=int(opts["batch_size"]),
                       lr=float(opts["lr"]), weight_decay=float(opts["weight_decay"]),
                       patience=int(opts["patience"]), seed=int(opts["seed"]),
                       device=str(opts["device"]), monitor=str(opts["monitor"]),
                       class_weight=str(opts["class_weight"]), grad_clip=float(opts["grad_clip"]))


def _init_distributed() -> None:
    """Join the process group when launched by torchrun (a no-op otherwise)."""
    from emotionkd.distributed import init_from_env

    init_from_env()


def _is_main() -> bool:
    from emotionkd.distributed import is_main

    return is_main()


#: free space a checkpoint command needs before it trains (a paper-size teacher is ~8 MiB)
CHECKPOINT_BYTES = 64 * 2**20


def _check_out(out: Path, overwrite: bool, inputs: tuple = (), need_bytes: float = 0,
               kind: str = "file", option: str = "--out") -> None:
    """Check an output before the long work (not an input, --overwrite, folder writable, free
    space) and lock it until the command ends, so a concurrent run into it is refused. Under
    torchrun only rank 0 writes, so only it takes the lock."""
    from emotionkd.outputs import hold_output

    hold_output(out, overwrite=overwrite, inputs=inputs, need_bytes=need_bytes, kind=kind,
                option=option, lock=os.environ.get("RANK", "0") == "0")


#: numeric options of train-teacher, distill and evaluate (flags and config files alike)
NUMBERS: dict[str, dict] = {
    "window": dict(low=0, low_open=True, high=3600, why=" (seconds)"),
    "step": dict(low=0, low_open=True, high=3600, why=" (seconds)"),
    "threshold": {},
    "val_fraction": dict(low=0, high=1, high_open=True, why=" (a share of the subjects)"),
    "quiz_fraction": dict(low=0, high=1, high_open=True, why=" (a share of the trials)"),
    "epochs": dict(low=1, high=100_000, integer=True),
    "lr": dict(low=0, low_open=True, high=1, why=" (larger Adam steps diverge)"),
    "batch_size": dict(low=1, high=2**20, integer=True),
    "weight_decay": dict(low=0),
    "patience": dict(low=0, integer=True, why=" (0: never stop early)"),
    "seed": dict(low=0, integer=True),
    "grad_clip": dict(low=0, why=" (0: off)"),
    "ce_weight": dict(low=0), "alpha": dict(low=0), "beta": dict(low=0),
    "temperature": dict(low=0, low_open=True, high=100),
    "pilot_lr": dict(low=0, low_open=True, high=10),
    "teacher_lr": dict(low=0, high=1),
    "warmup": dict(low=0, integer=True),
    "feedback_every": dict(low=1, integer=True),
    "feedback_teacher_ce": dict(low=0), "feedback_student_ce": dict(low=0),
    "k": dict(low=0, high=10_000, integer=True),
}


def _check_numbers(opts: dict) -> None:
    """Validate and convert the numeric options present in ``opts`` (None = not set)."""
    from emotionkd.config import check_number

    for key, rule in NUMBERS.items():
        if opts.get(key) is not None:
            opts[key] = check_number(opts[key], "--" + key.replace("_", "-"), **rule)


def _print_metrics_table(title: str, rows: dict) -> None:
    from rich.table import Table

    from emotionkd.console import console

    table = Table(title=title)
    for col in ("split", "windows", "accuracy", "balanced acc.", "macro-F1", "majority"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for name, m in rows.items():
        if not m:
            continue
        table.add_row(name, str(int(m.get("n", 0))), f"{m['accuracy']:.3f}",
                      f"{m['balanced_accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                      f"{m['majority_baseline']:.3f}" if "majority_baseline" in m else "")
    console.print(table)


@app.command("train-teacher")
def train_teacher_cmd(
    data: Path = typer.Option(..., "--data", help="HDF5 store from 'emotionkd preprocess'."),
    out: Path = typer.Option(..., "--out", help="Teacher checkpoint to write, e.g. t.pt."),
    model: Optional[str] = typer.Option(None, "--model",  # noqa: UP045
                                        help="emotionnet-teacher or concat "
                                             "[default: emotionnet-teacher]."),
    size: Optional[str] = O_SIZE,  # noqa: UP045
    target: Optional[str] = O_TARGET,  # noqa: UP045
    window: Optional[float] = O_WINDOW,  # noqa: UP045
    step: Optional[float] = O_STEP,  # noqa: UP045
    threshold: Optional[float] = O_THRESHOLD,  # noqa: UP045
    tie: Optional[str] = O_TIE,  # noqa: UP045
    eeg_channels: Optional[str] = O_CHANNELS,  # noqa: UP045
    norm: Optional[str] = O_NORM,  # noqa: UP045
    train_subjects: Optional[str] = O_TRAIN_SUBJ,  # noqa: UP045
    val_subjects: Optional[str] = O_VAL_SUBJ,  # noqa: UP045
    test_subjects: Optional[str] = O_TEST_SUBJ,  # noqa: UP045
    val_fraction: Optional[float] = O_VAL_FRAC,  # noqa: UP045
    epochs: Optional[int] = O_EPOCHS,  # noqa: UP045
    lr: Optional[float] = O_LR,  # noqa: UP045
    batch_size: Optional[int] = O_BATCH,  # noqa: UP045
    weight_decay: Optional[float] = O_WD,  # noqa: UP045
    patience: Optional[int] = O_PATIENCE,  # noqa: UP045
    seed: Optional[int] = O_SEED,  # noqa: UP045
    device: Optional[str] = O_DEVICE,  # noqa: UP045
    monitor: Optional[str] = O_MONITOR,  # noqa: UP045
    config: Optional[Path] = O_CONFIG,  # noqa: UP045
    overwrite: bool = O_OVERWRITE,
) -> None:
    """Train the EEG+GSR teacher; early stopping on validation subjects; write a checkpoint."""
    from emotionkd.config import model_overrides, parse_subjects
    from emotionkd.console import console, progress_task
    from emotionkd.runs import open_data, train_teacher

    given = dict(model=model, size=size, target=target, window=window, step=step,
                 threshold=threshold, tie=tie, eeg_channels=eeg_channels, norm=norm,
                 train_subjects=train_subjects, val_subjects=val_subjects,
                 test_subjects=test_subjects, val_fraction=val_fraction, epochs=epochs, lr=lr,
                 batch_size=batch_size, weight_decay=weight_decay, patience=patience, seed=seed,
                 device=device, monitor=monitor)
    defaults = {**DATA_DEFAULTS, **TRAIN_DEFAULTS, **SPLIT_DEFAULTS,
                "model": "emotionnet-teacher", "size": "paper"}
    opts = _resolve(given, config, defaults, "train-teacher")
    _check_numbers(opts)
    _check_out(out, overwrite, (data, config), CHECKPOINT_BYTES)
    _init_distributed()
    store = open_data(data)
    spec = _data_spec(opts, store)
    cfg = _train_config(opts)
    with progress_task(f"train-teacher {opts['model']}", total=cfg.epochs) as cb:
        run = train_teacher(
            store, spec, cfg, model_name=opts["model"], model_overrides=model_overrides(opts),
            train_subjects=parse_subjects(opts["train_subjects"], "--train-subjects"),
            val_subjects=parse_subjects(opts["val_subjects"], "--val-subjects"),
            test_subjects=parse_subjects(opts["test_subjects"], "--test-subjects"),
            val_fraction=float(opts["val_fraction"]), resolved=opts, progress=cb)
    if not _is_main():
        return
    run.save(out)
    d = run.data
    console.print(f"wrote [bold]{out}[/]: {run.model_name} ({_n_params(run.model):,} parameters)"
                  f", target {d['target']}, {d['window_s']:g}-s windows at "
                  f"{d['sampling_rate']:g} Hz, {len(d['eeg_channels'])} EEG channels; "
                  f"train subjects {d['train_subjects']}, validation {d['val_subjects']}")
    fr = run.fit
    console.print(f"{fr.epochs_run} epochs in {fr.seconds:.1f} s on {fr.device}; best epoch "
                  f"{fr.best_epoch}" + (" (early stop)" if fr.stopped_early else ""))
    _print_metrics_table("teacher", {"validation": _val_row(fr.best, run),
                                     "test": run.test_metrics or {}})
    _save_curves(out, fr, f"train-teacher {run.model_name}: {out.name}", overwrite)


def _val_row(best: dict, run) -> dict:  # noqa: ANN001
    bal = run.data.get("val_balance")
    if not best or not bal:
        return {}
    return {**best, "n": bal["n"], "majority_baseline": bal["majority"]}


def _n_params(model) -> int:  # noqa: ANN001
    from emotionkd.models.registry import count_parameters

    return count_parameters(model)


DISTILL_DEFAULTS: dict = {"method": "emotionkd", "feedback": None, "ce_weight": None,
                          "alpha": None, "beta": None, "temperature": None, "hint_map": None,
                          "student_init": "scratch", "pilot_lr": 0.01, "teacher_lr": 1e-5,
                          "warmup": 1, "feedback_every": 1, "feedback_teacher_ce": 1.0,
                          "feedback_student_ce": 1.0, "quiz_fraction": 0.2}


def _loss_weights(opts: dict):  # noqa: ANN202
    from emotionkd.distill.losses import method_weights

    return method_weights(opts["method"], ce=opts["ce_weight"], kl=opts["alpha"],
                          hint=opts["beta"], temperature=opts["temperature"],
                          hint_map=opts["hint_map"])


def _feedback_config(opts: dict):  # noqa: ANN202
    from emotionkd.distill.feedback import FeedbackConfig

    enabled = opts["feedback"] if opts["feedback"] is not None else opts["method"] == "emotionkd"
    return FeedbackConfig(enabled=bool(enabled), pilot_lr=float(opts["pilot_lr"]),
                          teacher_lr=float(opts["teacher_lr"]),
                          warmup_epochs=int(opts["warmup"]), every=int(opts["feedback_every"]),
                          teacher_ce=float(opts["feedback_teacher_ce"]),
                          student_ce=float(opts["feedback_student_ce"]))


@app.command("distill")
def distill_cmd(
    teacher: Path = typer.Option(..., "--teacher", help="Teacher checkpoint (train-teacher)."),
    data: Path = typer.Option(..., "--data", help="HDF5 store the teacher was trained on."),
    out: Path = typer.Option(..., "--out", help="Student checkpoint to write, e.g. s.pt."),
    method: Optional[str] = typer.Option(  # noqa: UP045
        None, "--method", help="emotionkd (CE + 0.1·KL + 1·hint), kd (Hinton, T=4), fitnets "
                               "(CE + hint), none (student alone) [default: emotionkd]."),
    feedback: Optional[bool] = typer.Option(  # noqa: UP045
        None, "--feedback/--no-feedback",
        help="Adaptive feedback: the teacher learns from a pilot student's quiz loss "
             "[default: on for emotionkd, off otherwise]."),
    ce_weight: Optional[float] = typer.Option(None, "--ce-weight",  # noqa: UP045
                                              help="Weight of the student's CE."),
    alpha: Optional[float] = typer.Option(None, "--alpha",  # noqa: UP045
                                          help="Weight of the soft-label KL term."),
    beta: Optional[float] = typer.Option(None, "--beta",  # noqa: UP045
                                         help="Weight of the hint (feature MSE) term."),
    temperature: Optional[float] = typer.Option(None, "--temperature",  # noqa: UP045
                                                help="KD temperature T (KL scaled by T²)."),
    hint_map: Optional[str] = typer.Option(  # noqa: UP045
        None, "--hint-map", help="Teacher tokens for the hint: fold (EEG half + GSR half), gsr, "
                                 "eeg [default: fold]."),
    student_init: Optional[str] = typer.Option(  # noqa: UP045
        None, "--student-init", help="scratch, or teacher-gsr (warm start from the teacher's "
                                     "GSR stream) [default: scratch]."),
    pilot_lr: Optional[float] = typer.Option(  # noqa: UP045
        None, "--pilot-lr", help="Step size of the pilot student's SGD step [default: 0.01]."),
    teacher_lr: Optional[float] = typer.Option(  # noqa: UP045
        None, "--teacher-lr", help="Teacher learning rate during feedback [default: 1e-5]."),
    warmup: Optional[int] = typer.Option(  # noqa: UP045
        None, "--warmup", help="Epochs of plain distillation before feedback [default: 1]."),
    feedback_every: Optional[int] = typer.Option(  # noqa: UP045
        None, "--feedback-every", help="A feedback step every k student steps [default: 1]."),
    quiz_fraction: Optional[float] = typer.Option(  # noqa: UP045
        None, "--quiz-fraction",
        help="Share of training trials held out as the feedback quiz set [default: 0.2]."),
    teacher_out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--teacher-out",
        help="Where to save the teacher adapted by feedback [default: OUT with .teacher.pt]."),
    epochs: Optional[int] = O_EPOCHS,  # noqa: UP045
    lr: Optional[float] = O_LR,  # noqa: UP045
    batch_size: Optional[int] = O_BATCH,  # noqa: UP045
    weight_decay: Optional[float] = O_WD,  # noqa: UP045
    patience: Optional[int] = O_PATIENCE,  # noqa: UP045
    seed: Optional[int] = O_SEED,  # noqa: UP045
    device: Optional[str] = O_DEVICE,  # noqa: UP045
    monitor: Optional[str] = O_MONITOR,  # noqa: UP045
    config: Optional[Path] = O_CONFIG,  # noqa: UP045
    overwrite: bool = O_OVERWRITE,
) -> None:
    """Distil a GSR-only student from a teacher (data spec and subjects come from the teacher)."""
    from emotionkd.console import console, progress_task
    from emotionkd.distill.trainer import run_distillation

    given = dict(method=method, feedback=feedback, ce_weight=ce_weight, alpha=alpha, beta=beta,
                 temperature=temperature, hint_map=hint_map, student_init=student_init,
                 pilot_lr=pilot_lr, teacher_lr=teacher_lr, warmup=warmup,
                 feedback_every=feedback_every, quiz_fraction=quiz_fraction, epochs=epochs,
                 lr=lr, batch_size=batch_size, weight_decay=weight_decay, patience=patience,
                 seed=seed, device=device, monitor=monitor)
    opts = _resolve(given, config, {**TRAIN_DEFAULTS, **DISTILL_DEFAULTS}, "distill")
    _check_numbers(opts)
    _check_out(out, overwrite, (teacher, data, config), CHECKPOINT_BYTES)
    _init_distributed()
    t_out = teacher_out or out.with_name(out.stem + ".teacher.pt")
    weights = _loss_weights(opts)
    fb = _feedback_config(opts)
    if fb.enabled:
        from emotionkd.errors import ConfigError
        from emotionkd.outputs import same_file

        if same_file(t_out, out):
            raise ConfigError(f"{t_out}: --teacher-out is the same file as --out; give it "
                              "another name")
        _check_out(t_out, overwrite, (teacher, data, config), CHECKPOINT_BYTES,
                   option="--teacher-out")
    cfg = _train_config(opts)
    label = f"distill {opts['method']}" + (" + feedback" if fb.enabled else "")
    with progress_task(label, total=cfg.epochs) as cb:
        run, adapted = run_distillation(str(teacher), data, opts["method"], cfg, weights, fb,
                                        student_init=str(opts["student_init"]),
                                        quiz_fraction=float(opts["quiz_fraction"]),
                                        resolved=opts, progress=cb)
    if not _is_main():
        return
    run.save(out)
    dist = run.distillation
    console.print(f"wrote [bold]{out}[/]: emotionnet-student ({_n_params(run.model):,} "
                  f"parameters), method {dist['method']} (CE {weights.ce:g}, KL {weights.kl:g} "
                  f"at T={weights.temperature:g}, hint {weights.hint:g} [{weights.hint_map}]), "
                  f"feedback {'on' if dist['feedback'] else 'off'}")
    fr = run.fit
    console.print(f"{fr.epochs_run} epochs in {fr.seconds:.1f} s on {fr.device}; best epoch "
                  f"{fr.best_epoch}" + (f"; {dist['feedback_steps']} feedback steps on "
                                        f"{dist['quiz_windows']} quiz windows"
                                        if dist["feedback_steps"] else ""))
    if adapted is not None:
        adapted.save(t_out)
        console.print(f"wrote the teacher adapted by feedback to [bold]{t_out}[/]")
    _print_metrics_table("student", {"validation": _val_row(fr.best, run),
                                     "test": run.test_metrics or {}})
    _save_curves(out, fr, f"{label}: {out.name}", overwrite)


def _csv_list(value: Optional[str]) -> Optional[list[str]]:  # noqa: UP045
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _print_results_table(results: dict) -> None:
    from rich.table import Table

    from emotionkd.console import console
    from emotionkd.evaluation import comparison_line

    for target, t in results["targets"].items():
        seeds = results.get("seeds") or [0]
        console.print(f"[bold]{target}[/]: {t['folds_done']} of "
                      f"{results.get('jobs_total', results['folds_total'])} fold runs "
                      f"({results['folds_total']} folds × {len(seeds)} seed"
                      f"{'s' if len(seeds) > 1 else ''}); majority baseline "
                      f"{100 * t['majority_baseline']['mean']:.1f} %")
        for st in t.get("comparisons", {}).values():
            console.print("  " + comparison_line(st), highlight=False)
        if t.get("single_class_folds"):
            console.print(f"  {len(t['single_class_folds'])} single-class test fold(s) left "
                          "out of fold means and tests (see the report)")
        table = Table(title=f"{target}: mean ± SD over test sets, and pooled over all test "
                            "windows")
        table.add_column("model", no_wrap=True)
        for col in ("bal. acc.", "pooled", "macro-F1", "pooled", "AUC"):
            table.add_column(col, justify="right", no_wrap=True)
        for label, m in t["models"].items():
            cells = []
            for key in ("balanced_accuracy", "macro_f1", "roc_auc"):
                v = m["mean_std"].get(key, {})
                cells.append("–" if not v.get("n") else
                             f"{100 * v['mean']:.1f}±{100 * v['std']:.1f}")
                if key != "roc_auc":
                    p = m["pooled"].get(key)
                    cells.append("–" if p is None or p != p else f"{100 * p:.1f}")
            table.add_row(label + (f" ({len(m['errors'])} failed)" if m["errors"] else ""),
                          *cells)
        console.print(table)


def _int_list(value, option: str) -> list[int] | None:  # noqa: ANN001
    """'0,1,2' (or a list from a config file) → [0, 1, 2]; None stays None."""
    from emotionkd.errors import ConfigError

    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else _csv_list(str(value))
    try:
        return [int(v) for v in items]
    except (TypeError, ValueError):
        raise ConfigError(f"{option}: cannot read {value!r}; give integers, e.g. 0,1,2") \
            from None


@app.command("evaluate")
def evaluate_cmd(
    data: Path = typer.Option(..., "--data", help="HDF5 store."),
    loso: bool = typer.Option(False, "--loso", help="Leave-one-subject-out protocol."),
    kfold: Optional[int] = typer.Option(None, "--kfold",  # noqa: UP045
                                        help="K folds over groups of subjects."),
    subject_dependent: Optional[int] = typer.Option(  # noqa: UP045
        None, "--subject-dependent", help="Per subject, K folds over its trials."),
    target: Optional[str] = typer.Option(  # noqa: UP045
        None, "--target", help="Comma-separated ratings, e.g. arousal,valence "
                               "[default: arousal]."),
    methods: Optional[str] = typer.Option(  # noqa: UP045
        None, "--methods", help="Student methods: emotionkd, kd, fitnets, none "
                                "[default: emotionkd,none]."),
    baselines: Optional[str] = typer.Option(  # noqa: UP045
        None, "--baselines", help="Baselines: eeg-features, gsr-features, shallowconvnet, "
                                  "deepconvnet, concat, or none [default: eeg-features,"
                                  "gsr-features,shallowconvnet]."),
    feedback: Optional[bool] = typer.Option(  # noqa: UP045
        None, "--feedback/--no-feedback",
        help="Also train the emotionkd student with adaptive feedback [default: on]."),
    feedback_ablation: bool = typer.Option(
        False, "--feedback-ablation",
        help="Also train the feedback's two halves: meta-gradient only and teacher CE only."),
    seeds: Optional[str] = typer.Option(  # noqa: UP045
        None, "--seeds", help="Repeat the whole protocol per seed, e.g. 0,1,2 "
                              "[default: --seed]."),
    only_seed: Optional[int] = typer.Option(  # noqa: UP045
        None, "--only-seed", help="Run only this seed of --seeds (with --fold: one job of a "
                                  "cluster array)."),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", help="Run folder [default: runs/<store>-<protocol>-<time>]."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run; skip finished folds."),
    fold: Optional[int] = typer.Option(  # noqa: UP045
        None, "--fold", help="Run only fold I (0-based), e.g. one job of a cluster array."),
    save_models: bool = typer.Option(False, "--save-models", help="Keep every fold's models."),
    subjects: Optional[str] = typer.Option(  # noqa: UP045
        None, "--subjects", help="Restrict the run to these subjects, e.g. 1-10."),
    model: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--model", help="Instead of a protocol: evaluate this checkpoint on --subjects."),
    allow_train_subjects: bool = typer.Option(
        False, "--allow-train-subjects",
        help="With --model: allow subjects the model was trained on (leaks)."),
    size: Optional[str] = O_SIZE,  # noqa: UP045
    window: Optional[float] = O_WINDOW,  # noqa: UP045
    step: Optional[float] = O_STEP,  # noqa: UP045
    threshold: Optional[float] = O_THRESHOLD,  # noqa: UP045
    tie: Optional[str] = O_TIE,  # noqa: UP045
    eeg_channels: Optional[str] = O_CHANNELS,  # noqa: UP045
    norm: Optional[str] = O_NORM,  # noqa: UP045
    val_fraction: Optional[float] = O_VAL_FRAC,  # noqa: UP045
    quiz_fraction: Optional[float] = typer.Option(  # noqa: UP045
        None, "--quiz-fraction", help="Share of training trials used as the feedback quiz "
                                      "set [default: 0.2]."),
    epochs: Optional[int] = O_EPOCHS,  # noqa: UP045
    lr: Optional[float] = O_LR,  # noqa: UP045
    batch_size: Optional[int] = O_BATCH,  # noqa: UP045
    weight_decay: Optional[float] = O_WD,  # noqa: UP045
    patience: Optional[int] = O_PATIENCE,  # noqa: UP045
    seed: Optional[int] = O_SEED,  # noqa: UP045
    device: Optional[str] = O_DEVICE,  # noqa: UP045
    monitor: Optional[str] = O_MONITOR,  # noqa: UP045
    config: Optional[Path] = O_CONFIG,  # noqa: UP045
    as_json: bool = typer.Option(False, "--json", help="With --model: print JSON."),
) -> None:
    """Leakage-free evaluation (LOSO, k-fold, subject-dependent) of the teacher, students and
    baselines, with per-fold results, resumable runs and reports; or one checkpoint."""
    import json

    from emotionkd.config import model_overrides, parse_subjects
    from emotionkd.console import console, progress_task
    from emotionkd.errors import ConfigError

    if model is not None:
        from emotionkd.evaluation import evaluate_checkpoint

        res = evaluate_checkpoint(str(model), data, parse_subjects(subjects, "--subjects"),
                                  allow_train_subjects)
        if as_json:
            typer.echo(json.dumps(res, indent=2))
            return
        console.print(f"{model} on subjects {res['subjects']} of {data} (target "
                      f"{res['target']})")
        rows = {"all": res["overall"], **{f"subject {s}": m
                                          for s, m in res["per_subject"].items()}}
        _print_metrics_table("checkpoint", rows)
        return
    chosen = [name for name, on in (("loso", loso), ("kfold", kfold is not None),
                                    ("subject-dependent", subject_dependent is not None)) if on]
    given = dict(target=target, methods=methods, baselines=baselines, feedback=feedback,
                 seeds=seeds, size=size, window=window, step=step, threshold=threshold, tie=tie,
                 eeg_channels=eeg_channels, norm=norm, val_fraction=val_fraction,
                 quiz_fraction=quiz_fraction, epochs=epochs, lr=lr, batch_size=batch_size,
                 weight_decay=weight_decay, patience=patience, seed=seed, device=device,
                 monitor=monitor, protocol=chosen[0] if len(chosen) == 1 else None,
                 k=kfold or subject_dependent, subjects=subjects)
    defaults = {**{k: None for k in DISTILL_DEFAULTS if k not in ("method", "feedback")},
                **DATA_DEFAULTS, **TRAIN_DEFAULTS, "val_fraction": 0.2, "quiz_fraction": 0.2,
                "methods": "emotionkd,none", "baselines": ",".join(DEFAULT_BASELINES),
                "feedback": True, "seeds": None, "size": "paper", "protocol": None, "k": 0,
                "subjects": None}
    opts = _resolve(given, config, defaults, "evaluate")
    _check_numbers(opts)
    _init_distributed()
    if len(chosen) > 1:
        raise ConfigError("choose one protocol: --loso, --kfold K or --subject-dependent K")
    if opts["protocol"] is None:
        raise ConfigError("choose a protocol: --loso, --kfold K or --subject-dependent K "
                          "(or --model to evaluate one checkpoint)")
    from emotionkd.evaluation import EvalConfig, evaluate_protocol
    from emotionkd.runs import open_data

    store = open_data(data)
    spec = _data_spec({**opts, "target": "arousal"}, store)
    tr = _train_config(opts)
    fb_opts = {k: opts[k] for k in ("pilot_lr", "teacher_lr", "warmup", "feedback_every",
                                    "feedback_teacher_ce", "feedback_student_ce")
               if opts.get(k) is not None}
    fb_cfg = {{"pilot_lr": "pilot_lr", "teacher_lr": "teacher_lr", "warmup": "warmup_epochs",
               "feedback_every": "every", "feedback_teacher_ce": "teacher_ce",
               "feedback_student_ce": "student_ce"}[k]: v for k, v in fb_opts.items()}
    targets = _csv_list(opts["target"]) or ["arousal"]
    for t in targets:
        store.rating_index(t)
    spec_d = spec.as_dict()
    spec_d.pop("target")
    run_seeds = _int_list(opts["seeds"], "--seeds") or [tr.seed]
    base_list = [b for b in (_csv_list(opts["baselines"]) or []) if b != "none"]
    cfg = EvalConfig(protocol=opts["protocol"], k=int(opts["k"] or 0), targets=targets,
                     methods=_csv_list(opts["methods"]) or [], baselines=base_list,
                     feedback=bool(opts["feedback"]), feedback_ablation=feedback_ablation,
                     data=spec_d, train=tr.as_dict(),
                     model=model_overrides(opts), feedback_cfg=fb_cfg,
                     val_fraction=float(opts["val_fraction"]),
                     quiz_fraction=float(opts["quiz_fraction"]), seeds=run_seeds,
                     save_models=save_models,
                     subjects=parse_subjects(opts["subjects"], "--subjects"))
    if out is None:
        import time as _time

        out = Path("runs") / f"{data.stem}-{cfg.protocol}-{_time.strftime('%Y%m%d-%H%M%S')}"
        from emotionkd.distributed import broadcast_object

        out = broadcast_object(out)  # under torchrun every rank uses rank 0's timestamp
    # fold jobs (a cluster array) write one run folder together: checked, never locked
    from emotionkd.outputs import hold_output

    hold_output(out, overwrite=True, inputs=(data, config), kind="dir", need_bytes=16 * 2**20,
                lock=False)
    if _is_main():
        console.print(f"evaluation run: [bold]{out}[/] ({cfg.protocol}, targets "
                      f"{', '.join(targets)}; models {', '.join(cfg.model_labels())})")
    with progress_task(f"evaluate {cfg.protocol}") as cb:
        results = evaluate_protocol(store.path, cfg, out, resume=resume, fold=fold,
                                    progress=cb, only_seed=only_seed)
    if not _is_main():
        return
    _print_results_table(results)
    console.print(f"report: {out / 'report.md'}  results: {out / 'results.json'}, "
                  f"{out / 'results.csv'}" + (f"  models: {out / 'models'}" if save_models
                                              else ""))
    _print_figures(results, out)


@app.command("report")
def report_cmd(
    run: Path = typer.Argument(..., help="Run folder written by 'emotionkd evaluate --out'."),
) -> None:
    """Merge whatever folds of a run exist into results.json, results.csv, report.md and its
    figures (RUN/figures/*.png; needs the plots extra)."""
    from emotionkd.console import console
    from emotionkd.evaluation import build_report

    results = build_report(run)
    _print_results_table(results)
    console.print(f"report: {run / 'report.md'}")
    _print_figures(results, run)


@app.command("export")
def export_cmd(
    model: Path = typer.Option(..., "--model", help="Checkpoint to export (student or teacher)."),
    fmt: str = typer.Option("onnx", "--format", help="onnx or torchscript."),
    out: Path = typer.Option(..., "--out", help="Output file, e.g. s.onnx or s.ts."),
    tolerance: float = typer.Option(1e-4, "--tolerance",
                                    help="Maximum allowed |exported − PyTorch| output."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    evaluation: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--evaluation",
        help="Run folder of 'emotionkd evaluate' whose per-fold results go into the model card."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing output and model card."),
) -> None:
    """Export to ONNX or TorchScript with embedded metadata and a parity check, and write a
    model card (OUT.md) next to it."""
    from emotionkd.console import console

    _check_out(out, overwrite, (model,))  # checked and locked for the whole export
    from emotionkd.export import export_model

    rep = export_model(model, fmt, out, tolerance=tolerance, opset=opset, overwrite=overwrite,
                       evaluation=evaluation)
    meta = rep.metadata
    shapes = ", ".join(f"{k} {tuple(v)}" for k, v in meta["input_shapes"].items())
    console.print(f"wrote [bold]{rep.path}[/] ({rep.fmt}, {rep.size_bytes / 1024:.0f} KiB): "
                  f"{meta['model']} {meta['role']}, inputs {shapes} → logits; parity max "
                  f"|diff| {rep.max_abs_diff:.2g} ≤ {rep.tolerance:g}; model card {rep.card}")


@app.command("predict")
def predict_cmd(
    model: Path = typer.Option(..., "--model", help="Student checkpoint (.pt), .onnx or .ts."),
    input: Path = typer.Option(
        ..., "--input", help="GSR recording: E4 EDA.csv, session .zip or folder; OpenSignals "
                             ".txt (PLUX/BITalino); CSV/TSV; EDF; BDF."),
    out: Optional[Path] = typer.Option(None, "--out",  # noqa: UP045
                                       help="Write per-window rows to this .csv or .json."),
    fmt: str = typer.Option("auto", "--format",
                            help="auto, e4, opensignals, csv, edf or bdf."),
    column: Optional[str] = typer.Option(None, "--column",  # noqa: UP045
                                         help="CSV column of the GSR signal (name or index)."),
    fs: Optional[float] = typer.Option(None, "--fs", help="CSV sampling rate (Hz)."),  # noqa: UP045
    time_column: Optional[str] = typer.Option(  # noqa: UP045
        None, "--time-column", help="CSV column of sample times in seconds (gives the rate)."),
    decimal: str = typer.Option(
        "auto", "--decimal", help="CSV decimal mark: auto ('.'; files that look like decimal "
                                  "commas are refused), '.' or ','."),
    channel: Optional[str] = typer.Option(  # noqa: UP045
        None, "--channel", help="EDF/BDF or OpenSignals channel of the GSR signal (label)."),
    unit: str = typer.Option("auto", "--unit", help="Unit of the values: auto (from the file, "
                                                    "else inferred from the range), us, ohm, "
                                                    "kohm, ns."),
    baseline_seconds: Optional[float] = typer.Option(  # noqa: UP045
        None, "--baseline-seconds",
        help="Reference period at the start of the recording (s): its mean is subtracted and "
             "it is dropped, as preprocess --baseline subtract does with each trial's "
             "pre-stimulus baseline. Needed by --norm train/none models trained that way."),
    step: Optional[float] = typer.Option(None, "--step",  # noqa: UP045
                                         help="Window step in seconds [default: the window]."),
    out_format: Optional[str] = typer.Option(None, "--out-format",  # noqa: UP045
                                             help="csv or json [default: from --out]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out."),
) -> None:
    """Predict arousal/valence per window of a GSR recording with a GSR-only model, after the
    transformation its training inputs went through (units, rate, baseline, normalisation)."""
    from emotionkd.console import console, print_warning
    from emotionkd.predict import load_predictor, predict_recording, write_predictions
    from emotionkd.recordings import read_recording

    if out is not None:
        _check_out(out, overwrite, (model, input))
    predictor = load_predictor(model)
    rec = read_recording(input, fmt=fmt, column=column, fs=fs, time_column=time_column,
                         channel=channel, unit=unit, decimal=decimal)
    res = predict_recording(predictor, rec, step_s=step, baseline_seconds=baseline_seconds)
    for w in res.warnings:
        print_warning(w)
    if out is not None:
        write_predictions(res, out, out_format, overwrite=overwrite, inputs=(model, input))
    else:
        from rich.table import Table

        table = Table(title=f"{input.name}: per-window predictions")
        for col in ("window", "start s", "p(high)", "label", "quality"):
            table.add_column(col, justify="right" if col in ("window", "start s", "p(high)")
                             else "left")
        rows = res.rows if len(res.rows) <= 40 else res.rows[:20] + res.rows[-20:]
        for r in rows:
            table.add_row(str(r["window"]), f"{r['start_s']:.1f}", f"{r['p_high']:.3f}",
                          r["label"], r["quality"])
        console.print(table)
        if len(res.rows) > 40:
            console.print(f"({len(res.rows) - 40} windows not shown; use --out to save all)")
    sm = res.summary
    if sm["reference_s"]:
        ref = (f"; reference: first {sm['reference_s']:g} s (mean "
               f"{sm['reference_mean_us']:.3g} µS) subtracted")
    else:
        ref = ""
    if sm["usable_windows"]:
        verdict = (f"high {sm['target']} in {100 * sm['fraction_high']:.0f} % of "
                   f"{sm['usable_windows']} usable windows (mean p {sm['mean_p_high']:.2f})")
    else:
        verdict = "no usable windows: every window is flagged, nothing to summarise"
    console.print(
        f"{sm['windows']} windows of {predictor.meta.window_s:g} s from {sm['duration_s']:.0f} s "
        f"of {sm['format']} '{sm['channel']}' ({sm['file_unit']} → µS, {sm['recording_fs']:g} → "
        f"{sm['model_fs']:g} Hz{ref}); {verdict}; {sm['flagged']} flagged"
        + (f"; wrote {out}" if out is not None else ""))


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("emotionkd-demo"), "--out", help="Folder for everything the "
                                                                  "demo writes."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Reuse a non-empty --out."),
    quick: bool = typer.Option(False, "--quick", help="An even smaller setting (seconds)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """The main job on an embedded default: synthetic data → store → small LOSO evaluation of
    the teacher, the EmotionKD student (with feedback) and the student alone."""
    from emotionkd.console import console, progress_task
    from emotionkd.demo import DEMO, QUICK, REDUCTIONS, run_demo

    setting = QUICK if quick else DEMO
    _check_out(out, True, kind="dir")
    console.print("[bold]emotionkd demo[/] — reduced so it runs in minutes on a CPU:")
    for key, full in REDUCTIONS:
        console.print(f"  {key}: {setting[key]} (full size: {full})")
    with progress_task("demo LOSO") as cb:
        res = run_demo(out, quick=quick, overwrite=overwrite, seed=seed, progress=cb,
                       stage=lambda m: console.print(f"• {m}"))
    _print_results_table(res.results)
    console.print(f"done in {res.seconds / 60:.1f} min. Report: {res.run / 'report.md'}; "
                  f"results: {res.run / 'results.csv'}; models per fold: {res.run / 'models'}; "
                  f"store: {res.store}")
    _print_figures(res.results, res.run)
    console.print("Next: the same on real DEAP — emotionkd preprocess deap --raw "
                  "data_preprocessed_python --out deap.h5, then emotionkd evaluate --data "
                  "deap.h5 --loso")


# ---------------------------------------------------------------------------------------------
# figures (matplotlib is optional: without it one line says what to install)


def _print_figures(results: dict, run: Path) -> None:
    """One line: where a report's figures are, or why they were skipped."""
    from rich.markup import escape

    from emotionkd.console import console, print_warning

    fig = results.get("figures") or {}
    if fig.get("skipped"):
        print_warning(escape(fig["skipped"]))
    elif fig.get("files"):
        console.print(f"figures: {run / 'figures'} ({len(fig['files'])} PNGs, shown in "
                      "report.md)")


def _save_curves(checkpoint: Path, fit, title: str, overwrite: bool) -> None:  # noqa: ANN001
    """Write the learning curves of a training run beside its checkpoint (CKPT.curves.png)."""
    from emotionkd.console import console, print_warning
    from emotionkd.figures import PLOTS_HINT, curves_path, learning_curve_figure, plots_available

    png = curves_path(checkpoint)
    if not plots_available():
        from rich.markup import escape

        print_warning(escape(PLOTS_HINT))
    elif png.exists() and not overwrite:
        print_warning(f"{png}: exists, so the learning curves were not written; pass "
                      "--overwrite to replace it")
    elif learning_curve_figure(fit.history, png, title, best_epoch=fit.best_epoch) is not None:
        console.print(f"learning curves: {png}")


# ---------------------------------------------------------------------------------------------
# entry point


def main(argv: Optional[list[str]] = None) -> None:  # noqa: UP045
    """Console-script entry point: one-line errors, non-zero exit, tracebacks with --debug.

    SIGTERM and SIGHUP end a command like Ctrl-C (its temporary files are removed) with exit
    status 128 + the signal's number; output locks are released when the command ends."""
    from emotionkd.errors import EmotionKDError
    from emotionkd.outputs import Terminated, release_outputs, terminate_on_signals

    try:
        with terminate_on_signals():
            app(args=argv, prog_name="emotionkd")  # click/typer handle usage errors and exit
    except EmotionKDError as exc:
        from emotionkd.console import is_debug, print_error

        if is_debug():
            raise
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except Terminated as exc:
        from emotionkd.console import print_error

        print_error(f"{exc}; unfinished outputs were removed")
        sys.exit(128 + exc.signum)
    except KeyboardInterrupt:
        from emotionkd.console import print_error

        print_error("interrupted")
        sys.exit(130)
    except OSError as exc:  # a file-system error no library code translated: still one line
        from emotionkd.console import is_debug, print_error
        from emotionkd.outputs import os_error_message

        if is_debug() or exc.errno is None:
            raise
        print_error(os_error_message(exc))
        sys.exit(1)
    finally:
        release_outputs()


if __name__ == "__main__":  # pragma: no cover
    main()
