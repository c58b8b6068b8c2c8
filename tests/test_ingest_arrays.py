"""Stores from numpy arrays and MNE Raw objects (emotionkd.ingest.arrays: write_store,
write_store_from_raw): channels, units, trial boundaries, ratings and scales, and the
refusals that write nothing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import signature_raw

import emotionkd as ek
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.labels import default_threshold
from emotionkd.store import open_store

mne = pytest.importorskip("mne")


def test_write_store_from_numpy_arrays(tmp_path):
    fs = 64.0
    n = int(fs * 100)
    rng = np.random.default_rng(0)
    eeg = rng.normal(0, 10, (2, n))
    kohm = np.full(n, 250.0)  # 4 µS
    rep = ek.write_store(tmp_path / "a.h5", gsr=kohm, gsr_unit="kohm", eeg=eeg,
                         eeg_channels=["Fz", "Cz"], fs=fs, trials=[(640, 1280), (1920, 2560)],
                         baseline_s=2.0, baseline="none", subjects=[4, 4],
                         ratings={"valence": [2, 4], "arousal": [1, 5]},
                         rating_scales={"valence": (1, 5), "arousal": (1, 5)}, target_fs=None)
    st = open_store(rep.out)
    assert st.eeg_channels == ["Fz", "Cz"] and st.sampling_rate == 64.0
    assert st.rating_names == ["valence", "arousal"] and st.rating_scales == [[1, 5], [1, 5]]
    assert st.trial.tolist() == [1, 2] and st.subject.tolist() == [4, 4]
    assert st.trial_lengths.tolist() == [640, 640]
    e, g, _ = st.load_signals([0])
    np.testing.assert_allclose(e, eeg[:, 640:1280], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(g, 4.0, rtol=1e-6)
    assert default_threshold(st, "valence") == 3.0
    # per-trial GSR-only arrays, unit inferred, resampled to 128 Hz
    rep = ek.write_store(tmp_path / "b.h5", gsr=[np.full(40, 5.0), np.full(60, 6.0)], fs=4,
                         gsr_unit="auto", ratings={"arousal": [1, 9]},
                         rating_scales={"arousal": (1, 9)})
    st = open_store(rep.out)
    assert st.eeg_channels == [] and st.trial_lengths.tolist() == [1280, 1920]
    assert st.preprocessing["baseline"] == "none"
    assert "µS: the median" in next(iter(rep.gsr_units.values()))


def test_write_store_refuses_bad_input_and_writes_nothing(tmp_path):
    out = tmp_path / "x.h5"
    base = {"fs": 64.0, "gsr_unit": "us", "ratings": {"v": [5]}, "rating_scales": {"v": (1, 9)}}
    with pytest.raises(ConfigError, match=r"shape \(640, 2\), expected \(2 channels, 640 "
                                          r"samples\) \(channels × samples: transpose it\)"):
        ek.write_store(out, gsr=np.ones(640), eeg=np.ones((640, 2)), eeg_channels=["a", "b"],
                       **base)
    with pytest.raises(ConfigError, match=r"ratings\['v'\]\[0\] = 12 .* scale 1-9"):
        ek.write_store(out, gsr=np.ones(640), **{**base, "ratings": {"v": [12]}})
    with pytest.raises(ConfigError, match="rating_scales: no scale for v"):
        ek.write_store(out, gsr=np.ones(640), **{**base, "rating_scales": {"w": (1, 9)}})
    with pytest.raises(ConfigError, match="subtract needs a pre-stimulus baseline"):
        ek.write_store(out, gsr=np.ones(640), baseline="subtract", **base)
    with pytest.raises(ConfigError, match="trials\\[0\\] starts at sample 10, less than"):
        ek.write_store(out, gsr=np.ones(640), trials=[(10, 100)], baseline_s=1.0, **base)
    with pytest.raises(DataFormatError, match="cannot tell the GSR unit.*gsr_unit"):
        ek.write_store(out, gsr=np.full(640, 200.0), **{**base, "gsr_unit": "auto"})
    assert not out.exists()


def test_write_store_from_mne_raw_objects(tmp_path):
    raw = signature_raw()
    rep = ek.write_store_from_raw(tmp_path / "r.h5", raw, rating_scales={"valence": (1, 9)},
                                  ratings={"valence": [3, 8.5, 6]}, trial_type="video",
                                  eeg_filter="none")
    st = open_store(rep.out)
    assert st.trial.tolist() == [1, 2, 3] and st.ratings[:, 0].tolist() == [3, 8.5, 6]
    assert st.trial_lengths.tolist() == [1024] * 3 and st.eeg_channels == ["Fz", "Cz"]
    # a table per Raw (rows as mappings), matched by onset
    rows = [{"onset": 10.0, "duration": 8.0, "trial_type": "video", "valence": 2},
            {"onset": 30.0, "duration": 4.0, "trial_type": "video", "valence": 9}]
    st = open_store(ek.write_store_from_raw(
        tmp_path / "t.h5", [raw, raw], rating_scales={"valence": (1, 9)}, events=[rows, rows],
        trial_type="video", subjects=[7, 8]).out)
    assert st.subject.tolist() == [7, 7, 8, 8] and st.trial_lengths.tolist() == [1024, 512] * 2
    with pytest.raises(ConfigError, match=r"ratings\['valence'\] has 2 values for 3"):
        ek.write_store_from_raw(tmp_path / "x.h5", raw, rating_scales={"valence": (1, 9)},
                                ratings={"valence": [3, 8]}, trial_type="video")
