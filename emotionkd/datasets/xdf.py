"""Lab Streaming Layer recordings (XDF, as LabRecorder writes them) as
:class:`~emotionkd.datasets.own.Signals`: EEG and GSR from separate streams, each with its
own clock and rate, put onto one timeline; trials from a marker stream.

Timing, in order:

1. **Clock offsets.** Every stream's time stamps are in the clock of the computer that sent
   it. LabRecorder measures, every few seconds, how far that clock is behind its own
   (ClockOffset chunks); pyxdf fits offset = a + b·t to those measurements (a robust
   linear fit, so drift is corrected as well as a constant offset; clock resets split the
   fit) and adds it to the stream's time stamps (``synchronize_clocks``). A stream without
   offset measurements keeps its stamps (it came from the recording computer itself).
2. **Jitter.** For regularly sampled streams pyxdf replaces the stamps by a linear fit of
   stamp against sample index within each unbroken segment (``dejitter_timestamps``).
3. **One timeline.** The common grid runs at ``fs`` Hz over the time every signal stream
   covers. Each signal is low-pass filtered below the grid's Nyquist frequency when its own
   rate is higher (zero-phase Butterworth), then linearly interpolated at the grid times
   from its own (synchronised) stamps, so a nominal rate that the device does not keep
   exactly causes no drift. Grid points in a gap of a stream (a break longer than 2.5
   sample intervals) become NaN, and trials that touch them are skipped.
4. **Markers** are placed by their synchronised stamps: a marker's onset is its time minus
   the grid's start.
"""

from __future__ import annotations

import logging
import struct
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.datasets.own import (
    Event,
    Signals,
    eeg_to_uv,
    label,
    resolve_gsr_unit,
)
from emotionkd.errors import DataFormatError
from emotionkd.signals import check_gsr_unit, gsr_unit_name

GSR_TYPES = ("gsr", "eda", "galvanic", "skin conductance")
MARKER_TYPES = ("markers", "marker", "events", "triggers")
#: a break in a stream longer than this many of its sample intervals leaves a NaN gap
GAP_INTERVALS = 2.5


def _first(d: Any, key: str, default: Any = None) -> Any:
    if not isinstance(d, dict):
        return default
    v = d.get(key)
    return v[0] if isinstance(v, list) and v else default


def stream_name(s: dict) -> str:
    return str(_first(s["info"], "name", "") or "")


def stream_type(s: dict) -> str:
    return str(_first(s["info"], "type", "") or "")


def stream_rate(s: dict) -> float:
    return float(_first(s["info"], "nominal_srate", 0) or 0)


def stream_channels(s: dict) -> list[dict[str, str]]:
    """label, unit and type of each channel (from desc/channels; ``ch1`` … when absent)."""
    n = int(_first(s["info"], "channel_count", 0) or 0)
    entries = _first(_first(s["info"], "desc"), "channels")
    items = entries.get("channel", []) if isinstance(entries, dict) else []
    out = []
    for i in range(n):
        c = items[i] if i < len(items) and isinstance(items[i], dict) else {}
        out.append({"label": str(_first(c, "label", f"ch{i + 1}") or f"ch{i + 1}"),
                    "unit": str(_first(c, "unit", "") or ""),
                    "type": str(_first(c, "type", "") or "")})
    return out


def load_streams(path: str | Path) -> list[dict]:
    """All streams of an XDF file with clock offsets applied and stamps dejittered."""
    from emotionkd.errors import require_module

    pyxdf = require_module("pyxdf", "xdf", "Reading XDF recordings")
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file")
    log = logging.getLogger("pyxdf.pyxdf")
    level = log.level
    log.setLevel(logging.ERROR)  # notes such as "segments and clock-segments differ"
    try:
        streams, _ = pyxdf.load_xdf(str(p), synchronize_clocks=True, dejitter_timestamps=True,
                                    handle_clock_resets=True)
    except Exception as exc:  # pyxdf raises many types on damaged files
        raise DataFormatError(f"{p}: not a readable XDF file ({type(exc).__name__}: {exc})") \
            from None
    finally:
        log.setLevel(level)
    if not streams:
        raise DataFormatError(f"{p}: holds no streams")
    return streams


def _describe(streams: Sequence[dict]) -> str:
    return ", ".join(f"{stream_name(s)!r} ({stream_type(s) or 'no type'}, "
                     f"{stream_rate(s):g} Hz)" for s in streams)


def pick_stream(streams: Sequence[dict], spec: str | None, types: Sequence[str], role: str,
                option: str, source: str, required: bool = True) -> dict | None:
    """The stream named (or typed) ``spec``, else the only one whose type is in ``types``."""
    if spec is not None:
        hits = [s for s in streams if stream_name(s).lower() == spec.lower()] or \
            [s for s in streams if stream_type(s).lower() == spec.lower()]
        if len(hits) != 1:
            raise DataFormatError(f"{source}: {len(hits)} streams named or typed {spec!r} "
                                  f"(streams: {_describe(streams)}); pass {option} with one "
                                  "stream's name")
        return hits[0]
    hits = [s for s in streams if stream_type(s).lower() in types]
    if len(hits) == 1:
        return hits[0]
    if not hits and not required:
        return None
    raise DataFormatError(f"{source}: {'no' if not hits else len(hits)} {role} streams "
                          f"(streams: {_describe(streams)}); pass {option} NAME")


