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

import numpy as np

from emotionkd.errors import ConfigError
from emotionkd.evaluation.fold import FoldRunner
from emotionkd.evaluation.headroom import CEILING, TEACHER_LABELS
from emotionkd.evaluation.plan import EvaluationPlan, make_folds
from emotionkd.evaluation.provenance import run_provenance
from emotionkd.evaluation.report import render_markdown, results_csv
from emotionkd.evaluation.rundir import fold_path, prepare_run, read_run, write_json, write_text
from emotionkd.evaluation.summary import Figures, RunSummary, summarise_target
from emotionkd.splits import Fold
from emotionkd.store import Store, open_store
from emotionkd.windows import WindowDataset, check_target_classes

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
    command: str | None = None,
) -> RunSummary | None:
    """Run the protocol for every seed (or one job: ``fold`` and/or ``only_seed``) and write
    the merged report. Returns the results (None on the ranks other than 0).

    ``run.json`` records where the run comes from (the store's content digest and
    preprocessing, ``command``, by default the process's command line, and the versions); an
    existing run folder made from another store or configuration is refused, naming what
    differs (:mod:`.provenance`)."""
    from emotionkd import distributed
    from emotionkd.models.classical import require_baselines

    require_baselines(plan.baselines)  # a missing optional package: refused before any work
    if plan.tensorboard:
        from emotionkd.epochlog import require_tensorboard

        require_tensorboard()
    store, run = open_store(store_path), Path(run_dir)
    check_target_classes(store, plan.config.data, plan.targets, plan.subjects)
    test_store, plan, cross = cross_dataset_side(store, plan)
    mask = store.trial_mask(plan.subjects)
    tested = None if test_store is None else test_store.subject
    folds_by_seed = {s: make_folds(plan, store.subject[mask], store.trial[mask], s, tested)
                     for s in plan.seeds}
    n_folds = len(folds_by_seed[plan.seeds[0]])
    if fold is not None and not 0 <= fold < n_folds:
        raise ConfigError(f"--fold {fold}: the protocol has folds 0..{n_folds - 1}")
    if only_seed is not None and only_seed not in plan.seeds:
        raise ConfigError(f"--only-seed {only_seed}: the run's seeds are "
                          f"{', '.join(map(str, plan.seeds))}")
    if distributed.is_main():
        prov = run_provenance(store, command)
        command = prov["command"]
        prepare_run(run, plan, str(store.path), folds_by_seed, resume,
                    fold is not None or only_seed is not None, prov, cross)
    distributed.barrier()
    jobs = [(s, f) for s in plan.seeds if only_seed is None or s == only_seed
            for f in folds_by_seed[s] if fold is None or f.index == fold]
    done = 0
    for target in plan.targets:
        done = _run_target((store, test_store), plan, run, target, jobs, n_folds, done,
                           resume, progress, on_fold, command)
    distributed.barrier()
    return build_report(run) if distributed.is_main() else None


def cross_dataset_side(store: Store, plan: EvaluationPlan
                       ) -> tuple[Store | None, EvaluationPlan, dict[str, Any] | None]:
    """The cross-dataset protocol's test store, the plan with the EEG channels both stores
    have (the teacher's), and the record of both sides; (None, plan, None) otherwise. Refuses
    before any work a preprocessing difference that matters, a test store of the training
    store's dataset, and a target whose labels on the test side are one class."""
    from dataclasses import replace

    from emotionkd.evaluation import cross

    if plan.test_data is None:
        return None, plan, None
    test = open_store(plan.test_data)
    if cross.same_dataset(store.source, test.source):
        raise ConfigError(f"{test.path}: holds dataset '{test.source}' like {store.path}, so "
                          "its subjects may be the training subjects; test on another "
                          "dataset's store, or use --loso/--kfold within one")
    data = plan.config.data
    cross.check_preprocessing(cross.store_record(store), cross.store_record(test),
                              what_a=str(store.path), what_b=str(test.path), uses_eeg=True,
                              norm=data.norm)
    channels = cross.common_channels(store, test, data.eeg_channels)
    check_target_classes(test, data, plan.targets)
    plan = EvaluationPlan(plan.config.with_tables(
        data=replace(data, eeg_channels=",".join(channels))), plan.save_models,
        tensorboard=plan.tensorboard)
    sides = {"train": cross.side(store, np.unique(store.subject[store.trial_mask(
        plan.subjects)])), "test": cross.side(test, test.subjects), "eeg_channels": channels}
    return test, plan, sides


