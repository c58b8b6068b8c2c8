"""Entry points that write stores from more sources: AMIGOS, recordings in files (any format
MNE reads), EEG-BIDS datasets, Lab Streaming Layer XDF recordings, numpy arrays and MNE Raw
objects.

Each one gathers :class:`~emotionkd.datasets.records.Trial` records from a reader in
:mod:`emotionkd.datasets` and writes them through the same pipeline as ``preprocess deap``
and ``preprocess hci`` (:func:`emotionkd.preprocess.run_pipeline`): GSR converted to µS,
the pre-stimulus baseline handled, resampling to the store's rate, optional EEG
conditioning, an atomic write, and a :class:`~emotionkd.preprocess.PreprocessReport`. They
take explicit arguments, never print, and accept a ``progress(done, total, info=...)``
callback, so a command is a thin wrapper.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotionkd.preprocess import CleanOptions, PreprocessReport, _raw_bytes, run_pipeline

Progress = Callable[..., None] | None


class _AmigosJob(tuple):
    """(subject, path, channels, videos, baseline_s, trim, gsr_unit); str() is the path."""

    def __str__(self) -> str:
        return str(self[1])


def preprocess_amigos(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    videos: str = "short",
    eeg_channels: str | Sequence[str] | None = None,
    baseline: str = "subtract",
    baseline_s: float = 5.0,
    gsr_unit: str = "auto",
    eeg_filter: str = "none",
    target_fs: float | None = None,
    trim_samples: int = 20,
    overwrite: bool = False,
    skip_bad: bool = False,
    strict: bool = False,
    workers: int = 1,
    progress: Progress = None,
) -> PreprocessReport:
    """AMIGOS' preprocessed release (``Data_Preprocessed_PXX`` folders, .mat or .zip files)
    → store: the 14 Emotiv EEG channels by name in DEAP's order, GSR in µS, the 12
    self-assessment ratings with their scales (1-9, and 0/1 for the basic emotions).

    ``videos``: "short" (the 16 short videos, default), "long" (the 4 long ones) or "all".
    Trials are numbered by video (short videos keep their number, long videos N1, P1, B1, U1
    are 101-104). ``baseline_s`` is the pre-stimulus part at the start of each trial (5 s by
    peer consensus); the first ``trim_samples`` samples (GSR filter start-up) are dropped.
    The EEG is already band-passed 4-45 Hz and common-average referenced (over its 14
    channels): ``eeg_filter="deap"`` repeats that conditioning, "none" (default) keeps it.
    Empty cells, cells without ratings and cells with NaN samples are skipped one by one
    (an error with ``strict``)."""
    from emotionkd.config import check_number
    from emotionkd.datasets.amigos import (
        AMIGOS_EEG_CHANNELS,
        AMIGOS_FS,
        AMIGOS_RATING_NAMES,
        AMIGOS_RATING_SCALES,
        VIDEO_SETS,
        read_job,
        resolve_channels,
        scan_folder,
    )
    from emotionkd.datasets.synthetic import LATENT_FILE, read_latent_table
    from emotionkd.errors import ConfigError

    if videos not in VIDEO_SETS:
        raise ConfigError(f"--videos must be one of {', '.join(VIDEO_SETS)}, not {videos!r}")
    check_number(baseline_s, "--baseline-seconds", low=0, high=60,
                 why=" (the pre-stimulus part of every AMIGOS trial)")
    trim = int(check_number(trim_samples, "--trim-samples", low=0, high=1280, integer=True))
    if round(baseline_s * AMIGOS_FS) <= trim and baseline == "subtract":
        raise ConfigError("--baseline subtract needs a baseline longer than --trim-samples")
    channels = resolve_channels(eeg_channels)
    opts = CleanOptions(baseline=baseline, gsr_unit=gsr_unit, target_fs=target_fs,
                        eeg_filter=eeg_filter, keep_channels=tuple(channels))
    folder = scan_folder(raw)
    latent = read_latent_table(raw)
    # the common average reference needs every electrode: read all 14, keep the chosen ones
    read = tuple(AMIGOS_EEG_CHANNELS) if eeg_filter == "deap" else tuple(channels)
    jobs = [_AmigosJob((s, str(p), read, videos, float(baseline_s), trim, opts.gsr_unit))
            for s, p in folder.files]
    inputs = [p for _, p in folder.files] + [Path(raw) / LATENT_FILE]
    # float64 (samples, 17) → float32 kept EEG + GSR; zips are compressed (say 3:1)
    raw_bytes = sum(_raw_bytes([p]) * (3 if p.suffix.lower() == ".zip" else 1)
                    for _, p in folder.files)
    rate = (target_fs or AMIGOS_FS) / AMIGOS_FS
    need = raw_bytes * (len(channels) + 1) / 17 / 2 * rate + 4 * 2**20
    return run_pipeline(
        jobs=jobs, read=read_job, out=out, source="amigos", eeg_channels=channels,
        rating_names=AMIGOS_RATING_NAMES, rating_scales=AMIGOS_RATING_SCALES, fs=AMIGOS_FS,
        opts=opts,
        preprocessing={
            "reader": "amigos-preprocessed", "raw": str(Path(raw).resolve()),
            "videos": videos, "baseline_s": float(baseline_s), "trim_samples": trim,
            "trial_numbers": "video number; long videos N1, P1, B1, U1 = 101-104",
            "eeg_conditioning": (
                "as released (4-45 Hz, common average of the 14 channels), then 4-45 Hz "
                "band-pass and common average reference again" if eeg_filter == "deap"
                else "as released: 4-45 Hz band-pass, common average of the 14 channels"),
            "files": [str(p.relative_to(raw)) for _, p in folder.files]},
        overwrite=overwrite, skip_bad=skip_bad, strict=strict, workers=workers,
        stray=[p.name for p in folder.stray if p.name != LATENT_FILE], progress=progress,
        latent=latent, inputs=inputs, need_bytes=need,
    )


# ---------------------------------------------------------------------------------------------
# your own recordings: shared


def _baseline_mode(baseline: str | None, baseline_s: float) -> str:
    """``baseline`` None: subtract when there is a baseline (``baseline_s`` > 0), else none."""
    from emotionkd.errors import ConfigError

    if baseline is None:
        return "subtract" if baseline_s > 0 else "none"
    if baseline in ("subtract", "keep") and baseline_s <= 0:
        raise ConfigError(f"--baseline {baseline} needs a pre-stimulus baseline: pass "
                          "baseline_s > 0 (--baseline-seconds), the seconds before each onset")
    return baseline


def _own_pipeline(jobs, read, out, *, source: str, eeg_channels: Sequence[str], rules,  # noqa: ANN001
                  fs: float, target_fs: float | None, baseline: str | None, eeg_filter: str,
                  reader: str, extra: dict, overwrite: bool, strict: bool, skip_bad: bool,
                  workers: int, progress: Progress, inputs: Sequence[Path] = ()
                  ) -> PreprocessReport:
    """Run the common pipeline over own-data jobs (each reading a TrialList in µS)."""
    from dataclasses import asdict

    mode = _baseline_mode(baseline, rules.baseline_s)
    if not eeg_channels:
        eeg_filter = "none"  # nothing to condition
    opts = CleanOptions(baseline=mode, gsr_unit="auto", target_fs=target_fs,
                        eeg_filter=eeg_filter)
    meta = {"reader": reader, "baseline_s": rules.baseline_s,
            "trial_rules": {k: v for k, v in asdict(rules).items() if k != "rating_scales"},
            "eeg_conditioning": (
                "4-45 Hz band-pass (4th-order Butterworth, zero phase) and common average "
                "reference over the stored EEG channels, after resampling"
                if eeg_filter == "deap" else "none (as recorded)"),
            "resampler": "scipy.signal.resample_poly (Kaiser-windowed FIR anti-aliasing, "
                         "linear edge padding)", **extra}
    need = 2 * _raw_bytes(list(inputs)) + 4 * 2**20
    return run_pipeline(
        jobs=jobs, read=read, out=out, source=source, eeg_channels=list(eeg_channels),
        rating_names=rules.rating_names, rating_scales=rules.scales, fs=fs, opts=opts,
        preprocessing=meta, overwrite=overwrite, skip_bad=skip_bad, strict=strict,
        workers=workers, progress=progress, inputs=list(inputs), need_bytes=need)


def _subject_list(paths: Sequence[Path], subjects) -> list[int]:  # noqa: ANN001
    """One subject number per recording: ``subjects`` (an int for all, a sequence, or a
    mapping path → number) or the number in each file name."""
    from emotionkd.datasets.own import subject_from_name
    from emotionkd.errors import ConfigError

    if subjects is None:
        return [subject_from_name(p) for p in paths]
    if isinstance(subjects, int):
        return [subjects] * len(paths)
    if isinstance(subjects, dict):
        by = {str(Path(k)): int(v) for k, v in subjects.items()}
        missing = [str(p) for p in paths if str(p) not in by]
        if missing:
            raise ConfigError(f"subjects: no subject number for {', '.join(missing)}")
        return [by[str(p)] for p in paths]
    out = [int(s) for s in subjects]
    if len(out) != len(paths):
        raise ConfigError(f"subjects: {len(out)} numbers for {len(paths)} recordings")
    return out


def _first_trials(subjects: Sequence[int]) -> list[int]:
    """Trial numbers start at 1 for a subject's first recording, 1001 for its second …"""
    seen: dict[int, int] = {}
    out = []
    for s in subjects:
        out.append(1 + 1000 * seen.get(s, 0))
        seen[s] = seen.get(s, 0) + 1
    return out