def _gsr_index(chans: list[dict[str, str]], name: str | None, stream: str, source: str) -> int:
    labels = [c["label"] for c in chans]
    if name is not None:
        hits = [i for i, c in enumerate(labels) if c.lower() == name.lower()]
        if not hits:
            raise DataFormatError(f"{source}: stream {stream!r} has no channel '{name}' "
                                  f"(channels: {', '.join(labels)}); pass --gsr-channel")
        return hits[0]
    typed = [i for i, c in enumerate(chans) if c["type"].lower() in GSR_TYPES]
    named = [i for i, c in enumerate(labels) if "gsr" in c.lower() or "eda" in c.lower()]
    if typed or named:
        return (typed or named)[0]
    if len(chans) == 1:
        return 0
    raise DataFormatError(f"{source}: cannot tell which channel of stream {stream!r} is GSR "
                          f"(channels: {', '.join(labels)}); pass --gsr-channel")


def onto_grid(values: np.ndarray, stamps: np.ndarray, rate: float, grid: np.ndarray,
              fs: float) -> np.ndarray:
    """(C, len(grid)): each column of ``values`` (n, C), sampled at ``stamps``, low-pass
    filtered below ``fs``/2 when its ``rate`` is higher and interpolated at ``grid``; NaN in
    gaps of the stream."""
    from scipy import signal

    x = np.asarray(values, dtype=np.float64)
    eff = rate if rate > 0 else (len(stamps) - 1) / max(stamps[-1] - stamps[0], 1e-9)
    if eff > 1.05 * fs and len(x) > 30:
        sos = signal.butter(8, 0.45 * fs, btype="lowpass", fs=eff, output="sos")
        x = signal.sosfiltfilt(sos, x, axis=0)
    out = np.stack([np.interp(grid, stamps, x[:, c]) for c in range(x.shape[1])])
    gap = GAP_INTERVALS / eff
    right = np.clip(np.searchsorted(stamps, grid), 1, len(stamps) - 1)
    holes = (stamps[right] - stamps[right - 1]) > gap
    out[:, holes] = np.nan
    return out


def _as_dict(el: ET.Element) -> Any:
    """An XML element in pyxdf's form: text for a leaf, else {tag: [children …]}."""
    if len(el) == 0:
        return el.text
    out: dict[str, list] = {}
    for child in el:
        out.setdefault(child.tag, []).append(_as_dict(child))
    return out


def stream_headers(path: str | Path) -> list[dict]:
    """The stream headers of an XDF file ({"info": …} as pyxdf gives them), read without
    the samples: every other chunk is skipped by its length."""
    p = Path(path)
    heads = []
    try:
        with open(p, "rb") as fh:
            if fh.read(4) != b"XDF:":
                raise DataFormatError(f"{p}: not an XDF file (no XDF: signature)")
            while nb := fh.read(1):
                width = {1: "<B", 4: "<I", 8: "<Q"}.get(nb[0])
                if width is None:
                    raise DataFormatError(f"{p}: corrupt XDF chunk length")
                size = struct.unpack(width, fh.read(struct.calcsize(width)))[0]
                tag = struct.unpack("<H", fh.read(2))[0]
                if tag == 2:
                    heads.append({"info": _as_dict(ET.fromstring(fh.read(size - 2)[4:]))})
                else:
                    fh.seek(size - 2, 1)
    except (OSError, struct.error, ET.ParseError) as exc:
        raise DataFormatError(f"{p}: unreadable XDF file ({exc})") from None
    if not heads:
        raise DataFormatError(f"{p}: holds no streams")
    return heads


def select_streams(streams: Sequence[dict], src: str, *, eeg_stream: str | None = None,
                   gsr_stream: str | None = None, marker_stream: str | None = None,
                   eeg_channels: Sequence[str] | None = None, gsr_channel: str | None = None
                   ) -> tuple[dict | None, list[int], dict, int, dict | None]:
    """(EEG stream, its EEG rows, GSR stream, its GSR row, marker stream) of a recording:
    streams by name or type, EEG channels by label (default: every channel typed EEG or
    untyped, but the GSR), the GSR channel by label, type or name."""
    want_eeg = eeg_channels is None or len(eeg_channels) > 0
    eeg_s = (pick_stream(streams, eeg_stream, ("eeg",), "EEG", "--eeg-stream", src,
                         required=eeg_stream is not None) if want_eeg else None)
    gsr_s = pick_stream(streams, gsr_stream, GSR_TYPES, "GSR", "--gsr-stream", src,
                        required=eeg_s is None)
    if gsr_s is None:  # the GSR may be a channel of the EEG stream
        gsr_s = eeg_s
    mark_s = pick_stream(streams, marker_stream, MARKER_TYPES, "marker", "--marker-stream",
                         src, required=False)
    gi = _gsr_index(stream_channels(gsr_s), gsr_channel, stream_name(gsr_s), src)
    rows: list[int] = []
    if eeg_s is not None:
        chans = stream_channels(eeg_s)
        labels = [c["label"] for c in chans]
        if eeg_channels is None:
            rows = [i for i, c in enumerate(chans)
                    if not (eeg_s is gsr_s and i == gi) and c["type"].lower() in ("", "eeg")]
        else:
            lookup = {c.lower(): i for i, c in enumerate(labels)}
            missing = [c for c in eeg_channels if c.lower() not in lookup]
            if missing:
                raise DataFormatError(f"{src}: stream {stream_name(eeg_s)!r} has no channel(s) "
                                      f"{', '.join(missing)} (channels: {', '.join(labels)})")
            rows = [lookup[c.lower()] for c in eeg_channels]
    return eeg_s, rows, gsr_s, gi, mark_s


