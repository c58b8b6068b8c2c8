"""The Python API for notebooks: the main jobs of the commands as functions.

Import them from the package root (``emotionkd.train_teacher`` …); they are loaded on first
use, so ``import emotionkd`` stays light. Options are keyword arguments with the names of the
command-line options and config-file keys (``window``, ``norm``, ``epochs``, ``lr``, ``size``,
``d_model``, ``kl_weight``, ``feedback_warmup`` …; see :mod:`emotionkd.config`), resolved by
the same rules as the commands: defaults < ``config`` file < keywords; ``config`` may also
be an :class:`~emotionkd.config.ExperimentConfig`. An unknown name is an error.

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
from typing import TYPE_CHECKING, Any

from emotionkd.errors import ConfigError
from emotionkd.ingest import write_store, write_store_from_raw
from emotionkd.predict import PredictionResult, Predictor, load_predictor
from emotionkd.recordings import Recording, read_recording

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.evaluation.summary import RunSummary
    from emotionkd.jobs import ConfigLike

PathLike = str | os.PathLike
#: the training jobs, served from :mod:`emotionkd.jobs` on first use (they import torch)
_JOBS = ("train_teacher", "distill_student")

__all__ = ["read_recording", "from_mne_raw", "load_predictor", "Predictor", "Recording",
           "PredictionResult", *_JOBS, "evaluate", "write_store", "write_store_from_raw"]


def __getattr__(name: str) -> Any:
    if name in _JOBS:
        from emotionkd import jobs

        return getattr(jobs, name)
    raise AttributeError(f"module 'emotionkd.api' has no attribute {name!r}")


def from_mne_raw(raw: Any, channel: str | None = None, unit: str = "auto") -> Recording:
    """A :class:`Recording` from an MNE ``Raw`` (the GSR/EDA channel by label)."""
    return Recording.from_mne(raw, channel=channel, unit=unit)


def evaluate(
    data: PathLike,
    *,
    model: PathLike | None = None,
    subjects: Sequence[int] | None = None,
    allow_train_subjects: bool = False,
    out: PathLike | None = None,
    targets: Sequence[str] | None = None,
    resume: bool = False,
    config: ConfigLike = None,
    progress: Callable[..., None] | None = None,
    tensorboard: bool = False,
    **options: Any,
) -> RunSummary | dict[str, Any]:
    """Evaluate (``emotionkd evaluate``): with ``model``, one checkpoint on ``subjects`` it was
    not trained on (a dict of metrics); otherwise a leakage-free protocol over the store,
    written to the run folder ``out``, with options of every table (``protocol="loso"``,
    ``k``, ``methods``, ``baselines``, ``epochs`` …; ``targets`` is ``target`` as a list).
    Each model's epochs go to ``out/epochs/`` as it trains (with ``tensorboard``, also as
    TensorBoard events in ``out/tensorboard/``). Returns the results of the run
    (:class:`~emotionkd.evaluation.RunSummary`)."""
    if model is not None:
        from emotionkd.evaluation import evaluate_checkpoint

        return evaluate_checkpoint(model, data, list(subjects) if subjects else None,
                                   allow_train_subjects)
    from emotionkd.config import ExperimentConfig
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol
    from emotionkd.jobs import configure

    if out is None:
        raise ConfigError("evaluate: pass out=RUN_FOLDER for a protocol run")
    if targets is not None:
        options["target"] = ",".join(targets)
    if subjects is not None:
        options["subjects"] = list(subjects)
    if not isinstance(config, ExperimentConfig):
        options.setdefault("protocol", "loso")
    plan = EvaluationPlan(configure("evaluate", config, options), tensorboard=tensorboard)
    return evaluate_protocol(data, plan, out, resume=resume, progress=progress)

