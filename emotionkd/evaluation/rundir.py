"""The run folder of an evaluation (format ``emotionkd-run``, version 3)::

    run.json                                 format, the resolved configuration tables,
                                             save_models, the store (path, content digest,
                                             source, preprocessing record), the folds of
                                             every seed, the command line, the versions of
                                             emotionkd (git commit) and the libraries, start
                                             time
    folds/<target>/seed-<s>/fold-XXX.json    one result per fold and seed, written
                                             atomically as soon as the fold ends
    models/<target>/seed-<s>/fold-XXX/       the fold's models (with --save-models)
    epochs/<target>/seed-<s>/fold-XXX/M.csv  each model's epochs, written as it trains
    tensorboard/<target>/seed-<s>/fold-XXX/M the same as TensorBoard events (--tensorboard)
    results.json, results.csv, report.md     merged from whatever folds exist
    figures/<target>-<kind>.png              the report's figures (with the plots extra)

Fold jobs of a cluster array write one run folder together, so files get unique temporary
names and the folder is checked, never locked (:mod:`emotionkd.outputs`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.evaluation.plan import EvaluationPlan
from emotionkd.ondisk import Source, read_json, shown
from emotionkd.splits import Fold
from emotionkd.validation import version_text
from emotionkd.version import __version__

RUN_FORMAT = "emotionkd-run"
RUN_FORMAT_VERSION = 3


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (unique temporary name, no lock: fold jobs share a run)."""
    from emotionkd.outputs import make_folder, write_text_atomic

    make_folder(path.parent)
    write_text_atomic(path, text, lock=False)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=1, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def fold_path(run_dir: Path, target: str, index: int, seed: int) -> Path:
    return run_dir / "folds" / target / f"seed-{seed}" / f"fold-{index:03d}.json"


def models_path(run_dir: Path, target: str, index: int, seed: int) -> Path:
    """The folder of one fold's models."""
    return run_dir / "models" / target / f"seed-{seed}" / f"fold-{index:03d}"


def epochs_path(run_dir: Path, target: str, index: int, seed: int) -> Path:
    """The folder of one fold's per-epoch CSVs (one per model, written as it trains)."""
    return run_dir / "epochs" / target / f"seed-{seed}" / f"fold-{index:03d}"


def tensorboard_dir(run_dir: Path, target: str, index: int, seed: int, label: str) -> Path:
    """The TensorBoard folder of one model of one fold (with ``--tensorboard``)."""
    return run_dir / "tensorboard" / target / f"seed-{seed}" / f"fold-{index:03d}" / label


def default_run_dir(store: str | os.PathLike, protocol: str) -> Path:
    """``runs/STORE-PROTOCOL-TIME``; under torchrun every rank takes rank 0's name."""
    from emotionkd.distributed import broadcast_object

    out = Path("runs") / f"{Path(store).stem}-{protocol}-{time.strftime('%Y%m%d-%H%M%S')}"
    return broadcast_object(out)


