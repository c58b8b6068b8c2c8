"""High-level building blocks shared by the commands and the evaluation protocols: the data
specification, loading windows for chosen subjects, subject-level validation splits, training
one model, and the checkpoint payloads."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from torch import nn

from emotionkd.config import DataConfig, ExperimentConfig, check_setting, settings
from emotionkd.errors import ConfigError
from emotionkd.store import Store, open_store
from emotionkd.training import FitResult, SupervisedTask, TrainConfig, fit
from emotionkd.validation import parse_subjects
from emotionkd.windows import WindowDataset


@dataclass
class DataSpec:
    """How windows and labels are made from a store (stored in every checkpoint): the
    ``[data]`` settings with the EEG channels resolved to names (defaults: DataConfig's)."""

    window_s: float = DataConfig.window
    step_s: float = DataConfig.step
    target: str = DataConfig.target
    threshold: float = DataConfig.threshold
    tie: str = DataConfig.tie
    eeg_channels: list[str] | None = None  # None: all channels of the store
    norm: str = DataConfig.norm

    def __post_init__(self) -> None:
        spec = settings("data")
        for key, name in (("window", "window_s"), ("step", "step_s"), ("threshold", "threshold"),
                          ("tie", "tie"), ("norm", "norm")):
            setattr(self, name, check_setting(spec[key], getattr(self, name)))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_checkpoint(cls, data: dict[str, Any]) -> DataSpec:
        """The specification a checkpoint's ``data`` entry records."""
        return cls(**{k: data[k] for k in ("window_s", "step_s", "target", "threshold", "tie",
                                           "eeg_channels", "norm")})


def data_spec(data: DataConfig, store: Store | None = None, target: str | None = None
              ) -> DataSpec:
    """The DataSpec of the ``[data]`` settings (``target`` replaces theirs); the EEG channels
    are resolved to names and, with a ``store``, checked against it."""
    from emotionkd.datasets.records import resolve_eeg_channels

    chans = data.eeg_channels
    names = None if chans in ("", "store") else resolve_eeg_channels(chans)
    if names is not None and store is not None:
        store.channel_indices(names)  # a clear error if the store lacks one
    return DataSpec(window_s=data.window, step_s=data.step, target=target or data.target,
                    threshold=data.threshold, tie=data.tie, eeg_channels=names, norm=data.norm)


def open_data(path: str | os.PathLike | Store) -> Store:
    return path if isinstance(path, Store) else open_store(path)


def load_windows(store: Store, spec: DataSpec, subjects: Sequence[int] | None = None,
                 load_eeg: bool = True, norm_subjects: Sequence[int] | None = None
                 ) -> WindowDataset:
    """Windows of ``subjects`` with the spec's labels and normalisation."""
    return WindowDataset(store, window_s=spec.window_s, step_s=spec.step_s, target=spec.target,
                         threshold=spec.threshold, tie=spec.tie, norm=spec.norm,
                         subjects=subjects, eeg_channels=spec.eeg_channels, load_eeg=load_eeg,
                         norm_subjects=norm_subjects)


def resolve_subject_split(
    available: Sequence[int],
    train: Sequence[int] | None,
    val: Sequence[int] | None,
    test: Sequence[int] | None,
    val_fraction: float,
    seed: int,
) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) subjects; disjoint, validation from the training side.

    Unspecified test → none; unspecified train → every subject not in validation or test;
    unspecified validation → ``val_fraction`` of the training subjects (at least one).
    """
    from emotionkd.splits import holdout_subjects

    avail = set(int(s) for s in available)
    for name, group in (("--train-subjects", train), ("--val-subjects", val),
                        ("--test-subjects", test)):
        missing = sorted(set(group or []) - avail)
        if missing:
            raise ConfigError(f"{name}: subject(s) {missing} are not in the data "
                              f"(it has {sorted(avail)})")
    test_l = sorted(set(test or []))
    val_l = sorted(set(val or []))
    if train is None:
        train_l = sorted(avail - set(test_l) - set(val_l))
    else:
        train_l = sorted(set(train))
    overlap = (set(train_l) & set(test_l)) | (set(train_l) & set(val_l)) | (set(val_l) &
                                                                           set(test_l))
    if overlap:
        raise ConfigError(f"subjects {sorted(overlap)} are on two sides of the split; training,"
                          " validation and test subjects must be disjoint")
    if not val_l and val_fraction > 0:
        train_l, val_l = holdout_subjects(train_l, val_fraction, seed)
    if not train_l:
        raise ConfigError("no training subjects left after the validation/test split")
    return train_l, val_l, test_l


def train_model(
    name: str,
    model_config: dict[str, Any],
    train: WindowDataset,
    val: WindowDataset | None,
    cfg: TrainConfig,
    progress: Callable[..., None] | None = None,
) -> tuple[nn.Module, FitResult]:
    """Build a registry model (its weights drawn after seeding with ``cfg.seed``) and fit it
    with plain supervised training."""
    import torch

    from emotionkd.models.registry import build_model

    torch.manual_seed(cfg.seed)
    model = build_model(name, model_config)
    res = fit(SupervisedTask(model), train, val, cfg, progress=progress, description=name)
    return model, res


def fit_model(
    name: str,
    train: WindowDataset,
    val: WindowDataset | None,
    cfg: TrainConfig,
    architecture: dict[str, Any] | None = None,
    progress: Callable[..., None] | None = None,
) -> tuple[nn.Module, dict[str, Any], FitResult]:
    """Build registry model ``name`` for the windows' shape — with the ``[model]``
    ``architecture`` where the registry says it is sized — and fit it supervised (teachers
    and deep baselines, in ``train-teacher`` and in every fold of ``evaluate``). Returns the
    model, its config dict and the fit result."""
    from emotionkd.models.registry import config_for

    model_config = config_for(name, train.fs, train.window_s, train.n_eeg, architecture)
    model, res = train_model(name, model_config, train, val, cfg, progress)
    return model, model_config, res


def norm_stats_dict(ds: WindowDataset) -> dict[str, Any] | None:
    """Training statistics to store when ``norm == "train"`` (predict/export need them)."""
    if ds.norm != "train":
        return None
    st = ds._stats
    return {"gsr_mean": float(st.gsr_mean[0, 0]), "gsr_std": float(st.gsr_std[0, 0]),
            "eeg_mean": st.eeg_mean[0].tolist(), "eeg_std": st.eeg_std[0].tolist()}


def data_section(ds: WindowDataset, store: Store, train_subjects: Sequence[int],
                 val_subjects: Sequence[int], test_subjects: Sequence[int] = ()) -> dict:
    """The checkpoint's ``data`` entry."""
    out = ds.spec()
    out.update({
        "store": str(store.path),
        "rating_names": list(store.rating_names),
        "class_names": [f"low {ds.target}", f"high {ds.target}"],
        "train_subjects": [int(s) for s in train_subjects],
        "val_subjects": [int(s) for s in val_subjects],
        "test_subjects": [int(s) for s in test_subjects],
        "n_eeg": ds.n_eeg,
    })
    stats = norm_stats_dict(ds)
    if stats is not None:
        out["norm_stats"] = stats
    return out


