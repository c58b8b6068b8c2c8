"""Experiment: which training recipe lets EmotionNet learn a spectral cue under noisy labels.

Reproduces the tables of docs/studies.md ("Why the teacher lost to two band-power features").
Worlds: synthetic DEAP-layout data at the demo's size (8 subjects × 12 trials × 30 s, default
cue strengths and label noise), generator seeds 0–3. Protocol: leave one subject out, arousal,
4-s windows; validation = 20 % of the training subjects (one subject here), as `evaluate` does.
Printed per world: balanced accuracy per test subject, its mean, and the mean against the
latent truth.

    python studies/recipe_study.py --work runs/recipes --model eeg-features
    python studies/recipe_study.py --work runs/recipes --model emotionnet-teacher \
        --train '{"schedule": "constant", "warmup_epochs": 0, "label_smoothing": 0,
                  "patience": 5, "epochs": 12}'
    python studies/recipe_study.py --work runs/recipes --model emotionnet-student

``--train`` overrides the library's TrainConfig defaults on top of the demo's batch size (32)
and learning rate (1e-3); ``--model-config`` overrides EmotionNet knobs (e.g.
``{"study": {"classifier_pool": "mean"}}``). One world takes 0.5–2 minutes for a tiny deep
model on two cores; worlds are written once into ``--work``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def make_world(work: Path, seed: int) -> Path:
    """The demo-sized world of one generator seed (written once)."""
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.demo import DEMO
    from emotionkd.preprocess import preprocess_deap

    store = work / f"world{seed}.h5"
    if not store.exists():
        write_deap(work / f"world{seed}-raw", n_subjects=DEMO["subjects"],
                   n_trials=DEMO["trials"], seconds=DEMO["seconds"], seed=seed, overwrite=True)
        preprocess_deap(work / f"world{seed}-raw", store, overwrite=True)
    return store


def run_world(store: Path, model: str, train: dict, model_cfg: dict) -> tuple[list, list]:
    """LOSO over one world: balanced accuracy per test subject (ratings, latent truth)."""
    import torch

    from emotionkd.config import SIZE_PRESETS, DataConfig
    from emotionkd.metrics import binary_metrics
    from emotionkd.models.classical import FeatureLogReg
    from emotionkd.models.registry import build_model, default_config
    from emotionkd.splits import holdout_subjects
    from emotionkd.store import open_store
    from emotionkd.training import SupervisedTask, TrainConfig, fit, predict_proba
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(open_store(store), DataConfig(target="arousal"))
    subjects = list(ds.subject_ids)
    scores, latent = [], []
    for i, test_subject in enumerate(subjects):
        rest = [s for s in subjects if s != test_subject]
        fit_s, val_s = holdout_subjects(rest, 0.2, i)
        tr, va, te = (ds.select_subjects(s) for s in (fit_s, val_s, [test_subject]))
        if model in ("eeg-features", "gsr-features"):
            clf = FeatureLogReg(model)
            clf.fit(tr, va)
            p = clf.predict_proba(te)[:, 1]
        else:
            cfg = TrainConfig(**{"batch_size": 32, "lr": 1e-3, **train, "seed": i})
            torch.manual_seed(i)
            net = build_model(model, default_config(model, ds.fs, ds.window_s, ds.n_eeg,
                                                    {**SIZE_PRESETS["tiny"], **model_cfg}))
            fit(SupervisedTask(net), tr, va, cfg)
            p = predict_proba(net, te)[:, 1]
        scores.append(binary_metrics(te.labels, p)["balanced_accuracy"])
        latent.append(binary_metrics(te.latent_labels, p)["balanced_accuracy"])
    return scores, latent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--worlds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--model", default="emotionnet-teacher",
                    help="emotionnet-teacher, emotionnet-student, eeg-features, gsr-features")
    ap.add_argument("--train", default="{}", help="TrainConfig overrides (JSON)")
    ap.add_argument("--model-config", default="{}", help="EmotionNet overrides (JSON)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's)")
    args = ap.parse_args()
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    means = []
    for seed in args.worlds:
        t0 = time.perf_counter()
        s, lat = run_world(make_world(args.work, seed), args.model, json.loads(args.train),
                           json.loads(args.model_config))
        means.append(float(np.mean(s)))
        print(f"world {seed}: " + " ".join(f"{x:.3f}" for x in s)
              + f" | mean {np.mean(s):.3f}, latent truth {np.mean(lat):.3f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"{args.model} {args.train} {args.model_config}: mean over worlds {np.mean(means):.4f}")


if __name__ == "__main__":
    main()
