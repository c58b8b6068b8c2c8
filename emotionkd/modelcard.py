"""Model cards: a Markdown description of an exported model, written by ``emotionkd export``.

Everything comes from the checkpoint (and, optionally, the ``results.json`` of an
``emotionkd evaluate`` run): the inputs and how they were made, the training data and
protocol, the metrics that were recorded with their majority-class baselines, normalisation
caveats, and the intended use and its limits.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, NamedTuple

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.evaluation.report import mean_sd, row_label
from emotionkd.evaluation.summary import RunSummary
from emotionkd.ondisk import read_json
from emotionkd.version import __version__

_METRICS = (("balanced_accuracy", "balanced accuracy"), ("accuracy", "accuracy"),
            ("macro_f1", "macro-F1"), ("roc_auc", "ROC-AUC"))


def card_path(exported: str | os.PathLike) -> Path:
    """Where the card of an exported file goes: the file's name plus ``.md`` (``s.onnx`` →
    ``s.onnx.md``), so ONNX and TorchScript exports of one model do not share a card."""
    p = Path(exported)
    return p.with_name(p.name + ".md")


class Evaluation(NamedTuple):
    """An evaluation run's results and where they were read."""

    path: Path
    results: RunSummary


def read_evaluation(run: str | os.PathLike) -> Evaluation:
    """``results.json`` of an evaluation run (the run folder or the file itself)."""
    p = Path(run)
    path = p / "results.json" if p.is_dir() else p
    if not path.exists():
        raise ConfigError(f"--evaluation {run}: no results.json there; pass the run folder "
                          "written by 'emotionkd evaluate --out' (or run 'emotionkd report' on "
                          "it first)")
    doc = read_json(path, "run 'emotionkd report RUN' to write it again")
    try:
        res = RunSummary.from_dict(doc)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataFormatError(f"{path}: not an emotionkd evaluation results.json ({exc})") \
            from None
    return Evaluation(path, res)


