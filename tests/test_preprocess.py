"""The preprocessing pipeline (emotionkd.preprocess): baseline modes, GSR units, outputs,
crashes and workers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import N_SAMPLES, ONSET, signature_arrays, write_dat

from emotionkd.errors import DataFormatError, OutputExistsError
from emotionkd.preprocess import preprocess_deap
from emotionkd.store import open_store


def test_baseline_none_and_keep(sig_folder, tmp_path):
    st = open_store(preprocess_deap(sig_folder, tmp_path / "n.h5", baseline="none").out)
    eeg, gsr, off = st.load_signals([0])
    np.testing.assert_allclose(eeg[5, :3], 5000 + 1 + np.arange(3) * 0.01, rtol=1e-6)
    np.testing.assert_allclose(gsr[0, 0], 1e6 / 2.5e5, rtol=1e-6)
    st = open_store(preprocess_deap(sig_folder, tmp_path / "k.h5", baseline="keep").out)
    assert (st.stop - st.start).tolist() == [N_SAMPLES] * 6
    assert (st.onset - st.start).tolist() == [ONSET] * 6
    eeg, gsr, _ = st.load_signals([0])
    assert eeg[3, 0] == 30 and eeg[3, ONSET] == 3001
    np.testing.assert_allclose(gsr[0, 0], 5.0, rtol=1e-6)


def test_gsr_unit_override_and_detection(sig_folder, tmp_path):
    rep = preprocess_deap(sig_folder, tmp_path / "a.h5", gsr_unit="ohm")
    assert "given by --gsr-unit" in next(iter(rep.gsr_units.values()))
    raw = tmp_path / "us"
    raw.mkdir()
    arr = signature_arrays(1)
    arr["data"][:, 36] = 1e6 / arr["data"][:, 36]  # already conductance in µS
    write_dat(raw / "s01.dat", arr)
    st = open_store(preprocess_deap(raw, tmp_path / "u.h5").out)
    _, gsr, _ = st.load_signals([0])
    np.testing.assert_allclose(gsr[0, 0], 4.0 - 5.0, rtol=1e-5)
    arr["data"][:, 36] = 700.0  # ambiguous magnitude
    write_dat(raw / "s01.dat", arr)
    with pytest.raises(DataFormatError, match="s01.dat.*--gsr-unit"):
        preprocess_deap(raw, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()


def test_existing_output_kept_unless_overwrite(sig_folder, tmp_path):
    out = tmp_path / "d.h5"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        preprocess_deap(sig_folder, out)
    assert out.read_bytes() == b"precious"
    preprocess_deap(sig_folder, out, overwrite=True)
    assert open_store(out).n_trials == 6


def test_crash_midway_leaves_no_final_file(sig_folder, tmp_path, monkeypatch):
    import emotionkd.store as store_mod

    calls = {"n": 0}
    real = store_mod.StoreWriter.add_trial

    def crashing(self, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # e.g. the user pressed Ctrl-C halfway
        return real(self, **kw)

    monkeypatch.setattr(store_mod.StoreWriter, "add_trial", crashing)
    out = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        preprocess_deap(sig_folder, out)
    assert not out.exists()
    assert not (tmp_path / "d.h5.tmp").exists()


def test_workers_give_identical_store(deap_raw, tmp_path):
    a = preprocess_deap(deap_raw, tmp_path / "a.h5", workers=1)
    b = preprocess_deap(deap_raw, tmp_path / "b.h5", workers=2)
    with h5py.File(a.out) as fa, h5py.File(b.out) as fb:
        np.testing.assert_array_equal(fa["eeg"][()], fb["eeg"][()])
        np.testing.assert_array_equal(fa["gsr"][()], fb["gsr"][()])
        np.testing.assert_array_equal(fa["trials/ratings"][()], fb["trials/ratings"][()])
