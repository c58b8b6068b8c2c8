"""Evaluation protocols end to end: folds, per-fold training of the teacher, the students and
the baselines, metrics, aggregation, statistics and reports.

Leakage rules (DESIGN.md, method.md §5):

* every window of a trial — and, in LOSO and k-fold, every trial of a subject — is on one side
  of a split;
* the teacher is retrained inside every fold; early-stopping validation data and the feedback
  quiz data come from the training side only (validation: held-out training subjects, or
  held-out training trials in the subject-dependent protocol; quiz: held-out trials of the
  remaining training subjects);
* normalisation is declared in the report: per-subject z-scores use each subject's own
  unlabelled signal (transductive for held-out subjects), ``norm="train"`` uses statistics of
  the fold's training subjects only.

A run folder holds ``run.json`` (configuration and folds), one JSON file per finished fold
(``folds/<target>/fold-XX.json``, written atomically as soon as the fold ends, with test
labels and probabilities), optionally the models, and the merged ``results.json``,
``results.csv`` and ``report.md``. ``resume`` skips finished folds; ``fold`` runs one fold (for
job arrays); :func:`build_report` merges whatever folds exist.
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
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.metrics import METRICS, aggregate, binary_metrics, wilcoxon_paired

PROTOCOLS = ("loso", "kfold", "subject-dependent")
STUDENT_METHODS = ("emotionkd", "kd", "fitnets", "none")
#: classical (features + logistic regression) and deep baselines, in report order
BASELINES = ("eeg-features", "gsr-features", "shallowconvnet", "deepconvnet", "concat")
#: the baselines every evaluation runs unless told otherwise: the yardsticks of the teacher
#: (eeg-features, shallowconvnet) and of the GSR-only students (gsr-features)
DEFAULT_BASELINES = ("eeg-features", "gsr-features", "shallowconvnet")
RUN_FORMAT = "emotionkd-run"


@dataclass
class EvalConfig:
    """Everything that defines an evaluation run (stored in run.json)."""

    protocol: str = "loso"
    k: int = 0  # folds for kfold / subject-dependent
    targets: list[str] = field(default_factory=lambda: ["arousal"])
    methods: list[str] = field(default_factory=lambda: ["emotionkd", "none"])
    baselines: list[str] = field(default_factory=lambda: list(DEFAULT_BASELINES))
    teacher: str = "emotionnet-teacher"
    feedback: bool = True  # for method emotionkd
    data: dict[str, Any] = field(default_factory=dict)  # DataSpec fields except target
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields
    model: dict[str, Any] = field(default_factory=dict)  # architecture overrides
    distill: dict[str, Any] = field(default_factory=dict)  # loss weight overrides per method
    feedback_cfg: dict[str, Any] = field(default_factory=dict)
    val_fraction: float = 0.2
    quiz_fraction: float = 0.2
    seed: int = 0
    save_models: bool = False
    subjects: list[int] | None = None  # restrict the run to these subjects

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}")
        if self.protocol != "loso" and self.k < 2:
            raise ConfigError(f"--{self.protocol} needs K >= 2 folds")
        bad = [m for m in self.methods if m not in STUDENT_METHODS]
        if bad:
            raise ConfigError(f"--methods: unknown {', '.join(bad)}; choose from "
                              f"{', '.join(STUDENT_METHODS)}")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ConfigError(f"--baselines: unknown {', '.join(bad)}; choose from "
                              f"{', '.join(BASELINES)}")
        if not self.targets:
            raise ConfigError("--target: give at least one rating")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def model_labels(self) -> list[str]:
        """Row names of the report, in order."""
        rows = ["teacher"]
        for m in self.methods:
            rows.append(f"student-{m}" + ("+feedback" if m == "emotionkd" and self.feedback
                                          else ""))
        rows += [f"baseline-{b}" for b in self.baselines]
        return rows


# ---------------------------------------------------------------------------------------------
# folds


def make_folds(cfg: EvalConfig, subjects: np.ndarray, trials: np.ndarray):  # noqa: ANN201
    """The protocol's folds (same for every target) from the store's (subject, trial) table."""
    from emotionkd.splits import group_kfold, loso_folds, subject_dependent_folds

    subs = np.unique(subjects)
    if cfg.protocol == "loso":
        return loso_folds(subs)
    if cfg.protocol == "kfold":
        return group_kfold(subs, cfg.k, cfg.seed)
    return subject_dependent_folds(subjects, trials, cfg.k, cfg.seed)


@dataclass
class FoldData:
    """Window index sets of one fold (into one loaded dataset)."""

    train: np.ndarray  # fitting windows (training side minus validation)
    val: np.ndarray
    quiz: np.ndarray  # ⊂ train side, disjoint from val; excluded from feedback students' batches
    test: np.ndarray
    train_subjects: list[int]
    val_desc: str


def fold_windows(fold, ds, cfg: EvalConfig, fold_seed: int) -> FoldData:  # noqa: ANN001
    """Split a dataset's windows for a fold: test side, validation and quiz from training."""
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
    keep, held = holdout_trials(keys[train_side], cfg.quiz_fraction, fold_seed + 1,
                                allow_empty=True)
    return FoldData(train=train_side, val=val, quiz=train_side[held], test=test,
                    train_subjects=sorted(train_subjects), val_desc=val_desc)


