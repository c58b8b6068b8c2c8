"""Read a store: :func:`open_store` validates the file (format, version, shapes, trial table)
and returns a :class:`Store`, whose signals are read on demand and checked for NaN and
infinity."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.ondisk import check_regular
from emotionkd.store import checks
from emotionkd.store.layout import FORMAT, FORMAT_VERSION
from emotionkd.validation import did_you_mean


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

    @property
    def synthetic(self) -> bool:
        """Whether the signals are emotionkd's synthetic physiology, not recordings of people:
        the ``synthetic`` attribute (stores written before it: whether they hold the latent
        table, which only synthetic data have)."""
        flag = self.attrs.get("synthetic")
        return bool(flag) if flag is not None else self.latent is not None

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
                f"{did_you_mean(name, self.rating_names)}"
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
        except (OSError, KeyError, RuntimeError) as exc:
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            what = ("a checksum does not match: the data changed on disk"
                    if any(w in why.lower() for w in ("fletcher32", "checksum", "filter"))
                    else "the file may be truncated or corrupt")
            raise DataFormatError(f"{self.path}: cannot read signals ({why}); {what}; "
                                  "preprocess the data again") from None
        self._check_finite("GSR", gsr, idx, offsets, ["GSR"])
        checks.check_plausible(self.path, gsr, lambda col: self._where(idx, offsets, col))
        if eeg is not None:
            self._check_finite("EEG", eeg, idx, offsets, [self.eeg_channels[c] for c in chans])
        return eeg, gsr, offsets

    def _where(self, idx: np.ndarray, offsets: np.ndarray, col: int) -> str:
        """"subject S, trial T (second X)" of column ``col`` of loaded signals."""
        k = int(np.searchsorted(offsets, col, side="right") - 1)
        t = int(idx[k])
        return (f"subject {int(self.subject[t])}, trial {int(self.trial[t])} (at "
                f"{(col - offsets[k]) / self.sampling_rate:.2f} s)")

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
            "synthetic": self.synthetic,
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


def open_store(path: str | os.PathLike | Store) -> Store:
    """Open and validate a store (an opened one is returned as it is); every problem is a
    one-line :class:`DataFormatError` (:mod:`emotionkd.store.checks`)."""
    if isinstance(path, Store):
        return path
    p = Path(path)
    if not p.exists():
        raise DataFormatError(f"{p}: no such file; create it with 'emotionkd preprocess'")
    if p.is_dir():
        raise DataFormatError(f"{p}: is a directory, not an HDF5 store")
    check_regular(p, "the store", "pass the .h5 file written by 'emotionkd preprocess'")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataFormatError(
            f"{p}: not a readable HDF5 file ({exc}); create it with 'emotionkd preprocess'"
        ) from exc
    with f:
        attrs = checks.read_attrs(p, f)
        checks.check_format(p, attrs)
        try:
            store = _read_store(p, f, attrs)
            n_eeg, n_total = checks.dataset(p, f, "eeg", 2, "float").shape
            gsr_shape = checks.dataset(p, f, "gsr", 2, "float").shape
        except (KeyError, ValueError, TypeError, OSError, RuntimeError) as exc:
            raise DataFormatError(
                f"{p}: store is incomplete or corrupt ({exc}); preprocess the raw data again"
            ) from exc
    _validate(store, n_eeg, n_total, gsr_shape)
    return store


def _read_store(p: Path, f: h5py.File, attrs: dict[str, Any]) -> Store:
    """The metadata and the trial table of an open store file, checked."""
    meta = checks.metadata(p, attrs)
    table = checks.trial_table(p, f)
    return Store(
        path=p, source=meta["source"], sampling_rate=meta["sampling_rate"],
        eeg_channels=meta["eeg_channels"], rating_names=meta["rating_names"],
        gsr_unit=meta["gsr_unit"], preprocessing=meta["preprocessing"],
        created_with=meta["created_with"], subject=table["subject"], trial=table["trial"],
        start=table["start"], stop=table["stop"], onset=table["onset"],
        ratings=table["ratings"], attrs=attrs, latent=table.get("latent"),
        latent_names=table.get("latent_names", []), rating_scales=meta["rating_scales"],
    )


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
