"""Generic CSV/TSV recordings (comma, semicolon, tab or space separated, with or without a
header): the GSR column by ``column`` (name or 0-based index), the rate by ``fs`` or from a
``time_column`` in seconds; ``decimal=","`` reads decimal commas, and a file that looks like it
has decimal commas is refused under ``decimal="auto"`` (never truncated)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from emotionkd.errors import DataFormatError
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


def read_csv(p: Path, column: str | None, fs: float | None, time_column: str | None,
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