def prepare_run(run_dir: Path, plan: EvaluationPlan, store_path: str,
                folds_by_seed: dict[int, list[Fold]], resume: bool, single_job: bool,
                provenance: dict[str, Any] | None = None,
                cross_dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create or check ``run.json``. An existing run folder must hold the same plan, made from
    the same store (preprocessing and content digest, :mod:`.provenance`); what differs is
    named. ``provenance``: where the run comes from (:func:`.provenance.run_provenance`);
    ``cross_dataset``: where each side of a cross-dataset run came from."""
    from emotionkd.evaluation.provenance import check_same_plan, check_same_store

    run_json = run_dir / "run.json"
    folds = {str(s): [f.as_dict() for f in fs] for s, fs in folds_by_seed.items()}
    folds = json.loads(json.dumps(folds))
    entries = json.loads(json.dumps(plan.run_entries()))
    prov = json.loads(json.dumps(provenance or {}, default=_json_default))
    if cross_dataset is not None:
        entries["cross_dataset"] = json.loads(json.dumps(cross_dataset, default=_json_default))
    meta = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **entries,
            "store": str(store_path), "folds": folds, **prov}
    if run_json.exists():
        old = read_run_json(run_json)
        if old.get("format_version") != RUN_FORMAT_VERSION:
            raise ConfigError(f"{run_dir}: holds a run of format_version "
                              f"{old.get('format_version')}; emotionkd {__version__} writes "
                              f"version {RUN_FORMAT_VERSION}; use another --out")
        check_same_store(run_json, old, prov, str(store_path))
        check_same_plan(run_dir, old, entries, folds)
        if not (resume or single_job) and any((run_dir / "folds").rglob("fold-*.json")):
            raise ConfigError(f"{run_dir}: holds finished folds; pass --resume to continue "
                              "it, or choose another --out")
        return old
    run_dir.mkdir(parents=True, exist_ok=True)
    meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(run_json, meta)
    return meta


def read_run(run_dir: Path) -> tuple[dict[str, Any], EvaluationPlan, list[dict[str, Any]]]:
    """run.json, its plan and every finished fold result of a run folder."""
    run_json = run_dir / "run.json"
    if not run_json.exists():
        raise DataFormatError(f"{run_dir}: not an evaluation run folder (no run.json); run "
                              "'emotionkd evaluate --out DIR' first")
    meta = read_run_json(run_json)
    plan = EvaluationPlan.from_run_entries(meta, str(run_json))
    indices = _fold_indices(run_json, meta)
    folds = []
    for p in sorted((run_dir / "folds").glob("*/seed-*/fold-*.json")):
        folds.append(check_fold(p, read_json(p, FOLD_FIX), plan.targets, indices))
    return meta, plan, folds


#: what a damaged fold file needs
FOLD_FIX = "delete it and rerun that fold with --resume"
RUN_FIX = "run the evaluation again into a new --out"


def read_run_json(run_json: Path) -> dict[str, Any]:
    """``run.json`` of a run folder, its format and version checked."""
    meta = read_json(run_json, RUN_FIX)
    if meta.get("format") != RUN_FORMAT:
        raise DataFormatError(f"{run_json}: not an emotionkd run file")
    version = meta.get("format_version", 1)
    if version != RUN_FORMAT_VERSION:
        raise DataFormatError(f"{run_json}: run format_version {version_text(version)} is "
                              f"not read by "
                              f"emotionkd {__version__}, which reads version "
                              f"{RUN_FORMAT_VERSION}; run the evaluation again into a new "
                              "--out")
    src = Source(run_json, RUN_FIX)
    src.mapping(meta.get("config"), "config")
    src.text(meta.get("store"), "store")
    return meta


def _fold_indices(run_json: Path, meta: dict[str, Any]) -> dict[int, set[int]]:
    """The fold indices of every seed that run.json plans."""
    src = Source(run_json, RUN_FIX)
    folds = src.mapping(meta.get("folds"), "folds")
    if not folds:
        src.fail("folds", "empty")
    out: dict[int, set[int]] = {}
    for seed, entries in folds.items():
        if not str(seed).lstrip("-").isdigit() or not isinstance(entries, list) or not entries:
            src.fail(f"folds {seed!r}", f"{shown(entries)}, not a list of folds")
        out[int(seed)] = {src.number(src.mapping(e, f"folds {seed}", ("index",))["index"],
                                     f"folds {seed} index", integer=True) for e in entries}
    return out


def check_fold(p: Path, f: dict[str, Any], targets: list[str] | tuple[str, ...],
               indices: dict[int, set[int]]) -> dict[str, Any]:
    """A fold result checked against its file name and the run's plan: a fold of another
    target, seed or protocol (a stray ``fold-007.json`` in a 3-fold run) is refused."""
    src = Source(p, FOLD_FIX)
    target = src.text(f.get("target"), "target")
    seed = src.number(f.get("seed", 0), "seed", integer=True)
    index = src.number(src.mapping(f.get("fold"), "fold", ("index",))["index"], "fold index",
                       integer=True)
    src.mapping(f.get("models", {}), "models")
    stray = Source(p, "it is not part of this run: delete it, or evaluate into a new --out")
    if target not in targets:
        stray.fail("target", f"{target!r}, not a target of this run ({', '.join(targets)})")
    if seed not in indices:
        stray.fail("seed", f"{seed}, not a seed of this run "
                           f"({', '.join(map(str, sorted(indices)))})")
    planned = indices[seed]
    if index not in planned:
        stray.fail("fold index", f"{index}, not a fold of this {len(planned)}-fold run "
                                 f"({min(planned)}-{max(planned)})")
    if p != fold_path(p.parents[3], target, index, seed):
        stray.fail("the fold", f"fold {index}, seed {seed} of {target}, which belongs in "
                               f"{fold_path(p.parents[3], target, index, seed)}")
    return f
