"""What the commands print: summaries of stores, checkpoints and preprocessing runs, metric
and results tables, and where figures went. Every function takes plain results from the
library and prints them on the shared console; none computes anything."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotionkd.cli.console import console, err_console, print_warning

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.checkpoint import TrainedModel
    from emotionkd.evaluation.summary import Figures, RunSummary
    from emotionkd.predict import PredictionResult, Predictor
    from emotionkd.preprocess import PreprocessReport
    from emotionkd.training import FitResult


def preprocess_report(report: PreprocessReport) -> None:
    console.print(
        f"wrote [bold]{report.out}[/]: {report.n_subjects} subjects, {report.n_trials} trials, "
        f"{report.total_duration_s / 60:.1f} min of stimulus at {report.sampling_rate:g} Hz, "
        f"{len(report.eeg_channels)} EEG channels + GSR (µS) in {report.seconds:.1f} s"
    )
    if report.stray:
        shown = ", ".join(report.stray[:8]) + (" …" if len(report.stray) > 8 else "")
        console.print(f"ignored {len(report.stray)} other entr"
                      f"{'y' if len(report.stray) == 1 else 'ies'}: {shown}")
    if report.ignored:
        console.print(f"left out {len(report.ignored)} neutral-clip sessions (no ratings by "
                      "design)")
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)}:[/]")
        for job, reason in report.skipped:
            line = reason if reason.startswith(job) else f"{job}: {reason}"
            console.print(f"  {line}", highlight=False, soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# info


def checkpoint_summary(s: dict[str, Any]) -> None:
    """``info`` on a checkpoint (the summary of :func:`emotionkd.checkpoint.summary`)."""
    d, data = s["data"], s["config"]["data"]
    console.print(f"[bold]{s['path']}[/]  ({s['format']}, {s['created_with']}, {s['created']})")
    console.print(f"{s['role']}: {s['model']}, {s['parameters']:,} parameters")
    cfg = s["model_config"]
    knobs = ("d_model", "n_heads", "head_dim", "n_blocks", "ff_dim", "classifier_dim")
    console.print("model: " + ", ".join(f"{k}={cfg[k]}" for k in knobs if k in cfg))
    console.print(f"data: target {data.get('target')} (high = rating "
                  f"{'>=' if data.get('tie') == 'high' else '>'} {data.get('threshold')}), "
                  f"{data.get('window')}-s windows every {data.get('step')} s at "
                  f"{d.get('sampling_rate')} Hz, norm {data.get('norm')}, "
                  f"{len(d.get('eeg_channels') or [])} EEG channels, source {d.get('source')}"
                  + (" (synthetic data)" if d.get("synthetic") else ""))
    console.print(f"subjects: train {d.get('train_subjects')}, validation "
                  f"{d.get('val_subjects')}, test {d.get('test_subjects')}")
    console.print(_inputs_line(d["preprocessing"], d, data["norm"]), highlight=False)
    tr = s["training"]
    best = tr.get("best") or {}
    line = f"training: seed {tr.get('seed')}, {tr.get('epochs_run')} epochs, epoch kept " \
           f"{tr.get('best_epoch')}"
    if best:
        line += (f", validation loss {best.get('loss', float('nan')):.3f}, balanced accuracy "
                 f"{best.get('balanced_accuracy', float('nan')):.3f}")
    console.print(line)
    if "distillation" in s:
        from emotionkd.checkpoint import feedback_status

        distill = s["config"].get("distill", {})
        console.print(f"distillation: method {distill.get('method')}, feedback "
                      f"{feedback_status(s)}, teacher "
                      f"{(s['distillation'].get('teacher') or {}).get('path')}")


def _inputs_line(pre: dict[str, Any], d: dict[str, Any], norm: str) -> str:
    """How a model's training inputs were made, and what predict needs (for info)."""
    base = pre.get("baseline")
    secs = f"{pre['baseline_s']:g}-s " if pre.get("baseline_s") else ""
    what = {"subtract": f"each trial minus its {secs}pre-stimulus mean",
            "none": "absolute, pre-stimulus period dropped",
            "keep": "absolute, pre-stimulus period kept in the store"}.get(base, str(base))
    raw_fs = pre.get("raw_sampling_rate")
    rate = (f"{raw_fs:g} → {d.get('sampling_rate'):g} Hz" if raw_fs is not None
            else f"{d.get('sampling_rate')} Hz")
    stats = d.get("norm_stats") or {}
    shown = norm
    if norm == "train" and "gsr_mean" in stats:
        shown += f" (GSR mean {stats['gsr_mean']:.4g} µS, SD {stats['gsr_std']:.4g} µS)"
    if base == "subtract" and norm != "subject":
        need = "predict needs --baseline-seconds S (a rest period at the recording's start)"
    else:
        need = "predict needs no reference period"
    unit = str(pre.get("gsr_unit", "uS")).replace("uS", "µS")
    return f"inputs: GSR in {unit}, {what}; {rate}; norm {shown}; {need}"


