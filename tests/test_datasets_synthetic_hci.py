"""Synthetic MAHNOB-HCI sessions (emotionkd.datasets.synthetic_hci): the layout."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import session_length

from emotionkd.datasets.bdf import (
    read_bdf_header,
    read_digital,
    status_edges,
)
from emotionkd.datasets.hci import HCI_CHANNELS

mne = pytest.importorskip("mne")


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
    assert edges[1] == 30 * 256 + round(session_length(s) * 256)
    assert np.all((st & 0xFF0000) != 0)
