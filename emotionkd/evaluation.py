"""Evaluation protocols end to end: folds, per-fold training of the teacher, the students and
the baselines, metrics, aggregation, statistics and reports.

Leakage rules (docs/evaluation.md, docs/method.md):

* every window of a trial — and, in LOSO and k-fold, every trial of a subject — is on one side
  of a split;
* the teacher is retrained inside every fold; early-stopping validation data and the feedback
  quiz data come from the training side only (validation: held-out training subjects, or
  held-out training trials in the subject-dependent protocol; quiz: held-out trials of the
  remaining training subjects);
* normalisation is declared in the report: per-subject z-scores use each subject's own
  unlabelled signal (transductive for held-out subjects), ``norm="train"`` uses statistics of
  the fold's training-side trials only.

Fair comparisons: every model of a fold trains on the same labelled windows. When a feedback
student is in the run its quiz trials are held out of *every* model's training windows (not
only the feedback student's), and each model's entry records the windows it trained on.

Seeds: ``seeds`` repeats the whole protocol (folds included, for k-fold and subject-dependent
splits) once per seed into one run folder; results are averaged over seeds and compared over
(fold, seed) pairs with a bootstrap confidence interval that resamples whole test sets.

A run folder holds ``run.json`` (configuration and folds per seed), one JSON file per finished
fold and seed (``folds/<target>/seed-<s>/fold-XXX.json``, written atomically as soon as the
fold ends, with test labels and probabilities), optionally the models, and the merged
``results.json``, ``results.csv`` and ``report.md``. ``resume`` skips finished folds; ``fold``
and ``only_seed`` select one job (for cluster job arrays); :func:`build_report` merges
whatever folds exist.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd import __version__
from emotionkd.config import (
    METHODS,
    PROTOCOLS,
    DataConfig,
    DistillConfig,
    EvaluationConfig,
    ExperimentConfig,
    FeedbackConfig,
    ModelConfig,
    csv_items,
    parse_subjects,
)
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.metrics import METRICS, aggregate, binary_metrics, bootstrap_ci, wilcoxon_paired
from emotionkd.models.registry import names_where

#: the models that may be baselines (classical: features + logistic regression; deep)
BASELINES = tuple(names_where(baseline=True))
#: the baselines every evaluation runs unless told otherwise: the yardsticks of the teacher
#: (eeg-features, shallowconvnet) and of the GSR-only students (gsr-features)
DEFAULT_BASELINES = tuple(csv_items(EvaluationConfig.baselines))
RUN_FORMAT = "emotionkd-run"


@dataclass
class EvalConfig:
    """Everything that defines an evaluation run (stored in run.json); built from an
    :class:`~emotionkd.config.ExperimentConfig` by :func:`eval_config`, whose tables the dict
    fields hold with the same names (defaults: the configuration's)."""

    protocol: str = "loso"
    k: int = EvaluationConfig.k  # folds for kfold / subject-dependent
    targets: list[str] = field(default_factory=lambda: [DataConfig.target])
    methods: list[str] = field(default_factory=lambda: csv_items(EvaluationConfig.methods))
    baselines: list[str] = field(default_factory=lambda: list(DEFAULT_BASELINES))
    teacher: str = ModelConfig.model
    feedback: bool = True  # also train the emotionkd student with adaptive feedback
    feedback_ablation: bool = EvaluationConfig.feedback_ablation  # and the feedback's halves
    data: dict[str, Any] = field(default_factory=dict)  # DataSpec fields except target
    train: dict[str, Any] = field(default_factory=dict)  # [train]
    model: dict[str, Any] = field(default_factory=dict)  # architecture overrides
    distill: dict[str, Any] = field(default_factory=dict)  # [distill]: applies to its method
    feedback_cfg: dict[str, Any] = field(default_factory=dict)  # [feedback]
    val_fraction: float = DataConfig.val_fraction
    quiz_fraction: float = FeedbackConfig.quiz_fraction
    seeds: list[int] = field(default_factory=lambda: [0])
    save_models: bool = False
    subjects: list[int] | None = None  # restrict the run to these subjects

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        if self.protocol != "loso" and self.k < 2:
            raise ConfigError(f"--{self.protocol} needs K >= 2 folds")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"--methods: unknown {', '.join(bad)}; choose from "
                              f"{', '.join(METHODS)}")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ConfigError(f"--baselines: unknown {', '.join(bad)}; choose from "
                              f"{', '.join(BASELINES)}")
        if not self.targets:
            raise ConfigError("--target: give at least one rating")
        if isinstance(self.seeds, int):
            self.seeds = [self.seeds]
        if not self.seeds or any(isinstance(x, bool) or not isinstance(x, int)
                                 for x in self.seeds):
            raise ConfigError(f"--seeds: give one or more integers, e.g. 0,1,2 (got "
                              f"{self.seeds!r})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"--seeds: {self.seeds} lists a seed twice")
        if self.feedback_ablation and not (self.feedback and "emotionkd" in self.methods):
            raise ConfigError("--feedback-ablation needs the emotionkd method with --feedback")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def seed(self) -> int:
        """The first seed (the whole run's when there is one)."""
        return int(self.seeds[0])

    def distill_settings(self) -> DistillConfig:
        """The ``[distill]`` table of the run."""
        return DistillConfig(**self.distill)

    def student_variants(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(report label, distillation method, feedback overrides or None) of every student.

        The emotionkd method always runs without feedback; with ``feedback`` also with it, and
        with ``feedback_ablation`` also with each half of the feedback alone: the meta-gradient
        (teacher CE weight 0) and the teacher's own CE (no pilot student, no meta-gradient)."""
        out: list[tuple[str, str, dict[str, Any] | None]] = []
        for m in self.methods:
            out.append((f"student-{m}", m, None))
            if m == "emotionkd" and self.feedback:
                out.append(("student-emotionkd+feedback", m, {}))
                if self.feedback_ablation:
                    out.append(("student-emotionkd+feedback-meta", m,
                                {"feedback_teacher_ce": 0.0}))
                    out.append(("student-emotionkd+feedback-ce", m,
                                {"feedback_student_ce": 0.0}))
        return out

    @property
    def uses_quiz(self) -> bool:
        """Whether a feedback student runs (its quiz trials are then held out of every
        model's training windows)."""
        return any(fb is not None for _, _, fb in self.student_variants())

    def model_labels(self) -> list[str]:
        """Row names of the report, in order."""
        return (["teacher"] + [label for label, _, _ in self.student_variants()]
                + [f"baseline-{b}" for b in self.baselines])


def eval_config(config: ExperimentConfig, save_models: bool = False) -> EvalConfig:
    """The evaluation run of an experiment configuration (the ``evaluate`` command, the API
    and the demo): every table applies — data, model, train, distill (its weights for the
    students of its method), feedback and evaluate."""
    from emotionkd.runs import data_spec

    ev, d = config.evaluate, config.data
    if ev.protocol is None:
        raise ConfigError("choose a protocol: --loso, --kfold K or --subject-dependent K (or "
                          "protocol in [evaluate]), or --model to evaluate one checkpoint")
    spec = data_spec(d).as_dict()
    spec.pop("target")
    return EvalConfig(
        protocol=ev.protocol, k=ev.k, targets=csv_items(d.target), methods=csv_items(ev.methods),
        baselines=[b for b in csv_items(ev.baselines) if b != "none"],
        teacher=config.model.model, feedback=config.distill.feedback_on("evaluate"),
        feedback_ablation=ev.feedback_ablation, data=spec, train=config.train.as_dict(),
        model=config.model.overrides(), distill=asdict(config.distill),
        feedback_cfg=config.feedback.as_dict(), val_fraction=d.val_fraction,
        quiz_fraction=config.feedback.quiz_fraction, seeds=ev.seed_list(config.train.seed),
        save_models=save_models, subjects=parse_subjects(ev.subjects, "--subjects"))


def config_from_run(meta: dict[str, Any]) -> EvalConfig:
    """The EvalConfig of a run.json (runs of format version 1 had one ``seed``)."""
    cfg = dict(meta["config"])
    if "seed" in cfg:
        cfg["seeds"] = [int(cfg.pop("seed"))]
    return EvalConfig(**cfg)


# ---------------------------------------------------------------------------------------------
# folds


def make_folds(cfg: EvalConfig, subjects: np.ndarray, trials: np.ndarray,
               seed: int | None = None):  # noqa: ANN201
    """The protocol's folds for one seed (the same for every target) from the store's
    (subject, trial) table; k-fold and subject-dependent splits are reshuffled per seed."""
    from emotionkd.splits import group_kfold, loso_folds, subject_dependent_folds

    seed = cfg.seed if seed is None else seed
    subs = np.unique(subjects)
    if cfg.protocol == "loso":
        return loso_folds(subs)
    if cfg.protocol == "kfold":
        return group_kfold(subs, cfg.k, seed)
    return subject_dependent_folds(subjects, trials, cfg.k, seed)


@dataclass
class FoldData:
    """Window index sets of one fold (into one loaded dataset)."""

    train: np.ndarray  # the windows every model of the fold fits on
    val: np.ndarray  # early-stopping validation, from the training side
    quiz: np.ndarray  # feedback quiz, from the training side, disjoint from train and val
    test: np.ndarray
    train_subjects: list[int]
    val_desc: str


def fold_windows(fold, ds, cfg: EvalConfig, fold_seed: int) -> FoldData:  # noqa: ANN001
    """Split a dataset's windows for a fold: test side, then validation and (when a feedback
    student runs) quiz trials carved out of the training side for every model."""
    from emotionkd.splits import holdout_subjects, holdout_trials

    keys = ds.trial_keys()
    if cfg.protocol == "subject-dependent":
        test = np.flatnonzero(np.isin(keys, fold.test_trials))
        side = np.flatnonzero(np.isin(keys, fold.train_trials))
        keep, held = holdout_trials(keys[side], cfg.val_fraction, fold_seed)
        train_side, val = side[keep], side[held]
        val_desc = f"{len(np.unique(keys[val]))} held-out training trials"
        train_subjects = sorted(set(fold.train_subjects))
    else:
        test = np.flatnonzero(np.isin(ds.subjects, fold.test_subjects))
        fit_subj, val_subj = holdout_subjects(fold.train_subjects, cfg.val_fraction, fold_seed)
        train_side = np.flatnonzero(np.isin(ds.subjects, fit_subj))
        val = np.flatnonzero(np.isin(ds.subjects, val_subj))
        val_desc = f"subjects {val_subj}"
        train_subjects = list(fit_subj) + list(val_subj)
    quiz = np.zeros(0, dtype=np.int64)
    if cfg.uses_quiz:
        keep, held = holdout_trials(keys[train_side], cfg.quiz_fraction, fold_seed + 1,
                                    allow_empty=True)
        train_side, quiz = train_side[keep], train_side[held]
    return FoldData(train=train_side, val=val, quiz=quiz, test=test,
                    train_subjects=sorted(train_subjects), val_desc=val_desc)


def windows_digest(ds, idx: np.ndarray) -> dict[str, Any]:  # noqa: ANN001
    """What a model trained on: window and trial counts and a SHA-1 of the sorted (subject,
    trial, start sample) of the windows — equal digests mean identical training windows."""
    import hashlib

    rows = np.stack([ds.subjects[idx], ds.trials[idx], ds.starts[idx]], axis=1).astype(np.int64)
    rows = rows[np.lexsort(rows.T[::-1])] if len(rows) else rows
    return {"windows": int(len(idx)), "trials": int(len(np.unique(ds.trial_keys()[idx]))),
            "sha1": hashlib.sha1(rows.tobytes()).hexdigest()}


# ---------------------------------------------------------------------------------------------
# running


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` atomically (emotionkd.outputs); fold jobs write the same run folder at
    once, so each file gets a unique temporary name and the folder is not locked."""
    from emotionkd.outputs import make_folder, write_text_atomic

    make_folder(path.parent)
    write_text_atomic(path, text, lock=False)


def _atomic_json(path: Path, obj: Any) -> None:
    _atomic_write(path, json.dumps(obj, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def fold_path(run_dir: Path, target: str, index: int, seed: int) -> Path:
    return run_dir / "folds" / target / f"seed-{seed}" / f"fold-{index:03d}.json"


def _versions() -> dict[str, str]:
    import scipy
    import sklearn
    import torch

    return {"emotionkd": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__}


RUN_FORMAT_VERSION = 2


def prepare_run(run_dir: Path, cfg: EvalConfig, store_path: str,
                folds_by_seed: dict[int, list], resume: bool, single_job: bool
                ) -> dict[str, Any]:
    """Create or check ``run.json``; an existing run folder must hold the same configuration."""
    run_json = run_dir / "run.json"
    folds = {str(s): [f.as_dict() for f in fs] for s, fs in folds_by_seed.items()}
    meta = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION,
            "config": cfg.as_dict(), "store": str(store_path), "folds": folds,
            "versions": _versions()}
    if run_json.exists():
        old = json.loads(run_json.read_text())
        if old.get("format_version") != RUN_FORMAT_VERSION or \
                old.get("config") != json.loads(json.dumps(cfg.as_dict())) or \
                old.get("folds") != json.loads(json.dumps(folds)):
            raise ConfigError(f"{run_dir}: holds a run with a different configuration; use "
                              "another --out or the same options")
        if not (resume or single_job) and any((run_dir / "folds").rglob("fold-*.json")):
            raise ConfigError(f"{run_dir}: holds finished folds; pass --resume to continue "
                              "it, or choose another --out")
        return old
    run_dir.mkdir(parents=True, exist_ok=True)
    meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _atomic_json(run_json, meta)
    return meta


def run_fold(store, cfg: EvalConfig, ds, fold, target: str, run_dir: Path,  # noqa: ANN001
             progress: Callable[..., None] | None = None, seed: int | None = None
             ) -> dict[str, Any]:
    """Train and test every model of one fold for one seed; per-model failures are recorded,
    not raised. The teacher and the deep baselines train with
    :func:`~emotionkd.runs.fit_model` (as ``train-teacher``), the students with
    :func:`~emotionkd.distill.trainer.fit_student` (as ``distill``)."""
    from emotionkd import distributed as dist_
    from emotionkd.distill.trainer import fit_student
    from emotionkd.models.classical import FeatureLogReg
    from emotionkd.models.registry import config_for, distilled_student, entry
    from emotionkd.runs import class_balance, fit_model
    from emotionkd.training import TrainConfig, clone_module, predict_proba

    t0 = time.perf_counter()
    seed = cfg.seed if seed is None else int(seed)
    fold_seed = seed * 1000 + fold.index
    fd = fold_windows(fold, ds, cfg, fold_seed)
    # strict normalisation: statistics of the fold's training side (fitting, validation and
    # quiz windows' trials) only — in the subject-dependent protocol never a test trial's signal
    side_trials = np.unique(ds.trial_keys()[np.concatenate([fd.train, fd.val, fd.quiz])])
    view = ds if ds.norm != "train" else ds.with_norm("train", norm_trials=side_trials)
    train, val = view.subset(fd.train), view.subset(fd.val)
    test, quiz = view.subset(fd.test), view.subset(fd.quiz)
    tcfg = TrainConfig(**{**cfg.train, "seed": fold_seed})
    trained_on = windows_digest(ds, fd.train)
    single = len(np.unique(test.labels)) < 2
    result: dict[str, Any] = {
        "target": target, "fold": fold.as_dict(), "seed": seed, "fold_seed": fold_seed,
        "validation": fd.val_desc, "windows": {"train": len(train), "val": len(val),
                                               "quiz": len(quiz), "test": len(test)},
        "trained_on": trained_on, "single_class": bool(single),
        "test_balance": class_balance(test.labels), "train_balance": class_balance(train.labels),
        "test_labels": test.labels.tolist(), "models": {},
    }
    if test.latent_labels is not None:
        result["test_latent_labels"] = test.latent_labels.tolist()
        result["test_latent_balance"] = class_balance(test.latent_labels)
        result["single_class_latent"] = bool(len(np.unique(test.latent_labels)) < 2)
    if len(test) == 0 or len(train) == 0:
        result["error"] = "no test or training windows in this fold"
        return result
    models_dir = run_dir / "models" / target / f"seed-{seed}" / f"fold-{fold.index:03d}"
    steps = len(cfg.model_labels())

    def record(label: str, prob: np.ndarray, extra: dict | None = None) -> None:
        entry_ = {"metrics": binary_metrics(test.labels, prob), "p_high": prob.round(6).tolist(),
                  "trained_on": trained_on, **(extra or {})}
        if test.latent_labels is not None:
            entry_["metrics_latent"] = binary_metrics(test.latent_labels, prob)
        result["models"][label] = entry_

    def record_model(label: str, model, fit_res, extra: dict | None = None) -> None:  # noqa: ANN001
        prob = predict_proba(model, test, distributed=dist_.active())[:, 1]
        record(label, prob, {"best_epoch": fit_res.best_epoch, "epochs_run": fit_res.epochs_run,
                             "seconds": round(fit_res.seconds, 2), "history": fit_res.history,
                             **(extra or {})})
        if cfg.save_models and dist_.is_main():
            _save_model(models_dir / f"{label}.pt", model, label, view, fd, tcfg, fit_res,
                        store)

    def attempt(label: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:  # a failed model must not stop the run
            result["models"][label] = {"error": f"{type(exc).__name__}: {exc}",
                                       "traceback": traceback.format_exc(limit=4)}
        if progress is not None:
            progress(len(result["models"]), steps, info=label)

    arch = dict(cfg.model)
    teacher_box: dict[str, Any] = {}

    def do_teacher() -> None:
        teacher, _, res = fit_model(cfg.teacher, train, val, tcfg, arch)
        teacher_box["model"] = teacher
        record_model("teacher", teacher, res)

    attempt("teacher", do_teacher)
    dist_cfg = cfg.distill_settings()
    s_cfg = config_for(distilled_student(), ds.fs, ds.window_s, ds.n_eeg, arch)
    s_tcfg = TrainConfig(**{**tcfg.as_dict(), "seed": fold_seed + 1})
    for label, method, fb_over in cfg.student_variants():
        def do_student(label: str = label, method: str = method,
                       fb_over: dict | None = fb_over) -> None:
            teacher = None
            if method != "none":
                if "model" not in teacher_box:
                    raise RuntimeError("the teacher of this fold failed")
                teacher = clone_module(teacher_box["model"])  # feedback changes its copy
            fb = None if fb_over is None else FeedbackConfig(**{**cfg.feedback_cfg, **fb_over})
            init = dist_cfg.student_init if method == dist_cfg.method else "scratch"
            res = fit_student(teacher, s_cfg, train, val, s_tcfg, method,
                              dist_cfg.weights(method), fb, quiz if fb else None, init)
            record_model(label, res.student, res.fit, {"feedback_steps": res.feedback_steps})

        attempt(label, do_student)
    b_tcfg = TrainConfig(**{**tcfg.as_dict(), "seed": fold_seed + 2})
    for base in cfg.baselines:
        def do_baseline(base: str = base) -> None:
            if entry(base).kind == "classical":
                t1 = time.perf_counter()
                clf = FeatureLogReg(base)
                info = clf.fit(train, val)
                record(f"baseline-{base}", clf.predict_proba(test)[:, 1],
                       {**info, "seconds": round(time.perf_counter() - t1, 2)})
                if cfg.save_models and dist_.is_main():
                    _atomic_json(models_dir / f"baseline-{base}.json", clf.state())
                return
            m, _, res = fit_model(base, train, val, b_tcfg, arch)
            record_model(f"baseline-{base}", m, res)

        attempt(f"baseline-{base}", do_baseline)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _save_model(path: Path, model, label: str, ds, fd: FoldData, tcfg, fit_res,  # noqa: ANN001
                store) -> None:  # noqa: ANN001
    from emotionkd.checkpoint import save_checkpoint
    from emotionkd.models.registry import entry
    from emotionkd.runs import data_section, training_section

    path.parent.mkdir(parents=True, exist_ok=True)
    name = model.registry_name
    subjects = sorted(set(int(s) for s in ds.subjects[fd.train]))
    val_subjects = sorted(set(int(s) for s in ds.subjects[fd.val]))
    test_subjects = sorted(set(int(s) for s in ds.subjects[fd.test]))
    e = entry(name)
    # deep baselines are saved in the role of their inputs (EEG + GSR: the teacher's)
    role = e.role if e.role in ("teacher", "student") else (
        "teacher" if "eeg" in e.needs else "student")
    save_checkpoint(path, role=role, model=name,
                    model_config=model.config_dict(), state_dict=model.state_dict(),
                    data=data_section(ds, store, subjects, val_subjects, test_subjects),
                    training=training_section(tcfg, fit_res, {"evaluation_model": label}))


def evaluate_protocol(
    store_path: str | os.PathLike,
    cfg: EvalConfig,
    run_dir: str | os.PathLike,
    resume: bool = False,
    fold: int | None = None,
    progress: Callable[..., None] | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    only_seed: int | None = None,
) -> dict[str, Any]:
    """Run the protocol for every seed (or one job: ``fold`` and/or ``only_seed``) and write
    the merged report. Returns the report."""
    from emotionkd.models.classical import require_baselines
    from emotionkd.runs import DataSpec, load_windows, open_data

    require_baselines(cfg.baselines)  # a missing optional package: refused before any work
    store = open_data(store_path)
    run = Path(run_dir)
    subjects_filter = cfg.subjects
    mask = store.trial_mask(subjects_filter)
    folds_by_seed = {s: make_folds(cfg, store.subject[mask], store.trial[mask], s)
                     for s in cfg.seeds}
    n_folds = len(folds_by_seed[cfg.seeds[0]])
    if fold is not None and not 0 <= fold < n_folds:
        raise ConfigError(f"--fold {fold}: the protocol has folds 0..{n_folds - 1}")
    if only_seed is not None and only_seed not in cfg.seeds:
        raise ConfigError(f"--only-seed {only_seed}: the run's seeds are "
                          f"{', '.join(map(str, cfg.seeds))}")
    from emotionkd import distributed as dist_

    single_job = fold is not None or only_seed is not None
    if dist_.is_main():
        prepare_run(run, cfg, str(store.path), folds_by_seed, resume, single_job)
    dist_.barrier()
    jobs = [(s, f) for s in cfg.seeds if only_seed is None or s == only_seed
            for f in folds_by_seed[s] if fold is None or f.index == fold]
    total = len(jobs) * len(cfg.targets)
    done = 0
    for target in cfg.targets:
        spec = DataSpec(**{**cfg.data, "target": target})
        # finished folds are skipped on --resume; an explicit single job is recomputed
        pending = [(s, f) for s, f in jobs
                   if not resume or not fold_path(run, target, f.index, s).exists()]
        pending = dist_.broadcast_object(pending)  # every rank runs the same folds
        done += len(jobs) - len(pending)
        if not pending:
            continue
        # with --norm train the statistics depend on the fold: load unnormalised, and each
        # fold takes a view with its own training-side statistics
        load_spec = DataSpec(**{**spec.as_dict(), "norm": "none"}) if spec.norm == "train" \
            else spec
        ds = load_windows(store, load_spec, subjects=subjects_filter, load_eeg=True)
        if spec.norm == "train":
            ds.norm = "train"
        for s, f in pending:
            where = f"{target} seed {s} fold {f.index + 1}/{n_folds}"

            def cb(k: float, n: float, info: str = "", _w=where, _d=done) -> None:
                if progress is not None:
                    progress(_d + k / max(n, 1), total, info=f"{_w}: {info}")

            try:
                res = run_fold(store, cfg, ds, f, target, run, progress=cb, seed=s)
            except Exception as exc:  # record and go on
                res = {"target": target, "fold": f.as_dict(), "seed": s, "models": {},
                       "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(limit=6)}
            if dist_.is_main():
                _atomic_json(fold_path(run, target, f.index, s), res)
            done += 1
            if on_fold is not None:
                on_fold(res)
            if progress is not None and dist_.is_main():
                progress(done, total, info=f"{where} done")
    dist_.barrier()
    return build_report(run) if dist_.is_main() else {}


# ---------------------------------------------------------------------------------------------
# reports


def load_folds(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """run.json and every finished fold result of a run folder (runs of format version 1,
    with one seed and no seed folders, are read too)."""
    run_json = run_dir / "run.json"
    if not run_json.exists():
        raise DataFormatError(f"{run_dir}: not an evaluation run folder (no run.json); run "
                              "'emotionkd evaluate --out DIR' first")
    try:
        meta = json.loads(run_json.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{run_json}: corrupt run file ({exc})") from None
    if meta.get("format") != RUN_FORMAT:
        raise DataFormatError(f"{run_json}: not an emotionkd run file")
    version = meta.get("format_version", 1)
    if version == 1:  # one seed, folds/<target>/fold-XXX.json
        seed = int(meta["config"].get("seed", 0))
        meta["folds"] = {str(seed): meta["folds"]}
        paths = sorted((run_dir / "folds").glob("*/fold-*.json"))
    elif version == RUN_FORMAT_VERSION:
        paths = sorted((run_dir / "folds").glob("*/seed-*/fold-*.json"))
    else:
        raise DataFormatError(f"{run_json}: run format_version {version} is not supported by "
                              f"emotionkd {__version__}")
    folds = []
    for p in paths:
        try:
            f = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{p}: corrupt fold result ({exc}); delete it and "
                                  "rerun that fold with --resume") from None
        if version == 1:
            f.setdefault("seed", int(meta["config"].get("seed", 0)))
        folds.append(f)
    return meta, folds


def build_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Merge the finished folds of a run into results.json, results.csv, report.md and the
    figures it links (RUN/figures/, :mod:`emotionkd.figures`; skipped without matplotlib).

    Folds whose test windows hold a single class are flagged and left out of fold means and
    paired comparisons (balanced accuracy is trivially 1 for a constant predictor there);
    pooled metrics use every test window."""
    run = Path(run_dir)
    meta, folds = load_folds(run)
    cfg = config_from_run(meta)
    labels = cfg.model_labels()
    n_folds = len(next(iter(meta["folds"].values())))
    results: dict[str, Any] = {"protocol": cfg.protocol, "k": cfg.k, "folds_total": n_folds,
                               "seeds": list(cfg.seeds), "jobs_total": n_folds * len(cfg.seeds),
                               "targets": {}, "config": meta["config"],
                               "versions": meta.get("versions", {}), "store": meta["store"]}
    for target in cfg.targets:
        tf = sorted([f for f in folds if f.get("target") == target],
                    key=lambda f: (f["fold"]["index"], f.get("seed", 0)))
        results["targets"][target] = summarise_target(tf, labels)
    from emotionkd.figures import figures_markdown, report_figures_entry

    results["figures"] = report_figures_entry(run, results, folds)  # RUN/figures/*.png
    _atomic_json(run / "results.json", results)
    _write_csv(run / "results.csv", results)
    _atomic_write(run / "report.md", render_markdown(results, meta)
                  + "\n" + figures_markdown(results["figures"]))
    return results


def _test_set_key(f: dict[str, Any]) -> str:
    """Identity of a fold's test set: seeds of one LOSO fold share it (and are clustered)."""
    fold = f["fold"]
    return json.dumps([fold.get("test_subjects"), fold.get("test_trials")])


def _summarise_model(units: list[dict], label: str, metrics_key: str,
                     labels_key: str, single_key: str) -> dict[str, Any]:
    """Fold means (over the test sets, each averaged over its seeds), per-seed means and
    pooled metrics of one model, for the labels in ``labels_key``."""
    done = [f for f in units if metrics_key in f.get("models", {}).get(label, {})]
    usable = [f for f in done if not f.get(single_key)]
    per_set: dict[str, list[dict[str, float]]] = {}
    per_seed: dict[int, list[dict[str, float]]] = {}
    for f in usable:
        m = f["models"][label][metrics_key]
        per_set.setdefault(_test_set_key(f), []).append(m)
        per_seed.setdefault(int(f.get("seed", 0)), []).append(m)

    def mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: float(np.nanmean([r[k] for r in rows])) if any(
            not math.isnan(r[k]) for r in rows) else math.nan for k in METRICS}

    set_means = [mean_of(rows) for rows in per_set.values()]
    seed_means = {s: mean_of(rows) for s, rows in sorted(per_seed.items())}
    return {
        "folds": len(usable), "test_sets": len(per_set),
        "single_class_folds": len(done) - len(usable),
        "mean_std": aggregate(set_means),
        "per_fold": {m: [f["models"][label][metrics_key][m] for f in usable] for m in METRICS},
        "per_seed": {str(s): {m: v[m] for m in METRICS} for s, v in seed_means.items()},
        "seed_sd": {m: (float(np.std([v[m] for v in seed_means.values()], ddof=1))
                        if len(seed_means) > 1 else math.nan) for m in METRICS},
        "pooled": _pooled(done, label, labels_key),
    }


def summarise_target(tf: list[dict[str, Any]], labels: Sequence[str]) -> dict[str, Any]:
    """Per-model summaries, paired comparisons and the class balance of one target's fold
    results (every fold and seed)."""
    per_model: dict[str, Any] = {}
    for label in labels:
        entry = _summarise_model(tf, label, "metrics", "test_labels", "single_class")
        entry["errors"] = [{"fold": f["fold"]["index"], "seed": f.get("seed", 0),
                            "error": f["models"][label]["error"]}
                           for f in tf if "error" in f.get("models", {}).get(label, {})]
        if any("metrics_latent" in f.get("models", {}).get(label, {}) for f in tf):
            entry["latent"] = _summarise_model(tf, label, "metrics_latent",
                                               "test_latent_labels", "single_class_latent")
        per_model[label] = entry
    balance = [f["test_balance"] for f in tf if "test_balance" in f]
    maj = [b["majority"] for b in balance]
    latent = any("latent" in m for m in per_model.values())
    stats = {}
    for a, b in comparison_pairs(labels):
        if per_model[a]["folds"] and per_model[b]["folds"]:
            stats[f"{a} vs {b}"] = {
                "a": a, "b": b,
                **{m: paired_comparison(tf, a, b, m) for m in COMPARED_METRICS}}
            if latent:
                stats[f"{a} vs {b}"]["latent"] = {
                    m: paired_comparison(tf, a, b, m, "metrics_latent", "single_class_latent")
                    for m in COMPARED_METRICS}
    return {
        "folds_done": len(tf),
        "fold_errors": [{"fold": f["fold"]["index"], "seed": f.get("seed", 0),
                         "error": f["error"]} for f in tf if "error" in f],
        "single_class_folds": [{"fold": f["fold"]["index"], "seed": f.get("seed", 0),
                                "test_subjects": f["fold"].get("test_subjects")}
                               for f in tf if f.get("single_class")],
        "majority_baseline": {"mean": float(np.mean(maj)) if maj else math.nan,
                              "per_fold": maj},
        "test_windows": int(sum(b["n"] for b in balance)),
        "test_high_fraction": (float(sum(b["high"] for b in balance)
                                     / max(sum(b["n"] for b in balance), 1))
                               if balance else math.nan),
        "models": per_model, "comparisons": stats, "latent_truth": latent,
        "seconds": float(sum(f.get("seconds", 0.0) for f in tf)),
    }


#: metrics the paired comparisons are made on (the first leads the reports)
COMPARED_METRICS = ("balanced_accuracy", "macro_f1", "accuracy")


def paired_comparison(folds: list[dict], a: str, b: str, metric: str,
                      key: str = "metrics", single_key: str = "single_class",
                      n_boot: int = 10000) -> dict[str, Any]:
    """Model ``a`` minus model ``b`` over the (fold, seed) pairs where both have results
    (single-class folds left out): the mean difference, its 95 % bootstrap confidence interval
    (whole test sets resampled with all their seeds, so repeated seeds of one fold do not
    count as independent evidence), and a Wilcoxon signed-rank test over the test sets'
    seed-averaged differences."""
    diffs, sets = [], []
    for f in folds:
        ma, mb = f.get("models", {}).get(a, {}), f.get("models", {}).get(b, {})
        if key in ma and key in mb and not f.get(single_key):
            d = ma[key][metric] - mb[key][metric]
            if not math.isnan(d):
                diffs.append(d)
                sets.append(_test_set_key(f))
    by_set: dict[str, list[float]] = {}
    for d, k in zip(diffs, sets):
        by_set.setdefault(k, []).append(d)
    set_means = [float(np.mean(v)) for v in by_set.values()]
    w = wilcoxon_paired(set_means, [0.0] * len(set_means))
    lo, hi = bootstrap_ci(diffs, sets, n_boot=n_boot)
    return {"mean_difference": float(np.mean(diffs)) if diffs else math.nan,
            "ci_low": lo, "ci_high": hi, "pairs": len(diffs), "test_sets": len(by_set),
            "wins": int(sum(d > 0 for d in set_means)),
            "losses": int(sum(d < 0 for d in set_means)),
            "p_value": w["p_value"], "statistic": w["statistic"], "note": w["note"]}


def comparison_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """The paired comparisons a report makes, as (model, reference) label pairs: every
    distilled student against the student alone, and the feedback students against the
    emotionkd student without feedback; the teacher against the student alone (what a teacher
    knows beyond GSR) and against its yardsticks; the student alone against its yardsticks;
    the NeuroKit2 and differential-entropy feature sets against the built-in ones."""
    have = set(labels)
    pairs = [(lab, "student-none") for lab in labels
             if lab.startswith("student-") and lab != "student-none"]
    pairs += [(lab, "student-emotionkd") for lab in labels
              if lab.startswith("student-emotionkd+")]
    pairs += [("teacher", ref) for ref in ("student-none", "baseline-eeg-features",
                                           "baseline-eeg-de", "baseline-shallowconvnet")]
    pairs += [("student-none", ref) for ref in ("baseline-gsr-features",
                                                "baseline-gsr-neurokit")]
    pairs += [("baseline-gsr-neurokit", "baseline-gsr-features"),
              ("baseline-eeg-de", "baseline-eeg-features")]
    return [(a, b) for a, b in pairs if a in have and b in have]


def _pooled(folds: list[dict], label: str, key: str) -> dict[str, float]:
    """Metrics over all test windows of ``folds`` at once (labels from ``key``)."""
    ys = [np.asarray(f[key]) for f in folds if key in f and "p_high" in f["models"][label]]
    ps = [np.asarray(f["models"][label]["p_high"]) for f in folds
          if key in f and "p_high" in f["models"][label]]
    return binary_metrics(np.concatenate(ys), np.concatenate(ps)) if ys else {}


def _write_csv(path: Path, results: dict[str, Any]) -> None:
    import csv
    import io

    fh = io.StringIO(newline="")
    w = csv.writer(fh)
    w.writerow(["target", "labels", "model", "metric", "mean", "std", "folds", "pooled"])
    for target, t in results["targets"].items():
        for label, m in t["models"].items():
            parts = [("rating", m)] + ([("latent", m["latent"])] if "latent" in m else [])
            for which, part in parts:
                for metric in METRICS:
                    ms = part["mean_std"].get(metric, {})
                    w.writerow([target, which, label, metric, _fmt(ms.get("mean")),
                                _fmt(ms.get("std")), part["folds"],
                                _fmt(part["pooled"].get(metric))])
        w.writerow([target, "rating", "majority-class", "accuracy",
                    _fmt(t["majority_baseline"]["mean"]), "", t["folds_done"], ""])
    _atomic_write(path, fh.getvalue())


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.4f}"


def describe_normalisation(norm: str) -> str:
    if norm == "subject":
        return ("per subject and channel z-score from each subject's own signal (no labels); "
                "for held-out test subjects this is transductive, unsupervised calibration")
    if norm == "train":
        return ("z-score with statistics pooled over each fold's training-side trials only "
                "(strict: no test trial's signal, in every protocol)")
    return "none"


def _pp(x: float) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:+.1f}"


def comparison_line(st: dict[str, Any], metric: str = "balanced_accuracy",
                    part: str | None = None) -> str:
    """'a − b: +8.1 pp [95 % CI +4.2, +12.0], 7 of 8 test sets better, Wilcoxon p = 0.02
    (8 test sets × 3 seeds)' for a paired comparison."""
    r = (st[part] if part else st)[metric]
    p = r["p_value"]
    seeds = r["pairs"] / r["test_sets"] if r["test_sets"] else 0
    reps = f" × {seeds:g} seeds" if seeds > 1 else ""
    return (f"{st['a']} − {st['b']}: {_pp(r['mean_difference'])} pp "
            f"[95 % CI {_pp(r['ci_low'])}, {_pp(r['ci_high'])}], better on {r['wins']} of "
            f"{r['test_sets']} test sets, Wilcoxon p = {'n/a' if p != p else f'{p:.3g}'} "
            f"({r['test_sets']} test sets{reps})")


def render_markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """The human-readable report: effect sizes with confidence intervals first, then every
    model's metrics (fold means and pooled side by side)."""
    from emotionkd.runs import DataSpec
    from emotionkd.training import TrainConfig

    cfg = meta["config"]
    data = {**DataSpec().as_dict(), **cfg.get("data", {})}
    tr = {**TrainConfig().as_dict(), **cfg.get("train", {})}
    seeds = results.get("seeds") or [cfg.get("seed", 0)]
    proto = {"loso": "leave-one-subject-out", "kfold": f"{cfg['k']}-fold over subjects",
             "subject-dependent": f"subject-dependent, {cfg['k']} folds over each subject's "
                                  "trials"}[cfg["protocol"]]
    tie = ">=" if data.get("tie") == "high" else ">"
    quiz = config_from_run(meta).uses_quiz
    lines = [
        "# emotionkd evaluation report", "",
        f"* store: `{meta['store']}`",
        f"* protocol: {proto} ({results['folds_total']} folds × {len(seeds)} seed"
        f"{'s' if len(seeds) > 1 else ''}: {', '.join(map(str, seeds))}; folds are redrawn per "
        "seed where the protocol shuffles); the teacher is retrained in every fold; "
        "early-stopping validation and feedback quiz data come from the training side only",
        f"* normalisation: {describe_normalisation(data.get('norm', 'subject'))}",
        f"* labels: high = rating {tie} {data.get('threshold', 5)} (tie rule "
        f"'{data.get('tie', 'low')}')",
        f"* windows: {data.get('window_s', 4)} s every {data.get('step_s', 4)} s; EEG channels: "
        f"{'all in the store' if not data.get('eeg_channels') else len(data['eeg_channels'])}",
        f"* training: epochs ≤ {tr.get('epochs')}, lr {tr.get('lr')}, batch {tr.get('batch_size')}"
        f", patience {tr.get('patience')}, monitor {tr.get('monitor')}, class weights "
        f"{tr.get('class_weight')}; fold seed = seed·1000 + fold",
        f"* validation: {int(cfg['val_fraction'] * 100)} % of training subjects (trials in the "
        "subject-dependent protocol)"
        + (f"; feedback quiz: {int(cfg['quiz_fraction'] * 100)} % of the remaining training "
           "trials, held out of every model's training windows so that all models of a fold "
           "learn from the same labelled windows" if quiz else ""),
        "* statistics: differences are paired over (fold, seed); 95 % confidence intervals "
        "by a bootstrap that resamples whole test sets (10,000 resamples); Wilcoxon "
        "signed-rank tests over the test sets' seed-averaged differences; folds whose test "
        "windows hold one class are left out of fold means and tests (pooled metrics use "
        "every window)",
        "* versions: " + ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items()),
        "",
    ]
    for target, t in results["targets"].items():
        lines += [f"## {target}", "",
                  f"{t['folds_done']} of {results.get('jobs_total', results['folds_total'])} "
                  f"fold runs done, {t['test_windows']} test windows, "
                  f"{100 * t['test_high_fraction']:.1f} % high; majority-class baseline (mean "
                  f"over folds): {100 * t['majority_baseline']['mean']:.1f} %; compute time "
                  f"{t['seconds'] / 60:.1f} min", ""]
        if t["single_class_folds"]:
            shown = ", ".join(f"fold {x['fold']} (seed {x['seed']}, subjects "
                              f"{x['test_subjects']})" for x in t["single_class_folds"])
            lines += [f"**Single-class test folds, left out of fold means and paired tests:** "
                      f"{shown}.", ""]
        if t.get("comparisons"):
            lines += ["### Effect sizes", "",
                      "| comparison | balanced accuracy difference [95 % CI] | test sets "
                      "better | Wilcoxon p | macro-F1 difference [95 % CI] |",
                      "|---|---|---|---|---|"]
            for st in t["comparisons"].values():
                r, f1 = st["balanced_accuracy"], st["macro_f1"]
                p = r["p_value"]
                lines.append(
                    f"| {st['a']} − {st['b']} | {_pp(r['mean_difference'])} pp "
                    f"[{_pp(r['ci_low'])}, {_pp(r['ci_high'])}] | {r['wins']} of "
                    f"{r['test_sets']} | {'n/a' if p != p else f'{p:.3g}'} | "
                    f"{_pp(f1['mean_difference'])} pp [{_pp(f1['ci_low'])}, "
                    f"{_pp(f1['ci_high'])}] |")
            lines.append("")
            if t.get("latent_truth"):
                lines += ["Against the latent truth (synthetic data):", "",
                          "| comparison | balanced accuracy difference [95 % CI] | test sets "
                          "better | Wilcoxon p |", "|---|---|---|---|"]
                for st in t["comparisons"].values():
                    r = st["latent"]["balanced_accuracy"]
                    p = r["p_value"]
                    lines.append(f"| {st['a']} − {st['b']} | {_pp(r['mean_difference'])} pp "
                                 f"[{_pp(r['ci_low'])}, {_pp(r['ci_high'])}] | {r['wins']} of "
                                 f"{r['test_sets']} | {'n/a' if p != p else f'{p:.3g}'} |")
                lines.append("")
        lines += ["### Models", "",
                  "Mean ± SD over test sets (each averaged over its seeds) and, with equal "
                  "weight, pooled over every test window:", ""]
        lines += _metrics_table(t["models"], lambda m: m)
        if t.get("latent_truth"):
            lines += ["Against the latent truth (synthetic data: the emotion the signals were "
                      "generated from, binarised like the ratings; no rating noise):", ""]
            lines += _metrics_table(t["models"], lambda m: m.get("latent"))
        errs = [(label, e) for label, m in t["models"].items() for e in m["errors"]]
        if errs or t["fold_errors"]:
            lines += ["Failures:", ""]
            lines += [f"* fold {e['fold']} (seed {e.get('seed', 0)}): {e['error']}"
                      for e in t["fold_errors"]]
            lines += [f"* {label}, fold {e['fold']} (seed {e.get('seed', 0)}): {e['error']}"
                      for label, e in errs]
            lines.append("")
    return "\n".join(lines) + "\n"


def _metrics_table(models: dict[str, Any], pick: Callable[[dict], dict | None]) -> list[str]:
    """Markdown rows: mean ± SD over test sets and pooled value of every metric."""
    lines = ["| model | folds | bal. acc. (folds) | bal. acc. (pooled) | macro-F1 (folds) | "
             "macro-F1 (pooled) | accuracy (folds) | accuracy (pooled) | ROC-AUC (folds) | "
             "seed SD (bal. acc.) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, m in models.items():
        part = pick(m)
        if not part:
            continue
        ms, pooled = part["mean_std"], part["pooled"]

        def cell(k: str, ms: dict = ms) -> str:
            v = ms.get(k, {})
            if not v or v.get("n", 0) == 0:
                return "–"
            return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"

        def pool(k: str, pooled: dict = pooled) -> str:
            v = pooled.get(k)
            return "–" if v is None or v != v else f"{100 * v:.1f}"

        sd = part.get("seed_sd", {}).get("balanced_accuracy", math.nan)
        single = part.get("single_class_folds", 0)
        lines.append(f"| {label} | {part['folds']}{f' (+{single} single-class)' if single else ''}"
                     f" | {cell('balanced_accuracy')} | {pool('balanced_accuracy')} | "
                     f"{cell('macro_f1')} | {pool('macro_f1')} | {cell('accuracy')} | "
                     f"{pool('accuracy')} | {cell('roc_auc')} | "
                     f"{'–' if sd != sd else f'{100 * sd:.1f}'} |")
    return lines + [""]


# ---------------------------------------------------------------------------------------------
# one checkpoint on chosen subjects


def evaluate_checkpoint(model_path: str, store_path: str | os.PathLike,
                        subjects: Sequence[int] | None, allow_train_subjects: bool = False
                        ) -> dict[str, Any]:
    """Metrics of one checkpoint on some subjects of a store (refusing its training subjects)."""
    from emotionkd.checkpoint import build_from_checkpoint, check_data_compatible, load_checkpoint
    from emotionkd.models.registry import entry
    from emotionkd.runs import DataSpec, load_windows, open_data
    from emotionkd.training import predict_proba

    ck = load_checkpoint(model_path)
    store = open_data(store_path)
    d = ck["data"]
    seen = sorted(set(d.get("train_subjects", [])) | set(d.get("val_subjects", [])))
    subs = sorted(subjects) if subjects else sorted(set(store.subjects) - set(seen))
    if not subs:
        raise ConfigError(f"{model_path}: every subject of {store.path} was used to train the "
                          "model; pass --subjects (with --allow-train-subjects)")
    used = sorted(set(subs) & set(seen))
    if used and not allow_train_subjects:
        raise ConfigError(f"{model_path}: subject(s) {used} were used to train or validate "
                          "this model, so testing on them leaks; pass other --subjects or "
                          "--allow-train-subjects")
    if d.get("norm") == "train":
        raise ConfigError(f"{model_path}: models trained with --norm train are evaluated "
                          "inside 'emotionkd evaluate' runs; this check needs per-subject norm")
    spec = DataSpec.from_checkpoint(d)
    inputs = entry(ck["model"]).inputs
    ds = load_windows(store, spec, subjects=subs, load_eeg="eeg" in entry(ck["model"]).needs)
    check_data_compatible(ck, ds.spec(), str(store.path))
    model = build_from_checkpoint(ck)
    prob = predict_proba(model, ds, inputs=inputs)[:, 1]
    per_subject = {int(s): binary_metrics(ds.labels[ds.subjects == s], prob[ds.subjects == s])
                   for s in subs}
    return {"model": model_path, "store": str(store.path), "subjects": subs,
            "used_training_subjects": used, "target": d["target"],
            "overall": binary_metrics(ds.labels, prob), "per_subject": per_subject}
