"""The data commands: ``synth`` (synthetic recordings in the real raw layouts),
``preprocess`` (a raw dataset folder → HDF5 store), ``info`` (a store or a checkpoint) and
``models`` (the model registry)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from emotionkd.choices import (
    BASELINE_MODES,
    DEAP_FILTER_MIN_FS,
    DEAP_FORMATS,
    EEG_FILTERS,
    GSR_UNITS,
    SYNTH_FORMATS,
    WORLDS,
)
from emotionkd.cli import render
from emotionkd.cli.options import check_out, choices, number, value
from emotionkd.config import SIZE_PRESETS, DataConfig, ModelConfig
from emotionkd.validation import SEED

SynthFormat = choices("SynthFormat", SYNTH_FORMATS)
World = choices("World", WORLDS)
DeapFormat = choices("DeapFormat", DEAP_FORMATS)
BaselineMode = choices("BaselineMode", BASELINE_MODES)
GsrUnit = choices("GsrUnit", GSR_UNITS)
EegFilter = choices("EegFilter", EEG_FILTERS)
Size = choices("Size", SIZE_PRESETS)  # models: a concrete size, not auto


#: options both synth commands take
O_SYNTH_SEED = number(0, "--seed", "Random seed; same seed, same files.", integer=True,
                      **SEED)
_CUE = {"low": 0, "high": 100, "why": " (1: the documented effect size)"}
O_EEG_CUE = number(1.0, "--eeg-cue", "Strength of the emotion effects on the EEG (0 removes "
                   "them).", **_CUE)
O_GSR_CUE = number(1.0, "--gsr-cue", "Strength of the arousal effects on the GSR (0 removes "
                   "them).", **_CUE)
O_LABEL_NOISE = number(1.0, "--label-noise", "SD of the self-reports' noise, in rating points.",
                       low=0, high=100, why=" (rating points; the scales span 1-9)")
#: processes of a preprocess command: more than the machine could have is a typo
_WORKERS = {"integer": True, "low": 1, "high": 1024, "why": " (processes)"}


def synth_deap(
    out: Path = typer.Option(..., "--out", help="Folder to write s01.dat … into (created)."),
    subjects: int = number(4, "--subjects", "Number of subjects.", integer=True, low=1,
                           high=99, why=" (file names s01 … s99)"),
    trials: int = number(40, "--trials", "Trials per subject (DEAP: 40).", integer=True, low=1,
                         high=1000, why=" (trials per file)"),
    seconds: float = number(60.0, "--seconds", "Stimulus seconds per trial (DEAP: 60), after "
                            "the 3-s baseline.", low=1, high=3600, why=" (seconds)"),
    seed: int = O_SYNTH_SEED,
    fmt: SynthFormat = typer.Option(
        SynthFormat("dat"), "--format",
        help="dat (data_preprocessed_python) or mat (data_preprocessed_matlab)."),
    eeg_cue: float = O_EEG_CUE,
    gsr_cue: float = O_GSR_CUE,
    label_noise: Optional[float] = typer.Option(  # noqa: UP045
        None, "--label-noise", show_default=False,
        help="SD of the self-reports' noise, in rating points (default: 1 for the own "
             "world, 1.5 for the world families)."),
    world: World = typer.Option(
        World("own"), "--world",
        help="Which generator: own (emotionkd's) or a world family of the robustness suite "
             "(broadband, rhythms, sources, aperiodic, confounded; docs/synthetic-data.md)."),
    rating_bias: float = typer.Option(
        0.0, "--rating-bias",
        help="SD of a per-subject offset of all ratings, in rating points (world families)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing sXX files."),
) -> None:
    """Write synthetic subjects in DEAP's preprocessed layout.

    128 Hz, 40 rows per trial, GSR in Ohm at row 36, a 3-s pre-trial baseline; the latent
    emotions go to emotionkd-latent.csv (docs/synthetic-data.md).
    """
    from emotionkd.cli.console import console, progress_task
    from emotionkd.datasets.synthetic import DEFAULT_LABEL_NOISE, write_deap
    from emotionkd.datasets.worlds import WORLD_RATING_NOISE, write_world
    from emotionkd.errors import ConfigError

    check_out(out, True, kind="dir")
    family = value(world)
    if family == "own" and rating_bias:
        raise ConfigError("--rating-bias applies to the world families, not --world own")
    if family != "own" and (eeg_cue != 1.0 or gsr_cue != 1.0):
        raise ConfigError("--eeg-cue and --gsr-cue apply to --world own only")
    with progress_task("synth deap", total=subjects) as cb:
        if family == "own":
            noise = DEFAULT_LABEL_NOISE if label_noise is None else label_noise
            paths = write_deap(out, n_subjects=subjects, n_trials=trials, seconds=seconds,
                               seed=seed, eeg_cue=eeg_cue, gsr_cue=gsr_cue, label_noise=noise,
                               fmt=value(fmt), overwrite=overwrite, progress=cb)
        else:
            noise = WORLD_RATING_NOISE if label_noise is None else label_noise
            paths = write_world(out, family, n_subjects=subjects, n_trials=trials,
                                seconds=seconds, seed=seed, rating_noise=noise,
                                rating_bias=rating_bias, fmt=value(fmt), overwrite=overwrite,
                                progress=cb)
    size = sum(p.stat().st_size for p in paths) / 2**20
    console.print(f"wrote {len(paths)} subject files ({size:.1f} MiB) to {out}")


def synth_hci(
    out: Path = typer.Option(..., "--out", help="Sessions/ folder to write (created)."),
    subjects: int = number(2, "--subjects", "Number of subjects.", integer=True, low=1,
                           high=30, why=" (MAHNOB-HCI has 30)"),
    trials: int = number(20, "--trials", "Emotional clips per subject (each with a neutral "
                         "clip).", integer=True, low=1, high=20, why=" (MAHNOB-HCI has 20)"),
    seed: int = O_SYNTH_SEED,
    stimulus: str = typer.Option("35-117", "--stimulus-seconds",
                                 help="Range of emotional-clip lengths in seconds, e.g. 35-117."),
    eeg_cue: float = O_EEG_CUE,
    gsr_cue: float = O_GSR_CUE,
    label_noise: float = O_LABEL_NOISE,
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder."),
) -> None:
    """Write synthetic MAHNOB-HCI sessions (BDF + session.xml) in the real layout.

    For every subject and trial an emotional-clip session with ratings and a neutral-clip
    session without: 47 channels in HCI order at 256 Hz, Status with the stimulus edges.
    """
    from emotionkd.cli.console import console, progress_task
    from emotionkd.datasets.synthetic_hci import write_hci
    from emotionkd.errors import ConfigError

    try:
        lo, hi = (float(x) for x in stimulus.split("-"))
    except ValueError:
        raise ConfigError(f"--stimulus-seconds: cannot read {stimulus!r}; use e.g. 35-117") \
            from None
    check_out(out, True, kind="dir")
    with progress_task("synth hci", total=subjects * trials) as cb:
        folders = write_hci(out, n_subjects=subjects, n_trials=trials, seed=seed,
                            stimulus_s=(lo, hi), overwrite=overwrite, progress=cb,
                            eeg_cue=eeg_cue, gsr_cue=gsr_cue, label_noise=label_noise)
    size = sum(f.stat().st_size for d in folders for f in d.iterdir()) / 2**20
    console.print(f"wrote {len(folders)} sessions ({len(folders) // 2} emotional with ratings, "
                  f"{len(folders) // 2} neutral; {size:.1f} MiB) to {out}")


def synth_wristband(
    out: Path = typer.Option(..., "--out", help="File to write, e.g. EDA.csv (folders created)."),
    seconds: float = typer.Option(300.0, "--seconds", help="Length of the recording (s)."),
    rate: float = typer.Option(4.0, "--rate", help="Sampling rate (Hz); the E4 records EDA at 4."),
    seed: int = O_SYNTH_SEED,
    gsr_cue: float = O_GSR_CUE,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Write a synthetic wristband GSR recording (an Empatica E4 EDA.csv) for predict.

    One synthetic person over one-minute clips of changing arousal, skin conductance in µS
    at the wristband's rate; the clips' latent states go to NAME.latent.csv beside it.
    """
    from emotionkd.cli.console import console
    from emotionkd.datasets.synthetic_wristband import write_wristband

    check_out(out, overwrite, option="--out")
    check_out(out.with_name(out.stem + ".latent.csv"), overwrite, inputs=(out,))
    write_wristband(out, seconds=seconds, rate=rate, seed=seed, gsr_cue=gsr_cue,
                    overwrite=overwrite)
    console.print(f"wrote {out}: {seconds:g} s of skin conductance at {rate:g} Hz (Empatica E4 "
                  f"EDA.csv layout); latent states in {out.with_name(out.stem + '.latent.csv')}")


