"""Signal conditioning (emotionkd.signals): the HCI EEG conditioning."""

from __future__ import annotations

import numpy as np


def test_hci_conditioning_removes_common_mode_and_drift():
    from emotionkd.signals import condition_eeg

    fs = 128.0
    t = np.arange(int(20 * fs)) / fs
    rng = np.random.default_rng(0)
    brain = rng.standard_normal((4, len(t)))
    common = 30 * np.sin(2 * np.pi * 50 * t) + 50 * np.sin(2 * np.pi * 0.05 * t)
    raw = brain + common + 3000 + rng.normal(0, 100, (4, 1))
    out = condition_eeg(raw, fs)
    assert np.abs(out.mean(axis=0)).max() < 1e-9  # common average reference
    # the common-mode signal and the DC offsets are gone entirely
    np.testing.assert_allclose(out, condition_eeg(brain, fs), atol=1e-6)
    # per channel: out of band (a 0.3-Hz drift, 60-Hz hum) is removed, in band it is kept
    for f0, keep in ((0.3, False), (60.0, False), (10.0, True), (30.0, True)):
        x = np.zeros((4, len(t)))
        x[0] = np.sin(2 * np.pi * f0 * t)
        y = condition_eeg(x, fs)[0, 3 * 128:-3 * 128]  # away from the edges
        gain = y.std() / x[0].std() / 0.75  # CAR keeps 3/4 of a one-channel signal
        assert (gain > 0.9) if keep else (gain < 0.05), (f0, gain)
