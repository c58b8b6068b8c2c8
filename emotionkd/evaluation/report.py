"""The human-readable results of an evaluation run: ``report.md`` (effect sizes with
confidence intervals first, then every model's metrics, fold means and pooled side by side)
and ``results.csv``, made from a :class:`~emotionkd.evaluation.summary.RunSummary`."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from typing import Any

from emotionkd.datasets.records import eeg_channel_names
from emotionkd.evaluation.headroom import Headroom
from emotionkd.evaluation.plan import EvaluationPlan
from emotionkd.evaluation.summary import (
    Comparison,
    ModelSummary,
    RunSummary,
    Stat,
    TargetSummary,
)
from emotionkd.metrics import METRICS
from emotionkd.windows import SHAPING_PREPROCESSING


def describe_normalisation(norm: str) -> str:
    if norm == "subject":
        return ("per subject and channel z-score from each subject's own signal (no labels); "
                "for held-out test subjects this is transductive, unsupervised calibration")
    if norm == "train":
        return ("z-score with statistics pooled over each fold's training-side trials only "
                "(strict: no test trial's signal, in every protocol)")
    return "none"


def _pp(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:+.1f}"


def mean_sd(v: Stat | None, sep: str = " ± ") -> str:
    """'73.1 ± 6.4' in percent; 'n/a' for the SD of one test set (no spread to show), '–'
    without a value."""
    if v is None or v.n == 0 or v.mean != v.mean:
        return "–"
    sd = "n/a" if v.n < 2 or v.std != v.std else f"{100 * v.std:.1f}"
    return f"{100 * v.mean:.1f}{sep}{sd}"


def row_label(label: str, m: ModelSummary, flag: str = " (0 feedback steps)") -> str:
    """A report row's name, flagged when it is a feedback student whose feedback never ran."""
    return label + (flag if m.feedback_never_ran else "")


def _p(p: float) -> str:
    return "n/a" if p != p else f"{p:.3g}"


def comparison_line(c: Comparison, metric: str = "balanced_accuracy",
                    latent: bool = False) -> str:
    """'a − b: +8.1 pp [95 % CI +4.2, +12.0], better on 7 of 8 test sets, Wilcoxon p = 0.02
    (8 test sets × 3 seeds)' for a paired comparison."""
    r = (c.latent if latent and c.latent else c.metrics)[metric]
    seeds = r.pairs / r.test_sets if r.test_sets else 0
    reps = f" × {seeds:g} seeds" if seeds > 1 else ""
    return (f"{c.a} − {c.b}: {_pp(r.mean_difference)} pp "
            f"[95 % CI {_pp(r.ci_low)}, {_pp(r.ci_high)}], better on {r.wins} of "
            f"{r.test_sets} test sets, Wilcoxon p = {_p(r.p_value)} "
            f"({r.test_sets} test sets{reps})")


def _by_size(x: float | None) -> str:
    return "by the model size's recipe" if x is None else f"{x:g}"


def _sides(cross: dict[str, Any] | None) -> list[str]:
    """The report's lines on where each side of a cross-dataset run came from."""
    if not cross:
        return []

    def line(name: str, x: dict[str, Any]) -> str:
        pre = x.get("preprocessing", {})
        return (f"* {name}: dataset **{x['dataset']}**, `{x['store']}`, subjects "
                f"{', '.join(map(str, x['subjects']))} ({pre.get('reader', 'reader unknown')}, "
                f"baseline {pre.get('baseline', '?')} {pre.get('baseline_s', '?')} s, "
                f"{x['sampling_rate']:g} Hz)")

    return [line("training side", cross["train"]), line("test side", cross["test"]),
            f"* EEG channels (both stores): {', '.join(cross['eeg_channels'])}"]


