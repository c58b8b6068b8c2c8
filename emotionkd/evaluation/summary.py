"""Statistics of an evaluation run as typed results: per-model summaries over folds and
seeds, pooled metrics, paired comparisons with confidence intervals and Wilcoxon
tests. ``results.json`` is :meth:`RunSummary.to_dict` and :meth:`RunSummary.from_dict` reads
it back; the command line, the figures and the model card read these classes.

Single-class test folds (balanced accuracy is trivially 1 for a constant predictor there) are
flagged and left out of fold means and paired comparisons; pooled metrics use every test
window. Seeds of one fold share its test set: fold means average each test set over its
seeds, and the confidence intervals take each test set as one unit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emotionkd.distill.methods import alone_method
from emotionkd.evaluation.headroom import CEILING, TEACHER_LABELS, Headroom, headroom
from emotionkd.metrics import (
    METRICS,
    aggregate,
    binary_metrics,
    confidence_interval,
    wilcoxon_paired,
)

#: metrics the paired comparisons are made on (the first leads the reports)
COMPARED_METRICS = ("balanced_accuracy", "macro_f1", "accuracy")


@dataclass
class Stat:
    """Mean ± SD (ddof 1) of a metric over ``n`` test sets."""

    mean: float
    std: float
    n: int


@dataclass
class FoldError:
    fold: int
    seed: int
    error: str


@dataclass
class SingleClassFold:
    fold: int
    seed: int
    test_subjects: list[int] | None


@dataclass
class ModelSummary:
    """One model's metrics over a run's folds and seeds (the ratings, or in ``latent`` the
    latent truth of synthetic data)."""

    folds: int
    test_sets: int
    single_class_folds: int
    mean_std: dict[str, Stat]
    per_fold: dict[str, list[float]]
    per_seed: dict[str, dict[str, float]]
    seed_sd: dict[str, float]
    pooled: dict[str, float]
    errors: list[FoldError] | None = None
    latent: ModelSummary | None = None
    #: feedback students: the feedback steps of all their folds (0: feedback never ran)
    feedback_steps: int | None = None

    @property
    def feedback_never_ran(self) -> bool:
        """A feedback student whose feedback made no step in any fold (the row is a
        student distilled without feedback)."""
        return self.feedback_steps == 0 and self.folds + self.single_class_folds > 0

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("errors", "latent")}
        if self.errors is not None:
            out["errors"] = [asdict(e) for e in self.errors]
        if self.latent is not None:
            out["latent"] = self.latent.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSummary:
        return cls(d["folds"], d["test_sets"], d["single_class_folds"],
                   {k: Stat(**v) for k, v in d["mean_std"].items()}, d["per_fold"],
                   d["per_seed"], d["seed_sd"], d["pooled"],
                   None if "errors" not in d else [FoldError(**e) for e in d["errors"]],
                   None if "latent" not in d else cls.from_dict(d["latent"]),
                   d.get("feedback_steps"))


@dataclass
class Difference:
    """Model a minus model b in one metric over the (fold, seed) pairs both have."""

    mean_difference: float
    ci_low: float
    ci_high: float
    pairs: int
    test_sets: int
    wins: int
    losses: int
    p_value: float
    statistic: float
    note: str
    #: how the interval was made (runs summarised before it was recorded: the percentile
    #: bootstrap)
    ci_method: str = "percentile bootstrap"


@dataclass
class Comparison:
    """A paired comparison of two report rows, per metric (and against the latent truth)."""

    a: str
    b: str
    metrics: dict[str, Difference]
    latent: dict[str, Difference] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"a": self.a, "b": self.b, **{k: asdict(v) for k, v in self.metrics.items()}}
        if self.latent is not None:
            out["latent"] = {k: asdict(v) for k, v in self.latent.items()}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        metrics = {k: Difference(**v) for k, v in d.items() if k not in ("a", "b", "latent")}
        latent = {k: Difference(**v) for k, v in d["latent"].items()} if "latent" in d else None
        return cls(d["a"], d["b"], metrics, latent)


@dataclass
class MajorityBaseline:
    """The majority class's share of the test windows, per fold run and on average."""

    mean: float
    per_fold: list[float]