def training_section(cfg: TrainConfig, res: FitResult, resolved: dict[str, Any] | None = None
                     ) -> dict:
    return {"config": cfg.as_dict(), "resolved": resolved or {}, "seed": cfg.seed,
            "epochs_run": res.epochs_run, "best_epoch": res.best_epoch, "best": res.best,
            "history": res.history, "seconds": round(res.seconds, 2), "device": res.device,
            "stopped_early": res.stopped_early}


def class_balance(labels: np.ndarray) -> dict[str, Any]:
    n = int(len(labels))
    high = int(np.sum(labels))
    return {"n": n, "high": high, "low": n - high,
            "majority": max(high, n - high) / n if n else float("nan")}


@dataclass
class ModelRun:
    """A trained model with everything its checkpoint needs."""

    role: str
    model_name: str
    model: nn.Module
    model_config: dict[str, Any]
    fit: FitResult
    data: dict[str, Any]
    training: dict[str, Any]
    test_metrics: dict[str, float] | None = None
    distillation: dict[str, Any] | None = None

    def save(self, path: str | os.PathLike, overwrite: bool = True, **extra: Any):
        from emotionkd.checkpoint import save_checkpoint

        if self.distillation is not None:
            extra.setdefault("distillation", self.distillation)
        return save_checkpoint(path, role=self.role, model=self.model_name,
                               model_config=self.model_config,
                               state_dict=self.model.state_dict(), data=self.data,
                               training=self.training, overwrite=overwrite, **extra)


