"""Reader of AMIGOS' preprocessed physiology (``Data_Preprocessed_PXX.mat``, one file per
participant, as unpacked folders, flat files or the release's zips).

Each file holds four 1 × 20 cell arrays, cell k being the same video in all of them:
``joined_data`` (samples × 17 at 128 Hz: 14 Emotiv EEG channels, ECG right and left, GSR),
``labels_selfassessment`` (1 × 12: arousal, valence, dominance, liking, familiarity on 1-9,
then seven basic emotions as 0/1), ``labels_ext_annotation`` and ``VideoIDs``. Cells 0-15
are the short videos (numeric ids), 16-19 the long ones (N1, P1, B1, U1); the first 5 s of
every trial are a pre-stimulus baseline. GSR is skin resistance (Ohm, an inference from its
magnitude, checked per file). Empty cells (missing long videos), cells without ratings and
cells with NaN samples are left out one by one with a reason. Facts and sources:
docs/data-formats.md#amigos.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionkd.choices import AMIGOS_VIDEOS
from emotionkd.datasets.records import DEAP_EEG_CHANNELS, Trial, TrialList
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.signals import PLAUSIBLE_US, gsr_to_microsiemens, infer_gsr_unit
from emotionkd.validation import check_choice

AMIGOS_FS = 128.0
#: the 14 Emotiv EPOC channels in the order of joined_data's columns 0-13
AMIGOS_FILE_EEG = ["AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4",
                   "F8", "AF4"]
AMIGOS_COLUMNS = AMIGOS_FILE_EEG + ["ECG_Right", "ECG_Left", "GSR"]
AMIGOS_GSR_COLUMN = 16
#: the 14 EEG channels in DEAP's order, the canonical order of every store
AMIGOS_EEG_CHANNELS = [c for c in DEAP_EEG_CHANNELS if c in AMIGOS_FILE_EEG]
#: labels_selfassessment columns (arousal first, unlike DEAP)
AMIGOS_RATING_NAMES = ["arousal", "valence", "dominance", "liking", "familiarity", "neutral",
                       "disgust", "happiness", "surprise", "anger", "fear", "sadness"]
AMIGOS_RATING_SCALES: list[tuple[float, float]] = [(1.0, 9.0)] * 5 + [(0.0, 1.0)] * 7
#: pre-stimulus baseline at the start of every trial (peer consensus, not in the readme)
AMIGOS_BASELINE_S = 5.0
#: the first GSR samples of a trial carry the low-pass filter's start-up; they lie in the
#: baseline and are dropped (with the same EEG samples)
AMIGOS_TRIM_SAMPLES = 20
SHORT_VIDEOS = (4, 5, 9, 10, 13, 18, 19, 20, 23, 30, 31, 34, 36, 58, 80, 138)
#: long videos have codes, not numbers; stored as trials 101-104
LONG_VIDEOS = {"N1": 101, "P1": 102, "B1": 103, "U1": 104}
#: what a median channel SD of µV EEG looks like after 4-45 Hz and CAR (a loose check)
EEG_SD_RANGE_UV = (0.1, 1000.0)
_VARIABLES = ("VideoIDs", "joined_data", "labels_ext_annotation", "labels_selfassessment")
_NAME = re.compile(r"^Data_Preprocessed_P(\d{1,3})\.(mat|zip)$", re.IGNORECASE)


@dataclass
class AmigosFolder:
    """What a scan of an AMIGOS folder found."""

    files: list[tuple[int, Path]]  # (participant, .mat or .zip), sorted
    stray: list[Path]  # top-level entries holding no participant file


def scan_folder(raw: str | Path) -> AmigosFolder:
    """Find ``Data_Preprocessed_PXX.mat`` (or ``.zip``) files anywhere under ``raw``.

    A participant present both unpacked and as a zip is read from the .mat; two files of one
    kind for one participant are an error."""
    root = Path(raw)
    if not root.exists():
        raise DataFormatError(f"{root}: no such folder; point --raw at the folder holding "
                              "AMIGOS' Data_Preprocessed_PXX folders, .mat or .zip files")
    if not root.is_dir():
        raise DataFormatError(f"{root}: is a file; --raw expects the folder holding "
                              "Data_Preprocessed_P01 …")
    found: dict[int, dict[str, list[Path]]] = {}
    for p in sorted(root.rglob("*")):
        m = _NAME.match(p.name)
        if m and p.is_file():
            found.setdefault(int(m.group(1)), {"mat": [], "zip": []})[m.group(2).lower()] \
                .append(p)
    files = []
    for subject in sorted(found):
        kinds = found[subject]
        for kind in ("mat", "zip"):
            if len(kinds[kind]) > 1:
                raise DataFormatError(
                    f"{root}: participant {subject} has {len(kinds[kind])} .{kind} files "
                    f"({', '.join(str(p.relative_to(root)) for p in kinds[kind])}); keep one")
        files.append((subject, (kinds["mat"] or kinds["zip"])[0]))
    if not files:
        raise DataFormatError(f"{root}: no AMIGOS files (Data_Preprocessed_P01.mat … or .zip) "
                              "found; point --raw at the preprocessed-data download")
    used = {p for _, p in files}
    stray = [e for e in sorted(root.iterdir())
             if e not in used and not any(e in p.parents for p in used)]
    return AmigosFolder(files=files, stray=stray)


def _loadmat(source: str | io.BytesIO, where: Path) -> dict:
    from scipy.io import loadmat

    try:
        return loadmat(source, variable_names=list(_VARIABLES))
    except NotImplementedError:
        raise DataFormatError(
            f"{where}: is a MAT v7.3 (HDF5) file; AMIGOS' release is MAT v5/v7: re-save it "
            "in MATLAB with save(..., '-v7'), or download it again") from None
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise DataFormatError(f"{where}: truncated or corrupt MAT file ({exc}); download it "
                              "again, or pass --skip-bad to leave it out") from None


def load_participant(path: Path) -> dict[str, np.ndarray]:
    """The four variables of one participant as flat object arrays of cells, read from the
    .mat or from inside its zip."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        mat = _read_zip(path)
    else:
        mat = _loadmat(str(path), path)
    missing = [v for v in ("VideoIDs", "joined_data", "labels_selfassessment") if v not in mat]
    if missing:
        keys = ", ".join(k for k in mat if not k.startswith("__"))
        raise DataFormatError(f"{path}: has no {', '.join(missing)} (variables: {keys or 'none'}"
                              "); is this an AMIGOS Data_Preprocessed file?")
    cells = {}
    for name in _VARIABLES:
        if name not in mat:
            continue
        v = mat[name]
        if not (isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 2
                and 1 in v.shape):
            raise DataFormatError(f"{path}: '{name}' is not a 1 × N cell array (shape "
                                  f"{getattr(v, 'shape', '?')}, dtype "
                                  f"{getattr(v, 'dtype', '?')}); expected 1 × 20 cells")
        cells[name] = v.reshape(-1)
    n = {k: len(v) for k, v in cells.items()}
    if len(set(n.values())) != 1:
        raise DataFormatError(f"{path}: the cell arrays differ in length ({n}); each should "
                              "hold the same 20 videos")
    return cells


