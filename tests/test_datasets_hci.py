"""The MAHNOB-HCI reader (emotionkd.datasets.hci) through `preprocess hci`: onset, length,
GSR, EEG by label, every skip reason."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import session_length

from emotionkd.datasets.bdf import (
    read_bdf_header,
    read_digital,
    status_edges,
)
from emotionkd.datasets.hci import HCI_CHANNELS
from emotionkd.datasets.records import DEAP_EEG_CHANNELS
from emotionkd.datasets.synthetic_hci import write_hci
from emotionkd.errors import DataFormatError
from emotionkd.preprocess import preprocess_hci
from emotionkd.store import open_store

mne = pytest.importorskip("mne")


def test_round_trip_onset_length_gsr(hci_sessions, tmp_path):
    keep = open_store(preprocess_hci(hci_sessions, tmp_path / "k.h5", baseline="keep",
                                     target_fs=256).out)
    assert keep.n_trials == 4 and keep.subjects == [1, 2]
    assert keep.rating_names == ["valence", "arousal", "dominance", "predictability",
                                 "emotion"]
    folders = {(1, 1): "2", (1, 2): "4", (2, 1): "132", (2, 2): "134"}
    for k in range(keep.n_trials):
        folder = hci_sessions / folders[(int(keep.subject[k]), int(keep.trial[k]))]
        bdf = next(folder.glob("*.bdf"))
        n_stim = int(np.diff(status_edges(read_digital(bdf, "Status")))[0])
        assert abs(n_stim - session_length(folder) * 256) <= 1
        assert keep.onset[k] - keep.start[k] == 30 * 256  # onset exact to the sample
        assert keep.stop[k] - keep.onset[k] == n_stim  # the stimulus ends at the 2nd edge
        # GSR: the file's Ohm values as µS, sample for sample
        raw = mne.io.read_raw_bdf(bdf, verbose="error")
        ohm = raw.get_data(picks=["GSR1"])[0][: 30 * 256 + n_stim]
        _, gsr, _ = keep.load_signals([k])
        np.testing.assert_allclose(gsr[0], 1e6 / ohm, rtol=1e-6)
        assert 0.5 < np.median(gsr) < 50  # µS
    sub = open_store(preprocess_hci(hci_sessions, tmp_path / "s.h5").out)
    assert sub.sampling_rate == 128.0
    for k in range(sub.n_trials):
        full = keep.stop[k] - keep.start[k]
        # resample_poly gives ceil(n/2) samples; the 30-s baseline (3840) is then dropped
        assert sub.stop[k] - sub.start[k] == -(-full // 2) - 30 * 128
        assert sub.onset[k] == sub.start[k]
    eeg, _, _ = sub.load_signals(np.arange(sub.n_trials))
    assert 2 < np.sqrt((eeg.astype(np.float64) ** 2).mean()) < 80  # µV after DC removal


def test_eeg_picked_by_label_in_a_shuffled_file(hci_sessions, tmp_path):
    order = list(HCI_CHANNELS)
    random.Random(0).shuffle(order)
    shuffled = tmp_path / "Sessions"
    write_hci(shuffled, n_subjects=2, n_trials=2, seed=3, stimulus_s=(6.0, 9.0),
              neutral_s=(3.0, 4.0), channel_order=order)
    assert read_bdf_header(next((shuffled / "2").glob("*.bdf"))).labels == order
    a = open_store(preprocess_hci(hci_sessions, tmp_path / "a.h5").out)
    b = open_store(preprocess_hci(shuffled, tmp_path / "b.h5").out)
    ea, ga, _ = a.load_signals(np.arange(a.n_trials))
    eb, gb, _ = b.load_signals(np.arange(b.n_trials))
    assert a.eeg_channels == b.eeg_channels == DEAP_EEG_CHANNELS
    np.testing.assert_array_equal(ea, eb)
    np.testing.assert_array_equal(ga, gb)
    c = open_store(preprocess_hci(shuffled, tmp_path / "c.h5", eeg_channels="Cz,Fp1").out)
    ec, _, _ = c.load_signals([0])
    np.testing.assert_array_equal(ec, ea[[DEAP_EEG_CHANNELS.index("Cz"),
                                         DEAP_EEG_CHANNELS.index("Fp1")], :ec.shape[1]])


def test_every_skip_reason(hci_sessions, tmp_path):
    root = tmp_path / "Sessions"
    shutil.copytree(hci_sessions, root)
    shutil.copytree(hci_sessions / "2", root / "300")  # stays valid
    (root / "README.txt").write_text("stray")
    (root / ".DS_Store").write_bytes(b"\0")
    # 2: BDF removed; 4: ratings removed; 132: truncated BDF; 134: corrupt header
    next((root / "2").glob("*.bdf")).unlink()
    x = (root / "4" / "session.xml").read_text()
    (root / "4" / "session.xml").write_text(x.replace('feltArsl="', 'feltXrsl="'))
    b = next((root / "132").glob("*.bdf"))
    b.write_bytes(b.read_bytes()[: b.stat().st_size // 2])
    c = next((root / "134").glob("*.bdf"))
    c.write_bytes(b"\xffBIOSEMI" + b"garbage" * 10)
    # an extra session whose onset is not at 30 s, and one with malformed XML
    from emotionkd.datasets.bdf import write_bdf as wb
    from emotionkd.datasets.synthetic import subject_params, subject_rng
    from emotionkd.datasets.synthetic_hci import _channels, session_signals

    rng = subject_rng(0, 1)
    data, onset, end = session_signals(rng, subject_params(rng), np.zeros(2), 5.0)
    data[-1] = 0x1C0000
    data[-1, 10 * 256:10 * 256 + 10] = 0x1C0000 + 268
    data[-1, 15 * 256:15 * 256 + 10] = 0x1C0000 + 268
    (root / "200").mkdir()
    wb(root / "200" / "Part_1_S_Trial9_emotion.bdf", _channels(), data, 256,
       digital=[c.label == "Status" for c in _channels()])
    (root / "200" / "session.xml").write_text((root / "2" / "session.xml").read_text())
    (root / "201").mkdir()
    (root / "201" / "session.xml").write_text("<session feltArsl='3'")
    rep = preprocess_hci(root, tmp_path / "h.h5")
    reasons = {Path(j).name: r for j, r in rep.skipped}
    assert "no BDF file" in reasons["2"]
    assert "no ratings" in reasons["4"]
    assert "truncated BDF" in reasons["132"]
    assert "corrupt" in reasons["134"] or "not a BioSemi" in reasons["134"]
    assert "stimulus onset at 10.00 s, expected 30 ± 1 s" in reasons["200"]
    assert "malformed session.xml" in reasons["201"]
    assert sorted(rep.stray) == [".DS_Store", "README.txt"]
    assert len(rep.ignored) == 4  # the neutral clips
    assert rep.n_trials == 1 and open_store(tmp_path / "h.h5").n_trials == 1
    with pytest.raises(DataFormatError, match="--strict"):
        preprocess_hci(root, tmp_path / "strict.h5", strict=True)
    assert not (tmp_path / "strict.h5").exists()


def test_hci_store_records_its_scales(tmp_path):
    write_hci(tmp_path / "Sessions", n_subjects=1, n_trials=1, stimulus_s=(4.0, 4.0),
              neutral_s=(3.0, 3.0))
    st = open_store(preprocess_hci(tmp_path / "Sessions", tmp_path / "h.h5").out)
    assert st.rating_names[-1] == "emotion"
    assert st.rating_scales == [[1.0, 9.0]] * 4 + [None]  # the emotion keyword: a category

