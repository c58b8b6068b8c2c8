"""GSR recording (E4, OpenSignals, CSV, EDF/BDF; any rate) → windows → per-window predictions.

A *predictor* wraps a GSR-only model from a checkpoint (``.pt``), an ONNX file (``.onnx``, run
with ONNX Runtime) or a TorchScript file (``.ts``), together with the data specification it
was trained with (sampling rate, window, baseline handling, normalisation, target). A
recording goes through the transformation the training windows went through:

1. conversion to µS (the unit of every store) and resampling to the model's rate with the
   anti-aliasing polyphase filter preprocessing uses;
2. the training baseline: for a model trained on a store made with ``--baseline subtract``
   (the default), the mean of a *reference period* at the start of the recording
   (``baseline_seconds``) is subtracted and the period is dropped, as preprocessing does with
   each trial's pre-stimulus baseline. A per-subject normalised model needs no reference
   period (the z-score removes any constant offset); models with ``--norm train`` or ``none``
   do, and are refused without one;
3. normalisation: per-subject models z-score the recording with its own statistics over the
   usable part (the same unsupervised calibration a held-out subject gets in evaluation),
   ``--norm train`` models use the stored training statistics;
4. windows, classified ``batch_size`` at a time.

Windows where the sensor looks flat (no variation) or disconnected (conductance near zero) are
still predicted but flagged, left out of the summary, and a warning is returned.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.choices import PREDICTION_FORMATS
from emotionkd.errors import CheckpointError, ConfigError, DataFormatError
from emotionkd.modelmeta import (  # noqa: F401 - the metadata version export writes
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    ModelMeta,
    parse_metadata,
)
from emotionkd.ondisk import check_regular
from emotionkd.recordings import Recording
from emotionkd.signals import MAX_PLAUSIBLE_US, moments, normalise, zscore_stats
from emotionkd.validation import check_choice, check_number

FLAT_PTP_US = 1e-3  # a window whose conductance spans less than this (under one E4 step) is flat
DISCONNECTED_US = 0.02  # a median conductance below this means no skin contact


class Predictor:
    """A GSR-only model with the specification of its inputs (:class:`ModelMeta`).

    ``predict_proba(x)`` maps normalised float32 windows (B, 1, window) to (B, 2)
    probabilities; :meth:`predict_array` and :meth:`predict_recording` take a whole signal
    through the training transformation first (module docstring)."""

    meta: ModelMeta
    kind: str = ""
    source: str = ""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict_recording(self, rec: Recording, step_s: float | None = None,
                          baseline_seconds: float | None = None, batch_size: int = 64
                          ) -> PredictionResult:
        """Per-window predictions for a :class:`~emotionkd.recordings.Recording`."""
        return predict_recording(self, rec, step_s=step_s, batch_size=batch_size,
                                 baseline_seconds=baseline_seconds)

    def predict_array(self, x: Any, fs: float, unit: str = "us",
                      baseline_seconds: float | None = None, step_s: float | None = None
                      ) -> PredictionResult:
        """Per-window predictions for a 1-D skin-conductance signal ``x`` sampled at ``fs``
        Hz (``unit``: us, ohm, kohm, ns or auto). ``result.p_high`` holds the probability of
        the high class per window, ``result.rows`` the full rows."""
        return self.predict_recording(Recording.from_array(x, fs, unit=unit), step_s=step_s,
                                      baseline_seconds=baseline_seconds)


class TorchPredictor(Predictor):
    kind = "checkpoint"

    def __init__(self, path: Path) -> None:
        import torch

        from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
        from emotionkd.models.inference import fold_for_inference
        from emotionkd.models.registry import model_spec

        ckpt = load_checkpoint(path)
        self.source = str(path)
        if model_spec(ckpt["model"])["inputs"] != "gsr":
            raise CheckpointError(
                f"{path}: is a {ckpt['model']} {ckpt['role']}, which needs EEG; predict runs "
                "GSR-only models: pass a distilled student (emotionkd distill)"
            )
        self.model = fold_for_inference(build_from_checkpoint(ckpt))
        self.meta = ModelMeta.from_checkpoint(ckpt)
        self._torch = torch

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            logits = self.model(torch.from_numpy(x))[0]
            return torch.softmax(logits.float(), dim=1).numpy()


class TorchScriptPredictor(Predictor):
    kind = "torchscript"

    def __init__(self, path: Path) -> None:
        import torch

        extra = {"emotionkd.json": ""}
        self.source = str(path)
        try:
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: not a TorchScript model ({exc})") from None
        if not extra["emotionkd.json"]:
            raise CheckpointError(f"{path}: TorchScript file without emotionkd metadata; "
                                  "export it with 'emotionkd export'")
        self.meta = ModelMeta.from_export(parse_metadata(extra["emotionkd.json"], path), str(path))
        self._torch = torch

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            logits = self.module(torch.from_numpy(x))
            return torch.softmax(logits.float(), dim=1).numpy()


class OnnxPredictor(Predictor):
    kind = "onnx"

    def __init__(self, path: Path, threads: int | None = None) -> None:
        from emotionkd.errors import require_module

        ort = require_module("onnxruntime", "export", "Running ONNX models")
        self.source = str(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise CheckpointError(f"{path}: not a loadable ONNX model ({exc})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "emotionkd" not in props:
            raise CheckpointError(f"{path}: ONNX file without emotionkd metadata; export it "
                                  "with 'emotionkd export'")
        self.meta = ModelMeta.from_export(parse_metadata(props["emotionkd"], path), str(path))
        self.input_name = self.session.get_inputs()[0].name

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        logits = self.session.run(None, {self.input_name: x})[0]
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def load_predictor(path: str | os.PathLike) -> Predictor:
    """A predictor for a ``.pt`` checkpoint, ``.onnx`` or ``.ts`` (TorchScript) file."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such model file")
    check_regular(p, "the model", "pass a .pt, .onnx or .ts file", CheckpointError)
    suffix = p.suffix.lower()
    if suffix == ".onnx":
        return OnnxPredictor(p)
    if suffix in (".ts", ".torchscript", ".jit"):
        return TorchScriptPredictor(p)
    if suffix in (".pt", ".pth", ".ckpt"):
        return TorchPredictor(p)
    raise CheckpointError(f"{p}: unknown model format '{suffix}'; expected .pt (checkpoint), "
                          ".onnx or .ts (TorchScript)")


