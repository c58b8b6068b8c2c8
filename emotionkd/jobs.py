"""The training jobs, one function each, taking the experiment configuration: train a teacher
(``emotionkd train-teacher``) and distil a student (``emotionkd distill``).

The command line calls them with the configuration it resolved from flags and files; the
Python API (``emotionkd.train_teacher`` …) serves the same functions, where ``config`` may
also be a TOML file and keyword options are resolved as the commands resolve flags
(defaults < ``config`` file < keywords). Both return a
:class:`~emotionkd.checkpoint.TrainedModel` and save it when ``out`` is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.checkpoint import (
    TrainedModel,
    check_data_compatible,
    checkpoint_config,
    checkpoint_data,
    data_section,
    file_sha256,
    load_checkpoint,
    training_section,
)
from emotionkd.config import ExperimentConfig, resolve_config
from emotionkd.epochlog import (
    EpochLog,
    history_path,
    logged,
    require_tensorboard,
    tensorboard_path,
)
from emotionkd.errors import ConfigError
from emotionkd.metrics import class_balance
from emotionkd.store import Store, open_store
from emotionkd.validation import parse_subjects
from emotionkd.windows import WindowDataset, check_target_classes

PathLike = str | os.PathLike
#: a configuration, a TOML file of one, or None (the defaults)
ConfigLike = ExperimentConfig | PathLike | None


def configure(command: str, config: ConfigLike, options: dict[str, Any]) -> ExperimentConfig:
    """The configuration of a job: ``config`` itself, or the defaults, the TOML file
    ``config`` and the keyword ``options`` resolved as the command resolves its flags."""
    if isinstance(config, ExperimentConfig):
        if options:
            raise ConfigError(f"{command}: give the settings in the configuration or as "
                              f"keywords, not both (got {', '.join(sorted(options))})")
        return config
    return resolve_config(command, options, config)


def epoch_log(out: PathLike | None, history: PathLike | None, tensorboard: PathLike | bool,
              tag: str) -> EpochLog:
    """The per-epoch log of a job: the CSV ``history`` (default beside ``out``) and the
    TensorBoard folder (``True``: beside ``out``), checked before the training starts."""
    from emotionkd.outputs import check_output

    csv_path = history if history is not None else (
        history_path(out) if out is not None else None)
    if tensorboard is True:
        if out is None:
            raise ConfigError("tensorboard=True writes beside out: give out, or the folder")
        tensorboard = tensorboard_path(out)
    if csv_path is not None:  # replaced with its checkpoint; never an input
        check_output(csv_path, overwrite=True)
    if tensorboard:
        require_tensorboard()
        check_output(tensorboard, overwrite=True, kind="dir")
    return EpochLog(csv_path, tensorboard or None, tag)


def _refuse_existing(*paths: PathLike | None, overwrite: bool) -> None:
    for p in paths:
        if p is not None and Path(p).exists() and not overwrite:
            raise ConfigError(f"{p}: already exists; pass overwrite=True to replace it")


def train_teacher(
    data: PathLike | Store,
    out: PathLike | None = None,
    *,
    config: ConfigLike = None,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    history: PathLike | None = None,
    tensorboard: PathLike | bool = False,
    **options: Any,
) -> TrainedModel:
    """Train an EEG+GSR teacher on a store with the ``[data]``, ``[model]`` and ``[train]``
    settings (keywords e.g. ``model``, ``size``, ``epochs``, ``val_subjects=[3]``): a
    subject-level validation split, test metrics on ``test_subjects``. Saved to ``out`` when
    given. Every epoch is written as it ends to ``history`` (a CSV; by default beside ``out``:
    ``t.pt`` → ``t.history.csv``) and, with ``tensorboard`` (a folder, or True for
    ``t.tensorboard/`` beside ``out``), as TensorBoard scalars. Returns the run (``.model``,
    ``.config``, ``.data``, ``.training``, ``.test_metrics``)."""
    from emotionkd.splits import resolve_subject_split
    from emotionkd.training import fit_model, score_model

    cfg = configure("train-teacher", config, options)
    _refuse_existing(out, overwrite=overwrite)
    log = epoch_log(out, history, tensorboard, "teacher")
    st, d, name = open_store(data), cfg.data, cfg.model.model  # [model] holds a teacher
    tr, va, te = resolve_subject_split(
        st.subjects, parse_subjects(d.train_subjects, "--train-subjects"),
        parse_subjects(d.val_subjects, "--val-subjects"),
        parse_subjects(d.test_subjects, "--test-subjects"), d.val_fraction, cfg.train.seed)
    check_target_classes(st, d, [d.target], tr)  # one class: refused before training
    full = WindowDataset(st, d, subjects=tr + va + te,
                         norm_subjects=tr if d.norm == "train" else None)
    cfg = cfg.with_tables(data=replace(d, threshold=full.threshold))  # the one it used
    train, val = full.select_subjects(tr), full.select_subjects(va)
    cfg = cfg.for_data(len(train))  # size "auto" and the size's lr and batch size
    try:
        model, model_config, res = fit_model(name, train, val if len(val) else None,
                                             cfg.train, cfg.model.overrides(),
                                             progress=logged(progress, log))
    finally:
        log.close()
    run = TrainedModel("teacher", name, model, model_config, cfg, "train-teacher", res,
                       data_section(full, tr, va, te), training_section(res))
    run.data["train_balance"] = class_balance(train.labels)
    run.data["val_balance"] = class_balance(val.labels)
    if te:
        run.test_metrics = score_model(model, full.select_subjects(te))
        run.training["test"] = run.test_metrics
    if out is not None:
        run.save(out, overwrite=overwrite, inputs=(st.path,))
    return run


def distill_student(
    teacher: PathLike,
    data: PathLike | Store,
    out: PathLike | None = None,
    *,
    teacher_out: PathLike | None = None,
    config: ConfigLike = None,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    history: PathLike | None = None,
    tensorboard: PathLike | bool = False,
    **options: Any,
) -> TrainedModel:
    """Distil a GSR-only student from a teacher checkpoint with the ``[train]``,
    ``[distill]`` and ``[feedback]`` settings (keywords e.g. ``method``, ``feedback``,
    ``kl_weight``).

    The data specification and the subject split come from the teacher; a store that does
    not match it is refused. With feedback, a ``quiz_fraction`` of the training trials (whole
    trials, per subject) is held out of the student's training batches as the pilot student's
    quiz set. Saved to ``out`` when given, and the teacher adapted by feedback
    (``.adapted_teacher``, None when feedback did not change it) to ``teacher_out``. The
    epochs are logged as :func:`train_teacher` logs them. Returns the student run; its
    configuration holds the teacher's data and model tables."""
    cfg = configure("distill", config, options)
    _refuse_existing(out, teacher_out, overwrite=overwrite)
    ck = load_checkpoint(teacher, role="teacher")
    st = open_store(data)
    log = epoch_log(out, history, tensorboard, "student")
    try:
        run = _distill(ck, Path(teacher), st, cfg, logged(progress, log))
    finally:
        log.close()
    if out is not None:
        run.save(out, overwrite=overwrite, inputs=(teacher, st.path))
    if run.adapted_teacher is not None and teacher_out is not None:
        run.adapted_teacher.save(teacher_out, overwrite=overwrite, inputs=(teacher, st.path))
    return run


