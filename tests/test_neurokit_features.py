"""NeuroKit2's skin-conductance features (emotionkd.neurokit_features): known responses beside
the built-in features, and features kept by window content."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import scr_responses

from emotionkd.features import gsr_features

FS = 128.0


def test_neurokit_features_of_known_responses():
    """NeuroKit2's pipeline on windows whose responses are known, beside the built-in
    features: both count the same responses; NeuroKit's amplitude of a lone response is the
    rise of its phasic part, its rise time the onset-to-peak time of the response shape."""
    pytest.importorskip("neurokit2")
    from emotionkd.neurokit_features import NEUROKIT_FEATURES, gsr_neurokit_features

    n = 1024
    flat = np.full(n, 2.0)
    two, one = 1.0 + scr_responses(n, [100, 600], 0.5), 1.0 + scr_responses(n, [300], 0.8)
    f = gsr_neurokit_features(np.stack([flat, two, one])[:, None], FS)
    assert f.shape == (3, len(NEUROKIT_FEATURES))
    level, slope, count, mean_amp, max_amp, rise = f.T
    assert level[0] == pytest.approx(2.0) and slope[0] == pytest.approx(0.0, abs=1e-9)
    assert max_amp[0] < 1e-9  # a flat window: nothing above numerical noise
    builtin = gsr_features(np.stack([two, one]), FS)
    np.testing.assert_array_equal(count[1:], builtin[:, 2])
    assert list(count[1:]) == [2, 1]
    # the response shape peaks at 0.582 of its amplitude 1.075 s after onset
    assert mean_amp[2] == pytest.approx(0.8 * 0.582, rel=0.1)
    assert rise[2] == pytest.approx(1.075, abs=0.15)
    assert 0 < max_amp[1] < 0.5 * 0.582 * 1.2


def test_neurokit_features_are_kept_by_window_content(monkeypatch):
    nk = pytest.importorskip("neurokit2")
    from emotionkd import neurokit_features as nkf

    calls = []
    real = nk.eda_clean
    monkeypatch.setattr(nk, "eda_clean", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(nkf, "_CACHE", {})
    rng = np.random.default_rng(5)
    g = 1 + np.cumsum(rng.standard_normal((4, 400)), axis=1) * 0.01
    first = nkf.gsr_neurokit_features(g, FS)
    again = nkf.gsr_neurokit_features(np.vstack([g[2:], g[:2]]), FS)
    assert len(calls) == 4  # the second call computed nothing
    np.testing.assert_array_equal(again, np.vstack([first[2:], first[:2]]))
    nkf.gsr_neurokit_features(g + 1e-3, FS)
    assert len(calls) == 8
