"""CRD (in-batch): the two-direction InfoNCE against a computation by hand, and the method
with its projection heads."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import method_object

from emotionkd.distill.methods import Outputs
from emotionkd.distill.methods.crd import crd_loss


def _ce(row: list[float], target: int) -> float:
    return -row[target] + math.log(sum(math.exp(v) for v in row))


def test_crd_loss_matches_a_hand_computation():
    g_s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g_t = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    # scores g_s g_tᵀ / 0.5 = [[1.2, 2.0], [1.6, 0.0]]; positives on the diagonal
    rows = (_ce([1.2, 2.0], 0) + _ce([1.6, 0.0], 1)) / 2
    cols = (_ce([1.2, 1.6], 0) + _ce([2.0, 0.0], 1)) / 2
    assert crd_loss(g_s, g_t, 0.5).item() == pytest.approx(rows + cols, rel=1e-6)
    # identical embeddings: both directions -log(e²/(e² + 1)) per anchor
    same = torch.eye(2)
    assert crd_loss(same, same, 0.5).item() == pytest.approx(2 * math.log(1 + math.exp(-2)),
                                                             rel=1e-6)


def test_the_method_projects_both_embeddings_and_weighs_08():
    m = method_object("crd", options={"crd_dim": 2})
    assert m.params == {"ce_weight": 1.0, "crd_weight": 0.8, "crd_temperature": 0.07,
                        "crd_dim": 2}
    heads = m.state(student_width=2, teacher_width=1, n_train=10)
    assert heads.student.in_features == 2 and heads.teacher.in_features == 2
    with torch.no_grad():  # identity heads: the loss sees the normalised embeddings
        for lin in (heads.student, heads.teacher):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
    f_s = torch.tensor([[[3.0, 0.0]], [[0.0, 2.0]]], requires_grad=True)  # → (1,0), (0,1)
    f_t = torch.tensor([[[0.3], [0.4]], [[5.0], [0.0]]], requires_grad=True)  # → (.6,.8), (1,0)
    y = torch.tensor([0, 1])
    total, terms = m.loss(Outputs(y, torch.zeros(2, 2), f_s, None, f_t), heads)
    tau = 0.07
    rows = (_ce([0.6 / tau, 1 / tau], 0) + _ce([0.8 / tau, 0.0], 1)) / 2
    cols = (_ce([0.6 / tau, 0.8 / tau], 0) + _ce([1 / tau, 0.0], 1)) / 2
    assert terms["crd"].item() == pytest.approx(rows + cols, rel=1e-5)
    assert total.item() == pytest.approx(math.log(2) + 0.8 * (rows + cols), rel=1e-5)
    total.backward()
    assert f_s.grad.abs().sum() > 0 and heads.teacher.weight.grad.abs().sum() > 0
    assert f_t.grad is None  # the teacher itself gets nothing
