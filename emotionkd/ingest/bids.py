"""An EEG-BIDS dataset → store (mne-bids, the ``bids`` extra): recordings with their channel
types and units from channels.tsv and their trials and ratings from events.tsv."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emotionkd.datasets.records import TrialList
from emotionkd.errors import DataFormatError
from emotionkd.ingest.common import (
    Progress,
    RecordingOptions,
    Run,
    from_recordings,
    recording_options,
)
from emotionkd.preprocess import Job, PreprocessReport

#: the EEG file types of a BIDS dataset that are read
BIDS_EXTENSIONS = [".vhdr", ".edf", ".bdf", ".set", ".fif"]


def _bids_path(fpath: str, root: str) -> Any:  # mne_bids.BIDSPath
    from mne_bids import get_bids_path_from_fname

    return get_bids_path_from_fname(fpath).update(root=root)


def _read_bids_raw(bp: Any) -> Any:  # mne.io.Raw
    import warnings

    from mne_bids import read_raw_bids

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mne-bids notes on optional sidecar fields
        try:
            return read_raw_bids(bp, verbose="error")
        except Exception as exc:  # mne-bids raises many types on incomplete datasets
            raise DataFormatError(f"{bp.fpath}: mne-bids cannot read it "
                                  f"({type(exc).__name__}: {exc})") from None


def _bids_gsr_unit(bp: Any, channel: str) -> str | None:
    """The GSR channel's unit in the recording's channels.tsv (None when absent)."""
    from emotionkd.datasets.own import read_events_table

    tsv = bp.copy().update(suffix="channels", extension=".tsv").fpath
    if not Path(tsv).is_file():
        return None
    rows = read_events_table(tsv).rows
    unit = next((r.get("units") for r in rows if str(r.get("name")) == channel), None)
    return None if unit is None else str(unit)


def _read_bids_job(job: Job) -> TrialList:
    from emotionkd.datasets.mne_files import gsr_channel_of, signals_from_raw
    from emotionkd.datasets.own import cut_trials, read_events_table

    o = job.options
    fpath, root = o["item"]
    ro = o["reading"]
    bp = _bids_path(fpath, root)
    raw = _read_bids_raw(bp)
    gsr = gsr_channel_of(raw, ro["gsr_channel"], fpath)
    sig = signals_from_raw(raw, source=fpath, eeg_channels=ro["eeg_channels"], gsr_channel=gsr,
                           gsr_unit=ro["gsr_unit"], declared_gsr_unit=_bids_gsr_unit(bp, gsr))
    events = bp.copy().update(suffix="events", extension=".tsv").fpath
    if not Path(events).is_file():
        raise DataFormatError(f"{fpath}: no events.tsv ({events}) with the ratings")
    return cut_trials(sig, job.subject, o["rules"], read_events_table(events),
                      first_trial=o["first_trial"])


def _scan_bids(item: tuple[str, str], ro: dict[str, Any]) -> tuple[str, list[str], float]:
    from emotionkd.datasets.mne_files import eeg_channels_of, gsr_channel_of

    fpath = item[0]
    raw = _read_bids_raw(_bids_path(*item))
    gsr = gsr_channel_of(raw, ro["gsr_channel"], fpath)
    return fpath, eeg_channels_of(raw, ro["eeg_channels"], gsr, fpath), \
        float(raw.info["sfreq"])


def _find_recordings(root: Path, task: str | None, subjects: Sequence[str] | None,
                     sessions: Sequence[str] | None, runs: Sequence[str] | None) -> list[Any]:
    """The EEG recordings of the dataset that match the filters, sorted by path."""
    from emotionkd.errors import require_module

    mne_bids = require_module("mne_bids", "bids", "Reading EEG-BIDS datasets")
    if not (root / "dataset_description.json").is_file():
        raise DataFormatError(f"{root}: not a BIDS dataset (no dataset_description.json); "
                              "point --raw at the dataset's root folder")
    found = mne_bids.find_matching_paths(
        root, subjects=subjects, sessions=sessions, tasks=task, runs=runs, datatypes="eeg",
        suffixes="eeg", extensions=BIDS_EXTENSIONS)
    found = sorted(found, key=lambda b: str(b.fpath))
    if not found:
        raise DataFormatError(f"{root}: no EEG recordings (sub-*/eeg/*_eeg.*) match "
                              f"task={task}, subjects={subjects}, sessions={sessions}, "
                              f"runs={runs}")
    return found


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
    recorded in the store. ``options``/keywords as for
    :func:`~emotionkd.ingest.preprocess_files`."""
    o = recording_options(options, settings)
    root = Path(root)
    found = _find_recordings(root, task, subjects, sessions, runs)
    labels = sorted({bp.subject for bp in found})
    numbers = ({lab: int(lab) for lab in labels} if all(lab.isdigit() for lab in labels)
               else {lab: k for k, lab in enumerate(labels, start=1)})
    return from_recordings(
        [(str(bp.fpath), (str(bp.fpath), str(root))) for bp in found], o,
        Run(out, source, overwrite, strict, skip_bad, workers, progress),
        subject_ids=[numbers[bp.subject] for bp in found], scan=_scan_bids,
        read=_read_bids_job, match="onset", reader="bids",
        extra={"raw": str(root.resolve()),
               "files": [str(bp.fpath.relative_to(root)) for bp in found],
               "bids_subjects": {f"sub-{lab}": n for lab, n in numbers.items()}},
        inputs=[bp.fpath for bp in found])
