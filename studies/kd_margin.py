"""Experiment: does a distilled GSR student beat the student alone on synthetic data, and how
robustly? Runs the demo's setting (8 subjects × 12 trials × 30 s, tiny models, leave-one-
subject-out, arousal) once per seed — the seed drives both the generator and the evaluation —
with the EmotionKD student (with feedback), the Hinton KD student and the plain student, then
reports per-seed and pooled balanced accuracy, fold wins and a Wilcoxon test over all folds.

    python studies/kd_margin.py [--seeds 0 1 2 3 4] [--work DIR]

About 3–6 minutes per seed on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

STUDENTS = ("student-emotionkd+feedback", "student-kd")


def run_seed(seed: int, work: Path) -> dict[str, list[float]]:
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.demo import DEMO, STUDY_PROTOCOL, demo_config
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol
    from emotionkd.preprocess import preprocess_deap

    root = work / f"seed{seed}"
    write_deap(root / "raw", n_subjects=DEMO["subjects"], n_trials=DEMO["trials"],
               seconds=DEMO["seconds"], seed=seed, overwrite=True)
    preprocess_deap(root / "raw", root / "d.h5", overwrite=True)
    plan = EvaluationPlan(demo_config(seed=seed, methods="emotionkd,kd,none",
                                      **STUDY_PROTOCOL))  # the setting docs/studies.md used
    res = evaluate_protocol(root / "d.h5", plan, root / "run", resume=True)
    models = res.targets["arousal"].models
    return {k: v.per_fold["balanced_accuracy"] for k, v in models.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--work", type=Path, help="keep data and runs here (default: temporary)")
    args = ap.parse_args()
    from scipy.stats import wilcoxon

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        per_seed = {s: run_seed(s, work) for s in args.seeds}
    print(f"{'seed':>4s} {'none':>7s} " + " ".join(f"{k[8:]:>20s}" for k in STUDENTS))
    pooled: dict[str, list[float]] = {k: [] for k in ("student-none", *STUDENTS)}
    for s, b in per_seed.items():
        for k in pooled:
            pooled[k] += b[k]
        none = np.mean(b["student-none"])
        cells = [f"{np.mean(b[k]):.3f} ({np.mean(b[k]) - none:+.3f})" for k in STUDENTS]
        print(f"{s:4d} {none:7.3f} " + " ".join(f"{c:>20s}" for c in cells))
    base = np.asarray(pooled["student-none"])
    print(f"all folds ({len(base)}): none {base.mean():.3f}")
    for k in STUDENTS:
        x = np.asarray(pooled[k])
        p = wilcoxon(x, base).pvalue if np.any(x != base) else 1.0
        print(f"  {k}: {x.mean():.3f} ({x.mean() - base.mean():+.3f}), better in "
              f"{int(np.sum(x > base))}/{len(x)} folds, Wilcoxon p = {p:.2f}")
    print(json.dumps({str(s): b for s, b in per_seed.items()}))


if __name__ == "__main__":
    main()
