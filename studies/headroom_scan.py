"""Experiment: where is there headroom for distillation? A fast scan of world designs with
classical stand-ins for the deep models (issue 26; docs/method.md, "Headroom").

Deep runs take minutes per world; this scan takes seconds, so that a world family with
headroom can be designed before the deep study (``distill_headroom.py``) measures it. For
each world (``synth deap --world F`` preprocessed) and every fold of ``evaluate --kfold 4``,
logistic regressions on the product's features, C chosen on the fold's validation subjects:

* ``none``: ``gsr-features`` trained on the ratings (stands in for the student alone);
* ``ceiling``: ``gsr-features`` trained on the latent truth (the student's ceiling);
* ``teacher``: ``eeg-features`` (EEG band power + GSR) on the ratings, cross-fitted over the
  training trials (4 parts) so that each training window gets a prediction from a model that
  did not see its rating (stands in for the teacher's targets);
* ``teacher-eeg``: the same with the EEG band powers alone (a teacher that does not see the
  skin conductance);
* ``kd`` / ``kd-eeg``: ``gsr-features`` trained on those teachers' hard out-of-fold labels.

Printed per world: latent-truth balanced accuracy of each row (mean over folds), the
headroom (ceiling − none) and each stand-in's capture, with the agreement of the ratings and
of each teacher's targets with the truth on the training windows.

    python studies/headroom_scan.py runs/cf/confounded-0.h5 [more stores]
    python studies/headroom_scan.py --design d=4,5,0.5,1.0,20,0 --work runs/scan

``--design NAME=CUE,TO_RATING,TO_TONIC,NOISE,TRIALS,SEED`` first writes a variant of the
``confounded`` family (8 subjects × TRIALS × 30 s, world seed SEED) with its constants
replaced — the GSR cue factor, the confound's rating points and tonic rise per SD of the
bodily state (0,0: no confound; the state is still drawn, so worlds differ from the
family's) and the rating noise — preprocesses it into ``WORK/NAME.h5`` and scans it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def _fit_predict(x_train: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 x_test: np.ndarray) -> np.ndarray:
    from emotionkd.models.classical import FeatureModelConfig, choose_logreg, standardiser

    mean, sd = standardiser(x_train)
    m, _, _ = choose_logreg((x_train - mean) / sd, y, (x_val - mean) / sd, y_val,
                            FeatureModelConfig().c_grid)
    return m.predict((x_test - mean) / sd)


def _crossfit(x: np.ndarray, y: np.ndarray, parts: np.ndarray, xv: np.ndarray,
              yv: np.ndarray) -> np.ndarray:
    out = np.zeros_like(y)
    for j in np.unique(parts):
        held = parts == j
        out[held] = _fit_predict(x[~held], y[~held], xv, yv, x[held])
    return out


def scan(store_path: Path) -> dict[str, float]:
    """Mean latent-truth balanced accuracy of every stand-in over the folds of one store."""
    from sklearn.metrics import balanced_accuracy_score

    from emotionkd.config.experiment import ExperimentConfig
    from emotionkd.distill.targets import trial_parts
    from emotionkd.evaluation.fold import FoldRunner
    from emotionkd.evaluation.plan import EvaluationPlan, make_folds
    from emotionkd.evaluation.protocol import target_windows
    from emotionkd.features import GSR_FEATURES
    from emotionkd.models.classical import FeatureModelConfig, window_features
    from emotionkd.store import open_store

    plan = EvaluationPlan(ExperimentConfig.from_tables(
        {"evaluate": {"protocol": "kfold", "k": 4, "methods": "none"}}, "headroom_scan"))
    ds = target_windows(open_store(store_path), plan, "arousal")
    cfg = FeatureModelConfig()
    rows: dict[str, list[float]] = {}
    agree: dict[str, list[float]] = {}
    for fold in make_folds(plan, ds.subjects, ds.trial_keys(), seed=0):
        r = FoldRunner(plan, ds, fold, "arousal", Path(tempfile.mkdtemp()), 0)
        feats = {k: window_features("eeg-features", d, cfg) for k, d in
                 (("train", r.train), ("val", r.val), ("test", r.test))}
        n_eeg = feats["train"].shape[1] - len(GSR_FEATURES)  # EEG band powers, then GSR
        gsr = {k: v[:, n_eeg:] for k, v in feats.items()}
        eeg = {k: v[:, :n_eeg] for k, v in feats.items()}
        y, yv = np.asarray(r.train.labels), np.asarray(r.val.labels)
        lat, latv = r.train.latent_labels, r.val.latent_labels
        truth = r.test.latent_labels
        parts = trial_parts(r.train.trial_keys(), 4, 0)
        t_all = _crossfit(feats["train"], y, parts, feats["val"], yv)
        t_eeg = _crossfit(eeg["train"], y, parts, eeg["val"], yv)
        preds = {
            "none": _fit_predict(gsr["train"], y, gsr["val"], yv, gsr["test"]),
            "ceiling": _fit_predict(gsr["train"], lat, gsr["val"], latv, gsr["test"]),
            "teacher": _fit_predict(feats["train"], y, feats["val"], yv, feats["test"]),
            "teacher-eeg": _fit_predict(eeg["train"], y, eeg["val"], yv, eeg["test"]),
            "kd": _fit_predict(gsr["train"], t_all, gsr["val"], yv, gsr["test"]),
            "kd-eeg": _fit_predict(gsr["train"], t_eeg, gsr["val"], yv, gsr["test"]),
        }
        for k, p in preds.items():
            rows.setdefault(k, []).append(balanced_accuracy_score(truth, p))
        for k, lab in (("ratings", y), ("teacher", t_all), ("teacher-eeg", t_eeg)):
            agree.setdefault(k, []).append(float(np.mean(lab == lat)))
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out.update({f"agree-{k}": float(np.mean(v)) for k, v in agree.items()})
    return out


def make_design(work: Path, spec: str) -> Path:
    """Write and preprocess one ``--design`` world (once); return its store."""
    import subprocess
    import sys

    from emotionkd.datasets import worlds

    try:
        name, values = spec.split("=")
        cue, to_rating, to_tonic, noise, trials, seed = (float(v) for v in values.split(","))
    except ValueError:
        raise SystemExit(f"--design {spec!r}: expected NAME=CUE,TO_RATING,TO_TONIC,NOISE,"
                         "TRIALS,SEED with six numbers, e.g. d=4,5,0.5,1.0,20,0") from None
    store = work / f"{name}.h5"
    if store.exists():
        return store
    work.mkdir(parents=True, exist_ok=True)
    worlds.GSR_CUES["confounded"] = cue
    worlds.CONFOUNDS["confounded"] = (to_rating, to_tonic)
    raw = work / f"{name}-raw"
    worlds.write_world(raw, "confounded", 8, int(trials), 30.0, int(seed), noise,
                       overwrite=True)
    subprocess.run([sys.executable, "-m", "emotionkd", "preprocess", "deap", "--raw",
                    str(raw), "--out", str(store), "--overwrite"], check=True,
                   capture_output=True)
    return store


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("stores", type=Path, nargs="*")
    p.add_argument("--design", action="append", default=[],
                   help="NAME=CUE,TO_RATING,TO_TONIC,NOISE,TRIALS,SEED (repeatable)")
    p.add_argument("--work", type=Path, default=Path("runs/scan"))
    a = p.parse_args()
    for store in [*a.stores, *(make_design(a.work, d) for d in a.design)]:
        r = scan(store)
        head = r["ceiling"] - r["none"]
        cap = {k: (r[k] - r["none"]) / head if abs(head) > 1e-9 else float("nan")
               for k in ("kd", "kd-eeg")}
        print(f"{store.name}: " + " ".join(f"{k} {100 * r[k]:.1f}" for k in
                                            ("teacher", "teacher-eeg", "none", "ceiling", "kd",
                                             "kd-eeg")))
        print(f"  headroom {100 * head:+.1f}  capture kd {cap['kd']:.0%} kd-eeg "
              f"{cap['kd-eeg']:.0%}  agreement with the truth: ratings "
              f"{r['agree-ratings']:.0%}, teacher {r['agree-teacher']:.0%}, teacher-eeg "
              f"{r['agree-teacher-eeg']:.0%}", flush=True)


if __name__ == "__main__":
    main()