def _threshold_text(threshold: float | None, used: dict[str, float]) -> str:
    """The threshold as set, or by default the scale midpoints the folds used."""
    if threshold is not None:
        return f"{threshold:g}"
    values = sorted(set(used.values()))
    if not values:
        return "the midpoint of its scale"
    if len(values) == 1:
        return f"{values[0]:g} (the midpoint of the rating's scale)"
    return ("the midpoint of its scale (" + ", ".join(f"{t} {v:g}" for t, v in used.items())
            + ")")


def _header(summary: RunSummary, plan: EvaluationPlan, store: str,
            cross: dict[str, Any] | None = None,
            thresholds: dict[str, float] | None = None) -> list[str]:
    """The report's list of what the run did."""
    data, tr, k = plan.config.data, plan.config.train, plan.k
    seeds = summary.seeds
    proto = {"loso": "leave-one-subject-out", "kfold": f"{k}-fold over subjects",
             "subject-dependent": f"subject-dependent, {k} folds over each subject's "
                                  "trials",
             "cross-dataset": "cross-dataset: every model trains on the training store's "
                              "subjects and is tested on every subject of the test "
                              "store"}[plan.protocol]
    channels = eeg_channel_names(data.eeg_channels)
    quiz = (f"; feedback quiz: {int(plan.quiz_fraction * 100)} % of the remaining training "
            "trials, held out of every model's training windows so that all models of a fold "
            "learn from the same labelled windows" if plan.uses_quiz else "")
    return [
        "# emotionkd evaluation report", "",
        *_provenance_lines(summary, store), *_sides(cross),
        f"* protocol: {proto} ({summary.folds_total} folds × {len(seeds)} seed"
        f"{'s' if len(seeds) > 1 else ''}: {', '.join(map(str, seeds))}; folds are redrawn per "
        "seed where the protocol shuffles); the teacher is retrained in every fold; "
        "early-stopping validation and feedback quiz data come from the training side only",
        f"* normalisation: {describe_normalisation(data.norm)}",
        f"* labels: high = rating {'>=' if data.tie == 'high' else '>'} "
        f"{_threshold_text(data.threshold, thresholds or {})} (tie rule '{data.tie}')",
        f"* windows: {data.window} s every {data.step} s; EEG channels: "
        f"{'all in the store' if not channels else len(channels)}",
        f"* training: epochs ≤ {tr.epochs}, lr {_by_size(tr.lr)}, batch "
        f"{_by_size(tr.batch_size)}, size {plan.config.model.size}, patience "
        f"{tr.patience}, monitor {tr.monitor}, class weights {tr.class_weight}; fold seed = "
        "seed·1000 + fold",
        f"* validation: {int(plan.val_fraction * 100)} % of training subjects (trials in the "
        f"subject-dependent protocol){quiz}",
        "* statistics: differences are paired over (fold, seed); 95 % confidence intervals "
        "by Student's t over the test sets (each test set one unit with its seeds, a "
        "cluster-robust standard error, n − 1 degrees of freedom: of the intervals measured, "
        "the one whose coverage is nearest 95 % at 3–32 test sets; docs/evaluation.md); "
        "Wilcoxon signed-rank tests over the test sets' seed-averaged differences; SDs of a "
        "single test set are n/a; folds whose test windows hold one class are left out of "
        "fold means and tests (pooled metrics use every window)",
        "* versions: " + ", ".join(f"{k} {v}" for k, v in summary.versions.items()),
        "",
    ]


def _provenance_lines(summary: RunSummary, store: str) -> list[str]:
    """Where the run came from: the store (path, content digest, source), its preprocessing
    and the command lines (runs written before they were recorded show the path only)."""
    prov = summary.provenance
    if not prov:
        return [f"* store: `{store}`"]
    dig = prov["store_digest"]
    lines = [f"* store: `{store}` (content digest {dig['algorithm']} `{dig['value'][:16]}`, "
             f"{dig['bytes'] / 1e6:.1f} MB of data; source {prov.get('store_source')})"]
    pre = prov.get("preprocessing") or {}
    shown = [f"{k}={pre[k]}" for k in SHAPING_PREPROCESSING if k in pre]
    if shown:
        lines.append("* preprocessing: " + ", ".join(shown))
    if prov.get("command"):
        lines.append(f"* command: `{prov['command']}`")
    lines += [f"* fold job: `{c}`" for c in prov.get("fold_commands") or []]
    return lines


