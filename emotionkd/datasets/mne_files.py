"""Recordings in any format MNE reads (EDF, BDF, BrainVision, EEGLAB .set, FIF …), and MNE
``Raw`` objects, as :class:`~emotionkd.datasets.own.Signals`.

The EEG is picked by name (default: the channels of MNE type ``eeg`` with 10-05 names, which
leaves out ECG, EOG and GSR channels that EDF files type as EEG) and converted from MNE's
volts to µV. The GSR channel is found by MNE type ``gsr`` or by name (GSR, EDA …); its unit
is settled by :func:`~emotionkd.datasets.own.resolve_gsr_unit`, with the unit the file
declares as a hint (readers differ in whether they scale prefixed units, so the values
decide). Events are the recording's annotations, or a stim channel's rising edges.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emotionkd.datasets.own import (
    Event,
    Signals,
    eeg_to_uv,
    resolve_gsr_unit,
)
from emotionkd.errors import DataFormatError
from emotionkd.recordings import base
from emotionkd.signals import check_gsr_unit, gsr_unit_name

#: channel names taken for GSR when no channel is named: those of ``predict``'s readers, and
#: the names EEG recordings give an electrodermal channel
GSR_NAMES = (*base.GSR_NAMES, "scr", "galvanic")
#: file types :func:`read_file` accepts (MNE reads more; these are the tested ones)
EXTENSIONS = (".edf", ".bdf", ".vhdr", ".set", ".fif", ".fif.gz", ".gdf")


def _mne() -> Any:
    from emotionkd.errors import require_module

    return require_module("mne", "bdf", "Reading recordings with MNE")


#: electrode names of the 10-20, 10-10 and 10-05 systems (Fp1, AFz, FCC3h, TP9 …)
_EEG_NAME = re.compile(
    r"^(?:(?:Fp|AFp|AFF|AF|FFC|FFT|FCC|FC|FTT|FT|F|CCP|CPP|CP|C|TTP|TPP|TP|T|PPO|POO|PO|P|"
    r"OI|O|I|N)(?:z|\d{1,2}h?)|Nz|Iz|A[12]|M[12])$", re.IGNORECASE)


def is_electrode_name(name: str) -> bool:
    """True for a 10-05 system electrode name (what EEG channels are called)."""
    return bool(_EEG_NAME.match(name.strip()))


def read_file(path: str | Path) -> Any:
    """Open a recording with MNE (data are read later, per channel)."""
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file")
    mne = _mne()
    try:
        return mne.io.read_raw(p, preload=False, verbose="error")
    except Exception as exc:  # MNE raises many exception types on unknown or damaged files
        raise DataFormatError(f"{p}: MNE cannot read it ({type(exc).__name__}: {exc}); "
                              "give an EDF, BDF, BrainVision, EEGLAB or FIF recording") \
            from None


def gsr_channel_of(raw: Any, name: str | None, source: str) -> str:
    """The GSR channel: ``name`` (case-insensitive), else the first of MNE type gsr, else the
    first named like GSR/EDA."""
    names = list(raw.ch_names)
    if name is not None:
        match = [c for c in names if c.lower() == name.lower()]
        if not match:
            raise DataFormatError(f"{source}: no channel '{name}' (channels: "
                                  f"{', '.join(names)}); pass --gsr-channel with one of these")
        return match[0]
    types = raw.get_channel_types()
    typed = [c for c, t in zip(names, types) if t == "gsr"]
    named = [c for c in names if c.strip().lower() in GSR_NAMES
             or "gsr" in c.lower() or "eda" in c.lower()]
    if typed or named:
        return (typed or named)[0]
    raise DataFormatError(f"{source}: no GSR/EDA channel found (channels: {', '.join(names)});"
                          " pass --gsr-channel NAME")


def eeg_channels_of(raw: Any, names: Sequence[str] | None, exclude: str, source: str
                    ) -> list[str]:
    """EEG channels by name; by default those of MNE type eeg with 10-05 names."""
    all_names = list(raw.ch_names)
    if names is not None:
        lookup = {c.lower(): c for c in all_names}
        missing = [n for n in names if n.lower() not in lookup]
        if missing:
            raise DataFormatError(f"{source}: no EEG channel(s) {', '.join(missing)} "
                                  f"(channels: {', '.join(all_names)})")
        return [lookup[n.lower()] for n in names]
    return [c for c, t in zip(all_names, raw.get_channel_types())
            if t == "eeg" and c != exclude and is_electrode_name(c)]


def _declared_unit(raw: Any, channel: str) -> str | None:
    from mne.io.constants import FIFF

    orig = (getattr(raw, "_orig_units", None) or {}).get(channel)
    u = gsr_unit_name(orig)
    if u is not None:
        return u
    unit = raw.info["chs"][raw.ch_names.index(channel)]["unit"]
    return {int(FIFF.FIFF_UNIT_S): "s", int(FIFF.FIFF_UNIT_OHM): "ohm"}.get(int(unit))


def _unit_of_eeg(raw: Any, channel: str) -> str:
    from mne.io.constants import FIFF

    unit = int(raw.info["chs"][raw.ch_names.index(channel)]["unit"])
    return "V" if unit == int(FIFF.FIFF_UNIT_V) else str(
        (getattr(raw, "_orig_units", None) or {}).get(channel, "unknown"))


def raw_events(raw: Any, stim_channel: str | None = None) -> list[Event]:
    """The recording's annotations (onsets from its first sample), or with ``stim_channel``
    the rising edges of that channel's low 16 bits (name = the code, duration 0)."""
    fs = float(raw.info["sfreq"])
    if stim_channel is not None:
        mne = _mne()
        if stim_channel not in raw.ch_names:
            raise DataFormatError(f"no stim channel '{stim_channel}' (channels: "
                                  f"{', '.join(raw.ch_names)})")
        ev = mne.find_events(raw, stim_channel=stim_channel, shortest_event=1, mask=0xFFFF,
                             mask_type="and", consecutive=False, verbose="error")
        return [Event((int(s) - raw.first_samp) / fs, 0.0, str(int(code)))
                for s, _, code in ev]
    ann = raw.annotations
    if not len(ann):
        return []
    idx = raw.time_as_index(ann.onset, use_rounding=True, origin=ann.orig_time)
    return [Event(int(i) / fs, float(d), str(name))
            for i, d, name in zip(idx, ann.duration, ann.description)]