@dataclass
class TargetSummary:
    """Everything a report says about one target."""

    folds_done: int
    fold_errors: list[FoldError]
    single_class_folds: list[SingleClassFold]
    majority_baseline: MajorityBaseline
    test_windows: int
    test_high_fraction: float
    models: dict[str, ModelSummary]
    comparisons: dict[str, Comparison]
    latent_truth: bool
    seconds: float
    headroom: Headroom | None = None

    def failed_everywhere(self) -> list[str]:
        """The models that failed in every fold run of this target (their own error, or the
        fold's): a run whose models all did so produced no result at all."""
        if not self.folds_done:
            return []
        return [label for label, m in self.models.items()
                if len(m.errors or []) + len(self.fold_errors) >= self.folds_done]

    def first_error(self, label: str) -> str:
        """The first failure of ``label`` (its own, else the fold's), for a one-line message."""
        errs = [*(self.models[label].errors or []), *self.fold_errors]
        return errs[0].error if errs else ""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["models"] = {k: m.to_dict() for k, m in self.models.items()}
        out["comparisons"] = {k: c.to_dict() for k, c in self.comparisons.items()}
        if self.headroom is None:
            out.pop("headroom")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetSummary:
        return cls(d["folds_done"], [FoldError(**e) for e in d["fold_errors"]],
                   [SingleClassFold(**s) for s in d["single_class_folds"]],
                   MajorityBaseline(**d["majority_baseline"]), d["test_windows"],
                   d["test_high_fraction"],
                   {k: ModelSummary.from_dict(m) for k, m in d["models"].items()},
                   {k: Comparison.from_dict(c) for k, c in d["comparisons"].items()},
                   d["latent_truth"], d["seconds"],
                   Headroom.from_dict(d["headroom"]) if d.get("headroom") else None)


@dataclass
class Figures:
    """The report's figures: files relative to the run folder, or why they were skipped."""

    files: list[str] = field(default_factory=list)
    skipped: str | None = None


@dataclass
class RunSummary:
    """An evaluation run's results (``results.json``)."""

    protocol: str
    k: int
    folds_total: int
    seeds: list[int]
    jobs_total: int
    targets: dict[str, TargetSummary]
    config: dict[str, Any]
    versions: dict[str, str]
    store: str
    figures: Figures | None = None
    #: where the run came from (store digest, source, preprocessing, command lines); None in
    #: runs written before it was recorded
    provenance: dict[str, Any] | None = None

    def failure_line(self) -> str | None:
        """One line naming the models that failed in every fold (per target) and the first
        error, or None when every model has a result somewhere; the commands that report a
        run exit non-zero with it."""
        parts, first = [], ""
        for target, t in self.targets.items():
            failed = t.failed_everywhere()
            if failed:
                parts.append(f"{', '.join(failed)} ({target})")
                first = first or t.first_error(failed[0])
        if not parts:
            return None
        first = " ".join(first.split())
        first = first if len(first) <= 200 else first[:197] + "..."
        return f"failed in every fold: {'; '.join(parts)}; the first error: {first}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["targets"] = {k: t.to_dict() for k, t in self.targets.items()}
        for key in ("figures", "provenance"):
            if getattr(self, key) is None:
                out.pop(key)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        fig = d.get("figures")
        return cls(d["protocol"], d["k"], d["folds_total"], d["seeds"], d["jobs_total"],
                   {k: TargetSummary.from_dict(t) for k, t in d["targets"].items()},
                   d["config"], d["versions"], d["store"],
                   None if fig is None else Figures(**fig), d.get("provenance"))


# ---------------------------------------------------------------------------------------------
# the statistics


def _test_set_key(f: dict[str, Any]) -> str:
    """Identity of a fold's test set: seeds of one LOSO fold share it (and are clustered)."""
    fold = f["fold"]
    return json.dumps([fold.get("test_subjects"), fold.get("test_trials")])


