"""Reader of DEAP's ``data_preprocessed_python`` (.dat) and ``data_preprocessed_matlab`` (.mat).

Each ``sXX`` file holds ``data`` (40 trials, 40 channels, 8064 samples at 128 Hz: 3 s pre-trial
baseline + 60 s video) and ``labels`` (40, 4: valence, arousal, dominance, liking on 1–9).
Rows 0–31 are EEG in DEAP's (Geneva) order, row 36 is GSR as skin resistance in Ohm.
See docs/data-formats.md for these facts and docs/index.md for their sources.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionkd.datasets.records import (
    DEAP_CHANNELS,
    DEAP_EEG_CHANNELS,
    DEAP_GSR_INDEX,
    DEAP_RATING_NAMES,
    Trial,
)
from emotionkd.errors import DataFormatError

DEAP_FS = 128.0
DEAP_BASELINE_S = 3.0
_NAME = re.compile(r"^s(\d{1,3})\.(dat|mat)$", re.IGNORECASE)


@dataclass
class DeapFolder:
    """What a scan of a DEAP folder found."""

    files: list[tuple[int, Path]]  # (subject, path), sorted by subject
    kind: str  # "dat" or "mat"
    stray: list[Path]  # entries that are not sXX.dat/.mat (README.txt, .DS_Store, …)


def scan_folder(raw: str | Path, kind: str = "auto") -> DeapFolder:
    """Find ``sXX.dat`` or ``sXX.mat`` files in ``raw``; everything else is reported as stray.

    ``kind`` is "auto" (whichever is present; both present is an error), "dat" or "mat".
    """
    root = Path(raw)
    if not root.exists():
        raise DataFormatError(
            f"{root}: no such folder; point --raw at DEAP's data_preprocessed_python "
            "(or data_preprocessed_matlab) folder"
        )
    if not root.is_dir():
        raise DataFormatError(f"{root}: is a file; --raw expects the folder holding s01.dat …")
    found: dict[str, list[tuple[int, Path]]] = {"dat": [], "mat": []}
    stray: list[Path] = []
    for p in sorted(root.iterdir()):
        m = _NAME.match(p.name)
        if m and p.is_file():
            found[m.group(2).lower()].append((int(m.group(1)), p))
        else:
            stray.append(p)
    if kind == "auto":
        if found["dat"] and found["mat"]:
            raise DataFormatError(
                f"{root}: holds both .dat and .mat subject files; pass --format dat or --format mat"
            )
        kind = "mat" if found["mat"] else "dat"
    elif kind not in found:
        raise DataFormatError(f"--format must be auto, dat or mat, not {kind!r}")
    else:
        other = "mat" if kind == "dat" else "dat"
        stray.extend(p for _, p in found[other])
    files = sorted(found[kind])
    if not files:
        raise DataFormatError(
            f"{root}: no DEAP subject files (s01.dat … s32.dat or s01.mat …) found; point --raw "
            "at data_preprocessed_python or data_preprocessed_matlab"
        )
    subjects = [s for s, _ in files]
    dup = sorted({s for s in subjects if subjects.count(s) > 1})
    if dup:
        raise DataFormatError(f"{root}: subject(s) {dup} appear under two file names")
    return DeapFolder(files=files, kind=kind, stray=stray)


def _get(d: dict, key: str, path: Path) -> np.ndarray:
    for k in (key, key.encode()):
        if k in d:
            return d[k]
    keys = ", ".join(repr(k) for k in list(d)[:6])
    raise DataFormatError(f"{path}: has no '{key}' entry (keys: {keys}); is this a DEAP file?")


def load_dat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Safely unpickle a DEAP ``.dat`` (Python-2 pickle, str or bytes keys)."""
    import pickle

    from emotionkd.datasets.safe_pickle import safe_load

    try:
        with open(path, "rb") as fh:
            # encoding='bytes' keeps Python-2 byte strings as bytes: numpy takes the array
            # buffers as they are, about twice as fast as latin1's decode-then-re-encode.
            # Keys then arrive as bytes (b'data'), which _get accepts like str keys.
            obj = safe_load(fh, source=str(path), encoding="bytes")
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError,
            AttributeError, UnicodeDecodeError, MemoryError, struct.error) as exc:
        raise DataFormatError(
            f"{path}: truncated or corrupt pickle ({type(exc).__name__}: {exc}); download the "
            "file again, or pass --skip-bad to leave it out"
        ) from None
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read ({exc})") from None
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: holds a {type(obj).__name__}, not DEAP's dict")
    return _get(obj, "data", path), _get(obj, "labels", path)


def load_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a DEAP ``.mat`` (MAT v5/v7 via scipy; v7.3/HDF5 via h5py)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path, variable_names=["data", "labels"])
    except NotImplementedError:  # MAT v7.3 is HDF5
        return _load_mat73(path)
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise DataFormatError(
            f"{path}: truncated or corrupt MAT file ({exc}); download it again, or pass "
            "--skip-bad to leave it out"
        ) from None
    return _get(mat, "data", path), _get(mat, "labels", path)


