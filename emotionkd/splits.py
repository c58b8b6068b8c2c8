"""Leakage-free splits: every window of a trial, and in subject-wise protocols every trial of a
subject, falls on one side only.

* :func:`loso_folds` — leave one subject out;
* :func:`group_kfold` — K groups of subjects;
* :func:`subject_dependent_folds` — per subject, K folds over its trials;
* :func:`holdout_subjects` / :func:`holdout_trials` — carve validation (early stopping) or
  quiz (feedback) data out of a *training* side, never out of the test side;
* :func:`resolve_subject_split` — the (train, validation, test) subjects of one training run.

All functions are deterministic given ``seed`` and return plain numpy arrays / lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from emotionkd.errors import ConfigError


@dataclass
class Fold:
    """One fold: the subjects (or, subject-dependent, trial keys) on each side."""

    index: int
    name: str
    train_subjects: list[int]
    test_subjects: list[int]
    #: for subject-dependent folds: trial keys (subject*100000+trial) of each side
    train_trials: list[int] = field(default_factory=list)
    test_trials: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "train_subjects": self.train_subjects,
                "test_subjects": self.test_subjects, "train_trials": self.train_trials,
                "test_trials": self.test_trials}


def loso_folds(subjects: Sequence[int]) -> list[Fold]:
    """One fold per subject: that subject is the test side, all others train."""
    subs = sorted(int(s) for s in set(subjects))
    if len(subs) < 2:
        raise ConfigError(f"leave-one-subject-out needs at least 2 subjects, the data has {subs}")
    return [Fold(i, f"subject-{s}", [x for x in subs if x != s], [s]) for i, s in enumerate(subs)]


def group_kfold(subjects: Sequence[int], k: int, seed: int = 0) -> list[Fold]:
    """K folds over subjects (shuffled with ``seed``, sizes differ by at most one)."""
    subs = sorted(int(s) for s in set(subjects))
    if not 2 <= k <= len(subs):
        raise ConfigError(f"--kfold {k}: needs 2 <= K <= number of subjects ({len(subs)})")
    order = np.random.default_rng(seed).permutation(subs).tolist()
    groups = [sorted(order[i::k]) for i in range(k)]
    return [Fold(i, f"fold-{i + 1}", sorted(set(subs) - set(g)), g) for i, g in enumerate(groups)]


def subject_dependent_folds(
    subjects: np.ndarray, trials: np.ndarray, k: int, seed: int = 0
) -> list[Fold]:
    """Per subject, K folds over its trials; fold i of the protocol holds fold i of every
    subject. ``subjects``/``trials`` list every (subject, trial) pair once (or per window)."""
    keys = np.unique(np.asarray(subjects, dtype=np.int64) * 100000 + np.asarray(trials))
    rng = np.random.default_rng(seed)
    per_fold: list[list[int]] = [[] for _ in range(k)]
    for s in np.unique(keys // 100000):
        own = keys[keys // 100000 == s]
        if len(own) < k:
            raise ConfigError(
                f"--subject-dependent {k}: subject {int(s)} has only {len(own)} trials; "
                "use a smaller K"
            )
        own = rng.permutation(own)
        for i in range(k):
            per_fold[i].extend(int(x) for x in own[i::k])
    all_keys = set(int(x) for x in keys)
    subs = sorted(int(s) for s in np.unique(keys // 100000))
    return [
        Fold(i, f"trials-fold-{i + 1}", subs, subs,
             train_trials=sorted(all_keys - set(per_fold[i])), test_trials=sorted(per_fold[i]))
        for i in range(k)
    ]


def holdout_subjects(
    subjects: Sequence[int], fraction: float, seed: int = 0, minimum: int = 1
) -> tuple[list[int], list[int]]:
    """Split training subjects into (fit, held-out) with at least ``minimum`` held out and at
    least one left to fit on."""
    subs = sorted(int(s) for s in set(subjects))
    if len(subs) < 2:
        raise ConfigError(
            f"need at least 2 training subjects to hold some out for validation, got {subs}; "
            "pass validation subjects explicitly or use more subjects"
        )
    n = int(np.clip(round(fraction * len(subs)), minimum, len(subs) - 1))
    held = sorted(np.random.default_rng(seed).permutation(subs)[:n].tolist())
    return [s for s in subs if s not in held], held


def holdout_trials(
    trial_keys: np.ndarray, fraction: float, seed: int = 0, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Split the trials behind ``trial_keys`` (one key per window) into (fit, held-out) masks
    over windows, whole trials at a time, stratified by subject (each subject contributes
    about ``fraction`` of its trials, at least one if it has two or more). With
    ``allow_empty`` too few trials give an empty held-out side instead of an error."""
    keys = np.asarray(trial_keys, dtype=np.int64)
    uniq = np.unique(keys)
    rng = np.random.default_rng(seed)
    held: list[int] = []
    for s in np.unique(uniq // 100000):
        own = uniq[uniq // 100000 == s]
        if len(own) < 2:
            continue
        n = int(np.clip(round(fraction * len(own)), 1, len(own) - 1))
        held.extend(int(x) for x in rng.permutation(own)[:n])
    mask = np.isin(keys, np.asarray(held, dtype=np.int64))
    if allow_empty and not mask.any():
        return ~mask, mask
    if not mask.any() or mask.all():
        raise ConfigError("cannot hold out whole trials: too few trials on the training side")
    return ~mask, mask


def resolve_subject_split(
    available: Sequence[int],
    train: Sequence[int] | None,
    val: Sequence[int] | None,
    test: Sequence[int] | None,
    val_fraction: float,
    seed: int,
) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) subjects; disjoint, validation from the training side.

    Unspecified test → none; unspecified train → every subject not in validation or test;
    unspecified validation → ``val_fraction`` of the training subjects (at least one).
    """
    avail = set(int(s) for s in available)
    for name, group in (("--train-subjects", train), ("--val-subjects", val),
                        ("--test-subjects", test)):
        missing = sorted(set(group or []) - avail)
        if missing:
            raise ConfigError(f"{name}: subject(s) {missing} are not in the data "
                              f"(it has {sorted(avail)})")
    test_l = sorted(set(test or []))
    val_l = sorted(set(val or []))
    if train is None:
        train_l = sorted(avail - set(test_l) - set(val_l))
    else:
        train_l = sorted(set(train))
    overlap = (set(train_l) & set(test_l)) | (set(train_l) & set(val_l)) | (set(val_l) &
                                                                           set(test_l))
    if overlap:
        raise ConfigError(f"subjects {sorted(overlap)} are on two sides of the split; training,"
                          " validation and test subjects must be disjoint")
    if not val_l and val_fraction > 0:
        train_l, val_l = holdout_subjects(train_l, val_fraction, seed)
    if not train_l:
        raise ConfigError("no training subjects left after the validation/test split")
    return train_l, val_l, test_l
