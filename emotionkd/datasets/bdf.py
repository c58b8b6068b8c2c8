"""BioSemi BDF (24-bit EDF variant): a small writer, a header reader for validation, and the
Status-channel decoding.

Reading signals goes through MNE (:mod:`emotionkd.datasets.hci`); this module only needs
numpy, so synthetic sessions can be written without MNE installed.

Format (BioSemi's file_format.htm, as MNE reads it): an ASCII header of (N + 1) · 256 bytes —
256 bytes of general fields, then N × 256 bytes of per-signal fields stored field by field —
followed by data records; within a record, each channel's samples are consecutive 3-byte
little-endian two's-complement integers. Physical = (digital − dmin) · (pmax − pmin) /
(dmax − dmin) + pmin.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionkd.errors import DataFormatError

DIG_MIN, DIG_MAX = -(2**23), 2**23 - 1
#: trigger inputs live in the low 16 bits of Status; bits 16-23 are system bits (new epoch,
#: speed mode, CMS in range, battery low, ActiveTwo MK2)
TRIGGER_MASK = 0xFFFF


@dataclass
class BdfChannel:
    label: str
    unit: str
    phys_min: float
    phys_max: float
    transducer: str = ""
    prefilter: str = ""
    dig_min: int = DIG_MIN
    dig_max: int = DIG_MAX


def _field(value: str, width: int) -> bytes:
    raw = value.encode("ascii", errors="replace")
    if len(raw) > width:
        raise ValueError(f"BDF header field {value!r} longer than {width} bytes")
    return raw.ljust(width, b" ")


def _num(x: float, width: int = 8) -> str:
    s = f"{x:g}" if not float(x).is_integer() else str(int(x))
    if len(s) > width:
        s = f"{x:.{max(width - 6, 1)}g}"
    return s[:width]


def write_bdf(
    path: str | os.PathLike,
    channels: Sequence[BdfChannel],
    data: np.ndarray,
    fs: int,
    *,
    digital: Sequence[bool] | None = None,
    subject: str = "X",
    recording: str = "emotionkd synthetic",
    start: _dt.datetime | None = None,
) -> Path:
    """Write a BioSemi BDF file.

    ``data`` is (n_channels, n_samples): physical values, converted with each channel's
    physical and digital range, except for channels flagged in ``digital`` (e.g. Status), whose
    values are written as the 24-bit integers they are. The signal is padded with its last
    sample to whole 1-s data records.
    """
    path = Path(path)
    data = np.asarray(data)
    n_ch, n = data.shape
    if len(channels) != n_ch:
        raise ValueError(f"{len(channels)} channel headers for {n_ch} rows of data")
    fs = int(fs)
    n_rec = int(np.ceil(n / fs))
    if n_rec * fs != n:
        data = np.concatenate([data, np.repeat(data[:, -1:], n_rec * fs - n, axis=1)], axis=1)
    dig = np.empty((n_ch, n_rec * fs), dtype=np.int64)
    flags = list(digital) if digital is not None else [False] * n_ch
    for i, ch in enumerate(channels):
        if flags[i]:
            dig[i] = np.asarray(data[i], dtype=np.int64)
        else:
            scale = (ch.dig_max - ch.dig_min) / (ch.phys_max - ch.phys_min)
            dig[i] = np.rint((data[i] - ch.phys_min) * scale + ch.dig_min).astype(np.int64)
        np.clip(dig[i], ch.dig_min, ch.dig_max, out=dig[i])
    start = start or _dt.datetime(2009, 1, 1, 12, 0, 0)
    head = b"\xffBIOSEMI"
    head += _field(subject, 80) + _field(recording, 80)
    head += _field(start.strftime("%d.%m.%y"), 8) + _field(start.strftime("%H.%M.%S"), 8)
    head += _field(str((n_ch + 1) * 256), 8) + _field("24BIT", 44)
    head += _field(str(n_rec), 8) + _field("1", 8) + _field(str(n_ch), 4)
    for width, get in ((16, lambda c: c.label), (80, lambda c: c.transducer),
                       (8, lambda c: c.unit), (8, lambda c: _num(c.phys_min)),
                       (8, lambda c: _num(c.phys_max)), (8, lambda c: str(c.dig_min)),
                       (8, lambda c: str(c.dig_max)), (80, lambda c: c.prefilter),
                       (8, lambda c: str(fs)), (32, lambda c: "")):
        head += b"".join(_field(get(c), width) for c in channels)
    assert len(head) == (n_ch + 1) * 256
    # records: (n_rec, n_ch, fs) samples → 3 little-endian bytes each
    recs = dig.reshape(n_ch, n_rec, fs).transpose(1, 0, 2).astype("<i4")
    body = recs.view(np.uint8).reshape(n_rec, n_ch, fs, 4)[..., :3]
    from emotionkd.outputs import atomic_output

    with atomic_output(path, lock=False) as tmp, open(tmp, "wb") as fh:
        fh.write(head)
        fh.write(np.ascontiguousarray(body).tobytes())
    return path


@dataclass
class BdfHeader:
    n_channels: int
    n_records: int
    record_s: float
    labels: list[str]
    units: list[str]
    samples_per_record: list[int]
    header_bytes: int
    phys_min: list[float] | None = None
    phys_max: list[float] | None = None

    def flat(self, labels: Sequence[str]) -> list[str]:
        """Those of ``labels`` whose physical minimum equals their maximum: the header maps
        every sample to one value, so the channel is flat whatever was recorded."""
        if self.phys_min is None or self.phys_max is None:
            return []
        names = {lab.lower(): i for i, lab in enumerate(self.labels)}
        return [lab for lab in labels if lab.lower() in names
                and self.phys_min[names[lab.lower()]] == self.phys_max[names[lab.lower()]]]

    @property
    def expected_size(self) -> int:
        return self.header_bytes + self.n_records * 3 * sum(self.samples_per_record)


def read_bdf_header(path: str | os.PathLike) -> BdfHeader:
    """Parse and check a BDF header (and that the file holds every data record it declares)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(256)
            if len(head) < 256 or head[:8] != b"\xffBIOSEMI":
                raise DataFormatError(f"{p}: not a BioSemi BDF file (bad signature)")
            n = int(head[252:256])
            rest = fh.read(n * 256)
            if len(rest) < n * 256:
                raise DataFormatError(f"{p}: truncated BDF header")
        header_bytes = int(head[184:192])
        n_rec = int(head[236:244])
        rec_s = float(head[244:252])
    except (ValueError, OSError) as exc:
        raise DataFormatError(f"{p}: corrupt BDF header ({exc})") from None

    def block(offset: int, width: int) -> list[str]:
        return [rest[offset + i * width: offset + (i + 1) * width].decode("ascii", "replace")
                .strip() for i in range(n)]

    off = 0
    fields = {}
    for name, width in (("labels", 16), ("transducer", 80), ("units", 8), ("pmin", 8),
                        ("pmax", 8), ("dmin", 8), ("dmax", 8), ("prefilter", 80),
                        ("nsamp", 8)):
        fields[name] = block(off, width)
        off += n * width
    try:
        nsamp = [int(x) for x in fields["nsamp"]]
        pmin, pmax = ([float(x) for x in fields[k]] for k in ("pmin", "pmax"))
    except ValueError:
        raise DataFormatError(f"{p}: corrupt BDF header (samples per record or physical "
                              "range)") from None
    hdr = BdfHeader(n, n_rec, rec_s, fields["labels"], fields["units"], nsamp, header_bytes,
                    pmin, pmax)
    if header_bytes != (n + 1) * 256:
        raise DataFormatError(f"{p}: header size field {header_bytes} ≠ (N+1)·256 = "
                              f"{(n + 1) * 256}; the file is corrupt")
    if any(k <= 0 for k in nsamp) or n <= 0:
        raise DataFormatError(f"{p}: corrupt BDF header ({n} channels, samples per record "
                              f"{nsamp[:4]}…)")
    size = p.stat().st_size
    if n_rec == -1:  # EDF's "unknown" (a recording that was not closed): count the records
        hdr.n_records = n_rec = max(0, size - header_bytes) // (3 * sum(nsamp))
    if n_rec < 0:
        raise DataFormatError(f"{p}: corrupt BDF header ({n_rec} data records)")
    if size < hdr.expected_size:
        raise DataFormatError(
            f"{p}: truncated BDF: the header declares {n_rec} data records "
            f"({hdr.expected_size} bytes) but the file has {size} bytes"
        )
    return hdr