def _teacher_windows(ck: dict[str, Any], teacher: Path, st: Store, cfg: ExperimentConfig
                     ) -> tuple[WindowDataset, list[int], list[int], list[int]]:
    """The teacher's windows of ``st`` and its (train, validation, test) subjects; a store
    that does not match the teacher is refused."""
    d = ck["data"]
    if abs(float(d["sampling_rate"]) - st.sampling_rate) > 1e-6:
        raise ConfigError(f"{teacher}: sampling_rate is {d['sampling_rate']} in the teacher but "
                          f"{st.sampling_rate} in {st.path}; preprocess the data at the "
                          "teacher's rate")
    tr, va, te = d["train_subjects"], d["val_subjects"], d.get("test_subjects", [])
    missing = sorted(set(tr + va + te) - set(st.subjects))
    if missing:
        raise ConfigError(f"{st.path}: lacks subject(s) {missing} that the teacher {teacher} "
                          "was trained/validated on; use the teacher's data")
    check_target_classes(st, cfg.data, [cfg.data.target], tr)
    full = WindowDataset(st, cfg.data, subjects=tr + va + te,
                         norm_subjects=tr if cfg.data.norm == "train" else None)
    check_data_compatible(ck, full.spec(), str(st.path))
    return full, tr, va, te


def _distill(ck: dict[str, Any], teacher: Path, st: Store, cfg: ExperimentConfig,
             progress: Callable[..., None] | None) -> TrainedModel:
    from emotionkd.checkpoint import build_from_checkpoint
    from emotionkd.distill.trainer import fit_student, uses_feedback
    from emotionkd.models.registry import config_for, distilled_student
    from emotionkd.splits import holdout_trials
    from emotionkd.training import score_model

    base = checkpoint_config(ck)  # the student's data and model tables are the teacher's
    cfg = cfg.with_tables(data=checkpoint_data(ck), model=base.model)
    cfg = cfg.with_tables(distill=replace(cfg.distill, feedback=uses_feedback(cfg)))
    full, tr, va, te = _teacher_windows(ck, teacher, st, cfg)
    train, val = full.select_subjects(tr), full.select_subjects(va)
    name = distilled_student()
    arch = {k: v for k, v in ck["model_config"].items() if k not in ("fs", "window_s", "n_eeg")}
    s_cfg = config_for(name, full.fs, full.window_s, full.n_eeg, arch)
    quiz, fit_set = None, train
    if cfg.distill.feedback:
        keep, held = holdout_trials(train.trial_keys(), cfg.feedback.quiz_fraction,
                                    cfg.train.seed)
        fit_set, quiz = train.subset(np.flatnonzero(keep)), train.subset(np.flatnonzero(held))
    cfg = cfg.for_data(len(fit_set))  # the lr and batch size of the teacher's size
    res = fit_student(build_from_checkpoint(ck), s_cfg, fit_set, val if len(val) else None, cfg,
                      quiz, progress=progress)
    data = data_section(full, tr, va, te)
    data["train_balance"] = class_balance(fit_set.labels)
    data["val_balance"] = class_balance(val.labels)
    run = TrainedModel("student", name, res.student, s_cfg, cfg, "distill", res.fit, data,
                       training_section(res.fit))
    run.distillation = {
        "feedback_steps": res.feedback_steps,
        "quiz_windows": len(quiz) if quiz is not None else 0,
        "teacher_temperature": res.logit_scale,
        "kd_chosen": None if res.chosen is None else {"kl_weight": res.chosen[0],
                                                      "temperature": res.chosen[1]},
        "teacher": {"path": str(teacher), "sha256": file_sha256(teacher), "model": ck["model"],
                    "best": ck["training"].get("best", {})}}
    if te:
        run.test_metrics = score_model(res.student, full.select_subjects(te))
        run.training["test"] = run.test_metrics
    if res.feedback_steps:
        adapted = {"feedback_steps": res.feedback_steps,
                   "feedback": cfg.resolved("distill", ("feedback",))["feedback"]}
        run.adapted_teacher = TrainedModel(
            "teacher", ck["model"], res.teacher, ck["model_config"], base, "train-teacher",
            res.fit, dict(ck["data"]), {**ck["training"], "adapted_by_feedback": adapted})
    return run
