"""Experiment: how the teacher's spectral path is trained (issue 24; docs/method.md, "The
teacher across world families", the table of teacher variants).

For one world store (``synth deap --world F`` preprocessed), every fold of ``evaluate
--kfold 4`` (seed 0): the teacher of each variant and the ``eeg-features`` regression, trained
on the same windows by the evaluation's fold runner; printed: each variant's latent-truth
balanced accuracy and its difference to the regression per fold.

    python studies/teacher_anchor.py runs/suite/worlds/sources-n1.5-s0.h5 --work runs/anchor

Variants (``[model]``/``[train]`` tables, as a ``--config`` file would give them):
``bands`` (the spectral path learned with the rest), ``anchored`` (the default),
``anchored-full-rate`` (``residual_lr = 1``), ``anchored-slow`` (``residual_lr = 0.1``),
``regression-only`` (learning rate 1e-12: the start is kept), ``anchored-paper`` (the default
at ``--size paper``, with the paper recipe's rate and batch size). Finished variants are reused
from ``--work``. About 2 minutes per variant on two cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

VARIANTS: dict[str, dict[str, dict]] = {
    "bands": {"model": {"spectral": "bands"}},
    "anchored": {"model": {"spectral": "anchored"}},
    "anchored-full-rate": {"model": {"spectral": "anchored", "residual_lr": 1.0}},
    "anchored-slow": {"model": {"spectral": "anchored", "residual_lr": 0.1}},
    "regression-only": {"model": {"spectral": "anchored"}, "train": {"lr": 1e-12}},
    "anchored-paper": {"model": {"spectral": "anchored", "size": "paper"}},
}


def run_variant(store_path: Path, tables: dict[str, dict]) -> dict:
    """Latent-truth balanced accuracy of the teacher (and the regression) per fold."""
    from emotionkd.config.experiment import ExperimentConfig
    from emotionkd.evaluation.fold import FoldRunner
    from emotionkd.evaluation.plan import EvaluationPlan, make_folds
    from emotionkd.evaluation.protocol import target_windows
    from emotionkd.store import open_store

    t = {"evaluate": {"protocol": "kfold", "k": 4, "methods": "none",
                      "baselines": "eeg-features"}}
    for k, v in tables.items():
        t.setdefault(k, {}).update(v)
    plan = EvaluationPlan(ExperimentConfig.from_tables(t, "teacher_anchor"))
    ds = target_windows(open_store(store_path), plan, "arousal")
    out: dict[str, list[float]] = {"teacher": [], "eeg-features": []}
    t0 = time.perf_counter()
    for fold in make_folds(plan, ds.subjects, ds.trial_keys(), seed=0):
        runner = FoldRunner(plan, ds, fold, "arousal", Path(tempfile.mkdtemp()), 0)
        runner.fit_teacher()
        models = runner.result["models"]
        out["teacher"].append(models["teacher"]["metrics_latent"]["balanced_accuracy"])
        runner.fit_baseline("eeg-features")  # seconds: a few logistic regressions
        out["eeg-features"].append(
            models["baseline-eeg-features"]["metrics_latent"]["balanced_accuracy"])
    return {**out, "seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("store", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--variants", default=",".join(VARIANTS))
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in a.variants.split(","):
        f = a.work / f"{a.store.stem}-{name}.json"
        if not f.exists():
            f.write_text(json.dumps(run_variant(a.store, VARIANTS[name])))
        results[name] = json.loads(f.read_text())
    regression = np.array(next(iter(results.values()))["eeg-features"])  # same in every run
    print(f"{a.store}: eeg-features latent {regression.mean():.3f}")
    for name, r in results.items():
        d = 100 * (np.array(r["teacher"]) - regression)
        print(f"  {name:<20} latent {np.mean(r['teacher']):.3f}  − eeg-features "
              f"{d.mean():+.1f} pts, folds {np.round(d, 1).tolist()}")


if __name__ == "__main__":
    main()