# ---------------------------------------------------------------------------------------------
# running


def _tmp_name(path: Path) -> Path:
    """A temporary sibling unique to this process: fold jobs of one run (a SLURM array) write
    run.json and the report concurrently, and must never share a half-written file."""
    from emotionkd.outputs import temp_name

    return temp_name(path)


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


def fold_path(run_dir: Path, target: str, index: int) -> Path:
    return run_dir / "folds" / target / f"fold-{index:03d}.json"


def _versions() -> dict[str, str]:
    import scipy
    import sklearn
    import torch

    return {"emotionkd": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__}


def prepare_run(run_dir: Path, cfg: EvalConfig, store_path: str, folds: list,
                resume: bool, single_fold: bool) -> dict[str, Any]:
    """Create or check ``run.json``; an existing run folder must hold the same configuration."""
    run_json = run_dir / "run.json"
    meta = {"format": RUN_FORMAT, "format_version": 1, "config": cfg.as_dict(),
            "store": str(store_path), "folds": [f.as_dict() for f in folds],
            "versions": _versions()}
    if run_json.exists():
        old = json.loads(run_json.read_text())
        if old.get("config") != json.loads(json.dumps(cfg.as_dict())) or \
                old.get("folds") != json.loads(json.dumps(meta["folds"])):
            raise ConfigError(f"{run_dir}: holds a run with a different configuration; use "
                              "another --out or the same options")
        if not (resume or single_fold) and any((run_dir / "folds").glob("*/*.json")):
            raise ConfigError(f"{run_dir}: holds finished folds; pass --resume to continue "
                              "it, or choose another --out")
        return old
    run_dir.mkdir(parents=True, exist_ok=True)
    meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    _atomic_json(run_json, meta)
    return meta


