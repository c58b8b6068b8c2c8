"""The commands that write stores from more sources: ``synth amigos``, ``preprocess amigos``
(AMIGOS' preprocessed release), ``preprocess files`` (recordings MNE reads, and XDF),
``preprocess xdf`` (Lab Streaming Layer recordings) and ``preprocess bids`` (an EEG-BIDS
dataset). Each is a thin wrapper of :mod:`emotionkd.ingest` (docs/own-data.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from emotionkd.choices import AMIGOS_LAYOUTS, AMIGOS_VIDEOS, BASELINE_MODES, EEG_FILTERS
from emotionkd.cli import render
from emotionkd.cli.data import (
    O_BASELINE,
    O_EEG_CUE,
    O_GSR_CUE,
    O_GSR_UNIT,
    O_LABEL_NOISE,
    O_STORE_OUT,
    O_SYNTH_SEED,
    BaselineMode,
    EegFilter,
    GsrUnit,
)
from emotionkd.cli.options import check_out, choices, value

AmigosVideos = choices("AmigosVideos", AMIGOS_VIDEOS)
AmigosLayout = choices("AmigosLayout", AMIGOS_LAYOUTS)
OwnBaseline = choices("OwnBaseline", BASELINE_MODES)
OwnFilter = choices("OwnFilter", EEG_FILTERS)

_TRIALS, _SIGNALS, _XDF = "Trials and ratings", "Channels and signals", "XDF streams"


def _seconds_range(text: str, option: str) -> tuple[float, float]:
    """``"60-120"`` → (60.0, 120.0); a one-line error otherwise."""
    from emotionkd.errors import ConfigError

    try:
        lo, hi = (float(x) for x in text.split("-"))
    except ValueError:
        raise ConfigError(f"{option}: cannot read {text!r}; use e.g. 60-120") from None
    return lo, hi


def synth_amigos(
    out: Path = typer.Option(..., "--out", help="Folder to write Data_Preprocessed_PXX into "
                             "(created)."),
    subjects: int = typer.Option(4, "--subjects", min=1, max=40,
                                 help="Number of participants (P01 …)."),
    participants: Optional[str] = typer.Option(  # noqa: UP045
        None, "--participants", help="Participant numbers instead, e.g. 1,8,9 (8: no long "
                                     "videos, 9: NaN-filled short videos, as released)."),
    seed: int = O_SYNTH_SEED,
    layout: AmigosLayout = typer.Option(  # type: ignore[valid-type]
        AmigosLayout("folders"), "--layout",
        help="folders (Data_Preprocessed_PXX/….mat, the unpacked zips), flat (.mat files side "
             "by side) or zip (the release's zips)."),
    short_seconds: str = typer.Option("60-120", "--short-seconds",
                                      help="Range of the short videos' lengths in seconds."),
    long_seconds: str = typer.Option("60-120", "--long-seconds",
                                     help="Range of the long videos' lengths in seconds (real: "
                                          "14-24 min)."),
    eeg_cue: float = O_EEG_CUE,
    gsr_cue: float = O_GSR_CUE,
    label_noise: float = O_LABEL_NOISE,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
) -> None:
    """Write synthetic participants in AMIGOS' preprocessed layout.

    MAT files with VideoIDs, joined_data (14 Emotiv EEG channels, ECG, GSR in Ohm at 128 Hz),
    labels_ext_annotation and labels_selfassessment for 16 short and 4 long videos, each
    after a 5-s baseline; the release's gaps are reproduced for the participants that have
    them (docs/synthetic-data.md).
    """
    from emotionkd.cli.console import console, progress_task
    from emotionkd.datasets.synthetic_amigos import write_amigos
    from emotionkd.validation import parse_subjects

    chosen = parse_subjects(participants, "--participants") if participants else None
    short_s = _seconds_range(short_seconds, "--short-seconds")
    long_s = _seconds_range(long_seconds, "--long-seconds")
    check_out(out, True, kind="dir")
    n = len(chosen) if chosen else subjects
    with progress_task("synth amigos", total=n) as cb:
        paths = write_amigos(out, n_subjects=subjects, seed=seed, participants=chosen,
                             short_s=short_s, long_s=long_s, layout=value(layout),
                             overwrite=overwrite, progress=cb, label_noise=label_noise,
                             eeg_cue=eeg_cue, gsr_cue=gsr_cue)
    size = sum(p.stat().st_size for p in paths) / 2**20
    console.print(f"wrote {len(paths)} participant files ({size:.1f} MiB, layout "
                  f"{value(layout)}) to {out}")


def preprocess_amigos_cmd(
    raw: Path = typer.Option(..., "--raw", help="Folder of the release's Data_Preprocessed_PXX "
                             "folders, .mat or .zip files."),
    out: Path = O_STORE_OUT,
    videos: AmigosVideos = typer.Option(  # type: ignore[valid-type]
        AmigosVideos("short"), "--videos",
        help="short (the 16 short videos), long (the 4 long ones, trials 101-104) or all."),
    eeg_channels: str = typer.Option(
        "all", "--eeg-channels", help="all (the 14 Emotiv channels) or comma-separated names."),
    baseline: BaselineMode = O_BASELINE,
    baseline_seconds: float = typer.Option(
        5.0, "--baseline-seconds", help="Pre-stimulus seconds at the start of every trial."),
    gsr_unit: GsrUnit = O_GSR_UNIT,
    eeg_filter: EegFilter = typer.Option(
        EegFilter("none"), "--eeg-filter",
        help="none: keep the released conditioning (4-45 Hz, common average of the 14 "
             "channels); deap: band-pass and re-reference again."),
    fs: Optional[float] = typer.Option(  # noqa: UP045
        None, "--fs", show_default="128 (as released)", help="Target sampling rate (Hz)."),
    trim_samples: int = typer.Option(
        20, "--trim-samples", help="First samples of every trial dropped (GSR filter start-up)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Files processed in parallel."),
    strict: bool = typer.Option(False, "--strict",
                                help="Stop at the first video that would be skipped."),
    skip_bad: bool = typer.Option(False, "--skip-bad",
                                  help="Skip unreadable participant files (listed at the end)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
) -> None:
    """AMIGOS' preprocessed release → HDF5 store, the same format as DEAP's.

    The 14 Emotiv EEG channels by name, GSR in µS with its unit checked, the 12
    self-assessment ratings with their scales. The release's gaps (videos without data,
    without ratings, or with NaN samples) are skipped one by one and listed.
    """
    from emotionkd.cli.console import progress_task
    from emotionkd.ingest import preprocess_amigos

    with progress_task("preprocess amigos") as cb:
        report = preprocess_amigos(raw, out, videos=value(videos), eeg_channels=eeg_channels,
                                   baseline=value(baseline), baseline_s=baseline_seconds,
                                   gsr_unit=value(gsr_unit), eeg_filter=value(eeg_filter),
                                   target_fs=fs, trim_samples=trim_samples,
                                   overwrite=overwrite, skip_bad=skip_bad, strict=strict,
                                   workers=workers, progress=cb)
    render.preprocess_report(report)


# ---------------------------------------------------------------------------------------------
# your own recordings: the options of RecordingOptions

O_RATINGS = typer.Option(
    ..., "--ratings", rich_help_panel=_TRIALS,
    help="The ratings to store (columns of the events table) with their scales, e.g. "
         "valence=1-9,arousal=1-9 (a 5-point SAM: 1-5; a category: name=category).")
O_TRIAL_TYPE = typer.Option(
    None, "--trial-type", rich_help_panel=_TRIALS,
    help="Events that are trials (annotation descriptions, trigger codes, XDF markers), "
         "comma-separated.", show_default="every event but BAD_/EDGE/boundary")
O_TRIAL_END = typer.Option(None, "--trial-end", rich_help_panel=_TRIALS,
                           help="An event that ends each trial (else its duration).")
O_TRIAL_SECONDS = typer.Option(
    None, "--trial-seconds", rich_help_panel=_TRIALS,
    help="Trial length when neither the table nor the event gives one.")
O_OWN_BASELINE_S = typer.Option(0.0, "--baseline-seconds", rich_help_panel=_TRIALS,
                                help="Seconds before each onset that are its baseline.")
O_OWN_BASELINE = typer.Option(
    None, "--baseline", rich_help_panel=_TRIALS,
    show_default="subtract with --baseline-seconds > 0, else none",
    help="subtract: remove each channel's baseline mean, then drop it; none: drop it; keep: "
         "store it.")
O_TOLERANCE = typer.Option(0.05, "--onset-tolerance", rich_help_panel=_TRIALS,
                           help="Seconds within which a table row matches an event's onset.")
O_OWN_EEG = typer.Option(
    "auto", "--eeg-channels", rich_help_panel=_SIGNALS,
    help="auto (every EEG channel with a 10-05 name), none (a GSR-only store) or "
         "comma-separated names.")
O_GSR_CHANNEL = typer.Option(None, "--gsr-channel", rich_help_panel=_SIGNALS,
                             show_default="by type, then by name (GSR, EDA …)",
                             help="The GSR channel's name.")
O_OWN_GSR_UNIT = typer.Option(GsrUnit("auto"), "--gsr-unit", rich_help_panel=_SIGNALS,
                              help="The GSR's unit; auto settles it per recording from its "
                                   "values (and the unit the file declares).")
O_OWN_FS = typer.Option(128.0, "--fs", rich_help_panel=_SIGNALS,
                        help="Store's sampling rate (Hz); 0 keeps the recordings' rate.")
O_OWN_FILTER = typer.Option(
    OwnFilter("deap"), "--eeg-filter", rich_help_panel=_SIGNALS,
    help="deap: band-pass 4-45 Hz and common average reference (as DEAP's and AMIGOS' EEG); "
         "none: keep the EEG as recorded.")
O_SOURCE = typer.Option(
    "own", "--source", help="Name of your dataset, recorded in the store: subjects are "
                            "(dataset, subject), so give each dataset its own name.")
O_WORKERS = typer.Option(1, "--workers", min=1, help="Recordings processed in parallel.")
O_STRICT = typer.Option(False, "--strict", help="Stop at the first trial that would be skipped.")
O_SKIP_BAD = typer.Option(False, "--skip-bad",
                          help="Skip unreadable recordings (listed at the end).")
O_OVERWRITE = typer.Option(False, "--overwrite", help="Replace an existing output.")


def recording_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """The command's recording options → the fields of
    :class:`~emotionkd.ingest.RecordingOptions`."""
    from emotionkd.labels import parse_rating_scales
    from emotionkd.validation import csv_items

    eeg = kw.pop("eeg_channels")
    eeg_channels = (None if eeg.strip().lower() == "auto" else
                    [] if eeg.strip().lower() == "none" else csv_items(eeg))
    trial_type = kw.pop("trial_type")
    fs = kw.pop("fs")
    return {
        "rating_scales": parse_rating_scales(kw.pop("ratings"), "--ratings"),
        "trial_type": None if trial_type is None else csv_items(trial_type),
        "trial_end": kw.pop("trial_end"), "trial_duration_s": kw.pop("trial_seconds"),
        "baseline_s": kw.pop("baseline_seconds"), "baseline": value(kw.pop("baseline")),
        "onset_tolerance_s": kw.pop("onset_tolerance"), "eeg_channels": eeg_channels,
        "gsr_channel": kw.pop("gsr_channel"), "gsr_unit": value(kw.pop("gsr_unit")),
        "target_fs": fs or None, "eeg_filter": value(kw.pop("eeg_filter")),
        **{k: kw.pop(k) for k in ("stim_channel", "eeg_stream", "gsr_stream", "marker_stream")
           if k in kw},
    }


def _run_files(inputs: list[Path], out: Path, kw: dict[str, Any], what: str) -> None:
    from emotionkd.cli.console import progress_task
    from emotionkd.ingest import preprocess_files

    settings = recording_settings(kw)
    with progress_task(what) as cb:
        report = preprocess_files(inputs, out, events=kw["events"], subjects=kw["subject"],
                                  source=kw["source"], overwrite=kw["overwrite"],
                                  strict=kw["strict"], skip_bad=kw["skip_bad"],
                                  workers=kw["workers"], progress=cb, **settings)
    render.preprocess_report(report)


O_EVENTS = typer.Option(
    None, "--events", rich_help_panel=_TRIALS, show_default="NAME_events.tsv beside each",
    help="Events table with the ratings (BIDS events.tsv style), for one recording.")
O_SUBJECT = typer.Option(None, "--subject", show_default="the number in each file name",
                         help="Subject number of every recording given.")
O_EEG_STREAM = typer.Option(None, "--eeg-stream", rich_help_panel=_XDF,
                            show_default="the stream of type EEG",
                            help="XDF: the EEG stream's name or type.")
O_GSR_STREAM = typer.Option(None, "--gsr-stream", rich_help_panel=_XDF,
                            show_default="the stream of type GSR or EDA",
                            help="XDF: the GSR stream's name or type.")
O_MARKER_STREAM = typer.Option(None, "--marker-stream", rich_help_panel=_XDF,
                               show_default="the stream of type Markers",
                               help="XDF: the marker stream's name or type.")


def preprocess_files_cmd(
    inputs: list[Path] = typer.Argument(  # noqa: B008
        ..., help="Recordings, or folders of them: EDF, BDF, BrainVision .vhdr, EEGLAB .set, "
                  "FIF (MNE reads them) and Lab Streaming Layer .xdf."),
    out: Path = O_STORE_OUT,
    ratings: str = O_RATINGS,
    events: Optional[Path] = O_EVENTS,  # noqa: UP045
    trial_type: Optional[str] = O_TRIAL_TYPE,  # noqa: UP045
    trial_end: Optional[str] = O_TRIAL_END,  # noqa: UP045
    trial_seconds: Optional[float] = O_TRIAL_SECONDS,  # noqa: UP045
    baseline_seconds: float = O_OWN_BASELINE_S,
    baseline: Optional[OwnBaseline] = O_OWN_BASELINE,  # type: ignore[valid-type]  # noqa: UP045
    onset_tolerance: float = O_TOLERANCE,
    stim_channel: Optional[str] = typer.Option(  # noqa: UP045
        None, "--stim-channel", rich_help_panel=_TRIALS,
        help="Take the events from this trigger channel (e.g. Status) instead of annotations."),
    eeg_channels: str = O_OWN_EEG,
    gsr_channel: Optional[str] = O_GSR_CHANNEL,  # noqa: UP045
    gsr_unit: GsrUnit = O_OWN_GSR_UNIT,
    fs: float = O_OWN_FS,
    eeg_filter: OwnFilter = O_OWN_FILTER,  # type: ignore[valid-type]
    eeg_stream: Optional[str] = O_EEG_STREAM,  # noqa: UP045
    gsr_stream: Optional[str] = O_GSR_STREAM,  # noqa: UP045
    marker_stream: Optional[str] = O_MARKER_STREAM,  # noqa: UP045
    subject: Optional[int] = O_SUBJECT,  # noqa: UP045
    source: str = O_SOURCE,
    workers: int = O_WORKERS,
    strict: bool = O_STRICT,
    skip_bad: bool = O_SKIP_BAD,
    overwrite: bool = O_OVERWRITE,
) -> None:
    """Your recordings (any format MNE reads, or XDF) → HDF5 store.

    Trials are the recording's events (annotations, a trigger channel, XDF markers); their
    ratings come from a table in the BIDS events.tsv style (onset, duration, trial_type and
    one column per rating; n/a for missing). One subject per file. Needs the bdf extra (MNE);
    XDF the xdf extra. Skipped trials are listed with their reasons (docs/own-data.md).
    """
    kw = dict(locals())
    _run_files(kw.pop("inputs"), kw.pop("out"), kw, "preprocess files")


def preprocess_xdf_cmd(
    inputs: list[Path] = typer.Argument(  # noqa: B008
        ..., help="Lab Streaming Layer recordings (.xdf), or folders of them."),
    out: Path = O_STORE_OUT,
    ratings: str = O_RATINGS,
    events: Optional[Path] = O_EVENTS,  # noqa: UP045
    trial_type: Optional[str] = O_TRIAL_TYPE,  # noqa: UP045
    trial_end: Optional[str] = O_TRIAL_END,  # noqa: UP045
    trial_seconds: Optional[float] = O_TRIAL_SECONDS,  # noqa: UP045
    baseline_seconds: float = O_OWN_BASELINE_S,
    baseline: Optional[OwnBaseline] = O_OWN_BASELINE,  # type: ignore[valid-type]  # noqa: UP045
    onset_tolerance: float = O_TOLERANCE,
    eeg_stream: Optional[str] = O_EEG_STREAM,  # noqa: UP045
    gsr_stream: Optional[str] = O_GSR_STREAM,  # noqa: UP045
    marker_stream: Optional[str] = O_MARKER_STREAM,  # noqa: UP045
    eeg_channels: str = O_OWN_EEG,
    gsr_channel: Optional[str] = O_GSR_CHANNEL,  # noqa: UP045
    gsr_unit: GsrUnit = O_OWN_GSR_UNIT,
    fs: float = O_OWN_FS,
    eeg_filter: OwnFilter = O_OWN_FILTER,  # type: ignore[valid-type]
    subject: Optional[int] = O_SUBJECT,  # noqa: UP045
    source: str = O_SOURCE,
    workers: int = O_WORKERS,
    strict: bool = O_STRICT,
    skip_bad: bool = O_SKIP_BAD,
    overwrite: bool = O_OVERWRITE,
) -> None:
    """Lab Streaming Layer recordings (.xdf) → HDF5 store.

    EEG, GSR and markers arrive as separate streams, each on its own clock: they are put on
    the recorder's clock (LabRecorder's offsets, drift included), dejittered and resampled
    onto one grid; the markers are the trials, matched in order to the rows of the events
    table with the ratings. Needs the xdf extra (pyxdf).
    """
    from emotionkd.errors import ConfigError
    from emotionkd.ingest import recording_files

    other = [str(p) for p in recording_files(inputs) if p.suffix.lower() != ".xdf"]
    if other:
        raise ConfigError(f"{other[0]}: not an .xdf recording; use 'emotionkd preprocess "
                          "files' for recordings MNE reads")
    kw = dict(locals())
    for name in ("other", "ConfigError", "recording_files"):
        kw.pop(name)
    kw["stim_channel"] = None
    _run_files(kw.pop("inputs"), kw.pop("out"), kw, "preprocess xdf")


def preprocess_bids_cmd(
    raw: Path = typer.Option(..., "--raw", help="The BIDS dataset's root folder "
                             "(dataset_description.json)."),
    out: Path = O_STORE_OUT,
    ratings: str = O_RATINGS,
    task: Optional[str] = typer.Option(None, "--task", help="BIDS task label."),  # noqa: UP045
    subjects: Optional[str] = typer.Option(  # noqa: UP045
        None, "--subjects", help="BIDS subject labels, comma-separated (e.g. 01,02)."),
    sessions: Optional[str] = typer.Option(None, "--sessions",  # noqa: UP045
                                           help="BIDS session labels, comma-separated."),
    runs: Optional[str] = typer.Option(None, "--runs",  # noqa: UP045
                                       help="BIDS run labels, comma-separated."),
    trial_type: Optional[str] = O_TRIAL_TYPE,  # noqa: UP045
    trial_end: Optional[str] = O_TRIAL_END,  # noqa: UP045
    trial_seconds: Optional[float] = O_TRIAL_SECONDS,  # noqa: UP045
    baseline_seconds: float = O_OWN_BASELINE_S,
    baseline: Optional[OwnBaseline] = O_OWN_BASELINE,  # type: ignore[valid-type]  # noqa: UP045
    onset_tolerance: float = O_TOLERANCE,
    eeg_channels: str = O_OWN_EEG,
    gsr_channel: Optional[str] = O_GSR_CHANNEL,  # noqa: UP045
    gsr_unit: GsrUnit = O_OWN_GSR_UNIT,
    fs: float = O_OWN_FS,
    eeg_filter: OwnFilter = O_OWN_FILTER,  # type: ignore[valid-type]
    source: str = typer.Option("bids", "--source", help=O_SOURCE.help),
    workers: int = O_WORKERS,
    strict: bool = O_STRICT,
    skip_bad: bool = O_SKIP_BAD,
    overwrite: bool = O_OVERWRITE,
) -> None:
    """An EEG-BIDS dataset → HDF5 store (needs the bids extra: mne-bids).

    Every sub-*/[ses-*/]eeg/*_eeg recording (EDF, BDF, BrainVision, EEGLAB, FIF) with its
    channel types and units from channels.tsv; trials and their ratings from events.tsv.
    Numeric subject labels are kept (sub-07 → 7).
    """
    from emotionkd.cli.console import progress_task
    from emotionkd.ingest import preprocess_bids
    from emotionkd.validation import csv_items

    kw = dict(locals())
    settings = recording_settings(kw)

    def labels(x: str | None) -> list[str] | None:
        return None if x is None else csv_items(x)

    with progress_task("preprocess bids") as cb:
        report = preprocess_bids(raw, out, task=task, subjects=labels(subjects),
                                 sessions=labels(sessions), runs=labels(runs), source=source,
                                 overwrite=overwrite, strict=strict, skip_bad=skip_bad,
                                 workers=workers, progress=cb, **settings)
    render.preprocess_report(report)


def register(synth: typer.Typer, preprocess: typer.Typer) -> None:
    """Add the AMIGOS and own-data commands to the command line."""
    synth.command("amigos")(synth_amigos)
    preprocess.command("amigos")(preprocess_amigos_cmd)
    preprocess.command("files")(preprocess_files_cmd)
    preprocess.command("xdf")(preprocess_xdf_cmd)
    preprocess.command("bids")(preprocess_bids_cmd)
