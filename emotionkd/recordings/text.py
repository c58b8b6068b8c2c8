"""Generic CSV/TSV recordings (comma, semicolon, tab or space separated, with or without a
header): the GSR column by ``column`` (name or 0-based index), the rate by ``fs`` or from a
``time_column`` in seconds; ``decimal=","`` reads decimal commas, and a file that looks like it
has decimal commas is refused under ``decimal="auto"`` (never truncated)."""

from __future__ import annotations

import array
import csv
import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.ondisk import check_size
from emotionkd.recordings.base import GSR_NAMES, Recording
from emotionkd.signals import to_microsiemens

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


#: the largest text recording read (a sparse or runaway file is refused before reading)
MAX_TEXT_BYTES = 256 * 2**20
#: rows read first, to find the header, the columns and decimal commas
HEAD_ROWS = 1000
SIZE_FIX = "split the recording or downsample it first"


def read_csv(p: Path, column: str | None, fs: float | None, time_column: str | None,
              unit: str, decimal: str) -> Recording:
    check_size(p, MAX_TEXT_BYTES, "the recording", SIZE_FIX)
    try:
        with open(p, encoding="utf-8-sig", errors="replace", newline="") as fh:
            sample = fh.read(4096)
            if "\x00" in sample:
                raise DataFormatError(f"{p}: holds NUL bytes, so it is a binary file or a "
                                      "damaged copy, not CSV text; pass the recording's text "
                                      "export")
            fh.seek(0)
            delim, has_header = _sniff(sample, decimal)
            reader = csv.reader(fh, delimiter=delim, skipinitialspace=delim == " ")
            return _read_rows(p, reader, has_header, column, fs, time_column, unit, decimal,
                              delim)
    except csv.Error as exc:
        raise DataFormatError(f"{p}: not readable as CSV text ({exc}); pass the recording's "
                              "text export") from None
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None


def _read_rows(p: Path, reader: Any, has_header: bool, column: str | None, fs: float | None,
               time_column: str | None, unit: str, decimal: str, delim: str) -> Recording:
    rows = _nonblank_edges(reader, keep_blank=time_column is None)
    head = list(itertools.islice(rows, HEAD_ROWS + 1))
    if not head:
        raise DataFormatError(f"{p}: the file is empty")
    header = [c.strip() for c in head[0]] if has_header else [str(i) for i in range(len(head[0]))]
    body = head[1:] if has_header else head
    if not body:
        raise DataFormatError(f"{p}: the file has a header but no data rows")
    if decimal == "auto":
        _refuse_decimal_commas(p, header, body, delim, has_header)
    col = _pick_column(p, header, column)
    tcol = _pick_column(p, header, time_column, what="--time-column") \
        if time_column is not None else None
    values, times, texts = _columns(p, itertools.chain(body, rows), col, tcol, header, decimal)
    if times is not None:
        fs = _rate_from_times(p, times, texts, header[tcol], fs)
    if fs is None:
        raise DataFormatError(f"{p}: the sampling rate is unknown; pass --fs HZ or "
                              "--time-column NAME")
    if not np.isfinite(values).any():
        raise DataFormatError(f"{p}: column '{header[col]}' holds no numbers")
    conv, u, why = to_microsiemens(values, unit, f"{p} column '{header[col]}'")
    return Recording(conv, float(fs), str(p), "csv", header[col], u,
                     notes=[why or f"unit {u} (from --unit)"])


def _nonblank_edges(reader: Any, keep_blank: bool) -> Iterator[list[str]]:
    """The rows of ``reader`` without blank rows before the first and after the last data row;
    blank rows between data rows stay (as gaps) when ``keep_blank``."""
    pending: list[list[str]] = []
    started = False
    for r in reader:
        if not any(c.strip() for c in r):
            if started and keep_blank:
                pending.append([])
            continue
        started = True
        yield from pending
        pending.clear()
        yield r


