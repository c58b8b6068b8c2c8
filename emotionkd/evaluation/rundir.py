"""The run folder of an evaluation (format ``emotionkd-run``, version 3)::

    run.json                                 format, the resolved configuration tables,
                                             save_models, the store, the folds of every
                                             seed, the versions of the libraries, start time
    folds/<target>/seed-<s>/fold-XXX.json    one result per fold and seed, written
                                             atomically as soon as the fold ends
    models/<target>/seed-<s>/fold-XXX/       the fold's models (with --save-models)
    results.json, results.csv, report.md     merged from whatever folds exist
    figures/<target>-<kind>.png              the report's figures (with the plots extra)

Fold jobs of a cluster array write one run folder together, so files get unique temporary
names and the folder is checked, never locked (:mod:`emotionkd.outputs`).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.evaluation.plan import EvaluationPlan
from emotionkd.splits import Fold
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


def default_run_dir(store: str | os.PathLike, protocol: str) -> Path:
    """``runs/STORE-PROTOCOL-TIME``; under torchrun every rank takes rank 0's name."""
    from emotionkd.distributed import broadcast_object

    out = Path("runs") / f"{Path(store).stem}-{protocol}-{time.strftime('%Y%m%d-%H%M%S')}"
    return broadcast_object(out)


def versions() -> dict[str, str]:
    import scipy
    import sklearn
    import torch

    return {"emotionkd": __version__, "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__}


def prepare_run(run_dir: Path, plan: EvaluationPlan, store_path: str,
                folds_by_seed: dict[int, list[Fold]], resume: bool, single_job: bool,
                cross_dataset: dict[str, Any] | None = None) -> dict[str, Any]:
    """Create or check ``run.json``; an existing run folder must hold the same plan.
    ``cross_dataset``: where each side of a cross-dataset run came from."""
    run_json = run_dir / "run.json"
    folds = {str(s): [f.as_dict() for f in fs] for s, fs in folds_by_seed.items()}
    entries = json.loads(json.dumps(plan.run_entries()))
    if cross_dataset is not None:
        entries["cross_dataset"] = json.loads(json.dumps(cross_dataset, default=_json_default))
    meta = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **entries,
            "store": str(store_path), "folds": folds, "versions": versions()}
    if run_json.exists():
        old = json.loads(run_json.read_text())
        if old.get("format_version") != RUN_FORMAT_VERSION or \
                {k: old.get(k) for k in entries} != entries or \
                old.get("folds") != json.loads(json.dumps(folds)):
            raise ConfigError(f"{run_dir}: holds a run with a different configuration; use "
                              "another --out or the same options")
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
    try:
        meta = json.loads(run_json.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{run_json}: corrupt run file ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise DataFormatError(f"{run_json}: not an emotionkd run file")
    version = meta.get("format_version", 1)
    if version != RUN_FORMAT_VERSION:
        raise DataFormatError(f"{run_json}: run format_version {version} is not read by "
                              f"emotionkd {__version__}, which reads version "
                              f"{RUN_FORMAT_VERSION}; run the evaluation again into a new "
                              "--out")
    plan = EvaluationPlan.from_run_entries(meta, str(run_json))
    folds = []
    for p in sorted((run_dir / "folds").glob("*/seed-*/fold-*.json")):
        try:
            folds.append(json.loads(p.read_text()))
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{p}: corrupt fold result ({exc}); delete it and "
                                  "rerun that fold with --resume") from None
    return meta, plan, folds