def _effect_sizes(t: TargetSummary) -> list[str]:
    lines = ["### Effect sizes", "",
             "| comparison | balanced accuracy difference [95 % CI] | test sets "
             "better | Wilcoxon p | macro-F1 difference [95 % CI] |", "|---|---|---|---|---|"]
    for c in t.comparisons.values():
        r, f1 = c.metrics["balanced_accuracy"], c.metrics["macro_f1"]
        lines.append(f"| {c.a} − {c.b} | {_pp(r.mean_difference)} pp [{_pp(r.ci_low)}, "
                     f"{_pp(r.ci_high)}] | {r.wins} of {r.test_sets} | {_p(r.p_value)} | "
                     f"{_pp(f1.mean_difference)} pp [{_pp(f1.ci_low)}, {_pp(f1.ci_high)}] |")
    lines.append("")
    if t.latent_truth:
        lines += ["Against the latent truth (synthetic data):", "",
                  "| comparison | balanced accuracy difference [95 % CI] | test sets "
                  "better | Wilcoxon p |", "|---|---|---|---|"]
        for c in t.comparisons.values():
            r = c.latent["balanced_accuracy"] if c.latent else c.metrics["balanced_accuracy"]
            lines.append(f"| {c.a} − {c.b} | {_pp(r.mean_difference)} pp [{_pp(r.ci_low)}, "
                         f"{_pp(r.ci_high)}] | {r.wins} of {r.test_sets} | {_p(r.p_value)} |")
        lines.append("")
    return lines


#: (deep model, classical yardstick it must not trail): a deep model below the regression on
#: simple features has not learnt what those features hold (docs/method.md)
YARDSTICKS = (("teacher", "baseline-eeg-features"), ("teacher", "baseline-eeg-de"),
              ("student-none", "baseline-gsr-features"))


def diagnostics(t: TargetSummary) -> list[str]:
    """Warnings for a deep model that trails its feature regression by more than the 95 %
    interval of the paired difference (against the ratings, and against the latent truth
    where there is one)."""
    out = []
    for c in t.comparisons.values():
        if (c.a, c.b) not in YARDSTICKS:
            continue
        for what, diffs in (("ratings", c.metrics), ("latent truth", c.latent)):
            r = (diffs or {}).get("balanced_accuracy")
            if r is not None and r.pairs > 1 and r.ci_high < 0:
                out.append(
                    f"**{c.a} trails {c.b}** against the {what}: {_pp(r.mean_difference)} pp "
                    f"[{_pp(r.ci_low)}, {_pp(r.ci_high)}]. The deep model has not learnt what "
                    "the simple features hold: compare its training cross-entropy with its "
                    "validation loss in the learning curves (memorisation of noisy labels), "
                    "and see docs/method.md, \"The teacher across world families\".")
    return out


def _feedback_notes(t: TargetSummary, plan: EvaluationPlan) -> list[str]:
    """A flag on every feedback student whose feedback never ran in any fold."""
    from emotionkd.checkpoint import feedback_outcome

    what = feedback_outcome(True, 0, plan.config.train.epochs,
                            plan.config.feedback.feedback_warmup)
    return [f"**{label}: feedback {what} in every fold**, so this row is the student "
            "distilled without feedback; give --epochs above --feedback-warmup." \
            for label, m in t.models.items() if m.feedback_never_ran] + \
        ([""] if any(m.feedback_never_ran for m in t.models.values()) else [])