def _common_channels(found: Sequence[tuple[str, list[str], float]]) -> list[str]:
    """The EEG channels every recording has under the same names (the first one's order)."""
    from emotionkd.errors import DataFormatError

    first_src, first, _ = found[0]
    for src, names, _ in found[1:]:
        if {n.lower() for n in names} != {n.lower() for n in first}:
            only = sorted({n for n in names} ^ {n for n in first})
            raise DataFormatError(
                f"{src}: EEG channels differ from {first_src}'s ({', '.join(only[:8])}); "
                "pass the channels to keep (--eeg-channels) or eeg_channels=[] for GSR only")
    return list(first)


def _common_rate(found: Sequence[tuple[str, list[str], float]], target_fs: float | None
                 ) -> float:
    from emotionkd.errors import ConfigError

    rates = sorted({fs for _, _, fs in found})
    if len(rates) > 1 and target_fs is None:
        raise ConfigError(f"the recordings have different sampling rates ({rates} Hz); pass "
                          "target_fs (--fs) to resample them to one")
    return rates[0] if len(rates) == 1 else float(target_fs)


@dataclass(frozen=True)
class RecordingOptions:
    """How trials, channels and conditioning are taken from recordings: the settings
    :func:`preprocess_files`, :func:`preprocess_bids` and :func:`write_store_from_raw` share
    (each also takes them as keywords).

    ``rating_scales`` names the ratings to store (columns of the events table), in order,
    with their (min, max) (None for a category). ``trial_type`` selects the events that are
    trials (annotation descriptions, stim-channel codes, XDF markers; None: every event but
    BAD_/EDGE/boundary annotations); with ``trial_end`` each lasts until the next such event.
    A trial lasts the table's duration, else the event's, else ``trial_duration_s``; table
    rows are matched to events by onset within ``onset_tolerance_s`` (XDF: in order).
    ``baseline_s`` seconds before each onset are its baseline; ``baseline`` is subtract
    (default when ``baseline_s`` > 0), none (default otherwise) or keep. EEG by name
    (default: every 10-05-named EEG channel; ``[]`` for GSR only), GSR by ``gsr_channel`` or
    by type and name, its unit ``gsr_unit`` (auto: settled per recording), events from
    ``stim_channel`` instead of annotations; XDF streams by name or type. Resampled to
    ``target_fs`` (None: the recordings' rate); ``eeg_filter="deap"`` band-passes 4-45 Hz and
    re-references to the common average (raw recordings need it; "none" keeps the EEG)."""

    rating_scales: dict[str, Sequence[float] | None]
    trial_type: str | Sequence[str] | None = None
    trial_end: str | None = None
    baseline_s: float = 0.0
    baseline: str | None = None
    trial_duration_s: float | None = None
    onset_tolerance_s: float = 0.05
    eeg_channels: Sequence[str] | None = None
    gsr_channel: str | None = None
    gsr_unit: str = "auto"
    stim_channel: str | None = None
    eeg_stream: str | None = None
    gsr_stream: str | None = None
    marker_stream: str | None = None
    target_fs: float | None = 128.0
    eeg_filter: str = "deap"

    def reading(self) -> dict[str, Any]:
        """The options a reader needs, as a plain (picklable) dict."""
        from emotionkd.datasets.own import check_unit_option

        return {"eeg_channels": None if self.eeg_channels is None else list(self.eeg_channels),
                "gsr_channel": self.gsr_channel, "gsr_unit": check_unit_option(self.gsr_unit),
                "stim_channel": self.stim_channel, "eeg_stream": self.eeg_stream,
                "gsr_stream": self.gsr_stream, "marker_stream": self.marker_stream,
                "xdf_fs": self.target_fs}