def _load_mat73(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for key in ("data", "labels"):
                if key in f and not isinstance(f[key], h5py.Dataset):
                    raise DataFormatError(
                        f"{path}: '{key}' is a {type(f[key]).__name__.lower()}, not an array; "
                        "is this a DEAP file? Download it again, or pass --skip-bad to leave "
                        "it out")
            # MATLAB stores column-major: HDF5 axes come out reversed
            return np.asarray(f["data"][()]).T, np.asarray(f["labels"][()]).T
    except (OSError, KeyError, TypeError, RuntimeError) as exc:
        raise DataFormatError(f"{path}: unreadable MAT v7.3 file ({exc})") from None


def load_subject(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate one subject file; returns (data, labels) as numpy arrays."""
    path = Path(path)
    data, labels = load_mat(path) if path.suffix.lower() == ".mat" else load_dat(path)
    validate_arrays(data, labels, path)
    return data, labels


def validate_arrays(data: np.ndarray, labels: np.ndarray, path: Path) -> None:
    """Sanity checks of a subject's arrays (shapes, label range, finite values)."""
    if not isinstance(data, np.ndarray) or not isinstance(labels, np.ndarray):
        raise DataFormatError(f"{path}: 'data' and 'labels' must be numpy arrays")
    if data.ndim != 3 or data.shape[1] != len(DEAP_CHANNELS):
        raise DataFormatError(
            f"{path}: 'data' has shape {data.shape}, expected (trials, 40 channels, samples) "
            "such as (40, 40, 8064)"
        )
    n_trials, _, n_samples = data.shape
    min_samples = int(DEAP_BASELINE_S * DEAP_FS) + 1
    if n_samples < min_samples:
        raise DataFormatError(
            f"{path}: trials have {n_samples} samples, fewer than the 3-s baseline + 1 "
            f"({min_samples}); expected 8064 (63 s at 128 Hz)"
        )
    if labels.shape != (n_trials, len(DEAP_RATING_NAMES)):
        raise DataFormatError(
            f"{path}: 'labels' has shape {labels.shape}, expected ({n_trials}, 4) "
            "(valence, arousal, dominance, liking)"
        )
    for name, arr in (("data", data), ("labels", labels)):
        if arr.dtype.kind not in "fiu":
            raise DataFormatError(f"{path}: '{name}' is of type {arr.dtype}, not real numbers; "
                                  "download the file again, or pass --skip-bad to leave it out")
    if not np.isfinite(labels).all():
        raise DataFormatError(f"{path}: 'labels' contains NaN or Inf")
    bad = (labels < 1) | (labels > 9)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise DataFormatError(
            f"{path}: rating {labels[t, c]:g} ({DEAP_RATING_NAMES[c]}, trial {t + 1}) is outside "
            "[1, 9]; DEAP self-reports are on a 1-9 scale"
        )
    # NaN/Inf only matter in the rows we use (EEG and GSR), checked in iter_trials


def check_finite(rows: np.ndarray, path: Path, channel_names: Sequence[str]) -> None:
    """Refuse NaN/Inf in the rows that will be stored, naming trial, channel and sample."""
    if not np.isfinite(rows).all():
        t, c, s = np.argwhere(~np.isfinite(rows))[0]
        raise DataFormatError(
            f"{path}: NaN or Inf in 'data' (trial {t + 1}, channel {channel_names[c]}, "
            f"sample {s})"
        )


def iter_trials(
    path: Path, subject: int, eeg_channels: Sequence[str] | None = None
) -> Iterator[Trial]:
    """Yield the 40 trials of one subject file as :class:`Trial` records (GSR still in Ohm)."""
    data, labels = load_subject(path)
    names = list(eeg_channels) if eeg_channels is not None else list(DEAP_EEG_CHANNELS)
    rows: list[int] | slice = [DEAP_EEG_CHANNELS.index(c) for c in names]
    if rows == list(range(len(rows))):
        rows = slice(0, len(rows))  # a view, no copy
    onset = int(DEAP_BASELINE_S * DEAP_FS)
    check_finite(data[:, rows, :], path, names)
    check_finite(data[:, DEAP_GSR_INDEX : DEAP_GSR_INDEX + 1, :], path, ["GSR"])
    for t in range(data.shape[0]):
        yield Trial(
            subject=subject,
            trial=t + 1,
            eeg=data[t, rows, :],
            gsr=data[t, DEAP_GSR_INDEX, :],
            fs=DEAP_FS,
            ratings=labels[t].astype(np.float64),
            onset=onset,
            eeg_channels=names,
            gsr_unit="ohm",
            source_file=str(path),
        )
