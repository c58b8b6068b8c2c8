"""Experiment: which epoch (or average of epochs) of a paper-size model to keep.

At the larger scale of docs/studies.md (16 subjects × 20 trials × 30 s, 4-fold over subjects,
paper-size models, the library's default recipe) the teacher trails the ``eeg-features``
regression by about a point, and its validation loss — measured on the 2–3 validation
subjects of a fold — jumps by a factor of two between neighbouring epochs. This script trains
one model of every fold ONCE, exactly as ``evaluate`` does (same folds, validation subjects,
normalisation, seed, model build) — ``--model teacher`` (the default), ``student-none`` (the
GSR-only student alone) or ``shallowconvnet`` — and scores on the test subjects the model of
every epoch, so that several ways of choosing the model kept can be compared on the same
training runs:

* ``best-loss``: the epoch of lowest class-balanced validation loss (the library default;
  reproduces the teacher of ``studies/yardsticks.py --scale large``);
* ``best-bacc``: the epoch of highest validation balanced accuracy;
* ``smooth-loss``: the epoch of lowest 3-epoch moving average of the validation loss;
* ``last``: the last epoch (the end of the cosine decay);
* ``avg-last-K``: the average of the weights of the last K epochs (K = 5, 10), BatchNorm
  statistics averaged likewise.

Test scores are only recorded, never used to choose. The ``eeg-features`` and ``gsr-features``
regressions of the same fold are trained alongside. Printed: mean balanced accuracy per rule
and the paired difference against the model's yardstick (``eeg-features`` for the teacher and
ShallowConvNet, ``gsr-features`` for the student), with a 95 % bootstrap CI over test folds;
once both the teacher and the student have run, also teacher − student per rule.

    python studies/selection_study.py --work runs/yardsticks-large --seeds 10 11 12
    python studies/selection_study.py --work runs/yardsticks-large --model student-none

The worlds are those of ``studies/yardsticks.py --scale large`` (made when missing, in
``WORK/seed<N>/d.h5``). About 4 minutes per teacher fold on 2 CPU cores (2 for the
student, 1 for ShallowConvNet); per-fold results are kept in
``WORK/selection/`` and reused, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from emotionkd.evaluation import EvaluationPlan
    from emotionkd.splits import Fold
    from emotionkd.store import Store
    from emotionkd.training import Task
    from emotionkd.windows import WindowDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))

RULES = ("best-loss", "best-bacc", "smooth-loss", "last", "avg-last-5", "avg-last-10")
AVERAGES = (5, 10)
#: studied model -> (its yardstick, the offset of its seed from the fold seed in evaluate)
MODELS = {"teacher": ("baseline-eeg-features", 0), "student-none": ("baseline-gsr-features", 1),
          "shallowconvnet": ("baseline-eeg-features", 2)}


def _state(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def registry_name(cfg: EvaluationPlan, label: str) -> str:
    from emotionkd.models.registry import distilled_student

    return {"teacher": cfg.teacher, "student-none": distilled_student()}.get(label, label)


def run_fold(store: Store, cfg: EvaluationPlan, ds: WindowDataset, fold: Fold, seed: int,
             epochs: int, label: str = "teacher") -> dict:
    """Train one fold's model once; score every epoch and every rule on the test side."""
    import torch

    from emotionkd.evaluation import fold_windows
    from emotionkd.metrics import binary_metrics
    from emotionkd.models.classical import FeatureLogReg
    from emotionkd.models.registry import build_model, config_for
    from emotionkd.training import SupervisedTask, fit, predict_proba

    fold_seed = seed * 1000 + fold.index
    fd = fold_windows(fold, ds, cfg, fold_seed)
    side = np.unique(ds.trial_keys()[np.concatenate([fd.train, fd.val, fd.quiz])])
    view = ds if ds.norm != "train" else ds.with_norm("train", norm_trials=side)
    train, val, test = view.subset(fd.train), view.subset(fd.val), view.subset(fd.test)
    tcfg = replace(cfg.config.train, seed=fold_seed + MODELS[label][1])
    name = registry_name(cfg, label)
    model_cfg = config_for(name, train.fs, train.window_s, train.n_eeg,
                           cfg.config.model.overrides())

    def score(prob: np.ndarray) -> dict:
        out = {"metrics": binary_metrics(test.labels, prob)}
        if test.latent_labels is not None:
            out["metrics_latent"] = binary_metrics(test.latent_labels, prob)
        return out

    per_epoch: list[dict] = []
    sums: dict[int, dict] = {}
    counts: dict[int, int] = {}
    last_state: dict = {}

    def on_epoch(epoch: int, task: Task) -> None:
        nonlocal last_state
        per_epoch.append(score(predict_proba(task, test)[:, 1]))
        state = _state(task.model)
        last_state = state
        for k in AVERAGES:
            if epoch > epochs - k:
                acc = sums.setdefault(k, {})
                counts[k] = counts.get(k, 0) + 1
                for name, v in state.items():
                    if v.is_floating_point():
                        acc[name] = acc[name] + v if name in acc else v.clone()
                    else:
                        acc[name] = v

    torch.manual_seed(tcfg.seed)
    model = build_model(name, model_cfg)
    res = fit(SupervisedTask(model), train, val, tcfg, description=label, on_epoch=on_epoch)
    hist = res.history
    loss = np.array([h["val_loss"] for h in hist])
    bacc = np.array([h["val_balanced_accuracy"] for h in hist])
    smooth = np.convolve(np.pad(loss, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    chosen = {"best-loss": int(np.argmin(loss)), "best-bacc": int(np.argmax(bacc)),
              "smooth-loss": int(np.argmin(smooth)), "last": len(hist) - 1}
    models = {rule: {**per_epoch[i], "epoch": i + 1} for rule, i in chosen.items()}
    assert res.best_epoch == chosen["best-loss"] + 1, "the rule must match the library's"
    for k in AVERAGES:
        avg = {n: (v / counts[k] if v.is_floating_point() else v) for n, v in sums[k].items()}
        model.load_state_dict(avg)
        models[f"avg-last-{k}"] = score(predict_proba(model, test)[:, 1])
    model.load_state_dict(last_state)
    for base in ("eeg-features", "gsr-features"):
        clf = FeatureLogReg(base)
        clf.fit(train, val)
        models[f"baseline-{base}"] = score(clf.predict_proba(test)[:, 1])
    result = {"target": "arousal", "fold": fold.as_dict(), "seed": seed,
              "single_class": bool(len(np.unique(test.labels)) < 2),
              "validation": fd.val_desc, "models": models, "per_epoch": per_epoch,
              "history": hist, "seconds": round(res.seconds, 1)}
    if test.latent_labels is not None:
        result["single_class_latent"] = bool(len(np.unique(test.latent_labels)) < 2)
    return result


def results_dir(work: Path, label: str, epochs: int, train_over: dict,
                arch: dict | None = None) -> Path:
    flat = {**train_over, **(arch or {})}
    flat.update(flat.pop("study", {}))  # the study options' tag reads as before
    tag = "-".join(f"{k}{v}" for k, v in sorted(flat.items()))
    prefix = f"{label}-" if label != "teacher" else ""  # the teacher's runs came first
    return work / "selection" / f"{prefix}e{epochs}{tag}"


def run_world(work: Path, seed: int, epochs: int, train_over: dict,
              label: str = "teacher", arch: dict | None = None) -> list[dict]:
    from yardsticks import world

    from emotionkd.config import resolve_config
    from emotionkd.evaluation import EvaluationPlan, make_folds
    from emotionkd.evaluation.protocol import target_windows
    from emotionkd.store import open_store

    store_path = world("large", seed, work, None)
    cfg = EvaluationPlan(resolve_config("evaluate", {
        "protocol": "kfold", "k": 4, "target": "arousal", "methods": "", "feedback": False,
        "baselines": "none", "seed": seed, "epochs": epochs, **train_over, **(arch or {})}))
    store = open_store(store_path)
    mask = store.trial_mask(cfg.subjects)
    folds = make_folds(cfg, store.subject[mask], store.trial[mask], seed)
    ds = None
    out = []
    for fold in folds:
        path = results_dir(work, label, epochs, train_over, arch) / \
            f"seed{seed}-fold{fold.index}.json"
        if path.exists():
            out.append(json.loads(path.read_text()))
            continue
        if ds is None:
            ds = target_windows(store, cfg, "arousal")
        t0 = time.perf_counter()
        r = run_fold(store, cfg, ds, fold, seed, epochs, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
        print(f"{label}, world {seed} fold {fold.index}: {time.perf_counter() - t0:.0f} s; "
              + ", ".join(
            f"{k} {v['metrics']['balanced_accuracy']:.3f}" for k, v in r["models"].items()),
            flush=True)
        out.append(r)
    return out


def _line(name: str, folds: list[dict], a: str, b: str | None, key: str, single: str) -> str:
    from emotionkd.evaluation import paired_comparison

    m = np.mean([f["models"][a][key]["balanced_accuracy"] for f in folds])
    if b is None:
        return f"  {name:30s} {m:.3f}"
    r = paired_comparison(folds, a, b, "balanced_accuracy", key, single)
    return (f"  {name:30s} {m:.3f}  {100 * r.mean_difference:+.1f} "
            f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]  "
            f"{r.wins}/{r.test_sets}  p = {r.p_value:.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--model", choices=tuple(MODELS), default="teacher")
    ap.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--train", default="{}", help="JSON of other [train] settings")
    ap.add_argument("--arch", default="{}", help='JSON of [model] settings, e.g. '
                    '\'{"study": {"eeg_stem": "power"}}\'')
    args = ap.parse_args()
    over, arch = json.loads(args.train), json.loads(args.arch)
    folds = []
    for s in args.seeds:
        for f in run_world(args.work, s, args.epochs, over, args.model, arch):
            f["fold"]["test_subjects"] = [f"w{s}-s{x}" for x in f["fold"]["test_subjects"]]
            folds.append(f)
    base = MODELS[args.model][0]
    print(f"\n{args.model}: {len(folds)} test folds; balanced accuracy, mean over folds; paired "
          f"difference against {base[9:]} in pp [95 % CI], folds better, Wilcoxon p")
    # teacher − student per rule, once both have run on the same folds
    other = "student-none" if args.model == "teacher" else "teacher"
    pairs = []
    if args.model != "shallowconvnet":
        odir = results_dir(args.work, other, args.epochs, over, arch)
        for f in folds:
            p = odir / f"seed{f['seed']}-fold{f['fold']['index']}.json"
            if not p.exists():
                pairs = []
                break
            g = json.loads(p.read_text())
            t, st = (f, g) if args.model == "teacher" else (g, f)
            pairs.append({**f, "models": {**{f"teacher {r}": t["models"][r] for r in RULES},
                                          **{f"student {r}": st["models"][r] for r in RULES}}})
    for key, single in (("metrics", "single_class"), ("metrics_latent", "single_class_latent")):
        print("against the ratings" if key == "metrics" else "against the latent truth")
        print(_line(base[9:], folds, base, None, key, single))
        for rule in RULES:
            print(_line(rule, folds, rule, base, key, single))
        for rule in RULES if pairs else ():
            print(_line(f"teacher − student, {rule}", pairs, f"teacher {rule}",
                        f"student {rule}", key, single))
    ep = np.array([[e["metrics"]["balanced_accuracy"] for e in f["per_epoch"]] for f in folds])
    print("test balanced accuracy by epoch (mean over folds): "
          + " ".join(f"{x:.3f}" for x in ep.mean(axis=0)))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
