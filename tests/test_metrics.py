"""Metrics (emotionkd.metrics) against hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotionkd.metrics import aggregate, binary_metrics, wilcoxon_paired


def test_metrics_match_hand_computation():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.3, 0.2, 0.7, 0.1, 0.45])
    m = binary_metrics(y, p)
    # predictions: 1 1 0 0 0 1 0 0 -> TP 2, FN 1, FP 1, TN 4
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    f1_high = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    f1_low = 2 * (4 / 5) * (4 / 5) / (8 / 5)
    assert m["f1_high"] == pytest.approx(f1_high)
    assert m["macro_f1"] == pytest.approx((f1_high + f1_low) / 2)
    # AUC: pairs (pos, neg) ranked correctly: 0.9 > all 5; 0.6 > 4 of 5; 0.4 > 3 of 5
    assert m["roc_auc"] == pytest.approx((5 + 4 + 3) / 15)
    assert m["majority_baseline"] == pytest.approx(5 / 8)
    assert math.isnan(binary_metrics(np.ones(3, int), np.ones(3) * 0.7)["roc_auc"])
    agg = aggregate([{"accuracy": 0.5}, {"accuracy": 0.7}], keys=["accuracy"])
    assert agg["accuracy"]["mean"] == pytest.approx(0.6)
    assert agg["accuracy"]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    one = aggregate([{"accuracy": 0.333}], keys=["accuracy"])["accuracy"]
    assert one["mean"] == 0.333 and one["n"] == 1 and math.isnan(one["std"])  # not 0
    w = wilcoxon_paired([0.6, 0.7, 0.8, 0.65, 0.75, 0.9], [0.5, 0.6, 0.6, 0.6, 0.7, 0.8])
    assert w["p_value"] == pytest.approx(0.03125) and w["mean_difference"] > 0
    assert "undefined" in wilcoxon_paired([0.5, 0.5], [0.5, 0.5])["note"]


def test_confidence_intervals_of_paired_differences():
    from scipy import stats

    from emotionkd.metrics import confidence_interval

    d = [0.1, 0.3, 0.2, 0.5]
    lo, hi, how = confidence_interval(d)
    assert (lo, hi) == pytest.approx(stats.t.interval(0.95, 3, np.mean(d), stats.sem(d)))
    assert how == "Student t over test sets (cluster-robust)"
    # clusters of unequal size: the mean weights every difference, the units are the clusters
    lo, hi, _ = confidence_interval([0.1, 0.2, 0.6], [0, 0, 1])
    assert lo < np.mean([0.1, 0.2, 0.6]) < hi
    lo, hi, how = confidence_interval(d, method="bca", n_boot=2000)
    assert lo < np.mean(d) < hi and how == "BCa bootstrap"
    # every test set the same difference: BCa is undefined, the percentile interval says so
    lo, hi, how = confidence_interval([0.1, 0.1, 0.1], method="bca")
    assert (lo, hi) == pytest.approx((0.1, 0.1)) and "BCa undefined" in how
    assert confidence_interval([0.1, 0.1, 0.1])[:2] == pytest.approx((0.1, 0.1))
    assert all(math.isnan(x) for x in confidence_interval([0.1])[:2])
    with pytest.raises(ValueError, match="method must be one of"):
        confidence_interval(d, method="normal")


def test_the_t_interval_covers_at_four_test_sets():
    """The reason it is the default: at 4 test sets the percentile bootstrap covers about
    80 % (studies/ci_coverage.py), Student's t near 95 %."""
    from emotionkd.metrics import confidence_interval

    rng = np.random.default_rng(1)
    hits = {"t": 0, "percentile": 0}
    for k in range(300):
        d = rng.normal(0.05, 0.1, size=4)
        for m in hits:
            lo, hi, _ = confidence_interval(d, method=m, n_boot=1000, seed=k)
            hits[m] += lo <= 0.05 <= hi
    assert 0.91 <= hits["t"] / 300 <= 0.99
    assert hits["percentile"] / 300 < 0.88
