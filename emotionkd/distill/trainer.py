"""Distillation as a :class:`~emotionkd.training.Task`, and the library entry points.

:func:`distill_student` trains a GSR-only student from a trained teacher with one of the
methods of :mod:`emotionkd.distill.losses`, optionally with the adaptive feedback of
:mod:`emotionkd.distill.feedback`, using the shared fit loop. :func:`fit_student` builds the
student and trains it with any method (``none``: plain supervised training); the ``distill``
command (:func:`run_distillation`) and every fold of ``evaluate`` train students through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from emotionkd.config import ExperimentConfig, FeedbackConfig, LossWeights, method_weights
from emotionkd.distill.feedback import FeedbackUpdater
from emotionkd.distill.losses import HintAdapter, student_objective
from emotionkd.errors import ConfigError
from emotionkd.training import FitResult, SupervisedTask, Task, TrainConfig, fit
from emotionkd.windows import WindowDataset


class DistillTask(Task):
    """Student training against a (possibly adapting) teacher.

    The student and the hint adapter are optimised by the main loop; the teacher is frozen
    (eval mode, no gradient) unless feedback is on, in which case :meth:`before_step` updates
    it from the pilot student's quiz loss before each student step.

    A frozen teacher is a fixed function of each training window, so its logits and fused
    features are computed once, before the first epoch, and looked up per batch
    (``cache_teacher``; skipped with feedback, and when they would exceed
    :data:`TEACHER_CACHE_MAX_BYTES`). Same values as running the teacher on every batch, without
    the teacher's forward pass in every step of every epoch.
    """

    inputs = "gsr"
    supports_amp = False  # the second-order feedback needs full precision

    def __init__(self, teacher: nn.Module, student: nn.Module, weights: LossWeights,
                 feedback: FeedbackConfig | None = None, quiz: WindowDataset | None = None,
                 seed: int = 0, cache_teacher: bool = True) -> None:
        self.teacher, self.model, self.weights = teacher, student, weights
        self.cache_teacher = cache_teacher
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.feedback_cfg = feedback
        if self.feedback_cfg is not None and (quiz is None or len(quiz) == 0):
            raise ConfigError("feedback needs quiz data from the training side")
        self.quiz = quiz
        self._rng = np.random.default_rng(seed + 7919)
        self.adapter: nn.Module | None = None
        if weights.hint_weight:
            self.adapter = HintAdapter(_width(student), _width(teacher))
        self.updater: FeedbackUpdater | None = None
        self.feedback_steps = 0
        for p in teacher.parameters():
            p.requires_grad_(self.feedback_cfg is not None)

    def modules(self) -> dict[str, nn.Module]:
        mods = {"model": self.model, "teacher": self.teacher}
        if self.adapter is not None:
            mods["adapter"] = self.adapter
        return mods

    def parameters(self) -> list[nn.Parameter]:
        ps = [p for p in self.model.parameters() if p.requires_grad]
        if self.adapter is not None:
            ps += list(self.adapter.parameters())
        return ps

    def setup(self, device: torch.device, cfg: TrainConfig, train: WindowDataset) -> None:
        super().setup(device, cfg, train)
        self.teacher.eval()
        self._quiz_bs = cfg.batch_size
        self._cache = None
        if self.feedback_cfg is not None:
            self.updater = FeedbackUpdater(self.teacher, self.model, self.adapter, self.weights,
                                           self.feedback_cfg, self.class_weight)
        elif self.cache_teacher:
            self._cache = teacher_outputs(self.teacher, train, device, cfg.eval_batch_size)

    @property
    def batch_eeg(self) -> bool:
        return self._cache is None  # the teacher needs the EEG unless its outputs are cached

    def before_step(self, eeg, gsr, y, step: int, epoch: int) -> dict[str, float]:
        self.teacher.eval()  # the loop sets every module to train mode each epoch
        fb = self.feedback_cfg
        if (self.updater is None or epoch <= fb.feedback_warmup or step % fb.feedback_every != 0
                or len(y) < 2):
            return {}
        qi = self._rng.choice(len(self.quiz), size=min(self._quiz_bs, len(self.quiz)),
                              replace=False)
        _, q_gsr, q_y = self.quiz.batch(qi)
        terms = self.updater.step(eeg, gsr, y, q_gsr.to(self.device), q_y.to(self.device))
        self.feedback_steps += 1
        return terms

    def train_loss(self, eeg, gsr, y, step: int,
                   idx: np.ndarray | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        if self._cache is not None and idx is not None:
            rows = torch.as_tensor(idx, dtype=torch.long, device=self._cache[0].device)
            z_t, f_t = self._cache[0][rows], self._cache[1][rows]
        else:
            self.teacher.eval()
            with torch.no_grad():
                z_t, f_t = self.teacher(eeg, gsr)
        z_s, f_s = self.model(gsr)
        loss, terms = student_objective(z_s, f_s, y, z_t, f_t, self.weights, self.adapter,
                                        self.class_weight)
        penalty = getattr(self.model, "head_l2_penalty", None)
        if penalty is not None:
            l2 = penalty()
            loss = loss + l2
            terms["l2"] = l2
        return loss, {k: float(v.detach()) for k, v in terms.items()}


#: largest teacher-output cache (logits + fused features of every training window) kept for
#: a distillation without feedback; above it the teacher runs on every batch instead
TEACHER_CACHE_MAX_BYTES = 2 * 2**30


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, train: WindowDataset, device: torch.device,
                    batch_size: int = 512) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The eval-mode teacher's (logits, fused features) for every window of ``train``, on
    ``device``; None when they would exceed :data:`TEACHER_CACHE_MAX_BYTES`.

    Under multi-process training every rank computes its shard and the rows are gathered."""
    from emotionkd import distributed as dist_

    if len(train) == 0:
        return None
    was_training = teacher.training
    teacher.eval()
    eeg, gsr, _ = train.batch([0])
    z, f = teacher(eeg.to(device), gsr.to(device))
    per_window = (z[0].numel() + f[0].numel()) * f.element_size()
    if per_window * len(train) > TEACHER_CACHE_MAX_BYTES:
        teacher.train(was_training)
        return None
    idx = dist_.shard(np.arange(len(train)))  # all of them on a single process
    zs, fs = [], []
    for a in range(0, len(idx), batch_size):
        eeg, gsr, _ = train.batch(idx[a:a + batch_size])
        z, f = teacher(eeg.to(device), gsr.to(device))
        zs.append(z)
        fs.append(f)
    teacher.train(was_training)
    z = torch.cat(zs) if zs else z.new_zeros((0, *z.shape[1:]))
    f = torch.cat(fs) if fs else f.new_zeros((0, *f.shape[1:]))
    return dist_.gather_rows(z, len(train)), dist_.gather_rows(f, len(train))


