"""Stores from numpy arrays and MNE ``Raw`` objects, through the same cleaning as the dataset
readers."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from emotionkd.datasets.own import TrialRules, make_rules, resolve_gsr_unit
from emotionkd.datasets.records import Trial, TrialList
from emotionkd.errors import ConfigError
from emotionkd.ingest.common import (
    Progress,
    RecordingOptions,
    Run,
    from_recordings,
    own_pipeline,
    recording_options,
)
from emotionkd.preprocess import Job, PreprocessReport
from emotionkd.recordings.base import check_fs
from emotionkd.signals import check_gsr_unit, gsr_to_microsiemens

#: one trial cut from arrays: (eeg (C, n), gsr (n,), stimulus onset in samples)
Part = tuple[np.ndarray, np.ndarray, int]


def _eeg_array(eeg: Any, n_eeg: int, n: int, what: str) -> np.ndarray:
    if eeg is None:
        if n_eeg:
            raise ConfigError(f"{what}: eeg_channels are named but no EEG is given")
        return np.zeros((0, n))
    e = np.asarray(eeg, dtype=np.float64)
    if e.ndim != 2 or e.shape != (n_eeg, n):
        hint = " (channels × samples: transpose it)" if e.ndim == 2 and e.shape == (n, n_eeg) \
            else ""
        raise ConfigError(f"{what}: shape {e.shape}, expected ({n_eeg} channels, {n} samples)"
                          f"{hint}")
    return e


def _per_trial_arrays(gsr: Sequence[Any], eeg: Any, base: int, n_eeg: int) -> list[Part]:
    eegs = list(eeg) if eeg is not None else [None] * len(gsr)
    if len(eegs) != len(gsr):
        raise ConfigError(f"eeg: {len(eegs)} trial arrays for {len(gsr)} GSR trials")
    out = []
    for k, (g, e) in enumerate(zip(gsr, eegs)):
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        out.append((_eeg_array(e, n_eeg, len(g), f"eeg[{k}]"), g, base))
    return out


def _array_trials(gsr: Any, eeg: Any, fs: float, trials: Sequence[tuple[int, int]] | None,
                  baseline_s: float, n_eeg: int) -> list[Part]:
    """One part per trial from continuous arrays cut at ``trials`` (start, stop) or from
    per-trial arrays (their first ``baseline_s`` s are the baseline)."""
    base = int(round(baseline_s * fs))
    if isinstance(gsr, (list, tuple)):
        if trials is not None:
            raise ConfigError("trials: give boundaries for a continuous gsr array, not for a "
                              "list of per-trial arrays")
        return _per_trial_arrays(gsr, eeg, base, n_eeg)
    g = np.asarray(gsr, dtype=np.float64)
    if g.ndim != 1:
        raise ConfigError(f"gsr: expected a 1-D signal or a list of per-trial signals, got "
                          f"shape {g.shape}")
    e = _eeg_array(eeg, n_eeg, len(g), "eeg")
    if trials is None:
        return [(e, g, base)]
    out = []
    for k, pair in enumerate(trials):
        try:
            start, stop = (int(x) for x in pair)
        except (TypeError, ValueError):
            raise ConfigError(f"trials[{k}]: {pair!r} is not a (start, stop) pair of "
                              "samples") from None
        if not 0 <= start < stop <= len(g):
            raise ConfigError(f"trials[{k}]: ({start}, {stop}) is outside the signal's "
                              f"{len(g)} samples")
        first = start - base
        if first < 0:
            raise ConfigError(f"trials[{k}] starts at sample {start}, less than the "
                              f"{baseline_s:g}-s baseline ({base} samples) into the signal")
        out.append((e[:, first:stop], g[first:stop], start - first))
    return out


def _trial_keys(n: int, subjects: int | Sequence[int], trial_ids: Sequence[int] | None
                ) -> list[tuple[int, int]]:
    """(subject, trial) of each of ``n`` trials; trials default to 1, 2 … per subject."""
    subj = [int(subjects)] * n if isinstance(subjects, (int, np.integer)) else \
        [int(s) for s in subjects]
    if len(subj) != n:
        raise ConfigError(f"subjects: {len(subj)} numbers for {n} trials")
    if trial_ids is None:
        count: dict[int, int] = {}
        ids = []
        for s in subj:
            count[s] = count.get(s, 0) + 1
            ids.append(count[s])
    else:
        ids = [int(t) for t in trial_ids]
        if len(ids) != n:
            raise ConfigError(f"trial_ids: {len(ids)} numbers for {n} trials")
    keys = list(zip(subj, ids))
    if len(set(keys)) != n:
        raise ConfigError("trial_ids: a (subject, trial) pair appears twice")
    return keys


def _trial_ratings(ratings: Mapping[str, Sequence[float]], rules: TrialRules, n: int
                   ) -> list[np.ndarray]:
    """The ratings of each of ``n`` trials, in the rules' order, each within its scale."""
    for name, vals in ratings.items():
        if len(vals) != n:
            raise ConfigError(f"ratings['{name}']: {len(vals)} values for {n} trials")
    out = []
    for k in range(n):
        r = [float(ratings[name][k]) for name in rules.rating_names]
        for name, scale, v in zip(rules.rating_names, rules.scales, r):
            lo, hi = scale if scale is not None else (-np.inf, np.inf)
            if not (np.isfinite(v) and lo <= v <= hi):
                raise ConfigError(f"ratings['{name}'][{k}] = {v:g} is not a number within "
                                  f"its scale {lo:g}-{hi:g}")
        out.append(np.asarray(r))
    return out