@dataclass
class PredictionResult:
    """Per-window rows (window, start/end s, p_high, label, quality), a summary and warnings."""

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def p_high(self) -> np.ndarray:
        """Probability of the high class, one per window."""
        return np.array([r["p_high"] for r in self.rows], dtype=np.float64)

    @property
    def start_s(self) -> np.ndarray:
        """Window starts in seconds from the start of the recording."""
        return np.array([r["start_s"] for r in self.rows], dtype=np.float64)

    @property
    def usable(self) -> np.ndarray:
        """True for windows without a quality flag."""
        return np.array([not r["quality"] for r in self.rows], dtype=bool)


def reference_period(meta: ModelMeta, baseline_seconds: float | None, model: str = "model"
                     ) -> tuple[float, list[str]]:
    """Seconds of reference period to subtract and drop (0: none), and notes, for a model's
    training baseline; a ConfigError says what to pass when the recording needs one."""
    notes: list[str] = []
    base = f"{meta.baseline_s:g}-s " if meta.baseline_s else ""
    if baseline_seconds is not None:
        check_number(baseline_seconds, "--baseline-seconds", low=0, low_open=True,
                     why=" (seconds)")
        if meta.baseline != "subtract":
            raise ConfigError(
                f"--baseline-seconds: {model} was trained without baseline subtraction "
                f"(preprocess --baseline {meta.baseline}), so the recording needs no reference "
                "period; drop --baseline-seconds (crop the recording to skip its start)")
        return float(baseline_seconds), notes
    if meta.baseline == "subtract" and meta.norm != "subject":
        train_len = f"; {meta.baseline_s:g} s in training" if meta.baseline_s else ""
        raise ConfigError(
            f"{model}: was trained on GSR relative to each trial's {base}pre-stimulus mean "
            f"(preprocess --baseline subtract) with --norm {meta.norm}; pass "
            f"--baseline-seconds S to use the first S s of the recording (a rest period"
            f"{train_len}) as the reference, or use a model trained on a store made with "
            "--baseline none")
    if meta.baseline == "subtract":
        notes.append("no reference period needed: the per-recording z-score removes any "
                     "constant offset, so the training baseline subtraction changes nothing")
    return 0.0, notes