def _width(model: nn.Module) -> int:
    cfg = getattr(model, "config", None)
    d = getattr(cfg, "d_model", None) if cfg is not None else None
    if d is None and isinstance(cfg, dict):
        d = cfg.get("d_model")
    if d is None:
        raise ConfigError(f"cannot tell the feature width of {type(model).__name__}")
    return int(d)


@dataclass
class DistillResult:
    student: nn.Module
    teacher: nn.Module | None  # as it ended (feedback changes it); None: trained alone
    fit: FitResult
    feedback_steps: int
    weights: LossWeights
    feedback: FeedbackConfig | None
    extras: dict[str, Any] = field(default_factory=dict)


def init_student_from_teacher(student: nn.Module, teacher: nn.Module) -> int:
    """Copy the teacher's GSR stream (head and encoder) into the student; returns the number of
    tensors copied. Both must share the stream's architecture."""
    t_state = teacher.state_dict()
    s_state = student.state_dict()
    copied = 0
    for k in s_state:
        if k.startswith(("gsr_head.", "gsr_encoder.")):
            if k not in t_state or t_state[k].shape != s_state[k].shape:
                raise ConfigError(
                    "--student-init teacher-gsr: the student's GSR stream does not match the "
                    f"teacher's ({k}); build the student with the teacher's model size"
                )
            s_state[k] = t_state[k].clone()
            copied += 1
    if not copied:
        raise ConfigError("--student-init teacher-gsr: the student has no GSR stream to copy")
    student.load_state_dict(s_state)
    return copied


