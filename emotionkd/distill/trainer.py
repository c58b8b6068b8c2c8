"""Distillation as a :class:`~emotionkd.training.Task`, and :func:`fit_student`, which builds
the student and trains it with the configured method (:mod:`emotionkd.distill.methods`),
optionally with the adaptive feedback of :mod:`emotionkd.distill.feedback`, using the shared
fit loop. The ``distill`` command (:func:`emotionkd.jobs.distill_student`) and every fold of
``evaluate`` train students through it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from emotionkd.config import FeedbackConfig, TrainConfig
from emotionkd.distill.feedback import FeedbackUpdater
from emotionkd.distill.methods import DistillMethod, Outputs
from emotionkd.errors import ConfigError
from emotionkd.training import FitResult, SupervisedTask, Task, clone_module, fit
from emotionkd.windows import WindowDataset

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.config import ExperimentConfig


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

    def __init__(self, teacher: nn.Module, student: nn.Module, method: DistillMethod,
                 feedback: FeedbackConfig | None = None, quiz: WindowDataset | None = None,
                 seed: int = 0, cache_teacher: bool = True, n_train: int = 0,
                 targets: torch.Tensor | None = None, logit_scale: float = 1.0,
                 cache: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        self.teacher, self.model, self.method = teacher, student, method
        #: the frozen teacher's outputs computed by the caller (shared by the candidates of a
        #: ``kd_grid`` and an anchored student's fit); computed in :meth:`setup` when None
        self.given_cache = cache
        #: soft-label logits per training window replacing the teacher's (cross-fitted)
        self.targets = targets
        #: the teacher's logits are divided by it (temperature calibration)
        self.logit_scale = float(logit_scale)
        self.cache_teacher = cache_teacher
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self.feedback_cfg = feedback
        if self.feedback_cfg is not None and (quiz is None or len(quiz) == 0):
            raise ConfigError("feedback needs quiz data from the training side")
        self.quiz = quiz
        self._rng = np.random.default_rng(seed + 7919)
        self.needs = method.needs()
        #: the method's trainable parts (the hint regressor …), trained with the student
        self.adapter = method.state(_width(student), _width(teacher), n_train)
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
            self.updater = FeedbackUpdater(self.teacher, self.model, self.adapter, self.method,
                                           self.feedback_cfg, self.class_weight)
        elif self.given_cache is not None:
            self._cache = (self.given_cache[0].to(device), self.given_cache[1].to(device))
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
        if self.targets is not None and idx is not None:
            z_t = self.targets[torch.as_tensor(idx, dtype=torch.long)].to(z_t.device)
        if self.logit_scale != 1.0:
            z_t = z_t / self.logit_scale
        z_s, f_s = self.model(gsr)
        out = Outputs(y, z_s, f_s, z_t if "logits" in self.needs else None,
                      f_t if "features" in self.needs else None, idx, self.class_weight)
        loss, terms = self.method.loss(out, self.adapter)
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
    method: DistillMethod
    feedback: FeedbackConfig | None
    #: the calibration temperature dividing the teacher's logits (1: none)
    logit_scale: float = 1.0
    #: the (KL weight, temperature) the validation chose from ``kd_grid`` (None: not tuned)
    chosen: tuple[float, float] | None = None


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


def uses_feedback(config: ExperimentConfig) -> bool:
    """Whether the student of ``config`` trains with adaptive feedback: as ``[distill]``
    says (on for emotionkd unless set), and never without a teacher."""
    return (config.distill.feedback_on("distill")
            and not config.distill.method_object().alone)


def fit_student(
    teacher: nn.Module | None,
    student_config: dict[str, Any],
    train: WindowDataset,
    val: WindowDataset | None,
    config: ExperimentConfig,
    quiz: WindowDataset | None = None,
    seed: int | None = None,
    progress: Callable[..., None] | None = None,
    targets: torch.Tensor | None = None,
) -> DistillResult:
    """Build the distilled student (the registry entry that needs a teacher) from
    ``student_config`` and train it as ``config`` says: the ``[train]`` settings, the method
    and its settings of ``[distill]`` and, with feedback (:func:`uses_feedback`), the
    ``[feedback]`` settings with ``quiz`` (training-side windows, disjoint from ``val``) as
    the pilot student's quiz set.

    The student's weights are drawn after seeding with ``seed`` (else ``config.train.seed``),
    so every method starts from the same student. A method without teacher outputs (``none``)
    is plain supervised training; the others distil from ``teacher``, which feedback changes
    in place (pass a copy to keep the original). ``student_init`` ``teacher-gsr`` starts from
    the teacher's GSR stream. ``[distill]``'s ``teacher_targets``, ``calibrate_teacher``
    (:func:`soft_targets`; ``targets``: cross-fitted logits already computed) and ``kd_grid``
    (one student per pair, the best validation monitor kept) shape the KL term. Returns the
    student and the teacher at the epoch kept.
    """
    from emotionkd.models.registry import build_model, distilled_student

    cfg, method = config.train, config.distill.method_object()
    seed = cfg.seed if seed is None else int(seed)
    if not method.alone and teacher is None:
        raise ConfigError(f"--method {method.name} distils from a teacher, and none was given")
    torch.manual_seed(seed)
    name = distilled_student()
    student = build_model(name, student_config)
    if config.distill.student_init == "teacher-gsr":
        if teacher is None:
            raise ConfigError("--student-init teacher-gsr needs a teacher")
        init_student_from_teacher(student, teacher)
    if method.alone:
        if hasattr(student, "prepare_fit"):  # an anchored student's fitted regression
            student.prepare_fit(train, val)
        res = fit(SupervisedTask(student), train, val, _student_recipe(student, cfg),
                  progress=progress, description=name, seed=seed)
        return DistillResult(student, teacher, res, 0, method, None)
    if not train.has_eeg:
        raise ConfigError("distillation needs EEG for the teacher: load the data with EEG")
    return _distil(teacher, student, student_config, method, train, val, quiz, config, seed,
                   progress, targets)


def _distil(teacher: nn.Module, student: nn.Module, student_config: dict[str, Any],
            method: DistillMethod, train: WindowDataset, val: WindowDataset | None,
            quiz: WindowDataset | None, config: ExperimentConfig, seed: int,
            progress: Callable[..., None] | None, targets: torch.Tensor | None
            ) -> DistillResult:
    """The distillation part of :func:`fit_student`: its soft targets, then one student per
    ``kd_grid`` pair (or one with the method's own values), the best on validation kept."""
    from emotionkd.models.registry import build_model, distilled_student

    cfg, name = config.train, distilled_student()
    feedback = config.feedback if uses_feedback(config) else None
    targets, scale = soft_targets(teacher, train, val, config, seed, targets)
    pairs = config.distill.kd_pairs() if "kl_weight" in method.uses else []
    start = copy.deepcopy(student.state_dict())
    original = clone_module(teacher) if pairs and feedback is not None else teacher
    shared = None  # a frozen teacher runs over the training windows once for every candidate
    if feedback is None and (len(pairs) > 1 or getattr(student, "starts_fitted", False)):
        from emotionkd import distributed as dist_
        from emotionkd.devices import resolve_device

        device = resolve_device(dist_.device_for_rank(cfg.device))
        shared = teacher_outputs(teacher.to(device), train, device, cfg.eval_batch_size)
    best: tuple[float, DistillResult] | None = None
    for i, pair in enumerate(pairs or [None]):
        m = method if pair is None else type(method)(
            {**method.params, "kl_weight": pair[0], "temperature": pair[1]})
        cand, t = student, teacher
        if i:  # the same start as the first candidate, and the teacher as it was given
            cand = build_model(name, student_config)
            cand.load_state_dict(start)
            t = clone_module(original) if feedback is not None else teacher
        if getattr(cand, "starts_fitted", False):  # an anchored student imitates the mix
            z = targets if targets is not None or shared is None else shared[0].cpu()
            cand.prepare_fit(train, val, anchor_targets(t, m, train, z, scale))
        task = DistillTask(t, cand, m, feedback, quiz, seed=seed, n_train=len(train),
                           targets=targets, logit_scale=scale, cache=shared)
        res = fit(task, train, val, _student_recipe(cand, cfg), progress=progress,
                  description="distill", seed=seed)
        for p in t.parameters():
            p.requires_grad_(True)
        score = _selection_score(res, cfg.monitor)
        if best is None or score > best[0]:
            best = (score, DistillResult(cand, t, res, task.feedback_steps, m,
                                         task.feedback_cfg, scale, pair))
    return best[1]


def _student_recipe(student: nn.Module, cfg: TrainConfig) -> TrainConfig:
    """The recipe with an anchored student's deep path at ``residual_lr`` × the rate."""
    scale = getattr(student, "lr_scale", 1.0)
    return cfg if scale == 1.0 else replace(cfg, lr=cfg.lr * scale)


def anchor_targets(teacher: nn.Module, method: DistillMethod, train: WindowDataset,
                   targets: torch.Tensor | None, scale: float) -> np.ndarray | None:
    """What an anchored student's fitted regression imitates under ``method``: the mix
    (ce·y + kl·p_T) / (ce + kl) of the ratings' labels and the teacher's probability of class 1
    (cross-fitted ``targets`` when given, else the teacher's own logits, divided by the
    calibration ``scale``; temperature 1), with the method's CE and KL weights. None (the
    labels alone) for a method without a KL term."""
    from emotionkd.distill.targets import model_logits

    ce, kl = float(method.params.get("ce_weight", 1.0)), float(method.params.get("kl_weight", 0))
    if kl <= 0 or "logits" not in method.needs():
        return None
    z = targets if targets is not None else model_logits(teacher, train)
    p = torch.softmax(z.float() / scale, dim=1)[:, 1].numpy()
    y = np.asarray(train.labels, dtype=np.float64)
    return (ce * y + kl * p) / (ce + kl)


def _selection_score(res: FitResult, monitor: str) -> float:
    """Higher is better: the kept epoch's validation monitor (the loss negated)."""
    v = res.best.get(monitor, float("nan"))
    return -v if monitor == "loss" else v


def soft_targets(teacher: nn.Module, train: WindowDataset, val: WindowDataset | None,
                 config: ExperimentConfig, seed: int, targets: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor | None, float]:
    """What the KL term imitates as ``[distill]`` says: cross-fitted logits per training window
    (``teacher_targets = crossfit``; ``targets`` when already computed) or None (the
    teacher's own), and the calibration temperature dividing them (1 when off)."""
    from emotionkd.distill.targets import crossfit_logits, fit_temperature, model_logits

    d = config.distill
    if "logits" not in d.method_object().needs():
        return None, 1.0
    if d.teacher_targets == "crossfit" and targets is None:
        sized = config.for_data(len(train))  # the cross-fitted teachers: the run's size
        targets = crossfit_logits(sized.model.model, train, val, sized.train,
                                  sized.model.overrides(), d.crossfit_folds, seed)
    if d.teacher_targets != "crossfit":
        targets = None
    scale = 1.0
    if d.calibrate_teacher:
        if targets is not None:
            scale = fit_temperature(targets, train.labels)
        elif val is not None and len(val):
            scale = fit_temperature(model_logits(teacher, val), val.labels)
    return targets, scale
