"""An EEG-BIDS dataset (emotionkd.ingest.bids) written with mne-bids and read back: subjects,
trials and ratings from events.tsv, the GSR unit channels.tsv declares."""

from __future__ import annotations

import warnings

import pytest
from conftest import signature_raw

from emotionkd.errors import DataFormatError
from emotionkd.ingest import preprocess_bids
from emotionkd.store import open_store

mne = pytest.importorskip("mne")
SCALES = {"valence": (1, 9), "arousal": (1, 9)}


def test_bids_dataset(tmp_path):
    mne_bids = pytest.importorskip("mne_bids")
    pytest.importorskip("pybv")
    root = tmp_path / "bids"
    for sub, (v1, v2) in (("01", (3, 6)), ("02", (7, 2))):
        raw = signature_raw()
        raw.set_meas_date(1e9)
        raw.set_annotations(mne.Annotations(
            [10.0, 20.0, 30.0], [8.0, 2.0, 8.0], ["video", "fixation", "video"],
            extras=[{"valence": v1, "arousal": 4}, {"valence": None, "arousal": None},
                    {"valence": v2, "arousal": 5}]))
        bp = mne_bids.BIDSPath(subject=sub, task="emotion", root=root, datatype="eeg")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mne_bids.write_raw_bids(raw, bp, format="BrainVision", allow_preload=True,
                                    overwrite=True, verbose=False)
    events = (root / "sub-01" / "eeg" / "sub-01_task-emotion_events.tsv").read_text()
    assert events.splitlines()[0].split("\t")[-2:] == ["valence", "arousal"]
    rep = preprocess_bids(root, tmp_path / "b.h5", rating_scales=SCALES, trial_type="video",
                          eeg_filter="none")
    st = open_store(rep.out)
    assert st.source == "bids" and st.eeg_channels == ["Fz", "Cz"]
    assert st.subject.tolist() == [1, 1, 2, 2] and st.trial.tolist() == [1, 2, 1, 2]
    assert st.ratings[:, 0].tolist() == [3, 6, 7, 2] and st.rating_scales == [[1, 9], [1, 9]]
    assert st.trial_lengths.tolist() == [1024] * 4
    _, gsr, off = st.load_signals([1])
    assert gsr[0, 512] == pytest.approx(4 + 0.01 * 34, rel=1e-4)
    assert "the file declares S" in next(iter(rep.gsr_units.values()))  # channels.tsv
    assert st.preprocessing["bids_subjects"] == {"sub-01": 1, "sub-02": 2}
    with pytest.raises(DataFormatError, match="not a BIDS dataset"):
        preprocess_bids(tmp_path, tmp_path / "x.h5", rating_scales=SCALES)
