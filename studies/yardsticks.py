"""Experiment: the deep models beside their yardsticks on the project's synthetic data.

Reproduces the tables of docs/studies.md ("The teacher against its yardsticks"): for each seed a
synthetic DEAP-layout world is generated with that seed (default cue strengths and label
noise) and evaluated with that seed, and the fold results of all worlds are pooled:

* ``--scale demo``: the demo's world and setting (8 subjects × 12 trials × 30 s, tiny models;
  ``emotionkd.demo.DEMO``) with the demo's earlier protocol, leave-one-subject-out and 20
  epochs (``emotionkd.demo.STUDY_PROTOCOL``), which the tables were made with;
* ``--scale large``: 16 subjects × 20 trials × 30 s, 4-fold over subjects, paper-size models,
  the library's default training recipe.

Printed: every model's balanced accuracy (mean over folds and worlds, against the ratings and
against the latent truth) and the paired differences the study reads — teacher −
eeg-features, teacher − student-none, student-none − gsr-features — with 95 %
bootstrap confidence intervals that resample whole test sets (world, fold), and Wilcoxon tests.

    python studies/yardsticks.py --scale demo --seeds 0 1 2 --work runs/yardsticks-demo
    python studies/yardsticks.py --scale large --seeds 0 1 2 --work runs/yardsticks-large

About 4–6 minutes per seed at the demo scale and 40–60 minutes per seed at the large scale on
2 CPU cores. Runs resume: an interrupted command continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

COMPARISONS = (("teacher", "baseline-eeg-features"), ("teacher", "baseline-shallowconvnet"),
               ("teacher", "student-none"), ("student-none", "baseline-gsr-features"),
               ("student-emotionkd", "student-none"),
               ("student-emotionkd+feedback", "student-none"))


def world(scale: str, seed: int, work: Path, eeg_cue: float | None) -> Path:
    """Generate and preprocess one synthetic world (skipped when its store exists)."""
    from emotionkd.datasets.synthetic import DEFAULT_EEG_CUE, write_deap
    from emotionkd.demo import DEMO
    from emotionkd.preprocess import preprocess_deap

    root = work / f"seed{seed}"
    store = root / "d.h5"
    if store.exists():
        return store
    subjects, trials = (DEMO["subjects"], DEMO["trials"]) if scale == "demo" else (16, 20)
    seconds = DEMO["seconds"] if scale == "demo" else 30.0
    write_deap(root / "raw", n_subjects=subjects, n_trials=trials, seconds=seconds, seed=seed,
               overwrite=True, eeg_cue=DEFAULT_EEG_CUE if eeg_cue is None else eeg_cue)
    preprocess_deap(root / "raw", store, overwrite=True)
    return store


def run(scale: str, seed: int, work: Path, methods: list[str], eeg_cue: float | None) -> Path:
    """Evaluate one world; returns its run folder."""
    from emotionkd.config import EvaluationConfig, resolve_config
    from emotionkd.demo import STUDY_PROTOCOL, demo_config
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol

    store = world(scale, seed, work, eeg_cue)
    out = work / f"seed{seed}" / "run"
    if scale == "demo":
        cfg = demo_config(seed=seed, methods=",".join(methods),
                          baselines=EvaluationConfig.baselines, **STUDY_PROTOCOL)
    else:
        cfg = resolve_config("evaluate", {"protocol": "kfold", "k": 4, "target": "arousal",
                                          "methods": ",".join(methods),
                                          "feedback": "emotionkd" in methods, "seed": seed})
    evaluate_protocol(store, EvaluationPlan(cfg), out, resume=out.exists(),
                      progress=lambda k, n, info="": print(f"\r  seed {seed}: {info[:90]:90s}",
                                                           end="", flush=True))
    print()
    return out


def pooled_folds(runs: dict[int, Path]) -> list[dict]:
    """Every fold result of every world, with test sets tagged by world (so that the
    bootstrap resamples (world, fold) test sets)."""
    out = []
    for seed, run_dir in runs.items():
        for p in sorted((run_dir / "folds" / "arousal").rglob("fold-*.json")):
            f = json.loads(p.read_text())
            f["fold"]["test_subjects"] = [f"w{seed}-s{s}" for s in f["fold"]["test_subjects"]]
            out.append(f)
    return out


def main() -> None:
    from emotionkd.evaluation import paired_comparison, summarise_target

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=("demo", "large"), default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--methods", default="none", help="students, e.g. none,emotionkd")
    ap.add_argument("--eeg-cue", type=float, help="generator EEG cue (default: the library's)")
    ap.add_argument("--work", type=Path, required=True, help="data and runs (resumable)")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    runs = {s: run(args.scale, s, args.work, methods, args.eeg_cue) for s in args.seeds}
    folds = pooled_folds(runs)
    labels = [lab for lab in json.loads((next(iter(runs.values())) / "results.json")
                                        .read_text())["targets"]["arousal"]["models"]]
    t = summarise_target(folds, labels).to_dict()
    print(f"\n{args.scale} scale, seeds {args.seeds}: {len(folds)} test folds "
          f"({t['models']['teacher']['test_sets']} test sets), majority baseline "
          f"{100 * t['majority_baseline']['mean']:.1f} %")
    print(f"{'model':30s} {'bal. acc.':>16s} {'pooled':>7s} {'latent truth':>16s}")
    failed = [label for label, m in t["models"].items() if "latent" not in m]
    for label in failed:  # every fold of it failed: say so instead of a row
        print(f"{label:30s} failed in every fold ({t['models'][label]['errors'][0]['error']})")
    for label, m in t["models"].items():
        if label in failed:
            continue
        ms, lat = m["mean_std"]["balanced_accuracy"], m["latent"]["mean_std"]["balanced_accuracy"]
        print(f"{label:30s} {100 * ms['mean']:7.1f} ± {100 * ms['std']:5.1f} "
              f"{100 * m['pooled']['balanced_accuracy']:7.1f} "
              f"{100 * lat['mean']:7.1f} ± {100 * lat['std']:5.1f}")
    summary = {"scale": args.scale, "seeds": args.seeds, "comparisons": {}}
    print("\npaired differences in balanced accuracy, pp [95 % CI], test sets better, Wilcoxon p")
    for a, b in COMPARISONS:
        if a not in labels or b not in labels or a in failed or b in failed:
            continue
        row = {}
        for key, single, name in (("metrics", "single_class", "ratings"),
                                  ("metrics_latent", "single_class_latent", "latent truth")):
            r = asdict(paired_comparison(folds, a, b, "balanced_accuracy", key, single))
            row[name] = r
            print(f"  {a} − {b} ({name}): {100 * r['mean_difference']:+.1f} "
                  f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}], "
                  f"{r['wins']}/{r['test_sets']}, p = {r['p_value']:.3g}")
        summary["comparisons"][f"{a} - {b}"] = row
    summary["models"] = {label: {"balanced_accuracy": m["mean_std"]["balanced_accuracy"],
                                 "latent": m["latent"]["mean_std"]["balanced_accuracy"],
                                 "per_fold": m["per_fold"]["balanced_accuracy"]}
                         for label, m in t["models"].items() if label not in failed}
    (args.work / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"\nsummary: {args.work / 'summary.json'}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
