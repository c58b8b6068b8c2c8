"""What an evaluation run does: its configuration, its folds, the windows of each fold and
the digest of what each model trained on.

Leakage rules (docs/evaluation.md): every window of a trial — and, in LOSO and k-fold, every
trial of a subject — is on one side of a split; early-stopping validation data and the
feedback quiz data come from the training side only (validation: held-out training subjects,
or held-out training trials in the subject-dependent protocol; quiz: held-out trials of the
remaining training subjects). When a feedback student is in the run its quiz trials are held
out of *every* model's training windows, so all models of a fold learn from the same
labelled windows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from emotionkd.config import DistillConfig, ExperimentConfig
from emotionkd.distill.methods import method_class
from emotionkd.errors import ConfigError
from emotionkd.evaluation.headroom import CEILING, TEACHER_LABELS
from emotionkd.splits import Fold
from emotionkd.validation import csv_items, parse_subjects
from emotionkd.windows import WindowDataset

#: ``[distill]`` settings that apply to every method of an evaluation (not only to ``method``)
RUN_WIDE_DISTILL = ("hint_map", "teacher_targets", "crossfit_folds", "calibrate_teacher",
                    "kd_grid")


@dataclass(frozen=True)
class StudentVariant:
    """One student of the report: its row label and the configuration it trains with (its
    method, that method's settings, feedback on or off and the feedback settings)."""

    label: str
    config: ExperimentConfig

    @property
    def method(self) -> str:
        return self.config.distill.method

    @property
    def feedback(self) -> bool:
        return bool(self.config.distill.feedback)


@dataclass
class EvaluationPlan:
    """An evaluation run: the experiment configuration (every table applies), whether the
    fold models are kept and whether their epochs also go to TensorBoard (not part of the
    run: folds with and without agree). ``run.json`` stores it (:meth:`run_entries`) and
    :meth:`from_run_entries` reads it back."""

    config: ExperimentConfig
    save_models: bool = False
    tensorboard: bool = False

    def __post_init__(self) -> None:
        if self.config.evaluate.protocol is None:
            raise ConfigError("choose a protocol: --loso, --kfold K or --subject-dependent K (or "
                              "protocol in [evaluate]), or --model to evaluate one checkpoint")
        if not self.targets:
            raise ConfigError("--target: give at least one rating")
        if self.config.evaluate.feedback_ablation and not any(
                v.feedback for v in self.student_variants()):
            raise ConfigError("--feedback-ablation needs the emotionkd method with --feedback")

    # -- the settings, as the run uses them ------------------------------------------------
    @property
    def protocol(self) -> str:
        return str(self.config.evaluate.protocol)

    @property
    def k(self) -> int:
        return self.config.evaluate.k

    @property
    def targets(self) -> list[str]:
        return csv_items(self.config.data.target)

    @property
    def methods(self) -> list[str]:
        return csv_items(self.config.evaluate.methods)

    @property
    def baselines(self) -> list[str]:
        return [b for b in csv_items(self.config.evaluate.baselines) if b != "none"]

    @property
    def teacher(self) -> str:
        return self.config.model.model

    @property
    def feedback(self) -> bool:
        """Whether the methods that have feedback variants also train with feedback."""
        return self.config.distill.feedback_on("evaluate")

    @property
    def seeds(self) -> list[int]:
        return self.config.evaluate.seed_list(self.config.train.seed)

    @property
    def subjects(self) -> list[int] | None:
        return parse_subjects(self.config.evaluate.subjects, "--subjects")

    @property
    def test_data(self) -> str | None:
        """The store of the test side (cross-dataset protocol), else None."""
        return self.config.evaluate.test_data

    @property
    def val_fraction(self) -> float:
        return self.config.data.val_fraction

    @property
    def quiz_fraction(self) -> float:
        return self.config.feedback.quiz_fraction

    # -- what the run trains ---------------------------------------------------------------
    def student_variants(self) -> list[StudentVariant]:
        """Every student of the report. Each method trains without feedback; a method with
        feedback variants (emotionkd) also with it, and with ``feedback_ablation`` with each
        half of the feedback alone: the meta-gradient (teacher CE weight 0) and the teacher's
        own CE (no pilot student, no meta-gradient). The ``[distill]`` weights and
        ``student_init`` apply to the students of its method; the others take their presets."""
        base, out = self.config, []
        for m in self.methods:
            run_wide = {k: getattr(base.distill, k) for k in RUN_WIDE_DISTILL}
            d = base.distill if m == base.distill.method else DistillConfig(
                method=m, options=dict(base.distill.options), **run_wide)
            out.append(StudentVariant(f"student-{m}",
                                      base.with_tables(distill=replace(d, feedback=False))))
            if not (method_class(m).feedback_variants and self.feedback):
                continue
            on = base.with_tables(distill=replace(d, feedback=True))
            out.append(StudentVariant(f"student-{m}+feedback", on))
            if base.evaluate.feedback_ablation:
                for suffix, weight in (("meta", "feedback_teacher_ce"),
                                       ("ce", "feedback_student_ce")):
                    half = replace(base.feedback, **{weight: 0.0})
                    out.append(StudentVariant(f"student-{m}+feedback-{suffix}",
                                              on.with_tables(feedback=half)))
        return out

    @property
    def uses_quiz(self) -> bool:
        """Whether a feedback student runs (its quiz trials are then held out of every
        model's training windows)."""
        return any(v.feedback for v in self.student_variants())

    def yardstick(self, latent_truth: bool) -> str | None:
        """The headroom's yardstick row of a fold (``[evaluate] headroom``): the student
        trained on the latent truth where the store has one; on real data, when the run
        cross-fits the teacher anyway (``teacher_targets = "crossfit"``), on its hard
        out-of-fold predictions (the extra teachers are not trained for the estimate alone);
        None when off."""
        if not self.config.evaluate.headroom:
            return None
        if latent_truth:
            return CEILING
        return TEACHER_LABELS if self.config.distill.teacher_targets == "crossfit" else None

    def model_labels(self, latent_truth: bool | None = None) -> list[str]:
        """Row names of the report, in order (``latent_truth`` None: with both possible
        yardsticks; the report keeps the rows that have results)."""
        yard = ([y for y in (CEILING, TEACHER_LABELS) if self.config.evaluate.headroom]
                if latent_truth is None else [y for y in [self.yardstick(latent_truth)] if y])
        return (["teacher"] + [v.label for v in self.student_variants()] + yard
                + [f"baseline-{b}" for b in self.baselines])

    def for_target(self, target: str) -> ExperimentConfig:
        """The configuration of the models of one target (``[data]`` with that target)."""
        return self.config.with_tables(data=replace(self.config.data, target=target))

    # -- run.json --------------------------------------------------------------------------
    def run_entries(self) -> dict[str, Any]:
        """What ``run.json`` records of the plan: the resolved tables and ``save_models``."""
        return {"config": self.config.resolved("evaluate"), "save_models": self.save_models}

    @classmethod
    def from_run_entries(cls, meta: dict[str, Any], source: str) -> EvaluationPlan:
        return cls(ExperimentConfig.from_tables(meta["config"], source),
                   bool(meta.get("save_models", False)))


# ---------------------------------------------------------------------------------------------
# folds and their windows


def make_folds(plan: EvaluationPlan, subjects: np.ndarray, trials: np.ndarray,
               seed: int | None = None, test_subjects: np.ndarray | None = None
               ) -> list[Fold]:
    """The protocol's folds for one seed (the same for every target) from the store's
    (subject, trial) table; k-fold and subject-dependent splits are reshuffled per seed.
    Cross-dataset: one fold, every subject of the store on the training side and
    ``test_subjects`` (of the test store) on the test side."""
    from emotionkd.splits import group_kfold, loso_folds, subject_dependent_folds

    seed = plan.seeds[0] if seed is None else seed
    subs = np.unique(subjects)
    if plan.protocol == "cross-dataset":
        test = sorted(int(x) for x in np.unique(np.asarray(test_subjects)))
        return [Fold(0, "cross-dataset", [int(x) for x in subs], test)]
    if plan.protocol == "loso":
        return loso_folds(subs)
    if plan.protocol == "kfold":
        return group_kfold(subs, plan.k, seed)
    return subject_dependent_folds(subjects, trials, plan.k, seed)


@dataclass
class FoldWindows:
    """Window index sets of one fold (into one loaded dataset)."""

    train: np.ndarray  # the windows every model of the fold fits on
    val: np.ndarray  # early-stopping validation, from the training side
    quiz: np.ndarray  # feedback quiz, from the training side, disjoint from train and val
    test: np.ndarray
    train_subjects: list[int]
    val_desc: str


def fold_windows(fold: Fold, ds: WindowDataset, plan: EvaluationPlan, fold_seed: int
                 ) -> FoldWindows:
    """Split a dataset's windows for a fold: test side, then validation and (when a feedback
    student runs) quiz trials carved out of the training side for every model."""
    from emotionkd.splits import holdout_subjects, holdout_trials

    keys = ds.trial_keys()
    if plan.protocol == "subject-dependent":
        test = np.flatnonzero(np.isin(keys, fold.test_trials))
        side = np.flatnonzero(np.isin(keys, fold.train_trials))
        keep, held = holdout_trials(keys[side], plan.val_fraction, fold_seed)
        train_side, val = side[keep], side[held]
        val_desc = f"{len(np.unique(keys[val]))} held-out training trials"
        train_subjects = sorted(set(fold.train_subjects))
    else:  # cross-dataset: the test side is another store's windows (FoldRunner)
        test = (np.zeros(0, dtype=np.int64) if plan.protocol == "cross-dataset"
                else np.flatnonzero(np.isin(ds.subjects, fold.test_subjects)))
        fit_subj, val_subj = holdout_subjects(fold.train_subjects, plan.val_fraction, fold_seed)
        train_side = np.flatnonzero(np.isin(ds.subjects, fit_subj))
        val = np.flatnonzero(np.isin(ds.subjects, val_subj))
        val_desc = f"subjects {val_subj}"
        train_subjects = list(fit_subj) + list(val_subj)
    quiz = np.zeros(0, dtype=np.int64)
    if plan.uses_quiz:
        keep, held = holdout_trials(keys[train_side], plan.quiz_fraction, fold_seed + 1,
                                    allow_empty=True)
        train_side, quiz = train_side[keep], train_side[held]
    return FoldWindows(train=train_side, val=val, quiz=quiz, test=test,
                       train_subjects=sorted(train_subjects), val_desc=val_desc)


def windows_digest(ds: WindowDataset, idx: np.ndarray) -> dict[str, Any]:
    """What a model trained on: window and trial counts and a SHA-1 of the sorted (subject,
    trial, start sample) of the windows — equal digests mean identical training windows."""
    rows = np.stack([ds.subjects[idx], ds.trials[idx], ds.starts[idx]], axis=1).astype(np.int64)
    rows = rows[np.lexsort(rows.T[::-1])] if len(rows) else rows
    return {"windows": int(len(idx)), "trials": int(len(np.unique(ds.trial_keys()[idx]))),
            "sha1": hashlib.sha1(rows.tobytes()).hexdigest()}