def _read_zip(path: Path) -> dict:
    want = path.stem.lower() + ".mat"
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if Path(i.filename).name.lower() == want]
            if len(members) != 1:
                raise DataFormatError(f"{path}: holds {len(members)} members named "
                                      f"{path.stem}.mat; expected one")
            try:
                data = zf.read(members[0])
            except NotImplementedError as exc:  # Deflate64 (method 9) and other methods
                raise DataFormatError(
                    f"{path}: {exc}; Python's zipfile cannot unpack it (some AMIGOS zips use "
                    "Deflate64): unzip it with 7-Zip or unzip and point --raw at the "
                    "extracted folder") from None
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: truncated or corrupt zip ({exc}); download it again, "
                              "or pass --skip-bad to leave it out") from None
    return _loadmat(io.BytesIO(data), path)


def video_code(cell: np.ndarray) -> str:
    """The ``VideoIDs`` entry of a cell as text ('' for an empty cell)."""
    arr = np.asarray(cell).reshape(-1)
    if arr.size == 0:
        return ""
    v = arr[0]
    if isinstance(v, (bytes, np.bytes_)):
        v = v.decode("latin-1")
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    return str(v).strip()


def video_trial(code: str, position: int) -> tuple[str, int | None]:
    """(kind, trial number) of a video: short videos keep their number, long videos N1, P1,
    B1, U1 become 101-104; an empty code falls back on the cell position (0-15 short)."""
    if code.isdigit():
        return "short", int(code)
    if code.upper() in LONG_VIDEOS:
        return "long", LONG_VIDEOS[code.upper()]
    if not code:
        return ("short" if position < 16 else "long"), None
    return "unknown", None


