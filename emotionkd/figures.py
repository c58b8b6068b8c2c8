"""Figures of evaluation runs and of single training runs (matplotlib: the ``plots`` extra).

* :func:`report_figures` draws, for every target of an evaluation run, up to five PNGs into
  ``RUN/figures/<target>-<kind>.png`` (:data:`FIGURE_KINDS`): per-fold scores with the
  majority-class baseline, the paired differences with their 95 % CIs, pooled confusion
  matrices, pooled ROC curves and the learning curves of the deep models.
* :func:`learning_curve_figure` draws one training run's per-epoch history (``train-teacher``
  and ``distill`` write it beside the checkpoint as ``<stem>.curves.png``).

matplotlib is optional and imported only inside these functions. Figures are drawn on a bare
:class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no display, the caller's
backend and pyplot state untouched) in matplotlib's default style, so a figure depends only on
its data; they are written atomically through :mod:`emotionkd.outputs`. Without matplotlib
:func:`plots_available` is False and the callers say :data:`PLOTS_HINT` once.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from emotionkd.evaluation.summary import Figures, RunSummary, TargetSummary

#: figure kinds of an evaluation report, in report order, with their captions
FIGURE_KINDS: dict[str, str] = {
    "folds": "balanced accuracy and accuracy per test fold and seed, with the majority-class "
             "baseline",
    "differences": "paired differences in balanced accuracy with their 95 % confidence "
                   "intervals",
    "confusion": "confusion matrices pooled over every test window (threshold 0.5)",
    "roc": "ROC curves pooled over every test window",
    "curves": "learning curves (training cross-entropy, validation loss and balanced accuracy "
              "per epoch; one thin line per fold and seed)",
}
PLOTS_HINT = "figures skipped: install the plots extra (pip install 'emotionkd[plots]')"
_DPI = 110


def plots_available() -> bool:
    """Whether matplotlib can be imported (the ``plots`` extra is installed)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def curves_path(checkpoint: str | os.PathLike) -> Path:
    """Where the learning curves of a checkpoint go: ``t.pt`` → ``t.curves.png``."""
    p = Path(checkpoint)
    return p.with_name(f"{p.stem}.curves.png")