def distill_student(
    teacher: nn.Module,
    student: nn.Module,
    train: WindowDataset,
    val: WindowDataset | None,
    weights: LossWeights,
    cfg: TrainConfig,
    feedback: FeedbackConfig | None = None,
    quiz: WindowDataset | None = None,
    progress: Callable[..., None] | None = None,
) -> DistillResult:
    """Train ``student`` from ``teacher`` on ``train`` (early stopping on ``val``).

    With ``feedback`` (None: off), ``quiz`` (training-side windows, disjoint from ``val``)
    feeds the pilot student's quiz loss. Returns the student and the (possibly adapted)
    teacher at the best validation epoch.
    """
    if not train.has_eeg:
        raise ConfigError("distillation needs EEG for the teacher: load the data with EEG")
    task = DistillTask(teacher, student, weights, feedback, quiz, seed=cfg.seed)
    res = fit(task, train, val, cfg, progress=progress, description="distill")
    for p in teacher.parameters():
        p.requires_grad_(True)
    return DistillResult(student=student, teacher=teacher, fit=res,
                         feedback_steps=task.feedback_steps, weights=weights,
                         feedback=task.feedback_cfg)


def fit_student(
    teacher: nn.Module | None,
    student_config: dict[str, Any],
    train: WindowDataset,
    val: WindowDataset | None,
    cfg: TrainConfig,
    method: str = "emotionkd",
    weights: LossWeights | None = None,
    feedback: FeedbackConfig | None = None,
    quiz: WindowDataset | None = None,
    student_init: str = "scratch",
    progress: Callable[..., None] | None = None,
) -> DistillResult:
    """Build the distilled student (the registry entry that needs a teacher) from
    ``student_config`` and train it with ``method``.

    The student's weights are drawn after seeding with ``cfg.seed``, so every method starts
    from the same student. ``none`` is plain supervised training (the teacher is not used);
    the other methods distil from ``teacher``, which feedback changes in place (pass a copy to
    keep the original). ``weights`` default to the method's preset; ``student_init``
    ``teacher-gsr`` starts from the teacher's GSR stream.
    """
    import torch

    from emotionkd.models.registry import build_model, distilled_student

    weights = weights or method_weights(method)
    if method != "none" and teacher is None:
        raise ConfigError(f"--method {method} distils from a teacher, and none was given")
    torch.manual_seed(cfg.seed)
    name = distilled_student()
    student = build_model(name, student_config)
    if student_init == "teacher-gsr":
        if teacher is None:
            raise ConfigError("--student-init teacher-gsr needs a teacher")
        init_student_from_teacher(student, teacher)
    if method == "none":
        res = fit(SupervisedTask(student), train, val, cfg, progress=progress, description=name)
        return DistillResult(student=student, teacher=teacher, fit=res, feedback_steps=0,
                             weights=weights, feedback=None)
    return distill_student(teacher, student, train, val, weights, cfg, feedback, quiz, progress)


