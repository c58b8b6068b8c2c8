"""Readers of single GSR/EDA recordings for ``emotionkd predict`` and the Python API.

Supported inputs (the sampling rate and unit come from the file wherever it records them):

* **Empatica E4**: ``EDA.csv`` (row 1 the session's start as a Unix time, row 2 the sampling
  rate in Hz, then one value per row in µS), the session ``.zip`` that E4 connect exports, or
  the unzipped session folder (``EDA.csv`` inside);
* **OpenSignals** text exports of PLUX devices (BITalino, biosignalsplux): a JSON header with
  the sampling rate, channel labels, sensor types and ADC resolutions; the EDA channel is
  picked by sensor type, else label (``channel`` overrides) and its raw ADC counts are
  converted to µS with the transfer function of its sensor, else of the device's family
  (:mod:`emotionkd.plux`);
* **EDF/BDF** (via MNE, the ``[bdf]`` extra): the channel by ``channel`` (default: the channel
  whose label looks like GSR/EDA), its unit from the header;
* **generic CSV/TSV** (comma, semicolon, tab or space separated, with or without a header):
  the GSR column by ``column`` (name or 0-based index), the rate by ``fs`` or from a
  ``time_column`` in seconds; ``decimal=","`` reads decimal commas, and a file that looks like
  it has decimal commas is refused under the default ``decimal="auto"`` (never truncated).

Values are returned as skin conductance in µS (Ohm → 10⁶/Ohm, kOhm → 10³/kOhm, nS → /1000).
A unit the file does not state is inferred from the signal's median only where that is
unambiguous (:func:`infer_unit`); otherwise the reader refuses and names ``--unit``. Every
decision is recorded in ``Recording.notes``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd import plux
from emotionkd.errors import ConfigError, DataFormatError

FORMATS = ("auto", "e4", "opensignals", "csv", "edf", "bdf")
SUPPORTED = ("Empatica E4 (EDA.csv, session .zip or folder), OpenSignals text (.txt, PLUX/"
             "BITalino), CSV/TSV (.csv, .tsv, .txt), EDF (.edf), BDF (.bdf)")
UNITS = ("auto", "us", "ohm", "kohm", "ns")
DECIMALS = ("auto", ".", ",")
_GSR_NAMES = ("gsr", "eda", "gsr1", "skin conductance", "sc", "electrodermal")
_UNIT_ALIASES = {"us": "us", "usiemens": "us", "microsiemens": "us", "umho": "us",
                 "ohm": "ohm", "ohms": "ohm", "ω": "ohm", "kohm": "kohm", "kohms": "kohm",
                 "kω": "kohm", "ns": "ns", "nanosiemens": "ns", "auto": "auto", "": "auto"}
_VOLT_UNITS = ("v", "mv", "uv", "nv")

#: :func:`infer_unit`: a median below this is skin conductance in µS ...
US_MAX_MEDIAN = 20.0
#: ... and a median above this is skin resistance in Ohm (below 20 µS); between the two, µS,
#: nS, kOhm and Ohm are all physiologically possible and the unit must be given
OHM_MIN_MEDIAN = 50_000.0

_E4_OTHER_STREAMS = ("acc.csv", "bvp.csv", "hr.csv", "ibi.csv", "temp.csv", "tags.csv")


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

    @classmethod
    def from_array(cls, values: Any, fs: float, unit: str = "us", source: str = "array",
                   channel: str = "GSR") -> Recording:
        """A recording from a 1-D numpy signal sampled at ``fs`` Hz, converted to µS."""
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 1:
            raise DataFormatError(f"{source}: expected a 1-D GSR signal, got shape {x.shape}")
        fs = _check_fs(fs, "fs")
        conv, u, why = to_microsiemens(x, _option_unit(unit), source)
        rec = cls(conv, fs, source, "array", channel, u, notes=[why] if why else [])
        return _validated(rec)

    @classmethod
    def from_mne(cls, raw: Any, channel: str | None = None, unit: str = "auto") -> Recording:
        """A recording from an MNE ``Raw`` object: the GSR/EDA channel by label (``channel``
        overrides), its unit from the channel's original unit when MNE kept it."""
        src = str((raw.filenames[0] if getattr(raw, "filenames", None) else None)
                  or "MNE Raw")
        return _validated(_from_raw(raw, src, "mne", channel, _option_unit(unit)))