# ---------------------------------------------------------------------------------------------
# drawing helpers


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """matplotlib's default style (not the user's matplotlibrc) for the duration."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path, *, overwrite: bool = True, lock: bool = False,
          option: str = "--out") -> Path:
    """Write ``fig`` as a PNG atomically (no software tag, so bytes depend on the data only)."""
    from emotionkd.outputs import atomic_output, make_folder

    make_folder(path.parent, option=option)
    with atomic_output(path, overwrite=overwrite, lock=lock, check=not overwrite,
                       option=option) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI, metadata={"Software": None})
    return path


def _color(i: int) -> str:
    return f"C{i % 10}"


def _marker(i: int) -> str:
    return "osD^v<>ph*"[(i // 10) % 10]


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


# ---------------------------------------------------------------------------------------------
# one training run


def learning_curve_figure(history: Sequence[dict[str, float]], out_png: str | os.PathLike,
                          title: str, *, best_epoch: int | None = None,
                          overwrite: bool = True) -> Path | None:
    """Plot one training run's per-epoch ``history`` (``train_*``/``val_*`` keys, as in
    :class:`~emotionkd.training.FitResult`) into ``out_png``: losses, validation metrics and,
    for distillation, the loss terms; ``best_epoch`` is marked. Returns the path, or None
    when matplotlib is missing or the history is empty."""
    if not history or not plots_available():
        return None
    hist = list(history)
    epochs = [int(h.get("epoch", i + 1)) for i, h in enumerate(hist)]
    keys = list(dict.fromkeys(k for h in hist for k in h))

    def series(key: str) -> list[float]:
        return [float(h[key]) if _finite(h.get(key)) else math.nan for h in hist]

    losses = [k for k in ("train_loss", "train_ce", "val_loss") if k in keys]
    metrics = [k for k in ("val_balanced_accuracy", "val_accuracy", "val_macro_f1")
               if k in keys]
    terms = [k for k in keys if k.startswith("train_") and k not in ("train_loss", "train_ce")]
    panels = [("loss", losses, "loss")] if losses else []
    if metrics:
        panels.append(("validation metrics", metrics, "score"))
    if terms:
        panels.append(("other training terms (epoch means)", terms, "value"))
    if not panels:
        return None
    names = {"train_loss": "training objective", "train_ce": "training cross-entropy",
             "val_loss": "validation loss", "val_balanced_accuracy": "balanced accuracy",
             "val_accuracy": "accuracy", "val_macro_f1": "macro-F1"}
    marker = "o" if len(hist) <= 40 else None
    with _style():
        fig = _figure(4.2 * len(panels) + 0.6, 3.6)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (name, ks, ylabel) in zip(axes, panels):
            for i, k in enumerate(ks):
                ax.plot(epochs, series(k), color=_color(i), marker=marker, markersize=3,
                        lw=1.5, label=names.get(k, k.removeprefix("train_")))
            if best_epoch:
                ax.axvline(best_epoch, color="0.4", ls=":", lw=1,
                           label=f"epoch kept ({best_epoch})")
            ax.set_title(name)
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            if ylabel == "score":
                ax.axhline(0.5, color="0.6", ls="--", lw=0.8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            ax.xaxis.get_major_locator().set_params(integer=True)
        fig.suptitle(title)
        return _save(fig, Path(out_png), overwrite=overwrite, lock=True)


# ---------------------------------------------------------------------------------------------
# an evaluation run


def report_figures(run_dir: str | os.PathLike, results: RunSummary,
                   folds: Sequence[dict[str, Any]]) -> list[Path]:
    """Draw every target's figures of an evaluation run into ``RUN/figures/`` and return their
    paths (kinds without data, e.g. differences when no comparison was made, are left out).
    ``results`` is what :func:`emotionkd.evaluation.build_report` computes; ``folds`` the
    fold results it read. Returns [] when matplotlib is missing."""
    if not plots_available():
        return []
    out_dir = Path(run_dir) / "figures"
    written: list[Path] = []
    for target, t in results.targets.items():
        units = sorted((f for f in folds if f.get("target") == target and "models" in f),
                       key=lambda f: (f["fold"]["index"], int(f.get("seed", 0))))
        labels = list(t.models)
        drawers = {"folds": _folds_figure, "differences": _differences_figure,
                   "confusion": _confusion_figure, "roc": _roc_figure,
                   "curves": _curves_figure}
        for kind, draw in drawers.items():
            with _style():
                fig = draw(target, t, units, labels, results)
                if fig is not None:
                    written.append(_save(fig, out_dir / f"{target}-{kind}.png"))
    return written


def report_figures_entry(run_dir: str | os.PathLike, results: RunSummary,
                         folds: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """:func:`report_figures` for a report: ``{"files": [paths relative to the run folder],
    "skipped": None or why}``. A missing matplotlib or a failure while drawing skips the
    figures with a one-line reason instead of failing the report (an output error, e.g. a
    full disk, is still raised)."""
    from emotionkd.errors import EmotionKDError

    if not plots_available():
        return {"files": [], "skipped": PLOTS_HINT}
    run = Path(run_dir)
    try:
        paths = report_figures(run, results, folds)
    except EmotionKDError:
        raise
    except Exception as exc:  # a figure must never cost the report
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return {"files": [], "skipped": f"figures skipped: drawing failed "
                                         f"({type(exc).__name__}: {first})"}
    return {"files": [p.relative_to(run).as_posix() for p in paths], "skipped": None}


def figures_markdown(entry: Figures) -> str:
    """The report's "Figures" section for the figures of :func:`report_figures_entry`."""
    lines = ["## Figures", ""]
    if entry.skipped:
        return "\n".join(lines + [entry.skipped, ""]) + "\n"
    if not entry.files:
        return "\n".join(lines + ["No figure: the run has no finished fold yet.", ""]) + "\n"
    by_target: dict[str, list[tuple[str, str]]] = {}
    for rel in entry.files:
        target, _, kind = Path(rel).stem.rpartition("-")
        by_target.setdefault(target, []).append((kind, rel))
    for target, items in by_target.items():
        lines += [f"### {target}", ""]
        for kind, rel in items:
            caption = f"{target}: {FIGURE_KINDS.get(kind, kind)}"
            lines += [f"![{caption}]({rel})", ""]
    return "\n".join(lines) + "\n"