def run_fold(store, cfg: EvalConfig, ds, fold, target: str, run_dir: Path,  # noqa: ANN001
             progress: Callable[..., None] | None = None) -> dict[str, Any]:
    """Train and test every model of one fold; per-model failures are recorded, not raised."""
    import torch

    from emotionkd import distributed as dist_
    from emotionkd.distill.feedback import FeedbackConfig
    from emotionkd.distill.losses import method_weights
    from emotionkd.distill.trainer import distill_student
    from emotionkd.models.classical import CLASSICAL, FeatureLogReg
    from emotionkd.models.registry import build_model, default_config
    from emotionkd.runs import train_model
    from emotionkd.training import TrainConfig, predict_proba

    t0 = time.perf_counter()
    fold_seed = cfg.seed * 1000 + fold.index
    fd = fold_windows(fold, ds, cfg, fold_seed)
    # strict normalisation: statistics of the fold's training side (fitting and validation
    # windows' trials) only — in the subject-dependent protocol never a test trial's signal
    side_trials = np.unique(ds.trial_keys()[np.concatenate([fd.train, fd.val])])
    view = ds if ds.norm != "train" else ds.with_norm("train", norm_trials=side_trials)
    train, val = view.subset(fd.train), view.subset(fd.val)
    test = view.subset(fd.test)
    quiz = view.subset(fd.quiz)
    no_quiz = view.subset(np.setdiff1d(fd.train, fd.quiz))
    tcfg = TrainConfig(**{**cfg.train, "seed": fold_seed})
    result: dict[str, Any] = {
        "target": target, "fold": fold.as_dict(), "seed": fold_seed,
        "validation": fd.val_desc, "windows": {"train": len(train), "val": len(val),
                                               "quiz": len(quiz), "test": len(test)},
        "test_balance": _balance(test.labels), "train_balance": _balance(train.labels),
        "test_labels": test.labels.tolist(), "models": {},
    }
    if test.latent_labels is not None:
        result["test_latent_labels"] = test.latent_labels.tolist()
        result["test_latent_balance"] = _balance(test.latent_labels)
    if len(test) == 0 or len(train) == 0:
        result["error"] = "no test or training windows in this fold"
        return result
    models_dir = run_dir / "models" / target / f"fold-{fold.index:03d}"
    steps = len(cfg.model_labels())

    def record(label: str, prob: np.ndarray, extra: dict | None = None) -> None:
        entry = {"metrics": binary_metrics(test.labels, prob), "p_high": prob.round(6).tolist(),
                 **(extra or {})}
        if test.latent_labels is not None:
            entry["metrics_latent"] = binary_metrics(test.latent_labels, prob)
        result["models"][label] = entry

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

    over = dict(cfg.model)
    t_cfg = default_config(cfg.teacher, ds.fs, ds.window_s, ds.n_eeg, over)
    teacher_box: dict[str, Any] = {}

    def do_teacher() -> None:
        teacher, res = train_model(cfg.teacher, t_cfg, train, val, tcfg)
        teacher_box["model"] = teacher
        record_model("teacher", teacher, res)

    attempt("teacher", do_teacher)
    s_cfg = default_config("emotionnet-student", ds.fs, ds.window_s, ds.n_eeg, over)
    for method in cfg.methods:
        use_fb = method == "emotionkd" and cfg.feedback
        label = f"student-{method}" + ("+feedback" if use_fb else "")

        def do_student(method: str = method, use_fb: bool = use_fb) -> None:
            if method == "none":
                student, res = train_model("emotionnet-student", s_cfg, train, val,
                                           TrainConfig(**{**tcfg.as_dict(),
                                                          "seed": fold_seed + 1}))
                record_model("student-none", student, res)
                return
            if "model" not in teacher_box:
                raise RuntimeError("the teacher of this fold failed")
            torch.manual_seed(fold_seed + 1)
            student = build_model("emotionnet-student", s_cfg)
            teacher = build_model(cfg.teacher, t_cfg)
            teacher.load_state_dict(teacher_box["model"].state_dict())
            weights = method_weights(method, **cfg.distill.get(method, {}))
            fb = FeedbackConfig(**{**cfg.feedback_cfg, "enabled": use_fb})
            dres = distill_student(teacher, student, no_quiz if use_fb else train, val,
                                   weights, tcfg, fb, quiz if use_fb else None)
            record_model(f"student-{method}" + ("+feedback" if use_fb else ""), student,
                         dres.fit, {"feedback_steps": dres.feedback_steps})

        attempt(label, do_student)
    for base in cfg.baselines:
        def do_baseline(base: str = base) -> None:
            if base in CLASSICAL:
                t1 = time.perf_counter()
                clf = FeatureLogReg(base)
                info = clf.fit(train, val)
                record(f"baseline-{base}", clf.predict_proba(test)[:, 1],
                       {**info, "seconds": round(time.perf_counter() - t1, 2)})
                if cfg.save_models and dist_.is_main():
                    _atomic_json(models_dir / f"baseline-{base}.json", clf.state())
                return
            b_over = over if base == "concat" else {}
            m, res = train_model(base, default_config(base, ds.fs, ds.window_s, ds.n_eeg,
                                                      b_over), train, val,
                                 TrainConfig(**{**tcfg.as_dict(), "seed": fold_seed + 2}))
            record_model(f"baseline-{base}", m, res)

        attempt(f"baseline-{base}", do_baseline)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def _balance(labels: np.ndarray) -> dict[str, Any]:
    n = int(len(labels))
    high = int(labels.sum())
    return {"n": n, "high": high, "low": n - high,
            "majority": (max(high, n - high) / n) if n else math.nan}


