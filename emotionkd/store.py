"""The trial-major HDF5 store (format ``emotionkd-trials``, version 1).

One file per dataset holds continuous, preprocessed signals; windows are cut at training time.

Layout::

    /                 attrs: format, format_version, source, sampling_rate, created_with,
                             preprocessing (JSON), eeg_channels, gsr_unit, rating_names,
                             rating_scales (JSON list of [min, max] or null per rating;
                             optional: stores without it are read as 1-9)
    /eeg              float32 [n_eeg_channels, total_samples]   chunked along time
    /gsr              float32 [1, total_samples]
    /trials/subject   int32   [n_trials]
    /trials/trial     int32   [n_trials]
    /trials/start     int64   [n_trials]   first sample of the trial in /eeg and /gsr
    /trials/stop      int64   [n_trials]   one past its last sample
    /trials/onset     int64   [n_trials]   first sample of the stimulus (== start unless the
                                           pre-stimulus baseline was kept)
    /trials/ratings   float32 [n_trials, n_ratings]
    /trials/latent    float32 [n_trials, 2]   optional, synthetic data only: the true
                                           (valence, arousal) in [-1, 1] (attrs: names)

Writers stream trial by trial into resizable datasets in a unique temporary file and rename it
at the end (:mod:`emotionkd.outputs`), so a crash, a full disk or a signal never leaves a
half-written file under the final name. Readers check the signals for NaN and infinity.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emotionkd import __version__
from emotionkd.errors import ConfigError, DataFormatError

#: names of the latent-emotion columns of synthetic stores (/trials/latent)
LATENT_NAMES = ("valence", "arousal")

FORMAT = "emotionkd-trials"
FORMAT_VERSION = 1
_CHUNK = 8192
#: the scale assumed for every rating of a store written without ``rating_scales``
LEGACY_RATING_SCALE = (1.0, 9.0)


def check_rating_scales(scales: Sequence[Sequence[float] | None],
                        names: Sequence[str]) -> list[list[float] | None]:
    """Validate one scale per rating: ``[min, max]`` with min < max (finite), or None for a
    category; returns them as plain lists for the JSON attribute."""
    scales = list(scales)
    if len(scales) != len(names):
        raise ConfigError(f"rating scales: {len(scales)} given for {len(names)} ratings "
                          f"({', '.join(names)}); give one [min, max] (or None) per rating")
    out: list[list[float] | None] = []
    for name, sc in zip(names, scales):
        if sc is None:
            out.append(None)
            continue
        try:
            lo, hi = (float(x) for x in sc)
        except (TypeError, ValueError):
            raise ConfigError(f"rating scale of '{name}': {sc!r} is not a pair (min, max)") \
                from None
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ConfigError(f"rating scale of '{name}': ({lo:g}, {hi:g}) needs finite "
                              "min < max")
        out.append([lo, hi])
    return out


def check_output_path(path: str | os.PathLike, overwrite: bool,
                      inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Validate an output path before any work starts (fail early, write nothing); see
    :func:`emotionkd.outputs.check_output`."""
    from emotionkd.outputs import check_output

    return check_output(path, overwrite=overwrite, inputs=inputs)