def signals_from_xdf(
    path: str | Path,
    *,
    fs: float | None = 128.0,
    eeg_stream: str | None = None,
    gsr_stream: str | None = None,
    marker_stream: str | None = None,
    eeg_channels: Sequence[str] | None = None,
    gsr_channel: str | None = None,
    gsr_unit: str = "auto",
) -> Signals:
    """One XDF recording as Signals on a grid of ``fs`` Hz (None: the EEG stream's rate,
    else the GSR stream's); events are the marker stream's markers (duration 0).
    ``eeg_channels=[]`` reads no EEG."""
    src = str(path)
    unit_option = check_gsr_unit(gsr_unit, "--gsr-unit")
    streams = load_streams(path)
    eeg_s, rows, gsr_s, gi, mark_s = select_streams(
        streams, src, eeg_stream=eeg_stream, gsr_stream=gsr_stream,
        marker_stream=marker_stream, eeg_channels=eeg_channels, gsr_channel=gsr_channel)
    used = [s for s in (eeg_s, gsr_s) if s is not None]
    for s in used:
        if len(s["time_stamps"]) < 2 or stream_rate(s) <= 0:
            raise DataFormatError(f"{src}: stream {stream_name(s)!r} is not a regularly "
                                  "sampled signal with data")
    rate = fs or stream_rate(eeg_s if eeg_s is not None else gsr_s)
    t0 = max(float(s["time_stamps"][0]) for s in used)
    t1 = min(float(s["time_stamps"][-1]) for s in used)
    if t1 - t0 < 1.0 / rate:
        raise DataFormatError(f"{src}: the EEG and GSR streams do not overlap in time "
                              "(after clock synchronisation); check the recording")
    grid = t0 + np.arange(int(np.floor((t1 - t0) * rate)) + 1) / rate
    gsr_chans = stream_channels(gsr_s)
    gsr_raw = onto_grid(np.asarray(gsr_s["time_series"])[:, gi:gi + 1], gsr_s["time_stamps"],
                        stream_rate(gsr_s), grid, rate)[0]
    ok = np.isfinite(gsr_raw)
    gsr = np.full(gsr_raw.shape, np.nan)  # NaN gaps stay where they are
    gsr[ok], _, reason = resolve_gsr_unit(gsr_raw[ok], gsr_unit_name(gsr_chans[gi]["unit"]),
                                          unit_option, f"{src} stream {stream_name(gsr_s)!r}")
    eeg, names = None, []
    if eeg_s is not None:
        chans = stream_channels(eeg_s)
        names = [chans[i]["label"] for i in rows]
        scale = np.array([eeg_to_uv(chans[i]["unit"], src, chans[i]["label"]) for i in rows])
        eeg = onto_grid(np.asarray(eeg_s["time_series"])[:, rows], eeg_s["time_stamps"],
                        stream_rate(eeg_s), grid, rate) * scale[:, None]
    events = marker_events(mark_s, t0) if mark_s is not None else []
    notes = [f"stream {stream_name(s)!r}: {stream_rate(s):g} Hz nominal, "
             f"{float(s['info'].get('effective_srate') or 0):.4f} Hz effective, "
             f"{len(s.get('clock_times') or [])} clock offset measurement(s)" for s in used]
    return Signals(gsr=gsr, fs=float(rate), source=src, eeg=eeg, eeg_channels=names,
                   gsr_unit_reason=f"stream {stream_name(gsr_s)!r} channel "
                   f"'{gsr_chans[gi]['label']}': {reason}", events=events, notes=notes)


def marker_events(stream: dict, t0: float) -> list[Event]:
    """A marker stream's markers as events, onsets relative to ``t0`` (the grid's start)."""
    events = []
    for t, v in zip(np.asarray(stream["time_stamps"], dtype=np.float64), stream["time_series"]):
        x = v[0] if isinstance(v, (list, tuple, np.ndarray)) and len(v) else v
        events.append(Event(float(t - t0), 0.0, label(x)))
    return events
