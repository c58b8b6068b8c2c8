"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018): the student matches the
teacher's distribution of pairwise similarities in a batch.

With the cosine-similarity kernel K(a, b) = (cos(a, b) + 1)/2 ∈ [0, 1], each batch gives
conditional probabilities p_{i|j} = K(x_i, x_j) / Σ_k K(x_k, x_j) for the teacher (t) and the
student (s), and the loss is their divergence

    L_PKT = mean over (i, j) of  p^t_{i|j} · log((p^t_{i|j} + ε) / (p^s_{i|j} + ε)),   ε = 1e-7

as in the authors' code (the sum over k and the mean over (i, j) include i = j; vectors are
L2-normalised with the same ε). L = ce_weight · CE + pkt_weight · L_PKT with RepDistiller's
weight 30000 (the mean over B² pairs makes the raw term small). Cosines are dimension-free,
so the student's (B, D) and the teacher's (B, 2D) embeddings (:mod:`.embedding`) are
compared without projection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from emotionkd.distill.methods.base import DistillMethod, Outputs, register
from emotionkd.settings import setting

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

EPS = 1e-7


def conditional_probabilities(e: torch.Tensor) -> torch.Tensor:
    """(B, B) matrix whose column j is p_{·|j} of the cosine kernel; entry [i, j] = p_{i|j}."""
    x = e / (e.norm(dim=1, keepdim=True) + EPS)
    k = (x @ x.T + 1.0) / 2.0
    return k / k.sum(dim=0, keepdim=True)


def pkt_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The PKT divergence of student embeddings ``s`` from teacher embeddings ``t`` (the
    teacher's side carries no gradient)."""
    import torch

    p_t = conditional_probabilities(t.detach())
    p_s = conditional_probabilities(s)
    return (p_t * torch.log((p_t + EPS) / (p_s + EPS))).mean()


@register
class PKT(DistillMethod):
    """Probabilistic knowledge transfer: CE + KL between cosine-kernel similarity
    distributions."""

    name = "pkt"
    summary = "CE + probabilistic KT, weight 30000"
    teacher_outputs = frozenset({"features"})
    uses: ClassVar[tuple[str, ...]] = ("ce_weight",)
    presets: ClassVar[dict] = {"ce_weight": 1.0}
    settings: ClassVar[dict] = {
        "pkt_weight": setting(30000.0, "PKT: weight of the similarity-distribution KL beside "
                              "CE (RepDistiller's).", rule={"low": 0}),
    }

    def loss(self, out: Outputs, state: nn.Module | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from emotionkd.distill.losses import ce
        from emotionkd.distill.methods.embedding import student_embedding, teacher_embedding

        p = self.params
        terms = {"ce": ce(out.student_logits, out.y, out.class_weight)}
        total = p["ce_weight"] * terms["ce"]
        if out.teacher_features is not None and p["pkt_weight"]:
            terms["pkt"] = pkt_loss(student_embedding(out.student_features),
                                    teacher_embedding(out.teacher_features))
            total = total + p["pkt_weight"] * terms["pkt"]
        return total, terms
