"""The embeddings the relational and contrastive methods (RKD, PKT, CRD) compare.

Those papers (and RepDistiller, which defines their defaults) compare the networks'
penultimate, globally average-pooled features. Here the analogue is the mean over tokens:
the student's fused tokens (B, L, D) give a (B, D) vector; the teacher's fused tokens
(B, 2L, D) hold an EEG half and a GSR half, so its vector is the two halves' means side by
side (B, 2D), keeping what each modality contributes apart instead of averaging them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _full(x: torch.Tensor) -> torch.Tensor:
    import torch

    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def student_embedding(f_s: torch.Tensor) -> torch.Tensor:
    """(B, L, D) student tokens → (B, D): the mean over tokens."""
    return _full(f_s).mean(dim=1)


def teacher_embedding(f_t: torch.Tensor) -> torch.Tensor:
    """(B, 2L, D) teacher tokens (EEG half first) → (B, 2D): each half's token mean."""
    import torch

    x = _full(f_t)
    half = x.shape[1] // 2
    return torch.cat([x[:, :half].mean(dim=1), x[:, half:].mean(dim=1)], dim=1)
