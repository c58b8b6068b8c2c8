"""Distillation losses (emotionkd.distill.losses) against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkd.distill.losses import HintAdapter, hint_mse, map_teacher_tokens, soft_kl
from emotionkd.errors import ConfigError


def test_soft_kl_matches_hand_computation():
    z_s = torch.tensor([[1.0, -1.0], [0.5, 0.0]])
    z_t = torch.tensor([[2.0, 0.0], [-1.0, 1.0]])

    def kl(zs, zt, t):
        ps = np.exp(zs / t) / np.exp(zs / t).sum()
        pt = np.exp(zt / t) / np.exp(zt / t).sum()
        return float((pt * np.log(pt / ps)).sum())

    for t in (1.0, 4.0):
        expect = t * t * np.mean([kl(z_s[i].numpy(), z_t[i].numpy(), t) for i in range(2)])
        assert soft_kl(z_s, z_t, t).item() == pytest.approx(expect, rel=1e-5)
    assert soft_kl(z_t, z_t, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_hint_mapping_and_mse():
    f_t = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)  # 2L = 4 tokens
    assert torch.equal(map_teacher_tokens(f_t, 2, "eeg"), f_t[:, :2])
    assert torch.equal(map_teacher_tokens(f_t, 2, "gsr"), f_t[:, 2:])
    assert torch.equal(map_teacher_tokens(f_t, 2, "fold"), f_t[:, :2] + f_t[:, 2:])
    f_s = torch.ones(2, 2, 3)
    expect = float(((f_t[:, :2] + f_t[:, 2:] - 1.0) ** 2).mean())
    ad = HintAdapter(3, 3)  # starts as the identity
    assert hint_mse(f_s, f_t, ad, "fold").item() == pytest.approx(expect)
    with pytest.raises(ConfigError, match="expected 2 × 3"):
        map_teacher_tokens(f_t, 3, "fold")
    with pytest.raises(ConfigError, match="--hint-map"):
        map_teacher_tokens(f_t, 2, "both")
