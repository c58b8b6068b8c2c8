"""The DEAP reader (emotionkd.datasets.deap) through `preprocess deap`: layout, channels,
ratings, .mat and .dat, bytes keys, invalid and malicious files, stray files."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import N_SAMPLES, ONSET, signature_arrays, write_dat
from scipy.io import savemat

from emotionkd.datasets.records import DEAP_EEG_CHANNELS, TSCEPTION28
from emotionkd.errors import DataFormatError, UnsafePickleError
from emotionkd.preprocess import preprocess_deap
from emotionkd.store import open_store


def test_channels_gsr_and_baseline_subtraction(sig_folder, tmp_path):
    out = tmp_path / "d.h5"
    rep = preprocess_deap(sig_folder, out)
    assert rep.n_subjects == 2 and rep.n_trials == 6
    st = open_store(out)
    assert st.eeg_channels == DEAP_EEG_CHANNELS
    assert st.sampling_rate == 128.0 and st.source == "deap" and st.gsr_unit == "uS"
    eeg, gsr, offsets = st.load_signals(np.arange(st.n_trials))
    assert np.all(np.diff(offsets) == N_SAMPLES - ONSET)  # baseline dropped
    ramp = np.arange(N_SAMPLES - ONSET) * 0.01
    for k in range(st.n_trials):
        s, t = int(st.subject[k]), int(st.trial[k]) - 1
        seg = slice(offsets[k], offsets[k + 1])
        for c in range(32):  # EEG rows keep DEAP order; value = stimulus - baseline mean
            expect = 1000 * c + 100 * t + ramp + s - (10 * c + t)
            np.testing.assert_allclose(eeg[c, seg], expect, rtol=1e-6, atol=1e-3)
        # GSR came from row 36 (never the 1-based 37 = Respiration), Ohm -> µS, baseline removed
        expect_gsr = 1e6 / (2.5e5 + 1e3 * t) - 1e6 / 2.0e5
        np.testing.assert_allclose(gsr[0, seg], expect_gsr, rtol=1e-5)
    assert "ohm" in rep.gsr_units[str(sig_folder / "s01.dat")]
    assert st.preprocessing["baseline"] == "subtract"
    assert "ohm" in st.preprocessing["gsr_units"][str(sig_folder / "s01.dat")]


def test_ratings_subject_and_trial_ids(sig_folder, tmp_path):
    st = open_store(preprocess_deap(sig_folder, tmp_path / "d.h5").out)
    assert st.subject.tolist() == [1, 1, 1, 2, 2, 2]
    assert st.trial.tolist() == [1, 2, 3, 1, 2, 3]
    np.testing.assert_allclose(st.ratings[:3], signature_arrays(1)["labels"])
    assert st.rating_names == ["valence", "arousal", "dominance", "liking"]


def test_channel_subset_and_preset(sig_folder, tmp_path):
    st = open_store(preprocess_deap(sig_folder, tmp_path / "t.h5", eeg_channels="tsception28").out)
    assert st.eeg_channels == TSCEPTION28 and len(st.eeg_channels) == 28
    eeg, _, _ = st.load_signals([0])
    # F3 is DEAP row 2, F7 row 3; the preset keeps names, so row k holds the named channel
    expect = 1000 * 31 + 0.01 * 255 + 1 - 310
    assert eeg[TSCEPTION28.index("O2"), -1] == pytest.approx(expect, rel=1e-6)
    st = open_store(preprocess_deap(sig_folder, tmp_path / "c.h5", eeg_channels="cz,Fp1").out)
    assert st.eeg_channels == ["Cz", "Fp1"]
    eeg, _, _ = st.load_signals([0])
    assert eeg[0, 0] == pytest.approx(1000 * 23 + 1 - 230)


def test_mat_input_matches_dat(sig_folder, tmp_path):
    mat = tmp_path / "mat"
    mat.mkdir()
    for s in (1, 2):
        savemat(mat / f"s{s:02d}.mat", signature_arrays(s))
    a = open_store(preprocess_deap(sig_folder, tmp_path / "a.h5").out)
    b = open_store(preprocess_deap(mat, tmp_path / "b.h5").out)
    ea, ga, _ = a.load_signals(np.arange(6))
    eb, gb, _ = b.load_signals(np.arange(6))
    np.testing.assert_array_equal(ea, eb)
    np.testing.assert_array_equal(ga, gb)
    assert b.preprocessing["reader"] == "deap-mat"


def test_bytes_keys_are_accepted(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    arrays = signature_arrays(1)
    with open(raw / "s01.dat", "wb") as fh:
        pickle.dump({b"data": arrays["data"], b"labels": arrays["labels"]}, fh, protocol=2)
    assert preprocess_deap(raw, tmp_path / "d.h5").n_trials == 3


def test_stray_files_ignored_and_reported(sig_folder, tmp_path):
    (sig_folder / "README.txt").write_text("hello")
    (sig_folder / ".DS_Store").write_bytes(b"\0\1")
    (sig_folder / "extra").mkdir()
    rep = preprocess_deap(sig_folder, tmp_path / "d.h5")
    assert sorted(rep.stray) == [".DS_Store", "README.txt", "extra"]
    assert rep.n_trials == 6


def _bad(tmp_path: Path, name: str, mutate: Callable[..., object]
         ) -> Path:
    raw = tmp_path / f"bad_{name}"
    raw.mkdir()
    write_dat(raw / "s01.dat", signature_arrays(1))
    arrays = signature_arrays(2)
    mutate(raw / "s02.dat", arrays)
    return raw


@pytest.mark.parametrize(
    "case, mutate, message",
    [
        ("shape", lambda p, a: write_dat(p, {"data": a["data"][:, :39], "labels": a["labels"]}),
         r"s02.dat: 'data' has shape \(3, 39, 640\)"),
        ("labels", lambda p, a: write_dat(p, {"data": a["data"], "labels": a["labels"] * 2}),
         r"s02.dat: rating 18 .*outside \[1, 9\]"),
        ("nan", lambda p, a: (a["data"].__setitem__((1, 7, 5), np.nan), write_dat(p, a)),
         r"s02.dat: NaN or Inf in 'data' \(trial 2, channel T7, sample 5\)"),
        ("truncated", lambda p, a: (write_dat(p, a), p.write_bytes(p.read_bytes()[:5000])),
         r"s02.dat: truncated or corrupt pickle"),
        ("garbage", lambda p, a: p.write_bytes(b"this is not a pickle at all"),
         r"s02.dat: truncated or corrupt pickle"),
        ("nolabels", lambda p, a: write_dat(p, {"data": a["data"]}),
         r"s02.dat: has no 'labels' entry"),
    ],
)
def test_invalid_files_error_or_skip(tmp_path, case, mutate, message):
    raw = _bad(tmp_path, case, mutate)
    out = tmp_path / f"{case}.h5"
    with pytest.raises(DataFormatError, match=message):
        preprocess_deap(raw, out)
    assert not out.exists() and not Path(str(out) + ".tmp").exists()
    rep = preprocess_deap(raw, out, skip_bad=True)
    assert rep.n_subjects == 1 and len(rep.skipped) == 1
    assert rep.skipped[0][0].endswith("s02.dat")
    assert open_store(out).preprocessing["skipped"][0].startswith(str(raw / "s02.dat"))


def test_malicious_dat_refused_by_preprocess(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    (raw / "s01.dat").write_bytes(pickle.dumps({"data": Evil(), "labels": None}, protocol=2))
    with pytest.raises(UnsafePickleError, match="s01.dat: refused"):
        preprocess_deap(raw, tmp_path / "d.h5")
    assert not marker.exists() and not (tmp_path / "d.h5").exists()
    # --skip-bad leaves it out (and still runs nothing); with no other file nothing is written
    with pytest.raises(DataFormatError, match="no usable trials"):
        preprocess_deap(raw, tmp_path / "d.h5", skip_bad=True)
    assert not marker.exists() and not (tmp_path / "d.h5").exists()


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataFormatError, match="empty: no DEAP subject files"):
        preprocess_deap(tmp_path / "empty", tmp_path / "d.h5")
    with pytest.raises(DataFormatError, match="nope: no such folder"):
        preprocess_deap(tmp_path / "nope", tmp_path / "d.h5")
