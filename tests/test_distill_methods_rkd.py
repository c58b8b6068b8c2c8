"""RKD's distance-wise and angle-wise losses against a computation by hand on three points."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import method_object

from emotionkd.distill.methods import Outputs
from emotionkd.distill.methods.rkd import angles, normalised_distances, rkd_terms

# student: a 3-4-5 right triangle in 2-D; teacher: a right isosceles triangle in 3-D
S = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
T = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def huber(x: float) -> float:
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def test_distances_are_divided_by_their_mean_over_pairs():
    # pairs 01, 02, 12 of the student: 3, 4, 5, mean 4
    want = [[0, 0.75, 1.0], [0.75, 0, 1.25], [1.0, 1.25, 0]]
    assert normalised_distances(S).flatten().tolist() == pytest.approx(
        [v for row in want for v in row], abs=1e-6)


def test_angles_at_each_vertex():
    a = angles(S)
    # at vertex 0 the legs (3,0) and (0,4) are orthogonal; at vertex 1 the vectors (-3,0)
    # and (-3,4) have cosine 3/5; at vertex 2 (0,-4) and (3,-4) have cosine 4/5
    assert a[0, 1, 2].item() == pytest.approx(0.0, abs=1e-6)
    assert a[1, 0, 2].item() == pytest.approx(0.6, abs=1e-6)
    assert a[2, 0, 1].item() == pytest.approx(0.8, abs=1e-6)
    assert a[1, 0, 0].item() == pytest.approx(1.0, abs=1e-6)
    assert a[1, 1, 0].item() == 0.0  # a zero difference vector


def test_rkd_terms_match_a_hand_computation():
    mean_t = (1 + 1 + math.sqrt(2)) / 3
    t01, t12 = 1 / mean_t, math.sqrt(2) / mean_t  # t02 = t01
    # 9 entries: the diagonal is 0 on both sides, each pair appears twice
    want_d = 2 * (huber(0.75 - t01) + huber(1.0 - t01) + huber(1.25 - t12)) / 9
    # 27 entries: [j, i, k] with i = k is 1 on both sides; i or k = j is 0; the rest are the
    # two off-diagonal cosines at each vertex: student 0, 3/5, 4/5, teacher 0, 1/√2, 1/√2
    r = 1 / math.sqrt(2)
    want_a = 2 * (huber(0.0) + huber(0.6 - r) + huber(0.8 - r)) / 27
    dist, ang = rkd_terms(S, T)
    assert dist.item() == pytest.approx(want_d, rel=1e-5)
    assert ang.item() == pytest.approx(want_a, rel=1e-5)


def test_the_method_adds_25_distance_and_50_angle_to_ce():
    m = method_object("rkd")
    assert m.params == {"ce_weight": 1.0, "rkd_weight": 1.0, "rkd_distance": 25.0,
                        "rkd_angle": 50.0}
    assert m.needs() == {"features"}
    # one token each: the student's embedding is its token, the teacher's its two tokens
    f_s = S[:, None, :].clone().requires_grad_(True)
    f_t = torch.stack([T[:, :2], T[:, 1:]], dim=1).clone().requires_grad_(True)
    z_s, y = torch.zeros(3, 2), torch.tensor([0, 1, 0])
    total, terms = m.loss(Outputs(y, z_s, f_s, None, f_t), None)
    emb_t = torch.cat([T[:, :2], T[:, 1:]], dim=1)
    dist, ang = rkd_terms(S, emb_t)
    assert terms["ce"].item() == pytest.approx(math.log(2), rel=1e-6)
    assert total.item() == pytest.approx(math.log(2) + 25 * dist.item() + 50 * ang.item(),
                                         rel=1e-6)
    total.backward()
    assert f_s.grad is not None and f_s.grad.abs().sum() > 0
    assert f_t.grad is None  # the teacher's side is a target


def test_one_window_has_no_relations():
    dist, ang = rkd_terms(S[:1], T[:1])
    assert dist.item() == 0.0 and ang.item() == 0.0
