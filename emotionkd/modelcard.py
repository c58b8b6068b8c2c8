"""Model cards: a Markdown description of an exported model, written by ``emotionkd export``.

Everything comes from the checkpoint (and, optionally, the ``results.json`` of an
``emotionkd evaluate`` run): the inputs and how they were made, the training data and
protocol, the metrics that were recorded with their majority-class baselines, normalisation
caveats, and the intended use and its limits.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.version import __version__

_METRICS = (("balanced_accuracy", "balanced accuracy"), ("accuracy", "accuracy"),
            ("macro_f1", "macro-F1"), ("roc_auc", "ROC-AUC"))


def card_path(exported: str | os.PathLike) -> Path:
    """Where the card of an exported file goes: the file's name plus ``.md`` (``s.onnx`` →
    ``s.onnx.md``), so ONNX and TorchScript exports of one model do not share a card."""
    p = Path(exported)
    return p.with_name(p.name + ".md")


def read_evaluation(run: str | os.PathLike) -> dict[str, Any]:
    """``results.json`` of an evaluation run (the run folder or the file itself)."""
    p = Path(run)
    path = p / "results.json" if p.is_dir() else p
    if not path.exists():
        raise ConfigError(f"--evaluation {run}: no results.json there; pass the run folder "
                          "written by 'emotionkd evaluate --out' (or run 'emotionkd report' on "
                          "it first)")
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
        res["targets"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataFormatError(f"{path}: not an emotionkd evaluation results.json ({exc})") \
            from None
    res["_path"] = str(path)
    return res


def _pct(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else f"{100 * f:.1f} %"


def _metric_line(m: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_pct(m.get(key))}" for key, name in _METRICS if key in m)


def model_card(ck: dict[str, Any], exported: dict[str, Any] | None = None,
               evaluation: dict[str, Any] | None = None) -> str:
    """The Markdown card of checkpoint ``ck`` (loaded with ``load_checkpoint``).

    ``exported``: path, format and parity of the exported file; ``evaluation``: a
    ``results.json`` of an evaluation run (:func:`read_evaluation`)."""
    from emotionkd.checkpoint import preprocessing_record, summary

    s = summary(ck)
    d = ck["data"]
    tr = ck.get("training", {})
    pre, recorded = preprocessing_record(d)
    target = d.get("target", "arousal")
    rule = f"rating {'≥' if d.get('tie') == 'high' else '>'} {d.get('threshold', 5.0):g}"
    fs = float(d["sampling_rate"])
    out: list[str] = []
    add = out.append
    add(f"# Model card: {ck['model']} ({ck['role']}, {target})")
    add("")
    add(f"Written by emotionkd {__version__} from the checkpoint `{ck.get('_path', '?')}` "
        f"(created {ck.get('created', '?')} with emotionkd {ck.get('emotionkd_version', '?')}).")
    if exported:
        add(f"Exported file: `{exported['path']}` ({exported['format']}); its outputs match "
            f"the PyTorch model to {exported['max_abs_diff']:.1g} (tolerance "
            f"{exported['tolerance']:g}).")
    add("")
    add("## Model")
    add("")
    add(f"* {ck['model']}, {s['parameters']:,} parameters; configuration: "
        + ", ".join(f"{k}={v}" for k, v in ck["model_config"].items()
                    if not isinstance(v, (dict, list))) + ".")
    add(f"* Output: per window, the probability that the self-reported {target} is high "
        f"({rule} on the 1–9 scale) — classes {', '.join(d.get('class_names', []))}.")
    dist = ck.get("distillation")
    if dist:
        teacher = (dist.get("teacher") or {})
        add(f"* Distilled from an EEG+GSR teacher ({teacher.get('model', '?')}, "
            f"`{teacher.get('path', '?')}`) with method {dist.get('method')}, adaptive feedback "
            f"{'on' if dist.get('feedback') else 'off'}; at inference it needs only GSR.")
    add("")
    add("## Inputs and their preprocessing")
    add("")
    add(f"* One channel of skin conductance (GSR/EDA) in µS, windows of {d['window_s']:g} s "
        f"({d['window']} samples at {fs:g} Hz), every {d.get('step_s', d['window_s']):g} s in "
        "training.")
    base = pre.get("baseline")
    secs = f"{pre['baseline_s']:g}-s " if pre.get("baseline_s") else ""
    if base == "subtract":
        add(f"* Baseline: each training trial minus the mean of its {secs}pre-stimulus "
            "period (`preprocess --baseline subtract`), which was then dropped.")
    elif base == "none":
        add("* Baseline: none; absolute conductance, pre-stimulus period dropped "
            "(`--baseline none`).")
    else:
        add(f"* Baseline: {base}; absolute conductance, windows from the stimulus period only.")
    raw_fs = pre.get("raw_sampling_rate")
    if raw_fs is not None and abs(float(raw_fs) - fs) > 1e-9:
        add(f"* Rate: recorded at {float(raw_fs):g} Hz, resampled to {fs:g} Hz"
            + (f" ({pre['resampler']})" if pre.get("resampler") else "") + ".")
    else:
        add(f"* Rate: {fs:g} Hz as recorded" + ("" if raw_fs is not None else " (assumed)") + ".")
    add(f"* Units: raw GSR unit `{pre.get('gsr_unit_option', 'auto')}` (auto: decided per file "
        f"by magnitude), stored and modelled as {pre.get('gsr_unit', 'uS').replace('uS', 'µS')}.")
    norm = d.get("norm", "subject")
    stats = d.get("norm_stats") or {}
    if norm == "train":
        add(f"* Normalisation `train`: z = (GSR − μ) / σ with μ = "
            f"{stats.get('gsr_mean', float('nan')):.4g} µS and σ = "
            f"{stats.get('gsr_std', float('nan')):.4g} µS, the statistics of the training "
            "subjects' (baseline-corrected) GSR.")
    elif norm == "subject":
        add("* Normalisation `subject`: z-score per subject with that subject's own mean and SD "
            "(no labels used); at deployment, per recording.")
    else:
        add("* Normalisation: none.")
    if base == "subtract" and norm != "subject":
        in_training = f"; {pre['baseline_s']:g} s in training" if pre.get("baseline_s") else ""
        add(f"* `emotionkd predict` needs `--baseline-seconds S`: the mean of the first S s of a "
            f"recording (a rest period{in_training}) is subtracted and the period dropped, as "
            "in training; without it the model is refused.")
    else:
        add("* `emotionkd predict` reproduces this transformation without further input.")
    if not recorded:
        add("* This checkpoint predates the preprocessing record: the defaults of that time "
            "are assumed above.")
    add("")
    add("## Training data and protocol")
    add("")
    add(f"* Data: {d.get('source', '?')} store `{d.get('store', '?')}`; subjects: training "
        f"{d.get('train_subjects')}, validation {d.get('val_subjects') or 'none'}, test "
        f"{d.get('test_subjects') or 'none'}.")
    for key, name in (("train_balance", "training"), ("val_balance", "validation")):
        b = d.get(key)
        if b:
            add(f"* {name.capitalize()} windows: {b['n']} ({b['high']} high, {b['low']} low; "
                f"majority class {_pct(b['majority'])}).")
    cfg = tr.get("config", {})
    if cfg:
        add(f"* Training: up to {cfg.get('epochs')} epochs, batch {cfg.get('batch_size')}, Adam "
            f"lr {cfg.get('lr')}, the {cfg.get('keep', 'best')} epoch kept (validation "
            f"{cfg.get('monitor')}, early-stopping patience {cfg.get('patience')}), seed "
            f"{tr.get('seed')}; ran {tr.get('epochs_run')} epochs, kept epoch "
            f"{tr.get('best_epoch')}, on {tr.get('device')}.")
    add("")
    add("## Evaluation")
    add("")
    best = tr.get("best") or {}
    vb = d.get("val_balance") or {}
    if best:
        line = ("* Validation subjects (used for early stopping, so optimistic): "
                f"{_metric_line(best)}")
        add(line + (f"; majority-class baseline {_pct(vb['majority'])}." if vb else "."))
    test = tr.get("test")
    if test:
        add(f"* Held-out test subjects {d.get('test_subjects')}: {_metric_line(test)}; "
            f"majority-class baseline {_pct(test.get('majority_baseline'))} "
            f"({int(test.get('n', 0))} windows).")
    else:
        add("* No held-out test metrics were recorded in this checkpoint. Measure them with "
            "`emotionkd evaluate --model CHECKPOINT --data STORE --subjects …` (subjects it was "
            "not trained on), or estimate the method's cross-subject accuracy with "
            "`emotionkd evaluate --data STORE --loso` and pass the run folder to "
            "`emotionkd export --evaluation RUN`.")
    if evaluation:
        _evaluation_section(out, evaluation, target)
    add("")
    add("## Normalisation caveats")
    add("")
    if norm == "subject":
        add("* Each recording is z-scored with its own mean and SD over its usable part. In "
            "training a subject's statistics pooled all of that subject's trials, so a "
            "recording should be long and varied enough to show the person's usual range; a "
            "short or single-condition recording shifts the probabilities. Scores are relative "
            "within a recording, not comparable between people.")
    elif norm == "train":
        add("* Fixed statistics of the training subjects: a person, device or electrode site "
            "with another conductance range (or amplitude of responses) shifts every "
            "prediction; there is no per-person calibration.")
    else:
        add("* Absolute conductance: the model depends on the device's calibration and the "
            "measurement site.")
    add("* The training data were recorded in a laboratory while people watched stimuli "
        "chosen to evoke emotions; wrist-worn sensors, everyday activity, movement, "
        "temperature and sweating from exercise change skin conductance for reasons unrelated "
        "to emotion.")
    add("")
    add("## Intended use and limits")
    add("")
    add(f"* Research on affective computing: group-level or within-session trends of {target} "
        "from skin conductance, with the recording's quality flags checked.")
    add("* Skin conductance is weak evidence about emotion: it reflects sympathetic arousal "
        "from many causes, and per-window predictions are noisy. Compare results with the "
        "majority-class baseline above before reading anything into them.")
    add("* **Not for clinical, diagnostic, employment, legal, security or other high-stakes "
        "decisions about individuals**, and not for monitoring people without their informed "
        "consent.")
    add("* Labels are self-reports of a small number of people in one culture and setting; "
        "the model inherits their biases and may not transfer to other populations.")
    add("")
    return "\n".join(out)


def _evaluation_section(out: list[str], ev: dict[str, Any], target: str) -> None:
    add = out.append
    t = ev["targets"].get(target)
    if t is None:
        raise ConfigError(f"--evaluation {ev.get('_path')}: has no results for target "
                          f"{target!r} (it has {', '.join(ev['targets'])}); pass a run of the "
                          "same target")
    add("")
    add(f"Evaluation run `{ev.get('_path')}`: protocol {ev.get('protocol')}, "
        f"{t.get('folds_done')} of {ev.get('folds_total')} folds; mean ± SD over folds "
        f"(each fold retrains every model on the other subjects, so these numbers estimate the "
        f"method, not this exact checkpoint); majority-class baseline "
        f"{_pct((t.get('majority_baseline') or {}).get('mean'))} of the test windows.")
    add("")
    add("| model | folds | " + " | ".join(name for _, name in _METRICS)
        + " | balanced accuracy per fold |")
    add("|---|---:|" + "---:|" * len(_METRICS) + "---|")
    for label, m in t.get("models", {}).items():
        cells = []
        for key, _ in _METRICS:
            v = (m.get("mean_std") or {}).get(key) or {}
            cells.append("–" if not v.get("n") else
                         f"{100 * v['mean']:.1f} ± {100 * v['std']:.1f}")
        per_fold = (m.get("per_fold") or {}).get("balanced_accuracy") or []
        cells.append(", ".join(_pct(v).replace(" %", "") for v in per_fold) or "–")
        add(f"| {label} | {m.get('folds', 0)} | " + " | ".join(cells) + " |")