def status_edges(status: np.ndarray, mask: int = TRIGGER_MASK) -> np.ndarray:
    """Sample indices where the trigger bits (``status & mask``) go from zero to non-zero.

    System bits in the high byte (and bit 16) are masked away first; a trigger already on at
    sample 0 counts as an edge at 0.
    """
    on = (np.asarray(status).astype(np.int64) & mask) != 0
    if on.size == 0:
        return np.zeros(0, dtype=np.int64)
    edges = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    return np.concatenate([[0], edges]) if on[0] else edges


def trigger_codes(status: np.ndarray, mask: int = TRIGGER_MASK) -> list[tuple[int, int]]:
    """(sample, code) at each rising edge of the masked trigger value."""
    st = np.asarray(status).astype(np.int64) & mask
    return [(int(i), int(st[i])) for i in status_edges(status, mask)]


def read_digital(path: str | os.PathLike, label: str, header: BdfHeader | None = None
                 ) -> np.ndarray:
    """The raw 24-bit integers of one channel (e.g. Status, with its system bits), read
    straight from the data records (MNE masks Status to 17 bits, so it is read here)."""
    p = Path(path)
    hdr = header or read_bdf_header(p)
    names = [lab.lower() for lab in hdr.labels]
    if label.lower() not in names:
        raise DataFormatError(f"{p}: no channel '{label}' (channels: {', '.join(hdr.labels)})")
    i = names.index(label.lower())
    rec_bytes = 3 * sum(hdr.samples_per_record)
    start = 3 * sum(hdr.samples_per_record[:i])
    width = 3 * hdr.samples_per_record[i]
    mm = np.memmap(p, dtype=np.uint8, mode="r", offset=hdr.header_bytes,
                   shape=(hdr.n_records, rec_bytes))
    raw = np.asarray(mm[:, start:start + width]).reshape(-1, 3).astype(np.int32)
    v = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
    return np.where(v >= 1 << 23, v - (1 << 24), v)
