"""AMIGOS (emotionkd.datasets.amigos, through emotionkd.ingest.preprocess_amigos): the reader
(channels by name, GSR column and unit, baseline, ratings, video numbering), the per-cell
gaps, the input layouts and their errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from emotionkd.datasets.amigos import (
    AMIGOS_EEG_CHANNELS,
    AMIGOS_FILE_EEG,
    AMIGOS_RATING_NAMES,
    LONG_VIDEOS,
    SHORT_VIDEOS,
)
from emotionkd.datasets.records import DEAP_EEG_CHANNELS
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.ingest import preprocess_amigos
from emotionkd.store import open_store

ONSET, STIM = 640, 256  # 5-s baseline at 128 Hz, 2 s of video
CODES = [str(v) for v in SHORT_VIDEOS] + list(LONG_VIDEOS)


def signature_variables(gaps: bool = True, eeg_scale: float = 1.0,
                        gsr_scale: float = 1.0) -> dict[str, np.ndarray]:
    """Column c of cell k: c + 0.1k in the baseline, 10c + 0.5k + 0.01i during the video
    (sample i of it); ECG = 1e5; GSR = 200 kOhm in the baseline and 250 kOhm + 1 kOhm·k
    during the video, but -5 in the first 20 samples (filter start-up, impossible as a
    resistance, so it must be trimmed). Gaps: cell 3 empty, cell 4 unrated, cell 5 NaN GSR,
    cell 18 (long video P1) empty."""
    out = {name: np.empty((1, 20), dtype=object) for name in
           ("VideoIDs", "joined_data", "labels_ext_annotation", "labels_selfassessment")}
    i = np.arange(STIM)
    for k, code in enumerate(CODES):
        data = np.empty((ONSET + STIM, 17))
        for c in range(14):
            data[:ONSET, c] = c + 0.1 * k
            data[ONSET:, c] = 10 * c + 0.5 * k + 0.01 * i
        data[:, :14] *= eeg_scale
        data[:, 14:16] = 1e5
        data[:ONSET, 16] = 2e5
        data[ONSET:, 16] = 2.5e5 + 1e3 * k
        data[:, 16] *= gsr_scale
        data[:20, 16] = -5.0
        labels = np.array([[9 - 0.25 * k, 1 + 0.25 * k, 5, 5, 3, k % 2, 0, 1, 0, 0, 0, 0]])
        if gaps and k == 4:
            data[ONSET + 10:ONSET + 20, 16] = np.nan
        if gaps and k in (2, 17):
            data, labels = np.zeros((0, 0)), np.zeros((1, 0))
        if gaps and k == 3:
            labels = np.zeros((1, 0))
        out["VideoIDs"][0, k] = code
        out["joined_data"][0, k] = data
        out["labels_ext_annotation"][0, k] = np.array([[1, 0.1, -0.2], [2, 0.3, 0.4]])
        out["labels_selfassessment"][0, k] = labels
    return out


def write_participant(root: Path, subject: int, variables: dict, layout: str = "folders"
                      ) -> Path:
    name = f"Data_Preprocessed_P{subject:02d}"
    if layout == "flat":
        path = root / f"{name}.mat"
    else:
        path = root / name / f"{name}.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, variables, format="5")
    if layout == "zip":
        zpath = root / f"{name}.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(path, f"{name}/{name}.mat")
        path.unlink()
        path.parent.rmdir()
        return zpath
    return path


@pytest.fixture
def sig_root(tmp_path) -> Path:
    root = tmp_path / "amigos"
    write_participant(root, 1, signature_variables())
    write_participant(root, 7, signature_variables(eeg_scale=1.001))  # not a copy of P01
    (root / "README.txt").write_text("not data")
    return root


def test_channels_gsr_baseline_ratings_and_video_numbers(sig_root, tmp_path):
    rep = preprocess_amigos(sig_root, tmp_path / "a.h5")
    st = open_store(tmp_path / "a.h5")
    assert st.source == "amigos" and st.sampling_rate == 128.0 and st.gsr_unit == "uS"
    assert st.eeg_channels == AMIGOS_EEG_CHANNELS == [c for c in DEAP_EEG_CHANNELS
                                                      if c in AMIGOS_FILE_EEG]
    assert st.rating_names == AMIGOS_RATING_NAMES and st.rating_names[0] == "arousal"
    assert st.rating_scales == [[1.0, 9.0]] * 5 + [[0.0, 1.0]] * 7
    kept = [k for k in range(16) if k not in (2, 3, 4)]
    assert rep.n_subjects == 2 and rep.n_trials == 2 * len(kept)
    assert st.trial.tolist() == [SHORT_VIDEOS[k] for k in kept] * 2
    assert rep.stray == ["README.txt"]
    eeg, gsr, off = st.load_signals(np.arange(st.n_trials))
    assert np.all(np.diff(off) == STIM)  # baseline dropped after subtraction
    i = np.arange(STIM)
    for row, k in enumerate(kept):
        seg = slice(off[row], off[row + 1])
        for name in AMIGOS_EEG_CHANNELS:  # stored by name, from its file column
            c = AMIGOS_FILE_EEG.index(name)
            expect = 10 * c + 0.5 * k + 0.01 * i - (c + 0.1 * k)
            np.testing.assert_allclose(eeg[st.eeg_channels.index(name), seg], expect,
                                       rtol=1e-5, atol=1e-4)
        # column 16 (never an ECG column), Ohm -> µS, the trimmed baseline's mean removed
        np.testing.assert_allclose(gsr[0, seg], 1e6 / (2.5e5 + 1e3 * k) - 5.0, rtol=1e-5)
        np.testing.assert_allclose(st.ratings[row, :2], [9 - 0.25 * k, 1 + 0.25 * k])
    assert all("ohm" in v for v in rep.gsr_units.values())
    reasons = [r for _, r in rep.skipped]
    assert len(reasons) == 6
    assert any("cell 3 (video 9): empty joined_data (0 × 0)" in r for r in reasons)
    assert any("cell 4 (video 10): no self-assessment" in r for r in reasons)
    assert any("cell 5 (video 13): 10 NaN/Inf samples in GSR" in r for r in reasons)
    assert st.preprocessing["videos"] == "short" and st.preprocessing["trim_samples"] == 20


def test_long_videos_all_videos_and_keep_baseline(sig_root, tmp_path):
    st = open_store(preprocess_amigos(sig_root, tmp_path / "l.h5", videos="long").out)
    assert sorted(set(st.trial.tolist())) == [101, 103, 104]  # P1 (102) is empty
    st = open_store(preprocess_amigos(sig_root, tmp_path / "k.h5", videos="all",
                                      baseline="keep").out)
    assert st.n_trials == 2 * 16
    assert set((st.onset - st.start).tolist()) == {ONSET - 20}  # the 20 trimmed samples
    assert set(st.trial_lengths.tolist()) == {ONSET + STIM - 20}
    st = open_store(preprocess_amigos(sig_root, tmp_path / "c.h5", eeg_channels="O2,AF3",
                                      baseline_s=3.0).out)
    assert st.eeg_channels == ["O2", "AF3"]
    st = open_store(preprocess_amigos(sig_root, tmp_path / "d.h5", eeg_channels="O2,AF3",
                                      eeg_filter="deap").out)  # CAR over all 14, keeps 2
    assert st.eeg_channels == ["O2", "AF3"] and "again" in st.preprocessing["eeg_conditioning"]
    assert st.preprocessing["eeg_filter"] == "deap"
    with pytest.raises(ConfigError, match="AMIGOS has no Fp1"):
        preprocess_amigos(sig_root, tmp_path / "x.h5", eeg_channels="Fp1,AF3")
    with pytest.raises(ConfigError, match="--videos"):
        preprocess_amigos(sig_root, tmp_path / "x.h5", videos="medium")


def test_strict_turns_a_gap_into_an_error(sig_root, tmp_path):
    with pytest.raises(DataFormatError, match="cell 3 .*empty joined_data.*--strict"):
        preprocess_amigos(sig_root, tmp_path / "s.h5", strict=True)
    assert not (tmp_path / "s.h5").exists()


@pytest.mark.parametrize("layout", ["flat", "zip"])
def test_flat_and_zip_layouts_give_the_same_store(sig_root, tmp_path, layout):
    other = tmp_path / layout
    write_participant(other, 1, signature_variables(), layout)
    write_participant(other, 7, signature_variables(eeg_scale=1.001), layout)
    a = open_store(preprocess_amigos(sig_root, tmp_path / "a.h5").out)
    b = open_store(preprocess_amigos(other, tmp_path / "b.h5").out)
    np.testing.assert_array_equal(a.load_signals(np.arange(a.n_trials))[1],
                                  b.load_signals(np.arange(b.n_trials))[1])
    assert a.trial.tolist() == b.trial.tolist()


def test_unpacked_and_zipped_participant_is_read_once(sig_root, tmp_path):
    write_participant(sig_root / "zips", 1, signature_variables(), "zip")
    rep = preprocess_amigos(sig_root, tmp_path / "a.h5")
    files = open_store(rep.out).preprocessing["files"]
    assert rep.n_subjects == 2 and files[0].endswith("P01.mat")  # the .mat, not the zip
    assert "zips" in rep.stray  # the unread zip is listed as ignored


def test_deflate64_zip_is_refused_with_the_fix(tmp_path):
    root = tmp_path / "z"
    path = write_participant(root, 3, signature_variables(), "zip")
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    blob = bytearray(path.read_bytes())
    blob[8:10] = (9).to_bytes(2, "little")  # local header: compression method 9 = Deflate64
    cd = blob.rfind(b"PK\x01\x02")
    blob[cd + 10:cd + 12] = (9).to_bytes(2, "little")  # central directory entry
    path.write_bytes(bytes(blob))
    assert info.filename.endswith(".mat")
    with pytest.raises(DataFormatError, match="Deflate64.*unzip it"):
        preprocess_amigos(root, tmp_path / "x.h5")


def test_units_are_checked(tmp_path):
    root = tmp_path / "us"
    v = signature_variables(gaps=False, gsr_scale=1.0)
    for k in range(20):  # already conductance in µS (positive start-up values)
        d = v["joined_data"][0, k]
        d[:, 16] = 1e6 / np.where(d[:, 16] > 0, d[:, 16], 2e5)
    write_participant(root, 1, v)
    rep = preprocess_amigos(root, tmp_path / "u.h5")
    assert "us" in next(iter(rep.gsr_units.values()))
    with pytest.raises(DataFormatError, match="median skin conductance of .* --gsr-unit"):
        preprocess_amigos(root, tmp_path / "x.h5", gsr_unit="ohm")
    volts = tmp_path / "volts"
    write_participant(volts, 1, signature_variables(gaps=False, eeg_scale=1e-6))
    with pytest.raises(DataFormatError, match="EEG channel SD .* µV"):
        preprocess_amigos(volts, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_wrong_shapes_and_missing_variables_are_errors(tmp_path):
    root = tmp_path / "bad"
    v = signature_variables(gaps=False)
    v["joined_data"][0, 0] = v["joined_data"][0, 0].T  # channels x samples
    write_participant(root, 1, v)
    with pytest.raises(DataFormatError, match=r"joined_data has shape \(17, 896\)"):
        preprocess_amigos(root, tmp_path / "x.h5")
    root2 = tmp_path / "bad2"
    root2.mkdir()
    savemat(root2 / "Data_Preprocessed_P01.mat", {"data": np.zeros((2, 2))})
    with pytest.raises(DataFormatError, match="has no VideoIDs, joined_data"):
        preprocess_amigos(root2, tmp_path / "x.h5")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(DataFormatError, match="no AMIGOS files"):
        preprocess_amigos(empty, tmp_path / "x.h5")
