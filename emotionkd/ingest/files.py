"""Recordings in files → store: any format MNE reads (EDF, BDF, BrainVision, EEGLAB, FIF) and
Lab Streaming Layer XDF, with the ratings from BIDS-style events tables."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emotionkd.datasets.own import Signals
from emotionkd.datasets.records import TrialList
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.ingest.common import (
    Progress,
    RecordingOptions,
    Run,
    from_recordings,
    recording_options,
)
from emotionkd.preprocess import Job, PreprocessReport


def _read_file_job(job: Job) -> TrialList:
    from emotionkd.datasets.own import cut_trials, read_events_table

    o = job.options
    path, table = o["item"]
    sig = _file_signals(Path(path), o["reading"])
    tab = read_events_table(table) if table is not None else None
    return cut_trials(sig, job.subject, o["rules"], tab, first_trial=o["first_trial"])


def _file_signals(path: Path, o: dict[str, Any]) -> Signals:
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


def _scan_file(item: tuple[str, str | None], o: dict[str, Any]) -> tuple[str, list[str], float]:
    """(source, EEG channel names, sampling rate) of a recording, from its header."""
    path = Path(item[0])
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


def _events_tables(paths: Sequence[Path], events: str | os.PathLike | dict | None,
                   needed: bool) -> list[Path | None]:
    """The events table of each recording: ``events`` (one path for a single recording, or
    a mapping recording → table), else the sidecar found beside it."""
    from emotionkd.datasets.mne_files import find_events_table

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


def _subject_list(paths: Sequence[Path], subjects: int | Sequence[int] | dict | None
                  ) -> list[int]:
    """One subject number per recording: ``subjects`` (an int for all, a sequence, or a
    mapping path → number) or the number in each file name."""
    from emotionkd.datasets.own import subject_from_name

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
    return from_recordings(
        [(str(p), (str(p), None if t is None else str(t))) for p, t in zip(paths, tables)], o,
        Run(out, source, overwrite, strict, skip_bad, workers, progress),
        subject_ids=subject_ids, scan=_scan_file, read=_read_file_job,
        match="order" if has_xdf else "onset", reader="files",
        extra={"files": [str(p) for p in paths],
               "events_tables": [None if t is None else str(t) for t in tables],
               "subjects": dict(zip(map(str, paths), subject_ids))},
        inputs=[*paths, *(t for t in tables if t is not None)])