def predict_recording(
    predictor: Predictor,
    rec: Recording,
    step_s: float | None = None,
    batch_size: int = 64,
    baseline_seconds: float | None = None,
) -> PredictionResult:
    """Classify every window of ``rec``; see the module docstring.

    ``baseline_seconds``: length of the reference period at the start of the recording whose
    mean GSR is subtracted (and which is then dropped), as preprocessing subtracts each trial's
    pre-stimulus mean. Window start times count from the start of the recording.

    Windows go to the model ``batch_size`` at a time, small chunks so that a chunk's
    activations stay in the CPU caches (docs/deployment.md measures the rate); results do not
    depend on it."""
    check_window_budget(predictor.meta, rec, step_s)
    meta = predictor.meta
    ref_s, notes = reference_period(meta, baseline_seconds, predictor.source or "the model")
    cut = _cut(meta, rec, step_s, ref_s)
    flags, usable = _quality(rec, cut)
    good = flags == ""
    mu, sd = _norm_stats(meta, cut.xs[usable] if good.any() else cut.xs)
    xn = normalise(cut.windows.astype(np.float32), np.float32(mu),
                   np.float32(1.0 / sd))[:, None, :]
    probs = np.concatenate([predictor.predict_proba(xn[a:a + batch_size])
                            for a in range(0, len(xn), batch_size)])
    p_high = probs[:, 1]
    label = np.where(p_high >= 0.5, meta.class_names[1], meta.class_names[0])
    rows = []
    for i, s in enumerate(cut.starts):
        t0 = (cut.n_ref + s) / cut.fs
        row = {"window": i, "start_s": round(t0, 4), "end_s": round(t0 + cut.window / cut.fs, 4),
               "p_high": float(p_high[i]), "label": str(label[i]), "quality": str(flags[i])}
        if rec.start_time is not None:
            row["start_unix"] = round(rec.start_time + t0, 3)
        rows.append(row)
    warnings: list[str] = []
    n_bad = int((~good).sum())
    if n_bad:
        kinds = ", ".join(sorted({f for f in flags if f}))
        warnings.append(f"{rec.source}: {n_bad} of {len(rows)} windows look {kinds} "
                        "(no usable skin-conductance signal); they are marked in 'quality'")
    summary = {
        "recording": rec.source, "format": rec.fmt, "channel": rec.channel,
        "file_unit": rec.unit, "recording_fs": rec.fs, "model_fs": cut.fs,
        "duration_s": round(len(cut.x) / cut.fs, 3), "windows": len(rows), "flagged": n_bad,
        "usable_windows": int(good.sum()), "target": meta.target, "norm": meta.norm,
        "training_baseline": meta.baseline, "reference_s": ref_s or None,
        "reference_mean_us": cut.ref_mean if cut.n_ref else None,
        "norm_mean": mu, "norm_std": sd,
        "mean_p_high": float(p_high[good].mean()) if good.any() else None,
        "fraction_high": float((p_high[good] >= 0.5).mean()) if good.any() else None,
        "notes": list(rec.notes) + [n for n in notes if n not in warnings],
    }
    return PredictionResult(rows, summary, warnings)


