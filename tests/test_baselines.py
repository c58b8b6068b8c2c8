"""Classical features and baselines, the Shallow ConvNet, latent truth of synthetic data and
the HCI EEG conditioning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emotionkd.features import BANDS, GSR_FEATURES, eeg_band_power, gsr_features
from emotionkd.models.classical import FeatureLogReg, FeatureModelConfig, window_features
from emotionkd.runs import DataSpec, load_windows, open_data

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


def _scr(n: int, onsets: list[int], amp: float) -> np.ndarray:
    t = np.arange(n) / FS
    g = np.zeros(n)
    for o in onsets:
        s = np.clip(t - o / FS, 0, None)
        g += amp * (np.exp(-s / 3.0) - np.exp(-s / 0.5)) * (t >= o / FS)
    return g


def test_gsr_features_level_slope_and_responses():
    n = 1024
    t = np.arange(n) / FS
    flat = np.full(n, 2.0)
    ramp = 1.0 + 0.1 * t
    two = 1.0 + _scr(n, [100, 600], 0.5)
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


def test_classical_baselines_fit_and_predict(deap_store):
    st = open_data(deap_store)
    ds = load_windows(st, DataSpec(window_s=2, step_s=2))
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
    st = open_data(deap_store)
    ds = load_windows(st, DataSpec(window_s=2, step_s=2))
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


def test_neurokit_features_of_known_responses():
    """NeuroKit2's pipeline on windows whose responses are known, beside the built-in
    features: both count the same responses; NeuroKit's amplitude of a lone response is the
    rise of its phasic part, its rise time the onset-to-peak time of the response shape."""
    pytest.importorskip("neurokit2")
    from emotionkd.neurokit_features import NEUROKIT_FEATURES, gsr_neurokit_features

    n = 1024
    flat, two, one = np.full(n, 2.0), 1.0 + _scr(n, [100, 600], 0.5), 1.0 + _scr(n, [300], 0.8)
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


def test_gsr_neurokit_baseline_fits_and_predicts(deap_store):
    pytest.importorskip("neurokit2")
    from emotionkd.neurokit_features import NEUROKIT_FEATURES

    st = open_data(deap_store)
    ds = load_windows(st, DataSpec(window_s=2, step_s=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    clf = FeatureLogReg("gsr-neurokit")
    info = clf.fit(train, val)
    assert info["features"] == len(NEUROKIT_FEATURES)
    p = clf.predict_proba(val)
    assert p.shape == (len(val), 2) and np.allclose(p.sum(1), 1)
    assert clf.state()["config"]["neurokit_phasic"] == "highpass"


def test_gsr_neurokit_without_the_extra_is_one_line_and_writes_nothing(deap_store, tmp_path,
                                                                       capsys, monkeypatch):
    import sys

    from conftest import run_cli

    monkeypatch.setitem(sys.modules, "neurokit2", None)  # import fails as if not installed
    out = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--kfold", "2", "--methods",
                         "none", "--baselines", "eeg-de,gsr-neurokit", "--epochs", "1",
                         "--size", "tiny", "--out", str(out)], capsys)
    assert code == 1
    err = cap.err.strip()
    assert len(err.splitlines()) == 1, err
    assert "gsr-neurokit baseline needs the optional package 'neurokit2'" in err
    assert "pip install 'emotionkd[neurokit]'" in err
    assert not out.exists()


def test_evaluate_saves_every_baseline_with_save_models(deap_store, tmp_path):
    """--save-models keeps each yardstick of a fold: the deep baseline as a checkpoint in the
    role of its inputs (EEG + GSR: the teacher's), the regressions as JSON."""
    from emotionkd.checkpoint import load_checkpoint
    from emotionkd.config import SIZE_PRESETS
    from emotionkd.evaluation import EvalConfig, evaluate_protocol

    cfg = EvalConfig(protocol="kfold", k=2, targets=["arousal"], methods=["none"], feedback=False,
                     baselines=["shallowconvnet", "gsr-features"],
                     data={"window_s": 2.0, "step_s": 2.0},
                     train={"epochs": 1, "batch_size": 16, "lr": 1e-3},
                     model=dict(SIZE_PRESETS["tiny"]), seeds=[0], save_models=True)
    res = evaluate_protocol(deap_store, cfg, tmp_path / "run")
    fold = next((tmp_path / "run" / "folds").rglob("fold-*.json"))
    models = json.loads(fold.read_text())["models"]
    assert all("error" not in m for m in models.values()), models
    saved = next((tmp_path / "run" / "models").rglob("baseline-shallowconvnet.pt"))
    ck = load_checkpoint(saved)
    assert (ck["role"], ck["model"]) == ("teacher", "shallowconvnet")
    assert next((tmp_path / "run" / "models").rglob("baseline-gsr-features.json")).stat().st_size
    assert "baseline-shallowconvnet" in res["targets"]["arousal"]["models"]


def test_shallowconvnet_shapes_and_single_convolution():
    from emotionkd.models.registry import build_model, default_config, model_spec

    cfg = default_config("shallowconvnet", 128.0, 4.0, 6)
    m = build_model("shallowconvnet", cfg).eval()
    assert model_spec("shallowconvnet")["inputs"] == "eeg+gsr"
    eeg, gsr = torch.randn(3, 6, 512), torch.randn(3, 1, 512)
    z, f = m(eeg, gsr)
    assert z.shape == (3, 2) and f.shape == (3, m.config.out_length(), 40)
    # the fused convolution equals the two layers of the original applied in turn
    with torch.no_grad():
        h = m.spatial(m.temporal(torch.cat([eeg, gsr], 1).unsqueeze(1))).squeeze(2)
        h = torch.nn.functional.avg_pool1d(m.bn(h) ** 2, m.config.pool_size, m.config.stride)
        torch.testing.assert_close(torch.log(h.clamp_min(1e-6)).transpose(1, 2), f)
    assert (m.config.kernel_size, m.config.pool_size, m.config.stride) == (13, 38, 8)


def test_latent_truth_is_stored_and_labelled(deap_store, deap_raw):
    from emotionkd.datasets.synthetic import LATENT_FILE, read_latent_table

    table = read_latent_table(deap_raw)
    assert table is not None and (deap_raw / LATENT_FILE).is_file()
    st = open_data(deap_store)
    assert st.latent is not None and st.latent_names == ["valence", "arousal"]
    for k in range(st.n_trials):
        np.testing.assert_allclose(st.latent[k], table[(int(st.subject[k]),
                                                        int(st.trial[k]))], atol=1e-6)
    ds = load_windows(st, DataSpec(window_s=2, step_s=2, target="arousal"))
    lat = st.latent[:, 1]
    by_trial = {(int(s), int(t)): 5 + 4 * a > 5 for s, t, a in zip(st.subject, st.trial, lat)}
    expect = [by_trial[(int(s), int(t))] for s, t in zip(ds.subjects, ds.trials)]
    np.testing.assert_array_equal(ds.latent_labels, expect)
    assert load_windows(st, DataSpec(target="liking")).latent_labels is None
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


def test_hci_conditioning_removes_common_mode_and_drift():
    from emotionkd.preprocess import condition_eeg

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
