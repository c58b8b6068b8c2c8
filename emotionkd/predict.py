"""GSR recording (CSV/E4/EDF/BDF, any rate) → windows → per-window predictions.

A *predictor* wraps a GSR-only model from a checkpoint (``.pt``), an ONNX file (``.onnx``, run
with ONNX Runtime) or a TorchScript file (``.ts``), together with the data specification it
was trained with (sampling rate, window, normalisation, target). The recording is converted
to µS, resampled to the model's rate with an anti-aliasing polyphase filter, normalised the
way the model was trained (per-recording z-score for per-subject normalisation — the same
unsupervised calibration a held-out subject gets in evaluation — or the stored training
statistics), cut into windows and classified.

Windows where the sensor looks flat (no variation) or disconnected (conductance near zero) are
still predicted but flagged, and a warning is returned.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.errors import CheckpointError, ConfigError, DataFormatError
from emotionkd.recordings import Recording

FLAT_PTP_US = 1e-3  # a window whose conductance spans less than this (under one E4 step) is flat
DISCONNECTED_US = 0.02  # a median conductance below this means no skin contact


@dataclass
class ModelMeta:
    """What a predictor needs to know about the model's inputs and outputs."""

    sampling_rate: float
    window: int
    window_s: float
    step_s: float
    norm: str
    target: str
    threshold: float
    tie: str
    class_names: list[str]
    gsr_mean: float | None = None  # training statistics for norm == "train"
    gsr_std: float | None = None
    model: str = ""
    emotionkd_version: str = ""

    @classmethod
    def from_data_spec(cls, data: dict[str, Any], model: str = "", version: str = ""
                       ) -> ModelMeta:
        target = data.get("target", "arousal")
        stats = data.get("norm_stats") or {}
        return cls(
            sampling_rate=float(data["sampling_rate"]), window=int(data["window"]),
            window_s=float(data["window_s"]), step_s=float(data.get("step_s", data["window_s"])),
            norm=str(data.get("norm", "subject")), target=target,
            threshold=float(data.get("threshold", 5.0)), tie=str(data.get("tie", "low")),
            class_names=list(data.get("class_names") or [f"low {target}", f"high {target}"]),
            gsr_mean=stats.get("gsr_mean"), gsr_std=stats.get("gsr_std"), model=model,
            emotionkd_version=version,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Predictor:
    """Base: ``predict_proba(x)`` maps float32 (B, 1, window) to (B, 2) probabilities."""

    meta: ModelMeta
    kind: str = ""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class TorchPredictor(Predictor):
    kind = "checkpoint"

    def __init__(self, path: Path) -> None:
        import torch

        from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
        from emotionkd.models.inference import fold_for_inference
        from emotionkd.models.registry import model_spec

        ckpt = load_checkpoint(path)
        if model_spec(ckpt["model"])["inputs"] != "gsr":
            raise CheckpointError(
                f"{path}: is a {ckpt['model']} {ckpt['role']}, which needs EEG; predict runs "
                "GSR-only models: pass a distilled student (emotionkd distill)"
            )
        self.model = fold_for_inference(build_from_checkpoint(ckpt))
        self.meta = ModelMeta.from_data_spec(ckpt["data"], ckpt["model"],
                                             ckpt["emotionkd_version"])
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
        try:
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except RuntimeError as exc:
            raise CheckpointError(f"{path}: not a TorchScript model ({exc})") from None
        if not extra["emotionkd.json"]:
            raise CheckpointError(f"{path}: TorchScript file without emotionkd metadata; "
                                  "export it with 'emotionkd export'")
        meta = json.loads(extra["emotionkd.json"])
        self.meta = ModelMeta(**meta["predict"])
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
        self.meta = ModelMeta(**json.loads(props["emotionkd"])["predict"])
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
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def predict_recording(
    predictor: Predictor,
    rec: Recording,
    step_s: float | None = None,
    batch_size: int = 64,
) -> PredictionResult:
    """Classify every window of ``rec``; see the module docstring.

    Windows go to the model ``batch_size`` at a time: chunks of 64 keep a chunk's activations
    in the CPU caches; on one thread they ran 1.1–1.2× (ONNX Runtime) to 1.5–2× (PyTorch,
    TorchScript) faster than chunks of 256 (docs/deployment.md). Results do not depend on it."""
    from emotionkd.preprocess import resample_poly_to
    from emotionkd.windows import window_starts

    check_window_budget(predictor.meta, rec, step_s)
    meta = predictor.meta
    fs = meta.sampling_rate
    raw = np.asarray(rec.values, dtype=np.float64)
    x = resample_poly_to(raw, rec.fs, fs) if rec.fs != fs else raw
    window = meta.window
    step = int(round((step_s if step_s is not None else meta.window_s) * fs))
    if step < 1:
        raise ConfigError(f"--step must be at least one sample at {fs:g} Hz")
    if len(x) < window:
        raise DataFormatError(
            f"{rec.source}: recording is {len(x) / fs:.1f} s long, shorter than one "
            f"{meta.window_s:g}-s window of the model; record longer"
        )
    starts, _ = window_starts(np.array([0]), np.array([len(x)]), window, step)
    wins = np.lib.stride_tricks.sliding_window_view(x, window)[starts]
    # signal quality on the raw samples each window covers (resampling would smear a stuck
    # sensor with filter ringing)
    flags = np.empty(len(starts), dtype=object)
    for i, s0 in enumerate(starts):
        a = int(np.floor(s0 / fs * rec.fs))
        seg = raw[a:max(a + 1, int(np.ceil((s0 + window) / fs * rec.fs)))]
        if np.median(seg) < DISCONNECTED_US:
            flags[i] = "disconnected"
        elif np.ptp(seg) < FLAT_PTP_US:
            flags[i] = "flat"
        else:
            flags[i] = ""
    good = flags == ""
    if meta.norm == "train":
        if meta.gsr_mean is None or meta.gsr_std is None:
            raise CheckpointError("the model was trained with --norm train but carries no "
                                  "training statistics; re-export it")
        mu, sd = meta.gsr_mean, meta.gsr_std
    elif meta.norm == "none":
        mu, sd = 0.0, 1.0
    else:  # per-recording calibration from the usable part of the signal
        ref = x if not good.any() else np.concatenate([wins[good].ravel()])
        mu, sd = float(ref.mean()), float(ref.std()) or 1.0
    xn = ((wins - mu) / sd).astype(np.float32)[:, None, :]
    probs = np.concatenate([predictor.predict_proba(xn[a:a + batch_size])
                            for a in range(0, len(xn), batch_size)])
    p_high = probs[:, 1]
    label = np.where(p_high >= 0.5, meta.class_names[1], meta.class_names[0])
    rows = []
    for i, s in enumerate(starts):
        t0 = s / fs
        row = {"window": i, "start_s": round(t0, 4), "end_s": round(t0 + window / fs, 4),
               "p_high": float(p_high[i]), "label": str(label[i]), "quality": str(flags[i])}
        if rec.start_time is not None:
            row["start_unix"] = round(rec.start_time + t0, 3)
        rows.append(row)
    warnings = []
    n_bad = int((~good).sum())
    if n_bad:
        kinds = ", ".join(sorted({f for f in flags if f}))
        warnings.append(f"{rec.source}: {n_bad} of {len(rows)} windows look {kinds} "
                        "(no usable skin-conductance signal); they are marked in 'quality'")
    summary = {
        "recording": rec.source, "format": rec.fmt, "channel": rec.channel,
        "file_unit": rec.unit, "recording_fs": rec.fs, "model_fs": fs,
        "duration_s": round(len(x) / fs, 3), "windows": len(rows), "flagged": n_bad,
        "target": meta.target, "norm": meta.norm,
        "mean_p_high": float(p_high[good].mean()) if good.any() else float("nan"),
        "fraction_high": float((p_high[good] >= 0.5).mean()) if good.any() else float("nan"),
    }
    return PredictionResult(rows, summary, warnings)


def write_predictions(res: PredictionResult, out: str | os.PathLike, fmt: str | None = None,
                      *, overwrite: bool = False, inputs: tuple[str | os.PathLike, ...] = ()
                      ) -> Path:
    """Write rows as CSV or JSON (by ``fmt`` or the file extension) atomically
    (:func:`emotionkd.outputs.atomic_output`); an existing file is replaced only with
    ``overwrite``, one of ``inputs`` (the model, the recording) never."""
    from emotionkd.outputs import atomic_output

    p = Path(out)
    kind = (fmt or p.suffix.lstrip(".") or "csv").lower()
    if kind not in ("csv", "json"):
        raise ConfigError(f"--out-format must be csv or json, not {kind!r}")
    with atomic_output(p, overwrite=overwrite, inputs=inputs) as tmp, \
            open(tmp, "w", newline="", encoding="utf-8") as fh:
        if kind == "json":
            json.dump({"summary": res.summary, "warnings": res.warnings,
                       "windows": res.rows}, fh, indent=1)
        else:
            fields = list(res.rows[0].keys())
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(res.rows)
    return p


#: a model window must cover at least this many samples of the recording (else it is made of
#: interpolation: a wrong --fs)
MIN_SAMPLES_PER_WINDOW = 4
#: the windows of one recording may take at most this much memory (float64 samples)
MAX_WINDOW_BYTES = 2 * 2**30


def check_window_budget(meta: ModelMeta, rec: Recording, step_s: float | None) -> None:
    """Refuse, before resampling, a step that is not a positive number, a recording rate that
    gives a model window fewer than :data:`MIN_SAMPLES_PER_WINDOW` samples (``--fs 0.01``),
    and a recording that would make more than :data:`MAX_WINDOW_BYTES` of windows."""
    from emotionkd.config import check_number

    if step_s is not None:
        check_number(step_s, "--step", low=0, low_open=True, why=" (seconds)")
    fs, window = meta.sampling_rate, meta.window
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
