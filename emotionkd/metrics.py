"""Classification metrics and statistics for reports (scikit-learn and scipy).

Binary tasks (high/low): accuracy, macro-F1, F1 of the positive (high) class, balanced
accuracy, ROC-AUC; the class balance and the majority-class baseline; aggregation over folds
(mean ± SD) and pooled over all test windows; a paired Wilcoxon signed-rank test across folds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

METRICS = ("accuracy", "macro_f1", "f1_high", "balanced_accuracy", "roc_auc")


def binary_metrics(y: Sequence[int] | np.ndarray, p_high: Sequence[float] | np.ndarray,
                   threshold: float = 0.5) -> dict[str, float]:
    """Metrics of predicted probabilities of the high class against labels (0/1).

    ROC-AUC is NaN when the labels hold a single class (it is undefined there) or a
    probability is not finite (a diverged model).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        roc_auc_score,
    )

    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p_high, dtype=np.float64)
    pred = (p >= threshold).astype(np.int64)
    n = len(y)
    high = int(y.sum())
    out: dict[str, float] = {
        "n": float(n),
        "accuracy": float(accuracy_score(y, pred)) if n else math.nan,
        "macro_f1": float(f1_score(y, pred, average="macro", labels=[0, 1], zero_division=0)),
        "f1_high": float(f1_score(y, pred, pos_label=1, average="binary", zero_division=0)),
        "balanced_accuracy": _balanced(y, pred, balanced_accuracy_score),
        "roc_auc": (float(roc_auc_score(y, p)) if 0 < high < n and np.isfinite(p).all()
                    else math.nan),
        "high_fraction": high / n if n else math.nan,
        "majority_baseline": max(high, n - high) / n if n else math.nan,
    }
    return out


def _balanced(y: np.ndarray, pred: np.ndarray,
              fn: Callable[[np.ndarray, np.ndarray], float]) -> float:
    if len(y) == 0:
        return math.nan
    if len(np.unique(y)) < 2:  # sklearn warns and averages over present classes only
        return float((pred == y).mean())
    return float(fn(y, pred))


def aggregate(per_fold: Sequence[dict[str, float]], keys: Sequence[str] = METRICS
              ) -> dict[str, dict[str, float]]:
    """Mean, SD (ddof=1) and count over folds for each metric (NaNs skipped); the SD of one
    value is NaN (not 0: one fold shows no spread), and reports print it as n/a."""
    out: dict[str, dict[str, float]] = {}
    for k in keys:
        vals = np.array([f[k] for f in per_fold if k in f and not math.isnan(f[k])], dtype=float)
        out[k] = {
            "mean": float(vals.mean()) if len(vals) else math.nan,
            "std": float(vals.std(ddof=1)) if len(vals) > 1 else math.nan,
            "n": int(len(vals)),
        }
    return out


