"""WindowDataset: window counts, labels and tie rule, normalisation, batches, views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkd.config import DataConfig
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.preprocess import preprocess_deap
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset, binarise, window_starts


@pytest.mark.parametrize(
    "window_s, step_s, per_trial",
    [(4, 4, 3), (4, 1, 9), (1, 0.5, 23), (5, 5, 2), (2, 3, 4), (12, 1, 1), (13, 1, 0)],
)
def test_window_counts(deap_store, window_s, step_s, per_trial):
    ds = WindowDataset(deap_store, DataConfig(window=window_s, step=step_s))
    assert len(ds) == 12 * per_trial
    if per_trial:
        counts = np.bincount(ds.window_trial)
        assert counts.tolist() == [per_trial] * 12


def test_window_starts_vectorised_matches_loop():
    rng = np.random.default_rng(0)
    begin = np.cumsum(rng.integers(0, 50, 30))
    end = begin + rng.integers(0, 300, 30)
    starts, owner = window_starts(begin, end, 64, 17)
    expect = [(b + k, i) for i, (b, e) in enumerate(zip(begin, end))
              for k in range(0, e - b - 64 + 1, 17)]
    assert list(zip(starts.tolist(), owner.tolist())) == [(int(a), i) for a, i in expect]


def test_batch_equals_manual_slices_and_normalisation(deap_store):
    ds = WindowDataset(deap_store, DataConfig(window=2, step=1, target="valence", norm="subject"))
    st = open_store(deap_store)
    eeg_all, gsr_all, off = st.load_signals(np.arange(st.n_trials))
    idx = np.array([0, 5, len(ds) - 1, 17])
    eeg, gsr, y = ds.batch(idx)
    assert eeg.shape == (4, 32, 256) and gsr.shape == (4, 1, 256) and y.dtype == torch.int64
    assert eeg.dtype == torch.float32 and gsr.dtype == torch.float32
    for row, i in enumerate(idx):
        k = ds.trial_index[ds.window_trial[i]]
        subj_trials = np.flatnonzero(st.subject == ds.subjects[i])
        seg = np.concatenate([eeg_all[:, off[t]:off[t + 1]] for t in subj_trials], axis=1)
        gseg = np.concatenate([gsr_all[:, off[t]:off[t + 1]] for t in subj_trials], axis=1)
        a = off[k] + ds.starts[i] - off[ds.window_trial[i]]
        raw = eeg_all[:, a:a + 256]
        expect = (raw - seg.mean(1, keepdims=True)) / seg.std(1, keepdims=True)
        np.testing.assert_allclose(eeg[row].numpy(), expect, rtol=1e-4, atol=1e-4)
        gexp = (gsr_all[:, a:a + 256] - gseg.mean()) / gseg.std()
        np.testing.assert_allclose(gsr[row].numpy(), gexp, rtol=1e-4, atol=1e-4)
        assert y[row].item() == int(st.ratings[k, 0] > 5)
    # every subject's normalised signal has zero mean / unit sd per channel
    full = ds.batch(np.arange(len(ds)))[0]
    # windows cover each trial fully (12 s, step 1, window 2 -> every sample at least once)
    assert abs(float(full.mean())) < 0.05


def test_norm_none_and_train(deap_store):
    raw = WindowDataset(deap_store, DataConfig(norm="none"), subjects=[1])
    st = open_store(deap_store)
    eeg_all, _, off = st.load_signals([0])
    np.testing.assert_array_equal(raw.batch([0])[0][0].numpy(), eeg_all[:, :512])
    tr = WindowDataset(deap_store, DataConfig(norm="train"), norm_subjects=[1, 2])
    # the held-out subject 3 is normalised with subjects 1+2 statistics, not its own
    t12 = tr.select_subjects([1, 2]).batch(np.arange(len(tr.select_subjects([1, 2]))))[0]
    assert abs(float(t12.mean())) < 0.05
    with pytest.raises(ConfigError, match="norm train needs"):
        WindowDataset(deap_store, DataConfig(norm="train"))
    view = raw.with_norm("subject")
    assert abs(float(view.batch(np.arange(len(view)))[1].mean())) < 0.05


def test_labels_threshold_and_tie():
    r = np.array([1.0, 4.99, 5.0, 5.01, 9.0])
    assert binarise(r).tolist() == [0, 0, 0, 1, 1]
    assert binarise(r, tie="high").tolist() == [0, 0, 1, 1, 1]
    assert binarise(r, threshold=4.5).tolist() == [0, 1, 1, 1, 1]
    with pytest.raises(ConfigError):
        binarise(r, tie="middle")


def test_subset_subjects_and_gsr_only(deap_store):
    ds = WindowDataset(deap_store, DataConfig(eeg_channels="Cz,Fp1"), subjects=[2, 3],
                       load_eeg=False)
    assert set(np.unique(ds.subjects)) == {2, 3}
    eeg, gsr, y = ds.batch([0, 1])
    assert eeg is None and gsr.shape == (2, 1, 512)
    sub = ds.subset(np.flatnonzero(ds.subjects == 3))
    assert set(np.unique(sub.subjects)) == {3} and len(sub) == len(ds) // 2
    assert np.array_equal(sub.batch([0])[1], ds.batch([np.flatnonzero(ds.subjects == 3)[0]])[1])
    assert len(set(ds.trial_keys())) == 8
    spec = ds.spec()
    assert spec["window_samples"] == 512 and spec["eeg_channels"] == ["Cz", "Fp1"]
    assert spec["window"] == 4.0 and spec["target"] == "arousal"
    with pytest.raises(DataFormatError, match="subject.*9"):
        WindowDataset(deap_store, subjects=[9])
    with pytest.raises(DataFormatError, match="no rating 'joy'"):
        WindowDataset(deap_store, target="joy")
    with pytest.raises(ConfigError, match="unknown channel.*Xx"):
        WindowDataset(deap_store, DataConfig(eeg_channels="Xx"))


def test_keep_baseline_windows_only_cover_stimulus(deap_raw, tmp_path):
    out = preprocess_deap(deap_raw, tmp_path / "k.h5", baseline="keep").out
    ds = WindowDataset(out, DataConfig(window=4, step=4))
    assert len(ds) == 12 * 3  # the 3-s baseline is never cut into windows
    st = open_store(out)
    assert (ds.starts[ds.window_trial == 0] >= st.onset[0] - st.start[0]).all()
    item = ds[0]
    assert item[0].shape == (32, 512) and item[2].dtype == torch.int64


def test_random_crop_stays_inside_the_trial(deap_store):
    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2))
    idx = np.arange(len(ds))
    big = np.full(len(ds), 10_000)
    _, g_end, _ = ds.batch(idx, shift=big)
    _, g_start, _ = ds.batch(idx, shift=-big)
    begin, end = ds._segments
    owner = ds.window_trial
    # clipped to the last / first window of each trial
    last = ds.batch(idx, shift=(end[owner] - ds.window_samples) - ds.starts)[1]
    first = ds.batch(idx, shift=begin[owner] - ds.starts)[1]
    torch.testing.assert_close(g_end, last)
    torch.testing.assert_close(g_start, first)
    _, g0, _ = ds.batch(idx, shift=np.zeros(len(ds), dtype=int))
    torch.testing.assert_close(g0, ds.batch(idx)[1])


def test_with_stats_from_scales_another_store_as_the_training_windows(deap_store, none_store):
    """norm "train" across stores (the cross-dataset test side): the other store's windows
    are z-scored with the training windows' pooled statistics."""
    import numpy as np

    from emotionkd.config import DataConfig
    from emotionkd.windows import WindowDataset

    a = WindowDataset(deap_store, DataConfig(norm="train"), norm_subjects=[1, 2])
    b = WindowDataset(none_store, DataConfig(norm="none"))
    v = b.with_stats_from(a)
    st = a.norm_stats()
    assert v.norm == "train" and len(v) == len(b)
    _, g, _ = v.batch([0, 3], eeg=False)
    _, raw, _ = b.batch([0, 3], eeg=False)
    np.testing.assert_allclose(g.numpy(), (raw.numpy() - st["gsr_mean"]) / st["gsr_std"],
                               rtol=1e-4, atol=1e-4)
    e, _, _ = v.batch([0])
    e_raw, _, _ = b.batch([0])
    np.testing.assert_allclose(e.numpy()[0, 0], (e_raw.numpy()[0, 0] - st["eeg_mean"][0])
                               / st["eeg_std"][0], rtol=1e-4, atol=1e-4)


def test_relabelled_views_share_the_windows_with_other_labels(deap_store):
    ds = WindowDataset(deap_store, DataConfig(window=2, step=2))
    flipped = ds.relabelled(1 - ds.labels)
    assert np.array_equal(flipped.labels, 1 - ds.labels)
    _, g1, y1 = ds.batch([0, 3])
    _, g2, y2 = flipped.batch([0, 3])
    assert torch.equal(g1, g2) and torch.equal(y2, 1 - y1)
    assert np.array_equal(ds.labels, 1 - flipped.labels)  # the original is unchanged
    with pytest.raises(ValueError, match="labels"):
        ds.relabelled(ds.labels[:-1])