def resolve_channels(spec: str | Sequence[str] | None) -> list[str]:
    """``--eeg-channels`` for AMIGOS: ``all`` (the 14 Emotiv channels in DEAP's order) or
    names among them."""
    from emotionkd.datasets.records import resolve_eeg_channels

    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "all"):
        return list(AMIGOS_EEG_CHANNELS)
    names = resolve_eeg_channels(spec)
    extra = [c for c in names if c not in AMIGOS_EEG_CHANNELS]
    if extra:
        raise ConfigError(f"--eeg-channels: AMIGOS has no {', '.join(extra)}; its 14 channels "
                          f"are {', '.join(AMIGOS_EEG_CHANNELS)}")
    return names


def _ratings(cell: np.ndarray, where: str) -> tuple[np.ndarray | None, str]:
    """(ratings, '') or (None, why the cell is left out); a wrong shape is a format error."""
    r = np.asarray(cell, dtype=np.float64)
    if r.size == 0:
        return None, f"{where}: no self-assessment (labels_selfassessment is {r.shape})"
    if r.size != len(AMIGOS_RATING_NAMES):
        raise DataFormatError(f"{where}: labels_selfassessment has shape {r.shape}, expected "
                              "(1, 12)")
    r = r.reshape(-1)
    if not np.isfinite(r).all():
        return None, f"{where}: self-assessment holds NaN"
    for j, (lo, hi) in enumerate(AMIGOS_RATING_SCALES):
        if not lo <= r[j] <= hi:
            return None, (f"{where}: {AMIGOS_RATING_NAMES[j]} = {r[j]:g} is outside its "
                          f"{lo:g}-{hi:g} scale")
    return r, ""


def iter_trials(
    path: Path,
    subject: int,
    eeg_channels: Sequence[str] | None = None,
    videos: str = "short",
    baseline_s: float = AMIGOS_BASELINE_S,
    trim_samples: int = AMIGOS_TRIM_SAMPLES,
    gsr_unit: str = "auto",
) -> TrialList:
    """The chosen videos of one participant as Trial records (GSR still in its raw unit, the
    unit decided and checked here), plus the cells left out with their reasons."""
    check_choice(videos, "--videos", AMIGOS_VIDEOS)
    path = Path(path)
    names = list(eeg_channels) if eeg_channels is not None else list(AMIGOS_EEG_CHANNELS)
    cols = [AMIGOS_FILE_EEG.index(c) for c in names]
    onset = int(round(baseline_s * AMIGOS_FS)) - trim_samples
    cells = load_participant(path)
    out = TrialList()
    for k, (vid_cell, data_cell, lab_cell) in enumerate(zip(
            cells["VideoIDs"], cells["joined_data"], cells["labels_selfassessment"])):
        code = video_code(vid_cell)
        kind, trial = video_trial(code, k)
        where = f"{path.name} cell {k + 1} (video {code or '?'})"
        if kind == "unknown":
            out.skipped.append(f"{where}: unknown video id {code!r}")
            continue
        if videos != "all" and kind != videos:
            continue
        data, why = _cell_data(data_cell, where)
        if data is None:
            out.skipped.append(why)
            continue
        if trial is None:
            out.skipped.append(f"{where}: VideoIDs is empty, so the video is unknown")
            continue
        ratings, why = _ratings(lab_cell, where)
        if ratings is None:
            out.skipped.append(why)
            continue
        if data.shape[0] <= onset + trim_samples:
            out.skipped.append(f"{where}: {data.shape[0]} samples, not more than the "
                               f"{baseline_s:g}-s baseline")
            continue
        used = data[trim_samples:, cols + [AMIGOS_GSR_COLUMN]]
        bad = ~np.isfinite(used)
        if bad.any():
            chans = [(names + ["GSR"])[j] for j in np.flatnonzero(bad.any(axis=0))]
            out.skipped.append(f"{where}: {int(bad.sum())} NaN/Inf samples in "
                               f"{', '.join(chans)}")
            continue
        out.append(Trial(subject=subject, trial=trial, eeg=used[:, :-1].T, gsr=used[:, -1],
                         fs=AMIGOS_FS, ratings=ratings, onset=onset, eeg_channels=names,
                         gsr_unit="ohm", source_file=str(path),
                         extra={"video": code, "kind": kind, "cell": k + 1}))
    if out:
        _check_eeg_uv(out, path)
        _settle_unit(out, path, gsr_unit)
    return out