def _target_section(target: str, t: TargetSummary, jobs: int, plan: EvaluationPlan
                    ) -> list[str]:
    lines = [f"## {target}", "",
             f"{t.folds_done} of {jobs} fold runs done, {t.test_windows} test windows, "
             f"{100 * t.test_high_fraction:.1f} % high; majority-class baseline (mean over "
             f"folds): {100 * t.majority_baseline.mean:.1f} %; compute time "
             f"{t.seconds / 60:.1f} min", ""]
    if t.single_class_folds:
        shown = ", ".join(f"fold {x.fold} (seed {x.seed}, subjects {x.test_subjects})"
                          for x in t.single_class_folds)
        lines += [f"**Single-class test folds, left out of fold means and paired tests:** "
                  f"{shown}.", ""]
    flags = diagnostics(t)
    if flags:
        lines += ["### Diagnostics", ""] + [f"* {x}" for x in flags] + [""]
    lines += _feedback_notes(t, plan)
    if t.comparisons:
        lines += _effect_sizes(t)
    if t.headroom is not None:
        lines += headroom_section(t.headroom)
    lines += ["### Models", "",
              "Mean ± SD over test sets (each averaged over its seeds) and, with equal "
              "weight, pooled over every test window:", ""]
    lines += _metrics_table(t.models, lambda m: m)
    if t.latent_truth:
        lines += ["Against the latent truth (synthetic data: the emotion the signals were "
                  "generated from, binarised like the ratings; no rating noise):", ""]
        lines += _metrics_table(t.models, lambda m: m.latent)
    errs = [(label, e) for label, m in t.models.items() for e in m.errors or []]
    if errs or t.fold_errors:
        lines += ["Failures:", ""]
        failed = t.failed_everywhere()
        if failed:
            lines += [f"**Failed in every fold: {', '.join(failed)}** (no result for "
                      f"{'it' if len(failed) == 1 else 'them'}).", ""]
        lines += [f"* fold {e.fold} (seed {e.seed}): {e.error}" for e in t.fold_errors]
        lines += [f"* {label}, fold {e.fold} (seed {e.seed}): {e.error}" for label, e in errs]
        lines.append("")
    return lines


def _ci_pp(ci: list[float] | None) -> str:
    return "n/a" if not ci else f"[{_pp(ci[0])}, {_pp(ci[1])}]"


def _share(x: float | None, ci: list[float] | None) -> str:
    if x is None or ci is None:
        return "undefined"
    return f"{100 * x:.0f} % [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def headroom_text(h: Headroom) -> str:
    """What the headroom row means, in one paragraph."""
    if h.truth == "latent truth":
        what = ("the student alone (same architecture and recipe) trained on the latent "
                "truth instead of the noisy ratings: the ceiling of what better targets can "
                "give this student, judged against the latent truth")
    else:
        what = ("the student alone (same architecture and recipe) trained on the cross-fitted "
                "teacher's hard predictions instead of the ratings, judged against the "
                "ratings: an estimate of what this teacher's labels are worth to the student, "
                "not a ceiling (no truth exists on real data; a negative value means the "
                "teacher's labels are worse targets than the ratings)")
    return (f"Headroom = {h.yardstick} − student-none, {what}. Capture = (method − none) / "
            "(headroom); 95 % intervals resample test subjects with all their seeds, paired "
            f"({h.subjects} subjects, {h.units} subject × seed units, {h.metric}).")


def headroom_section(h: Headroom) -> list[str]:
    """The report's headroom table: the headroom, then every student's gain and capture."""
    lines = ["### Headroom", "", headroom_text(h), "",
             f"headroom ({h.yardstick} − student-none, against the {h.truth}): "
             f"{_pp(h.headroom)} pp {_ci_pp(h.headroom_ci)}"
             + ("" if h.defined else f" — {h.note}"), "",
             "| student | gain over none [95 % CI] | capture of the headroom [95 % CI] |",
             "|---|---|---|"]
    for label, c in h.captures.items():
        lines.append(f"| {label} | {_pp(c.gain)} pp {_ci_pp(c.gain_ci)} | "
                     f"{_share(c.capture, c.capture_ci)} |")
    lines.append("")
    return lines + _feedback_lines(h) + ([""] if h.feedback else [])


