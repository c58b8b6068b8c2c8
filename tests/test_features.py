"""Hand-crafted features (emotionkd.features): EEG band power and GSR level, slope and
responses."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import scr_responses

from emotionkd.features import BANDS, GSR_FEATURES, eeg_band_power, gsr_features

FS = 128.0


def _sines(freqs: list[float], amps: list[float], n: int = 512, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / FS
    rng = np.random.default_rng(seed)
    return sum(a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
               for f, a in zip(freqs, amps)) + 0.01 * rng.standard_normal(n)


def test_band_power_finds_the_band_of_a_sine():
    # one window per band, a sine in the middle of that band: its band has the most power
    centres = [6.0, 10.0, 20.0, 38.0]
    x = np.stack([np.stack([_sines([f], [1.0])]) for f in centres])  # (4, 1, 512)
    for method in ("welch", "de"):
        bp = eeg_band_power(x, FS, method)
        assert bp.shape == (4, len(BANDS))
        assert (bp.argmax(axis=1) == np.arange(4)).all(), method


def test_band_power_scales_with_amplitude_and_is_channel_major():
    x = np.stack([_sines([10.0], [1.0]), _sines([20.0], [1.0])])[None]  # (1, 2, 512)
    bp = eeg_band_power(x, FS)
    bp2 = eeg_band_power(2 * x, FS)
    # log power: doubling the amplitude adds log(4) in every band that holds the signal
    assert bp2[0, 1] - bp[0, 1] == pytest.approx(np.log(4), abs=1e-3)  # ch 0 alpha
    assert bp2[0, 4 + 2] - bp[0, 4 + 2] == pytest.approx(np.log(4), abs=1e-3)  # ch 1 beta
    assert bp[0, 1] > bp[0, 2] and bp[0, 4 + 2] > bp[0, 4 + 1]


def test_band_power_is_vectorised_identically():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3, 512))
    for method in ("welch", "de"):
        whole = eeg_band_power(x, FS, method)
        one_by_one = np.vstack([eeg_band_power(x[i:i + 1], FS, method) for i in range(5)])
        np.testing.assert_allclose(whole, one_by_one, rtol=1e-10, atol=1e-12)


def test_gsr_features_level_slope_and_responses():
    n = 1024
    t = np.arange(n) / FS
    flat = np.full(n, 2.0)
    ramp = 1.0 + 0.1 * t
    two = 1.0 + scr_responses(n, [100, 600], 0.5)
    f = gsr_features(np.stack([flat, ramp, two]), FS)
    assert f.shape == (3, len(GSR_FEATURES))
    level, slope, count, mean_amp, max_amp = f.T
    assert level[0] == pytest.approx(2.0, abs=1e-6) and slope[0] == pytest.approx(0, abs=1e-6)
    assert slope[1] == pytest.approx(0.1, rel=1e-3)
    assert count[0] == 0 and mean_amp[0] == 0 and max_amp[0] == 0
    # a linear ramp is one long rise: one response of 0.1 · duration
    assert count[1] == 1 and max_amp[1] == pytest.approx(0.1 * (n - 1) / FS, rel=0.02)
    assert count[2] == 2
    assert 0.15 < mean_amp[2] < 0.5


def test_gsr_response_count_matches_a_per_window_loop():
    rng = np.random.default_rng(1)
    g = np.cumsum(rng.standard_normal((20, 400)), axis=1) * 0.01
    f = gsr_features(g, FS, scr_threshold=0.02)
    for i in range(20):
        assert np.allclose(f[i], gsr_features(g[i:i + 1], FS, scr_threshold=0.02)[0])
