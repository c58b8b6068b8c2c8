"""Synthetic AMIGOS (emotionkd.datasets.synthetic_amigos): the release layout, the known gaps
of the real release, and the tree through the pipeline with its latent truth."""

from __future__ import annotations

import numpy as np
from scipy.io import loadmat

from emotionkd.datasets.amigos import AMIGOS_EEG_CHANNELS, LONG_VIDEOS, SHORT_VIDEOS
from emotionkd.datasets.synthetic import read_latent_table
from emotionkd.datasets.synthetic_amigos import write_amigos
from emotionkd.ingest import preprocess_amigos
from emotionkd.store import open_store

CODES = [str(v) for v in SHORT_VIDEOS] + list(LONG_VIDEOS)


def test_synthetic_files_have_the_release_layout(tmp_path):
    paths = write_amigos(tmp_path / "a", participants=(1, 8, 32), short_s=(3, 5),
                         long_s=(4, 6))
    assert [p.relative_to(tmp_path / "a").as_posix() for p in paths] == [
        f"Data_Preprocessed_P{s:02d}/Data_Preprocessed_P{s:02d}.mat" for s in (1, 8, 32)]
    assert paths[0].read_bytes()[:19] == b"MATLAB 5.0 MAT-file"
    mats = [loadmat(p) for p in paths]
    assert [k for k in mats[0] if not k.startswith("__")] == [
        "VideoIDs", "joined_data", "labels_ext_annotation", "labels_selfassessment"]
    m = mats[0]
    for key in ("VideoIDs", "joined_data", "labels_ext_annotation", "labels_selfassessment"):
        assert m[key].shape == (1, 20) and m[key].dtype == object
    assert [str(m["VideoIDs"][0, k][0]) for k in range(20)] == CODES
    assert m["VideoIDs"][0, 0].shape == (1,)
    for k in range(20):
        data, lab = m["joined_data"][0, k], m["labels_selfassessment"][0, k]
        assert data.dtype == np.float64 and data.shape[1] == 17 and data.shape[0] > 640
        assert lab.shape == (1, 12)
        assert np.all((lab[0, :5] >= 1) & (lab[0, :5] <= 9))
        assert set(np.unique(lab[0, 5:])) <= {0.0, 1.0}
        assert m["labels_ext_annotation"][0, k].shape[1] == 3
    gsr = np.concatenate([m["joined_data"][0, k][20:, 16] for k in range(20)])
    assert 1e4 < np.median(gsr) < 2e7  # skin resistance in Ohm
    # the known gaps: P08 without long videos, P32 without long-video ratings
    for k in range(16, 20):
        assert mats[1]["joined_data"][0, k].shape == (0, 0)
        assert mats[1]["labels_selfassessment"][0, k].shape == (1, 0)
        assert mats[2]["joined_data"][0, k].shape[0] > 640
        assert mats[2]["labels_selfassessment"][0, k].shape == (1, 0)
    latent = read_latent_table(tmp_path / "a")
    assert len(latent) == 60 and (8, 101) in latent and (1, 138) in latent


def test_reference_nan_trials_are_written_and_skipped(tmp_path):
    write_amigos(tmp_path / "a", participants=(12,), short_s=(3, 4), long_s=(3, 4))
    m = loadmat(tmp_path / "a" / "Data_Preprocessed_P12" / "Data_Preprocessed_P12.mat")
    assert np.isnan(m["joined_data"][0, 4]).any()  # P12's 5th short video
    assert not np.isnan(m["joined_data"][0, 3]).any()
    rep = preprocess_amigos(tmp_path / "a", tmp_path / "a.h5")
    assert rep.n_trials == 15
    n = m["joined_data"][0, 4].shape[0]
    assert [r for _, r in rep.skipped] == [  # the second half of the 15 used columns
        f"Data_Preprocessed_P12.mat cell 5 (video 13): {(n - n // 2) * 15} NaN/Inf samples "
        "in " + ", ".join(AMIGOS_EEG_CHANNELS + ["GSR"])]


def test_synthetic_tree_through_the_pipeline_with_latent_truth(tmp_path):
    write_amigos(tmp_path / "a", participants=(2, 8), short_s=(4, 6), long_s=(4, 6),
                 layout="zip")
    rep = preprocess_amigos(tmp_path / "a", tmp_path / "a.h5", videos="all")
    st = open_store(rep.out)
    assert rep.n_trials == 16 + 4 + 16  # P08 has no long videos
    assert sum("P08" in j for j, _ in rep.skipped) == 4
    assert st.latent is not None and st.latent.shape == (st.n_trials, 2)
    latent = read_latent_table(tmp_path / "a")
    row = int(np.flatnonzero((st.subject == 2) & (st.trial == 101))[0])
    np.testing.assert_allclose(st.latent[row], latent[(2, 101)], rtol=1e-5)