class StoreWriter:
    """Stream trials into a new store; use as a context manager.

    Example::

        with StoreWriter(path, source="deap", sampling_rate=128, eeg_channels=names,
                         rating_names=["valence", "arousal", "dominance", "liking"]) as w:
            w.add_trial(subject=1, trial=1, eeg=eeg, gsr=gsr, ratings=r)
            w.preprocessing["baseline"] = "subtract"

    On a clean exit the file is completed and renamed to ``path``; on an exception the
    temporary file is removed and nothing appears under ``path`` (a previous file stays). A
    write failure (full disk, read-only file system) becomes a one-line OutputError.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        source: str,
        sampling_rate: float,
        eeg_channels: Sequence[str],
        rating_names: Sequence[str],
        preprocessing: dict[str, Any] | None = None,
        overwrite: bool = False,
        gsr_unit: str = "uS",
        inputs: Sequence[str | os.PathLike] = (),
        rating_scales: Sequence[Sequence[float] | None] | None = None,
    ) -> None:
        from emotionkd.outputs import atomic_output

        self.path = check_output_path(path, overwrite, inputs)
        self._out = atomic_output(self.path, overwrite=overwrite, inputs=inputs)
        self.tmp: Path | None = None
        self.source = source
        self.sampling_rate = float(sampling_rate)
        self.eeg_channels = [str(c) for c in eeg_channels]
        self.rating_names = [str(r) for r in rating_names]
        self.rating_scales = (None if rating_scales is None
                              else check_rating_scales(rating_scales, self.rating_names))
        self.preprocessing: dict[str, Any] = dict(preprocessing or {})
        self.gsr_unit = gsr_unit
        self._subjects: list[int] = []
        self._trials: list[int] = []
        self._starts: list[int] = []
        self._stops: list[int] = []
        self._onsets: list[int] = []
        self._ratings: list[np.ndarray] = []
        self._latent: list[np.ndarray | None] = []
        self._n = 0
        self._file: h5py.File | None = None

    # -- context management -------------------------------------------------------------
    def __enter__(self) -> StoreWriter:
        self.tmp = self._out.open()
        try:
            # no raw-data chunk cache: every chunk goes to the file when it is written, so a
            # full disk fails in that write, not while HDF5 flushes its cache at close (which
            # leaves the library in a state that can crash the process)
            self._file = h5py.File(self.tmp, "w", rdcc_nbytes=0)
            n_eeg = len(self.eeg_channels)
            self._eeg = self._file.create_dataset(  # a GSR-only store has 0 EEG rows
                "eeg", shape=(n_eeg, 0), maxshape=(max(n_eeg, 1), None), dtype="float32",
                chunks=(max(n_eeg, 1), _CHUNK),
            )
            self._gsr = self._file.create_dataset(
                "gsr", shape=(1, 0), maxshape=(1, None), dtype="float32", chunks=(1, _CHUNK)
            )
        except BaseException as exc:
            self._fail(exc)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._fail(exc)
            return
        try:
            self._finish()
            self._out.commit()
        except BaseException as err:
            self._fail(err)
            raise

    def _fail(self, exc: BaseException) -> None:
        """Remove the temporary file; raise the one-line OutputError of a write failure."""
        from emotionkd.outputs import write_error

        err = write_error(exc, self.path) if isinstance(exc, Exception) else None
        if self._file is not None:
            if self.tmp is not None:  # give HDF5 room to write its metadata at close
                with contextlib.suppress(OSError):
                    os.truncate(self.tmp, 0)
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        self._out.discard()
        if err is not None and err is not exc:
            raise err from None

    # -- writing -------------------------------------------------------------------------
    @property
    def n_trials(self) -> int:
        return len(self._trials)

    def add_trial(
        self,
        *,
        subject: int,
        trial: int,
        eeg: np.ndarray,
        gsr: np.ndarray,
        ratings: Sequence[float] | np.ndarray,
        onset: int = 0,
        latent: Sequence[float] | np.ndarray | None = None,
    ) -> None:
        """Append one trial: eeg (n_eeg, n) and gsr (n,) or (1, n), already preprocessed;
        ``latent`` is the true (valence, arousal) in [-1, 1] of synthetic data (every trial
        or none)."""
        assert self._file is not None, "use StoreWriter as a context manager"
        eeg = np.asarray(eeg)
        gsr = np.asarray(gsr).reshape(1, -1)
        if eeg.ndim != 2 or eeg.shape[0] != len(self.eeg_channels):
            raise ValueError(f"eeg must be ({len(self.eeg_channels)}, n), got {eeg.shape}")
        n = eeg.shape[1]
        if gsr.shape[1] != n:
            raise ValueError(f"gsr has {gsr.shape[1]} samples but eeg has {n}")
        r = np.asarray(ratings, dtype=np.float32).reshape(-1)
        if r.shape[0] != len(self.rating_names):
            raise ValueError(f"expected {len(self.rating_names)} ratings, got {r.shape[0]}")
        start = self._n
        stop = start + n
        self._eeg.resize(stop, axis=1)
        self._gsr.resize(stop, axis=1)
        self._eeg[:, start:stop] = eeg.astype(np.float32, copy=False)
        self._gsr[:, start:stop] = gsr.astype(np.float32, copy=False)
        self._n = stop
        self._subjects.append(int(subject))
        self._trials.append(int(trial))
        self._starts.append(start)
        self._stops.append(stop)
        self._onsets.append(start + int(onset))
        self._ratings.append(r)
        self._latent.append(None if latent is None
                            else np.asarray(latent, dtype=np.float32).reshape(2))

    def _finish(self) -> None:
        f = self._file
        assert f is not None
        if not self._trials:
            raise DataFormatError(f"{self.path}: no trials to write; nothing was created")
        g = f.create_group("trials")
        g.create_dataset("subject", data=np.asarray(self._subjects, dtype=np.int32))
        g.create_dataset("trial", data=np.asarray(self._trials, dtype=np.int32))
        g.create_dataset("start", data=np.asarray(self._starts, dtype=np.int64))
        g.create_dataset("stop", data=np.asarray(self._stops, dtype=np.int64))
        g.create_dataset("onset", data=np.asarray(self._onsets, dtype=np.int64))
        g.create_dataset("ratings", data=np.stack(self._ratings).astype(np.float32))
        has_latent = [x is not None for x in self._latent]
        if any(has_latent):
            if not all(has_latent):
                raise ValueError("latent emotions must be given for every trial or none")
            lat = g.create_dataset("latent", data=np.stack(self._latent))
            lat.attrs["names"] = json.dumps(list(LATENT_NAMES))
            lat.attrs["rating_scale"] = "rating = 5 + 4 * latent (1-9 scale), before noise"
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["source"] = self.source
        f.attrs["sampling_rate"] = self.sampling_rate
        f.attrs["created_with"] = f"emotionkd {__version__}"
        f.attrs["preprocessing"] = json.dumps(self.preprocessing, sort_keys=True)
        f.attrs["eeg_channels"] = json.dumps(self.eeg_channels)
        f.attrs["gsr_unit"] = self.gsr_unit
        f.attrs["rating_names"] = json.dumps(self.rating_names)
        if self.rating_scales is not None:
            f.attrs["rating_scales"] = json.dumps(self.rating_scales)
        f.close()
        self._file = None


@dataclass
class Store:
    """An opened store: metadata plus the trial table; signals are read on demand.

    Use :func:`open_store`. ``load_signals(subjects)`` reads the continuous EEG and GSR of the
    chosen subjects into memory (float32), trial by trial.
    """

    path: Path
    source: str
    sampling_rate: float
    eeg_channels: list[str]
    rating_names: list[str]
    gsr_unit: str
    preprocessing: dict[str, Any]
    created_with: str
    subject: np.ndarray
    trial: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    onset: np.ndarray
    ratings: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    #: synthetic stores only: the true (valence, arousal) of every trial, in [-1, 1]
    latent: np.ndarray | None = None
    latent_names: list[str] = field(default_factory=list)
    #: per rating: [min, max] of its scale, or None for a category (an emotion keyword);
    #: stores written without the attribute are read as 1-9 (DEAP's and HCI's scale)
    rating_scales: list[list[float] | None] = field(default_factory=list)

    def latent_index(self, name: str) -> int | None:
        """Column of rating ``name`` in :attr:`latent`; None when the store has no latent
        truth for it."""
        if self.latent is None or name not in self.latent_names:
            return None
        return self.latent_names.index(name)

    @property
    def n_trials(self) -> int:
        return int(self.subject.shape[0])

    @property
    def subjects(self) -> list[int]:
        """Sorted unique subject ids."""
        return sorted(int(s) for s in np.unique(self.subject))

    @property
    def trial_lengths(self) -> np.ndarray:
        return (self.stop - self.start).astype(np.int64)

    def rating_index(self, name: str) -> int:
        """Column of a rating dimension, e.g. ``"arousal"``; clear error if absent."""
        try:
            return self.rating_names.index(name)
        except ValueError:
            raise DataFormatError(
                f"{self.path}: has no rating '{name}'; available: {', '.join(self.rating_names)}"
            ) from None

    def channel_indices(self, names: Sequence[str] | None) -> list[int]:
        """Indices of EEG channels by name (all when ``names`` is None)."""
        if names is None:
            return list(range(len(self.eeg_channels)))
        lookup = {c.lower(): i for i, c in enumerate(self.eeg_channels)}
        missing = [n for n in names if n.lower() not in lookup]
        if missing:
            raise DataFormatError(
                f"{self.path}: EEG channel(s) {', '.join(missing)} not in the store "
                f"(it has {', '.join(self.eeg_channels)})"
            )
        return [lookup[n.lower()] for n in names]

    def trial_mask(self, subjects: Sequence[int] | None) -> np.ndarray:
        if subjects is None:
            return np.ones(self.n_trials, dtype=bool)
        unknown = sorted(set(int(s) for s in subjects) - set(self.subjects))
        if unknown:
            raise DataFormatError(
                f"{self.path}: subject(s) {', '.join(map(str, unknown))} not in the store "
                f"(it has {', '.join(map(str, self.subjects))})"
            )
        return np.isin(self.subject, np.asarray(list(subjects), dtype=self.subject.dtype))

    def load_signals(
        self,
        trial_indices: np.ndarray | Sequence[int],
        eeg_channels: Sequence[int] | None = None,
        load_eeg: bool = True,
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Read the given trials into compact arrays.

        Returns ``(eeg, gsr, offsets)``: eeg float32 (C, N) or None, gsr float32 (1, N), and
        ``offsets`` (n+1,) such that trial k occupies ``[offsets[k], offsets[k+1])``.
        Contiguous runs of trials are read with one slice each.
        """
        idx = np.asarray(trial_indices, dtype=np.int64)
        lengths = self.trial_lengths[idx]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        chans = list(range(len(self.eeg_channels))) if eeg_channels is None else list(eeg_channels)
        # no EEG rows (a GSR-only store, or no channel chosen): no EEG at all
        eeg = np.empty((len(chans), total), dtype=np.float32) if load_eeg and chans else None
        gsr = np.empty((1, total), dtype=np.float32)
        try:
            with h5py.File(self.path, "r") as f:
                deeg, dgsr = f["eeg"], f["gsr"]
                all_chans = chans == list(range(deeg.shape[0]))
                for a, b, dst in _contiguous_runs(self.start[idx], self.stop[idx], offsets):
                    gsr[:, dst : dst + (b - a)] = dgsr[:, a:b]
                    if eeg is not None:
                        block = deeg[:, a:b]
                        eeg[:, dst : dst + (b - a)] = block if all_chans else block[chans]
        except (OSError, KeyError) as exc:
            raise DataFormatError(f"{self.path}: cannot read signals ({exc}); the file may be "
                                  "truncated or corrupt; preprocess the data again") from exc
        self._check_finite("GSR", gsr, idx, offsets, ["GSR"])
        if eeg is not None:
            self._check_finite("EEG", eeg, idx, offsets, [self.eeg_channels[c] for c in chans])
        return eeg, gsr, offsets

    def _check_finite(self, what: str, x: np.ndarray, idx: np.ndarray, offsets: np.ndarray,
                      names: list[str]) -> None:
        """A cheap pass (blocks of columns) that refuses NaN or infinity in loaded signals,
        naming the first channel and trial: corrupt data must never reach training."""
        step = max(1, (1 << 24) // max(x.shape[0], 1))
        count, first = 0, None
        for a in range(0, x.shape[1], step):
            bad = ~np.isfinite(x[:, a:a + step])
            n = int(np.count_nonzero(bad))
            if n and first is None:
                rows, cols = np.nonzero(bad)
                k = int(np.argmin(cols))
                first = (int(rows[k]), a + int(cols[k]))
            count += n
        if not count:
            return
        row, col = first
        k = int(np.searchsorted(offsets, col, side="right") - 1)
        t = int(idx[k])
        raise DataFormatError(
            f"{self.path}: {count} non-finite {what} value(s) (NaN or infinity), the first in "
            f"channel {names[row]} of subject {int(self.subject[t])}, trial "
            f"{int(self.trial[t])}; the store is corrupt: preprocess the raw data again")

    def summary(self) -> dict[str, Any]:
        """Plain-data summary used by ``emotionkd info``."""
        dur = self.trial_lengths.sum() / self.sampling_rate
        out: dict[str, Any] = {
            "path": str(self.path),
            "format": f"{FORMAT} v{FORMAT_VERSION}",
            "source": self.source,
            "created_with": self.created_with,
            "sampling_rate": self.sampling_rate,
            "eeg_channels": self.eeg_channels,
            "gsr_unit": self.gsr_unit,
            "subjects": self.subjects,
            "n_trials": self.n_trials,
            "total_duration_s": float(dur),
            "preprocessing": self.preprocessing,
            "ratings": {},
        }
        for j, name in enumerate(self.rating_names):
            r = self.ratings[:, j].astype(np.float64)
            out["ratings"][name] = {
                "min": float(np.min(r)),
                "mean": float(np.mean(r)),
                "sd": float(np.std(r)),
                "max": float(np.max(r)),
                "histogram_1_to_9": np.histogram(r, bins=np.arange(0.5, 10.0, 1.0))[0].tolist(),
                "high_gt5": int(np.sum(r > 5)),
                "equal5": int(np.sum(r == 5)),
                "low_lt5": int(np.sum(r < 5)),
            }
        return out


def _contiguous_runs(starts: np.ndarray, stops: np.ndarray, offsets: np.ndarray):
    """Merge trials that are adjacent both in the file and in the output into single reads."""
    run_a = run_b = run_dst = None
    for k in range(len(starts)):
        a, b, dst = int(starts[k]), int(stops[k]), int(offsets[k])
        if run_b is not None and a == run_b:
            run_b = b
            continue
        if run_a is not None:
            yield run_a, run_b, run_dst
        run_a, run_b, run_dst = a, b, dst
    if run_a is not None:
        yield run_a, run_b, run_dst


def is_store(path: str | os.PathLike) -> bool:
    """True if ``path`` is an HDF5 file with the emotionkd store signature."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT
    except OSError:
        return False


def open_store(path: str | os.PathLike) -> Store:
    """Open and validate a store; every problem is a one-line :class:`DataFormatError`."""
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file; create it with 'emotionkd preprocess'")
    if p.is_dir():
        raise DataFormatError(f"{p}: is a directory, not an HDF5 store")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataFormatError(
            f"{p}: not a readable HDF5 file ({exc}); create it with 'emotionkd preprocess'"
        ) from exc
    with f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode()
        if fmt != FORMAT:
            raise DataFormatError(
                f"{p}: is HDF5 but not an emotionkd store (format={fmt!r}); "
                "create one with 'emotionkd preprocess'"
            )
        ver = int(f.attrs.get("format_version", -1))
        if ver != FORMAT_VERSION:
            raise DataFormatError(
                f"{p}: store format_version {ver} is not supported by emotionkd {__version__} "
                f"(expects {FORMAT_VERSION}); preprocess the raw data again"
            )
        try:
            attrs = {k: _attr(v) for k, v in f.attrs.items()}
            g = f["trials"]
            store = Store(
                path=p,
                source=str(attrs["source"]),
                sampling_rate=float(attrs["sampling_rate"]),
                eeg_channels=list(json.loads(attrs["eeg_channels"])),
                rating_names=list(json.loads(attrs["rating_names"])),
                gsr_unit=str(attrs.get("gsr_unit", "uS")),
                preprocessing=json.loads(attrs.get("preprocessing", "{}")),
                created_with=str(attrs.get("created_with", "")),
                subject=g["subject"][()],
                trial=g["trial"][()],
                start=g["start"][()],
                stop=g["stop"][()],
                onset=g["onset"][()] if "onset" in g else g["start"][()],
                ratings=g["ratings"][()],
                attrs=attrs,
                latent=g["latent"][()] if "latent" in g else None,
                latent_names=(list(json.loads(_attr(g["latent"].attrs["names"])))
                              if "latent" in g else []),
            )
            store.rating_scales = (json.loads(attrs["rating_scales"]) if "rating_scales" in attrs
                                   else [list(LEGACY_RATING_SCALE)] * len(store.rating_names))
            n_eeg, n_total = f["eeg"].shape
            gsr_shape = f["gsr"].shape
        except (KeyError, ValueError, TypeError, OSError) as exc:
            raise DataFormatError(
                f"{p}: store is incomplete or corrupt ({exc}); preprocess the raw data again"
            ) from exc
    _validate(store, n_eeg, n_total, gsr_shape)
    return store


def _attr(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _validate(s: Store, n_eeg: int, n_total: int, gsr_shape: tuple[int, ...]) -> None:
    p = s.path
    n = s.n_trials
    problems = []
    if n_eeg != len(s.eeg_channels):
        problems.append(f"/eeg has {n_eeg} channels but eeg_channels lists {len(s.eeg_channels)}")
    if tuple(gsr_shape) != (1, n_total):
        problems.append(f"/gsr shape {tuple(gsr_shape)} does not match /eeg length {n_total}")
    for name in ("trial", "start", "stop", "onset"):
        if getattr(s, name).shape != (n,):
            problems.append(f"/trials/{name} has shape {getattr(s, name).shape}, expected ({n},)")
    if s.ratings.shape != (n, len(s.rating_names)):
        problems.append(f"/trials/ratings has shape {s.ratings.shape}")
    elif not np.isfinite(s.ratings).all():
        problems.append(f"/trials/ratings holds {int(np.sum(~np.isfinite(s.ratings)))} "
                        "non-finite value(s)")
    if len(s.rating_scales) != len(s.rating_names):
        problems.append(f"rating_scales lists {len(s.rating_scales)} scales for "
                        f"{len(s.rating_names)} ratings")
    if s.latent is not None and s.latent.shape != (n, len(s.latent_names)):
        problems.append(f"/trials/latent has shape {s.latent.shape}")
    if not problems:
        if n == 0:
            problems.append("no trials")
        elif (s.stop <= s.start).any() or s.start.min() < 0 or s.stop.max() > n_total:
            problems.append("trial boundaries are outside the signal")
        elif ((s.onset < s.start) | (s.onset >= s.stop)).any():
            problems.append("a stimulus onset lies outside its trial")
    if s.sampling_rate <= 0:
        problems.append(f"sampling_rate {s.sampling_rate} is not positive")
    if problems:
        raise DataFormatError(f"{p}: invalid store: {'; '.join(problems)}; preprocess again")