def recording_options(options: RecordingOptions | None, settings: dict[str, Any]
                      ) -> RecordingOptions:
    """``options`` with ``settings`` (keywords named like its fields) applied."""
    from dataclasses import fields, replace

    from emotionkd.errors import ConfigError

    known = [f.name for f in fields(RecordingOptions)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if options is not None:
        return replace(options, **settings)
    if "rating_scales" not in settings:
        raise ConfigError("rating_scales: give the ratings to store and their scales, e.g. "
                          "rating_scales={'valence': (1, 9), 'arousal': (1, 9)}")
    return RecordingOptions(**settings)


def _from_recordings(items: Sequence[Any], out: str | os.PathLike, o: RecordingOptions, *,
                     subject_ids: Sequence[int], scan: Callable, job: Callable,
                     read: Callable, match: str, source: str, reader: str, extra: dict,
                     run: dict, inputs: Sequence[Path] = ()) -> PreprocessReport:
    """Scan every recording's channels and rate, make one job per recording, run them."""
    from emotionkd.datasets.own import make_rules

    rules = make_rules(o.rating_scales, trial_type=o.trial_type, baseline_s=o.baseline_s,
                       trial_duration_s=o.trial_duration_s,
                       onset_tolerance_s=o.onset_tolerance_s, match=match,
                       trial_end=o.trial_end)
    ro = o.reading()
    found = [scan(item, ro) for item in items]
    names = _common_channels(found)
    fs = _common_rate(found, o.target_fs)
    ro["eeg_channels"] = names  # every recording read with the same channels, in one order
    jobs = [job(item, s, first, rules, ro)
            for item, s, first in zip(items, subject_ids, _first_trials(subject_ids))]
    return _own_pipeline(
        jobs, read, out, source=source, eeg_channels=names, rules=rules, fs=fs,
        target_fs=o.target_fs, baseline=o.baseline, eeg_filter=o.eeg_filter, reader=reader,
        extra={**extra, "gsr_unit_option": o.gsr_unit}, inputs=inputs, **run)


# ---------------------------------------------------------------------------------------------
# files: MNE-readable recordings and XDF


class _FileJob(tuple):
    """(path, subject, first_trial, events table or None, rules, reading options)."""

    def __str__(self) -> str:
        return str(self[0])


def _read_file_job(job: tuple) -> list:
    from emotionkd.datasets.own import cut_trials, read_events_table

    path, subject, first, table, rules, o = job
    sig = _file_signals(Path(path), o)
    tab = read_events_table(table) if table is not None else None
    return cut_trials(sig, subject, rules, tab, first_trial=first)


def _file_signals(path: Path, o: dict):  # noqa: ANN202 - Signals
    if path.suffix.lower() == ".xdf":
        from emotionkd.datasets.xdf import signals_from_xdf

        return signals_from_xdf(path, fs=o["xdf_fs"], eeg_stream=o["eeg_stream"],
                                gsr_stream=o["gsr_stream"], marker_stream=o["marker_stream"],
                                eeg_channels=o["eeg_channels"], gsr_channel=o["gsr_channel"],
                                gsr_unit=o["gsr_unit"])
    from emotionkd.datasets.mne_files import read_file, signals_from_raw

    return signals_from_raw(read_file(path), source=str(path), eeg_channels=o["eeg_channels"],
                            gsr_channel=o["gsr_channel"], gsr_unit=o["gsr_unit"],
                            stim_channel=o["stim_channel"])


def _scan_file(path: Path, o: dict) -> tuple[str, list[str], float]:
    """(source, EEG channel names, sampling rate) of a recording, from its header."""
    if path.suffix.lower() == ".xdf":
        from emotionkd.datasets.xdf import (
            select_streams,
            stream_channels,
            stream_headers,
            stream_rate,
        )

        eeg_s, rows, gsr_s, _, _ = select_streams(
            stream_headers(path), str(path), eeg_stream=o["eeg_stream"],
            gsr_stream=o["gsr_stream"], marker_stream=o["marker_stream"],
            eeg_channels=o["eeg_channels"], gsr_channel=o["gsr_channel"])
        names = ([stream_channels(eeg_s)[i]["label"] for i in rows] if eeg_s is not None
                 else [])
        return str(path), names, o["xdf_fs"] or stream_rate(eeg_s or gsr_s)
    from emotionkd.datasets.mne_files import eeg_channels_of, gsr_channel_of, read_file

    raw = read_file(path)
    gsr = gsr_channel_of(raw, o["gsr_channel"], str(path))
    return str(path), eeg_channels_of(raw, o["eeg_channels"], gsr, str(path)), \
        float(raw.info["sfreq"])


def recording_files(inputs: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """The recordings among ``inputs`` (files, or folders whose recordings are taken, sorted;
    BrainVision by its .vhdr, EEGLAB by its .set)."""
    from emotionkd.datasets.mne_files import EXTENSIONS
    from emotionkd.errors import DataFormatError

    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    exts = (*EXTENSIONS, ".xdf")
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file()
                           and f.name.lower().endswith(exts))
            if not found:
                raise DataFormatError(f"{p}: no recordings ({', '.join(exts)}) in the folder")
            out += found
        elif p.exists():
            out.append(p)
        else:
            raise DataFormatError(f"{p}: no such file or folder")
    if not out:
        raise DataFormatError("no recordings given")
    return out


def _events_tables(paths: Sequence[Path], events, needed: bool) -> list[Path | None]:  # noqa: ANN001
    """The events table of each recording: ``events`` (one path for a single recording, or
    a mapping recording → table), else the sidecar found beside it."""
    from emotionkd.datasets.mne_files import find_events_table
    from emotionkd.errors import ConfigError, DataFormatError

    if events is None:
        tables = [find_events_table(p) for p in paths]
    elif isinstance(events, dict):
        by = {str(Path(k)): Path(v) for k, v in events.items()}
        tables = [by.get(str(p)) or find_events_table(p) for p in paths]
    else:
        if len(paths) != 1:
            raise ConfigError("events: one table path serves one recording; for several, "
                              "give a mapping recording → table or put NAME_events.tsv "
                              "beside each recording")
        tables = [Path(events)]
    for p, t in zip(paths, tables):
        if t is not None and not t.is_file():
            raise DataFormatError(f"{t}: no such events table (for {p})")
        if t is None and needed:
            raise DataFormatError(f"{p}: no events table with its ratings (looked for "
                                  f"{p.stem}_events.tsv and the BIDS-style sidecar beside it);"
                                  " pass events=TABLE (--events)")
    return tables


def preprocess_files(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    out: str | os.PathLike,
    options: RecordingOptions | None = None,
    *,
    events: str | os.PathLike | dict | None = None,
    subjects: int | Sequence[int] | dict | None = None,
    source: str = "own",
    overwrite: bool = False,
    strict: bool = False,
    skip_bad: bool = False,
    workers: int = 1,
    progress: Progress = None,
    **settings: Any,
) -> PreprocessReport:
    """Recordings in files → store: any format MNE reads (EDF, BDF, BrainVision .vhdr,
    EEGLAB .set, FIF) and Lab Streaming Layer XDF; ``inputs`` are files or folders.

    ``options`` (or its fields as keywords, ``rating_scales`` required) say how trials,
    channels and conditioning are taken (:class:`RecordingOptions`). The ratings (and,
    without events in the recording, the trials) come from a BIDS-style events table:
    ``events`` (one path for one recording, or a mapping recording → table), by default
    ``NAME_events.tsv`` beside each recording. One subject per file: the number in its name
    unless ``subjects`` (one number for all, one per file, or a mapping file → number); a
    subject's second file numbers its trials from 1001."""
    o = recording_options(options, settings)
    paths = recording_files(inputs)
    tables = _events_tables(paths, events, needed=True)
    has_xdf = any(p.suffix.lower() == ".xdf" for p in paths)
    subject_ids = _subject_list(paths, subjects)
    return _from_recordings(
        list(zip(paths, tables)), out, o, subject_ids=subject_ids,
        scan=lambda item, ro: _scan_file(item[0], ro),
        job=lambda item, s, first, rules, ro: _FileJob(
            (str(item[0]), s, first, None if item[1] is None else str(item[1]), rules, ro)),
        read=_read_file_job, match="order" if has_xdf else "onset", source=source,
        reader="files",
        extra={"files": [str(p) for p in paths],
               "events_tables": [None if t is None else str(t) for t in tables],
               "subjects": dict(zip(map(str, paths), subject_ids))},
        inputs=[*paths, *(t for t in tables if t is not None)],
        run={"overwrite": overwrite, "strict": strict, "skip_bad": skip_bad,
             "workers": workers, "progress": progress})


# ---------------------------------------------------------------------------------------------
# EEG-BIDS


class _BidsJob(tuple):
    """(recording path, BIDS root, subject, first_trial, rules, reading options)."""

    def __str__(self) -> str:
        return str(self[0])


def _bids_path(fpath: str, root: str):  # noqa: ANN202 - mne_bids.BIDSPath
    from mne_bids import get_bids_path_from_fname

    return get_bids_path_from_fname(fpath).update(root=root)


def _read_bids_raw(bp):  # noqa: ANN001, ANN202 - mne.io.Raw
    import warnings

    from mne_bids import read_raw_bids

    from emotionkd.errors import DataFormatError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mne-bids notes on optional sidecar fields
        try:
            return read_raw_bids(bp, verbose="error")
        except Exception as exc:  # mne-bids raises many types on incomplete datasets
            raise DataFormatError(f"{bp.fpath}: mne-bids cannot read it "
                                  f"({type(exc).__name__}: {exc})") from None


def _bids_gsr_unit(bp, channel: str) -> str | None:  # noqa: ANN001
    """The GSR channel's unit in the recording's channels.tsv (None when absent)."""
    from emotionkd.datasets.own import read_events_table

    tsv = bp.copy().update(suffix="channels", extension=".tsv").fpath
    if not Path(tsv).is_file():
        return None
    rows = read_events_table(tsv).rows
    unit = next((r.get("units") for r in rows if str(r.get("name")) == channel), None)
    return None if unit is None else str(unit)


def _read_bids_job(job: tuple) -> list:
    from emotionkd.datasets.mne_files import gsr_channel_of, signals_from_raw
    from emotionkd.datasets.own import cut_trials, read_events_table
    from emotionkd.errors import DataFormatError

    fpath, root, subject, first, rules, o = job
    bp = _bids_path(fpath, root)
    raw = _read_bids_raw(bp)
    gsr = gsr_channel_of(raw, o["gsr_channel"], fpath)
    sig = signals_from_raw(raw, source=fpath, eeg_channels=o["eeg_channels"], gsr_channel=gsr,
                           gsr_unit=o["gsr_unit"], declared_gsr_unit=_bids_gsr_unit(bp, gsr))
    events = bp.copy().update(suffix="events", extension=".tsv").fpath
    if not Path(events).is_file():
        raise DataFormatError(f"{fpath}: no events.tsv ({events}) with the ratings")
    return cut_trials(sig, subject, rules, read_events_table(events), first_trial=first)


def _scan_bids(bp, ro: dict) -> tuple[str, list[str], float]:  # noqa: ANN001
    from emotionkd.datasets.mne_files import eeg_channels_of, gsr_channel_of

    raw = _read_bids_raw(bp)
    gsr = gsr_channel_of(raw, ro["gsr_channel"], str(bp.fpath))
    return (str(bp.fpath), eeg_channels_of(raw, ro["eeg_channels"], gsr, str(bp.fpath)),
            float(raw.info["sfreq"]))


def preprocess_bids(
    root: str | os.PathLike,
    out: str | os.PathLike,
    options: RecordingOptions | None = None,
    *,
    task: str | None = None,
    subjects: Sequence[str] | None = None,
    sessions: Sequence[str] | None = None,
    runs: Sequence[str] | None = None,
    source: str = "bids",
    overwrite: bool = False,
    strict: bool = False,
    skip_bad: bool = False,
    workers: int = 1,
    progress: Progress = None,
    **settings: Any,
) -> PreprocessReport:
    """An EEG-BIDS dataset → store (needs mne-bids, the ``bids`` extra).

    Every ``sub-*/[ses-*/]eeg/*_eeg.{vhdr,edf,bdf,set,fif}`` recording (filtered by
    ``task``, ``subjects``, ``sessions``, ``runs``: BIDS labels) is read with mne-bids
    (channel types from channels.tsv, annotations from events.tsv); the trials and their
    ratings come from its ``*_events.tsv`` rows, whose rating columns ``rating_scales``
    names; the GSR unit the channels.tsv declares is the hint. Subject labels that are all
    numbers are kept (sub-07 → 7); others are numbered 1, 2 … in sorted order, the mapping
    recorded in the store. ``options``/keywords as for :func:`preprocess_files`."""
    from emotionkd.errors import DataFormatError, require_module

    o = recording_options(options, settings)
    mne_bids = require_module("mne_bids", "bids", "Reading EEG-BIDS datasets")
    root = Path(root)
    if not (root / "dataset_description.json").is_file():
        raise DataFormatError(f"{root}: not a BIDS dataset (no dataset_description.json); "
                              "point --raw at the dataset's root folder")
    found = mne_bids.find_matching_paths(
        root, subjects=subjects, sessions=sessions, tasks=task, runs=runs, datatypes="eeg",
        suffixes="eeg", extensions=[".vhdr", ".edf", ".bdf", ".set", ".fif"])
    found = sorted(found, key=lambda b: str(b.fpath))
    if not found:
        raise DataFormatError(f"{root}: no EEG recordings (sub-*/eeg/*_eeg.*) match "
                              f"task={task}, subjects={subjects}, sessions={sessions}, "
                              f"runs={runs}")
    labels = sorted({bp.subject for bp in found})
    numbers = ({lab: int(lab) for lab in labels} if all(lab.isdigit() for lab in labels)
               else {lab: k for k, lab in enumerate(labels, start=1)})
    return _from_recordings(
        found, out, o, subject_ids=[numbers[bp.subject] for bp in found], scan=_scan_bids,
        job=lambda bp, s, first, rules, ro: _BidsJob(
            (str(bp.fpath), str(root), s, first, rules, ro)),
        read=_read_bids_job, match="onset", source=source, reader="bids",
        extra={"raw": str(root.resolve()),
               "files": [str(bp.fpath.relative_to(root)) for bp in found],
               "bids_subjects": {f"sub-{lab}": n for lab, n in numbers.items()}},
        inputs=[bp.fpath for bp in found],
        run={"overwrite": overwrite, "strict": strict, "skip_bad": skip_bad,
             "workers": workers, "progress": progress})


# ---------------------------------------------------------------------------------------------
# numpy arrays and MNE Raw objects


def _array_trials(gsr, eeg, fs: float, trials, baseline_s: float, n_eeg: int,  # noqa: ANN001
                  ) -> list[tuple[Any, Any, int]]:
    """(eeg (C, n), gsr (n,), onset) per trial from continuous arrays cut at ``trials``
    (start, stop) or from per-trial arrays (their first ``baseline_s`` s are the baseline)."""
    import numpy as np

    from emotionkd.errors import ConfigError

    base = int(round(baseline_s * fs))
    if isinstance(gsr, (list, tuple)):
        if trials is not None:
            raise ConfigError("trials: give boundaries for a continuous gsr array, not for a "
                              "list of per-trial arrays")
        eegs = list(eeg) if eeg is not None else [None] * len(gsr)
        if len(eegs) != len(gsr):
            raise ConfigError(f"eeg: {len(eegs)} trial arrays for {len(gsr)} GSR trials")
        out = []
        for k, (g, e) in enumerate(zip(gsr, eegs)):
            g = np.asarray(g, dtype=np.float64).reshape(-1)
            e = _eeg_array(e, n_eeg, len(g), f"eeg[{k}]")
            out.append((e, g, base))
        return out
    g = np.asarray(gsr, dtype=np.float64)
    if g.ndim != 1:
        raise ConfigError(f"gsr: expected a 1-D signal or a list of per-trial signals, got "
                          f"shape {g.shape}")
    e = _eeg_array(eeg, n_eeg, len(g), "eeg")
    if trials is None:
        return [(e, g, base)]
    out = []
    for k, pair in enumerate(trials):
        try:
            start, stop = (int(x) for x in pair)
        except (TypeError, ValueError):
            raise ConfigError(f"trials[{k}]: {pair!r} is not a (start, stop) pair of "
                              "samples") from None
        if not 0 <= start < stop <= len(g):
            raise ConfigError(f"trials[{k}]: ({start}, {stop}) is outside the signal's "
                              f"{len(g)} samples")
        first = start - base
        if first < 0:
            raise ConfigError(f"trials[{k}] starts at sample {start}, less than the "
                              f"{baseline_s:g}-s baseline ({base} samples) into the signal")
        out.append((e[:, first:stop], g[first:stop], start - first))
    return out


def _eeg_array(eeg, n_eeg: int, n: int, what: str):  # noqa: ANN001, ANN202
    import numpy as np

    from emotionkd.errors import ConfigError

    if eeg is None:
        if n_eeg:
            raise ConfigError(f"{what}: eeg_channels are named but no EEG is given")
        return np.zeros((0, n))
    e = np.asarray(eeg, dtype=np.float64)
    if e.ndim != 2 or e.shape != (n_eeg, n):
        hint = " (channels × samples: transpose it)" if e.ndim == 2 and e.shape == (n, n_eeg) \
            else ""
        raise ConfigError(f"{what}: shape {e.shape}, expected ({n_eeg} channels, {n} samples)"
                          f"{hint}")
    return e


def write_store(
    out: str | os.PathLike,
    *,
    gsr: Any,
    fs: float,
    gsr_unit: str,
    ratings: dict[str, Sequence[float]],
    rating_scales: dict[str, Sequence[float] | None],
    eeg: Any = None,
    eeg_channels: Sequence[str] = (),
    trials: Sequence[tuple[int, int]] | None = None,
    subjects: int | Sequence[int] = 1,
    trial_ids: Sequence[int] | None = None,
    baseline_s: float = 0.0,
    baseline: str | None = None,
    target_fs: float | None = 128.0,
    eeg_filter: str = "none",
    source: str = "own",
    overwrite: bool = False,
    progress: Progress = None,
) -> PreprocessReport:
    """A store from numpy arrays, through the same cleaning as the dataset readers.

    ``gsr`` is one continuous 1-D signal cut at ``trials`` ((start, stop) samples of each
    stimulus), or a list of per-trial 1-D signals; ``eeg`` the same as (channels, samples)
    arrays, in µV, named by ``eeg_channels`` (omit both for a GSR-only store). ``fs`` is
    their sampling rate, ``gsr_unit`` their unit (us, ns, s, ohm, kohm, or auto to infer
    it). ``ratings`` maps each rating name to one value per trial, ``rating_scales`` each
    name to its (min, max). ``baseline_s``: the seconds before each start (continuous) or at
    the start of each array (lists) that are the pre-stimulus baseline; ``baseline`` is
    subtract (default when there is one), none or keep. ``subjects``: one number for all
    trials or one per trial; ``trial_ids`` default to 1, 2 … per subject. EEG is stored as
    given (``eeg_filter="deap"`` band-passes 4-45 Hz and re-references to the common
    average)."""
    import numpy as np

    from emotionkd.datasets.own import (
        check_unit_option,
        gsr_to_us,
        make_rules,
        resolve_gsr_unit,
    )
    from emotionkd.datasets.records import Trial, TrialList
    from emotionkd.errors import ConfigError
    from emotionkd.recordings import _check_fs

    fs = _check_fs(fs, "fs")
    unit = check_unit_option(gsr_unit, "gsr_unit")
    if not isinstance(ratings, dict):
        raise ConfigError("ratings: give a mapping rating name → one value per trial")
    unknown = [n for n in ratings if n not in rating_scales]
    if unknown:
        raise ConfigError(f"rating_scales: no scale for {', '.join(unknown)}")
    rules = make_rules({n: rating_scales[n] for n in ratings}, baseline_s=baseline_s)
    names = [str(c) for c in eeg_channels]
    parts = _array_trials(gsr, eeg, fs, trials, baseline_s, len(names))
    n = len(parts)
    subj = [int(subjects)] * n if isinstance(subjects, (int, np.integer)) else \
        [int(s) for s in subjects]
    if len(subj) != n:
        raise ConfigError(f"subjects: {len(subj)} numbers for {n} trials")
    if trial_ids is None:
        count: dict[int, int] = {}
        ids = []
        for s in subj:
            count[s] = count.get(s, 0) + 1
            ids.append(count[s])
    else:
        ids = [int(t) for t in trial_ids]
        if len(ids) != n:
            raise ConfigError(f"trial_ids: {len(ids)} numbers for {n} trials")
    keys = list(zip(subj, ids))
    if len(set(keys)) != n:
        raise ConfigError("trial_ids: a (subject, trial) pair appears twice")
    for name, vals in ratings.items():
        if len(vals) != n:
            raise ConfigError(f"ratings['{name}']: {len(vals)} values for {n} trials")
    table = {name: list(vals) for name, vals in ratings.items()}
    by_subject: dict[int, TrialList] = {}
    for k, ((e, g, onset), s, t) in enumerate(zip(parts, subj, ids)):
        r = [float(table[name][k]) for name in rules.rating_names]
        for name, scale, v in zip(rules.rating_names, rules.scales, r):
            lo, hi = scale if scale is not None else (-np.inf, np.inf)
            if not (np.isfinite(v) and lo <= v <= hi):
                raise ConfigError(f"ratings['{name}'][{k}] = {v:g} is not a number within "
                                  f"its scale {lo:g}-{hi:g}")
        by_subject.setdefault(s, TrialList()).append(Trial(
            subject=s, trial=t, eeg=e, gsr=g, fs=fs, ratings=np.asarray(r), onset=onset,
            eeg_channels=names, gsr_unit="us", source_file=f"arrays (subject {s})"))
    for s, tl in by_subject.items():  # the unit is settled per subject, as per file
        src = f"gsr (subject {s})"
        _, used, why = resolve_gsr_unit(np.concatenate([t.gsr for t in tl]), None, unit, src,
                                        "gsr_unit")
        for t in tl:
            t.gsr = gsr_to_us(t.gsr, used, src, "gsr_unit")
            t.extra["gsr_unit_reason"] = why
    jobs = sorted(by_subject)
    return _own_pipeline(
        [_SubjectJob((s,)) for s in jobs], lambda job: by_subject[job[0]], out, source=source,
        eeg_channels=names, rules=rules, fs=fs, target_fs=target_fs, baseline=baseline,
        eeg_filter=eeg_filter, reader="arrays", extra={"gsr_unit_option": gsr_unit},
        overwrite=overwrite, strict=False, skip_bad=False, workers=1, progress=progress)


class _SubjectJob(tuple):
    def __str__(self) -> str:
        return f"subject {self[0]}"


def write_store_from_raw(
    out: str | os.PathLike,
    raws: Any,
    options: RecordingOptions | None = None,
    *,
    events: Any = None,
    ratings: dict[str, Sequence[float]] | None = None,
    subjects: int | Sequence[int] | None = None,
    source: str = "own",
    overwrite: bool = False,
    progress: Progress = None,
    **settings: Any,
) -> PreprocessReport:
    """A store from MNE ``Raw`` objects (one or a list, subjects 1, 2 … unless
    ``subjects``): trials at their annotations (or ``stim_channel``'s events), ratings from
    ``events`` (a BIDS-style table per Raw: a TSV path, a mapping column → values or a list
    of row mappings, matched by onset) or, for one Raw, from ``ratings`` (name → one value
    per trial event, in order). ``options``/keywords as for :func:`preprocess_files`."""
    from emotionkd.datasets.mne_files import eeg_channels_of, gsr_channel_of, signals_from_raw
    from emotionkd.datasets.own import cut_trials
    from emotionkd.datasets.own import read_events_table as table_of
    from emotionkd.errors import ConfigError

    o = recording_options(options, settings)
    raw_list = list(raws) if isinstance(raws, (list, tuple)) else [raws]
    n = len(raw_list)
    if events is not None and ratings is not None:
        raise ConfigError("give the ratings either in events tables or as ratings, not both")
    if ratings is not None and n != 1:
        raise ConfigError("ratings: only for a single Raw; give an events table per Raw")
    if events is None or n == 1:
        tables = [events] * n
    else:
        tables = list(events)
        if len(tables) != n:
            raise ConfigError(f"events: {len(tables)} tables for {n} Raw objects; give one "
                              "per Raw")
    subj = ([1 + k for k in range(n)] if subjects is None else
            [int(subjects)] * n if isinstance(subjects, int) else [int(s) for s in subjects])
    if len(subj) != n:
        raise ConfigError(f"subjects: {len(subj)} numbers for {n} Raw objects")

    def scan(k: int, ro: dict) -> tuple[str, list[str], float]:
        src = f"Raw {k + 1}"
        gsr = gsr_channel_of(raw_list[k], ro["gsr_channel"], src)
        return (src, eeg_channels_of(raw_list[k], ro["eeg_channels"], gsr, src),
                float(raw_list[k].info["sfreq"]))

    def read(job: tuple) -> list:
        k, subject, first, rules, ro = job
        sig = signals_from_raw(raw_list[k], source=f"Raw {k + 1}",
                               eeg_channels=ro["eeg_channels"], gsr_channel=ro["gsr_channel"],
                               gsr_unit=ro["gsr_unit"], stim_channel=ro["stim_channel"])
        tab = None if tables[k] is None else table_of(tables[k], f"events table {k + 1}")
        return cut_trials(sig, subject, rules, tab, first_trial=first, ratings=ratings)

    return _from_recordings(
        list(range(n)), out, o, subject_ids=subj, scan=scan,
        job=lambda k, s, first, rules, ro: _RawJob((k, s, first, rules, ro)), read=read,
        match="onset", source=source, reader="mne-raw", extra={"subjects": subj},
        run={"overwrite": overwrite, "strict": False, "skip_bad": False, "workers": 1,
             "progress": progress})


class _RawJob(tuple):
    def __str__(self) -> str:
        return f"Raw {self[0] + 1}"
