"""Experiment: the robustness suite of synthetic worlds (issue 24; docs/method.md, "The
teacher across world families").

For every world family × rating noise × generator seed: write the world in DEAP's layout
(``synth deap --world``), preprocess it, run ``emotionkd evaluate --kfold K`` with the teacher,
the student without distillation, ShallowConvNet and both feature regressions, then pool the
folds of every seed per family and noise. Printed per family and noise: each model's mean
balanced accuracy against the ratings and against the latent truth, and paired differences
against the latent truth (teacher − eeg-features, teacher − student-none, …) with 95 %
bootstrap intervals over the (seed, fold) pairs.

    python studies/world_suite.py --work runs/suite --seeds 0,1,2 --noise 1.5
    python studies/world_suite.py --work runs/suite --families rhythms --noise 1.5,2.5 \
        -- --size tiny --lr 1e-3 --batch-size 32

Arguments after ``--`` go to ``emotionkd evaluate`` unchanged (default: none, i.e. the
defaults a user gets); ``--label`` names the variant so that several can share ``--work``.
``--methods`` adds distilled students (each paired with ``student-none``, as is the ceiling
on the latent truth: the headroom); ``--against LABEL`` pairs every row with the same row of
another variant's runs on the same worlds, seeds and folds (e.g. an anchored student against
the default one) where both trained on the same windows (a run with a feedback student holds
quiz trials out of every model's training):

    python studies/world_suite.py --work runs/suite --label anchored-student --seeds 0 \
        --noise 1 --methods none,emotionkd,kd --against anchored-slow -- --config ga.toml

Runs already finished are reused. One world (8 subjects × 20 trials × 30 s, 4 folds) takes
2–6 minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

MODELS = ("teacher", "student-none", "baseline-shallowconvnet", "baseline-eeg-features",
          "baseline-gsr-features")
PAIRS = (("teacher", "baseline-eeg-features"), ("teacher", "student-none"),
         ("baseline-shallowconvnet", "baseline-eeg-features"),
         ("student-none", "baseline-gsr-features"))


def emotionkd(*args: str) -> None:
    """Run one emotionkd command; stop the study with its message if it fails."""
    done = subprocess.run([sys.executable, "-m", "emotionkd", *args], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"emotionkd {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def make_world(work: Path, family: str, seed: int, noise: float, a: argparse.Namespace) -> Path:
    """The store of one world (written once)."""
    name = f"{family}-n{noise:g}-s{seed}"
    store = work / "worlds" / f"{name}.h5"
    if not store.exists():
        raw = work / "worlds" / f"{name}-raw"
        raw.parent.mkdir(parents=True, exist_ok=True)
        emotionkd("synth", "deap", "--out", str(raw), "--world", family, "--seed", str(seed),
                  "--subjects", str(a.subjects), "--trials", str(a.trials), "--seconds",
                  str(a.seconds), "--label-noise", str(noise), "--overwrite")
        emotionkd("preprocess", "deap", "--raw", str(raw), "--out", str(store), "--overwrite")
    return store


def run_world(store: Path, run: Path, a: argparse.Namespace) -> list[dict]:
    """Evaluate one world (once) and return its fold files."""
    if not (run / "results.json").exists():
        run.parent.mkdir(parents=True, exist_ok=True)
        resume = ["--resume"] if run.exists() else []  # a run that was interrupted
        emotionkd("evaluate", "--data", str(store), "--kfold", str(a.kfold), "--out", str(run),
                  "--methods", a.methods, "--baselines", a.baselines, *resume, *a.evaluate)
    return fold_files(run)


def fold_files(run: Path) -> list[dict]:
    """The fold files of a finished run (none when it has not run)."""
    return [json.loads(p.read_text()) for p in sorted(run.glob("folds/*/seed-*/fold-*.json"))]


def bootstrap_ci(d: np.ndarray, n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the mean of the paired differences ``d``."""
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n, len(d)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def score(f: dict, m: str, key: str) -> float:
    """Balanced accuracy of row ``m`` in fold file ``f`` (NaN when the run has no such row)."""
    return float(f["models"][m][key]["balanced_accuracy"]) if m in f["models"] else np.nan