@dataclass
class _Cut:
    """A recording at the model's rate, its reference period removed, cut into windows."""

    raw: np.ndarray  # the recording's samples (µS) at its own rate
    x: np.ndarray  # at the model's rate
    xs: np.ndarray  # after the reference period, its mean subtracted
    fs: float  # the model's rate
    window: int  # samples per window
    n_ref: int  # samples of the reference period
    ref_mean: float
    starts: np.ndarray  # window starts in xs
    windows: np.ndarray  # (n_windows, window) views of xs


def _cut(meta: ModelMeta, rec: Recording, step_s: float | None, ref_s: float) -> _Cut:
    from emotionkd.signals import resample
    from emotionkd.windows import window_starts

    fs = meta.sampling_rate
    raw = np.asarray(rec.values, dtype=np.float64)
    x = resample(raw, rec.fs, fs) if rec.fs != fs else raw
    window = meta.window_samples
    step = int(round((step_s if step_s is not None else meta.window_s) * fs))
    if step < 1:
        raise ConfigError(f"--step must be at least one sample at {fs:g} Hz")
    n_ref = int(round(ref_s * fs))
    if ref_s and n_ref < 1:
        raise ConfigError(f"--baseline-seconds {ref_s:g} is shorter than one sample at "
                          f"{fs:g} Hz")
    if len(x) - n_ref < window:
        extra = f" after the {ref_s:g}-s reference period" if n_ref else ""
        raise DataFormatError(
            f"{rec.source}: recording is {(len(x) - n_ref) / fs:.1f} s long{extra}, shorter "
            f"than one {meta.window_s:g}-s window of the model; record longer"
        )
    ref_mean = float(x[:n_ref].mean()) if n_ref else 0.0
    xs = x[n_ref:] - ref_mean if n_ref else x
    starts, _ = window_starts(np.array([0]), np.array([len(xs)]), window, step)
    wins = np.lib.stride_tricks.sliding_window_view(xs, window)[starts]
    return _Cut(raw, x, xs, fs, window, n_ref, ref_mean, starts, wins)


def _quality(rec: Recording, cut: _Cut) -> tuple[np.ndarray, np.ndarray]:
    """Per window "", "implausible" (beyond 100 µS), "disconnected" or "flat", and which
    samples of ``cut.xs`` are usable.

    Judged on the raw samples each window covers (resampling would smear a stuck sensor with
    filter ringing)."""
    flags = np.empty(len(cut.starts), dtype=object)
    usable = np.ones(len(cut.xs), dtype=bool)
    for i, s0 in enumerate(cut.starts):
        a = int(np.floor((cut.n_ref + s0) / cut.fs * rec.fs))
        seg = cut.raw[a:max(a + 1, int(np.ceil((cut.n_ref + s0 + cut.window) / cut.fs
                                               * rec.fs)))]
        if np.abs(seg).max() > MAX_PLAUSIBLE_US:
            flags[i] = "implausible"  # a spike or damaged data, not skin conductance
        elif np.median(seg) < DISCONNECTED_US:
            flags[i] = "disconnected"
        elif np.ptp(seg) < FLAT_PTP_US:
            flags[i] = "flat"
        else:
            flags[i] = ""
        if flags[i]:
            usable[s0:s0 + cut.window] = False
    return flags, usable


def _norm_stats(meta: ModelMeta, usable: np.ndarray) -> tuple[float, float]:
    """Mean and SD that z-score a recording for the model: the stored training statistics
    (``norm train``), none, or (``norm subject``) the recording's own over its usable
    samples, as a subject's statistics come from all of its stimulus samples in training."""
    if meta.norm == "train":
        if meta.gsr_mean is None or meta.gsr_std is None:
            raise CheckpointError("the model was trained with --norm train but carries no "
                                  "training statistics; re-export it")
        return meta.gsr_mean, meta.gsr_std
    if meta.norm == "none":
        return 0.0, 1.0
    mean, std = zscore_stats(*moments(usable))
    return float(mean), float(std)


