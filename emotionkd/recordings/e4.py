"""Empatica E4: ``EDA.csv`` (row 1 the session's start as a Unix time, row 2 the sampling rate
in Hz, then one value per row in µS), the session ``.zip`` that E4 connect exports, or the
unzipped session folder (``EDA.csv`` inside)."""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.ondisk import check_size
from emotionkd.recordings.base import Recording
from emotionkd.signals import to_microsiemens

#: the largest EDA stream read (unpacked): weeks of a 4-Hz session (an E4 records for hours)
MAX_E4_BYTES = 32 * 2**20
OTHER_STREAMS = ("acc.csv", "bvp.csv", "hr.csv", "ibi.csv", "temp.csv", "tags.csv")


def looks_like_e4(path: Path) -> bool:
    """Whether the first three lines of ``path`` are an E4 head (start time, rate, value)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            head = [fh.readline(1 << 16).strip() for _ in range(3)]
    except OSError:
        return False
    return e4_head(head)


def e4_head(head: list[str]) -> bool:
    try:
        start = float(head[0].split(",")[0])
        rate = float(head[1].split(",")[0])
        float(head[2].split(",")[0])
    except (ValueError, IndexError):
        return False
    return start > 1e8 and 0 < rate <= 1000 and head[0].count(",") == head[1].count(",")


def find_eda(folder: Path) -> Path | None:
    """The EDA.csv directly inside an E4 session folder, if any."""
    direct = [c for c in folder.iterdir() if c.name.lower() == "eda.csv" and c.is_file()]
    return direct[0] if direct else None


def read_e4(p: Path, unit: str) -> Recording:
    if p.is_dir():
        eda = find_eda(p)
        if eda is None:
            raise DataFormatError(f"{p}: no EDA.csv in this folder; pass an E4 session folder, "
                                  "its .zip or its EDA.csv")
        return read_e4(eda, unit)
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
                size = zf.getinfo(eda[0]).file_size
                if size > MAX_E4_BYTES:
                    raise DataFormatError(
                        f"{p}:{eda[0]}: the EDA stream is {size / 2**20:,.1f} MiB unpacked, more "
                        f"than the {MAX_E4_BYTES / 2**20:g} MiB emotionkd reads (weeks at 4 Hz)"
                        "; split the session or pass the part you need")
                text = zf.read(eda[0]).decode("utf-8", errors="replace")
        except zipfile.BadZipFile as exc:
            raise DataFormatError(f"{p}: not a readable zip file ({exc})") from None
        return parse_e4(text, f"{p}:{eda[0]}", unit)
    if p.name.lower() in OTHER_STREAMS:
        raise DataFormatError(f"{p}: is the E4 {p.stem} stream, not skin conductance; pass "
                              "EDA.csv of the same session")
    try:
        check_size(p, MAX_E4_BYTES, "the EDA stream", "split the session or pass the part "
                   "you need")
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None
    return parse_e4(text, str(p), unit)


def parse_e4(text: str, source: str, unit: str) -> Recording:
    fh = io.StringIO(text)
    lines = []
    while len(lines) < 3:
        ln = fh.readline()
        if not ln:
            break
        if ln.strip():
            lines.append(ln.strip())
    if len(lines) < 3 or not e4_head(lines[:3]):
        raise DataFormatError(f"{source}: not an Empatica E4 EDA.csv (expected a Unix start "
                              "time row, a sampling-rate row, then one value per row)")
    width = lines[0].count(",") + 1
    if width != 1:
        raise DataFormatError(f"{source}: has {width} columns; an E4 EDA.csv has one (is this "
                              "ACC.csv?)")
    rest = _values(fh.read(), source)
    raw = np.concatenate([[float(lines[2])], rest])
    start, rate = float(lines[0]), float(lines[1])
    if not 0 < rate <= 1000:
        raise DataFormatError(f"{source}: E4 sampling-rate row says {rate}; expected e.g. 4")
    values, u, why = to_microsiemens(raw, "us" if unit == "auto" else unit, source)
    notes = [why or f"unit {u} ({'E4 EDA.csv is in µS' if unit == 'auto' else 'from --unit'})"]
    return Recording(values, rate, source, "e4", "EDA", u, start_time=start, notes=notes)


def _values(text: str, source: str) -> np.ndarray:
    """One number per line, parsed by numpy's C reader into one array (no list of lines:
    a long session costs 8 bytes a sample); a value that is not a number is refused."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns when it stops at something unreadable
        try:
            return np.fromstring(text, dtype=np.float64, sep="\n")
        except (DeprecationWarning, ValueError):
            pass
    bad = next((ln.strip() for ln in io.StringIO(text) if ln.strip()
                and not _is_number(ln.strip())), "?")
    raise DataFormatError(f"{source}: not an Empatica E4 EDA.csv (the value {bad[:40]!r} is "
                          "not a number)")


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False
