"""BDF files (emotionkd.datasets.bdf): Status decoding on a real BioSemi file, the writer's
round trip."""

from __future__ import annotations

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