def _fold_tick(f: dict[str, Any]) -> str:
    subs = f["fold"].get("test_subjects") or []
    index = f["fold"]["index"]
    return f"{index}\nS{subs[0]}" if len(subs) == 1 else str(index)


def _folds_figure(target: str, t: TargetSummary, units: list[dict], labels: list[str],
                  results: RunSummary) -> Figure | None:
    """Balanced accuracy (top) and accuracy with each fold's majority share (bottom) of every
    model per (fold, seed), and each model's mean ± SD over the test sets at the right."""
    usable = [f for f in units if not f.get("single_class")]
    scored = [lab for lab in labels
              if any("metrics" in f["models"].get(lab, {}) for f in usable)]
    if not usable or not scored:
        return None
    index = sorted({f["fold"]["index"] for f in usable})
    pos = {i: k for k, i in enumerate(index)}
    ticks = {f["fold"]["index"]: _fold_tick(f) for f in usable}
    n, m = len(index), len(scored)
    width = 0.8 / m
    seeds = sorted({int(f.get("seed", 0)) for f in usable})
    fig = _figure(min(4.0 + 0.45 * n * max(1.0, m / 4), 18.0) + 2.6, 6.4)
    ax_b, ax_a = fig.subplots(2, 1, sharex=True)
    mean_x = n + 0.4
    for ax, metric in ((ax_b, "balanced_accuracy"), (ax_a, "accuracy")):
        for j, lab in enumerate(scored):
            off = (j - (m - 1) / 2) * width
            xs = [pos[f["fold"]["index"]] + off for f in usable
                  if "metrics" in f["models"].get(lab, {})]
            ys = [f["models"][lab]["metrics"][metric] for f in usable
                  if "metrics" in f["models"].get(lab, {})]
            ax.scatter(xs, ys, s=16, color=_color(j), marker=_marker(j), alpha=0.8, lw=0,
                       label=lab if ax is ax_b else None, zorder=3)
            ms = t.models[lab].mean_std.get(metric)
            if ms is not None and _finite(ms.mean):
                sd = ms.std if _finite(ms.std) else 0.0
                ax.errorbar([mean_x + off], [ms.mean], yerr=[sd], color=_color(j),
                            marker="D", markersize=6, capsize=2, lw=1.2, zorder=3)
        ax.axvline(n - 0.5 + 0.05, color="0.5", lw=0.8, ls=":")
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
    ax_b.axhline(0.5, color="k", ls="--", lw=1,
                 label="majority class (balanced accuracy 0.5)")
    _majority_marks(ax_a, [(pos[f["fold"]["index"]], f.get("test_balance", {}).get("majority"))
                           for f in usable] + [(mean_x, t.majority_baseline.mean)])
    ax_b.set_ylabel("balanced accuracy")
    ax_a.set_ylabel("accuracy")
    ax_a.set_xticks(list(range(n)) + [mean_x], [ticks[i] for i in index] + ["mean\n± SD"],
                    fontsize="small" if n <= 20 else "x-small")
    ax_a.set_xlabel("test fold" + (" and subject" if any("\n" in s for s in ticks.values())
                                   else ""))
    ax_b.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax_a.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    dropped = len(units) - len(usable)
    seeds_s = f" × {len(seeds)} seeds" if len(seeds) > 1 else ""
    fig.suptitle(f"{target}: {n} test folds{seeds_s} ({_PROTOCOLS.get(results.protocol, '')}); "
                 "one point per fold and seed" + (f"; {dropped} single-class fold runs left "
                                                  "out" if dropped else ""))
    return fig


