"""Readers of single GSR/EDA recordings for ``emotionkd predict``.

Supported inputs:

* **Empatica E4** ``EDA.csv``: row 1 the session's start as a Unix time, row 2 the sampling
  rate in Hz, then one value per row in µS;
* **generic CSV** (comma, semicolon or tab separated, with or without a header): the GSR column
  by ``column`` (name or 0-based index) and the rate by ``fs`` or from a ``time_column`` in
  seconds;
* **EDF/BDF** (via MNE, the ``[bdf]`` extra): the channel by ``channel`` (default: the first
  channel whose name looks like GSR/EDA), its unit from the header.

Values are returned as skin conductance in µS (Ohm → 10⁶/Ohm, nS → /1000, kOhm → 10³/kOhm),
with the unit decision recorded.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotionkd.errors import DataFormatError

FORMATS = ("auto", "e4", "csv", "edf", "bdf")
_GSR_NAMES = ("gsr", "eda", "gsr1", "skin conductance", "sc", "electrodermal")


@dataclass
class Recording:
    """One GSR recording: conductance in µS at ``fs`` Hz."""

    values: np.ndarray  # float64 µS
    fs: float
    source: str
    fmt: str
    channel: str
    unit: str  # unit of the file, before conversion
    start_time: float | None = None  # Unix time of the first sample, when the file says
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.values) / self.fs


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return suffix[1:]
    if suffix in (".csv", ".txt", ".tsv"):
        return "e4" if _looks_like_e4(path) else "csv"
    raise DataFormatError(
        f"{path}: unknown recording format '{suffix or '(no extension)'}'; supported: Empatica "
        "E4 EDA.csv, CSV/TSV (with --column and --fs or --time-column), EDF, BDF; or pass "
        "--format"
    )


def _looks_like_e4(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline().strip() for _ in range(3)]
    except OSError:
        return False
    try:
        start = float(head[0].split(",")[0])
        rate = float(head[1].split(",")[0])
        float(head[2].split(",")[0])
    except (ValueError, IndexError):
        return False
    return start > 1e8 and 0 < rate <= 1000 and head[0].count(",") == head[1].count(",")


def to_microsiemens(values: np.ndarray, unit: str, source: str) -> tuple[np.ndarray, str]:
    """Convert to µS. ``unit`` "auto" decides by magnitude (see preprocess.detect_gsr_unit)."""
    from emotionkd.preprocess import detect_gsr_unit, gsr_to_microsiemens

    u = unit.strip().lower().replace("µ", "u").replace("μ", "u")
    aliases = {"us": "us", "usiemens": "us", "microsiemens": "us", "ohm": "ohm", "ohms": "ohm",
               "ns": "ns", "kohm": "kohm", "auto": "auto", "": "auto"}
    if u not in aliases:
        raise DataFormatError(f"{source}: unknown GSR unit {unit!r}; use us, ohm, kohm or ns")
    u = aliases[u]
    if u == "auto":
        u, _ = detect_gsr_unit(values[np.isfinite(values)], source, option="--unit")
    if u == "kohm":
        return gsr_to_microsiemens(values * 1000.0, "ohm", source), "kohm"
    return gsr_to_microsiemens(values, u, source), u


def read_recording(
    path: str | os.PathLike,
    fmt: str = "auto",
    column: str | None = None,
    fs: float | None = None,
    time_column: str | None = None,
    channel: str | None = None,
    unit: str = "auto",
) -> Recording:
    """Read a GSR recording (see module docstring); every problem is a one-line error."""
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such recording")
    if p.is_dir():
        raise DataFormatError(f"{p}: is a folder; pass the recording file (e.g. EDA.csv)")
    if fmt not in FORMATS:
        raise DataFormatError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fs is not None:
        from emotionkd.config import check_number

        fs = check_number(fs, "--fs", low=0, low_open=True, high=100_000,
                          why=" (the recording's sampling rate in Hz)")
    kind = detect_format(p) if fmt == "auto" else fmt
    if kind == "e4":
        rec = _read_e4(p, unit)
    elif kind == "csv":
        rec = _read_csv(p, column, fs, time_column, unit)
    else:
        rec = _read_edf(p, channel, unit)
    if len(rec.values) == 0:
        raise DataFormatError(f"{p}: the recording has no samples")
    bad = ~np.isfinite(rec.values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{p}: {int(bad.sum())} non-finite GSR value(s) (first at sample {i}, "
            f"{i / rec.fs:.2f} s); clean or interpolate them first"
        )
    return rec


def _read_e4(p: Path, unit: str) -> Recording:
    with open(p, encoding="utf-8", errors="replace") as fh:
        head = fh.read(4096)
    if "." not in head and "," in head.split("\n", 1)[-1]:
        raise DataFormatError(f"{p}: the numbers seem to use decimal commas (e.g. 4,000000); "
                              "write them with decimal points (4.000000)")
    try:
        raw = np.loadtxt(p, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DataFormatError(f"{p}: not an Empatica E4 EDA.csv ({exc})") from None
    if raw.shape[0] < 3:
        raise DataFormatError(f"{p}: an E4 file needs a start-time row, a rate row and data")
    start, rate = float(raw[0, 0]), float(raw[1, 0])
    if not 0 < rate <= 1000:
        raise DataFormatError(f"{p}: E4 sampling-rate row says {rate}; expected e.g. 4")
    values, u = to_microsiemens(raw[2:, 0], "us" if unit == "auto" else unit, str(p))
    return Recording(values, rate, str(p), "e4", "EDA", u, start_time=start)


def _sniff(text: str) -> tuple[str, bool]:
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        delim = dialect.delimiter
    except csv.Error:
        delim = ","
    first = sample.splitlines()[0] if sample else ""
    cells = [c.strip() for c in first.split(delim)]
    has_header = any(_not_number(c) for c in cells if c)
    return delim, has_header


def _not_number(s: str) -> bool:
    try:
        float(s)
        return False
    except ValueError:
        return True


def _read_csv(p: Path, column: str | None, fs: float | None, time_column: str | None,
              unit: str) -> Recording:
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None
    delim, has_header = _sniff(text)
    rows = list(csv.reader(io.StringIO(text), delimiter=delim))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataFormatError(f"{p}: the file is empty")
    header = [c.strip() for c in rows[0]] if has_header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    _refuse_decimal_commas(p, text, delim, header, body, has_header)
    col = _pick_column(p, header, column, has_header)
    tcol = _pick_column(p, header, time_column, has_header, what="--time-column") \
        if time_column is not None else None
    try:
        values = np.array([float(r[col]) if r[col].strip() else np.nan for r in body])
        times = np.array([float(r[tcol]) for r in body]) if tcol is not None else None
    except (ValueError, IndexError) as exc:
        raise DataFormatError(f"{p}: column '{header[col]}' has a non-numeric or missing value "
                              f"({exc})") from None
    if times is not None:
        dt = np.diff(times)
        if len(dt) == 0 or (dt <= 0).any():
            raise DataFormatError(f"{p}: time column '{header[tcol]}' is not strictly increasing")
        rate = 1.0 / float(np.median(dt))
        if np.abs(dt - 1 / rate).max() > 0.01 / rate:
            raise DataFormatError(f"{p}: samples are not evenly spaced in '{header[tcol]}'; "
                                  "resample the recording to a fixed rate first")
        if fs is not None and abs(fs - rate) > 1e-3 * rate:
            raise DataFormatError(f"{p}: --fs {fs} disagrees with the time column ({rate:.4g} Hz)")
        fs = rate
    if fs is None:
        raise DataFormatError(f"{p}: the sampling rate is unknown; pass --fs HZ or "
                              "--time-column NAME")
    if fs <= 0:
        raise DataFormatError(f"--fs must be positive, got {fs}")
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        raise DataFormatError(f"{p}: column '{header[col]}' holds no numbers")
    conv, u = to_microsiemens(values, unit, f"{p} column '{header[col]}'")
    return Recording(conv, float(fs), str(p), "csv", header[col], u)


_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _refuse_decimal_commas(p: Path, text: str, delim: str, header: list[str],
                           body: list[list[str]], has_header: bool) -> None:
    """Numbers written with decimal commas (5,012) must never be read as their integer parts:
    refuse them with a one-line error."""
    hint = ("the numbers seem to use decimal commas (e.g. 5,012); write them with decimal "
            "points (5.012)")
    if delim != ",":
        for row in body[:1000]:
            for cell in row:
                if _DECIMAL_COMMA.match(cell.strip()):
                    raise DataFormatError(f"{p}: {hint}")
        return
    longer = [r for r in body[:1000] if len(r) > len(header)]
    if has_header and longer and all(c.strip().lstrip("+-").isdigit() for c in longer[0]):
        raise DataFormatError(f"{p}: rows have more fields than the header "
                              f"({', '.join(header)}): {hint}")
    # no header, every row "digits,digits" and no decimal point anywhere: 5,012 read as two
    # integer columns; a leading zero after the comma gives it away
    if not has_header and "." not in text and all(
            len(r) == 2 and r[0].strip().lstrip("+-").isdigit() and r[1].strip().isdigit()
            for r in body[:1000]) and any(len(r[1].strip()) > 1 and r[1].strip()[0] == "0"
                                          for r in body[:1000]):
        raise DataFormatError(f"{p}: {hint}")


def _pick_column(p: Path, header: list[str], column: str | None, has_header: bool,
                 what: str = "--column") -> int:
    if column is None:
        if len(header) == 1:
            return 0
        for i, h in enumerate(header):
            if h.strip().lower() in _GSR_NAMES:
                return i
        raise DataFormatError(f"{p}: several columns ({', '.join(header)}) and none is named "
                              f"GSR/EDA; pass {what} NAME")
    lower = [h.lower() for h in header]
    if column.lower() in lower:
        return lower.index(column.lower())
    if column.isdigit() and int(column) < len(header):
        return int(column)
    raise DataFormatError(f"{p}: no column '{column}' (columns: {', '.join(header)}); "
                          f"pass {what} with one of these")


def _read_edf(p: Path, channel: str | None, unit: str) -> Recording:
    from emotionkd.errors import require_module

    mne = require_module("mne", "bdf", "Reading EDF/BDF recordings")
    reader = mne.io.read_raw_bdf if p.suffix.lower() == ".bdf" else mne.io.read_raw_edf
    try:
        raw = reader(p, preload=False, verbose="error")
    except Exception as exc:  # MNE raises many types for corrupt headers
        raise DataFormatError(f"{p}: not a readable EDF/BDF file ({exc})") from None
    names = list(raw.ch_names)
    if channel is None:
        cand = [n for n in names if n.strip().lower() in _GSR_NAMES or "gsr" in n.lower()
                or "eda" in n.lower()]
        if not cand:
            raise DataFormatError(f"{p}: no GSR/EDA channel found (channels: {', '.join(names)});"
                                  " pass --channel NAME")
        channel = cand[0]
    match = [n for n in names if n.lower() == channel.lower()]
    if not match:
        raise DataFormatError(f"{p}: no channel '{channel}' (channels: {', '.join(names)})")
    name = match[0]
    try:
        data = raw.get_data(picks=[name])[0]
    except Exception as exc:
        raise DataFormatError(f"{p}: cannot read channel '{name}' ({exc}); the file may be "
                              "truncated") from None
    orig = (raw._orig_units or {}).get(name, "") if hasattr(raw, "_orig_units") else ""
    ch_type = raw.get_channel_types(picks=[name])[0]
    # MNE scales volt-like units to V; GSR units (Ohm, uS, nS) come back unscaled
    file_unit = orig or "auto"
    if unit != "auto":
        file_unit = unit
    elif ch_type in ("eeg", "ecg", "emg", "eog", "misc") and orig.lower() in ("uv", "µv", "mv"):
        raise DataFormatError(f"{p}: channel '{name}' is in {orig}, not a GSR unit; pass "
                              "--unit if it really is skin conductance or resistance")
    values, u = to_microsiemens(np.asarray(data, dtype=np.float64), file_unit, f"{p} '{name}'")
    start = raw.info.get("meas_date")
    return Recording(values, float(raw.info["sfreq"]), str(p), p.suffix.lower()[1:], name, u,
                     start_time=start.timestamp() if start is not None else None)
