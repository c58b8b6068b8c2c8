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
