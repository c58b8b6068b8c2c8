"""OpenSignals text exports of PLUX devices: the header, the EDA channel and its conversion to µS.

OpenSignals (PLUX's recording software for BITalino and biosignalsplux) writes a text file of
three header lines — ``# OpenSignals Text File Format`` (newer versions add ``. Version 1``),
``# {JSON}`` and ``# EndOfHeader`` — then tab-separated integer rows. The JSON object is keyed
by each device's MAC address; per device it gives ``device`` (the kind of device), ``sampling
rate``, ``column`` (the file's columns: ``nSeq``, digital I/O, then the analog channels),
``label`` and ``sensor`` per enabled analog channel, and ``resolution`` in bits. The values
are the raw ADC counts; PLUX's sensor manuals give each sensor's transfer function to
physical units. Which sensor sits on a channel is in ``sensor`` (``EDA``, ``EDABITREV``,
``RAW`` when none was chosen), so the transfer function is chosen by sensor type first and by
the device's family where the sensor string is generic.

Sources (cited again where each fact is used; the same table is in docs/deployment.md):

* [KB] PLUX knowledge base, "OpenSignals Sensor File Specifications (.TXT Format)"
  (support.pluxbiosignals.com): the header layout and keys; its example is a biosignalsplux
  hub written as ``"device": "channeller"`` with columns ``nSeq, DI, PORT1_CHN1``,
  ``"resolution": [16]`` (one entry per analog channel, where BITalino files give one per
  column) and ``"convertedValues": 0``.
* [NB] PLUX's biosignalsnotebooks, ``conversion.raw_to_phy`` (github.com/pluxbiosignals/
  biosignalsnotebooks): the ``device`` names of the PLUX 16-bit hubs (``bioplux``,
  ``bioplux_exp``, ``biosignalsplux``, ``rachimeter``, ``channeller``, ``swifter``,
  ``ddme_openbanplux``), converted alike with VCC = 3 V, and of the BITalino boards
  (``bitalino``, ``bitalino_rev``, ``bitalino_riot``), with VCC = 3.3 V.
* [BIT] PLUX, BITalino "Electrodermal Activity (EDA) Sensor User Manual" v1.0 (2020),
  §1.3 (range 0–25 µS at VCC = 3.3 V) and §1.6: EDA(µS) = (ADC/2ⁿ · VCC) / 0.132.
* [PLX] PLUX, biosignalsplux "Electrodermal Activity (EDA)" sensor datasheet / user manual:
  EDA(µS) = (ADC/2ⁿ · VCC) / 0.12, VCC = 3 V (range 0–25 µS).
* Sensor strings: OpenSignals (r)evolution writes ``EDABITREV`` for the BITalino (r)evolution
  EDA sensor (next to ``ECGBIT``, ``EMGBITREV``, ``EEGBITREV``, ``RESPBIT``), and ``EDA`` for the
  biosignalsplux EDA sensor and in files of older OpenSignals versions; seen in files and
  streams written by OpenSignals, not in a PLUX document.

The original BITalino board's EDA sensor (datasheet "EDA 080115", 2015) measured skin
resistance, EDA(µS) = 1 / (1 − ADC/2ⁿ) (BITalino forum, PLUX staff, 2014); older OpenSignals
versions write ``"device": "bitalino"`` for it and for (r)evolution boards alike (PLUX's own
revolution-sample-data files say ``bitalino``), so a generic ``EDA`` sensor on a ``bitalino``
device is converted with the (r)evolution transfer function and the note says so. For a
classic board, convert the channel yourself and pass ``--unit us``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from emotionkd.errors import DataFormatError

MAGIC = "# OpenSignals Text File Format"
END = "# EndOfHeader"


@dataclass(frozen=True)
class EdaTransfer:
    """A linear EDA transfer function of PLUX's manuals: EDA(µS) = ADC / 2ⁿ · VCC / divisor."""

    sensor: str  # the sensor it belongs to, as shown to the user
    vcc: float  # operating voltage (V)
    divisor: float
    source: str  # the document that gives it

    def to_microsiemens(self, adc: np.ndarray, n_bits: int) -> np.ndarray:
        """Raw counts of an ``n_bits`` channel → µS."""
        return np.asarray(adc, dtype=np.float64) / 2.0 ** n_bits * self.vcc / self.divisor

    def formula(self, n_bits: int) -> str:
        return f"EDA = ADC/2^{n_bits}·{self.vcc:g} V/{self.divisor:g}"