def _feedback_lines(h: Headroom) -> list[str]:
    """What feedback adds to its method, on the same units."""
    return [f"* feedback: {label} − {label.split('+')[0]}: {_pp(g)} pp {_ci_pp([lo, hi])}"
            for label, (g, lo, hi) in h.feedback.items()]


def headroom_lines(h: Headroom) -> list[str]:
    """The headroom and each student's capture, one line each (the command's summary)."""
    out = [f"headroom ({h.yardstick} − student-none, {h.truth}): {_pp(h.headroom)} pp "
           f"{_ci_pp(h.headroom_ci)}" + ("" if h.defined else f" — {h.note}")]
    out += [f"{label}: gain {_pp(c.gain)} pp {_ci_pp(c.gain_ci)}, capture "
            f"{_share(c.capture, c.capture_ci)}" for label, c in h.captures.items()]
    return out + [x[2:] for x in _feedback_lines(h)]


def render_markdown(summary: RunSummary, plan: EvaluationPlan, store: str,
                    cross: dict[str, Any] | None = None,
                    thresholds: dict[str, float] | None = None) -> str:
    """The report of a run (without its figures section); ``cross``: the sides of a
    cross-dataset run (run.json's ``cross_dataset``); ``thresholds``: the one each target's
    folds used."""
    lines = _header(summary, plan, store, cross, thresholds)
    for target, t in summary.targets.items():
        lines += _target_section(target, t, summary.jobs_total, plan)
    return "\n".join(lines) + "\n"


def _metrics_table(models: dict[str, ModelSummary],
                   pick: Callable[[ModelSummary], ModelSummary | None]) -> list[str]:
    """Markdown rows: mean ± SD over test sets and pooled value of every metric."""
    lines = ["| model | folds | bal. acc. (folds) | bal. acc. (pooled) | macro-F1 (folds) | "
             "macro-F1 (pooled) | accuracy (folds) | accuracy (pooled) | ROC-AUC (folds) | "
             "seed SD (bal. acc.) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, m in models.items():
        part = pick(m)
        if part is None:
            continue

        def cell(k: str, ms: dict = part.mean_std) -> str:
            return mean_sd(ms.get(k))

        def pool(k: str, pooled: dict = part.pooled) -> str:
            v = pooled.get(k)
            return "–" if v is None or v != v else f"{100 * v:.1f}"

        sd = part.seed_sd.get("balanced_accuracy", math.nan)
        single = part.single_class_folds
        lines.append(f"| {row_label(label, m)} | {part.folds}"
                     f"{f' (+{single} single-class)' if single else ''}"
                     f" | {cell('balanced_accuracy')} | {pool('balanced_accuracy')} | "
                     f"{cell('macro_f1')} | {pool('macro_f1')} | {cell('accuracy')} | "
                     f"{pool('accuracy')} | {cell('roc_auc')} | "
                     f"{'–' if sd != sd else f'{100 * sd:.1f}'} |")
    return lines + [""]


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:.4f}"


def results_csv(summary: RunSummary) -> str:
    """``results.csv``: one row per target, labels (ratings or latent truth), model and
    metric, with the fold mean, SD, fold count and pooled value."""
    fh = io.StringIO(newline="")
    w = csv.writer(fh)
    w.writerow(["target", "labels", "model", "metric", "mean", "std", "folds", "pooled"])
    for target, t in summary.targets.items():
        for label, m in t.models.items():
            parts = [("rating", m)] + ([("latent", m.latent)] if m.latent else [])
            for which, part in parts:
                for metric in METRICS:
                    ms = part.mean_std.get(metric)
                    w.writerow([target, which, label, metric,
                                _fmt(ms.mean if ms else None), _fmt(ms.std if ms else None),
                                part.folds, _fmt(part.pooled.get(metric))])
        w.writerow([target, "rating", "majority-class", "accuracy",
                    _fmt(t.majority_baseline.mean), "", t.folds_done, ""])
    return fh.getvalue()
