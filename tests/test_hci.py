"""MAHNOB-HCI: BDF writing and Status decoding, session parsing, `preprocess hci` and skips."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from emotionkd.datasets.bdf import (
    BdfChannel,
    read_bdf_header,
    read_digital,
    status_edges,
    trigger_codes,
    write_bdf,
)
from emotionkd.datasets.hci import HCI_CHANNELS
from emotionkd.datasets.records import DEAP_EEG_CHANNELS
from emotionkd.datasets.synthetic_hci import write_hci
from emotionkd.errors import DataFormatError
from emotionkd.preprocess import preprocess_hci
from emotionkd.store import open_store

mne = pytest.importorskip("mne")
REAL_BDF = Path(__file__).parent / "data" / "real" / "mne_test_bdf_stim_channel.bdf"


def test_status_decoding_on_real_biosemi_file():
    st = read_digital(REAL_BDF, "Status")
    assert len(st) == 5000
    assert np.all((st & 0xFF0000) == 0x1C0000)  # system bits are present in every sample
    codes = trigger_codes(st)
    assert {c for _, c in codes} == {1, 2, 4}
    assert codes[:3] == [(242, 4), (310, 2), (952, 1)]
    # MNE's own event decoding agrees on the samples
    raw = mne.io.read_raw_bdf(REAL_BDF, verbose="error")
    ev = mne.find_events(raw, stim_channel="Status", verbose="error")
    assert [int(s) for s in ev[:, 0]] == [s for s, _ in codes]
    # masking with 0xFFFF, never comparing raw values to small codes
    assert not np.isin(st, [1, 2, 4]).any()


def test_bdf_writer_round_trip(tmp_path):
    fs, n = 256, 256 * 3 + 100  # not a whole number of records: padded
    rng = np.random.default_rng(0)
    eeg = rng.normal(0, 30, (2, n))
    gsr = 2e5 + 1e4 * np.sin(np.arange(n) / 50)
    status = np.full(n, 0x1C0000)
    status[300:310] |= 268
    chans = [BdfChannel("Fz", "uV", -262144, 262143), BdfChannel("Cz", "uV", -262144, 262143),
             BdfChannel("GSR1", "Ohm", 0, 16777215),
             BdfChannel("Status", "Boolean", -8388608, 8388607)]
    path = write_bdf(tmp_path / "x.bdf", chans, np.vstack([eeg, gsr, status]), fs,
                     digital=[False, False, False, True])
    hdr = read_bdf_header(path)
    assert hdr.labels == ["Fz", "Cz", "GSR1", "Status"] and hdr.n_records == 4
    assert hdr.header_bytes == 5 * 256 and path.stat().st_size == hdr.expected_size
    raw = mne.io.read_raw_bdf(path, preload=True, verbose="error")
    assert raw.info["sfreq"] == fs and raw.ch_names == ["Fz", "Cz", "GSR1", "Status"]
    np.testing.assert_allclose(raw.get_data(picks=["Fz", "Cz"])[:, :n] * 1e6, eeg,
                               atol=524287 / 2**24 + 1e-9)
    np.testing.assert_allclose(raw.get_data(picks=["GSR1"])[0, :n], gsr, atol=1.0)
    st = read_digital(path, "Status")
    assert st[0] == 0x1C0000 and status_edges(st).tolist() == [300]


@pytest.fixture(scope="module")
def hci_sessions(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hci") / "Sessions"
    write_hci(root, n_subjects=2, n_trials=2, seed=3, stimulus_s=(6.0, 9.0),
              neutral_s=(3.0, 4.0))
    return root


def _xml_len(folder: Path) -> float:
    import xml.etree.ElementTree as ET

    return float(ET.parse(folder / "session.xml").getroot().get("cutLenSec"))


def test_synthetic_layout(hci_sessions):
    names = sorted(int(p.name) for p in hci_sessions.iterdir() if p.is_dir())
    assert names == [1, 2, 3, 4, 131, 132, 133, 134]  # 130·(p−1) + 2k−1 (N), + 2k (S)
    s = hci_sessions / "2"
    assert (s / "Part_1_S_Trial1_emotion.bdf").exists()
    hdr = read_bdf_header(s / "Part_1_S_Trial1_emotion.bdf")
    assert hdr.n_channels == 47 and hdr.labels == HCI_CHANNELS
    assert set(hdr.samples_per_record) == {256} and hdr.header_bytes == 12288
    st = read_digital(s / "Part_1_S_Trial1_emotion.bdf", "Status")
    edges = status_edges(st)
    assert len(edges) == 2 and edges[0] == 30 * 256
    assert edges[1] == 30 * 256 + round(_xml_len(s) * 256)
    assert np.all((st & 0xFF0000) != 0)


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
        assert abs(n_stim - _xml_len(folder) * 256) <= 1
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