def _check_fs(fs: float, what: str) -> float:
    try:
        f = float(fs)
    except (TypeError, ValueError):
        raise ConfigError(f"--{what} must be a number of Hz, not {fs!r}") from None
    if not np.isfinite(f) or f <= 0:
        raise ConfigError(f"--{what} must be a positive sampling rate in Hz, got {fs}")
    return f


def _option_unit(unit: str) -> str:
    """A unit given by the user (``--unit``), normalised; unknown names are refused."""
    u = _normalise_unit(unit)
    if u not in _UNIT_ALIASES:
        raise ConfigError(f"--unit must be one of {', '.join(UNITS)}, not {unit!r}")
    return _UNIT_ALIASES[u]


def _normalise_unit(unit: str | None) -> str:
    return (unit or "").strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def infer_unit(values: np.ndarray, source: str) -> tuple[str, str]:
    """The unit of a GSR signal whose file does not state it, from its median, where that is
    unambiguous; otherwise a DataFormatError naming ``--unit``.

    Skin conductance lies within about 0.05–50 µS. Read as each candidate unit, a median m is
    plausible as µS for m < 20 (as kOhm it would be above 50 µS), as Ohm for m > 50,000 (as
    nS it would be above 50 µS); in between µS, nS, kOhm and Ohm all give plausible
    conductances, so the unit must be given.
    """
    finite = values[np.isfinite(values)]
    med = float(np.median(finite)) if len(finite) else float("nan")
    if not np.isfinite(med):
        raise DataFormatError(f"{source}: the GSR signal holds no finite values")
    if 0.0 < med < US_MAX_MEDIAN:
        return "us", f"unit inferred: median {med:.4g} < {US_MAX_MEDIAN:g}, skin conductance in µS"
    if med > OHM_MIN_MEDIAN:
        return "ohm", (f"unit inferred: median {med:.4g} > {OHM_MIN_MEDIAN:,.0f}, skin "
                       "resistance in Ohm")
    if med <= 0:
        raise DataFormatError(f"{source}: GSR median is {med:.4g} (not positive), neither a "
                              "conductance nor a resistance; check the channel or pass --unit "
                              "us|ohm|kohm|ns")
    as_us = {"µS": med, "nS": med / 1e3, "kOhm": 1e3 / med, "Ohm": 1e6 / med}
    fits = [f"{u} ({v:.3g} µS)" for u, v in as_us.items() if 0.05 <= v <= 50]
    raise DataFormatError(
        f"{source}: cannot tell the GSR unit from the values (median {med:.4g} is a plausible "
        f"skin conductance as {' or '.join(fits) or 'no unit'}); pass --unit us|ohm|kohm|ns"
    )


def to_microsiemens(values: np.ndarray, unit: str, source: str) -> tuple[np.ndarray, str, str]:
    """Convert to µS; returns (values, unit used, reason when inferred). ``unit`` is one of
    :data:`UNITS` ("auto" infers it with :func:`infer_unit`)."""
    from emotionkd.preprocess import gsr_to_microsiemens

    why = ""
    if unit == "auto":
        unit, why = infer_unit(values, source)
    if unit == "kohm":
        return gsr_to_microsiemens(values * 1000.0, "ohm", source, "--unit"), "kohm", why
    return gsr_to_microsiemens(values, unit, source, "--unit"), unit, why


def detect_format(path: Path) -> str:
    """The reader for ``path`` from its extension and first lines."""
    if path.is_dir():
        if _find_e4_eda(path) is not None:
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
        if first.startswith(plux.MAGIC):
            return "opensignals"
        return "e4" if _looks_like_e4(path) else "csv"
    raise DataFormatError(
        f"{path}: unsupported recording format '{suffix or '(no extension)'}'; supported: "
        f"{SUPPORTED}; or pass --format"
    )


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            return fh.readline().strip()
    except OSError:
        return ""


def _looks_like_e4(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline().strip() for _ in range(3)]
    except OSError:
        return False
    return _e4_head(head)


