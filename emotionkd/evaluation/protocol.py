"""The entry points of evaluation: a protocol end to end (:func:`evaluate_protocol`), the
report of whatever folds a run folder holds (:func:`build_report`), and one checkpoint on
chosen subjects (:func:`evaluate_checkpoint`).

Seeds repeat the whole protocol (folds included, for k-fold and subject-dependent splits)
once per seed into one run folder; ``resume`` skips finished folds; ``fold`` and
``only_seed`` select one job of a cluster array. Under ``torchrun`` every rank trains the
same folds data-parallel and rank 0 writes.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from emotionkd.errors import ConfigError
from emotionkd.evaluation.fold import FoldRunner
from emotionkd.evaluation.headroom import CEILING, TEACHER_LABELS
from emotionkd.evaluation.plan import EvaluationPlan, make_folds
from emotionkd.evaluation.report import render_markdown, results_csv
from emotionkd.evaluation.rundir import fold_path, prepare_run, read_run, write_json, write_text
from emotionkd.evaluation.summary import Figures, RunSummary, summarise_target
from emotionkd.splits import Fold
from emotionkd.store import Store, open_store
from emotionkd.windows import WindowDataset

Progress = Callable[..., None]


def evaluate_protocol(
    store_path: str | os.PathLike | Store,
    plan: EvaluationPlan,
    run_dir: str | os.PathLike,
    resume: bool = False,
    fold: int | None = None,
    progress: Progress | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
    only_seed: int | None = None,
) -> RunSummary | None:
    """Run the protocol for every seed (or one job: ``fold`` and/or ``only_seed``) and write
    the merged report. Returns the results (None on the ranks other than 0)."""
    from emotionkd import distributed
    from emotionkd.models.classical import require_baselines

    require_baselines(plan.baselines)  # a missing optional package: refused before any work
    store, run = open_store(store_path), Path(run_dir)
    mask = store.trial_mask(plan.subjects)
    folds_by_seed = {s: make_folds(plan, store.subject[mask], store.trial[mask], s)
                     for s in plan.seeds}
    n_folds = len(folds_by_seed[plan.seeds[0]])
    if fold is not None and not 0 <= fold < n_folds:
        raise ConfigError(f"--fold {fold}: the protocol has folds 0..{n_folds - 1}")
    if only_seed is not None and only_seed not in plan.seeds:
        raise ConfigError(f"--only-seed {only_seed}: the run's seeds are "
                          f"{', '.join(map(str, plan.seeds))}")
    if distributed.is_main():
        prepare_run(run, plan, str(store.path), folds_by_seed, resume,
                    fold is not None or only_seed is not None)
    distributed.barrier()
    jobs = [(s, f) for s in plan.seeds if only_seed is None or s == only_seed
            for f in folds_by_seed[s] if fold is None or f.index == fold]
    done = 0
    for target in plan.targets:
        done = _run_target(store, plan, run, target, jobs, n_folds, done, resume, progress,
                           on_fold)
    distributed.barrier()
    return build_report(run) if distributed.is_main() else None


def _run_target(store: Store, plan: EvaluationPlan, run: Path, target: str,
                jobs: list[tuple[int, Fold]], n_folds: int, done: int, resume: bool,
                progress: Progress | None, on_fold: Callable[[dict[str, Any]], None] | None
                ) -> int:
    """The (seed, fold) jobs of one target; returns how many jobs are done overall."""
    from emotionkd import distributed

    total = len(jobs) * len(plan.targets)
    # finished folds are skipped on --resume; an explicit single job is recomputed
    pending = [(s, f) for s, f in jobs
               if not resume or not fold_path(run, target, f.index, s).exists()]
    pending = distributed.broadcast_object(pending)  # every rank runs the same folds
    done += len(jobs) - len(pending)
    if not pending:
        return done
    ds = target_windows(store, plan, target)
    for s, f in pending:
        where = f"{target} seed {s} fold {f.index + 1}/{n_folds}"

        def cb(k: float, n: float, info: str = "", _w: str = where, _d: int = done) -> None:
            if progress is not None:
                progress(_d + k / max(n, 1), total, info=f"{_w}: {info}")

        res = run_fold(plan, ds, f, target, run, s, cb)
        if distributed.is_main():
            write_json(fold_path(run, target, f.index, s), res)
        done += 1
        if on_fold is not None:
            on_fold(res)
        if progress is not None and distributed.is_main():
            progress(done, total, info=f"{where} done")
    return done


def target_windows(store: Store, plan: EvaluationPlan, target: str) -> WindowDataset:
    """The run's windows of one target. With ``norm = "train"`` the statistics depend on the
    fold: the windows are loaded unnormalised and each fold takes a view with its own."""
    from dataclasses import replace

    data = plan.config.data
    strict = data.norm == "train"
    ds = WindowDataset(store, replace(data, norm="none") if strict else data, target=target,
                       subjects=plan.subjects, load_eeg=True)
    if strict:
        ds.norm = "train"
    return ds


def run_fold(plan: EvaluationPlan, ds: WindowDataset, fold: Fold, target: str, run: Path,
             seed: int, progress: Progress | None = None) -> dict[str, Any]:
    """One fold and seed (:class:`~emotionkd.evaluation.fold.FoldRunner`); a failure of the
    fold itself is recorded in its result, not raised."""
    try:
        return FoldRunner(plan, ds, fold, target, run, seed, progress).run()
    except Exception as exc:  # record and go on
        return {"target": target, "fold": fold.as_dict(), "seed": seed, "models": {},
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=6)}


def build_report(run_dir: str | os.PathLike) -> RunSummary:
    """Merge the finished folds of a run into results.json, results.csv, report.md and the
    figures it links (RUN/figures/, :mod:`emotionkd.figures`; skipped without matplotlib)."""
    from emotionkd.figures import figures_markdown, report_figures_entry

    run = Path(run_dir)
    meta, plan, folds = read_run(run)
    labels = [lab for lab in plan.model_labels()
              if lab not in (CEILING, TEACHER_LABELS) or any(lab in f.get("models", {})
                                                             for f in folds)]
    n_folds = len(next(iter(meta["folds"].values())))
    targets = {}
    for target in plan.targets:
        tf = sorted([f for f in folds if f.get("target") == target],
                    key=lambda f: (f["fold"]["index"], f.get("seed", 0)))
        targets[target] = summarise_target(tf, labels)
    summary = RunSummary(plan.protocol, plan.k, n_folds, list(plan.seeds),
                         n_folds * len(plan.seeds), targets, meta["config"],
                         meta.get("versions", {}), meta["store"])
    summary.figures = Figures(**report_figures_entry(run, summary, folds))  # RUN/figures/*.png
    write_json(run / "results.json", summary.to_dict())
    write_text(run / "results.csv", results_csv(summary))
    write_text(run / "report.md", render_markdown(summary, plan, meta["store"]) + "\n"
               + figures_markdown(summary.figures))
    return summary


def evaluate_checkpoint(model_path: str | os.PathLike, store_path: str | os.PathLike | Store,
                        subjects: Sequence[int] | None, allow_train_subjects: bool = False
                        ) -> dict[str, Any]:
    """Metrics of one checkpoint on some subjects of a store (refusing its training
    subjects)."""
    from emotionkd.checkpoint import (
        build_from_checkpoint,
        check_data_compatible,
        checkpoint_data,
        load_checkpoint,
    )
    from emotionkd.metrics import binary_metrics
    from emotionkd.models.registry import entry
    from emotionkd.training import predict_proba

    ck = load_checkpoint(model_path)
    store = open_store(store_path)
    d, data = ck["data"], checkpoint_data(ck)
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
    if data.norm == "train":
        raise ConfigError(f"{model_path}: models trained with --norm train are evaluated "
                          "inside 'emotionkd evaluate' runs; this check needs per-subject norm")
    e = entry(ck["model"])
    ds = WindowDataset(store, data, subjects=subs, load_eeg="eeg" in e.needs)
    check_data_compatible(ck, ds.spec(), str(store.path))
    prob = predict_proba(build_from_checkpoint(ck), ds, inputs=e.inputs)[:, 1]
    per_subject = {int(s): binary_metrics(ds.labels[ds.subjects == s], prob[ds.subjects == s])
                   for s in subs}
    return {"model": str(model_path), "store": str(store.path), "subjects": subs,
            "used_training_subjects": used, "target": data.target,
            "overall": binary_metrics(ds.labels, prob), "per_subject": per_subject}
