"""The synthetic generator: DEAP layout, determinism, and emotion-dependent physiology."""

from __future__ import annotations

import pickle

import numpy as np

from emotionkd.datasets.records import DEAP_EEG_CHANNELS, DEAP_GSR_INDEX
from emotionkd.datasets.synthetic import deap_arrays, generate_subject, write_deap


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
