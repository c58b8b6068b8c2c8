"""Feedback (emotionkd.distill.feedback): the pilot step, the exact meta-gradient, the
settings' checks and the logged gradient norms."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, method_object, teacher_student_pair

from emotionkd.config import DistillConfig, FeedbackConfig
from emotionkd.distill.feedback import FeedbackUpdater, pilot_quiz_loss
from emotionkd.distill.losses import HintAdapter
from emotionkd.errors import ConfigError


def test_feedback_logs_both_gradient_norms(deap_store, tmp_path):
    import torch

    from emotionkd.config import FeedbackConfig
    from emotionkd.distill.feedback import FeedbackUpdater
    from emotionkd.models.registry import build_model, default_config

    torch.manual_seed(0)
    t = build_model("emotionnet-teacher", default_config("emotionnet-teacher", 64, 2, 4, TINY))
    s = build_model("emotionnet-student", default_config("emotionnet-student", 64, 2, 4, TINY))
    for p in t.parameters():
        p.requires_grad_(True)
    up = FeedbackUpdater(t, s, None, DistillConfig(method="kd").method_object(),
                         FeedbackConfig(pilot_lr=0.05))
    eeg, gsr = torch.randn(8, 4, 128), torch.randn(8, 1, 128)
    y = torch.tensor([0, 1] * 4)
    terms = up.step(eeg, gsr, y, gsr, y)
    assert terms["fb_ce_norm"] > 0 and terms["fb_meta_norm"] > 0
    assert "fb_ce_norm" not in up.step(eeg, gsr, y, gsr, y)  # measured every NORM_EVERY steps
    with pytest.raises(Exception, match="cannot both be 0"):
        FeedbackConfig(feedback_teacher_ce=0, feedback_student_ce=0)


def _batch(n, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, 64, generator=g, dtype=dtype),
            torch.randn(n, 1, 64, generator=g, dtype=dtype),
            torch.randint(0, 2, (n,), generator=g))


def test_pilot_step_leaves_the_real_student_untouched():
    t, s = teacher_student_pair()
    s.train()
    before = {k: v.clone() for k, v in s.state_dict().items()}
    eeg, gsr, y = _batch(8)
    _, qg, qy = _batch(8, seed=2)
    upd = FeedbackUpdater(t, s, HintAdapter(8, 8), method_object(), FeedbackConfig(teacher_lr=1e-3))
    t_before = {k: v.clone() for k, v in t.state_dict().items()}
    upd.step(eeg, gsr, y, qg, qy)
    after = s.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # params AND BN buffers
    assert all(p.grad is None for p in s.parameters())
    assert s.training  # mode restored
    changed = [k for k in t_before if not torch.equal(t_before[k], t.state_dict()[k])]
    assert changed  # the teacher did learn


def test_meta_gradient_matches_finite_differences():
    """d/dθ_t of the pilot's quiz CE through one SGD step, against central differences."""
    t, s = teacher_student_pair(torch.float64)
    t.eval()
    s.train()
    adapter = HintAdapter(8, 8).double()
    w = method_object(kl_weight=0.5)
    eeg, gsr, y = _batch(6, torch.float64)
    _, qg, qy = _batch(6, torch.float64, seed=3)
    lr = 0.5

    def quiz() -> torch.Tensor:
        q, _, _ = pilot_quiz_loss(t, s, adapter, w, eeg, gsr, y, qg, qy, lr)
        return q

    params = [p for p in t.parameters()]
    grads = torch.autograd.grad(quiz(), params, allow_unused=True)
    g_flat = torch.cat([(torch.zeros_like(p) if g is None else g).flatten()
                        for p, g in zip(params, grads)])
    assert g_flat.abs().sum() > 0, "the meta-gradient must reach the teacher"
    rng = torch.Generator().manual_seed(5)
    direction = [torch.randn(p.shape, generator=rng, dtype=torch.float64) for p in params]
    eps = 1e-6

    def shift(scale: float) -> None:
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(scale * eps * d)

    shift(1.0)
    plus = quiz().item()
    shift(-2.0)
    minus = quiz().item()
    shift(1.0)
    fd = (plus - minus) / (2 * eps)
    analytic = float(sum((g * d).sum() for g, d in zip(grads, direction) if g is not None))
    assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-9)
    # the student-side term alone (no teacher CE) is nonzero: feedback really flows
    assert abs(analytic) > 1e-8


def test_feedback_config_validation():
    with pytest.raises(ConfigError):
        FeedbackConfig(pilot_lr=0)
    with pytest.raises(ConfigError, match="--feedback-every must be a whole number of at least 1"):
        FeedbackConfig(feedback_every=0)
