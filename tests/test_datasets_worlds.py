"""The world families of the robustness suite (emotionkd/datasets/worlds.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch

from emotionkd.datasets.worlds import WORLD_RATING_NOISE, world_ratings, world_subject, write_world
from emotionkd.errors import ConfigError


def _log_power_gap(family: str, lo: float, hi: float) -> tuple[float, float]:
    """(high − low arousal) mean log power in [lo, hi) Hz per channel, and the same with
    the channels averaged first (what a spatial mix before taking power sees)."""
    s = world_subject(family, 1, 24, 12, seed=4)
    eeg = s.eeg[:, :, s.onset:]
    high = s.latent[:, 1] > 0
    f, p = welch(eeg, fs=128, nperseg=128)
    band = (f >= lo) & (f < hi)
    per_channel = np.log(p[..., band].sum(-1)).mean(1)
    _, pm = welch(eeg.mean(1), fs=128, nperseg=128)
    mixed = np.log(pm[:, band].sum(-1))
    return (per_channel[high].mean() - per_channel[~high].mean(),
            mixed[high].mean() - mixed[~high].mean())


def test_each_family_holds_its_cue_where_documented():
    assert _log_power_gap("broadband", 4, 45)[0] > 0.3  # power rises at every frequency
    beta, _ = _log_power_gap("rhythms", 17, 25)
    alpha, _ = _log_power_gap("rhythms", 8.5, 11.5)
    assert beta > 0.2 and alpha < -0.3  # beta rises, alpha falls
    low, _ = _log_power_gap("aperiodic", 2, 6)
    high, _ = _log_power_gap("aperiodic", 35, 45)
    assert low < -0.2 and high > 0.15  # the 1/f slope flattens
    assert _log_power_gap("aperiodic", 9, 11)[0] == pytest.approx(0.0, abs=0.15)


def test_rhythms_are_incoherent_across_channels_and_sources_are_mixed():
    # per-channel rhythms with independent phases: the average over channels (common average
    # reference and all) is tiny; mixed sources keep a large common part
    s = world_subject("rhythms", 2, 4, 8, seed=0)
    m = world_subject("sources", 2, 4, 8, seed=0)
    corr = [np.corrcoef(x.eeg[0, :, x.onset:])[np.triu_indices(32, 1)] for x in (s, m)]
    assert np.abs(corr[0]).mean() < 0.1 < np.abs(corr[1]).mean()


def test_ratings_follow_the_documented_model():
    rng = np.random.default_rng(0)
    latent = np.stack([np.zeros(4000), rng.uniform(-1, 1, 4000)], axis=1)
    clean = world_ratings(np.random.default_rng(1), latent, noise=0.0, bias=0.0)
    np.testing.assert_allclose(clean[:, 1], np.round(5 + 3.5 * latent[:, 1], 2), atol=1e-9)
    noisy = world_ratings(np.random.default_rng(1), latent, noise=1.5, bias=0.0)
    inner = np.abs(latent[:, 1]) < 0.5  # away from the clipping at 1 and 9
    resid = noisy[inner, 1] - clean[inner, 1]
    assert resid.std() == pytest.approx(1.5, rel=0.08) and abs(resid.mean()) < 0.1
    biased = world_ratings(np.random.default_rng(2), latent[:50], noise=0.0, bias=2.0)
    offset = biased[:, 1] - clean[:50, 1]
    # one offset per subject (ratings are rounded to 0.01)
    assert np.ptp(offset[np.abs(latent[:50, 1]) < 0.5]) <= 0.0101 and abs(offset[0]) > 0.02
    assert WORLD_RATING_NOISE == 1.5


def test_subjects_are_reproducible_and_families_differ():
    a, b = world_subject("sources", 3, 2, 4, seed=7), world_subject("sources", 3, 2, 4, seed=7)
    np.testing.assert_array_equal(a.eeg, b.eeg)
    c = world_subject("rhythms", 3, 2, 4, seed=7)
    assert not np.allclose(a.latent, c.latent)
    assert a.eeg.shape == (2, 32, 7 * 128) and a.gsr_us.min() >= 0.05


def test_write_world_in_deap_layout_and_bad_requests(tmp_path):
    from emotionkd.datasets.deap import load_subject
    from emotionkd.datasets.synthetic import read_latent_table

    paths = write_world(tmp_path / "w", "aperiodic", n_subjects=2, n_trials=3, seconds=4,
                        seed=1)
    assert [p.name for p in paths] == ["s01.dat", "s02.dat"]
    data, labels = load_subject(paths[0])
    assert data.shape == (3, 40, 7 * 128) and labels.shape == (3, 4)
    assert len(read_latent_table(tmp_path / "w")) == 6
    with pytest.raises(ConfigError, match="--world must be one of broadband"):
        write_world(tmp_path / "x", "own")
    with pytest.raises(ConfigError, match="--label-noise"):
        write_world(tmp_path / "x", "rhythms", rating_noise=-1)
    assert not (tmp_path / "x").exists()


def _scr_rise(s) -> tuple[float, float]:
    """Mean total rise of the skin-conductance responses (their count × mean size) per trial
    at high and at low arousal."""
    from emotionkd.features import gsr_features

    f = gsr_features(s.gsr_us[:, s.onset:], 128.0, scr_threshold=0.02)
    rise = f[:, 2] * f[:, 3]
    high = s.latent[:, 1] > 0.3
    low = s.latent[:, 1] < -0.3
    return float(rise[high].mean()), float(rise[low].mean())


def test_confounded_family_has_a_strong_gsr_cue_and_confounded_ratings():
    from emotionkd.datasets.worlds import CONFOUNDS, GSR_CUES

    assert GSR_CUES == {"confounded": 2.5}
    subjects = [world_subject("confounded", k, 40, 30, seed=3) for k in (1, 2, 3)]
    broad = [world_subject("broadband", k, 40, 30, seed=3) for k in (1, 2, 3)]
    ratio = [np.divide(*_scr_rise(s)) for s in subjects]
    plain = [np.divide(*_scr_rise(s)) for s in broad]
    assert np.mean(ratio) > 1.5 * np.mean(plain) > 1.5  # a far stronger skin-conductance cue
    # the confound: with the rating noise and the arousal cues removed, what is left of the
    # arousal rating beyond 5 + 3.5·a is the bodily state, and the stimulus part of the tonic
    # level over the baseline rises with it by the documented fraction per rating point
    to_rating, to_tonic = CONFOUNDS["confounded"]
    s = world_subject("confounded", 1, 60, 30, seed=5, rating_noise=0.0)
    state = (s.ratings[:, 1] - np.round(5 + 3.5 * s.latent[:, 1], 2)) / to_rating
    inside = (s.ratings[:, 1] > 1.01) & (s.ratings[:, 1] < 8.99)  # not clipped
    assert state[inside].std() == pytest.approx(1.0, rel=0.3)
    rise = np.log(s.gsr_us[:, s.onset + 256:].min(1) / s.gsr_us[:, :s.onset].min(1))
    slope = np.polyfit(state[inside], rise[inside], 1)[0]
    assert 0.5 * to_tonic < slope < 2 * to_tonic
    # EEG carries arousal, not the state: band power follows the latent truth alone
    f, p = welch(s.eeg[:, :, s.onset:], fs=128, nperseg=128)
    power = np.log(p[..., (f >= 4) & (f < 45)].sum(-1)).mean(1)
    assert abs(np.corrcoef(power, s.latent[:, 1])[0, 1]) > 0.5
    assert abs(np.corrcoef(power - np.polyval(np.polyfit(s.latent[:, 1], power, 1),
                                              s.latent[:, 1]), state)[0, 1]) < 0.35