def wilcoxon_paired(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Two-sided paired Wilcoxon signed-rank test of ``a`` against ``b`` over folds.

    Returns the statistic, p-value, number of pairs and the mean difference; with fewer than
    two non-tied pairs the test is undefined (p = NaN) and ``note`` says why.
    """
    from scipy.stats import wilcoxon

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    d = x - y
    res: dict[str, Any] = {"n": int(len(d)), "mean_difference": float(d.mean()) if len(d) else
                           math.nan, "statistic": math.nan, "p_value": math.nan, "note": ""}
    if int(np.sum(d != 0)) < 2:
        res["note"] = "fewer than two folds with a non-zero difference: test undefined"
        return res
    st = wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    res["statistic"], res["p_value"] = float(st.statistic), float(st.pvalue)
    if len(d) < 6:
        res["note"] = f"only {len(d)} folds: the smallest attainable p-value is large"
    return res


#: the interval methods of :func:`confidence_interval`
CI_METHODS = ("t", "bca", "percentile")
#: what reports say of each
CI_NAMES = {"t": "Student t over test sets (cluster-robust)", "bca": "BCa bootstrap",
            "percentile": "percentile bootstrap"}


def _clustered(diffs: Sequence[float], clusters: Sequence[Any] | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster: the sum and the count of its (non-NaN) differences."""
    d = np.asarray(diffs, dtype=float)
    keys = np.asarray(list(clusters) if clusters is not None else range(len(d)), dtype=object)
    ok = ~np.isnan(d)
    d, keys = d[ok], keys[ok]
    uniq = {k: i for i, k in enumerate(dict.fromkeys(keys.tolist()))}
    ids = np.array([uniq[k] for k in keys.tolist()], dtype=np.int64)
    return (np.bincount(ids, weights=d, minlength=len(uniq)),
            np.bincount(ids, minlength=len(uniq)).astype(float))


def _t_interval(sums: np.ndarray, counts: np.ndarray, level: float) -> tuple[float, float]:
    """Student's t interval of the mean of every difference with a cluster-robust standard
    error (each test set one unit, n - 1 degrees of freedom); with one difference per test
    set it is the textbook t interval."""
    from scipy.stats import t as student_t

    n, total = len(sums), counts.sum()
    mean = sums.sum() / total
    resid = sums - mean * counts
    se = math.sqrt(n / (n - 1) * float(np.sum(resid ** 2))) / total
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * se
    return float(mean - half), float(mean + half)


def _percentile(sums: np.ndarray, counts: np.ndarray, n_boot: int, level: float,
                rng: np.random.Generator) -> tuple[float, float]:
    pick = rng.integers(0, len(sums), size=(n_boot, len(sums)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [a, 1.0 - a])
    return float(lo), float(hi)


def _bca(sums: np.ndarray, counts: np.ndarray, n_boot: int, level: float,
         rng: np.random.Generator) -> tuple[float, float]:
    """scipy's BCa interval of the ratio sum/count over resampled clusters (NaN when scipy
    finds it degenerate)."""
    import warnings

    from scipy.stats import bootstrap

    def ratio(s: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
        return s.sum(axis=axis) / c.sum(axis=axis)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate data: NaN bounds, handled by the caller
        res = bootstrap((sums, counts), ratio, paired=True, vectorized=True, method="BCa",
                        n_resamples=n_boot, confidence_level=level, rng=rng)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def confidence_interval(diffs: Sequence[float], clusters: Sequence[Any] | None = None,
                        method: str = "t", level: float = 0.95, n_boot: int = 10000,
                        seed: int = 0) -> tuple[float, float, str]:
    """Confidence interval of the mean of paired differences: (low, high, how it was made).

    ``clusters`` groups differences that are not independent (the seeds of one fold share its
    test subjects): each cluster is one unit, so repeated seeds of a fold do not count as
    independent evidence. ``method``: "t" (the default: Student's t over the test sets with a
    cluster-robust standard error, whose coverage at 3-32 test sets is the nearest to the
    nominal level of the three, studies/ci_coverage.py, docs/evaluation.md), "bca" (scipy's
    bias-corrected and accelerated bootstrap over whole clusters) or "percentile" (the
    percentile bootstrap). Where BCa is degenerate (every test set has the same difference, or
    scipy cannot form it) the percentile interval is given and ``how`` says so. NaN
    differences are dropped; fewer than two clusters give (nan, nan)."""
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {CI_METHODS}, not {method!r}")
    sums, counts = _clustered(diffs, clusters)
    if len(sums) < 2:
        return math.nan, math.nan, "fewer than two test sets: no interval"
    if method == "t":
        lo, hi = _t_interval(sums, counts, level)
        return lo, hi, CI_NAMES["t"]
    rng = np.random.default_rng(seed)
    if method == "bca":
        means = sums / counts
        if np.ptp(means) <= 1e-12 * max(1.0, float(np.abs(means).max())):
            lo, hi = _percentile(sums, counts, n_boot, level, rng)
            return lo, hi, "percentile bootstrap (BCa undefined: every test set has the same " \
                           "difference)"
        lo, hi = _bca(sums, counts, n_boot, level, rng)
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi, CI_NAMES["bca"]
        lo, hi = _percentile(sums, counts, n_boot, level, rng)
        return lo, hi, "percentile bootstrap (BCa degenerate on these differences)"
    lo, hi = _percentile(sums, counts, n_boot, level, rng)
    return lo, hi, CI_NAMES["percentile"]


def bootstrap_ci(diffs: Sequence[float], clusters: Sequence[Any] | None = None,
                 n_boot: int = 10000, level: float = 0.95, seed: int = 0,
                 method: str = "percentile") -> tuple[float, float]:
    """The (low, high) of a bootstrap :func:`confidence_interval` (percentile or BCa)."""
    lo, hi, _ = confidence_interval(diffs, clusters, method, level, n_boot, seed)
    return lo, hi


def class_balance(labels: np.ndarray) -> dict[str, Any]:
    """Windows, high and low counts, and the majority class's share (the majority baseline)."""
    n = int(len(labels))
    high = int(np.sum(labels))
    return {"n": n, "high": high, "low": n - high,
            "majority": max(high, n - high) / n if n else float("nan")}
