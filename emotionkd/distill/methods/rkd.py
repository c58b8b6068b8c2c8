"""Relational knowledge distillation (Park, Kim, Lu, Cho, CVPR 2019): the student copies the
geometry of the teacher's embeddings in a batch, not the embeddings themselves.

* distance-wise: ψ_D(t_i, t_j) = ‖t_i − t_j‖₂ / μ, μ the mean distance over the batch's pairs
  i ≠ j; L_D = mean over all (i, j) of Huber(ψ_D(s_i, s_j) − ψ_D(t_i, t_j));
* angle-wise: ψ_A(t_i, t_j, t_k) = cos∠t_i t_j t_k = ⟨e_ji, e_jk⟩ with
  e_ji = (t_i − t_j)/‖t_i − t_j‖; L_A = mean over all (i, j, k) of Huber(ψ_A(s) − ψ_A(t));
* L = ce_weight · CE + rkd_weight · (25 · L_D + 50 · L_A), the paper's weights
  (λ_D = 25, λ_A = 50; RepDistiller runs it with weight 1 beside CE).

Huber is SmoothL1 with δ = 1. Distances and angles are dimension-free, so the student's (B, D)
and the teacher's (B, 2D) embeddings (:mod:`.embedding`) are compared without projection.
Diagonal entries (i = j, or a zero difference vector) are 0 on both sides, as in the authors'
code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from emotionkd.distill.methods.base import DistillMethod, Outputs, register
from emotionkd.settings import setting

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


def normalised_distances(e: torch.Tensor) -> torch.Tensor:
    """(B, B) Euclidean distances divided by their mean over pairs i ≠ j (diagonal 0)."""
    import torch

    sq = (e.unsqueeze(0) - e.unsqueeze(1)).pow(2).sum(dim=2)
    d = sq.clamp_min(1e-12).sqrt()  # clamped: no infinite gradient on the diagonal
    off = ~torch.eye(len(e), dtype=torch.bool, device=e.device)
    mean = d[off].mean().clamp_min(1e-12) if len(e) > 1 else d.new_tensor(1.0)
    return d * off / mean


def angles(e: torch.Tensor) -> torch.Tensor:
    """(B, B, B) cosines: entry [j, i, k] is the cosine of the angle at e_j between e_i and
    e_k (0 where a difference is zero)."""
    import torch.nn.functional as F

    diff = e.unsqueeze(0) - e.unsqueeze(1)  # [j, i] = e_i − e_j
    unit = F.normalize(diff, p=2, dim=2)
    return unit @ unit.transpose(1, 2)


def rkd_terms(s: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance loss, angle loss) of student embeddings ``s`` against teacher ones ``t``;
    the teacher's side carries no gradient."""
    import torch.nn.functional as F

    t = t.detach()
    dist = F.smooth_l1_loss(normalised_distances(s), normalised_distances(t))
    ang = F.smooth_l1_loss(angles(s), angles(t))
    return dist, ang


@register
class RKD(DistillMethod):
    """Relational KD: CE + distance-wise and angle-wise relations of the embeddings."""

    name = "rkd"
    summary = "CE + relational KD, distance 25 + angle 50"
    teacher_outputs = frozenset({"features"})
    uses: ClassVar[tuple[str, ...]] = ("ce_weight",)
    presets: ClassVar[dict] = {"ce_weight": 1.0}
    settings: ClassVar[dict] = {
        "rkd_weight": setting(1.0, "RKD: weight of the relational term beside CE.",
                              rule={"low": 0}),
        "rkd_distance": setting(25.0, "RKD: weight of the distance-wise loss (the paper's "
                                "λ_D).", rule={"low": 0}, flag=False),
        "rkd_angle": setting(50.0, "RKD: weight of the angle-wise loss (the paper's λ_A).",
                             rule={"low": 0}, flag=False),
    }

    def loss(self, out: Outputs, state: nn.Module | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from emotionkd.distill.losses import ce
        from emotionkd.distill.methods.embedding import student_embedding, teacher_embedding

        p = self.params
        terms = {"ce": ce(out.student_logits, out.y, out.class_weight)}
        total = p["ce_weight"] * terms["ce"]
        if out.teacher_features is not None and p["rkd_weight"]:
            terms["rkd_distance"], terms["rkd_angle"] = rkd_terms(
                student_embedding(out.student_features), teacher_embedding(out.teacher_features))
            total = total + p["rkd_weight"] * (p["rkd_distance"] * terms["rkd_distance"]
                                               + p["rkd_angle"] * terms["rkd_angle"])
        return total, terms