def store_summary(s: dict[str, Any]) -> None:
    """``info`` on a store (the summary of :meth:`emotionkd.store.Store.summary`)."""
    from rich.table import Table

    hours = s["total_duration_s"] / 3600
    console.print(f"[bold]{s['path']}[/]  ({s['format']}, {s['created_with']})")
    kind = (" (synthetic: emotionkd's generated physiology, not recordings of people)"
            if s.get("synthetic") else "")
    console.print(f"source: {s['source']}{kind}   sampling rate: {s['sampling_rate']:g} Hz   "
                  f"GSR unit: {s['gsr_unit']}")
    console.print(f"EEG channels ({len(s['eeg_channels'])}): {', '.join(s['eeg_channels'])}")
    subj = s["subjects"]
    console.print(f"subjects ({len(subj)}): {', '.join(map(str, subj))}")
    console.print(f"trials: {s['n_trials']}   total duration: {hours:.2f} h")
    pre = s["preprocessing"]
    if pre:
        keys = ("reader", "baseline", "gsr_unit_option", "raw_sampling_rate")
        console.print("preprocessing: " + ", ".join(f"{k}={pre[k]}" for k in keys if k in pre))
    table = Table(title="ratings: distribution and class balance at threshold 5")
    for col in ("rating", "mean±sd", "range", "n per 1..9", ">5/=5/<5", "maj."):
        table.add_column(col, no_wrap=True)
    for name, r in s["ratings"].items():
        n = r["high_gt5"] + r["equal5"] + r["low_lt5"]
        maj = max(r["high_gt5"], n - r["high_gt5"]) / n
        table.add_row(name, f"{r['mean']:.1f}±{r['sd']:.1f}", f"{r['min']:.1f}–{r['max']:.1f}",
                      " ".join(map(str, r["histogram_1_to_9"])),
                      f"{r['high_gt5']}/{r['equal5']}/{r['low_lt5']}", f"{100 * maj:.1f}%")
    console.print(table)


# ---------------------------------------------------------------------------------------------
# training and evaluation


