"""Headroom and capture: how much better the student could get from better targets, and how
much of that each distillation method gets.

* **Headroom** = yardstick − none, where the yardstick is the student alone (the ``none``
  architecture and recipe) trained on better labels: on a synthetic store the latent truth
  (``student-ceiling``: the ceiling of what any target can give the student, judged against
  the latent truth); on real data the cross-fitted teacher's hard predictions
  (``student-teacher-labels``, judged against the ratings: what this teacher's labels would
  give a student when imitated plainly, an estimate, not a ceiling).
* **Capture** of a method = (method − none) / (yardstick − none), the share of the headroom
  it realises.

Both come with 95 % percentile-bootstrap intervals that resample test **subjects** (each with
all its seeds) and keep the (method, none, yardstick) triple of a subject together (paired).
The unit is a test subject in one seed: its balanced accuracy over its windows. The capture
is a ratio of the summed differences; when the headroom's interval holds 0 the headroom is
within noise and the capture is reported as undefined.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emotionkd.metrics import binary_metrics

#: the yardstick rows: the student alone trained on the latent truth (synthetic stores), and
#: on the cross-fitted teacher's hard predictions (real data)
CEILING, TEACHER_LABELS = "student-ceiling", "student-teacher-labels"
METRIC = "balanced_accuracy"
N_BOOT = 10000


@dataclass
class Capture:
    """One student row against the headroom: its gain over none and its share of the
    headroom (None where undefined), with intervals."""

    gain: float
    gain_ci: list[float]
    capture: float | None
    capture_ci: list[float] | None
    subjects: int


@dataclass
class Headroom:
    """The headroom of one target and every student's capture of it."""

    yardstick: str
    truth: str  # "latent truth" or "ratings"
    metric: str
    headroom: float
    headroom_ci: list[float]
    subjects: int
    units: int
    defined: bool
    captures: dict[str, Capture] = field(default_factory=dict)
    note: str = ""
    #: a feedback student against its method without feedback: [gain, CI low, CI high]
    feedback: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Headroom:
        caps = {k: Capture(**v) for k, v in d.get("captures", {}).items()}
        return cls(**{**d, "captures": caps})


def subject_units(folds: list[dict], labels_key: str) -> list[tuple[Any, dict[str, float]]]:
    """Per (fold, seed, test subject): the subject and every model's metric on its windows
    (a fold without per-window subjects is one unit keyed by its test set)."""
    out = []
    for f in folds:
        y = f.get(labels_key)
        if y is None or "error" in f:
            continue
        y = np.asarray(y)
        subs = np.asarray(f.get("test_window_subjects", [-1] * len(y)))
        key_all = str(f["fold"].get("test_subjects"))
        for s in np.unique(subs):
            rows = subs == s
            if len(np.unique(y[rows])) < 2:
                continue  # one class: balanced accuracy says nothing
            scores = {label: binary_metrics(y[rows], np.asarray(m["p_high"])[rows])[METRIC]
                      for label, m in f["models"].items() if "p_high" in m}
            out.append((int(s) if s >= 0 else key_all, scores))
    return out


def _clustered(units: list[tuple[Any, dict[str, float]]], a: str, b: str, ref: str | None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Per cluster (subject): the summed a − b, the summed ref − b and the unit count, over
    the units where every model involved has a finite metric."""
    sums: dict[Any, list[float]] = {}
    for key, m in units:
        need = [a, b] + ([ref] if ref else [])
        if any(k not in m or not math.isfinite(m[k]) for k in need):
            continue
        acc = sums.setdefault(key, [0.0, 0.0, 0.0])
        acc[0] += m[a] - m[b]
        acc[1] += (m[ref] - m[b]) if ref else 0.0
        acc[2] += 1.0
    arr = np.array(list(sums.values()), dtype=float).reshape(-1, 3)
    return arr[:, 0], arr[:, 1], arr[:, 2], int(arr[:, 2].sum())


def _weights(n_clusters: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot)


def _ci(samples: np.ndarray) -> list[float]:
    ok = samples[np.isfinite(samples)]
    return [float(np.quantile(ok, 0.025)), float(np.quantile(ok, 0.975))] if len(ok) else \
        [math.nan, math.nan]


def mean_difference(units: list[tuple[Any, dict[str, float]]], a: str, b: str
                    ) -> tuple[float, list[float], int]:
    """Mean a − b over units, its subject-bootstrap interval and the number of subjects."""
    d, _, n, _ = _clustered(units, a, b, None)
    if len(d) < 2:
        return (float(d.sum() / n.sum()) if len(d) else math.nan), [math.nan, math.nan], len(d)
    w = _weights(len(d))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(d.sum() / n.sum()), _ci((w @ d) / (w @ n)), len(d)


def headroom(folds: list[dict], labels: list[str], alone: str, yardstick: str,
             latent: bool) -> Headroom | None:
    """The headroom (yardstick − alone) and every other student's capture of it."""
    if yardstick not in labels or alone not in labels:
        return None
    units = subject_units(folds, "test_latent_labels" if latent else "test_labels")
    h, h_ci, n_subj = mean_difference(units, yardstick, alone)
    defined = bool(h_ci[0] > 0)
    out = Headroom(yardstick, "latent truth" if latent else "ratings", METRIC, h, h_ci, n_subj,
                   len(units), defined)
    if not defined:
        out.note = ("the headroom is within noise (its interval reaches 0 or below): no "
                    "capture can be measured here")
    for label in labels:
        if not label.startswith("student-") or label in (alone, yardstick):
            continue
        d, r, n, _ = _clustered(units, label, alone, yardstick)
        if len(d) < 2:
            continue
        w = _weights(len(d))
        with np.errstate(invalid="ignore", divide="ignore"):
            gain_ci = _ci((w @ d) / (w @ n))
            cap, cap_ci = None, None
            if defined:
                cap, cap_ci = float(d.sum() / r.sum()), _ci((w @ d) / (w @ r))
        out.captures[label] = Capture(float(d.sum() / n.sum()), gain_ci, cap, cap_ci, len(d))
        base = label.split("+")[0]
        if "+" in label and base in labels:
            g, ci, _ = mean_difference(units, label, base)
            out.feedback[label] = [g, *ci]
    return out
