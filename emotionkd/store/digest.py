"""The content digest of a store: a SHA-256 over its data, so that a run can tell the store it
was made from even when a file of the same name was preprocessed again.

The digest covers what the windows are made of: the signals (``/eeg``, ``/gsr``), every
dataset of ``/trials`` and the attributes that give them meaning (rate, channel names, GSR
unit, rating names and scales). It leaves out what describes the making (``created_with``,
``preprocessing``, which runs record and compare apart, naming the setting that differs), so
a store written again from the same data by another emotionkd version keeps its digest.

It is computed by streaming the signals in blocks of whole chunks, one hash per channel (the
rows of a block are contiguous, so no copy), and is independent of the block size and of the
file's chunking. Cost: 0.14-0.65 s per 100 MB read from the page cache on a shared 2-core
machine, about three plain reads of the same signals (benchmarks/store_digest.py;
docs/evaluation.md).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emotionkd.errors import DataFormatError

#: the digest's name in run files; a change to what it covers gets a new name
ALGORITHM = "sha256-content-v1"
#: attributes of the root that give the data its meaning (and enter the digest)
MEANING_ATTRS = ("sampling_rate", "eeg_channels", "gsr_unit", "rating_names", "rating_scales")
#: signal columns hashed per read (a multiple of the writer's 8192-column chunks)
_BLOCK = 8192 * 32


@dataclass(frozen=True)
class StoreDigest:
    """A store's content digest and how many bytes of data it covers."""

    algorithm: str
    value: str
    bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "value": self.value, "bytes": self.bytes}

    @property
    def short(self) -> str:
        """The first 12 hexadecimal digits, as reports show it."""
        return self.value[:12]


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _signal_rows(ds: h5py.Dataset) -> tuple[list[str], int]:
    """The per-row SHA-256 hexdigests of a 2-D signal dataset and the bytes read."""
    rows, n = ds.shape
    if rows == 0:  # a GSR-only store has no EEG rows
        return [], 0
    hashes = [hashlib.sha256() for _ in range(rows)]
    for a in range(0, n, _BLOCK):
        block = ds[:, a:a + _BLOCK]
        for r in range(rows):
            hashes[r].update(block[r])
    return [h.hexdigest() for h in hashes], rows * n * ds.dtype.itemsize


def content_digest(path: str | os.PathLike) -> StoreDigest:
    """The content digest of the store at ``path`` (an unreadable file is a one-line
    :class:`DataFormatError`)."""
    p = Path(path)
    total = hashlib.sha256(ALGORITHM.encode())
    n_bytes = 0
    try:
        with h5py.File(p, "r") as f:
            meaning = {k: _attr(f.attrs[k]) for k in MEANING_ATTRS if k in f.attrs}
            total.update(json.dumps(meaning, sort_keys=True).encode())
            for name in ("eeg", "gsr"):
                ds = f[name]
                rows, n = _signal_rows(ds)
                total.update(json.dumps([name, ds.dtype.str, list(ds.shape), rows]).encode())
                n_bytes += n
            trials = f["trials"]
            for name in sorted(trials):
                arr = np.ascontiguousarray(trials[name][()])
                total.update(json.dumps([name, arr.dtype.str, list(arr.shape)]).encode())
                total.update(arr.tobytes())
                n_bytes += arr.nbytes
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DataFormatError(f"{p}: cannot read the store to compute its digest ({exc}); "
                              "the file may be truncated or corrupt; preprocess again") from exc
    return StoreDigest(ALGORITHM, total.hexdigest(), n_bytes)