def score_model(model: nn.Module, ds: WindowDataset, batch_size: int = 512) -> dict[str, float]:
    """Binary metrics of ``model`` on ``ds`` (CPU or the model's device)."""
    from emotionkd.metrics import binary_metrics
    from emotionkd.training import predict_proba

    prob = predict_proba(model, ds, batch_size=batch_size)
    return binary_metrics(ds.labels, prob[:, 1])


def train_teacher(
    store: Store | str | os.PathLike,
    spec: DataSpec,
    cfg: TrainConfig,
    model_name: str = "emotionnet-teacher",
    model_overrides: dict[str, Any] | None = None,
    train_subjects: Sequence[int] | None = None,
    val_subjects: Sequence[int] | None = None,
    test_subjects: Sequence[int] | None = None,
    val_fraction: float = 0.2,
    resolved: dict[str, Any] | None = None,
    progress: Callable[..., None] | None = None,
) -> ModelRun:
    """Train an EEG+GSR teacher on a store with a subject-level validation split."""
    from emotionkd.models.registry import entry, names_where

    st = open_data(store)
    role = entry(model_name).role
    if role != "teacher":
        raise ConfigError(f"--model {model_name} is a {role}; train-teacher trains "
                          f"{' or '.join(names_where(role='teacher'))}")
    tr, va, te = resolve_subject_split(st.subjects, train_subjects, val_subjects, test_subjects,
                                       val_fraction, cfg.seed)
    full = load_windows(st, spec, subjects=tr + va + te,
                        norm_subjects=tr if spec.norm == "train" else None)
    train, val = full.select_subjects(tr), full.select_subjects(va)
    model, model_config, res = fit_model(model_name, train, val if len(val) else None, cfg,
                                         model_overrides, progress)
    run = ModelRun("teacher", model_name, model, model_config, res,
                   data_section(full, st, tr, va, te), training_section(cfg, res, resolved))
    run.data["train_balance"] = class_balance(train.labels)
    run.data["val_balance"] = class_balance(val.labels)
    if te:
        run.test_metrics = score_model(model, full.select_subjects(te))
        run.training["test"] = run.test_metrics
    return run


def run_train_teacher(store: Store | str | os.PathLike, config: ExperimentConfig,
                      progress: Callable[..., None] | None = None) -> ModelRun:
    """:func:`train_teacher` with the ``[data]``, ``[model]`` and ``[train]`` settings of
    ``config`` (the ``train-teacher`` command; the resolved tables go into the checkpoint)."""
    st = open_data(store)
    d = config.data
    return train_teacher(
        st, data_spec(d, st), config.train, model_name=config.model.model,
        model_overrides=config.model.overrides(),
        train_subjects=parse_subjects(d.train_subjects, "--train-subjects"),
        val_subjects=parse_subjects(d.val_subjects, "--val-subjects"),
        test_subjects=parse_subjects(d.test_subjects, "--test-subjects"),
        val_fraction=d.val_fraction, resolved=config.resolved("train-teacher"),
        progress=progress)