def _run_target(stores: tuple[Store, Store | None], plan: EvaluationPlan, run: Path,
                target: str,
                jobs: list[tuple[int, Fold]], n_folds: int, done: int, resume: bool,
                progress: Progress | None, on_fold: Callable[[dict[str, Any]], None] | None,
                command: str | None = None) -> int:
    """The (seed, fold) jobs of one target; returns how many jobs are done overall. Each fold
    file records the ``command`` that made it."""
    from emotionkd import distributed

    total = len(jobs) * len(plan.targets)
    # finished folds are skipped on --resume; an explicit single job is recomputed
    pending = [(s, f) for s, f in jobs
               if not resume or not fold_path(run, target, f.index, s).exists()]
    pending = distributed.broadcast_object(pending)  # every rank runs the same folds
    done += len(jobs) - len(pending)
    if not pending:
        return done
    store, test_store = stores
    ds = target_windows(store, plan, target)
    test_ds = None if test_store is None else target_windows(test_store, plan, target, True)
    for s, f in pending:
        where = f"{target} seed {s} fold {f.index + 1}/{n_folds}"

        def cb(k: float, n: float, info: str = "", _w: str = where, _d: int = done,
               **fields: Any) -> None:
            if progress is not None:
                progress(_d + k / max(n, 1), total, info=f"{_w}: {info}", **fields)

        res = run_fold(plan, ds, f, target, run, s, cb, test_ds)
        res["command"] = command
        if distributed.is_main():
            write_json(fold_path(run, target, f.index, s), res)
        done += 1
        if on_fold is not None:
            on_fold(res)
        if progress is not None and distributed.is_main():
            progress(done, total, info=f"{where} done")
    return done


def target_windows(store: Store, plan: EvaluationPlan, target: str, every_subject: bool = False
                   ) -> WindowDataset:
    """The run's windows of one target (of ``--subjects``, or with ``every_subject`` of all:
    the cross-dataset test side). With ``norm = "train"`` the statistics depend on the
    fold: the windows are loaded unnormalised and each fold takes a view with its own."""
    from dataclasses import replace

    data = plan.config.data
    strict = data.norm == "train"
    ds = WindowDataset(store, replace(data, norm="none") if strict else data, target=target,
                       subjects=None if every_subject else plan.subjects, load_eeg=True)
    if strict:
        ds.norm = "train"
    return ds


def run_fold(plan: EvaluationPlan, ds: WindowDataset, fold: Fold, target: str, run: Path,
             seed: int, progress: Progress | None = None,
             test_ds: WindowDataset | None = None) -> dict[str, Any]:
    """One fold and seed (:class:`~emotionkd.evaluation.fold.FoldRunner`; ``test_ds``: the
    test side of a cross-dataset run); a failure of the fold itself is recorded in its
    result, not raised."""
    try:
        return FoldRunner(plan, ds, fold, target, run, seed, progress, test_ds).run()
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
                         meta.get("versions", {}), meta["store"],
                         provenance=_provenance(meta, folds))
    thresholds = {f["target"]: float(f["threshold"]) for f in folds if "threshold" in f}
    summary.figures = Figures(**report_figures_entry(run, summary, folds))  # RUN/figures/*.png
    write_json(run / "results.json", summary.to_dict())
    write_text(run / "results.csv", results_csv(summary))
    write_text(run / "report.md", render_markdown(summary, plan, meta["store"],
                                                  meta.get("cross_dataset"), thresholds)
               + "\n"
               + figures_markdown(summary.figures))
    return summary


