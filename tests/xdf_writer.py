"""A small XDF 1.0 writer for tests, following the specification (github.com/sccn/xdf,
"Specifications"): the magic ``XDF:``, then chunks of [NumLengthBytes][Length][Tag][Content]
where Length counts the 2-byte tag and the content. Tags: 1 FileHeader (XML), 2 StreamHeader
(stream id + XML), 3 Samples (stream id, a variable-length sample count, then per sample a
time-stamp flag byte, an optional float64 stamp and the values), 4 ClockOffset (stream id,
float64 collection time, float64 offset), 5 Boundary (a fixed 16-byte UUID), 6 StreamFooter
(stream id + XML). Numbers are little-endian; strings are a variable-length byte count and
UTF-8 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

BOUNDARY_UUID = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5,
                       0x46, 0x73, 0x83, 0xCB, 0xE4])
_FORMATS = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4"}


def varlen(n: int) -> bytes:
    if n < 256:
        return b"\x01" + struct.pack("<B", n)
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def chunk(tag: int, content: bytes) -> bytes:
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


@dataclass
class Stream:
    """One stream: ``values`` (n, channels) numeric, or a list of strings (one channel)."""

    name: str
    type: str
    rate: float  # nominal; 0 = irregular
    values: np.ndarray | list[str]
    stamps: np.ndarray  # in the stream's own clock
    channel_format: str = "float32"
    labels: list[str] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    #: (collection time in the stream's clock, offset to add to reach the recorder's clock)
    clock_offsets: list[tuple[float, float]] = field(default_factory=list)

    @property
    def n_channels(self) -> int:
        return 1 if self.channel_format == "string" else int(np.asarray(self.values).shape[1])

    def header_xml(self) -> bytes:
        chans = "".join(
            "<channel>" + f"<label>{escape(lab)}</label>"
            + (f"<unit>{escape(self.units[i])}</unit>" if i < len(self.units) else "")
            + (f"<type>{escape(self.types[i])}</type>" if i < len(self.types) else "")
            + "</channel>" for i, lab in enumerate(self.labels))
        return (f'<?xml version="1.0"?><info><name>{escape(self.name)}</name>'
                f"<type>{escape(self.type)}</type><channel_count>{self.n_channels}"
                f"</channel_count><nominal_srate>{self.rate:g}</nominal_srate>"
                f"<channel_format>{self.channel_format}</channel_format>"
                f"<source_id>{escape(self.name)}-1</source_id><version>1.1</version>"
                f"<created_at>0</created_at><uid>{escape(self.name)}-uid</uid>"
                f"<session_id>default</session_id><hostname>test</hostname>"
                f"<desc><channels>{chans}</channels></desc></info>").encode()

    def samples(self, lo: int, hi: int) -> bytes:
        out = [varlen(hi - lo)]
        for k in range(lo, hi):
            out.append(b"\x08" + struct.pack("<d", float(self.stamps[k])))
            if self.channel_format == "string":
                b = str(self.values[k]).encode()
                out.append(varlen(len(b)) + b)
            else:
                out.append(np.asarray(self.values[k], dtype=_FORMATS[self.channel_format])
                           .tobytes())
        return b"".join(out)

    def footer_xml(self) -> bytes:
        offs = "".join(f"<offset><time>{t!r}</time><value>{v!r}</value></offset>"
                       for t, v in self.clock_offsets)
        return (f'<?xml version="1.0"?><info><first_timestamp>{self.stamps[0]!r}'
                f"</first_timestamp><last_timestamp>{self.stamps[-1]!r}</last_timestamp>"
                f"<sample_count>{len(self.stamps)}</sample_count>"
                f"<clock_offsets>{offs}</clock_offsets></info>").encode()


def write_xdf(path: Path, streams: list[Stream], chunk_samples: int = 256) -> Path:
    """Write ``streams`` as LabRecorder does: headers, then samples in chunks interleaved
    across streams with the clock offsets between them, boundaries, footers."""
    body = [b"XDF:", chunk(1, b'<?xml version="1.0"?><info><version>1.0</version>'
                              b"<datetime>2024-01-01T12:00:00+0000</datetime></info>")]
    for sid, s in enumerate(streams, start=1):
        body.append(chunk(2, struct.pack("<I", sid) + s.header_xml()))
    pos = [0] * len(streams)
    offs = [0] * len(streams)
    while any(p < len(s.stamps) for p, s in zip(pos, streams)):
        for i, s in enumerate(streams):
            if pos[i] < len(s.stamps):
                hi = min(pos[i] + chunk_samples, len(s.stamps))
                body.append(chunk(3, struct.pack("<I", i + 1) + s.samples(pos[i], hi)))
                pos[i] = hi
            while offs[i] < len(s.clock_offsets) and (
                    pos[i] >= len(s.stamps)
                    or s.clock_offsets[offs[i]][0] <= s.stamps[pos[i] - 1]):
                t, v = s.clock_offsets[offs[i]]
                body.append(chunk(4, struct.pack("<I", i + 1) + struct.pack("<dd", t, v)))
                offs[i] += 1
        body.append(chunk(5, BOUNDARY_UUID))
    for sid, s in enumerate(streams, start=1):
        body.append(chunk(6, struct.pack("<I", sid) + s.footer_xml()))
    path.write_bytes(b"".join(body))
    return path