def run_distillation(
    teacher_path: str,
    store,  # noqa: ANN001 - Store or path
    config: ExperimentConfig,
    progress: Callable[..., None] | None = None,
):  # noqa: ANN201 - returns (ModelRun, adapted teacher or None)
    """Distil a GSR student from a teacher checkpoint on a store (the ``distill`` command),
    with the ``[train]``, ``[distill]`` and ``[feedback]`` settings of ``config``.

    The data specification and subject split come from the teacher checkpoint; data that
    does not match it is refused. With feedback, a ``quiz_fraction`` of the training trials
    (whole trials, per subject) is held out of the student's training batches and used as the
    pilot student's quiz set. Returns the student run and the adapted teacher (None when the
    teacher did not change).
    """
    from emotionkd.checkpoint import (
        build_from_checkpoint,
        check_data_compatible,
        file_sha256,
        load_checkpoint,
    )
    from emotionkd.models.registry import config_for, distilled_student
    from emotionkd.runs import (
        DataSpec,
        ModelRun,
        class_balance,
        data_section,
        load_windows,
        open_data,
        score_model,
        training_section,
    )
    from emotionkd.splits import holdout_trials

    dc, cfg = config.distill, config.train
    method = dc.method
    feedback = config.feedback if dc.feedback_on("distill") and method != "none" else None
    weights = dc.weights()
    ck = load_checkpoint(teacher_path, role="teacher")
    st = open_data(store)
    d = ck["data"]
    if abs(float(d["sampling_rate"]) - st.sampling_rate) > 1e-6:
        raise ConfigError(f"{teacher_path}: sampling_rate is {d['sampling_rate']} in the teacher "
                          f"but {st.sampling_rate} in {st.path}; preprocess the data at the "
                          "teacher's rate")
    spec = DataSpec.from_checkpoint(d)
    tr, va, te = d["train_subjects"], d["val_subjects"], d.get("test_subjects", [])
    missing = sorted(set(tr + va + te) - set(st.subjects))
    if missing:
        raise ConfigError(f"{st.path}: lacks subject(s) {missing} that the teacher "
                          f"{teacher_path} was trained/validated on; use the teacher's data")
    full = load_windows(st, spec, subjects=tr + va + te,
                        norm_subjects=tr if spec.norm == "train" else None)
    check_data_compatible(ck, full.spec(), str(st.path))
    train, val = full.select_subjects(tr), full.select_subjects(va)
    teacher = build_from_checkpoint(ck)
    name = distilled_student()
    arch = {k: v for k, v in ck["model_config"].items() if k not in ("fs", "window_s", "n_eeg")}
    s_cfg = config_for(name, full.fs, full.window_s, full.n_eeg, arch)
    quiz = None
    fit_set = train
    if feedback is not None:
        keep, held = holdout_trials(train.trial_keys(), feedback.quiz_fraction, cfg.seed)
        fit_set, quiz = train.subset(np.flatnonzero(keep)), train.subset(np.flatnonzero(held))
    res = fit_student(teacher, s_cfg, fit_set, val if len(val) else None, cfg, method, weights,
                      feedback, quiz, dc.student_init, progress)
    data = data_section(full, st, tr, va, te)
    data["train_balance"] = class_balance(fit_set.labels)
    data["val_balance"] = class_balance(val.labels)
    training = training_section(cfg, res.fit, config.resolved("distill"))
    teacher_info = {"path": str(teacher_path), "sha256": file_sha256(teacher_path),
                    "model": ck["model"], "best": ck["training"].get("best", {})}
    dist = {"method": method, "weights": weights.as_dict(),
            "feedback": res.feedback.as_dict() if res.feedback else None,
            "feedback_steps": res.feedback_steps, "student_init": dc.student_init,
            "quiz_fraction": feedback.quiz_fraction if quiz is not None else 0.0,
            "quiz_windows": len(quiz) if quiz is not None else 0, "teacher": teacher_info}
    run = ModelRun("student", name, res.student, s_cfg, res.fit, data, training)
    run.distillation = dist
    if te:
        run.test_metrics = score_model(res.student, full.select_subjects(te))
        run.training["test"] = run.test_metrics
    adapted = None
    if res.feedback_steps:
        adapted = ModelRun("teacher", ck["model"], res.teacher, ck["model_config"], res.fit,
                           dict(ck["data"]), {**ck["training"], "adapted_by_feedback": {
                               "student": "see distillation", "feedback_steps":
                               res.feedback_steps, "feedback": res.feedback.as_dict()}})
    return run, adapted
