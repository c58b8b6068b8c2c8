"""Statistics over folds and seeds (emotionkd.evaluation.summary): single-class folds,
seeds clustered by test set, bootstrap intervals, the comparisons a report makes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from emotionkd.evaluation import (
    comparison_pairs,
    paired_comparison,
    summarise_target,
)
from emotionkd.metrics import bootstrap_ci, confidence_interval


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
    # the interval takes the 4 test sets as units, not 12 independent pairs: with equal seeds
    # per set it is Student's t over the set means
    set_diffs = [float(np.mean([0.1 + 0.05 * i + 0.01 * s for s in (0, 1, 2)]))
                 for i in range(4)]
    expected = stats.t.interval(0.95, 3, np.mean(set_diffs), stats.sem(set_diffs))
    assert (c.ci_low, c.ci_high) == pytest.approx(expected)
    assert c.ci_method == "Student t over test sets (cluster-robust)"
    naive = confidence_interval(diffs)
    assert c.ci_high - c.ci_low > naive[1] - naive[0]
    boot = paired_comparison(folds, "teacher", "student-none", "balanced_accuracy",
                             ci_method="bca", n_boot=2000)
    assert boot.ci_method == "BCa bootstrap" and boot.ci_low < c.mean_difference < boot.ci_high


def test_bootstrap_ci_covers_a_known_mean():
    rng = np.random.default_rng(0)
    hits = 0
    for k in range(200):
        d = rng.normal(0.05, 0.1, size=12)
        lo, hi = bootstrap_ci(d, n_boot=2000, seed=k)
        hits += lo <= 0.05 <= hi
    assert 0.85 <= hits / 200 <= 0.99  # near 95 % (the percentile interval is a bit narrow)
    assert all(math.isnan(x) for x in bootstrap_ci([0.1]))


def test_feature_sets_are_compared_with_the_built_in_ones():
    labels = ["teacher", "student-none", "student-emotionkd", "baseline-eeg-features",
              "baseline-eeg-de", "baseline-gsr-features", "baseline-gsr-neurokit"]
    pairs = comparison_pairs(labels)
    for pair in (("teacher", "baseline-eeg-de"), ("student-none", "baseline-gsr-neurokit"),
                 ("baseline-gsr-neurokit", "baseline-gsr-features"),
                 ("baseline-eeg-de", "baseline-eeg-features"),
                 ("student-none", "baseline-gsr-features")):
        assert pair in pairs
    # only models the run has
    assert ("baseline-eeg-de", "baseline-eeg-features") not in comparison_pairs(
        ["teacher", "baseline-eeg-de"])



def _yardstick_folds(teacher: list[float], regression: list[float]) -> list[dict]:
    folds = []
    for i, (a, b) in enumerate(zip(teacher, regression)):
        f = _fold(i, 0, [0, 1, 1, 0], a, 0.6)
        m = {k: b for k in f["models"]["teacher"]["metrics"]}
        f["models"]["baseline-eeg-features"] = {"metrics": m, "p_high": [0.5] * 4}
        folds.append(f)
    return folds


def test_report_flags_a_teacher_that_trails_the_band_power_regression():
    from emotionkd.evaluation.report import diagnostics

    labels = ["teacher", "student-none", "baseline-eeg-features"]
    behind = summarise_target(_yardstick_folds([0.60, 0.62, 0.58, 0.61, 0.59, 0.60],
                                               [0.80, 0.79, 0.82, 0.81, 0.80, 0.78]), labels)
    flags = diagnostics(behind)
    assert len(flags) == 1 and "teacher trails baseline-eeg-features" in flags[0]
    assert "against the ratings" in flags[0] and "learning curves" in flags[0]
    level = summarise_target(_yardstick_folds([0.80, 0.70, 0.82, 0.75, 0.79, 0.81],
                                              [0.78, 0.74, 0.80, 0.77, 0.80, 0.79]), labels)
    assert diagnostics(level) == []  # within the interval: no flag
