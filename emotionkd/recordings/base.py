"""What every recording reader shares: :class:`Recording` (conductance in µS), the unit a user
gives (the unit names are in :mod:`emotionkd.signals`), the final check of the samples, and
the conversion of an MNE ``Raw`` object (EDF/BDF files and :meth:`Recording.from_mne`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.signals import (
    GSR_UNIT_LIST,
    check_gsr_unit,
    gsr_unit_name,
    plain_unit,
    to_microsiemens,
)
from emotionkd.validation import check_number

#: channel and column names taken for GSR when none is named (besides any containing gsr or
#: eda)
GSR_NAMES = ("gsr", "eda", "gsr1", "skin conductance", "sc", "electrodermal")
VOLT_UNITS = ("v", "mv", "uv", "nv")


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
        fs = check_fs(fs, "fs")
        conv, u, why = to_microsiemens(x, option_unit(unit), source)
        rec = cls(conv, fs, source, "array", channel, u, notes=[why] if why else [])
        return validated(rec)

    @classmethod
    def from_mne(cls, raw: Any, channel: str | None = None, unit: str = "auto") -> Recording:
        """A recording from an MNE ``Raw`` object: the GSR/EDA channel by label (``channel``
        overrides), its unit from the channel's original unit when MNE kept it."""
        src = str((raw.filenames[0] if getattr(raw, "filenames", None) else None)
                  or "MNE Raw")
        return validated(from_raw(raw, src, "mne", channel, option_unit(unit)))


def check_fs(fs: float, what: str) -> float:
    return float(check_number(fs, f"--{what}", low=0, low_open=True, why=" (a sampling rate "
                              "in Hz)"))


def option_unit(unit: str) -> str:
    """A unit given by the user (``--unit``), normalised; unknown names are refused."""
    return check_gsr_unit(unit, "--unit")


def validated(rec: Recording) -> Recording:
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


def from_raw(raw: Any, source: str, fmt: str, channel: str | None, unit: str) -> Recording:
    names = list(raw.ch_names)
    if channel is None:
        cand = [n for n in names if n.strip().lower() in GSR_NAMES or "gsr" in n.lower()
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
    declared = gsr_unit_name(orig)
    notes = []
    if unit != "auto":
        file_unit = unit
        notes.append(f"unit {unit} (from --unit; the file says {orig or 'nothing'})")
    elif plain_unit(orig) in VOLT_UNITS:
        raise DataFormatError(f"{src}: is in {orig}, not a GSR unit; pass --unit {GSR_UNIT_LIST} "
                              "if it really is skin conductance or resistance")
    elif declared is not None:
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
