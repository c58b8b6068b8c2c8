"""The Python API for notebooks: the main jobs of the commands as functions.

Import them from the package root (``emotionkd.train_teacher`` …); they are loaded on first
use, so ``import emotionkd`` stays light. Options are keyword arguments with the names of the
command-line options and config-file keys (``window``, ``norm``, ``epochs``, ``lr``, ``size``,
``d_model``, ``kl_weight``, ``feedback_warmup`` …; see :mod:`emotionkd.config`), resolved by
the same rules as the commands: defaults < ``config`` file < keywords. An unknown name is an
error; old names (``alpha``, ``beta``, ``warmup``, ``window_s``, ``step_s``) work with a
DeprecationWarning.

    import emotionkd as ek
    teacher = ek.train_teacher("deap.h5", "t.pt", size="tiny", epochs=5)
    student = ek.distill_student("t.pt", "deap.h5", "s.pt", epochs=5)
    predictor = ek.load_predictor("s.pt")
    result = predictor.predict_array(skin_conductance_us, fs=4.0)
    result.p_high                                  # probability of high arousal per window
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotionkd.errors import ConfigError
from emotionkd.ingest import write_store, write_store_from_raw
from emotionkd.predict import PredictionResult, Predictor, load_predictor
from emotionkd.recordings import Recording, read_recording

__all__ = ["read_recording", "from_mne_raw", "load_predictor", "Predictor", "Recording",
           "PredictionResult", "train_teacher", "distill_student", "evaluate", "write_store",
           "write_store_from_raw"]

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.config import ExperimentConfig

PathLike = str | os.PathLike


def from_mne_raw(raw: Any, channel: str | None = None, unit: str = "auto") -> Recording:
    """A :class:`Recording` from an MNE ``Raw`` (the GSR/EDA channel by label)."""
    return Recording.from_mne(raw, channel=channel, unit=unit)


def _config(command: str, options: dict[str, Any], config: PathLike | None
            ) -> ExperimentConfig:
    """The ExperimentConfig of ``command`` from a config file and keyword options; notes on
    deprecated names become DeprecationWarnings."""
    from emotionkd.config import resolve_config

    notes: list[str] = []
    cfg = resolve_config(command, options, config, notes)
    for note in notes:
        warnings.warn(note, DeprecationWarning, stacklevel=3)
    return cfg


def _refuse_existing(*paths: PathLike | None, overwrite: bool) -> None:
    for p in paths:
        if p is not None and Path(p).exists() and not overwrite:
            raise ConfigError(f"{p}: already exists; pass overwrite=True to replace it")


def _save(run, out: str | os.PathLike | None, overwrite: bool) -> None:  # noqa: ANN001
    if out is not None:
        run.save(out, overwrite=overwrite)


def train_teacher(
    data: PathLike,
    out: PathLike | None = None,
    *,
    config: PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    **options: Any,
):  # noqa: ANN201 - returns emotionkd.runs.ModelRun
    """Train an EEG+GSR teacher on a store (``emotionkd train-teacher``): options of the
    ``[data]``, ``[model]`` and ``[train]`` tables (e.g. ``model``, ``size``,
    ``val_subjects=[3]``). Saved to ``out`` when given. Returns the run (``.model``,
    ``.data``, ``.training``, ``.test_metrics``)."""
    from emotionkd.runs import run_train_teacher

    cfg = _config("train-teacher", options, config)
    _refuse_existing(out, overwrite=overwrite)
    run = run_train_teacher(data, cfg, progress=progress)
    _save(run, out, overwrite)
    return run


def distill_student(
    teacher: PathLike,
    data: PathLike,
    out: PathLike | None = None,
    *,
    teacher_out: PathLike | None = None,
    config: PathLike | None = None,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    **options: Any,
):  # noqa: ANN201 - returns emotionkd.runs.ModelRun
    """Distil a GSR-only student from a teacher checkpoint (``emotionkd distill``): options of
    the ``[train]``, ``[distill]`` and ``[feedback]`` tables (e.g. ``method``, ``feedback``,
    ``kl_weight``). The data specification and subjects come from the teacher. Saved to
    ``out`` when given (and the teacher adapted by feedback to ``teacher_out``). Returns the
    student run."""
    from emotionkd.distill.trainer import run_distillation

    cfg = _config("distill", options, config)
    _refuse_existing(out, teacher_out, overwrite=overwrite)
    run, adapted = run_distillation(str(teacher), data, cfg, progress=progress)
    _save(run, out, overwrite)
    if adapted is not None and teacher_out is not None:
        adapted.save(teacher_out, overwrite=overwrite)
    return run


def evaluate(
    data: PathLike,
    *,
    model: PathLike | None = None,
    subjects: Sequence[int] | None = None,
    allow_train_subjects: bool = False,
    out: PathLike | None = None,
    targets: Sequence[str] | None = None,
    resume: bool = False,
    config: PathLike | None = None,
    progress: Callable[..., None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate (``emotionkd evaluate``): with ``model``, one checkpoint on ``subjects`` it was
    not trained on; otherwise a leakage-free protocol over the store, written to the run
    folder ``out``, with options of every table (``protocol="loso"``, ``k``, ``methods``,
    ``baselines``, ``epochs`` …; ``targets`` is ``target`` as a list). Returns the results."""
    if model is not None:
        from emotionkd.evaluation import evaluate_checkpoint

        return evaluate_checkpoint(str(model), data, list(subjects) if subjects else None,
                                   allow_train_subjects)
    from emotionkd.evaluation import eval_config, evaluate_protocol
    from emotionkd.runs import open_data

    if out is None:
        raise ConfigError("evaluate: pass out=RUN_FOLDER for a protocol run")
    if targets is not None:
        options["target"] = ",".join(targets)
    if subjects is not None:
        options["subjects"] = list(subjects)
    options.setdefault("protocol", "loso")
    cfg = eval_config(_config("evaluate", options, config))
    return evaluate_protocol(open_data(data).path, cfg, out, resume=resume, progress=progress)
