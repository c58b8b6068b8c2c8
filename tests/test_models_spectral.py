"""The teacher's spectral path (emotionkd/models/spectral.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import welch

from emotionkd.models.spectral import BANDS, LogBandPower, SpectralPath, band_matrix


@pytest.mark.parametrize("fs,seconds", [(128.0, 4.0), (256.0, 2.0), (64.0, 2.5)])
def test_log_band_power_is_welchs(fs, seconds):
    n = int(fs * seconds)
    x = torch.randn(3, 5, n, dtype=torch.float64) * 7.0 + 2.0
    lb = LogBandPower(fs, n).double()
    nperseg = int(fs)
    f, p = welch(x.numpy(), fs=fs, nperseg=nperseg)  # Hann, 50 % overlap, density
    width = f[1] - f[0]
    ref = np.stack([p[..., (f >= lo) & (f < hi)].sum(-1) * width for lo, hi in BANDS], -1)
    # the DFT constants are float32
    np.testing.assert_allclose(lb(x).numpy(), np.log(ref + 1e-6), rtol=1e-6, atol=1e-6)


def test_band_power_ignores_phase_and_sees_each_channel():
    fs, n = 128.0, 512
    t = torch.arange(n) / fs
    phase = torch.rand(8, 1) * 6.3
    x = torch.sin(2 * torch.pi * 20.0 * t + phase)[None]  # same rhythm, random phases
    lb = LogBandPower(fs, n)
    bp = lb(x)[0]
    assert torch.allclose(bp, bp[0:1].expand_as(bp), atol=1e-3)  # phase-invariant
    assert int(bp[0].argmax()) == 2  # beta (13–30 Hz)
    mixed = lb(x.mean(1, keepdim=True))[0, 0]  # mixing first loses power the phases cancel
    assert mixed[2] < bp[0, 2]


def test_band_matrix_gives_empty_bands_the_nearest_bin():
    m = band_matrix(32.0, 32)  # bins 0..16 Hz: gamma (30–45) has none
    assert m[:, 3].sum() == 1 and m[16, 3] == 1  # numpy
    assert m[4:8, 0].sum() == 4 and m[:, 0].sum() == 4


def test_spectral_path_learns_a_per_channel_rhythm_that_mixing_cancels():
    torch.manual_seed(0)
    fs, n, c = 64.0, 128, 6
    y = torch.randint(0, 2, (256,))
    t = torch.arange(n) / fs
    phase = torch.rand(256, c, 1) * 6.3
    amp = (0.3 + 1.2 * y.float())[:, None, None]
    x = amp * torch.sin(2 * torch.pi * 20.0 * t + phase) + torch.randn(256, c, n)
    path = SpectralPath(c, fs, n, 2, dropout=0.0)
    opt = torch.optim.Adam(path.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(path(x), y)
        loss.backward()
        opt.step()
    path.eval()
    assert (path(x).argmax(1) == y).float().mean() > 0.9
    # constants are rebuilt from the config, not stored in state_dict
    assert not any(k.endswith(("cos", "sin", "bands")) for k in path.state_dict())


def test_teacher_default_has_the_path_and_reference_has_none():
    from emotionkd.models import EmotionNetConfig, EmotionNetTeacher

    tiny = dict(d_model=8, n_heads=2, head_dim=4, n_blocks=2, ff_dim=8, classifier_dim=8)
    assert EmotionNetConfig().spectral == "bands"
    ref = EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=2, n_eeg=3, spectral="none",
                                             **tiny))
    assert ref.spectral is None
    with pytest.raises(Exception, match="spectral"):
        EmotionNetConfig(spectral="wavelets")


def test_old_checkpoints_without_the_key_build_the_reference(tmp_path):
    from emotionkd.checkpoint import _with_compat

    assert _with_compat("emotionnet-teacher", {"head_l2": 1e-3})["spectral"] == "none"
    assert "spectral" not in _with_compat("shallowconvnet", {"head_l2": 1e-3})
    assert _with_compat("emotionnet-teacher", {"head_l2": 0, "spectral": "bands"})[
        "spectral"] == "bands"