def _columns(p: Path, rows: Iterator[list[str]], col: int, tcol: int | None,
             header: list[str], decimal: str
             ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """The GSR column (empty cells as NaN), the time column, and the first time cells as
    written (for their precision); streamed row by row."""
    values, times = array.array("d"), array.array("d")
    texts: list[str] = []
    gaps, first = 0, -1
    for i, r in enumerate(rows):
        v = _cell(p, r, i, col, header[col], decimal, allow_empty=True)
        if v is None:
            gaps, first = gaps + 1, first if gaps else i
            v = math.nan
        values.append(v)
        if tcol is not None:
            times.append(_cell(p, r, i, tcol, header[tcol], decimal))
            if len(texts) < HEAD_ROWS:
                texts.append(r[tcol].strip())
    if gaps:  # dropping them would shift the rest of the timeline
        raise DataFormatError(f"{p}: column '{header[col]}' has {gaps} empty cell(s) or blank "
                              f"row(s), the first in data row {first + 1}: gaps in the "
                              "recording; fill or interpolate them first")
    return (np.frombuffer(values, dtype=np.float64).copy(),
            np.frombuffer(times, dtype=np.float64).copy() if tcol is not None else None, texts)


def _rate_from_times(p: Path, times: np.ndarray, texts: list[str], name: str,
                     fs: float | None) -> float:
    """The sampling rate of an evenly spaced time column in seconds, tolerating stamps
    rounded to the precision they are written with (ms or µs stamps of real exports)."""
    dt = np.diff(times)
    if len(dt) == 0 or (dt <= 0).any():
        raise DataFormatError(f"{p}: time column '{name}' is not strictly increasing")
    quantum = _precision(texts)
    rate = len(dt) / float(times[-1] - times[0])  # the mean spacing: rounding averages out
    nice = round(rate)
    if nice > 0 and abs(nice - rate) * float(times[-1] - times[0]) <= 2 * quantum * rate:
        rate = float(nice)  # within what the rounding of the stamps allows
    if np.abs(dt - 1 / rate).max() > 0.01 / rate + 2 * quantum:
        raise DataFormatError(f"{p}: samples are not evenly spaced in '{name}'; "
                              "resample the recording to a fixed rate first")
    if fs is not None and abs(fs - rate) > 1e-3 * rate:
        raise DataFormatError(f"{p}: --fs {fs} disagrees with the time column ({rate:.4g} Hz)")
    return rate


def _precision(texts: list[str]) -> float:
    """The step of the last digit the time stamps are written with (0.001 for ms)."""
    places = [len(t.split(".", 1)[1]) for t in texts if "." in t and "e" not in t.lower()]
    return 10.0 ** -max(places) if places else (1.0 if texts else 0.0)


def _cell(p: Path, r: list[str], i: int, col: int, name: str, decimal: str,
          allow_empty: bool = False) -> float | None:
    """Cell ``col`` of data row ``i`` as a number (None for an empty one if
    ``allow_empty``)."""
    comma = decimal == ","
    try:
        cell = r[col].strip()
    except IndexError:
        if not r and allow_empty:
            return None  # a blank row between data rows: a gap
        raise DataFormatError(f"{p}: row {i + 1} has no column '{name}' (it has {len(r)} "
                              "fields); fix the row or pass --column") from None
    if not cell and allow_empty:
        return None
    try:
        return float(cell.replace(",", ".") if comma else cell)
    except ValueError:
        hint = ("; the file has decimal commas: pass --decimal ,"
                if not comma and _DECIMAL_COMMA.match(cell) else "")
        raise DataFormatError(f"{p}: column '{name}' has a non-numeric value {cell!r} in "
                              f"data row {i + 1}{hint}") from None


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
    widths = {len(r) for r in body[:1000] if r}
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
            cells = [r[j].strip() for r in body[:1000] if r]
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
            if h.strip().lower() in GSR_NAMES:
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
