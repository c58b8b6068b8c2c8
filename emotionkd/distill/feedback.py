"""Adaptive feedback: the teacher learns from how well the student learns.

An exact (second-order) meta-gradient, MetaDistil-style (Zhou et al., ACL 2022), as the
EmotionKD figure describes it ("Temporary Student" → "Feedback" → Teacher):

1. a *pilot* copy of the student takes one differentiable SGD step of size ``pilot_lr`` on the
   distillation loss, θ_s' = θ_s − λ ∇_θs L_S(x; θ_s, θ_t) (``torch.func.functional_call`` on
   the real student's tensors; the real parameters are never modified and BatchNorm buffers
   are cloned, so the real student is untouched);
2. the pilot's cross-entropy on a *quiz* batch (from the training side, disjoint from the
   early-stopping validation data) back-propagates through that step into the teacher, which
   also keeps its own CE term: L_fb = e1·CE(T(x), y) + e2·CE(S'(x_q), y_q) with
   e1 = ``feedback_teacher_ce``, e2 = ``feedback_student_ce`` (EmotionKD's ``feedback_Loss``
   with e1 = e2 = 1);
3. the teacher takes an Adam step; the real student then steps with the updated teacher
   (done by the training loop).

The released reference code cannot pass this gradient: its feedback input is a constant, so
only the teacher's own CE term acts. Here the gradient flows, and tests check it against
central finite differences.

During distillation the teacher runs in eval mode (BatchNorm statistics frozen, no dropout),
both for its soft labels and features and for the feedback, which keeps the meta-gradient
deterministic and the teacher's statistics stable.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from emotionkd.config import FeedbackConfig
from emotionkd.distill.losses import ce
from emotionkd.distill.methods import DistillMethod, Outputs
from emotionkd.training import make_adam


def pilot_quiz_loss(
    teacher: nn.Module,
    student: nn.Module,
    adapter: nn.Module | None,
    method: DistillMethod,
    eeg: torch.Tensor,
    gsr: torch.Tensor,
    y: torch.Tensor,
    quiz_gsr: torch.Tensor,
    quiz_y: torch.Tensor,
    pilot_lr: float,
    class_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quiz CE of the pilot student after one differentiable step, as a function of the teacher.

    Returns ``(quiz_loss, teacher_logits, distill_loss)``; ``quiz_loss`` carries the graph back
    to the teacher's parameters (through the pilot step), ``teacher_logits`` to the teacher
    directly. The quiz CE is class-weighted like the training loss (``class_weight``). The real
    student's parameters and buffers are not modified.
    """
    z_t, f_t = teacher(eeg, gsr)
    params = dict(student.named_parameters())
    buffers = {k: b.clone() for k, b in student.named_buffers()}
    z_s, f_s = functional_call(student, (params, buffers), (gsr,))
    loss_s, _ = method.loss(Outputs(y, z_s, f_s, z_t, f_t, class_weight=class_weight), adapter)
    names = [k for k, p in params.items() if p.requires_grad]
    grads = torch.autograd.grad(loss_s, [params[k] for k in names], create_graph=True,
                                allow_unused=True)
    fast = dict(params)
    for k, g in zip(names, grads):
        if g is not None:
            fast[k] = params[k] - pilot_lr * g
    was_training = student.training
    student.eval()  # the quiz measures the pilot as it would be used (dropout off)
    try:
        z_q, _ = functional_call(student, (fast, buffers), (quiz_gsr,))
    finally:
        student.train(was_training)
    return ce(z_q, quiz_y, class_weight), z_t, loss_s


class FeedbackUpdater:
    """Owns the teacher's optimiser and performs one feedback update per call."""

    def __init__(self, teacher: nn.Module, student: nn.Module, adapter: nn.Module | None,
                 method: DistillMethod, cfg: FeedbackConfig,
                 class_weight: torch.Tensor | None = None) -> None:
        self.teacher, self.student, self.adapter = teacher, student, adapter
        self.method, self.cfg, self.class_weight = method, cfg, class_weight
        self.params = [p for p in teacher.parameters() if p.requires_grad]
        self.opt = make_adam(self.params, cfg.teacher_lr, 1e-7)
        self.steps = 0

    #: every how many feedback steps the two gradient terms are computed separately to log
    #: their norms (one extra backward pass through the teacher on those steps)
    NORM_EVERY = 10

    def step(self, eeg: torch.Tensor, gsr: torch.Tensor, y: torch.Tensor,
             quiz_gsr: torch.Tensor, quiz_y: torch.Tensor) -> dict[str, float]:
        """One teacher update from the pilot student's quiz loss (+ the teacher's own CE).

        With ``feedback_student_ce == 0`` no pilot step is taken at all (the teacher-CE-only
        ablation); with ``feedback_teacher_ce == 0`` the update is the meta-gradient alone. Every
        :attr:`NORM_EVERY` steps the norms of the two terms' gradients are measured
        separately and returned (``fb_ce_norm``, ``fb_meta_norm``)."""
        from emotionkd import distributed as dist_

        cfg = self.cfg
        self.teacher.eval()
        terms: dict[str, float] = {}
        if cfg.feedback_student_ce > 0:
            with dist_.local_batchnorm():  # the pilot needs a second derivative: local stats
                quiz, z_t, _ = pilot_quiz_loss(self.teacher, self.student, self.adapter,
                                               self.method, eeg, gsr, y, quiz_gsr, quiz_y,
                                               cfg.pilot_lr, self.class_weight)
            terms["fb_quiz"] = float(quiz.detach())
        else:
            quiz, (z_t, _) = None, self.teacher(eeg, gsr)
        t_ce = ce(z_t, y, self.class_weight)
        terms["fb_teacher_ce"] = float(t_ce.detach())
        measure = self.steps % self.NORM_EVERY == 0
        if measure and quiz is not None and cfg.feedback_teacher_ce > 0:
            g_ce = torch.autograd.grad(t_ce, self.params, allow_unused=True, retain_graph=True)
            g_meta = torch.autograd.grad(quiz, self.params, allow_unused=True)
            terms["fb_ce_norm"] = _norm(g_ce)
            terms["fb_meta_norm"] = _norm(g_meta)
            grads = [None if a is None and b is None else
                     (0 if a is None else cfg.feedback_teacher_ce * a)
                     + (0 if b is None else cfg.feedback_student_ce * b)
                     for a, b in zip(g_ce, g_meta)]
        else:
            loss = cfg.feedback_teacher_ce * t_ce + (
                cfg.feedback_student_ce * quiz if quiz is not None else 0)
            grads = torch.autograd.grad(loss, self.params, allow_unused=True)
            if measure:
                terms["fb_meta_norm" if quiz is not None else "fb_ce_norm"] = _norm(grads)
        for p, g in zip(self.params, grads):
            # zeros, not None: every rank must all-reduce the same flat gradient layout
            p.grad = torch.zeros_like(p) if g is None else g.detach()
        dist_.average_gradients(self.params)  # the teacher replicas stay identical
        if cfg.feedback_grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.feedback_grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.steps += 1
        return terms


def _norm(grads: tuple[torch.Tensor | None, ...] | list) -> float:
    """Euclidean norm of a list of gradients (None entries count as zero)."""
    sq = [g.detach().float().pow(2).sum() for g in grads if isinstance(g, torch.Tensor)]
    return float(torch.stack(sq).sum().sqrt()) if sq else 0.0