#: options both preprocess commands take
O_STORE_OUT = typer.Option(..., "--out", help="Output HDF5 store, e.g. deap.h5.")
O_STORE_CHANNELS = typer.Option(
    "all", "--eeg-channels",
    help="all (32), tsception28 (32 minus Fz, Cz, Pz, Oz) or comma-separated names.")
O_BASELINE = typer.Option(
    BaselineMode("subtract"), "--baseline",
    help="subtract: remove each channel's pre-stimulus mean (DEAP: 3 s, HCI: 30 s), then drop "
         "it; none: drop it; keep: store it (stimulus start recorded).")
O_GSR_UNIT = typer.Option(GsrUnit("auto"), "--gsr-unit",
                          help="Raw GSR unit (HCI: of GSR1); auto decides by magnitude.")


def preprocess_deap_cmd(
    raw: Path = typer.Option(..., "--raw",
                             help="DEAP data_preprocessed_python (or _matlab) folder."),
    out: Path = O_STORE_OUT,
    eeg_channels: str = O_STORE_CHANNELS,
    baseline: BaselineMode = O_BASELINE,
    gsr_unit: GsrUnit = O_GSR_UNIT,
    fmt: DeapFormat = typer.Option(DeapFormat("auto"), "--format",
                                   help="File format; auto takes whichever is present."),
    workers: int = number(1, "--workers", "Files processed in parallel.", **_WORKERS),
    skip_bad: bool = typer.Option(False, "--skip-bad",
                                  help="Skip unreadable or invalid files (listed at the end)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """DEAP (.dat or .mat per subject) → HDF5 store: EEG by name, GSR in µS.

    The store format is in docs/data-formats.md.
    """
    from emotionkd.cli.console import progress_task
    from emotionkd.preprocess import preprocess_deap

    with progress_task("preprocess deap") as cb:
        report = preprocess_deap(raw, out, eeg_channels=eeg_channels, baseline=value(baseline),
                                 gsr_unit=value(gsr_unit), fmt=value(fmt), overwrite=overwrite,
                                 skip_bad=skip_bad, workers=workers, progress=cb)
    render.preprocess_report(report)


def preprocess_hci_cmd(
    raw: Path = typer.Option(..., "--raw", help="MAHNOB-HCI Sessions/ folder."),
    out: Path = O_STORE_OUT,
    eeg_channels: str = O_STORE_CHANNELS,
    baseline: BaselineMode = O_BASELINE,
    gsr_unit: GsrUnit = O_GSR_UNIT,
    fs: float = number(128.0, "--fs", "Target sampling rate (Hz); 256 keeps it. With "
                       f"--eeg-filter deap at least {DEAP_FILTER_MIN_FS:g} Hz: the 4-45 Hz "
                       "band-pass needs its upper edge (at most 0.45 × the rate) above 4 Hz.",
                       low=1, high=4096, why=" (Hz)"),
    eeg_filter: EegFilter = typer.Option(
        EegFilter("deap"), "--eeg-filter",
        help="deap: band-pass 4-45 Hz and common average reference, as DEAP's preprocessed "
             "EEG; none: keep the raw, unreferenced EEG."),
    workers: int = number(1, "--workers", "Sessions processed in parallel.", **_WORKERS),
    strict: bool = typer.Option(False, "--strict",
                                help="Stop at the first session that would be skipped."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """MAHNOB-HCI Sessions/ (BDF + session.xml) → HDF5 store, same format as DEAP's.

    Needs the bdf extra (MNE). Only rated emotional sessions become trials; the others are
    listed with the reason.
    """
    from emotionkd.cli.console import progress_task
    from emotionkd.preprocess import preprocess_hci

    with progress_task("preprocess hci") as cb:
        report = preprocess_hci(raw, out, eeg_channels=eeg_channels, baseline=value(baseline),
                                gsr_unit=value(gsr_unit), target_fs=fs,
                                eeg_filter=value(eeg_filter), overwrite=overwrite,
                                strict=strict, workers=workers, progress=cb)
    render.preprocess_report(report)


def info_cmd(
    path: Path = typer.Argument(..., help="An HDF5 store or a checkpoint (.pt)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Summarise a store or a checkpoint.

    A store: source, rate, channels, subjects, ratings and class balance. A checkpoint: role,
    model, parameters, data specification, how its inputs were made, training.
    """
    import json


    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        from emotionkd.checkpoint import load_checkpoint, summary

        info = summary(load_checkpoint(path))
        if as_json:
            typer.echo(json.dumps(info, indent=2, default=str))
        else:
            render.checkpoint_summary(info)
        return
    from emotionkd.store import open_store

    info = open_store(path).summary()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    render.store_summary(info)


def models_cmd(
    fs: float = number(128.0, "--fs", "Sampling rate (Hz).", low=1, high=4096, why=" (Hz)"),
    window: float = number(DataConfig.window, "--window", "Window length (s).", low=0,
                           low_open=True, high=3600, why=" (seconds)"),
    eeg_channels: int = number(28, "--n-eeg", "Number of EEG channels.", integer=True, low=0,
                               high=1024, why=" (channels)"),
    size: Size = typer.Option(Size("paper"), "--size",
                              help="Size preset: paper (the reference architecture), small "
                                   "or tiny."),
) -> None:
    """List the registered models with their parameter counts at a data shape."""
    from rich.table import Table

    from emotionkd.cli.console import console
    from emotionkd.models.registry import build_model, config_for, count_parameters, model_names
    arch = ModelConfig(size=value(size)).overrides()
    table = Table(title=f"models at {window:g} s × {fs:g} Hz, {eeg_channels} EEG channels "
                        f"(size {value(size)}; parameters include BatchNorm statistics)")
    for col in ("name", "role", "needs", "parameters", "description"):
        table.add_column(col, justify="right" if col == "parameters" else "left",
                         no_wrap=col == "name")
    from emotionkd.models.registry import model_spec

    for name in model_names(None):
        spec = model_spec(name)
        if spec["kind"] == "torch":
            m = build_model(name, config_for(name, fs, window, eeg_channels, arch))
            params = f"{count_parameters(m):,}"
        else:
            params = "–"
        table.add_row(name, spec["role"], ", ".join(spec["needs"]), params,
                      spec["description"])
    console.print(table)


def register(app: typer.Typer, synth: typer.Typer, preprocess: typer.Typer) -> None:
    """Add the data commands to the command line."""
    synth.command("deap")(synth_deap)
    synth.command("hci")(synth_hci)
    synth.command("wristband")(synth_wristband)
    preprocess.command("deap")(preprocess_deap_cmd)
    preprocess.command("hci")(preprocess_hci_cmd)
    app.command("info")(info_cmd)
    app.command("models")(models_cmd)
