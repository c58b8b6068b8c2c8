"""PKT's similarity distributions and divergence against a computation by hand."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import method_object

from emotionkd.distill.methods import Outputs
from emotionkd.distill.methods.pkt import conditional_probabilities, pkt_loss

S = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # orthogonal: cosine 0, kernel (0 + 1)/2
T = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # parallel: cosine 1, kernel 1


def test_conditional_probabilities_of_the_cosine_kernel():
    # kernel [[1, .5], [.5, 1]], columns sum to 1.5
    assert conditional_probabilities(S).flatten().tolist() == pytest.approx(
        [2 / 3, 1 / 3, 1 / 3, 2 / 3], abs=1e-6)
    assert conditional_probabilities(T).flatten().tolist() == pytest.approx([0.5] * 4,
                                                                            abs=1e-6)


def test_pkt_loss_matches_a_hand_computation():
    # mean over the 4 entries of p_t log(p_t / p_s): two with p_s = 2/3, two with 1/3
    want = (2 * 0.5 * math.log(0.5 / (2 / 3)) + 2 * 0.5 * math.log(0.5 / (1 / 3))) / 4
    assert pkt_loss(S, T).item() == pytest.approx(want, rel=1e-5)
    assert pkt_loss(T, T).item() == pytest.approx(0.0, abs=1e-6)


def test_the_method_weighs_pkt_30000_beside_ce():
    m = method_object("pkt")
    assert m.params == {"ce_weight": 1.0, "pkt_weight": 30000.0}
    f_s = S[:, None, :].clone().requires_grad_(True)
    f_t = T[:, None, :].repeat(1, 2, 1)  # both halves alike: embedding [t, t]
    y = torch.tensor([0, 1])
    total, terms = m.loss(Outputs(y, torch.zeros(2, 2), f_s, None, f_t), None)
    want = (2 * 0.5 * math.log(0.75) + 2 * 0.5 * math.log(1.5)) / 4
    assert terms["pkt"].item() == pytest.approx(want, rel=1e-5)
    assert total.item() == pytest.approx(math.log(2) + 30000 * want, rel=1e-5)
    total.backward()
    assert f_s.grad.abs().sum() > 0
