"""Readers of single GSR/EDA recordings for ``emotionkd predict`` and the Python API.

Supported inputs (the sampling rate and unit come from the file wherever it records them):

* **Empatica E4**: ``EDA.csv`` (row 1 the session's start as a Unix time, row 2 the sampling
  rate in Hz, then one value per row in µS), the session ``.zip`` that E4 connect exports, or
  the unzipped session folder (``EDA.csv`` inside);
* **OpenSignals** text exports of PLUX devices (BITalino, biosignalsplux): a JSON header with
  the sampling rate, channel labels, sensor types and ADC resolutions; the EDA channel is
  picked by sensor type, else label (``channel`` overrides) and its raw ADC counts are
  converted to µS with the transfer function of its sensor, else of the device's family
  (:mod:`~emotionkd.recordings.plux`);
* **EDF/BDF** (via MNE, the ``[bdf]`` extra): the channel by ``channel`` (default: the channel
  whose label looks like GSR/EDA), its unit from the header;
* **generic CSV/TSV** (comma, semicolon, tab or space separated, with or without a header):
  the GSR column by ``column`` (name or 0-based index), the rate by ``fs`` or from a
  ``time_column`` in seconds; ``decimal=","`` reads decimal commas, and a file that looks like
  it has decimal commas is refused under the default ``decimal="auto"`` (never truncated).

Values are returned as skin conductance in µS (Ohm → 10⁶/Ohm, kOhm → 10³/kOhm, nS → /1000,
S → ·10⁶).
A unit the file does not state is inferred from the signal's median only where that is
unambiguous (:func:`emotionkd.signals.infer_gsr_unit`); otherwise the reader refuses and
names ``--unit``. Every decision is recorded in ``Recording.notes``.

One module per format (:mod:`~emotionkd.recordings.e4`, :mod:`~emotionkd.recordings.opensignals`
over the PLUX tables of :mod:`~emotionkd.recordings.plux`, :mod:`~emotionkd.recordings.text`
for CSV/TSV); :mod:`~emotionkd.recordings.base` holds :class:`Recording`, the user's unit and
the conversion of MNE ``Raw`` objects (EDF/BDF).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emotionkd.choices import DECIMALS, RECORDING_FORMATS
from emotionkd.errors import DataFormatError
from emotionkd.ondisk import check_regular
from emotionkd.recordings.base import Recording, check_fs, from_raw, option_unit, validated
from emotionkd.recordings.e4 import find_eda, looks_like_e4, read_e4
from emotionkd.recordings.opensignals import MAGIC, read_opensignals
from emotionkd.recordings.text import read_csv
from emotionkd.validation import check_choice

__all__ = ["SUPPORTED", "Recording", "detect_format", "read_recording"]

SUPPORTED = ("Empatica E4 (EDA.csv, session .zip or folder), OpenSignals text (.txt, PLUX/"
             "BITalino), CSV/TSV (.csv, .tsv, .txt), EDF (.edf), BDF (.bdf)")


def detect_format(path: Path) -> str:
    """The reader for ``path`` from its extension and first lines."""
    if path.is_dir():
        if find_eda(path) is not None:
            return "e4"
        raise DataFormatError(f"{path}: is a folder without an EDA.csv; pass a recording file "
                              f"({SUPPORTED})")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return "e4"
    if suffix in (".edf", ".bdf"):
        return suffix[1:]
    if suffix in (".csv", ".txt", ".tsv"):
        first = _first_line(path)
        if first.startswith(MAGIC):
            return "opensignals"
        return "e4" if looks_like_e4(path) else "csv"
    raise DataFormatError(
        f"{path}: unsupported recording format '{suffix or '(no extension)'}'; supported: "
        f"{SUPPORTED}; or pass --format"
    )


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline(1 << 16).strip()  # bounded: a file may have no newline
    except OSError:
        return ""


def read_recording(
    path: str | os.PathLike | Any,
    fmt: str = "auto",
    column: str | None = None,
    fs: float | None = None,
    time_column: str | None = None,
    channel: str | None = None,
    unit: str = "auto",
    decimal: str = "auto",
) -> Recording:
    """Read a GSR recording (see the module docstring); every problem is a one-line error.

    ``path`` may also be an MNE ``Raw`` object (see :meth:`Recording.from_mne`)."""
    if hasattr(path, "ch_names") and hasattr(path, "get_data"):
        return Recording.from_mne(path, channel=channel, unit=unit)
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such recording")
    check_regular(p, "the recording", "pass a recording file")
    check_choice(fmt, "--format", RECORDING_FORMATS)
    check_choice(decimal, "--decimal", DECIMALS)
    u = option_unit(unit)
    if fs is not None:
        fs = check_fs(fs, "fs")
    kind = detect_format(p) if fmt == "auto" else fmt
    if p.is_dir() and kind != "e4":
        raise DataFormatError(f"{p}: is a folder; pass the recording file ({SUPPORTED})")
    if kind == "e4":
        rec = read_e4(p, u)
    elif kind == "opensignals":
        rec = read_opensignals(p, channel, u)
    elif kind == "csv":
        rec = read_csv(p, column, fs, time_column, u, decimal)
    else:
        rec = _read_edf(p, channel, u)
    return validated(rec)


def _read_edf(p: Path, channel: str | None, unit: str) -> Recording:
    from emotionkd.errors import require_module

    mne = require_module("mne", "bdf", "Reading EDF/BDF recordings")
    if p.suffix.lower() == ".bdf":  # a truncated file, refused as preprocess refuses it
        from emotionkd.datasets.bdf import read_bdf_header

        read_bdf_header(p)
    reader = mne.io.read_raw_bdf if p.suffix.lower() == ".bdf" else mne.io.read_raw_edf
    try:
        raw = reader(p, preload=False, verbose="error")
    except Exception as exc:  # MNE raises many types for corrupt headers
        raise DataFormatError(f"{p}: not a readable EDF/BDF file ({exc})") from None
    return from_raw(raw, str(p), p.suffix.lower()[1:], channel, unit)