def _cell_data(cell: np.ndarray, where: str) -> tuple[np.ndarray | None, str]:
    """(joined_data of a cell, '') or (None, why it is left out); a wrong shape or type is a
    format error."""
    data = np.asarray(cell)
    if data.size == 0:
        return None, (f"{where}: empty joined_data ({data.shape[0]} × "
                      f"{data.shape[1] if data.ndim > 1 else 0}): no recording")
    if data.ndim != 2 or data.shape[1] != len(AMIGOS_COLUMNS):
        raise DataFormatError(f"{where}: joined_data has shape {data.shape}, expected "
                              f"(samples, {len(AMIGOS_COLUMNS)}): 14 EEG, 2 ECG, GSR")
    if not np.issubdtype(data.dtype, np.number):
        raise DataFormatError(f"{where}: joined_data is not numeric ({data.dtype})")
    return data, ""


def _settle_unit(trials: TrialList, path: Path, gsr_unit: str) -> None:
    """The unit of a participant's GSR (``--gsr-unit``, else the one rule over all its
    samples), checked to give a plausible conductance, recorded in every trial."""
    gsr = np.concatenate([t.gsr for t in trials])
    if gsr_unit == "auto":
        unit, reason = infer_gsr_unit(gsr, str(path), "--gsr-unit")
    else:
        unit, reason = gsr_unit, "given by --gsr-unit"
    _check_conductance(gsr, unit, path)
    for t in trials:
        t.gsr_unit = unit
        t.extra["gsr_unit_reason"] = reason


def _check_eeg_uv(trials: Sequence[Trial], path: Path) -> None:
    """EEG is assumed to be in µV: refuse a file whose channel SDs say otherwise."""
    sd = float(np.median(np.concatenate([t.eeg for t in trials], axis=1).std(axis=1)))
    lo, hi = EEG_SD_RANGE_UV
    if not lo <= sd <= hi:
        raise DataFormatError(
            f"{path}: median EEG channel SD is {sd:.3g}, not the {lo:g}-{hi:g} expected of "
            "µV (AMIGOS' EEG is assumed to be in µV); check that this is an AMIGOS "
            "preprocessed file")


def _check_conductance(gsr: np.ndarray, unit: str, path: Path) -> None:
    """The GSR converted with ``unit`` must be a plausible skin conductance
    (:data:`~emotionkd.signals.PLAUSIBLE_US`)."""
    med = float(np.median(gsr_to_microsiemens(gsr, unit, str(path), "--gsr-unit")))
    lo, hi = PLAUSIBLE_US
    if not lo <= med <= hi:
        raise DataFormatError(
            f"{path}: GSR read as {unit} gives a median skin conductance of {med:.3g} µS, "
            f"outside {lo:g}-{hi:g} µS; AMIGOS' GSR is expected in Ohm: pass --gsr-unit "
            "with the unit these values have")