def _save_model(path: Path, model, label: str, ds, fd: FoldData, tcfg, fit_res,  # noqa: ANN001
                store) -> None:  # noqa: ANN001
    from emotionkd.runs import data_section, training_section

    path.parent.mkdir(parents=True, exist_ok=True)
    from emotionkd.checkpoint import save_checkpoint
    from emotionkd.models.registry import model_spec

    name = model.registry_name
    subjects = sorted(set(int(s) for s in ds.subjects[fd.train]))
    val_subjects = sorted(set(int(s) for s in ds.subjects[fd.val]))
    test_subjects = sorted(set(int(s) for s in ds.subjects[fd.test]))
    save_checkpoint(path, role=model_spec(name)["role"], model=name,
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
) -> dict[str, Any]:
    """Run the protocol (or one fold of it) and write the merged report. Returns the report."""
    from emotionkd.runs import DataSpec, load_windows, open_data

    store = open_data(store_path)
    run = Path(run_dir)
    subjects_filter = cfg.subjects
    mask = store.trial_mask(subjects_filter)
    folds = make_folds(cfg, store.subject[mask], store.trial[mask])
    if fold is not None and not 0 <= fold < len(folds):
        raise ConfigError(f"--fold {fold}: the protocol has folds 0..{len(folds) - 1}")
    from emotionkd import distributed as dist_

    if dist_.is_main():
        prepare_run(run, cfg, str(store.path), folds, resume, fold is not None)
    dist_.barrier()
    todo = [f for f in folds if fold is None or f.index == fold]
    total = len(todo) * len(cfg.targets)
    done = 0
    for target in cfg.targets:
        spec = DataSpec(**{**cfg.data, "target": target})
        pending = [f for f in todo if not (resume or fold is not None)
                   or not fold_path(run, target, f.index).exists()]
        if fold is not None and fold_path(run, target, fold).exists() and not resume:
            pending = [f for f in todo]  # an explicit single fold is recomputed
        pending = dist_.broadcast_object(pending)  # every rank runs the same folds
        done += len(todo) - len(pending)
        if not pending:
            continue
        # with --norm train the statistics depend on the fold: load unnormalised, and each
        # fold takes a view with its own training-side statistics
        load_spec = DataSpec(**{**spec.as_dict(), "norm": "none"}) if spec.norm == "train" \
            else spec
        ds = load_windows(store, load_spec, subjects=subjects_filter, load_eeg=True)
        if spec.norm == "train":
            ds.norm = "train"
        for f in pending:
            def cb(k: float, n: float, info: str = "", _f=f, _t=target, _d=done) -> None:
                if progress is not None:
                    progress(_d + k / max(n, 1), total,
                             info=f"{_t} fold {_f.index + 1}/{len(folds)}: {info}")

            try:
                res = run_fold(store, cfg, ds, f, target, run, progress=cb)
            except Exception as exc:  # record and go on
                res = {"target": target, "fold": f.as_dict(), "models": {},
                       "error": f"{type(exc).__name__}: {exc}",
                       "traceback": traceback.format_exc(limit=6)}
            if dist_.is_main():
                _atomic_json(fold_path(run, target, f.index), res)
            done += 1
            if on_fold is not None:
                on_fold(res)
            if progress is not None and dist_.is_main():
                progress(done, total, info=f"{target} fold {f.index + 1}/{len(folds)} done")
    dist_.barrier()
    return build_report(run) if dist_.is_main() else {}


# ---------------------------------------------------------------------------------------------
# reports


