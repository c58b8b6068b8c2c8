"""Benchmark: the cost of one evaluation fold at the paper's shapes, and the wall time of a full
DEAP / MAHNOB-HCI leave-one-subject-out run at N workers (GPUs or nodes).

It runs a real ``emotionkd evaluate --fold 0`` (teacher, EmotionKD student with feedback, KD
and plain students, the DeepConvNet and concatenation baselines, paper-size models) on a
synthetic DEAP-layout set for a few epochs, reads the per-model training seconds and window
counts from the fold's result file, and converts them into seconds per training window per
epoch. Those rates are projected onto full-size folds:

* DEAP: 32 subjects × 40 trials × 60 s → 600 four-second windows per subject; a LOSO fold
  trains on 31 subjects minus the validation subjects (val fraction 0.2 → 6), so 25 × 600
  fitting windows (feedback students: 80 % of them, the rest is the quiz set).
* MAHNOB-HCI: 27 subjects with rated sessions, ~20 rated clips of ~80 s each (clips last
  35–117 s) → ≈ 400 windows per subject; a LOSO fold fits on 26 − 5 = 21 subjects.

Fold-level parallelism (one fold per worker, ``evaluate --fold I``) scales linearly, so the
wall time at N workers is ceil(folds / N) × fold time.

    python benchmarks/fold_cost.py [--subjects 6] [--epochs 2] [--device auto] [--workers 1 8 32]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# full-size fold shapes (fitting windows per fold, LOSO folds)
FULL = {
    "DEAP": {"folds": 32, "fit_windows": 25 * 600},
    "MAHNOB-HCI": {"folds": 27, "fit_windows": 21 * 400},
}
METHODS = "emotionkd,kd,none"
BASELINES = "deepconvnet,concat"


def _cli(*args: str) -> None:
    env = {**os.environ, "EMOTIONKD_NO_PROGRESS": "1"}
    subprocess.run([sys.executable, "-m", "emotionkd", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def measure(subjects: int, epochs: int, device: str, work: Path) -> dict:
    """Run fold 0 of a LOSO evaluation and return its result JSON."""
    raw, store, run = work / "raw", work / "deap.h5", work / "run"
    _cli("synth", "deap", "--out", str(raw), "--subjects", str(subjects), "--trials", "40",
         "--seconds", "60")
    _cli("preprocess", "deap", "--raw", str(raw), "--out", str(store))
    # patience 0 and warmup 0: every epoch runs and feedback is active in all of them
    cfg = work / "fold.toml"
    cfg.write_text(f'[data]\neeg_channels = "tsception28"\n[train]\nepochs = {epochs}\n'
                   'patience = 0\n[distill]\nwarmup = 0\n')
    _cli("evaluate", "--data", str(store), "--loso", "--fold", "0", "--methods", METHODS,
         "--baselines", BASELINES, "--config", str(cfg), "--device", device, "--out", str(run))
    (fold_file,) = (run / "folds").rglob("*.json")
    return json.loads(fold_file.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=6, help="synthetic subjects (>= 3)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs measured per model")
    ap.add_argument("--full-epochs", type=int, default=40,
                    help="epochs of a real run (an upper bound: early stopping ends sooner)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--json", type=Path, help="also write the measurements here")
    args = ap.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        res = measure(args.subjects, args.epochs, args.device, Path(tmp))
    win = res["windows"]
    fb_fit = win["train"] - win["quiz"]
    dev = "cuda" if args.device in ("auto", "cuda") and torch.cuda.is_available() else "cpu"
    print(f"measured: fold 0 of LOSO over {args.subjects} synthetic subjects, {args.epochs} "
          f"epochs, paper-size models, device {dev}, {torch.get_num_threads()} threads")
    print(f"windows: fit {win['train']} (feedback students {fb_fit}), val {win['val']}, "
          f"test {win['test']}")
    print(f"{'model':30s} {'s/epoch':>8s} {'ms/window':>10s}")
    rates = {}
    for label, m in res["models"].items():
        if "error" in m:
            print(f"{label:30s} failed: {m['error']}")
            continue
        n_fit = fb_fit if label.endswith("+feedback") else win["train"]
        # an epoch trains on the fitting windows and predicts the validation windows
        per_epoch = m["seconds"] / m["epochs_run"]
        rates[label] = per_epoch / n_fit
        print(f"{label:30s} {per_epoch:8.1f} {1e3 * rates[label]:10.2f}")

    print(f"\nprojection: {args.full_epochs} epochs per model (no early stop), one fold per "
          "worker")
    for name, full in FULL.items():
        fold_s = 0.0
        for label, r in rates.items():
            fit = full["fit_windows"] * (0.8 if label.endswith("+feedback") else 1.0)
            # the rate includes validation; val/fit is ~0.25 in both the measured and full folds
            fold_s += r * fit * args.full_epochs
        walls = ", ".join(f"N={n}: {math.ceil(full['folds'] / n) * fold_s / 3600:.1f} h"
                          for n in args.workers)
        print(f"{name:11s} fold {fold_s / 3600:6.2f} h; {full['folds']} folds → {walls}")
    if args.json:
        args.json.write_text(json.dumps({"device": dev, "windows": win, "rates_s_per_window":
                                         rates, "subjects": args.subjects,
                                         "epochs": args.epochs}, indent=2))


if __name__ == "__main__":
    main()
