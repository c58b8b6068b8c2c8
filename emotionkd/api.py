"""The Python API for notebooks: the main jobs of the commands as functions.

Import them from the package root (``emotionkd.train_teacher`` …); they are loaded on first
use, so ``import emotionkd`` stays light. Options are keyword arguments named like the
command-line options (``window_s``, ``norm``, ``epochs``, ``lr``, ``size``, ``d_model`` …) and
go to :class:`~emotionkd.runs.DataSpec`, :class:`~emotionkd.training.TrainConfig` or the model
configuration; an unknown name is an error.

    import emotionkd as ek
    teacher = ek.train_teacher("deap.h5", "t.pt", size="tiny", epochs=5)
    student = ek.distill_student("t.pt", "deap.h5", "s.pt", epochs=5)
    predictor = ek.load_predictor("s.pt")
    result = predictor.predict_array(skin_conductance_us, fs=4.0)
    result.p_high                                  # probability of high arousal per window
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from emotionkd.errors import ConfigError
from emotionkd.predict import PredictionResult, Predictor, load_predictor
from emotionkd.recordings import Recording, read_recording

__all__ = ["read_recording", "from_mne_raw", "load_predictor", "Predictor", "Recording",
           "PredictionResult", "train_teacher", "distill_student", "evaluate"]

_DISTILL_KEYS = {"ce_weight": "ce", "alpha": "kl", "beta": "hint", "temperature": "temperature",
                 "hint_map": "hint_map"}
_FEEDBACK_KEYS = {"pilot_lr": "pilot_lr", "teacher_lr": "teacher_lr", "warmup": "warmup_epochs",
                  "feedback_every": "every", "feedback_teacher_ce": "teacher_ce",
                  "feedback_student_ce": "student_ce"}


def from_mne_raw(raw: Any, channel: str | None = None, unit: str = "auto") -> Recording:
    """A :class:`Recording` from an MNE ``Raw`` (the GSR/EDA channel by label)."""
    return Recording.from_mne(raw, channel=channel, unit=unit)


def _split(options: dict[str, Any], allowed: Sequence[str] = ("data", "train", "model")
           ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Options → (DataSpec, TrainConfig, model, remaining distillation/feedback) keywords."""
    from emotionkd.config import MODEL_KEYS
    from emotionkd.runs import DataSpec
    from emotionkd.training import TrainConfig

    groups: dict[str, set[str]] = {
        "data": {f.name for f in fields(DataSpec)},
        "train": {f.name for f in fields(TrainConfig)},
        "model": {*MODEL_KEYS, "size"},
        "distill": {*_DISTILL_KEYS, *_FEEDBACK_KEYS},
    }
    out: dict[str, dict[str, Any]] = {g: {} for g in groups}
    for key, value in options.items():
        group = next((g for g in allowed if key in groups[g]), None)
        if group is None:
            known = sorted(set().union(*(groups[g] for g in allowed)))
            raise ConfigError(f"unknown option {key!r}; known: {', '.join(known)}")
        out[group][key] = value
    return out["data"], out["train"], out["model"], out["distill"]


def _spec(data: dict[str, Any]):  # noqa: ANN202
    from emotionkd.datasets.records import resolve_eeg_channels
    from emotionkd.runs import DataSpec

    chans = data.get("eeg_channels")
    if chans is not None:
        data["eeg_channels"] = resolve_eeg_channels(chans)
    return DataSpec(**data)


def _save(run, out: str | os.PathLike | None, overwrite: bool) -> None:  # noqa: ANN001
    if out is not None:
        run.save(out, overwrite=overwrite)


def train_teacher(
    data: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    model: str = "emotionnet-teacher",
    train_subjects: Sequence[int] | None = None,
    val_subjects: Sequence[int] | None = None,
    test_subjects: Sequence[int] | None = None,
    val_fraction: float = 0.2,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    **options: Any,
):  # noqa: ANN201 - returns emotionkd.runs.ModelRun
    """Train an EEG+GSR teacher on a store (``emotionkd train-teacher``); saved to ``out``
    when given. Returns the run (``.model``, ``.data``, ``.training``, ``.test_metrics``)."""
    from emotionkd.config import model_overrides
    from emotionkd.runs import open_data
    from emotionkd.runs import train_teacher as _train
    from emotionkd.training import TrainConfig

    d, t, m, _ = _split(options)
    if out is not None and Path(out).exists() and not overwrite:
        raise ConfigError(f"{out}: already exists; pass overwrite=True to replace it")
    run = _train(open_data(data), _spec(d), TrainConfig(**t), model_name=model,
                 model_overrides=model_overrides(m), train_subjects=train_subjects,
                 val_subjects=val_subjects, test_subjects=test_subjects,
                 val_fraction=val_fraction, resolved={**options, "model": model},
                 progress=progress)
    _save(run, out, overwrite)
    return run