def _by_subject(parts: list[Part], keys: list[tuple[int, int]], ratings: list[np.ndarray],
                fs: float, names: list[str], unit: str) -> dict[int, TrialList]:
    """The trials of each subject, their GSR in µS; the unit is settled per subject, as it
    is per file."""
    by_subject: dict[int, TrialList] = {}
    for (e, g, onset), (s, t), r in zip(parts, keys, ratings):
        by_subject.setdefault(s, TrialList()).append(Trial(
            subject=s, trial=t, eeg=e, gsr=g, fs=fs, ratings=r, onset=onset,
            eeg_channels=names, gsr_unit="us", source_file=f"arrays (subject {s})"))
    for s, tl in by_subject.items():
        src = f"gsr (subject {s})"
        _, used, why = resolve_gsr_unit(np.concatenate([t.gsr for t in tl]), None, unit, src,
                                        "gsr_unit")
        for t in tl:
            t.gsr = gsr_to_microsiemens(t.gsr, used, src, "gsr_unit")
            t.extra["gsr_unit_reason"] = why
    return by_subject


def write_store(
    out: str | os.PathLike,
    *,
    gsr: Any,
    fs: float,
    gsr_unit: str,
    ratings: dict[str, Sequence[float]],
    rating_scales: dict[str, Sequence[float] | None],
    eeg: Any = None,
    eeg_channels: Sequence[str] = (),
    trials: Sequence[tuple[int, int]] | None = None,
    subjects: int | Sequence[int] = 1,
    trial_ids: Sequence[int] | None = None,
    baseline_s: float = 0.0,
    baseline: str | None = None,
    target_fs: float | None = 128.0,
    eeg_filter: str = "none",
    source: str = "own",
    overwrite: bool = False,
    progress: Progress = None,
) -> PreprocessReport:
    """A store from numpy arrays, through the same cleaning as the dataset readers.

    ``gsr`` is one continuous 1-D signal cut at ``trials`` ((start, stop) samples of each
    stimulus), or a list of per-trial 1-D signals; ``eeg`` the same as (channels, samples)
    arrays, in µV, named by ``eeg_channels`` (omit both for a GSR-only store). ``fs`` is
    their sampling rate, ``gsr_unit`` their unit (us, ns, s, ohm, kohm, or auto to infer
    it). ``ratings`` maps each rating name to one value per trial, ``rating_scales`` each
    name to its (min, max). ``baseline_s``: the seconds before each start (continuous) or at
    the start of each array (lists) that are the pre-stimulus baseline; ``baseline`` is
    subtract (default when there is one), none or keep. ``subjects``: one number for all
    trials or one per trial; ``trial_ids`` default to 1, 2 … per subject. EEG is stored as
    given (``eeg_filter="deap"`` band-passes 4-45 Hz and re-references to the common
    average)."""
    fs = check_fs(fs, "fs")
    unit = check_gsr_unit(gsr_unit, "gsr_unit")
    if not isinstance(ratings, dict):
        raise ConfigError("ratings: give a mapping rating name → one value per trial")
    unknown = [n for n in ratings if n not in rating_scales]
    if unknown:
        raise ConfigError(f"rating_scales: no scale for {', '.join(unknown)}")
    rules = make_rules({n: rating_scales[n] for n in ratings}, baseline_s=baseline_s)
    names = [str(c) for c in eeg_channels]
    parts = _array_trials(gsr, eeg, fs, trials, baseline_s, len(names))
    keys = _trial_keys(len(parts), subjects, trial_ids)
    by_subject = _by_subject(parts, keys, _trial_ratings(ratings, rules, len(parts)), fs,
                             names, unit)
    return own_pipeline(
        [Job(f"subject {s}", subject=s) for s in sorted(by_subject)],
        lambda job: by_subject[job.subject], Run(out, source, overwrite, progress=progress),
        eeg_channels=names, rules=rules, fs=fs, target_fs=target_fs, baseline=baseline,
        eeg_filter=eeg_filter, reader="arrays", extra={"gsr_unit_option": gsr_unit})