def _pooled(folds: list[dict], label: str, key: str) -> dict[str, float]:
    """Metrics over all test windows of ``folds`` at once (labels from ``key``)."""
    ys = [np.asarray(f[key]) for f in folds if key in f and "p_high" in f["models"][label]]
    ps = [np.asarray(f["models"][label]["p_high"]) for f in folds
          if key in f and "p_high" in f["models"][label]]
    return binary_metrics(np.concatenate(ys), np.concatenate(ps)) if ys else {}


def _mean_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) if any(
        not math.isnan(r[k]) for r in rows) else math.nan for k in METRICS}


def summarise_model(units: list[dict], label: str, metrics_key: str = "metrics",
                    labels_key: str = "test_labels", single_key: str = "single_class"
                    ) -> ModelSummary:
    """Fold means (over the test sets, each averaged over its seeds), per-seed means and
    pooled metrics of one model, for the labels in ``labels_key``."""
    done = [f for f in units if metrics_key in f.get("models", {}).get(label, {})]
    usable = [f for f in done if not f.get(single_key)]
    per_set: dict[str, list[dict[str, float]]] = {}
    per_seed: dict[int, list[dict[str, float]]] = {}
    for f in usable:
        m = f["models"][label][metrics_key]
        per_set.setdefault(_test_set_key(f), []).append(m)
        per_seed.setdefault(int(f.get("seed", 0)), []).append(m)
    set_means = [_mean_of(rows) for rows in per_set.values()]
    seed_means = {s: _mean_of(rows) for s, rows in sorted(per_seed.items())}
    return ModelSummary(
        folds=len(usable), test_sets=len(per_set), single_class_folds=len(done) - len(usable),
        mean_std={k: Stat(**v) for k, v in aggregate(set_means).items()},
        per_fold={m: [f["models"][label][metrics_key][m] for f in usable] for m in METRICS},
        per_seed={str(s): {m: v[m] for m in METRICS} for s, v in seed_means.items()},
        seed_sd={m: (float(np.std([v[m] for v in seed_means.values()], ddof=1))
                     if len(seed_means) > 1 else math.nan) for m in METRICS},
        pooled=_pooled(done, label, labels_key))


def paired_comparison(folds: list[dict], a: str, b: str, metric: str,
                      key: str = "metrics", single_key: str = "single_class",
                      n_boot: int = 10000, ci_method: str = "t") -> Difference:
    """Model ``a`` minus model ``b`` over the (fold, seed) pairs where both have results
    (single-class folds left out): the mean difference, its 95 % confidence interval (each
    test set one unit with all its seeds, so repeated seeds of one fold do not count as
    independent evidence; Student's t by default, the interval with the best coverage at 3-32
    test sets, :func:`emotionkd.metrics.confidence_interval`), and a Wilcoxon signed-rank
    test over the test sets' seed-averaged differences."""
    diffs, sets = [], []
    for f in folds:
        ma, mb = f.get("models", {}).get(a, {}), f.get("models", {}).get(b, {})
        if key in ma and key in mb and not f.get(single_key):
            d = ma[key][metric] - mb[key][metric]
            if not math.isnan(d):
                diffs.append(d)
                sets.append(_test_set_key(f))
    by_set: dict[str, list[float]] = {}
    for d, k in zip(diffs, sets):
        by_set.setdefault(k, []).append(d)
    set_means = [float(np.mean(v)) for v in by_set.values()]
    w = wilcoxon_paired(set_means, [0.0] * len(set_means))
    lo, hi, how = confidence_interval(diffs, sets, method=ci_method, n_boot=n_boot)
    return Difference(float(np.mean(diffs)) if diffs else math.nan, lo, hi, len(diffs),
                      len(by_set), int(sum(d > 0 for d in set_means)),
                      int(sum(d < 0 for d in set_means)), w["p_value"], w["statistic"],
                      w["note"], how)


