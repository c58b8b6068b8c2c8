"""The synthetic generator (emotionkd.datasets.synthetic): DEAP layout, determinism,
emotion-dependent physiology, the latent truth and the cue knobs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from emotionkd.config import DataConfig
from emotionkd.datasets.records import DEAP_EEG_CHANNELS, DEAP_GSR_INDEX
from emotionkd.datasets.synthetic import deap_arrays, generate_subject, write_deap
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset


def test_latent_truth_is_stored_and_labelled(deap_store, deap_raw):
    from emotionkd.datasets.synthetic import LATENT_FILE, read_latent_table

    table = read_latent_table(deap_raw)
    assert table is not None and (deap_raw / LATENT_FILE).is_file()
    st = open_store(deap_store)
    assert st.latent is not None and st.latent_names == ["valence", "arousal"]
    for k in range(st.n_trials):
        np.testing.assert_allclose(st.latent[k], table[(int(st.subject[k]),
                                                        int(st.trial[k]))], atol=1e-6)
    ds = WindowDataset(st, DataConfig(window=2, step=2, target="arousal"))
    lat = st.latent[:, 1]
    by_trial = {(int(s), int(t)): 5 + 4 * a > 5 for s, t, a in zip(st.subject, st.trial, lat)}
    expect = [by_trial[(int(s), int(t))] for s, t in zip(ds.subjects, ds.trials)]
    np.testing.assert_array_equal(ds.latent_labels, expect)
    assert WindowDataset(st, DataConfig(target="liking")).latent_labels is None
    sub = ds.subset(np.arange(3))
    np.testing.assert_array_equal(sub.latent_labels, ds.latent_labels[:3])


def test_cue_knobs_change_the_signal(tmp_path):
    from emotionkd.datasets.synthetic import generate_subject
    from emotionkd.errors import ConfigError

    kw = dict(n_trials=4, stimulus_s=8.0, seed=3, peripheral=False)
    base = generate_subject(1, **kw)
    none = generate_subject(1, eeg_cue=0.0, gsr_cue=0.0, **kw)
    quiet = generate_subject(1, label_noise=0.0, **kw)
    # same latent emotion, different signals; no label noise: ratings are 5 + 4·latent
    np.testing.assert_allclose(base.latent, none.latent)
    assert not np.allclose(base.eeg, none.eeg)
    np.testing.assert_allclose(quiet.ratings[:, 1], np.round(5 + 4 * quiet.latent[:, 1], 2),
                               atol=0.011)
    for bad in ({"eeg_cue": -1.0}, {"gsr_cue": float("nan")}, {"label_noise": float("inf")}):
        with pytest.raises(ConfigError):
            generate_subject(1, **kw, **bad)


def test_synthetic_store_plausible(deap_store):
    st = open_store(deap_store)
    assert st.subjects == [1, 2, 3] and st.n_trials == 12
    eeg, gsr, _ = st.load_signals(np.arange(st.n_trials))
    rms = np.sqrt((eeg.astype(np.float64) ** 2).mean())
    assert 5 < rms < 60  # µV, DEAP-like
    assert np.abs(gsr).max() < 20  # µS relative to the trial baseline


def test_deap_layout_on_disk(tmp_path):
    paths = write_deap(tmp_path, n_subjects=2, n_trials=3, seconds=4, seed=1)
    with open(paths[0], "rb") as fh:
        d = pickle.load(fh, encoding="latin1")
    assert set(d) == {"data", "labels"}
    assert d["data"].shape == (3, 40, (3 + 4) * 128) and d["data"].dtype == np.float64
    assert d["labels"].shape == (3, 4) and d["labels"].min() >= 1 and d["labels"].max() <= 9
    gsr = d["data"][:, DEAP_GSR_INDEX]
    assert 1e4 < np.median(gsr) < 2e7  # skin resistance in Ohm
    assert np.abs(d["data"][:, :32]).std() > 3  # EEG in µV


def test_deterministic_and_independent_of_subject_count(tmp_path):
    a = write_deap(tmp_path / "a", n_subjects=2, n_trials=2, seconds=3, seed=5)
    b = write_deap(tmp_path / "b", n_subjects=3, n_trials=2, seconds=3, seed=5)
    assert a[1].read_bytes() == b[1].read_bytes()
    c = write_deap(tmp_path / "c", n_subjects=2, n_trials=2, seconds=3, seed=6)
    assert a[1].read_bytes() != c[1].read_bytes()


def _band_log_power(x: np.ndarray, fs: float, lo: float, hi: float) -> np.ndarray:
    f = np.fft.rfftfreq(x.shape[-1], 1 / fs)
    p = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    return np.log(p[..., (f >= lo) & (f < hi)].mean(-1))


def test_emotion_effects_present():
    s = generate_subject(4, n_trials=40, stimulus_s=20, seed=0)
    stim = s.eeg[:, :, s.onset:]
    v, a = s.latent[:, 0], s.latent[:, 1]
    beta = _band_log_power(stim, s.fs, 14, 29).mean(1)
    gamma = _band_log_power(stim, s.fs, 31, 44).mean(1)
    assert np.corrcoef(beta, a)[0, 1] > 0.4
    assert np.corrcoef(gamma, a)[0, 1] > 0.4
    alpha = _band_log_power(stim, s.fs, 8, 13)
    right = [DEAP_EEG_CHANNELS.index(c) for c in ("Fp2", "AF4", "F4", "F8")]
    left = [DEAP_EEG_CHANNELS.index(c) for c in ("Fp1", "AF3", "F3", "F7")]
    asym = alpha[:, right].mean(1) - alpha[:, left].mean(1)
    assert np.corrcoef(asym, v)[0, 1] > 0.4
    # GSR: more / larger responses with arousal -> higher mean change from the baseline
    rise = s.gsr_us[:, s.onset:].mean(1) - s.gsr_us[:, : s.onset].mean(1)
    assert np.corrcoef(rise, a)[0, 1] > 0.2
    # ratings follow the latent state with noise
    assert np.corrcoef(s.ratings[:, 1], a)[0, 1] > 0.7
    assert np.corrcoef(s.ratings[:, 0], v)[0, 1] > 0.7


def test_subjects_differ():
    p = [generate_subject(k, n_trials=2, stimulus_s=2, seed=0).params for k in (1, 2, 3)]
    assert len({round(x.scl, 3) for x in p}) == 3
    assert len({round(x.eeg_strength, 3) for x in p}) == 3
    arrays = deap_arrays(generate_subject(1, n_trials=2, stimulus_s=2, seed=0))
    assert arrays["data"].shape[1] == 40