def _raw_tables(n: int, events: Any, ratings: dict[str, Sequence[float]] | None) -> list[Any]:
    """The events table (or None) of each of ``n`` Raw objects."""
    if events is not None and ratings is not None:
        raise ConfigError("give the ratings either in events tables or as ratings, not both")
    if ratings is not None and n != 1:
        raise ConfigError("ratings: only for a single Raw; give an events table per Raw")
    if events is None or n == 1:
        return [events] * n
    tables = list(events)
    if len(tables) != n:
        raise ConfigError(f"events: {len(tables)} tables for {n} Raw objects; give one per Raw")
    return tables


def write_store_from_raw(
    out: str | os.PathLike,
    raws: Any,
    options: RecordingOptions | None = None,
    *,
    events: Any = None,
    ratings: dict[str, Sequence[float]] | None = None,
    subjects: int | Sequence[int] | None = None,
    source: str = "own",
    overwrite: bool = False,
    progress: Progress = None,
    **settings: Any,
) -> PreprocessReport:
    """A store from MNE ``Raw`` objects (one or a list, subjects 1, 2 … unless
    ``subjects``): trials at their annotations (or ``stim_channel``'s events), ratings from
    ``events`` (a BIDS-style table per Raw: a TSV path, a mapping column → values or a list
    of row mappings, matched by onset) or, for one Raw, from ``ratings`` (name → one value
    per trial event, in order). ``options``/keywords as for
    :func:`~emotionkd.ingest.preprocess_files`."""
    from emotionkd.datasets.mne_files import eeg_channels_of, gsr_channel_of, signals_from_raw
    from emotionkd.datasets.own import cut_trials, read_events_table

    o = recording_options(options, settings)
    raw_list = list(raws) if isinstance(raws, (list, tuple)) else [raws]
    n = len(raw_list)
    tables = _raw_tables(n, events, ratings)
    subj = ([1 + k for k in range(n)] if subjects is None else
            [int(subjects)] * n if isinstance(subjects, int) else [int(s) for s in subjects])
    if len(subj) != n:
        raise ConfigError(f"subjects: {len(subj)} numbers for {n} Raw objects")

    def scan(k: int, ro: dict) -> tuple[str, list[str], float]:
        src = f"Raw {k + 1}"
        gsr = gsr_channel_of(raw_list[k], ro["gsr_channel"], src)
        return (src, eeg_channels_of(raw_list[k], ro["eeg_channels"], gsr, src),
                float(raw_list[k].info["sfreq"]))

    def read(job: Job) -> TrialList:
        k, ro = job.options["item"], job.options["reading"]
        sig = signals_from_raw(raw_list[k], source=job.path, eeg_channels=ro["eeg_channels"],
                               gsr_channel=ro["gsr_channel"], gsr_unit=ro["gsr_unit"],
                               stim_channel=ro["stim_channel"])
        tab = None if tables[k] is None else read_events_table(tables[k],
                                                               f"events table {k + 1}")
        return cut_trials(sig, job.subject, job.options["rules"], tab,
                          first_trial=job.options["first_trial"], ratings=ratings)

    return from_recordings(
        [(f"Raw {k + 1}", k) for k in range(n)], o,
        Run(out, source, overwrite, progress=progress), subject_ids=subj, scan=scan,
        read=read, match="onset", reader="mne-raw", extra={"subjects": subj})
