"""Honest comparisons: same training windows for every model, feedback ablations, statistics
over folds and seeds, single-class folds, strict normalisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emotionkd.config import DataConfig, resolve_config
from emotionkd.evaluation import (
    EvaluationPlan,
    build_report,
    evaluate_protocol,
    paired_comparison,
    summarise_target,
)
from emotionkd.metrics import bootstrap_ci
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset

TINY = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
        "classifier_dim": 8}
TRAIN = {"epochs": 1, "batch_size": 16, "lr": 1e-3, "patience": 0}


def _cfg(**kw) -> EvaluationPlan:
    """A small evaluation plan; list values are given comma-separated."""
    opts = dict(protocol="loso", target="arousal", methods="emotionkd,none", window=2.0,
                step=2.0, **TRAIN, **TINY, feedback_warmup=0, val_fraction=0.3,
                quiz_fraction=0.3, baselines="gsr-features")
    opts.update(kw)
    opts = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in opts.items()}
    return EvaluationPlan(resolve_config("evaluate", opts))


@pytest.fixture(scope="module")
def ablation_run(deap_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ablation"
    return out, evaluate_protocol(deap_store, _cfg(feedback_ablation=True), out)


def _folds(out):
    return [json.loads(p.read_text()) for p in sorted((out / "folds").rglob("fold-*.json"))]


def test_every_model_of_a_fold_trains_on_the_same_windows(ablation_run):
    out, res = ablation_run
    labels = set(res.targets["arousal"].models)
    assert {"student-emotionkd", "student-emotionkd+feedback",
            "student-emotionkd+feedback-meta", "student-emotionkd+feedback-ce"} <= labels
    for f in _folds(out):
        digests = {label: m["trained_on"]["sha1"] for label, m in f["models"].items()}
        assert len(set(digests.values())) == 1, digests  # identical windows for every model
        assert set(digests) == labels
        assert f["trained_on"]["windows"] == f["windows"]["train"]
        assert f["windows"]["quiz"] > 0  # the quiz trials are held out of everyone's windows
        # the feedback variants really differ: the ce-only variant takes no pilot step
        fb = f["models"]["student-emotionkd+feedback"]
        ce_only = f["models"]["student-emotionkd+feedback-ce"]
        meta_only = f["models"]["student-emotionkd+feedback-meta"]
        assert fb["feedback_steps"] > 0 and ce_only["feedback_steps"] > 0
        assert any("train_fb_quiz" in h for h in meta_only["history"])
        assert not any("train_fb_quiz" in h for h in ce_only["history"])
        assert f["models"]["student-emotionkd"]["feedback_steps"] == 0
    md = (out / "report.md").read_text()
    for row in ("student-emotionkd+feedback-meta − student-emotionkd",
                "student-emotionkd+feedback-ce − student-emotionkd",
                "student-emotionkd+feedback − student-none"):
        assert row in md


def test_feedback_logs_both_gradient_norms(deap_store, tmp_path):
    import torch

    from emotionkd.config import DistillConfig, FeedbackConfig
    from emotionkd.distill.feedback import FeedbackUpdater
    from emotionkd.models.registry import build_model, default_config

    torch.manual_seed(0)
    t = build_model("emotionnet-teacher", default_config("emotionnet-teacher", 64, 2, 4, TINY))
    s = build_model("emotionnet-student", default_config("emotionnet-student", 64, 2, 4, TINY))
    for p in t.parameters():
        p.requires_grad_(True)
    up = FeedbackUpdater(t, s, None, DistillConfig(method="kd").method_object(),
                         FeedbackConfig(pilot_lr=0.05))
    eeg, gsr = torch.randn(8, 4, 128), torch.randn(8, 1, 128)
    y = torch.tensor([0, 1] * 4)
    terms = up.step(eeg, gsr, y, gsr, y)
    assert terms["fb_ce_norm"] > 0 and terms["fb_meta_norm"] > 0
    assert "fb_ce_norm" not in up.step(eeg, gsr, y, gsr, y)  # measured every NORM_EVERY steps
    with pytest.raises(Exception, match="cannot both be 0"):
        FeedbackConfig(feedback_teacher_ce=0, feedback_student_ce=0)


def _fold(index: int, seed: int, labels: list[int], a: float, b: float,
          test_subjects: list[int] | None = None) -> dict:
    y = np.array(labels)
    single = len(set(labels)) < 2
    m = {"balanced_accuracy": a, "macro_f1": a, "accuracy": a, "f1_high": a, "roc_auc": a}
    n = {"balanced_accuracy": b, "macro_f1": b, "accuracy": b, "f1_high": b, "roc_auc": b}
    return {"target": "arousal", "fold": {"index": index,
                                          "test_subjects": test_subjects or [index + 1],
                                          "test_trials": []},
            "seed": seed, "single_class": single,
            "test_balance": {"n": len(y), "high": int(y.sum()), "low": int(len(y) - y.sum()),
                             "majority": max(y.mean(), 1 - y.mean())},
            "test_labels": labels,
            "models": {"teacher": {"metrics": m, "p_high": [0.9] * len(y)},
                       "student-none": {"metrics": n, "p_high": [0.4] * len(y)}}}


def test_single_class_folds_are_flagged_and_left_out():
    folds = [_fold(0, 0, [0, 1, 1, 0], 0.8, 0.6), _fold(1, 0, [1, 1, 0, 0], 0.7, 0.6),
             _fold(2, 0, [1, 1, 1, 1], 1.0, 0.0)]  # one class: trivially 1.0 / 0.0
    t = summarise_target(folds, ["teacher", "student-none"])
    assert [x.fold for x in t.single_class_folds] == [2]
    teacher = t.models["teacher"]
    assert teacher.folds == 2 and teacher.single_class_folds == 1
    assert teacher.mean_std["balanced_accuracy"].mean == pytest.approx(0.75)
    c = t.comparisons["teacher vs student-none"].metrics["balanced_accuracy"]
    assert c.pairs == 2 and c.mean_difference == pytest.approx(0.15)
    # pooled metrics still use every test window, the single-class fold's included
    assert teacher.pooled["n"] == 12


def test_seeds_are_averaged_and_clustered_by_test_set():
    folds = [_fold(i, s, [0, 1], 0.7 + 0.05 * i + 0.01 * s, 0.6) for i in range(4)
             for s in (0, 1, 2)]
    t = summarise_target(folds, ["teacher", "student-none"])
    teacher = t.models["teacher"]
    assert teacher.folds == 12 and teacher.test_sets == 4
    # mean ± SD over the 4 test sets, each the mean of its 3 seeds
    set_means = [0.7 + 0.05 * i + 0.01 for i in range(4)]
    assert teacher.mean_std["balanced_accuracy"].mean == pytest.approx(np.mean(set_means))
    assert teacher.mean_std["balanced_accuracy"].std == pytest.approx(
        np.std(set_means, ddof=1))
    assert teacher.per_seed["2"]["balanced_accuracy"] == pytest.approx(
        np.mean([0.7 + 0.05 * i + 0.02 for i in range(4)]))
    c = paired_comparison(folds, "teacher", "student-none", "balanced_accuracy")
    assert c.pairs == 12 and c.test_sets == 4 and c.wins == 4
    diffs = [0.1 + 0.05 * i + 0.01 * s for i in range(4) for s in (0, 1, 2)]
    assert c.mean_difference == pytest.approx(np.mean(diffs))
    # the interval resamples the 4 test sets, not 12 independent pairs
    sets = [i for i in range(4) for _ in (0, 1, 2)]
    assert (c.ci_low, c.ci_high) == pytest.approx(bootstrap_ci(diffs, sets))
    naive = bootstrap_ci(diffs)
    assert c.ci_high - c.ci_low > naive[1] - naive[0]


def test_bootstrap_ci_covers_a_known_mean():
    rng = np.random.default_rng(0)
    hits = 0
    for k in range(200):
        d = rng.normal(0.05, 0.1, size=12)
        lo, hi = bootstrap_ci(d, n_boot=2000, seed=k)
        hits += lo <= 0.05 <= hi
    assert 0.85 <= hits / 200 <= 0.99  # near 95 % (the percentile interval is a bit narrow)
    assert all(math.isnan(x) for x in bootstrap_ci([0.1]))


def test_seeds_in_one_run_merge_like_separate_runs(deap_store, tmp_path):
    cfg = dict(methods=["none"], baselines=["gsr-features"], protocol="kfold", k=3)
    both = evaluate_protocol(deap_store, _cfg(seeds=[0, 1], **cfg), tmp_path / "both")
    alone = {s: evaluate_protocol(deap_store, _cfg(seeds=[s], **cfg), tmp_path / f"s{s}")
             for s in (0, 1)}
    f_both = {(f["seed"], f["fold"]["index"]): f for f in _folds(tmp_path / "both")}
    for s in (0, 1):
        for f in _folds(tmp_path / f"s{s}"):
            other = f_both[(s, f["fold"]["index"])]
            assert other["fold"] == f["fold"]  # the folds are redrawn per seed, identically
            for label, m in f["models"].items():
                assert other["models"][label]["p_high"] == m["p_high"]
        t_alone = alone[s].targets["arousal"].models["student-none"]
        t_both = both.targets["arousal"].models["student-none"]
        assert t_both.per_seed[str(s)]["balanced_accuracy"] == pytest.approx(
            t_alone.per_seed[str(s)]["balanced_accuracy"])
    # k-fold folds differ between the seeds
    assert _folds(tmp_path / "s0")[0]["fold"] != _folds(tmp_path / "s1")[0]["fold"] or \
        _folds(tmp_path / "s0")[1]["fold"] != _folds(tmp_path / "s1")[1]["fold"]
    # one job of a cluster array: a (fold, seed) pair into the run folder, then merge
    out = tmp_path / "array"
    c = _cfg(seeds=[0, 1], **cfg)
    for s in (1, 0):
        for i in (2, 0, 1):
            evaluate_protocol(deap_store, c, out, fold=i, only_seed=s)
    merged = build_report(out).targets["arousal"].models["student-none"]
    assert merged.per_fold == both.targets["arousal"].models["student-none"].per_fold


def test_strict_normalisation_uses_training_trials_only(deap_store, monkeypatch, tmp_path):
    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2, norm="none"))
    keys = np.unique(ds.trial_keys())
    chosen = keys[::2]
    view = ds.with_norm("train", norm_trials=chosen)
    # by hand: pool the stimulus samples of the chosen trials
    gsr = []
    for k in chosen:
        row = np.flatnonzero((st.subject * 100000 + st.trial) == k)[0]
        g, _ = _store_gsr(st, row)
        gsr.append(g)
    g = np.concatenate(gsr).astype(np.float64)
    assert view._stats.gsr_mean[0, 0] == pytest.approx(g.mean(), rel=1e-6)
    assert view._stats.gsr_std[0, 0] == pytest.approx(g.std(), rel=1e-6)
    # in a subject-dependent run no test trial's signal enters the statistics
    import emotionkd.windows as w

    seen = []
    real = w.WindowDataset.with_norm

    def spy(self, norm, norm_subjects=None, norm_trials=None):
        seen.append(set(np.asarray(norm_trials).tolist()))
        return real(self, norm, norm_subjects, norm_trials)

    monkeypatch.setattr(w.WindowDataset, "with_norm", spy)
    cfg = _cfg(protocol="subject-dependent", k=2, methods=["none"], baselines="none",
               norm="train")
    evaluate_protocol(deap_store, cfg, tmp_path / "sd")
    assert len(seen) == 2
    for f, used in zip(sorted(_folds(tmp_path / "sd"), key=lambda f: f["fold"]["index"]),
                       seen):
        assert used and not used & set(f["fold"]["test_trials"])
        assert used <= set(f["fold"]["train_trials"])
    assert "training-side trials only" in (tmp_path / "sd" / "report.md").read_text()


def _store_gsr(st, row: int) -> tuple[np.ndarray, int]:
    import h5py

    with h5py.File(st.path, "r") as f:
        return f["gsr"][0, st.onset[row]:st.stop[row]], row