#: transfer functions by sensor
TRANSFERS: dict[str, EdaTransfer] = {
    # [BIT] §1.3, §1.6
    "bitalino-rev": EdaTransfer("BITalino (r)evolution EDA", 3.3, 0.132,
                                "BITalino EDA Sensor User Manual v1.0 (PLUX, 2020), §1.6"),
    # [PLX]
    "biosignalsplux": EdaTransfer("biosignalsplux EDA", 3.0, 0.12,
                                  "biosignalsplux EDA sensor datasheet (PLUX)"),
}

#: ``sensor`` strings of EDA sensors → their transfer function; None: generic, decided by the
#: device's family (the strings are compared upper-case)
EDA_SENSORS: dict[str, str | None] = {"EDABITREV": "bitalino-rev", "EDA": None, "GSR": None}

#: ``device`` field → family ([NB]; [KB] for ``channeller``)
DEVICE_FAMILIES: dict[str, str] = {
    **dict.fromkeys(("bitalino", "bitalino_rev", "bitalino_riot"), "bitalino"),
    **dict.fromkeys(("biosignalsplux", "bioplux", "bioplux_exp", "channeller", "swifter",
                     "rachimeter", "ddme_openbanplux"), "plux"),
}
#: the EDA sensor of each family, for generic sensor strings
FAMILY_EDA: dict[str, str] = {"bitalino": "bitalino-rev", "plux": "biosignalsplux"}


def device_family(device: str) -> str | None:
    """The family of an OpenSignals ``device`` field (exact name; else a name starting with
    ``bitalino`` or ``biosignalsplux``), or None."""
    d = device.strip().lower()
    if d in DEVICE_FAMILIES:
        return DEVICE_FAMILIES[d]
    return next((DEVICE_FAMILIES[k] for k in ("bitalino", "biosignalsplux")
                 if d.startswith(k)), None)


def is_eda_sensor(sensor: str) -> bool:
    """Whether a ``sensor`` string names an EDA sensor (a known string, or one starting with
    ``EDA``, as OpenSignals' EDA sensor names do)."""
    s = sensor.strip().upper()
    return s in EDA_SENSORS or s.startswith("EDA")


def eda_transfer(sensor: str, device: str) -> EdaTransfer | None:
    """The transfer function of an EDA channel: by its sensor string where that names one
    sensor, else by the device's family (also for ``RAW`` channels picked by label or
    ``--channel``); None when neither is known."""
    s = sensor.strip().upper()
    if EDA_SENSORS.get(s):
        return TRANSFERS[EDA_SENSORS[s]]
    if s.startswith("EDA") and s not in EDA_SENSORS:
        return None  # a variant we have no document for
    family = device_family(device)
    return TRANSFERS[FAMILY_EDA[family]] if family in FAMILY_EDA else None


def known_transfers() -> str:
    """What :func:`eda_transfer` knows, for error messages."""
    named = ", ".join(k for k, v in EDA_SENSORS.items() if v)
    families = ", ".join(sorted(k for k, f in DEVICE_FAMILIES.items() if f in FAMILY_EDA))
    return f"sensor {named}; EDA/RAW channels of devices {families}"


@dataclass(frozen=True)
class Channel:
    """One analog channel of an OpenSignals file."""

    device: int  # index into Header.devices
    label: str
    sensor: str
    column: int  # 0-based column in the data rows
    bits: int | None  # ADC resolution