def _e4_head(head: list[str]) -> bool:
    try:
        start = float(head[0].split(",")[0])
        rate = float(head[1].split(",")[0])
        float(head[2].split(",")[0])
    except (ValueError, IndexError):
        return False
    return start > 1e8 and 0 < rate <= 1000 and head[0].count(",") == head[1].count(",")


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
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if decimal not in DECIMALS:
        raise ConfigError(f"--decimal must be one of {', '.join(DECIMALS)}, not {decimal!r}")
    u = _option_unit(unit)
    if fs is not None:
        fs = _check_fs(fs, "fs")
    kind = detect_format(p) if fmt == "auto" else fmt
    if p.is_dir() and kind != "e4":
        raise DataFormatError(f"{p}: is a folder; pass the recording file ({SUPPORTED})")
    if kind == "e4":
        rec = _read_e4(p, u)
    elif kind == "opensignals":
        rec = _read_opensignals(p, channel, u)
    elif kind == "csv":
        rec = _read_csv(p, column, fs, time_column, u, decimal)
    else:
        rec = _read_edf(p, channel, u)
    return _validated(rec)


def _validated(rec: Recording) -> Recording:
    if len(rec.values) == 0:
        raise DataFormatError(f"{rec.source}: the recording has no samples")
    bad = ~np.isfinite(rec.values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{rec.source}: {int(bad.sum())} non-finite GSR value(s) (first at sample {i}, "
            f"{i / rec.fs:.2f} s); clean or interpolate them first"
        )
    return rec


# ---------------------------------------------------------------------------------------------
# Empatica E4


def _find_e4_eda(folder: Path) -> Path | None:
    direct = [c for c in folder.iterdir() if c.name.lower() == "eda.csv" and c.is_file()]
    return direct[0] if direct else None


def _read_e4(p: Path, unit: str) -> Recording:
    if p.is_dir():
        eda = _find_e4_eda(p)
        if eda is None:
            raise DataFormatError(f"{p}: no EDA.csv in this folder; pass an E4 session folder, "
                                  "its .zip or its EDA.csv")
        return _read_e4(eda, unit)
    if p.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                eda = sorted((n for n in names if n.rsplit("/", 1)[-1].lower() == "eda.csv"),
                             key=lambda n: n.count("/"))
                if not eda:
                    shown = ", ".join(names[:8]) + (" …" if len(names) > 8 else "")
                    raise DataFormatError(f"{p}: no EDA.csv in the zip ({shown or 'empty'}); "
                                          "pass an Empatica E4 session export")
                text = zf.read(eda[0]).decode("utf-8", errors="replace")
        except zipfile.BadZipFile as exc:
            raise DataFormatError(f"{p}: not a readable zip file ({exc})") from None
        return _parse_e4(text, f"{p}:{eda[0]}", unit)
    if p.name.lower() in _E4_OTHER_STREAMS:
        raise DataFormatError(f"{p}: is the E4 {p.stem} stream, not skin conductance; pass "
                              "EDA.csv of the same session")
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None
    return _parse_e4(text, str(p), unit)


def _parse_e4(text: str, source: str, unit: str) -> Recording:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 3 or not _e4_head(lines[:3]):
        raise DataFormatError(f"{source}: not an Empatica E4 EDA.csv (expected a Unix start "
                              "time row, a sampling-rate row, then one value per row)")
    width = lines[0].count(",") + 1
    if width != 1:
        raise DataFormatError(f"{source}: has {width} columns; an E4 EDA.csv has one (is this "
                              "ACC.csv?)")
    try:
        raw = np.array([float(v) for v in lines[2:]], dtype=np.float64)
    except ValueError as exc:
        raise DataFormatError(f"{source}: not an Empatica E4 EDA.csv ({exc})") from None
    start, rate = float(lines[0]), float(lines[1])
    if not 0 < rate <= 1000:
        raise DataFormatError(f"{source}: E4 sampling-rate row says {rate}; expected e.g. 4")
    values, u, why = to_microsiemens(raw, "us" if unit == "auto" else unit, source)
    notes = [why or f"unit {u} ({'E4 EDA.csv is in µS' if unit == 'auto' else 'from --unit'})"]
    return Recording(values, rate, source, "e4", "EDA", u, start_time=start, notes=notes)


# ---------------------------------------------------------------------------------------------
# OpenSignals (PLUX: BITalino, biosignalsplux)


def _read_opensignals(p: Path, channel: str | None, unit: str) -> Recording:
    """The EDA channel of an OpenSignals text export in µS; header, channel choice and the
    PLUX transfer functions are in :mod:`emotionkd.plux`."""
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None
    lines = text.splitlines()
    head = plux.parse_header(lines, p)
    ch = plux.pick_eda_channel(head, channel, p)
    fs = head.sampling_rate(ch, p)
    body = "\n".join(lines[head.data_start:])
    try:
        raw = np.loadtxt(io.StringIO(body), usecols=[ch.column], ndmin=1, dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise DataFormatError(f"{p}: cannot read column {ch.column + 1} ({ch.label}) of the "
                              f"data ({str(exc).splitlines()[0][:120]})") from None
    device = head.device_name(ch)
    src = f"{p} channel {ch.label}"
    if unit != "auto" or head.converted(ch):  # an export already in physical units
        u = unit if unit != "auto" else "us"
        values, u, _ = to_microsiemens(raw, u, src)
        why = "from --unit" if unit != "auto" else \
            "the header says convertedValues: OpenSignals wrote the EDA sensor's unit, µS"
        return Recording(values, fs, str(p), "opensignals", ch.label, u,
                         notes=[f"{device} {ch.label}: values in {u} ({why})"])
    values, note = plux.adc_to_microsiemens(raw, head, ch, src)
    return Recording(values, fs, str(p), "opensignals", ch.label, "adc", notes=[note])


# ---------------------------------------------------------------------------------------------
# CSV / TSV

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")


def _sniff(text: str, decimal: str) -> tuple[str, bool]:
    sample = text[:4096]
    delims = ";\t " if decimal == "," else ",;\t "
    try:
        delim = csv.Sniffer().sniff(sample, delimiters=delims).delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        delim = next((d for d in delims if d in first), "," if decimal != "," else ";")
    first = sample.splitlines()[0] if sample else ""
    cells = [c.strip() for c in first.split(delim)]
    has_header = any(_not_number(c, decimal) for c in cells if c)
    return delim, has_header


def _not_number(s: str, decimal: str = ".") -> bool:
    try:
        float(s.replace(",", ".") if decimal == "," else s)
        return False
    except ValueError:
        return True


def _read_csv(p: Path, column: str | None, fs: float | None, time_column: str | None,
              unit: str, decimal: str) -> Recording:
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None
    delim, has_header = _sniff(text, decimal)
    rows = list(csv.reader(io.StringIO(text), delimiter=delim, skipinitialspace=delim == " "))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise DataFormatError(f"{p}: the file is empty")
    header = [c.strip() for c in rows[0]] if has_header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if has_header else rows
    if not body:
        raise DataFormatError(f"{p}: the file has a header but no data rows")
    if decimal == "auto":
        _refuse_decimal_commas(p, header, body, delim, has_header)
    col = _pick_column(p, header, column)
    tcol = _pick_column(p, header, time_column, what="--time-column") \
        if time_column is not None else None
    values = _numbers(p, body, col, header[col], decimal, allow_empty=True)
    times = _numbers(p, body, tcol, header[tcol], decimal) if tcol is not None else None
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
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        raise DataFormatError(f"{p}: column '{header[col]}' holds no numbers")
    conv, u, why = to_microsiemens(values, unit, f"{p} column '{header[col]}'")
    return Recording(conv, float(fs), str(p), "csv", header[col], u,
                     notes=[why or f"unit {u} (from --unit)"])


def _numbers(p: Path, body: list[list[str]], col: int, name: str, decimal: str,
             allow_empty: bool = False) -> np.ndarray:
    out = np.empty(len(body), dtype=np.float64)
    comma = decimal == ","
    for i, r in enumerate(body):
        try:
            cell = r[col].strip()
        except IndexError:
            raise DataFormatError(f"{p}: row {i + 1} has no column '{name}' (it has {len(r)} "
                                  "fields); fix the row or pass --column") from None
        if not cell and allow_empty:
            out[i] = np.nan
            continue
        try:
            out[i] = float(cell.replace(",", ".") if comma else cell)
        except ValueError:
            hint = ("; the file has decimal commas: pass --decimal ,"
                    if not comma and _DECIMAL_COMMA.match(cell) else "")
            raise DataFormatError(f"{p}: column '{name}' has a non-numeric value {cell!r} in "
                                  f"data row {i + 1}{hint}") from None
    return out


def _refuse_decimal_commas(p: Path, header: list[str], body: list[list[str]], delim: str,
                           has_header: bool) -> None:
    """Under ``--decimal auto``, refuse files whose numbers look like decimal commas instead
    of silently reading their integer parts."""
    advice = ("pass --decimal , to read decimal commas (with ; or tab between columns), or "
              "--decimal . if they are not")
    if delim != ",":
        for r in body[:1000]:
            for cell in r:
                if _DECIMAL_COMMA.match(cell.strip()):
                    raise DataFormatError(f"{p}: values like {cell.strip()!r} have decimal "
                                          f"commas; {advice}")
        return
    widths = {len(r) for r in body[:1000]}
    if has_header and max(widths) > len(header):
        raise DataFormatError(f"{p}: data rows have more comma-separated fields "
                              f"({max(widths)}) than the header ({len(header)}): decimal "
                              f"commas? {advice}")
    if not has_header and len(widths) > 1:
        raise DataFormatError(f"{p}: rows have different numbers of comma-separated fields "
                              f"({', '.join(map(str, sorted(widths)))}): decimal commas? "
                              f"{advice}")
    if not has_header and len(header) > 1:
        # a fraction written after a decimal comma often starts with 0 ("1,05"); an integer
        # column never does
        for j in range(1, len(header)):
            cells = [r[j].strip() for r in body[:1000]]
            if all(c.isdigit() for c in cells) and any(len(c) > 1 and c[0] == "0"
                                                       for c in cells):
                raise DataFormatError(f"{p}: column {j} holds integers with leading zeros "
                                      f"({next(c for c in cells if c[0] == '0')!r}), the "
                                      f"fractions of decimal-comma numbers? {advice}")


def _pick_column(p: Path, header: list[str], column: str | None, what: str = "--column") -> int:
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


# ---------------------------------------------------------------------------------------------
# EDF / BDF and MNE Raw objects


def _read_edf(p: Path, channel: str | None, unit: str) -> Recording:
    from emotionkd.errors import require_module

    mne = require_module("mne", "bdf", "Reading EDF/BDF recordings")
    reader = mne.io.read_raw_bdf if p.suffix.lower() == ".bdf" else mne.io.read_raw_edf
    try:
        raw = reader(p, preload=False, verbose="error")
    except Exception as exc:  # MNE raises many types for corrupt headers
        raise DataFormatError(f"{p}: not a readable EDF/BDF file ({exc})") from None
    return _from_raw(raw, str(p), p.suffix.lower()[1:], channel, unit)


def _from_raw(raw: Any, source: str, fmt: str, channel: str | None, unit: str) -> Recording:
    names = list(raw.ch_names)
    if channel is None:
        cand = [n for n in names if n.strip().lower() in _GSR_NAMES or "gsr" in n.lower()
                or "eda" in n.lower()]
        if not cand:
            raise DataFormatError(f"{source}: no GSR/EDA channel found (channels: "
                                  f"{', '.join(names)}); pass --channel NAME")
        channel = cand[0]
    match = [n for n in names if n.lower() == channel.lower()]
    if not match:
        raise DataFormatError(f"{source}: no channel '{channel}' (channels: {', '.join(names)});"
                              " pass --channel with one of these")
    name = match[0]
    try:
        data = raw.get_data(picks=[name])[0]
    except Exception as exc:
        raise DataFormatError(f"{source}: cannot read channel '{name}' ({exc}); the file may "
                              "be truncated") from None
    orig = str((getattr(raw, "_orig_units", None) or {}).get(name, "") or "")
    src = f"{source} '{name}'"
    # MNE scales volt-like units to V; GSR units (Ohm, uS, nS) come back unscaled
    declared = _UNIT_ALIASES.get(_normalise_unit(orig))
    notes = []
    if unit != "auto":
        file_unit = unit
        notes.append(f"unit {unit} (from --unit; the file says {orig or 'nothing'})")
    elif _normalise_unit(orig) in _VOLT_UNITS:
        raise DataFormatError(f"{src}: is in {orig}, not a GSR unit; pass --unit us|ohm|kohm|ns "
                              "if it really is skin conductance or resistance")
    elif declared is not None and declared != "auto":
        file_unit = declared
        notes.append(f"unit {declared} (from the file header)")
    else:
        file_unit = "auto"
        if orig:
            notes.append(f"the file declares unit {orig!r}, not a GSR unit")
    values, u, why = to_microsiemens(np.asarray(data, dtype=np.float64), file_unit, src)
    if why:
        notes.append(why)
    start = raw.info.get("meas_date")
    return Recording(values, float(raw.info["sfreq"]), source, fmt, name, u,
                     start_time=start.timestamp() if start is not None else None, notes=notes)
