"""OpenSignals text exports of PLUX devices (BITalino, biosignalsplux): a JSON header with the
sampling rate, channel labels, sensor types and ADC resolutions; the EDA channel is picked by
sensor type or label (``channel`` overrides) and its raw ADC counts are converted to µS with
the device's transfer function (:data:`EDA_TRANSFER`)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.recordings.base import Recording
from emotionkd.signals import to_microsiemens

#: EDA transfer functions of PLUX devices, raw ADC counts of an n-bit channel → µS:
#: EDA(µS) = (ADC / 2ⁿ · VCC) / divisor. BITalino (r)evolution EDA sensor user manual (PLUX,
#: 2020), section 1.6: VCC = 3.3 V, divisor 0.132 (range 0–25 µS); biosignalsplux EDA sensor
#: user manual (PLUX): VCC = 3 V, divisor 0.12 (range 0–25 µS). Keyed by the start of
#: OpenSignals' "device" header field.
EDA_TRANSFER = {"bitalino": (3.3, 0.132), "biosignalsplux": (3.0, 0.12)}

MAGIC = "# OpenSignals Text File Format"


class Channel(NamedTuple):
    """One analog channel of the header."""

    device: int  # index into the header's devices
    label: str
    sensor: str
    column: int  # column in the file (a multi-device file concatenates the devices' columns)
    n_bits: int | None  # ADC resolution


def read_opensignals(p: Path, channel: str | None, unit: str) -> Recording:
    """The EDA channel of an OpenSignals text file, in µS."""
    try:
        text = p.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{p}: cannot read ({exc})") from None
    lines = text.splitlines()
    devices, end = _header(p, lines)
    pick = _pick_channel(p, devices, _channels(p, devices), channel)
    mac, dev = devices[pick.device]
    try:
        fs = float(dev["sampling rate"])
    except (KeyError, TypeError, ValueError):
        raise DataFormatError(f"{p}: OpenSignals header of {mac} has no 'sampling rate'") \
            from None
    body = "\n".join(lines[end + 1:])
    try:
        raw = np.loadtxt(io.StringIO(body), usecols=[pick.column], ndmin=1, dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise DataFormatError(f"{p}: cannot read column {pick.column + 1} ({pick.label}) of the "
                              f"data ({str(exc).splitlines()[0][:120]})") from None
    device = str(dev.get("device", ""))
    if unit != "auto":  # an export already converted to physical units
        values, u, _ = to_microsiemens(raw, unit, f"{p} channel {pick.label}")
        return Recording(values, fs, str(p), "opensignals", pick.label, u,
                         notes=[f"{device} {pick.label}: values in {u} (from --unit)"])
    values, note = _adc_to_microsiemens(p, raw, device, pick)
    return Recording(values, fs, str(p), "opensignals", pick.label, "adc", notes=[note])


def _header(p: Path, lines: list[str]) -> tuple[list[tuple[str, dict]], int]:
    """The header's devices as (MAC address, settings) and the line of ``# EndOfHeader``."""
    if not lines or not lines[0].strip().startswith(MAGIC):
        raise DataFormatError(f"{p}: not an OpenSignals text file (first line is not "
                              f"'{MAGIC}')")
    try:
        end = next(i for i, ln in enumerate(lines) if ln.strip().startswith("# EndOfHeader"))
    except StopIteration:
        raise DataFormatError(f"{p}: OpenSignals header without '# EndOfHeader'; the file is "
                              "truncated or edited") from None
    try:
        header = json.loads(" ".join(ln.strip().lstrip("#").strip() for ln in lines[1:end]))
        devices = [(str(mac), dict(d)) for mac, d in header.items()]
    except (ValueError, AttributeError, TypeError) as exc:
        raise DataFormatError(f"{p}: OpenSignals header is not valid JSON ({exc})") from None
    if not devices:
        raise DataFormatError(f"{p}: OpenSignals header names no device")
    return devices, end


def _channels(p: Path, devices: list[tuple[str, dict]]) -> list[Channel]:
    """Every device's analog channels, in file order."""
    chans = []
    offset = 0
    for k, (_mac, d) in enumerate(devices):
        cols = list(d.get("column") or [])
        labels = list(d.get("label") or [])
        sensors = list(d.get("sensor") or [])
        res = list(d.get("resolution") or [])
        for i, lab in enumerate(labels):
            j = cols.index(lab) if lab in cols else len(cols) - len(labels) + i
            n_bits = int(res[j]) if j < len(res) else None
            chans.append(Channel(k, str(lab), str(sensors[i]) if i < len(sensors) else "",
                                 offset + j, n_bits))
        offset += len(cols)
    if not chans:
        raise DataFormatError(f"{p}: OpenSignals header lists no analog channels")
    return chans


def _pick_channel(p: Path, devices: list[tuple[str, dict]], chans: list[Channel],
                  channel: str | None) -> Channel:
    """The channel named by ``channel`` (label, sensor or MAC:label), else the one EDA channel."""
    names = ", ".join(f"{c.label} ({c.sensor or '?'})" for c in chans)
    if channel is not None:
        want = channel.strip().lower()
        pick = [c for c in chans if want in (c.label.lower(), c.sensor.lower(),
                                             f"{devices[c.device][0]}:{c.label}".lower())]
        if not pick:
            raise DataFormatError(f"{p}: no channel '{channel}' (channels: {names}); pass "
                                  "--channel with one of these labels")
    else:
        pick = [c for c in chans if c.sensor.upper() in ("EDA", "GSR", "EDAB")
                or any(g in c.label.lower() for g in ("eda", "gsr"))]
        if not pick:
            raise DataFormatError(f"{p}: no channel has sensor type or label EDA (channels: "
                                  f"{names}); pass --channel LABEL, e.g. --channel "
                                  f"{chans[0].label}")
    if len(pick) > 1:
        raise DataFormatError(f"{p}: several EDA channels ({', '.join(c.label for c in pick)}); "
                              "pass --channel LABEL")
    return pick[0]


def _adc_to_microsiemens(p: Path, raw: np.ndarray, device: str,
                         chan: Channel) -> tuple[np.ndarray, str]:
    """Raw ADC counts → µS by the device's transfer function, and the note saying so."""
    tf = next((v for key, v in EDA_TRANSFER.items() if device.lower().startswith(key)), None)
    if tf is None:
        raise DataFormatError(f"{p}: no EDA transfer function known for device '{device}' "
                              f"(known: {', '.join(EDA_TRANSFER)}); convert the channel to µS "
                              "and pass --unit us")
    n_bits = chan.n_bits
    if n_bits is None or not 1 <= n_bits <= 24:
        raise DataFormatError(f"{p}: no ADC resolution for channel {chan.label} in the header")
    if (raw != np.round(raw)).any() or raw.min() < 0 or raw.max() >= 2 ** n_bits:
        raise DataFormatError(
            f"{p} channel {chan.label}: values are not raw {n_bits}-bit ADC counts (range "
            f"{raw.min():g}–{raw.max():g}); for an export already in µS pass --unit us"
        )
    vcc, div = tf
    note = (f"{device} {chan.label} ({chan.sensor or 'sensor ?'}): {n_bits}-bit ADC → µS with "
            f"EDA = ADC/2^{n_bits}·{vcc:g} V/{div:g}")
    return raw / 2.0 ** n_bits * vcc / div, note