def signals_from_raw(
    raw: Any,
    *,
    source: str | None = None,
    eeg_channels: Sequence[str] | None = None,
    gsr_channel: str | None = None,
    gsr_unit: str = "auto",
    stim_channel: str | None = None,
    declared_gsr_unit: str | None = None,
) -> Signals:
    """An MNE Raw as Signals: EEG in µV (``eeg_channels=[]`` for none), GSR in µS, events.

    ``declared_gsr_unit`` (e.g. from a BIDS channels.tsv) replaces the unit the file
    declares."""
    src = source or str((raw.filenames[0] if getattr(raw, "filenames", None) else None)
                        or "MNE Raw")
    unit_option = check_gsr_unit(gsr_unit, "--gsr-unit")
    gsr_name = gsr_channel_of(raw, gsr_channel, src)
    eeg_names = eeg_channels_of(raw, eeg_channels, gsr_name, src)
    for c in eeg_names:
        if _unit_of_eeg(raw, c) != "V":
            eeg_to_uv(_unit_of_eeg(raw, c), src, c)  # refuses non-voltage channels
    try:
        data = raw.get_data(picks=[*eeg_names, gsr_name])
    except Exception as exc:
        raise DataFormatError(f"{src}: cannot read the signals ({type(exc).__name__}: {exc});"
                              " the file may be truncated") from None
    declared = gsr_unit_name(declared_gsr_unit) or _declared_unit(raw, gsr_name)
    gsr, _, reason = resolve_gsr_unit(data[-1], declared, unit_option, f"{src} '{gsr_name}'")
    eeg = data[:-1] * 1e6 if eeg_names else None  # MNE gives volts
    return Signals(gsr=gsr, fs=float(raw.info["sfreq"]), source=src, eeg=eeg,
                   eeg_channels=eeg_names, gsr_unit_reason=f"'{gsr_name}': {reason}",
                   events=raw_events(raw, stim_channel))


def find_events_table(recording: str | Path) -> Path | None:
    """The BIDS-style events table beside a recording: ``NAME_events.tsv`` with the
    recording's last ``_suffix`` (``_eeg``, ``_raw`` …) replaced, or ``NAME.tsv``."""
    p = Path(recording)
    stem = p.name[: -len(".fif.gz")] if p.name.lower().endswith(".fif.gz") else p.stem
    cands = []
    if "_" in stem:
        cands.append(p.with_name(stem.rsplit("_", 1)[0] + "_events.tsv"))
    cands += [p.with_name(stem + "_events.tsv"), p.with_name(stem + ".tsv")]
    return next((c for c in cands if c.is_file()), None)