def comparison_pairs(labels: Sequence[str]) -> list[tuple[str, str]]:
    """The paired comparisons a report makes, as (model, reference) label pairs: every
    distilled student against the student alone, and the feedback students against their
    method without feedback; the teacher against the student alone (what a teacher knows
    beyond GSR) and against its yardsticks; the student alone against its yardsticks; the
    NeuroKit2 and differential-entropy feature sets against the built-in ones."""
    have = set(labels)
    alone = f"student-{alone_method()}"
    pairs = [(lab, alone) for lab in labels if lab.startswith("student-")
             and lab not in (alone, CEILING, TEACHER_LABELS)]
    pairs += [(lab, lab.split("+")[0]) for lab in labels
              if lab.startswith("student-") and "+" in lab]
    pairs += [(y, alone) for y in (CEILING, TEACHER_LABELS)]
    pairs += [("teacher", ref) for ref in (alone, "baseline-eeg-features", "baseline-eeg-de",
                                           "baseline-shallowconvnet")]
    pairs += [(alone, ref) for ref in ("baseline-gsr-features", "baseline-gsr-neurokit")]
    pairs += [("baseline-gsr-neurokit", "baseline-gsr-features"),
              ("baseline-eeg-de", "baseline-eeg-features")]
    return [(a, b) for a, b in pairs if a in have and b in have]


def _comparisons(tf: list[dict], labels: Sequence[str], models: dict[str, ModelSummary],
                 latent: bool) -> dict[str, Comparison]:
    out = {}
    for a, b in comparison_pairs(labels):
        if models[a].folds and models[b].folds:
            c = Comparison(a, b, {m: paired_comparison(tf, a, b, m) for m in COMPARED_METRICS})
            if latent:
                c.latent = {m: paired_comparison(tf, a, b, m, "metrics_latent",
                                                 "single_class_latent")
                            for m in COMPARED_METRICS}
            out[f"{a} vs {b}"] = c
    return out


def summarise_target(tf: list[dict[str, Any]], labels: Sequence[str]) -> TargetSummary:
    """Per-model summaries, paired comparisons and the class balance of one target's fold
    results (every fold and seed)."""
    models: dict[str, ModelSummary] = {}
    for label in labels:
        m = summarise_model(tf, label)
        m.errors = [FoldError(f["fold"]["index"], f.get("seed", 0), f["models"][label]["error"])
                    for f in tf if "error" in f.get("models", {}).get(label, {})]
        steps = [f["models"][label].get("feedback_steps") for f in tf
                 if "metrics" in f.get("models", {}).get(label, {})]
        if "+feedback" in label and steps and all(isinstance(x, int) for x in steps):
            m.feedback_steps = int(sum(steps))
        if any("metrics_latent" in f.get("models", {}).get(label, {}) for f in tf):
            m.latent = summarise_model(tf, label, "metrics_latent", "test_latent_labels",
                                       "single_class_latent")
        models[label] = m
    balance = [f["test_balance"] for f in tf if "test_balance" in f]
    maj = [b["majority"] for b in balance]
    latent = any(m.latent is not None for m in models.values())
    n = sum(b["n"] for b in balance)
    return TargetSummary(
        folds_done=len(tf),
        fold_errors=[FoldError(f["fold"]["index"], f.get("seed", 0), f["error"]) for f in tf
                     if "error" in f],
        single_class_folds=[SingleClassFold(f["fold"]["index"], f.get("seed", 0),
                                            f["fold"].get("test_subjects"))
                            for f in tf if f.get("single_class")],
        majority_baseline=MajorityBaseline(float(np.mean(maj)) if maj else math.nan, maj),
        test_windows=int(n),
        test_high_fraction=(float(sum(b["high"] for b in balance) / max(n, 1)) if balance
                            else math.nan),
        models=models, comparisons=_comparisons(tf, labels, models, latent),
        latent_truth=latent, seconds=float(sum(f.get("seconds", 0.0) for f in tf)),
        headroom=headroom(tf, list(labels), f"student-{alone_method()}",
                          CEILING if CEILING in labels else TEACHER_LABELS,
                          latent and CEILING in labels))