def _pct(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(f) else f"{100 * f:.1f} %"


def _metric_line(m: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_pct(m.get(key))}" for key, name in _METRICS if key in m)


def model_card(ck: dict[str, Any], exported: dict[str, Any] | None = None,
               evaluation: Evaluation | None = None) -> str:
    """The Markdown card of checkpoint ``ck`` (loaded with ``load_checkpoint``).

    ``exported``: path, format and parity of the exported file; ``evaluation``: the results
    of an evaluation run (:func:`read_evaluation`)."""
    from emotionkd.checkpoint import data_spec

    d = data_spec(ck)
    out = _model_section(ck, d, exported)
    out += _inputs_section(d)
    out += _training_section(ck, d)
    out += _evaluation_section(ck, d, evaluation)
    out += _caveats_section(d)
    return "\n".join(out)


def _settings(config: dict[str, Any], prefix: str = "") -> list[str]:
    """``key=value`` of a model configuration, sub-tables as ``study.key=value``."""
    out = []
    for k, v in config.items():
        if isinstance(v, dict):
            out += _settings(v, f"{prefix}{k}.")
        elif not isinstance(v, list):
            out.append(f"{prefix}{k}={v}")
    return out


def _model_section(ck: dict[str, Any], d: dict[str, Any], exported: dict[str, Any] | None
                   ) -> list[str]:
    from emotionkd.checkpoint import feedback_status, summary

    target = d["target"]
    rule = f"rating {'≥' if d['tie'] == 'high' else '>'} {d['threshold']:g}"
    out = [f"# Model card: {ck['model']} ({ck['role']}, {target})", "",
           f"Written by emotionkd {__version__} from the checkpoint `{ck.get('_path', '?')}` "
           f"(created {ck.get('created', '?')} with emotionkd "
           f"{ck.get('emotionkd_version', '?')})."]
    if exported:
        out.append(f"Exported file: `{exported['path']}` ({exported['format']}); its outputs "
                   f"match the PyTorch model to {exported['max_abs_diff']:.1g} (tolerance "
                   f"{exported['tolerance']:g}).")
    out += ["", "## Model", "",
            f"* {ck['model']}, {summary(ck)['parameters']:,} parameters; configuration: "
            + ", ".join(_settings(ck["model_config"])) + ".",
            f"* Output: per window, the probability that the self-reported {target} is high "
            f"({rule} on the 1–9 scale) — classes {', '.join(d.get('class_names', []))}."]
    dist = ck.get("distillation")
    if dist:
        teacher, distill = dist.get("teacher") or {}, ck["config"].get("distill", {})
        out.append(f"* Distilled from an EEG+GSR teacher ({teacher.get('model', '?')}, "
                   f"`{teacher.get('path', '?')}`) with method {distill.get('method')}, "
                   f"adaptive feedback {feedback_status(ck)}; at "
                   "inference it needs only GSR.")
    return out + [""]


def _inputs_section(d: dict[str, Any]) -> list[str]:
    pre, fs = d["preprocessing"], float(d["sampling_rate"])
    window_s = d["window_samples"] / fs
    out = ["## Inputs and their preprocessing", "",
           f"* One channel of skin conductance (GSR/EDA) in µS, windows of {window_s:g} s "
           f"({d['window_samples']} samples at {fs:g} Hz), every {d['step']:g} s in training."]
    base = pre.get("baseline")
    secs = f"{pre['baseline_s']:g}-s " if pre.get("baseline_s") else ""
    if base == "subtract":
        out.append(f"* Baseline: each training trial minus the mean of its {secs}pre-stimulus "
                   "period (`preprocess --baseline subtract`), which was then dropped.")
    elif base == "none":
        out.append("* Baseline: none; absolute conductance, pre-stimulus period dropped "
                   "(`--baseline none`).")
    else:
        out.append(f"* Baseline: {base}; absolute conductance, windows from the stimulus "
                   "period only.")
    raw_fs = pre.get("raw_sampling_rate")
    if raw_fs is not None and abs(float(raw_fs) - fs) > 1e-9:
        out.append(f"* Rate: recorded at {float(raw_fs):g} Hz, resampled to {fs:g} Hz"
                   + (f" ({pre['resampler']})" if pre.get("resampler") else "") + ".")
    else:
        out.append(f"* Rate: {fs:g} Hz as recorded"
                   + ("" if raw_fs is not None else " (assumed)") + ".")
    out.append(f"* Units: raw GSR unit `{pre.get('gsr_unit_option', 'auto')}` (auto: decided "
               f"per file by magnitude), stored and modelled as "
               f"{pre.get('gsr_unit', 'uS').replace('uS', 'µS')}.")
    return out + _normalisation_lines(d, pre) + [""]


def _normalisation_lines(d: dict[str, Any], pre: dict[str, Any]) -> list[str]:
    norm, stats = d["norm"], d.get("norm_stats") or {}
    if norm == "train":
        out = [f"* Normalisation `train`: z = (GSR − μ) / σ with μ = "
               f"{stats.get('gsr_mean', float('nan')):.4g} µS and σ = "
               f"{stats.get('gsr_std', float('nan')):.4g} µS, the statistics of the training "
               "subjects' (baseline-corrected) GSR."]
    elif norm == "subject":
        out = ["* Normalisation `subject`: z-score per subject with that subject's own mean "
               "and SD (no labels used); at deployment, per recording."]
    else:
        out = ["* Normalisation: none."]
    if pre.get("baseline") == "subtract" and norm != "subject":
        in_training = f"; {pre['baseline_s']:g} s in training" if pre.get("baseline_s") else ""
        out.append(f"* `emotionkd predict` needs `--baseline-seconds S`: the mean of the first "
                   f"S s of a recording (a rest period{in_training}) is subtracted and the "
                   "period dropped, as in training; without it the model is refused.")
    else:
        out.append("* `emotionkd predict` reproduces this transformation without further "
                   "input.")
    return out


def _training_section(ck: dict[str, Any], d: dict[str, Any]) -> list[str]:
    tr = ck.get("training", {})
    kind = (f"**synthetic** data in {d.get('source', '?')}'s layout (emotionkd's generated "
            "physiology, docs/synthetic-data.md; not recordings of people), store"
            if d.get("synthetic") else f"{d.get('source', '?')} store")
    out = ["## Training data and protocol", "",
           f"* Data: {kind} `{d.get('store', '?')}`; subjects: training "
           f"{d.get('train_subjects')}, validation {d.get('val_subjects') or 'none'}, test "
           f"{d.get('test_subjects') or 'none'}."]
    for key, name in (("train_balance", "training"), ("val_balance", "validation")):
        b = d.get(key)
        if b:
            out.append(f"* {name.capitalize()} windows: {b['n']} ({b['high']} high, "
                       f"{b['low']} low; majority class {_pct(b['majority'])}).")
    cfg = ck["config"].get("train", {})
    if cfg:
        out.append(f"* Training: up to {cfg.get('epochs')} epochs, batch "
                   f"{cfg.get('batch_size')}, Adam lr {cfg.get('lr')}, the "
                   f"{cfg.get('keep', 'best')} epoch kept (validation {cfg.get('monitor')}, "
                   f"early-stopping patience {cfg.get('patience')}), seed {tr.get('seed')}; ran "
                   f"{tr.get('epochs_run')} epochs, kept epoch {tr.get('best_epoch')}, on "
                   f"{tr.get('device')}.")
    return out + [""]


def _evaluation_section(ck: dict[str, Any], d: dict[str, Any],
                        evaluation: Evaluation | None) -> list[str]:
    tr = ck.get("training", {})
    out = ["## Evaluation", ""]
    best, vb = tr.get("best") or {}, d.get("val_balance") or {}
    if best:
        line = ("* Validation subjects (used for early stopping, so optimistic): "
                f"{_metric_line(best)}")
        out.append(line + (f"; majority-class baseline {_pct(vb['majority'])}." if vb else "."))
    test = tr.get("test")
    if test:
        out.append(f"* Held-out test subjects {d.get('test_subjects')}: {_metric_line(test)}; "
                   f"majority-class baseline {_pct(test.get('majority_baseline'))} "
                   f"({int(test.get('n', 0))} windows).")
    else:
        out.append("* No held-out test metrics were recorded in this checkpoint. Measure them "
                   "with `emotionkd evaluate --model CHECKPOINT --data STORE --subjects …` "
                   "(subjects it was not trained on), or estimate the method's cross-subject "
                   "accuracy with `emotionkd evaluate --data STORE --loso` and pass the run "
                   "folder to `emotionkd export --evaluation RUN`.")
    if evaluation:
        check_same_store(ck, evaluation)
        out += _run_table(evaluation, d["target"])
    return out + [""]


def check_same_store(ck: dict[str, Any], evaluation: Evaluation) -> None:
    """Refuse an evaluation run made on another dataset than the checkpoint's: its results
    would describe a model of other data. The two stores are the same file, or stores of the
    same source, rate and subjects; a store that can no longer be opened is judged by name."""
    from emotionkd.store import open_store

    d, run_store = ck["data"], evaluation.results.store
    mine = str(d.get("store", ""))
    if not mine or not run_store:
        return
    a, b = Path(mine), Path(run_store)
    if a.exists() and b.exists() and os.path.samefile(a, b):
        return
    fix = "pass a run evaluated on the checkpoint's store (or export without --evaluation)"
    try:
        other = open_store(b)
    except DataFormatError:
        if a.name != b.name:
            raise ConfigError(f"--evaluation {evaluation.path}: evaluated store {b}, but the "
                              f"checkpoint was trained on {a}; {fix}") from None
        return
    subjects = {int(s) for k in ("train_subjects", "val_subjects", "test_subjects")
                for s in d.get(k) or []}
    facts = [("source", other.source, d.get("source")),
             ("sampling rate", other.sampling_rate, d.get("sampling_rate"))]
    for what, theirs, ours in facts:
        if ours is not None and theirs != ours:
            raise ConfigError(f"--evaluation {evaluation.path}: evaluated {b} ({what} "
                              f"{theirs!r}), but the checkpoint was trained on {a} ({what} "
                              f"{ours!r}); {fix}")
    if not subjects <= set(other.subjects):
        raise ConfigError(f"--evaluation {evaluation.path}: evaluated {b}, which lacks "
                          f"subject(s) {sorted(subjects - set(other.subjects))} the checkpoint "
                          f"was trained on ({a}): another dataset; {fix}")


def _caveats_section(d: dict[str, Any]) -> list[str]:
    norm, target = d["norm"], d["target"]
    if norm == "subject":
        first = ("* Each recording is z-scored with its own mean and SD over its usable part. "
                 "In training a subject's statistics pooled all of that subject's trials, so a "
                 "recording should be long and varied enough to show the person's usual "
                 "range; a short or single-condition recording shifts the probabilities. "
                 "Scores are relative within a recording, not comparable between people.")
    elif norm == "train":
        first = ("* Fixed statistics of the training subjects: a person, device or electrode "
                 "site with another conductance range (or amplitude of responses) shifts every "
                 "prediction; there is no per-person calibration.")
    else:
        first = ("* Absolute conductance: the model depends on the device's calibration and "
                 "the measurement site.")
    if d.get("synthetic"):
        origin = ("* The training data are synthetic: signals and self-reports generated by "
                  "emotionkd's model of physiology, not recorded from people. The model has "
                  "learnt that generator's rules; its predictions on real recordings mean "
                  "nothing until it is trained and evaluated on real data.")
        labels = "* Labels are simulated self-reports (the generator's latent state plus noise)."
    else:
        origin = ("* The training data were recorded in a laboratory while people watched "
                  "stimuli chosen to evoke emotions; wrist-worn sensors, everyday activity, "
                  "movement, temperature and sweating from exercise change skin conductance "
                  "for reasons unrelated to emotion.")
        labels = ("* Labels are self-reports of a small number of people in one culture and "
                  "setting; the model inherits their biases and may not transfer to other "
                  "populations.")
    return ["## Normalisation caveats", "", first, origin, "",
            "## Intended use and limits", "",
            f"* Research on affective computing: group-level or within-session trends of "
            f"{target} from skin conductance, with the recording's quality flags checked.",
            "* Skin conductance is weak evidence about emotion: it reflects sympathetic "
            "arousal from many causes, and per-window predictions are noisy. Compare results "
            "with the majority-class baseline above before reading anything into them.",
            "* **Not for clinical, diagnostic, employment, legal, security or other high-stakes "
            "decisions about individuals**, and not for monitoring people without their "
            "informed consent.",
            labels, ""]


def _run_table(evaluation: Evaluation, target: str) -> list[str]:
    ev, path = evaluation.results, evaluation.path
    t = ev.targets.get(target)
    if t is None:
        raise ConfigError(f"--evaluation {path}: has no results for target {target!r} (it has "
                          f"{', '.join(ev.targets)}); pass a run of the same target")
    out = ["", f"Evaluation run `{path}`: protocol {ev.protocol}, {t.folds_done} of "
               f"{ev.folds_total} folds; mean ± SD over folds (each fold retrains every model "
               "on the other subjects, so these numbers estimate the method, not this exact "
               f"checkpoint); majority-class baseline {_pct(t.majority_baseline.mean)} of the "
               "test windows.", "",
           "| model | folds | " + " | ".join(name for _, name in _METRICS)
           + " | balanced accuracy per fold |",
           "|---|---:|" + "---:|" * len(_METRICS) + "---|"]
    for label, m in t.models.items():
        cells = [mean_sd(m.mean_std.get(key)) for key, _ in _METRICS]
        per_fold = m.per_fold.get("balanced_accuracy") or []
        cells.append(", ".join(_pct(v).replace(" %", "") for v in per_fold) or "–")
        out.append(f"| {row_label(label, m)} | {m.folds} | " + " | ".join(cells) + " |")
    return out