def paired(d: list[float], name: str) -> list[str]:
    """One line: the mean of the finite paired differences ``d`` with its interval."""
    x = np.array(d, dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return []
    lo, hi = bootstrap_ci(x)
    return [f"{name}: {100 * x.mean():+.1f} pts [{100 * lo:+.1f}, {100 * hi:+.1f}] "
            f"(n = {len(x)} folds)"]


def table(folds: list[dict], against: list[dict] | None = None, label: str = "") -> list[str]:
    """Rows of one family × noise: models, then paired differences against the latent truth
    — every other student (distilled, ``+feedback``, the ``student-ceiling`` on the truth,
    whose difference is the headroom) minus ``student-none`` — and, with ``against``, each row
    minus the same row of the other variant's same fold."""
    students = tuple(dict.fromkeys(m for f in folds for m in f["models"]
                                   if m.startswith("student-") and m != "student-none"))
    lines = [f"{'model':<26} {'ratings':>8} {'latent':>8}"]
    for m in (m for m in MODELS + students if any(m in f["models"] for f in folds)):
        r = np.nanmean([score(f, m, "metrics") for f in folds])
        lat = np.nanmean([score(f, m, "metrics_latent") for f in folds])
        lines.append(f"{m:<26} {r:8.3f} {lat:8.3f}")
    for x, y in PAIRS + tuple((s, "student-none") for s in students):
        lines += paired([score(f, x, "metrics_latent") - score(f, y, "metrics_latent")
                         for f in folds], f"{x} − {y}")
    if against is not None:
        def key(f: dict) -> tuple:  # the same seed and the same test subjects
            return f["seed"], tuple(f["fold"]["test_subjects"])

        other = {key(f): f for f in against}
        if not other:
            lines.append(f"(no finished runs of variant {label!r} on these worlds to pair with)")
        same = [f for f in folds if key(f) in other
                and f["trained_on"]["sha1"] == other[key(f)]["trained_on"]["sha1"]]
        if len(same) < len([f for f in folds if key(f) in other]):
            # a run with a feedback student holds its quiz trials out of every model's
            # training windows: its rows are not paired with a run without one
            lines.append(f"(only the {len(same)} folds trained on the same windows as in "
                         f"{label} are paired)")
        for m in MODELS + students:
            lines += paired([score(f, m, "metrics_latent") -
                             score(other[key(f)], m, "metrics_latent")
                             for f in same], f"{m} − the same in {label}")
    return lines


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    evaluate = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--families", default="broadband,rhythms,sources,aperiodic")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--noise", default="1.5", help="rating-noise SDs, comma-separated")
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--kfold", type=int, default=4)
    p.add_argument("--label", default="defaults", help="name of the evaluated variant")
    p.add_argument("--baselines", default="shallowconvnet,eeg-features,gsr-features",
                   help="baselines of every run (eeg-features is the teacher's yardstick)")
    p.add_argument("--methods", default="none", help="distillation methods of every run")
    p.add_argument("--against", default=None,
                   help="another variant (--label) to pair every row with, fold by fold")
    a = p.parse_args(argv)
    a.evaluate = evaluate
    for family in a.families.split(","):
        for noise in (float(x) for x in a.noise.split(",")):
            folds: list[dict] = []
            against: list[dict] | None = None if a.against is None else []
            for seed in (int(s) for s in a.seeds.split(",")):
                store = make_world(a.work, family, seed, noise, a)
                name = f"{family}-n{noise:g}-s{seed}"
                folds += run_world(store, a.work / "runs" / a.label / name, a)
                if against is not None:
                    against += fold_files(a.work / "runs" / a.against / name)
            print(f"\n## {family}, rating noise {noise:g} SD, seeds {a.seeds}, "
                  f"variant {a.label} {' '.join(evaluate)}")
            print("\n".join(table(folds, against, a.against)), flush=True)


if __name__ == "__main__":
    main()
