"""One fold of an evaluation for one seed: every model trained on the fold's training side
and tested on its test side, with one method per kind of model.

The teacher and the deep baselines train with :func:`~emotionkd.training.fit_model` (as
``train-teacher`` does), the students with :func:`~emotionkd.distill.trainer.fit_student`
(as ``distill`` does), the classical baselines with
:class:`~emotionkd.models.classical.FeatureLogReg`. A model that fails is recorded with its
error and the fold goes on.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotionkd.evaluation.plan import (
    EvaluationPlan,
    StudentVariant,
    fold_windows,
    windows_digest,
)
from emotionkd.evaluation.rundir import epochs_path, models_path, tensorboard_dir, write_json
from emotionkd.metrics import binary_metrics, class_balance
from emotionkd.splits import Fold
from emotionkd.windows import WindowDataset

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from emotionkd.config import ExperimentConfig
    from emotionkd.training import FitResult


class FoldRunner:
    """Trains and tests the models of one fold and seed into one result (:meth:`run`).

    The fold seed is ``seed · 1000 + fold index``: the teacher is drawn and trained with it,
    the students with it + 1 (every student starts from the same weights), the baselines
    with it + 2. With ``norm = "train"`` the statistics are the fold's training side's only
    (its fitting, validation and quiz trials; never a test trial's signal)."""

    def __init__(self, plan: EvaluationPlan, ds: WindowDataset, fold: Fold, target: str,
                 run_dir: Path, seed: int, progress: Callable[..., None] | None = None,
                 test_ds: WindowDataset | None = None) -> None:
        self.plan, self.fold, self.target, self.seed = plan, fold, target, int(seed)
        cfg = plan.for_target(target)  # with the threshold the windows were labelled with
        self.config = cfg.with_tables(data=replace(cfg.data, threshold=ds.threshold))
        self.progress = progress
        self.fold_seed = self.seed * 1000 + fold.index
        self.windows = fw = fold_windows(fold, ds, plan, self.fold_seed)
        side = np.unique(ds.trial_keys()[np.concatenate([fw.train, fw.val, fw.quiz])])
        self.view = ds if ds.norm != "train" else ds.with_norm("train", norm_trials=side)
        self.train, self.val = self.view.subset(fw.train), self.view.subset(fw.val)
        self.test, self.quiz = self.view.subset(fw.test), self.view.subset(fw.quiz)
        if test_ds is not None:  # cross-dataset: every window of the other store
            self.test = (test_ds if test_ds.norm != "train"
                         else test_ds.with_stats_from(self.view))
        self.trained_on = windows_digest(ds, fw.train)
        self.run_dir, self.models_dir = run_dir, models_path(run_dir, target, fold.index,
                                                             self.seed)
        self.teacher_model: nn.Module | None = None
        self._logs: list[Any] = []  # the per-epoch logs of the model in training
        self._oof: torch.Tensor | None = None
        self.result = self._header()

    def _header(self) -> dict[str, Any]:
        test, train = self.test, self.train
        out: dict[str, Any] = {
            "target": self.target, "fold": self.fold.as_dict(), "seed": self.seed,
            "fold_seed": self.fold_seed, "validation": self.windows.val_desc,
            "threshold": self.view.threshold,
            "windows": {"train": len(train), "val": len(self.val), "quiz": len(self.quiz),
                        "test": len(test)},
            "trained_on": self.trained_on, "single_class": bool(len(np.unique(test.labels)) < 2),
            "test_balance": class_balance(test.labels),
            "train_balance": class_balance(train.labels),
            "test_labels": test.labels.tolist(), "test_window_subjects": test.subjects.tolist(),
            "models": {},
        }
        if test.latent_labels is not None:
            out["test_latent_labels"] = test.latent_labels.tolist()
            out["test_latent_balance"] = class_balance(test.latent_labels)
            out["single_class_latent"] = bool(len(np.unique(test.latent_labels)) < 2)
        return out

    def run(self) -> dict[str, Any]:
        """Every model of the fold, in the report's order; the fold's result."""
        t0 = time.perf_counter()
        if len(self.test) == 0 or len(self.train) == 0:
            self.result["error"] = "no test or training windows in this fold"
            return self.result
        self._attempt("teacher", self.fit_teacher)
        for variant in self.plan.student_variants():
            self._attempt(variant.label, lambda v=variant: self.fit_student(v))
        yard = self.plan.yardstick(self.train.latent_labels is not None)
        if yard is not None:
            self._attempt(yard, lambda: self.fit_yardstick(yard))
        for name in self.plan.baselines:
            self._attempt(f"baseline-{name}", lambda n=name: self.fit_baseline(n))
        self.result["seconds"] = round(time.perf_counter() - t0, 2)
        return self.result

    # -- the kinds of model ------------------------------------------------------------------
    def fit_teacher(self) -> None:
        from emotionkd.training import fit_model

        cfg = self.config.for_data(len(self.train))
        model, model_config, res = fit_model(self.plan.teacher, self.train, self.val, cfg.train,
                                             cfg.model.overrides(), seed=self.fold_seed,
                                             progress=self._fit_progress("teacher"))
        self.teacher_model = model
        self._record_model("teacher", model, model_config, res, cfg)

    def fit_student(self, variant: StudentVariant) -> None:
        from emotionkd.distill.trainer import fit_student
        from emotionkd.models.registry import config_for, distilled_student
        from emotionkd.training import clone_module

        cfg = variant.config.with_tables(data=self.config.data).for_data(len(self.train))
        teacher = None
        if not cfg.distill.method_object().alone:
            if self.teacher_model is None:
                raise RuntimeError("the teacher of this fold failed")
            teacher = clone_module(self.teacher_model)  # feedback changes its copy
        ds = self.view
        s_cfg = config_for(distilled_student(), ds.fs, ds.window_s, ds.n_eeg,
                           cfg.model.overrides())
        targets = None
        if cfg.distill.teacher_targets == "crossfit" and "logits" in \
                cfg.distill.method_object().needs():
            targets = self.crossfit()
        res = fit_student(teacher, s_cfg, self.train, self.val, cfg,
                          self.quiz if variant.feedback else None, seed=self.fold_seed + 1,
                          progress=self._fit_progress(variant.label), targets=targets)
        extra: dict[str, Any] = {"feedback_steps": res.feedback_steps}
        if res.logit_scale != 1.0:
            extra["teacher_temperature"] = res.logit_scale
        if res.chosen is not None:
            extra["kd_chosen"] = {"kl_weight": res.chosen[0], "temperature": res.chosen[1]}
        self._record_model(variant.label, res.student, s_cfg, res.fit, cfg, extra)

    def crossfit(self) -> torch.Tensor:
        """The fold's cross-fitted teacher logits on its training windows (computed once and
        shared by every student that imitates them and by the real-data yardstick)."""
        from emotionkd.distill.targets import crossfit_logits

        if self._oof is None:
            cfg = self.config.for_data(len(self.train))
            self._oof = crossfit_logits(self.plan.teacher, self.train, self.val, cfg.train,
                                        cfg.model.overrides(), cfg.distill.crossfit_folds,
                                        self.fold_seed + 3)
        return self._oof

    def fit_yardstick(self, label: str) -> None:
        """The headroom's yardstick: the student alone (same architecture and recipe as
        ``none``) trained on better labels — the latent truth of a synthetic store (the
        ceiling), or on real data the cross-fitted teacher's hard predictions."""
        from dataclasses import replace

        from emotionkd.distill.trainer import fit_student
        from emotionkd.evaluation.headroom import CEILING
        from emotionkd.models.registry import config_for, distilled_student

        cfg = self.config.with_tables(distill=replace(self.config.distill, method="none",
                                                      feedback=False)).for_data(len(self.train))
        if label == CEILING:
            train = self.train.relabelled(self.train.latent_labels)
            val = self.val.relabelled(self.val.latent_labels)
            extra = {"labels": "latent truth"}
        else:
            hard = self.crossfit().argmax(dim=1).numpy()
            train, val = self.train.relabelled(hard), self.val
            extra = {"labels": "teacher out-of-fold predictions",
                     "agreement_with_ratings": float(np.mean(hard == self.train.labels))}
        ds = self.view
        s_cfg = config_for(distilled_student(), ds.fs, ds.window_s, ds.n_eeg,
                           cfg.model.overrides())
        res = fit_student(None, s_cfg, train, val, cfg, seed=self.fold_seed + 1,
                          progress=self._fit_progress(label))
        self._record_model(label, res.student, s_cfg, res.fit, cfg, extra)

    def fit_baseline(self, name: str) -> None:
        from emotionkd.models.registry import entry
        from emotionkd.training import fit_model

        label = f"baseline-{name}"
        if entry(name).kind != "classical":
            cfg = self.config.for_data(len(self.train))
            model, model_config, res = fit_model(name, self.train, self.val, cfg.train,
                                                 cfg.model.overrides(), seed=self.fold_seed + 2,
                                                 progress=self._fit_progress(label))
            self._record_model(label, model, model_config, res, cfg)
            return
        from emotionkd import distributed
        from emotionkd.models.classical import FeatureLogReg

        t0 = time.perf_counter()
        clf = FeatureLogReg(name)
        info = clf.fit(self.train, self.val)
        self._record(label, clf.predict_proba(self.test)[:, 1],
                     {**info, "seconds": round(time.perf_counter() - t0, 2)})
        if self.plan.save_models and distributed.is_main():
            write_json(self.models_dir / f"{label}.json", clf.state())

    def _fit_progress(self, label: str) -> Callable[..., None]:
        """The progress of one model's training: its epochs into the run folder's per-epoch
        CSV (and TensorBoard folder), and on to the fold's progress as a share of the fold
        with the model's epoch and loss."""
        from emotionkd.epochlog import EpochLog, logged

        at = (self.run_dir, self.target, self.fold.index, self.seed)
        log = EpochLog(epochs_path(*at) / f"{label}.csv",
                       tensorboard_dir(*at, label) if self.plan.tensorboard else None, label)
        self._logs.append(log)
        done = len(self.result["models"])
        total = len(self.plan.model_labels(self.train.latent_labels is not None))

        def forward(k: float, n: float | None = None, info: str = "", **fields: Any) -> None:
            if self.progress is not None:
                self.progress(done + k / max(n or 1, 1), total, info=f"{label} {info}",
                              **fields)

        cb = logged(forward, log)
        assert cb is not None
        return cb

    # -- recording -------------------------------------------------------------------------
    def _record(self, label: str, prob: np.ndarray, extra: dict[str, Any] | None = None) -> None:
        test = self.test
        entry = {"metrics": binary_metrics(test.labels, prob), "p_high": prob.round(6).tolist(),
                 "trained_on": self.trained_on, **(extra or {})}
        if test.latent_labels is not None:
            entry["metrics_latent"] = binary_metrics(test.latent_labels, prob)
        self.result["models"][label] = entry

    def _record_model(self, label: str, model: nn.Module, model_config: dict[str, Any],
                      res: FitResult, config: ExperimentConfig,
                      extra: dict[str, Any] | None = None) -> None:
        from emotionkd import distributed
        from emotionkd.training import predict_proba

        prob = predict_proba(model, self.test, distributed=distributed.active())[:, 1]
        self._record(label, prob, {"best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
                                   "seconds": round(res.seconds, 2), "history": res.history,
                                   **(extra or {})})
        if self.plan.save_models and distributed.is_main():
            self._save(label, model, model_config, res, config)

    def _attempt(self, label: str, fit: Callable[[], None]) -> None:
        try:
            fit()
        except Exception as exc:  # a failed model must not stop the run
            self.result["models"][label] = {"error": f"{type(exc).__name__}: {exc}",
                                            "traceback": traceback.format_exc(limit=4)}
        finally:
            for log in self._logs:
                log.close()
            self._logs = []
        if self.progress is not None:
            self.progress(len(self.result["models"]), len(self.plan.model_labels(
                self.train.latent_labels is not None)), info=label)

    def _save(self, label: str, model: nn.Module, model_config: dict[str, Any], res: FitResult,
              config: ExperimentConfig) -> None:
        """The fold model as a checkpoint; a deep baseline takes the role of its inputs
        (EEG + GSR: the teacher's)."""
        from emotionkd.checkpoint import TrainedModel, data_section, training_section
        from emotionkd.models.registry import entry

        name, ds, fw = model.registry_name, self.view, self.windows
        e = entry(name)
        role = e.role if e.role in ("teacher", "student") else (
            "teacher" if "eeg" in e.needs else "student")
        subjects = [sorted({int(s) for s in ds.subjects[idx]}) for idx in (fw.train, fw.val,
                                                                          fw.test)]
        path = self.models_dir / f"{label}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        TrainedModel(role, name, model, model_config, config, "evaluate", res,
                     data_section(ds, *subjects),
                     training_section(res, evaluation_model=label)).save(path)
