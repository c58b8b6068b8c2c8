"""Classical baselines (emotionkd.models.classical): fit and predict, the differential-entropy
and NeuroKit2 feature sets."""

from __future__ import annotations

import numpy as np
import pytest

from emotionkd.config import DataConfig
from emotionkd.features import GSR_FEATURES, eeg_band_power, gsr_features
from emotionkd.models.classical import FeatureLogReg, FeatureModelConfig, window_features
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset


def test_classical_baselines_fit_and_predict(deap_store):
    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    x = window_features("eeg-features", train, FeatureModelConfig(batch=7))
    assert x.shape == (len(train), 4 * ds.n_eeg + len(GSR_FEATURES))
    np.testing.assert_allclose(x, window_features("eeg-features", train, FeatureModelConfig()))
    for name, width in (("eeg-features", 4 * ds.n_eeg + 5), ("gsr-features", 5)):
        clf = FeatureLogReg(name)
        info = clf.fit(train, val)
        assert info["features"] == width and info["C"] in FeatureModelConfig().c_grid
        p = clf.predict_proba(val)
        assert p.shape == (len(val), 2) and np.allclose(p.sum(1), 1)
        state = clf.state()
        assert len(state["coef"][0]) == width and len(state["mean"]) == width
    # standardisation uses training statistics only
    clf = FeatureLogReg("gsr-features")
    clf.fit(train, None)
    np.testing.assert_allclose(clf.mean, window_features("gsr-features", train,
                                                         FeatureModelConfig()).mean(0))


def test_eeg_de_baseline_is_differential_entropy_plus_gsr_features(deap_store):
    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    x = window_features("eeg-de", train, FeatureModelConfig())
    eeg, gsr, _ = train.batch(np.arange(len(train)), eeg=True)
    np.testing.assert_allclose(x, np.hstack([eeg_band_power(eeg.numpy(), train.fs, "de"),
                                             gsr_features(gsr.numpy(), train.fs)]))
    welch = window_features("eeg-features", train, FeatureModelConfig())
    assert x.shape == welch.shape and not np.allclose(x, welch)
    clf = FeatureLogReg("eeg-de")
    assert clf.fit(train, val)["features"] == 4 * ds.n_eeg + len(GSR_FEATURES)
    assert clf.predict_proba(val).shape == (len(val), 2)


def test_gsr_neurokit_baseline_fits_and_predicts(deap_store):
    pytest.importorskip("neurokit2")
    from emotionkd.neurokit_features import NEUROKIT_FEATURES

    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    clf = FeatureLogReg("gsr-neurokit")
    info = clf.fit(train, val)
    assert info["features"] == len(NEUROKIT_FEATURES)
    p = clf.predict_proba(val)
    assert p.shape == (len(val), 2) and np.allclose(p.sum(1), 1)
    assert clf.state()["config"]["neurokit_phasic"] == "highpass"