def metrics_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("split", "windows", "accuracy", "balanced acc.", "macro-F1", "majority"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for name, m in rows.items():
        if not m:
            continue
        table.add_row(name, str(int(m.get("n", 0))), f"{m['accuracy']:.3f}",
                      f"{m['balanced_accuracy']:.3f}", f"{m['macro_f1']:.3f}",
                      f"{m['majority_baseline']:.3f}" if "majority_baseline" in m else "")
    console.print(table)


def trained(run: TrainedModel, title: str) -> None:
    """The run of a training command: epochs, the epoch kept, validation and test metrics."""
    fr = run.fit
    bal = run.data.get("val_balance")
    val = {**fr.best, "n": bal["n"], "majority_baseline": bal["majority"]} \
        if fr.best and bal else {}
    metrics_table(title, {"validation": val, "test": run.test_metrics or {}})


def results_table(results: RunSummary) -> None:
    """Per target: fold runs, comparisons, and every model's metrics."""
    from rich.table import Table

    from emotionkd.evaluation.report import comparison_line, headroom_lines, mean_sd, row_label

    seeds = results.seeds or [0]
    for target, t in results.targets.items():
        console.print(f"[bold]{target}[/]: {t.folds_done} of {results.jobs_total} fold runs "
                      f"({results.folds_total} folds × {len(seeds)} seed"
                      f"{'s' if len(seeds) > 1 else ''}); majority baseline "
                      f"{100 * t.majority_baseline.mean:.1f} %")
        for c in t.comparisons.values():
            console.print("  " + comparison_line(c), highlight=False)
        if t.headroom is not None:
            for line in headroom_lines(t.headroom):
                console.print("  " + line, highlight=False)
        if t.single_class_folds:
            console.print(f"  {len(t.single_class_folds)} single-class test fold(s) left "
                          "out of fold means and tests (see the report)")
        table = Table(title=f"{target}: mean ± SD over test sets, and pooled over all test "
                            "windows")
        table.add_column("model", no_wrap=True)
        for col in ("bal. acc.", "pooled", "macro-F1", "pooled", "AUC"):
            table.add_column(col, justify="right", no_wrap=True)
        for label, m in t.models.items():
            cells = []
            for key in ("balanced_accuracy", "macro_f1", "roc_auc"):
                cells.append(mean_sd(m.mean_std.get(key), "±"))
                if key != "roc_auc":
                    p = m.pooled.get(key)
                    cells.append("–" if p is None or p != p else f"{100 * p:.1f}")
            table.add_row(row_label(label, m, "*") + (f" ({len(m.errors)} failed)"
                                                      if m.errors else ""), *cells)
        console.print(table)
        for label, m in t.models.items():
            if m.feedback_never_ran:
                print_warning(f"*{label}: feedback was configured but made 0 steps in every "
                              "fold (epochs ≤ feedback warm-up?), so it is the student "
                              "distilled without feedback; see report.md")


def exit_if_failed(results: RunSummary, run: Path) -> None:
    """End the command with one error line and a non-zero exit when a model failed in every
    fold (the report is written: it lists every failure), so that scripts and cluster jobs
    can tell such a run from a good one."""
    line = results.failure_line()
    if line is not None:
        from emotionkd.errors import TrainingError

        raise TrainingError(f"{run / 'report.md'}: {line}")


def figures(entry: Figures | None, run: Path) -> None:
    """One line: where a report's figures are, or why they were skipped."""
    if entry is None:
        return
    if entry.skipped:
        print_warning(entry.skipped)  # printed as it is (not read as markup)
    elif entry.files:
        console.print(f"figures: {run / 'figures'} ({len(entry.files)} PNGs, shown in "
                      "report.md)")


def learning_curves(checkpoint: Path, fit: FitResult, title: str, overwrite: bool) -> None:
    """Write the learning curves of a training run beside its checkpoint (CKPT.curves.png)."""
    from emotionkd.figures import PLOTS_HINT, curves_path, learning_curve_figure, plots_available

    png = curves_path(checkpoint)
    if not plots_available():
        print_warning(PLOTS_HINT)
    elif png.exists() and not overwrite:
        print_warning(f"{png}: exists, so the learning curves were not written; pass "
                      "--overwrite to replace it")
    elif learning_curve_figure(fit.history, png, title, best_epoch=fit.best_epoch) is not None:
        console.print(f"learning curves: {png}")


def after_training(run: TrainedModel, role: str, out: Path, title: str, overwrite: bool,
                   logs: dict[str, Any]) -> None:
    """The end of a training command: its metrics, learning curves and where the per-epoch
    log went."""
    trained(run, role)
    learning_curves(out, run.fit, title, overwrite)
    extra = f"; TensorBoard: {logs['tensorboard']}" if logs.get("tensorboard") else ""
    console.print(f"per-epoch log: {logs['history']}{extra}")


# ---------------------------------------------------------------------------------------------
# predict


def predictions(res: PredictionResult, title: str) -> None:
    """Per-window predictions (the first and last 20 of a long recording)."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("window", "start s", "p(high)", "label", "quality"):
        table.add_column(col, justify="right" if col in ("window", "start s", "p(high)")
                         else "left")
    rows = res.rows if len(res.rows) <= 40 else res.rows[:20] + res.rows[-20:]
    for r in rows:
        table.add_row(str(r["window"]), f"{r['start_s']:.1f}", f"{r['p_high']:.3f}",
                      r["label"], r["quality"])
    console.print(table)
    if len(res.rows) > 40:
        console.print(f"({len(res.rows) - 40} windows not shown; use --out to save all)")


def prediction_summary(res: PredictionResult, predictor: Predictor, out: Path | None,
                       stderr: bool = False) -> None:
    """The one-line summary of a prediction (on stderr when the rows went to stdout)."""
    sm = res.summary
    if sm["reference_s"]:
        ref = (f"; reference: first {sm['reference_s']:g} s (mean "
               f"{sm['reference_mean_us']:.3g} µS) subtracted")
    else:
        ref = ""
    if sm["usable_windows"]:
        verdict = (f"high {sm['target']} in {100 * sm['fraction_high']:.0f} % of "
                   f"{sm['usable_windows']} usable windows (mean p {sm['mean_p_high']:.2f})")
    else:
        verdict = "no usable windows: every window is flagged, nothing to summarise"
    (err_console if stderr else console).print(
        f"{sm['windows']} windows of {predictor.meta.window_s:g} s from {sm['duration_s']:.0f} s "
        f"of {sm['format']} '{sm['channel']}' ({sm['file_unit']} → µS, {sm['recording_fs']:g} → "
        f"{sm['model_fs']:g} Hz{ref}); {verdict}; {sm['flagged']} flagged"
        + (f"; wrote {out}" if out is not None else ""))