@dataclass
class Header:
    """The parsed header: devices (MAC, settings) in file order, their analog channels, and
    the line index where the data start."""

    devices: list[tuple[str, dict[str, Any]]]
    channels: list[Channel]
    data_start: int

    def mac(self, ch: Channel) -> str:
        return self.devices[ch.device][0]

    def settings(self, ch: Channel) -> dict[str, Any]:
        return self.devices[ch.device][1]

    def device_name(self, ch: Channel) -> str:
        return str(self.settings(ch).get("device", ""))

    def converted(self, ch: Channel) -> bool:
        """The file holds values OpenSignals converted to physical units ([KB]: the
        ``convertedValues`` key, 0 in raw exports)."""
        return bool(self.settings(ch).get("convertedValues", 0))

    def sampling_rate(self, ch: Channel, source: Any) -> float:
        try:
            fs = float(self.settings(ch)["sampling rate"])
        except (KeyError, TypeError, ValueError):
            raise DataFormatError(f"{source}: OpenSignals header of {self.mac(ch)} has no "
                                  "'sampling rate'") from None
        if not np.isfinite(fs) or fs <= 0:
            raise DataFormatError(f"{source}: OpenSignals header of {self.mac(ch)} gives "
                                  f"sampling rate {fs:g}")
        return fs


def _bits(res: Any, j: int, i: int, n_cols: int, n_labels: int) -> int | None:
    """The resolution of analog channel ``i`` (column ``j``): ``resolution`` is one number for
    every channel (old bioplux files), one per column (BITalino) or one per analog channel
    (biosignalsplux hubs, [KB])."""
    if isinstance(res, (int, float)) and not isinstance(res, bool):
        return int(res)
    res = list(res or [])
    if len(res) == n_cols and j < len(res):
        v = res[j]
    elif len(res) == n_labels:
        v = res[i]
    elif len(res) == 1:
        v = res[0]
    else:
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def parse_header(lines: list[str], source: Any) -> Header:
    """The header of an OpenSignals text file (its lines); a DataFormatError names what is
    wrong."""
    if not lines or not lines[0].strip().startswith(MAGIC):
        raise DataFormatError(f"{source}: not an OpenSignals text file (first line is not "
                              f"'{MAGIC}')")
    try:
        end = next(i for i, ln in enumerate(lines) if ln.strip().startswith(END))
    except StopIteration:
        raise DataFormatError(f"{source}: OpenSignals header without '{END}'; the file is "
                              "truncated or edited") from None
    try:
        header = json.loads(" ".join(ln.strip().lstrip("#").strip() for ln in lines[1:end]))
        devices = [(str(mac), dict(d)) for mac, d in header.items()]
    except (ValueError, AttributeError, TypeError) as exc:
        raise DataFormatError(f"{source}: OpenSignals header is not valid JSON ({exc})") \
            from None
    if not devices:
        raise DataFormatError(f"{source}: OpenSignals header names no device")
    first_row = next((ln for ln in lines[end + 1:] if ln.strip()), "")
    width = len(first_row.split())
    chans = []
    offset = 0  # a file from several devices puts their columns side by side
    for k, (mac, d) in enumerate(devices):
        cols = [str(c) for c in d.get("column") or []]
        labels = [str(x) for x in d.get("label") or []]
        sensors = [str(x) for x in d.get("sensor") or []]
        if not cols:  # old files have no column list: the analog channels come last
            if len(devices) > 1:
                raise DataFormatError(f"{source}: OpenSignals header of {mac} has no "
                                      "'column' list; cannot place its columns")
            cols = [f"#{j}" for j in range(max(width, len(labels)))]
            cols[len(cols) - len(labels):] = labels
        for i, lab in enumerate(labels):
            j = cols.index(lab) if lab in cols else len(cols) - len(labels) + i
            chans.append(Channel(k, lab, sensors[i] if i < len(sensors) else "", offset + j,
                                 _bits(d.get("resolution"), j, i, len(cols), len(labels))))
        offset += len(cols)
    if not chans:
        raise DataFormatError(f"{source}: OpenSignals header lists no analog channels")
    return Header(devices, chans, end + 1)


