"""Write a store: :class:`StoreWriter` streams trials into resizable datasets of a unique
temporary file and renames it at the end (:mod:`emotionkd.outputs`), so a crash, a full disk or
a signal never leaves a half-written file under the final name."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emotionkd.errors import DataFormatError
from emotionkd.store.layout import FORMAT, FORMAT_VERSION, LATENT_NAMES, check_rating_scales
from emotionkd.version import __version__

_CHUNK = 8192


class StoreWriter:
    """Stream trials into a new store; use as a context manager.

    Example::

        with StoreWriter(path, source="deap", sampling_rate=128, eeg_channels=names,
                         rating_names=["valence", "arousal", "dominance", "liking"]) as w:
            w.add_trial(subject=1, trial=1, eeg=eeg, gsr=gsr, ratings=r)
            w.preprocessing["baseline"] = "subtract"

    ``rating_scales`` gives each rating's [min, max] (None for a category); a store written
    without them is read as 1-9. ``synthetic`` marks generated data (by default: when the
    trials come with their latent emotions, which only emotionkd's synthetic data have). On a
    clean exit the file is completed and renamed to ``path``; on an exception the temporary
    file is removed and nothing appears under ``path`` (a previous file stays). A write
    failure (full disk, read-only file system) becomes a one-line OutputError.
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
        synthetic: bool | None = None,
    ) -> None:
        from emotionkd.outputs import atomic_output, check_output

        self.path = check_output(path, overwrite=overwrite, inputs=inputs)
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
        self.synthetic = synthetic  # None: synthetic when latent emotions are given
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
                chunks=(max(n_eeg, 1), _CHUNK), fletcher32=True,
            )
            self._gsr = self._file.create_dataset(
                "gsr", shape=(1, 0), maxshape=(1, None), dtype="float32", chunks=(1, _CHUNK),
                fletcher32=True,
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
        for name, values, dtype in (("subject", self._subjects, np.int32),
                                    ("trial", self._trials, np.int32),
                                    ("start", self._starts, np.int64),
                                    ("stop", self._stops, np.int64),
                                    ("onset", self._onsets, np.int64)):
            g.create_dataset(name, data=np.asarray(values, dtype=dtype), fletcher32=True)
        g.create_dataset("ratings", data=np.stack(self._ratings).astype(np.float32),
                         fletcher32=True)
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
        f.attrs["synthetic"] = bool(any(has_latent) if self.synthetic is None
                                    else self.synthetic)
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