def distill_student(
    teacher: str | os.PathLike,
    data: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    method: str = "emotionkd",
    feedback: bool | None = None,
    student_init: str = "scratch",
    quiz_fraction: float = 0.2,
    teacher_out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    **options: Any,
):  # noqa: ANN201 - returns emotionkd.runs.ModelRun
    """Distil a GSR-only student from a teacher checkpoint (``emotionkd distill``); the data
    specification and subjects come from the teacher. Saved to ``out`` when given (and the
    teacher adapted by feedback to ``teacher_out``). Returns the student run."""
    from emotionkd.distill.feedback import FeedbackConfig
    from emotionkd.distill.losses import method_weights
    from emotionkd.distill.trainer import run_distillation
    from emotionkd.training import TrainConfig

    _, t, _, rest = _split(options, allowed=("train", "distill"))
    for p in (out, teacher_out):
        if p is not None and Path(p).exists() and not overwrite:
            raise ConfigError(f"{p}: already exists; pass overwrite=True to replace it")
    weights = method_weights(method, **{_DISTILL_KEYS[k]: v for k, v in rest.items()
                                        if k in _DISTILL_KEYS})
    enabled = feedback if feedback is not None else method == "emotionkd"
    fb = FeedbackConfig(enabled=bool(enabled), **{_FEEDBACK_KEYS[k]: v for k, v in rest.items()
                                                  if k in _FEEDBACK_KEYS})
    run, adapted = run_distillation(str(teacher), data, method, TrainConfig(**t), weights, fb,
                                    student_init=student_init, quiz_fraction=quiz_fraction,
                                    resolved={**options, "method": method}, progress=progress)
    _save(run, out, overwrite)
    if adapted is not None and teacher_out is not None:
        adapted.save(teacher_out, overwrite=overwrite)
    return run


def evaluate(
    data: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    subjects: Sequence[int] | None = None,
    allow_train_subjects: bool = False,
    protocol: str = "loso",
    k: int = 0,
    out: str | os.PathLike | None = None,
    targets: Sequence[str] = ("arousal",),
    methods: Sequence[str] = ("emotionkd", "none"),
    baselines: Sequence[str] = (),
    feedback: bool = True,
    resume: bool = False,
    val_fraction: float = 0.2,
    quiz_fraction: float = 0.2,
    progress: Callable[..., None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate (``emotionkd evaluate``): with ``model``, one checkpoint on ``subjects`` it was
    not trained on; otherwise a leakage-free protocol (loso, kfold or subject-dependent with
    ``k`` folds) over the store, written to the run folder ``out``. Returns the results."""
    if model is not None:
        from emotionkd.evaluation import evaluate_checkpoint

        return evaluate_checkpoint(str(model), data, list(subjects) if subjects else None,
                                   allow_train_subjects)
    from emotionkd.config import model_overrides
    from emotionkd.evaluation import EvalConfig, evaluate_protocol
    from emotionkd.runs import open_data
    from emotionkd.training import TrainConfig

    if out is None:
        raise ConfigError("evaluate: pass out=RUN_FOLDER for a protocol run")
    d, t, m, rest = _split(options, allowed=("data", "train", "model", "distill"))
    d.pop("target", None)
    spec = _spec({**d, "target": targets[0]}).as_dict()
    spec.pop("target")
    seed = TrainConfig(**t).seed
    cfg = EvalConfig(protocol=protocol, k=k, targets=list(targets), methods=list(methods),
                     baselines=list(baselines), feedback=feedback, data=spec,
                     train=TrainConfig(**t).as_dict(), model=model_overrides(m),
                     distill={meth: {_DISTILL_KEYS[k2]: v for k2, v in rest.items()
                                     if k2 in _DISTILL_KEYS} for meth in methods},
                     feedback_cfg={_FEEDBACK_KEYS[k2]: v for k2, v in rest.items()
                                   if k2 in _FEEDBACK_KEYS},
                     val_fraction=val_fraction, quiz_fraction=quiz_fraction, seeds=[seed],
                     subjects=list(subjects) if subjects else None)
    return evaluate_protocol(open_data(data).path, cfg, out, resume=resume, progress=progress)