_PROTOCOLS = {"loso": "leave-one-subject-out", "kfold": "k-fold over subjects",
              "subject-dependent": "subject-dependent"}


def _majority_marks(ax: Axes, marks: list[tuple[float, float | None]]) -> None:
    """A short black line at each fold's majority share (and the mean's) on ``ax``."""
    for x, share in marks:
        if _finite(share):
            ax.hlines(share, x - 0.45, x + 0.45, color="k", lw=1.2, zorder=2)
    ax.plot([], [], color="k", lw=1.2, label="majority class (its share of the test windows)")


def _differences_figure(target: str, t: TargetSummary, units: list[dict],
                        labels: list[str], results: RunSummary) -> Figure | None:
    """Forest plot of the paired comparisons (balanced accuracy, percentage points)."""
    comps = [c for c in t.comparisons.values()
             if _finite(c.metrics["balanced_accuracy"].mean_difference)]
    if not comps:
        return None
    fig = _figure(8.0, 1.4 + 0.45 * len(comps))
    ax = fig.subplots()
    for row, c in enumerate(comps):
        r = c.metrics["balanced_accuracy"]
        y = len(comps) - 1 - row
        mean = 100 * r.mean_difference
        lo, hi = r.ci_low, r.ci_high
        if _finite(lo) and _finite(hi):
            ax.errorbar([mean], [y], xerr=[[mean - 100 * lo], [100 * hi - mean]], fmt="o",
                        color="C0", capsize=3, lw=1.5)
        else:
            ax.plot([mean], [y], "o", color="C0")
        p = r.p_value
        ax.annotate(f"better on {r.wins} of {r.test_sets}"
                    + (f", p = {p:.2g}" if _finite(p) else ""), (1.0, y),
                    xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize="small")
    ax.axvline(0, color="k", lw=1)
    ax.set_yticks(range(len(comps)), [f"{c.a} − {c.b}" for c in reversed(comps)])
    ax.set_ylim(-0.6, len(comps) - 0.4)
    ax.set_xlabel("difference in balanced accuracy (percentage points), 95 % CI (Student t) "
                  "over test sets")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(f"{target}: paired differences over (fold, seed)")
    return fig


