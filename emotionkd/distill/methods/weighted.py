"""The student objective of EmotionKD and the methods that are presets of it:

    ce_weight · CE(student, y) + kl_weight · T² · KL_T(teacher ‖ student)
        + hint_weight · MSE(adapter(student tokens), mapped teacher tokens)

* ``emotionkd`` — the reference ``MLKDLoss`` (e2 = 0.1, e3 = 1), with adaptive feedback;
* ``kd`` — Hinton's knowledge distillation with RepDistiller's defaults (T = 4);
* ``fitnets`` — CE + hint;
* ``none`` — the student alone (plain supervised training, no teacher).

Terms with weight 0 are not computed. The losses themselves are in
:mod:`emotionkd.distill.losses`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from emotionkd.distill.methods.base import DistillMethod, Outputs, register

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


class WeightedObjective(DistillMethod):
    """CE + KL + hint with the weights of its settings (the shared ``[distill]`` ones)."""

    uses: ClassVar[tuple[str, ...]] = ("ce_weight", "kl_weight", "hint_weight", "temperature",
                                       "hint_map")

    def needs(self) -> frozenset[str]:
        wanted = {"logits"} if self.params["kl_weight"] else set()
        if self.params["hint_weight"]:
            wanted.add("features")
        return frozenset(wanted) & self.teacher_outputs

    def state(self, student_width: int, teacher_width: int, n_train: int) -> nn.Module | None:
        """The hint's regressor from the student's token width to the teacher's."""
        if not self.params["hint_weight"]:
            return None
        from emotionkd.distill.losses import HintAdapter

        return HintAdapter(student_width, teacher_width)

    def loss(self, out: Outputs, state: nn.Module | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from emotionkd.distill.losses import ce, hint_mse, soft_kl

        p = self.params
        terms = {"ce": ce(out.student_logits, out.y, out.class_weight)}
        total = p["ce_weight"] * terms["ce"]
        if p["kl_weight"] and out.teacher_logits is not None:
            terms["kl"] = soft_kl(out.student_logits, out.teacher_logits, p["temperature"])
            total = total + p["kl_weight"] * terms["kl"]
        if p["hint_weight"] and out.teacher_features is not None:
            terms["hint"] = hint_mse(out.student_features, out.teacher_features, state,
                                     p["hint_map"])
            total = total + p["hint_weight"] * terms["hint"]
        return total, terms


def _weights(ce: float, kl: float, hint: float, temperature: float) -> dict[str, Any]:
    return {"ce_weight": ce, "kl_weight": kl, "hint_weight": hint, "temperature": temperature,
            "hint_map": "fold"}


@register
class EmotionKD(WeightedObjective):
    """The reference ``MLKDLoss``: CE + 0.1·KL + 1·hint, with adaptive feedback."""

    name = "emotionkd"
    summary = "CE + 0.1 KL + 1 hint"
    presets = _weights(1.0, 0.1, 1.0, 1.0)
    feedback_default = True
    feedback_variants = True


@register
class HintonKD(WeightedObjective):
    """Hinton's knowledge distillation with RepDistiller's defaults."""

    name = "kd"
    summary = "Hinton, T = 4"
    presets = _weights(0.1, 0.9, 0.0, 4.0)


@register
class FitNets(WeightedObjective):
    """CE and the hint on the fused tokens."""

    name = "fitnets"
    summary = "CE + hint"
    presets = _weights(1.0, 0.0, 1.0, 1.0)


@register
class StudentAlone(WeightedObjective):
    """The student trained on its own: plain supervised training, no teacher."""

    name = "none"
    summary = "the student alone"
    presets = _weights(1.0, 0.0, 0.0, 1.0)
    teacher_outputs = frozenset()