def load_folds(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run_json = run_dir / "run.json"
    if not run_json.exists():
        raise DataFormatError(f"{run_dir}: not an evaluation run folder (no run.json); run "
                              "'emotionkd evaluate --out DIR' first")
    meta = json.loads(run_json.read_text())
    if meta.get("format") != RUN_FORMAT:
        raise DataFormatError(f"{run_json}: not an emotionkd run file")
    folds = []
    for p in sorted((run_dir / "folds").glob("*/fold-*.json")):
        try:
            folds.append(json.loads(p.read_text()))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{p}: corrupt fold result ({exc}); delete it and "
                                  "rerun that fold with --resume") from None
    return meta, folds


def build_report(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Merge the finished folds of a run into results.json, results.csv and report.md."""
    run = Path(run_dir)
    meta, folds = load_folds(run)
    cfg = EvalConfig(**meta["config"])
    labels = cfg.model_labels()
    n_folds = len(meta["folds"])
    results: dict[str, Any] = {"protocol": cfg.protocol, "k": cfg.k, "folds_total": n_folds,
                               "targets": {}, "config": meta["config"],
                               "versions": meta.get("versions", {}), "store": meta["store"]}
    for target in cfg.targets:
        tf = sorted([f for f in folds if f.get("target") == target],
                    key=lambda f: f["fold"]["index"])
        per_model: dict[str, Any] = {}
        for label in labels:
            done = [f for f in tf if "metrics" in f.get("models", {}).get(label, {})]
            rows = [f["models"][label]["metrics"] for f in done]
            errors = [{"fold": f["fold"]["index"], "error": f["models"][label]["error"]}
                      for f in tf if "error" in f.get("models", {}).get(label, {})]
            entry = {"folds": len(rows), "mean_std": aggregate(rows),
                     "pooled": _pooled(done, label, "test_labels"), "errors": errors,
                     "per_fold": {m: [r[m] for r in rows] for m in METRICS}}
            latent = [f["models"][label]["metrics_latent"] for f in done
                      if "metrics_latent" in f["models"][label]]
            if latent:
                entry["latent"] = {"mean_std": aggregate(latent),
                                   "pooled": _pooled(done, label, "test_latent_labels"),
                                   "per_fold": {m: [r[m] for r in latent] for m in METRICS}}
            per_model[label] = entry
        balance = [f["test_balance"] for f in tf if "test_balance" in f]
        maj = [b["majority"] for b in balance]
        stats = {}
        for a, b in comparison_pairs(labels):
            if per_model[a]["folds"] and per_model[b]["folds"]:
                stats[f"{a} vs {b}"] = {
                    "a": a, "b": b,
                    **{m: wilcoxon_paired(*_paired(tf, a, b, m))
                       for m in ("balanced_accuracy", "macro_f1", "accuracy")}}
        results["targets"][target] = {
            "folds_done": len(tf), "fold_errors": [{"fold": f["fold"]["index"],
                                                    "error": f["error"]} for f in tf
                                                   if "error" in f],
            "majority_baseline": {"mean": float(np.mean(maj)) if maj else math.nan,
                                  "per_fold": maj},
            "test_windows": int(sum(b["n"] for b in balance)),
            "test_high_fraction": (float(sum(b["high"] for b in balance)
                                         / max(sum(b["n"] for b in balance), 1))
                                   if balance else math.nan),
            "models": per_model, "comparisons": stats,
            "latent_truth": any("latent" in m for m in per_model.values()),
            "seconds": float(sum(f.get("seconds", 0.0) for f in tf)),
        }
    _atomic_json(run / "results.json", results)
    _write_csv(run / "results.csv", results)
    _atomic_write(run / "report.md", render_markdown(results, meta))
    return results


def comparison_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """The paired comparisons a report makes, as (model, reference) label pairs: every
    distilled student against the student alone; the teacher against the student alone (what
    a teacher knows beyond GSR) and against its yardsticks; the student alone against its
    yardstick."""
    have = set(labels)
    pairs = [(lab, "student-none") for lab in labels
             if lab.startswith("student-") and lab != "student-none"]
    pairs += [("teacher", ref) for ref in ("student-none", "baseline-eeg-features",
                                           "baseline-shallowconvnet")]
    pairs += [("student-none", "baseline-gsr-features")]
    return [(a, b) for a, b in pairs if a in have and b in have]


def _pooled(folds: list[dict], label: str, key: str) -> dict[str, float]:
    """Metrics over all test windows of ``folds`` at once (labels from ``key``)."""
    ys = [np.asarray(f[key]) for f in folds if key in f and "p_high" in f["models"][label]]
    ps = [np.asarray(f["models"][label]["p_high"]) for f in folds
          if key in f and "p_high" in f["models"][label]]
    return binary_metrics(np.concatenate(ys), np.concatenate(ps)) if ys else {}


def _paired(folds: list[dict], a: str, b: str, metric: str) -> tuple[list[float], list[float]]:
    xa, xb = [], []
    for f in folds:
        ma, mb = f.get("models", {}).get(a, {}), f.get("models", {}).get(b, {})
        if "metrics" in ma and "metrics" in mb:
            xa.append(ma["metrics"][metric])
            xb.append(mb["metrics"][metric])
    return xa, xb


def _write_csv(path: Path, results: dict[str, Any]) -> None:
    import csv
    import io

    fh = io.StringIO(newline="")
    w = csv.writer(fh)
    w.writerow(["target", "model", "metric", "mean", "std", "folds", "pooled"])
    for target, t in results["targets"].items():
        for label, m in t["models"].items():
            for metric in METRICS:
                ms = m["mean_std"].get(metric, {})
                w.writerow([target, label, metric, _fmt(ms.get("mean")), _fmt(ms.get("std")),
                            ms.get("n", 0), _fmt(m["pooled"].get(metric))])
        w.writerow([target, "majority-class", "accuracy",
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


def render_markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """The human-readable report."""
    from emotionkd.runs import DataSpec
    from emotionkd.training import TrainConfig

    cfg = meta["config"]
    data = {**DataSpec().as_dict(), **cfg.get("data", {})}
    tr = {**TrainConfig().as_dict(), **cfg.get("train", {})}
    proto = {"loso": "leave-one-subject-out", "kfold": f"{cfg['k']}-fold over subjects",
             "subject-dependent": f"subject-dependent, {cfg['k']} folds over each subject's "
                                  "trials"}[cfg["protocol"]]
    tie = ">=" if data.get("tie") == "high" else ">"
    lines = [
        "# emotionkd evaluation report", "",
        f"* store: `{meta['store']}`",
        f"* protocol: {proto} ({results['folds_total']} folds); the teacher is retrained in "
        "every fold; early-stopping validation and feedback quiz data come from the training "
        "side only",
        f"* normalisation: {describe_normalisation(data.get('norm', 'subject'))}",
        f"* labels: high = rating {tie} {data.get('threshold', 5)} (tie rule "
        f"'{data.get('tie', 'low')}')",
        f"* windows: {data.get('window_s', 4)} s every {data.get('step_s', 4)} s; EEG channels: "
        f"{'all in the store' if not data.get('eeg_channels') else len(data['eeg_channels'])}",
        f"* training: epochs ≤ {tr.get('epochs')}, lr {tr.get('lr')}, batch {tr.get('batch_size')}"
        f", patience {tr.get('patience')}, class weights {tr.get('class_weight')}; seed "
        f"{cfg['seed']} (fold seed = seed·1000 + fold)",
        f"* validation: {int(cfg['val_fraction'] * 100)} % of training subjects (trials in the "
        f"subject-dependent protocol); quiz: {int(cfg['quiz_fraction'] * 100)} % of training "
        "trials",
        "* versions: " + ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items()),
        "",
    ]
    for target, t in results["targets"].items():
        lines += [f"## {target}", "",
                  f"{t['folds_done']} of {results['folds_total']} folds done, "
                  f"{t['test_windows']} test windows, {100 * t['test_high_fraction']:.1f} % high; "
                  f"majority-class baseline (mean over folds): "
                  f"{100 * t['majority_baseline']['mean']:.1f} %; compute time "
                  f"{t['seconds'] / 60:.1f} min", ""]
        lines += _metrics_table(t["models"], lambda m: m)
        if t.get("latent_truth"):
            lines += ["Against the latent truth (synthetic data: the emotion the signals were "
                      "generated from, binarised like the ratings; no rating noise):", ""]
            lines += _metrics_table(t["models"], lambda m: m.get("latent"))
        if t.get("comparisons"):
            lines += ["Paired comparisons over folds (Wilcoxon signed-rank test):", "",
                      "| model | reference | metric | mean difference | p |",
                      "|---|---|---|---|---|"]
            for st in t["comparisons"].values():
                for metric in ("balanced_accuracy", "macro_f1", "accuracy"):
                    r = st[metric]
                    p = r["p_value"]
                    lines.append(f"| {st['a']} | {st['b']} | {metric} | "
                                 f"{100 * r['mean_difference']:+.1f} pp | "
                                 f"{'n/a' if p != p else f'{p:.3g}'}"
                                 f"{' (' + r['note'] + ')' if r['note'] else ''} |")
            lines.append("")
        errs = [(label, e) for label, m in t["models"].items() for e in m["errors"]]
        if errs or t["fold_errors"]:
            lines += ["Failures:", ""]
            lines += [f"* fold {e['fold']}: {e['error']}" for e in t["fold_errors"]]
            lines += [f"* {label}, fold {e['fold']}: {e['error']}" for label, e in errs]
            lines.append("")
    return "\n".join(lines) + "\n"


def _metrics_table(models: dict[str, Any], pick: Callable[[dict], dict | None]) -> list[str]:
    """Markdown rows: mean ± SD over folds of every metric, and pooled accuracy."""
    lines = ["| model | folds | accuracy | balanced acc. | macro-F1 | F1 (high) | ROC-AUC "
             "| pooled acc. |", "|---|---|---|---|---|---|---|---|"]
    for label, m in models.items():
        part = pick(m)
        if not part:
            continue
        ms = part["mean_std"]

        def cell(k: str, ms: dict = ms) -> str:
            v = ms.get(k, {})
            if not v or v.get("n", 0) == 0:
                return "–"
            return f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}"

        pooled = part["pooled"].get("accuracy")
        lines.append(f"| {label} | {m['folds']} | {cell('accuracy')} | "
                     f"{cell('balanced_accuracy')} | {cell('macro_f1')} | {cell('f1_high')} "
                     f"| {cell('roc_auc')} | "
                     f"{'–' if pooled is None else f'{100 * pooled:.1f}'} |")
    return lines + [""]


# ---------------------------------------------------------------------------------------------
# one checkpoint on chosen subjects


def evaluate_checkpoint(model_path: str, store_path: str | os.PathLike,
                        subjects: Sequence[int] | None, allow_train_subjects: bool = False
                        ) -> dict[str, Any]:
    """Metrics of one checkpoint on some subjects of a store (refusing its training subjects)."""
    from emotionkd.checkpoint import build_from_checkpoint, check_data_compatible, load_checkpoint
    from emotionkd.models.registry import model_spec
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
    spec = DataSpec(window_s=d["window_s"], step_s=d["step_s"], target=d["target"],
                    threshold=d["threshold"], tie=d["tie"], eeg_channels=d["eeg_channels"],
                    norm=d["norm"])
    inputs = model_spec(ck["model"])["inputs"]
    ds = load_windows(store, spec, subjects=subs, load_eeg=inputs == "eeg+gsr")
    check_data_compatible(ck, ds.spec(), str(store.path))
    model = build_from_checkpoint(ck)
    prob = predict_proba(model, ds, inputs=inputs)[:, 1]
    per_subject = {int(s): binary_metrics(ds.labels[ds.subjects == s], prob[ds.subjects == s])
                   for s in subs}
    return {"model": model_path, "store": str(store.path), "subjects": subs,
            "used_training_subjects": used, "target": d["target"],
            "overall": binary_metrics(ds.labels, prob), "per_subject": per_subject}
