"""Distillation losses: CE, soft-label KL with temperature, and hint MSE through an adapter.

The methods that combine them (EmotionKD, Hinton KD, FitNets, none) are in
:mod:`emotionkd.distill.methods`.

Notation: ``z_s``/``z_t`` student/teacher logits (B, 2); ``f_s`` student fused tokens (B, L, D);
``f_t`` teacher fused tokens (B, 2L, D) — the IMF output concatenates EEG and GSR tokens along
the token axis, so its first L tokens come from EEG-first pairs and the last L from GSR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emotionkd.choices import HINT_MAPS
from emotionkd.errors import ConfigError
from emotionkd.validation import check_choice


def _full(x: torch.Tensor) -> torch.Tensor:
    """Half-precision (autocast) tensors to float32; float32/float64 unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def ce(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy on logits (batch mean; class-weighted when ``weight`` is given)."""
    if weight is not None:
        weight = weight.to(logits.dtype if logits.dtype == torch.float64 else torch.float32)
    return F.cross_entropy(_full(logits), y, weight=weight)


def soft_kl(z_s: torch.Tensor, z_t: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """T² · mean_batch KL(softmax(z_t/T) ‖ softmax(z_s/T)).

    With T = 1 this is the reference's Keras ``KLDivergence`` on softmax outputs (up to its
    1e-7 clipping); the T² factor keeps soft-target gradients comparable across T (Hinton).
    """
    t = float(temperature)
    log_p_s = F.log_softmax(_full(z_s) / t, dim=1)
    log_p_t = F.log_softmax(_full(z_t) / t, dim=1)
    kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=1).mean()
    return kl * t * t


def map_teacher_tokens(f_t: torch.Tensor, n_student_tokens: int, mapping: str) -> torch.Tensor:
    """Bring the teacher's (B, 2L, D) fused tokens to the student's L tokens.

    ``fold``: EEG half + GSR half (default: keeps both modalities' knowledge); ``gsr``: the GSR
    half only; ``eeg``: the EEG half only.
    """
    check_choice(mapping, "--hint-map", HINT_MAPS)
    L = n_student_tokens
    if f_t.shape[1] != 2 * L:
        raise ConfigError(f"teacher feature has {f_t.shape[1]} tokens, expected 2 × {L} "
                          "(student tokens): teacher and student windows differ")
    if mapping == "fold":
        return f_t[:, :L] + f_t[:, L:]
    return f_t[:, L:] if mapping == "gsr" else f_t[:, :L]


class HintAdapter(nn.Module):
    """Per-token linear regressor from the student's feature space to the teacher's.

    The regressor sits on the student side (as in FitNets) so the target — the teacher's
    mapped tokens — cannot shrink together with it; a teacher-side adapter would admit the
    trivial solution of both features collapsing to zero. With equal widths it starts as the
    identity, so at step 0 the hint is exactly MSE(f_t mapped, f_s) as in the reference.
    It is trained with the student and discarded afterwards.
    """

    def __init__(self, d_student: int, d_teacher: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_student, d_teacher)
        if d_student == d_teacher:
            with torch.no_grad():
                self.proj.weight.copy_(torch.eye(d_student))
                self.proj.bias.zero_()

    def forward(self, f_s: torch.Tensor) -> torch.Tensor:
        return self.proj(f_s)


def hint_mse(f_s: torch.Tensor, f_t: torch.Tensor, adapter: nn.Module | None,
             mapping: str = "fold") -> torch.Tensor:
    """Mean squared error between the adapted student tokens and the mapped teacher tokens."""
    target = map_teacher_tokens(f_t, f_s.shape[1], mapping)
    pred = adapter(f_s) if adapter is not None else f_s
    return F.mse_loss(_full(pred), _full(target))