def _pooled_predictions(units: list[dict], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and probabilities of ``label`` over every fold run that has them."""
    ys = [np.asarray(f["test_labels"], dtype=np.int64) for f in units
          if "p_high" in f["models"].get(label, {}) and "test_labels" in f]
    ps = [np.asarray(f["models"][label]["p_high"], dtype=np.float64) for f in units
          if "p_high" in f["models"].get(label, {}) and "test_labels" in f]
    if not ys:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(ys), np.concatenate(ps)


def _confusion_figure(target: str, t: TargetSummary, units: list[dict],
                      labels: list[str], results: RunSummary) -> Figure | None:
    """One 2×2 confusion matrix per model (counts, and shares of each true class)."""
    pooled = {lab: _pooled_predictions(units, lab) for lab in labels}
    shown = [lab for lab in labels if len(pooled[lab][0])]
    if not shown:
        return None
    cols = min(4, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig = _figure(2.9 * cols + 0.8, 2.9 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    image = None
    for ax, lab in zip(axes, shown):
        y, p = pooled[lab]
        pred = (p >= 0.5).astype(np.int64)
        cm = np.array([[np.sum((y == a) & (pred == b)) for b in (0, 1)] for a in (0, 1)])
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for a in (0, 1):
            for b in (0, 1):
                ax.text(b, a, f"{cm[a, b]}\n{100 * share[a, b]:.0f} %", ha="center",
                        va="center", fontsize="small",
                        color="white" if share[a, b] > 0.6 else "black")
        ax.set_xticks([0, 1], ["low", "high"])
        ax.set_yticks([0, 1], ["low", "high"])
        ax.set_xlabel(f"predicted {target}")
        ax.set_ylabel(f"true {target}")
        bacc = t.models[lab].pooled.get("balanced_accuracy")
        ax.set_title(lab + (f"\npooled bal. acc. {100 * bacc:.1f} %" if _finite(bacc) else ""),
                     fontsize="medium")
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    if image is not None:
        fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="share of the true class")
    fig.suptitle(f"{target}: confusion matrices pooled over every test window and seed "
                 "(high if p ≥ 0.5)")
    return fig


def _roc_figure(target: str, t: TargetSummary, units: list[dict], labels: list[str],
                results: RunSummary) -> Figure | None:
    """Pooled ROC curve of every model, AUC in the legend."""
    from sklearn.metrics import roc_auc_score, roc_curve

    curves = []
    for lab in labels:
        y, p = _pooled_predictions(units, lab)
        if len(y) and 0 < y.sum() < len(y):
            fpr, tpr, _ = roc_curve(y, p)
            curves.append((lab, fpr, tpr, float(roc_auc_score(y, p))))
    if not curves:
        return None
    fig = _figure(8.8, 5.2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="chance (AUC 0.5)")
    for j, (lab, fpr, tpr, auc) in enumerate(curves):
        ax.plot(fpr, tpr, color=_color(labels.index(lab)), lw=1.6,
                ls="-" if j < 10 else "-.", label=f"{lab} (AUC {auc:.3f})")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_box_aspect(1)
    ax.set_xlabel("false positive rate (low windows called high)")
    ax.set_ylabel("true positive rate (high windows found)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    ax.set_title(f"{target}: ROC pooled over every test window and seed")
    return fig


def _curves_figure(target: str, t: TargetSummary, units: list[dict], labels: list[str],
                   results: RunSummary) -> Figure | None:
    """Training cross-entropy, validation loss and validation balanced accuracy per epoch of
    every deep model; one thin line per fold and seed."""
    runs = {lab: [f["models"][lab]["history"] for f in units
                  if f["models"].get(lab, {}).get("history")] for lab in labels}
    runs = {lab: hs for lab, hs in runs.items() if hs}
    if not runs:
        return None
    panels = (("training cross-entropy", ("train_ce", "train_loss")),
              ("validation loss", ("val_loss",)),
              ("validation balanced accuracy", ("val_balanced_accuracy",)))
    fig = _figure(14.0, 4.2)
    axes = fig.subplots(1, 3)
    for ax, (name, keys) in zip(axes, panels):
        for lab, hists in runs.items():
            color = _color(labels.index(lab))
            by_epoch: dict[int, list[float]] = {}
            for h in hists:
                key = next((x for x in keys if x in h[0]), None)
                if key is None:
                    continue
                xs = [int(r.get("epoch", i + 1)) for i, r in enumerate(h)]
                ys = [float(r[key]) if _finite(r.get(key)) else math.nan for r in h]
                ax.plot(xs, ys, color=color, lw=0.7, alpha=0.35)
                for x, y in zip(xs, ys):
                    by_epoch.setdefault(x, []).append(y)
            if by_epoch:
                xs = sorted(by_epoch)
                ax.plot(xs, [float(np.nanmean(by_epoch[x])) if np.isfinite(by_epoch[x]).any()
                             else math.nan for x in xs],
                        color=color, lw=2.2, marker="o" if len(xs) <= 3 else None,
                        markersize=4, label=lab)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[2].axhline(0.5, color="k", ls="--", lw=0.8)
    axes[2].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
    fig.suptitle(f"{target}: learning curves of the deep models (thin: each fold and seed; "
                 "thick: their mean over the runs still training at that epoch)")
    return fig
