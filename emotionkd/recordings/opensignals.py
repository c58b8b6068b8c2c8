"""OpenSignals text exports of PLUX devices (BITalino, biosignalsplux): the EDA channel of the
file in µS. The header, the choice of the channel (by sensor type, else label; ``channel``
overrides) and PLUX's transfer functions from raw ADC counts to µS (by sensor type, else by
the device's family) are in :mod:`emotionkd.recordings.plux`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.ondisk import check_size
from emotionkd.recordings import plux
from emotionkd.recordings.base import Recording
from emotionkd.recordings.text import MAX_TEXT_BYTES, SIZE_FIX
from emotionkd.signals import to_microsiemens

MAGIC = plux.MAGIC


def read_opensignals(p: Path, channel: str | None, unit: str) -> Recording:
    """The EDA channel of an OpenSignals text file, in µS: converted from ADC counts, or as
    the file or ``unit`` says where the values are already physical."""
    try:
        check_size(p, MAX_TEXT_BYTES, "the recording", SIZE_FIX)
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
        values, u, _ = to_microsiemens(raw, unit if unit != "auto" else "us", src)
        why = "from --unit" if unit != "auto" else \
            "the header says convertedValues: OpenSignals wrote the EDA sensor's unit, µS"
        return Recording(values, fs, str(p), "opensignals", ch.label, u,
                         notes=[f"{device} {ch.label}: values in {u} ({why})"])
    values, note = plux.adc_to_microsiemens(raw, head, ch, src)
    return Recording(values, fs, str(p), "opensignals", ch.label, "adc", notes=[note])