def pick_eda_channel(head: Header, channel: str | None, source: Any) -> Channel:
    """The EDA channel: ``channel`` (a label, a sensor string or ``MAC:label``) when given;
    otherwise the channel whose sensor type is an EDA sensor, else whose label says EDA/GSR.
    Refusals name ``--channel``."""
    names = ", ".join(f"{c.label} ({c.sensor or '?'})" for c in head.channels)
    if channel is not None:
        want = channel.strip().lower()
        pick = [c for c in head.channels
                if want in (c.label.lower(), c.sensor.lower(), f"{head.mac(c)}:{c.label}".lower())]
        if not pick:
            raise DataFormatError(f"{source}: no channel '{channel}' (channels: {names}); pass "
                                  "--channel with one of these labels")
    else:
        pick = [c for c in head.channels if is_eda_sensor(c.sensor)] or \
            [c for c in head.channels if any(g in c.label.lower() for g in ("eda", "gsr"))]
        if not pick:
            raise DataFormatError(f"{source}: no channel has sensor type or label EDA (channels: "
                                  f"{names}); pass --channel LABEL, e.g. --channel "
                                  f"{head.channels[0].label}")
    if len(pick) > 1:
        raise DataFormatError(f"{source}: several EDA channels "
                              f"({', '.join(f'{head.mac(c)}:{c.label}' for c in pick)}); pass "
                              "--channel LABEL (or MAC:LABEL)")
    return pick[0]


def adc_to_microsiemens(raw: np.ndarray, head: Header, ch: Channel, source: Any
                        ) -> tuple[np.ndarray, str]:
    """Raw counts of the EDA channel → (µS, note saying which transfer function and why).
    Refuses, naming ``--unit``, a channel without a known transfer function or resolution, and
    values that are not counts of the channel's resolution."""
    device = head.device_name(ch)
    tf = eda_transfer(ch.sensor, device)
    if tf is None:
        raise DataFormatError(f"{source}: no EDA transfer function known for sensor "
                              f"'{ch.sensor or '?'}' of device '{device}' (known: "
                              f"{known_transfers()}); convert the channel to µS and pass "
                              "--unit us")
    n = ch.bits
    if n is None or not 1 <= n <= 24:
        raise DataFormatError(f"{source}: no ADC resolution for channel {ch.label} in the "
                              "header; convert the channel to µS and pass --unit us")
    if (raw != np.round(raw)).any() or raw.min() < 0 or raw.max() >= 2 ** n:
        raise DataFormatError(f"{source}: values are not raw {n}-bit ADC counts (range "
                              f"{raw.min():g}–{raw.max():g}); for an export already in µS "
                              "pass --unit us")
    sensor = ch.sensor.strip().upper()
    how = "by sensor type" if EDA_SENSORS.get(sensor) else f"by device family ({device or '?'})"
    if sensor and sensor != "RAW" and not is_eda_sensor(sensor):
        how += f"; its sensor type is {ch.sensor}, converted as EDA because --channel chose it"
    if device.strip().lower() == "bitalino" and not EDA_SENSORS.get(sensor):
        how += ("; older OpenSignals write 'bitalino' for the original board too, whose EDA "
                "needs its own conversion and --unit us")
    note = (f"{device} {ch.label} ({ch.sensor or 'sensor ?'}): {n}-bit ADC → µS with "
            f"{tf.formula(n)}, the {tf.sensor} transfer function ({tf.source}), chosen {how}")
    return tf.to_microsiemens(raw, n), note
