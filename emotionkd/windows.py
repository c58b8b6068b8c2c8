"""Windows over stored trials: labels, per-subject normalisation, and batches as tensors.

Signals of the chosen subjects are read once into memory (float32). Windows are never
materialised: a window is a start offset, and a batch is gathered with one indexing operation
on an ``unfold`` view of the signal, so there is no per-window Python work on the hot path.
Normalisation (per subject and channel, or with statistics of the training subjects) is applied
to the gathered batch, which lets one loaded dataset serve every fold of a protocol.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emotionkd.choices import TIES
from emotionkd.config import DataConfig
from emotionkd.datasets.records import eeg_channel_names
from emotionkd.errors import ConfigError
from emotionkd.labels import check_two_classes, default_threshold, rating_scale
from emotionkd.signals import moments, normalise, zscore_stats
from emotionkd.store import Store, open_store
from emotionkd.validation import check_choice

#: entries of a store's ``preprocessing`` record that shaped the training inputs; copied into
#: every checkpoint's data specification so that ``predict`` can reproduce them
SHAPING_PREPROCESSING = ("reader", "baseline", "baseline_s", "gsr_unit_option",
                         "raw_sampling_rate", "sampling_rate", "eeg_filter", "eeg_conditioning",
                         "resampler")


def binarise(ratings: np.ndarray, threshold: float = 5.0, tie: str = "low") -> np.ndarray:
    """High (1) / low (0) labels: ``rating > threshold`` (tie="low", the default) or
    ``rating >= threshold`` (tie="high", torcheeg's rule)."""
    check_choice(tie, "--tie", TIES)
    r = np.asarray(ratings)
    return (r >= threshold if tie == "high" else r > threshold).astype(np.int64)


def latent_to_rating(latent: np.ndarray) -> np.ndarray:
    """A latent emotion in [-1, 1] on the 1–9 rating scale, as the synthetic generator maps it
    (5 + 4·latent) before adding rating noise."""
    return 5.0 + 4.0 * np.asarray(latent, dtype=np.float64)


def window_starts(
    begin: np.ndarray, end: np.ndarray, window: int, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets of all windows of length ``window`` every ``step`` samples inside each
    ``[begin[k], end[k])``. Returns (starts, owner) where owner[i] is the segment of window i.
    Vectorised: no loop over segments."""
    length = np.asarray(end, dtype=np.int64) - np.asarray(begin, dtype=np.int64)
    counts = np.where(length >= window, (length - window) // step + 1, 0)
    owner = np.repeat(np.arange(len(counts)), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(int(counts.sum())) - np.repeat(first, counts)
    starts = np.asarray(begin, dtype=np.int64)[owner] + rank * step
    return starts, owner


def check_data(store: Store, data: DataConfig, targets: Sequence[str],
               subjects: Sequence[int] | None = None) -> None:
    """Refuse, before any long work, ``[data]`` settings the store cannot serve: EEG channels
    it lacks, ratings it does not hold, a target whose labels are one class."""
    store.channel_indices(eeg_channel_names(data.eeg_channels))
    for t in targets:
        store.rating_index(t)
    check_target_classes(store, data, targets, subjects)


def target_threshold(store: Store, data: DataConfig, target: str) -> float:
    """The threshold of ``target``: ``data.threshold``, or by default its scale's midpoint."""
    return (float(data.threshold) if data.threshold is not None
            else default_threshold(store, target))


def check_target_classes(store: Store, data: DataConfig, targets: Sequence[str],
                         subjects: Sequence[int] | None = None) -> None:
    """Refuse, before training, a target whose trials (of ``subjects``) would all get one
    label, with the class counts and the ``--threshold`` that would split them."""
    mask = store.trial_mask(subjects)
    for t in targets:
        ratings = np.asarray(store.ratings[mask, store.rating_index(t)], dtype=np.float64)
        threshold = target_threshold(store, data, t)
        check_two_classes(binarise(ratings, threshold, data.tie), target=t,
                          threshold=threshold, tie=data.tie, ratings=ratings,
                          scale=rating_scale(store, t), what="trials", source=str(store.path))


@dataclass
class NormStats:
    """Per-group channel statistics: group g uses eeg_mean[g] (C,), gsr_mean[g] (1,), …"""

    eeg_mean: np.ndarray  # (G, C)
    eeg_std: np.ndarray
    gsr_mean: np.ndarray  # (G, 1)
    gsr_std: np.ndarray


class WindowDataset(torch.utils.data.Dataset):
    """Windows of a store as ``(eeg, gsr, label)`` float32/float32/int64 tensors, made as the
    ``[data]`` table says.

    Args:
        store: an opened :class:`~emotionkd.store.Store` or a path to one.
        data: the ``[data]`` settings: window and step (s), target rating, threshold and tie
            rule, EEG channels and normalisation — "subject" (z-score per subject and channel
            from that subject's own signal; for a held-out subject this is unsupervised
            calibration), "train" (one set of statistics pooled over ``norm_subjects``, the
            strict choice) or "none".
        target: the rating to predict when ``data.target`` lists several (evaluate).
        subjects: subjects to load (None: all).
        load_eeg: False loads only GSR (students need no EEG); batches then have eeg=None.
        norm_subjects: the training subjects whose statistics "train" uses.

    ``window_samples`` and ``step_samples`` are the window and step in samples at the store's
    rate ``fs``; ``window_s`` and ``step_s`` the seconds they amount to.
    """

    def __init__(
        self,
        store: Store | str | os.PathLike,
        data: DataConfig | None = None,
        *,
        target: str | None = None,
        subjects: Sequence[int] | None = None,
        load_eeg: bool = True,
        norm_subjects: Sequence[int] | None = None,
    ) -> None:
        data = data if data is not None else DataConfig()
        self.store = s = open_store(store)
        self.fs = float(s.sampling_rate)
        self.window_samples = int(round(data.window * self.fs))
        self.step_samples = int(round(data.step * self.fs))
        if self.window_samples < 1 or self.step_samples < 1:
            raise ConfigError(
                f"window ({data.window} s) and step ({data.step} s) must each be at least one "
                f"sample at {self.fs:g} Hz"
            )
        self.window_s = self.window_samples / self.fs
        self.step_s = self.step_samples / self.fs
        self.target = target or data.target
        self.threshold = target_threshold(s, data, self.target)
        self.tie, self.norm = data.tie, data.norm
        self.channel_idx = s.channel_indices(eeg_channel_names(data.eeg_channels))
        self.eeg_channels = [s.eeg_channels[i] for i in self.channel_idx]
        trial_idx = np.flatnonzero(s.trial_mask(subjects))
        self.trial_index = trial_idx  # rows of the store's trial table that are loaded
        self._load(trial_idx, load_eeg)
        self.subject_ids = np.unique(s.subject[trial_idx]).astype(np.int64)
        self._group_of_subject = {int(x): g for g, x in enumerate(self.subject_ids)}
        self._moments: tuple[np.ndarray, ...] | None = None
        self._stats = self._compute_stats(self.norm, norm_subjects)
        self._group = self._window_groups()
        self._labels_t = torch.from_numpy(self.labels)
        self._starts_t = torch.from_numpy(self.starts)
        self._group_t = torch.from_numpy(self._group)
        self._prepare_stats()

    def _load(self, trial_idx: np.ndarray, load_eeg: bool) -> None:
        """Read the trials' signals and cut their stimulus parts into windows and labels."""
        s = self.store
        col = s.rating_index(self.target)
        eeg, gsr, offsets = s.load_signals(trial_idx, self.channel_idx, load_eeg=load_eeg)
        self._eeg = torch.from_numpy(eeg) if eeg is not None else None
        self._gsr = torch.from_numpy(gsr)
        # stimulus part of each loaded trial, in loaded-array coordinates
        begin = offsets[:-1] + (s.onset[trial_idx] - s.start[trial_idx])
        end = offsets[1:]
        self._segments = (begin, end)
        starts, owner = window_starts(begin, end, self.window_samples, self.step_samples)
        self.starts = starts
        self.window_trial = owner  # index into self.trial_index
        self.subjects = s.subject[trial_idx][owner].astype(np.int64)
        self.trials = s.trial[trial_idx][owner].astype(np.int64)
        self.ratings = s.ratings[trial_idx, col][owner]
        self.labels = binarise(self.ratings, self.threshold, self.tie)
        # synthetic stores: the label the latent emotion itself gives (no rating noise)
        lcol = s.latent_index(self.target)
        self.latent_labels = (None if lcol is None else
                              binarise(latent_to_rating(s.latent[trial_idx, lcol][owner]),
                                       self.threshold, self.tie))

    # -- normalisation ------------------------------------------------------------------------
    def _trial_moments(self) -> tuple[np.ndarray, ...]:
        """Per loaded trial: (n, eeg_sum, eeg_sumsq, gsr_sum, gsr_sumsq) over its stimulus
        samples, as arrays (trials,), (trials, C), (trials, C), (trials, 1), (trials, 1)."""
        begin, end = self._segments
        k = len(begin)
        c = 0 if self._eeg is None else self._eeg.shape[0]
        n = (end - begin).astype(np.float64)
        es, eq = np.zeros((k, c)), np.zeros((k, c))
        gs, gq = np.zeros((k, 1)), np.zeros((k, 1))
        for i in range(k):
            a, b = int(begin[i]), int(end[i])
            if self._eeg is not None:
                _, es[i], eq[i] = moments(self._eeg[:, a:b].numpy())
            _, gs[i], gq[i] = moments(self._gsr[:, a:b].numpy())
        return n, es, eq, gs, gq

    def trial_key_of_loaded(self) -> np.ndarray:
        """The (subject, trial) key of every loaded trial (in loading order)."""
        s = self.store
        return (s.subject[self.trial_index].astype(np.int64) * 100000
                + s.trial[self.trial_index].astype(np.int64))

    def _compute_stats(self, norm: str, norm_subjects: Sequence[int] | None,
                       norm_trials: Sequence[int] | None = None) -> NormStats:
        c = 0 if self._eeg is None else self._eeg.shape[0]
        n_groups = len(self.subject_ids)
        if norm == "none":
            z = np.zeros((n_groups, c)), np.ones((n_groups, c))
            return NormStats(z[0], z[1], np.zeros((n_groups, 1)), np.ones((n_groups, 1)))
        if self._moments is None:
            self._moments = self._trial_moments()
        sums = self._moments

        def finish(rows: np.ndarray) -> tuple[np.ndarray, ...]:
            n = float(sums[0][rows].sum())
            em, es = zscore_stats(n, sums[1][rows].sum(0), sums[2][rows].sum(0))
            gm, gs = zscore_stats(n, sums[3][rows].sum(0), sums[4][rows].sum(0))
            return em, es, gm, gs

        subj_of_trial = self.store.subject[self.trial_index]
        if norm == "subject":
            out = [finish(subj_of_trial == sid) for sid in self.subject_ids]
        else:  # "train": pooled over the training trials, same for every group
            if norm_trials is not None:
                keys = self.trial_key_of_loaded()
                want = np.asarray(list(norm_trials), dtype=np.int64)
                missing = sorted(set(want.tolist()) - set(keys.tolist()))
                if missing:
                    raise ConfigError(f"norm_trials {missing[:5]} are not loaded in this "
                                      "dataset")
                rows = np.isin(keys, want)
            elif norm_subjects:
                missing = sorted(set(int(x) for x in norm_subjects)
                                 - set(int(x) for x in self.subject_ids))
                if missing:
                    raise ConfigError(f"norm_subjects {missing} are not loaded in this dataset")
                rows = np.isin(subj_of_trial, np.asarray(list(norm_subjects)))
            else:
                raise ConfigError("--norm train needs the training subjects or trials")
            out = [finish(rows)] * n_groups
        em, es, gm, gs = (np.stack([r[i] for r in out]) for i in range(4))
        return NormStats(em, es, gm, gs)

    def _window_groups(self) -> np.ndarray:
        lookup = np.vectorize(self._group_of_subject.__getitem__, otypes=[np.int64])
        return lookup(self.subjects) if len(self.subjects) else np.zeros(0, dtype=np.int64)

    def with_norm(self, norm: str, norm_subjects: Sequence[int] | None = None,
                  norm_trials: Sequence[int] | None = None) -> WindowDataset:
        """A view of the same windows with other normalisation statistics (no reload).

        For ``norm="train"``, the statistics pool the stimulus samples of ``norm_trials``
        (trial keys, see :meth:`trial_keys`) or, without them, of every trial of
        ``norm_subjects``."""
        view = self.subset(np.arange(len(self)))
        view.norm = norm
        view._stats = self._compute_stats(norm, norm_subjects, norm_trials)
        view._prepare_stats()
        return view

    def with_stats_from(self, other: WindowDataset) -> WindowDataset:
        """A view normalised with ``other``'s pooled training statistics (``norm="train"``
        across stores: the test store's windows scaled as the training windows were)."""
        if other.norm != "train" or other.n_eeg != self.n_eeg:
            raise ConfigError("with_stats_from needs norm 'train' statistics over the same "
                              "EEG channels")
        view = self.subset(np.arange(len(self)))
        view.norm, g = "train", len(self.subject_ids)
        view._stats = NormStats(*(np.repeat(a[:1], g, axis=0) for a in (
            other._stats.eeg_mean, other._stats.eeg_std, other._stats.gsr_mean,
            other._stats.gsr_std)))
        view._prepare_stats()
        return view

    def _prepare_stats(self) -> None:
        st = self._stats
        self._eeg_mu = torch.from_numpy(st.eeg_mean.astype(np.float32))
        self._eeg_inv = torch.from_numpy((1.0 / st.eeg_std).astype(np.float32))
        self._gsr_mu = torch.from_numpy(st.gsr_mean.astype(np.float32))
        self._gsr_inv = torch.from_numpy((1.0 / st.gsr_std).astype(np.float32))

    # -- access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.starts.shape[0])

    @property
    def n_eeg(self) -> int:
        return len(self.channel_idx)

    @property
    def has_eeg(self) -> bool:
        return self._eeg is not None

    def batch(
        self, idx: np.ndarray | torch.Tensor | Sequence[int], eeg: bool = True,
        shift: np.ndarray | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """Gather windows ``idx`` as (eeg (B,C,W) or None, gsr (B,1,W), labels (B,)).

        ``eeg=False`` skips gathering the EEG (GSR-only models): eeg is then None. ``shift``
        (samples, one per window) moves each window's start, clipped so that the window stays
        inside its trial's stimulus (random-crop augmentation)."""
        i = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        starts = self._starts_t[i]
        if shift is not None:
            begin, end = self._segments
            owner = self.window_trial[np.asarray(idx)]
            lo, hi = begin[owner], end[owner] - self.window_samples
            moved = np.clip(self.starts[np.asarray(idx)] + np.asarray(shift, dtype=np.int64),
                            lo, hi)
            starts = torch.from_numpy(moved)
        groups = self._group_t[i]
        gsr = self._gsr.unfold(1, self.window_samples, 1)[:, starts].permute(1, 0, 2)
        gsr = normalise(gsr, self._gsr_mu[groups][:, :, None], self._gsr_inv[groups][:, :, None])
        e = None
        if eeg and self._eeg is not None:
            e = self._eeg.unfold(1, self.window_samples, 1)[:, starts].permute(1, 0, 2)
            e = normalise(e, self._eeg_mu[groups][:, :, None], self._eeg_inv[groups][:, :, None])
        return e, gsr.contiguous(), self._labels_t[i]

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        eeg, gsr, y = self.batch([k])
        return (eeg[0] if eeg is not None else torch.empty(0)), gsr[0], y[0]

    def subset(self, idx: np.ndarray | Sequence[int]) -> WindowDataset:
        """A view over some windows, sharing the loaded signals (no copy of the data)."""
        idx = np.asarray(idx, dtype=np.int64)
        view = object.__new__(WindowDataset)
        view.__dict__.update(self.__dict__)
        for name in ("starts", "window_trial", "subjects", "trials", "ratings", "labels", "_group",
                     "latent_labels"):
            value = getattr(self, name)
            setattr(view, name, None if value is None else value[idx])
        view._labels_t = torch.from_numpy(view.labels)
        view._starts_t = torch.from_numpy(view.starts)
        view._group_t = torch.from_numpy(view._group)
        return view

    def relabelled(self, labels: np.ndarray) -> WindowDataset:
        """The same windows with other binary labels (one per window): the headroom
        yardsticks train on the latent truth or on a teacher's predictions."""
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != self.labels.shape:
            raise ValueError(f"need {len(self.labels)} labels, got {labels.shape}")
        view = self.subset(np.arange(len(self)))
        view.labels = labels
        view._labels_t = torch.from_numpy(labels)
        return view

    def select_subjects(self, subjects: Sequence[int]) -> WindowDataset:
        """Windows of the given subjects only."""
        return self.subset(np.flatnonzero(np.isin(self.subjects, np.asarray(list(subjects)))))

    def trial_keys(self) -> np.ndarray:
        """A unique key per (subject, trial) for every window, for trial-grouped splits."""
        return self.subjects * 100000 + self.trials

    def spec(self) -> dict[str, Any]:
        """What the windows were made with, in the keys a checkpoint's configuration and data
        entries use (:func:`emotionkd.checkpoint.data_spec`): the ``[data]`` settings that
        shape the inputs, the rate, the window in samples, the channels, the store's source
        and preprocessing, and the training statistics of ``norm = "train"``."""
        out = {"target": self.target, "window": self.window_s, "step": self.step_s,
               "threshold": self.threshold, "tie": self.tie, "norm": self.norm,
               "sampling_rate": self.fs, "window_samples": self.window_samples,
               "eeg_channels": list(self.eeg_channels), "n_eeg": self.n_eeg,
               "source": self.store.source, "preprocessing": self.preprocessing_record()}
        stats = self.norm_stats()
        if stats is not None:
            out["norm_stats"] = stats
        return out

    def norm_stats(self) -> dict[str, Any] | None:
        """The training statistics when ``norm == "train"`` (predict and export need them)."""
        if self.norm != "train":
            return None
        st = self._stats
        return {"gsr_mean": float(st.gsr_mean[0, 0]), "gsr_std": float(st.gsr_std[0, 0]),
                "eeg_mean": st.eeg_mean[0].tolist(), "eeg_std": st.eeg_std[0].tolist()}

    def preprocessing_record(self) -> dict[str, Any]:
        """How the store's signals were made (baseline mode and length, GSR unit, rates, EEG
        conditioning): the part of the store's record that shapes the model inputs."""
        pre = self.store.preprocessing or {}
        out = {k: pre[k] for k in SHAPING_PREPROCESSING if k in pre}
        out["gsr_unit"] = self.store.gsr_unit  # unit of the stored GSR (µS)
        return out
