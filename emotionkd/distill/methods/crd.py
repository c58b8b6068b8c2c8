"""Contrastive representation distillation (Tian, Krishnan, Isola, ICLR 2020), in-batch form.

Both embeddings (:mod:`.embedding`: the student's (B, D), the teacher's (B, 2D)) go through a
linear projection head to ``crd_dim`` = 128 dimensions and are L2-normalised (g_s, g_t).
Window i's student and teacher embeddings are the positive pair; the batch's other windows
are the negatives. With scores S = g_s g_tᵀ / τ,

    L_CRD = CE(S, i ↦ i) + CE(Sᵀ, i ↦ i)

— the student-anchored and the teacher-anchored direction, as CRD uses both. L = ce_weight ·
CE + crd_weight · L_CRD with CRD's τ = 0.07 and weight 0.8. The heads train with the student
and are dropped afterwards; the teacher's side carries no gradient into the teacher.

Why in-batch, not the paper's NCE against memory banks: the bank form draws K = 16384
negatives per anchor from N_data entries with K < N_data, and a fold's training side here has
hundreds to a few thousand windows, so K would have to shrink to a few hundred while each
bank entry is refreshed once per epoch (stale over a 20-epoch run). The in-batch softmax is
the InfoNCE bound CRD's NCE approximates, with fresh negatives and no bank state. Its known
weakness: windows of one trial can meet in a batch as negatives although they share label
and signal; a larger batch gives more negatives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from emotionkd.distill.methods.base import DistillMethod, Outputs, register
from emotionkd.settings import setting

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


def crd_loss(g_s: torch.Tensor, g_t: torch.Tensor, tau: float) -> torch.Tensor:
    """Both-direction InfoNCE of L2-normalised embeddings, positives on the diagonal."""
    import torch
    import torch.nn.functional as F

    scores = g_s @ g_t.T / tau
    target = torch.arange(len(g_s), device=g_s.device)
    return F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target)


def _heads(d_student: int, d_teacher: int, dim: int) -> nn.Module:
    from torch import nn

    class CRDHeads(nn.Module):
        """Linear projection heads of the student's and the teacher's embeddings."""

        def __init__(self) -> None:
            super().__init__()
            self.student = nn.Linear(d_student, dim)
            self.teacher = nn.Linear(d_teacher, dim)

    return CRDHeads()


@register
class CRD(DistillMethod):
    """Contrastive representation distillation, in-batch negatives."""

    name = "crd"
    summary = "CE + 0.8 contrastive (in-batch), tau 0.07"
    teacher_outputs = frozenset({"features"})
    uses: ClassVar[tuple[str, ...]] = ("ce_weight",)
    presets: ClassVar[dict] = {"ce_weight": 1.0}
    settings: ClassVar[dict] = {
        "crd_weight": setting(0.8, "CRD: weight of the contrastive term beside CE.",
                              rule={"low": 0}),
        "crd_temperature": setting(0.07, "CRD: temperature τ of the contrastive scores.",
                                   rule={"low": 0, "low_open": True, "high": 100}),
        "crd_dim": setting(128, "CRD: width of the projection heads.",
                           rule={"low": 1, "high": 65536}, flag=False),
    }

    def state(self, student_width: int, teacher_width: int, n_train: int) -> nn.Module | None:
        """The projection heads: student (D → crd_dim), teacher (2D → crd_dim)."""
        return _heads(student_width, 2 * teacher_width, int(self.params["crd_dim"]))

    def loss(self, out: Outputs, state: nn.Module | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        import torch.nn.functional as F

        from emotionkd.distill.losses import ce
        from emotionkd.distill.methods.embedding import student_embedding, teacher_embedding

        p = self.params
        terms = {"ce": ce(out.student_logits, out.y, out.class_weight)}
        total = p["ce_weight"] * terms["ce"]
        if out.teacher_features is not None and p["crd_weight"] and state is not None \
                and len(out.y) > 1:
            g_s = F.normalize(state.student(student_embedding(out.student_features)), dim=1)
            g_t = F.normalize(state.teacher(teacher_embedding(out.teacher_features).detach()),
                              dim=1)
            terms["crd"] = crd_loss(g_s, g_t, p["crd_temperature"])
            total = total + p["crd_weight"] * terms["crd"]
        return total, terms