def write_predictions(res: PredictionResult, out: str | os.PathLike, fmt: str | None = None,
                      *, overwrite: bool = False, inputs: tuple[str | os.PathLike, ...] = ()
                      ) -> Path:
    """Write rows as CSV or JSON (by ``fmt`` or the file extension; ``"-"``: to standard
    output, CSV unless ``fmt`` says JSON) atomically
    (:func:`emotionkd.outputs.atomic_output`); an existing file is replaced only with
    ``overwrite``, one of ``inputs`` (the model, the recording) never."""
    from emotionkd.outputs import atomic_output

    p = Path(out)
    kind = (fmt or p.suffix.lstrip(".") or "csv").lower()
    check_choice(kind, "--out-format", PREDICTION_FORMATS)
    if str(out) == STDOUT:
        _dump(res, sys.stdout, kind)
        return p
    with atomic_output(p, overwrite=overwrite, inputs=inputs) as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as fh:
        _dump(res, fh, kind)
    return p


#: ``--out -``: the rows go to standard output (a file named "-" is ./-)
STDOUT = "-"


def _dump(res: PredictionResult, fh: Any, kind: str) -> None:
    """The rows of ``res`` as CSV or JSON into the open text file ``fh``."""
    if kind == "json":
        json.dump({"summary": res.summary, "warnings": res.warnings, "windows": res.rows}, fh,
                  indent=1)
        fh.write("\n")
    else:
        w = csv.DictWriter(fh, fieldnames=list(res.rows[0].keys()))
        w.writeheader()
        w.writerows(res.rows)


#: a model window must cover at least this many samples of the recording (else it is made of
#: interpolation: a wrong --fs)
MIN_SAMPLES_PER_WINDOW = 4
#: the windows of one recording may take at most this much memory (float64 samples)
MAX_WINDOW_BYTES = 2 * 2**30


def check_window_budget(meta: ModelMeta, rec: Recording, step_s: float | None) -> None:
    """Refuse, before resampling, a step that is not a positive number, a recording rate that
    gives a model window fewer than :data:`MIN_SAMPLES_PER_WINDOW` samples (``--fs 0.01``),
    and a recording that would make more than :data:`MAX_WINDOW_BYTES` of windows."""
    if step_s is not None:
        check_number(step_s, "--step", low=0, low_open=True, why=" (seconds)")
    fs, window = meta.sampling_rate, meta.window_samples
    per_window = meta.window_s * rec.fs
    if per_window < MIN_SAMPLES_PER_WINDOW:
        raise DataFormatError(
            f"{rec.source}: at {rec.fs:g} Hz a {meta.window_s:g}-s window of the model holds "
            f"{per_window:.3g} sample(s) of the recording; at least {MIN_SAMPLES_PER_WINDOW} are "
            f"needed (a rate of at least {MIN_SAMPLES_PER_WINDOW / meta.window_s:g} Hz): check "
            "--fs or the time column")
    step = max(1, int(round((step_s if step_s is not None else meta.window_s) * fs)))
    n_model = int(np.ceil(len(rec.values) * fs / rec.fs))
    n_windows = (n_model - window) // step + 1 if n_model >= window else 0
    if n_windows * window * 8 > MAX_WINDOW_BYTES:
        raise ConfigError(
            f"{rec.source}: {len(rec.values):,} samples at {rec.fs:g} Hz make {n_windows:,} "
            f"windows with a {step / fs:g}-s step, {n_windows * window * 8 / 2**30:.1f} GiB in "
            f"memory (limit {MAX_WINDOW_BYTES / 2**30:g} GiB); check --fs, use a larger --step "
            "or split the recording")