def _provenance(meta: dict[str, Any], folds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the report says of where a run came from: run.json's record and the command
    lines of fold jobs other than the run's first."""
    if "store_digest" not in meta:
        return None
    first = meta.get("command")
    others = sorted({f["command"] for f in folds if f.get("command") and f["command"] != first})
    return {"store_digest": meta["store_digest"], "store_source": meta.get("store_source"),
            "preprocessing": meta.get("preprocessing") or {}, "command": first,
            "fold_commands": others}


def evaluate_checkpoint(model_path: str | os.PathLike, store_path: str | os.PathLike | Store,
                        subjects: Sequence[int] | None, allow_train_subjects: bool = False
                        ) -> dict[str, Any]:
    """Metrics of one checkpoint on some subjects of a store (refusing its training
    subjects). Subjects are (dataset, subject): on a store of another dataset every subject
    is new, a student reads any store's GSR, and the preprocessing differences that matter
    are refused (:mod:`emotionkd.evaluation.cross`)."""
    from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
    from emotionkd.evaluation import cross
    from emotionkd.metrics import binary_metrics
    from emotionkd.models.registry import entry
    from emotionkd.training import predict_proba

    ck = load_checkpoint(model_path)
    store = open_store(store_path)
    d, e = ck["data"], entry(ck["model"])
    other = not cross.same_dataset(d.get("source"), store.source)
    seen = [] if other else sorted(set(d.get("train_subjects", []))
                                   | set(d.get("val_subjects", [])))
    subs = _checked_subjects(model_path, store, subjects, seen, allow_train_subjects)
    data, note = _checkpoint_data(ck, store, other, "eeg" in e.needs)
    if data.norm == "train":
        raise ConfigError(f"{model_path}: models trained with --norm train are evaluated "
                          "inside 'emotionkd evaluate' runs; this check needs per-subject norm")
    ds = WindowDataset(store, data, subjects=subs, load_eeg="eeg" in e.needs)
    _check_spec(ck, ds, other, note)
    prob = predict_proba(build_from_checkpoint(ck), ds, inputs=e.inputs)[:, 1]
    per_subject = {int(s): binary_metrics(ds.labels[ds.subjects == s], prob[ds.subjects == s])
                   for s in subs}
    return {"model": str(model_path), "store": str(store.path), "subjects": subs,
            "used_training_subjects": sorted(set(subs) & set(seen)), "target": data.target,
            "trained_on": {"dataset": cross.dataset_of(d.get("source")),
                           "subjects": sorted(set(d.get("train_subjects", [])))},
            "tested_on": {"dataset": cross.dataset_of(store.source), "subjects": subs},
            "cross_dataset": note, "threshold": ds.threshold,
            "overall": binary_metrics(ds.labels, prob), "per_subject": per_subject}


def _checked_subjects(model_path: str | os.PathLike, store: Store,
                      subjects: Sequence[int] | None, seen: list[int], allow: bool
                      ) -> list[int]:
    """The subjects to test: those given, else every subject the model did not see."""
    subs = sorted(subjects) if subjects else sorted(set(store.subjects) - set(seen))
    if not subs:
        raise ConfigError(f"{model_path}: every subject of {store.path} was used to train the "
                          "model; pass --subjects (with --allow-train-subjects)")
    used = sorted(set(subs) & set(seen))
    if used and not allow:
        raise ConfigError(f"{model_path}: subject(s) {used} of dataset '{store.source}' were "
                          "used to train or validate this model, so testing on them leaks; "
                          "pass other --subjects or --allow-train-subjects")
    return subs


def _checkpoint_data(ck: dict[str, Any], store: Store, other: bool, uses_eeg: bool
                     ) -> tuple[Any, dict[str, Any] | None]:
    from emotionkd.checkpoint import checkpoint_data
    from emotionkd.evaluation import cross

    if not other:
        return checkpoint_data(ck), None
    return cross.checkpoint_on_store(ck, store, uses_eeg)


def _check_spec(ck: dict[str, Any], ds: WindowDataset, other: bool,
                note: dict[str, Any] | None) -> None:
    """The windows against the checkpoint's data specification; across datasets the
    preprocessing was compared by its own rules, the threshold was moved to the store's
    scale, and a student's EEG channels do not matter."""
    from emotionkd.checkpoint import check_data_compatible

    spec = ds.spec()
    if other and note is not None:
        spec = {k: v for k, v in spec.items() if k not in ("preprocessing", "eeg_channels",
                                                           "n_eeg")}
        spec["threshold"] = note["model_threshold"]
    check_data_compatible(ck, spec, str(ds.store.path))
