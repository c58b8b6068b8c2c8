"""The commands of emotionkd.cli.ingest on files written in each layout: synth and
preprocess amigos (the release's tree, its gaps reported as skips), preprocess files (an
MNE-readable recording with annotations and a BIDS-style events table), preprocess xdf (EEG
and GSR as two streams on their own clocks) and preprocess bids (a tree mne-bids wrote)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import run_cli as _cli
from conftest import signature_raw

from emotionkd.store import open_store

EVENTS_TSV = ("onset\tduration\ttrial_type\tvalence\tarousal\n"
              "10.0\t8.0\tvideo\t3\t7\n20.0\t2.0\tfixation\tn/a\tn/a\n"
              "30.0\t8.0\tvideo\t8.5\t2\n40.0\t8.0\tvideo\tn/a\t5\n")


def test_synth_and_preprocess_amigos_report_the_release_gaps(tmp_path, capsys):
    raw = tmp_path / "amigos"
    code, cap = _cli(["synth", "amigos", "--out", str(raw), "--participants", "1,8",
                      "--layout", "zip", "--short-seconds", "6-8", "--long-seconds", "6-8",
                      "--seed", "2"], capsys)
    assert code == 0, cap.err
    assert "wrote 2 participant files" in cap.out and "layout zip" in cap.out
    assert sorted(p.name for p in raw.glob("*.zip")) == ["Data_Preprocessed_P01.zip",
                                                         "Data_Preprocessed_P08.zip"]
    store = tmp_path / "amigos.h5"
    code, cap = _cli(["preprocess", "amigos", "--raw", str(raw), "--out", str(store),
                      "--videos", "all"], capsys)
    assert code == 0, cap.err
    # P01: 16 short + 4 long; P08 has no long videos in the release: 4 skips listed
    assert "2 subjects, 36 trials" in cap.out and "skipped 4" in cap.out
    assert cap.out.count("P08") >= 4
    st = open_store(store)
    assert st.source == "amigos" and len(st.eeg_channels) == 14
    assert {101, 102, 103, 104} <= set(st.trial[st.subject == 1].tolist())
    assert st.rating_scales[st.rating_index("arousal")] == [1.0, 9.0]
    code, cap = _cli(["preprocess", "amigos", "--raw", str(raw), "--out",
                      str(tmp_path / "x.h5"), "--eeg-channels", "Fz"], capsys)
    assert code == 1 and cap.err.count("\n") == 1 and "AMIGOS has no Fz" in cap.err


def _fif_with_events(folder, name="sub-03_raw.fif"):
    mne = pytest.importorskip("mne")
    raw = signature_raw()
    raw.set_annotations(mne.Annotations([10, 20, 30, 40], [8, 2, 8, 8],
                                        ["video", "fixation", "video", "video"]))
    path = folder / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw.save(path, overwrite=True, verbose="error")
    (folder / name.replace("_raw.fif", "_events.tsv")).write_text(EVENTS_TSV)
    return path


def test_preprocess_files_with_annotations_and_an_events_table(tmp_path, capsys):
    rec = _fif_with_events(tmp_path)
    out = tmp_path / "mine.h5"
    code, cap = _cli(["preprocess", "files", str(rec), "--out", str(out), "--ratings",
                      "valence=1-9,arousal=1-9", "--trial-type", "video",
                      "--baseline-seconds", "2", "--source", "mylab"], capsys)
    assert code == 0, cap.err
    # the row with an n/a valence is skipped and said so
    assert "1 subjects, 2 trials" in cap.out and "skipped 1" in cap.out and "n/a" in cap.out
    st = open_store(out)
    assert st.source == "mylab" and st.subject.tolist() == [3, 3]
    assert st.eeg_channels == ["Fz", "Cz"] and st.rating_scales == [[1, 9], [1, 9]]
    np.testing.assert_allclose(st.ratings, [[3, 7], [8.5, 2]])
    assert st.preprocessing["baseline"] == "subtract" and st.preprocessing["baseline_s"] == 2
    code, cap = _cli(["info", str(out), "--json"], capsys)
    assert json.loads(cap.out)["n_trials"] == 2


@pytest.mark.parametrize("ratings, message", [
    ("valence", "cannot read 'valence'"), ("valence=9-1", "needs MIN < MAX"),
    ("valence=1-9,valence=1-5", "given twice")])
def test_preprocess_files_refuses_unreadable_rating_scales(tmp_path, capsys, ratings,
                                                           message):
    rec = _fif_with_events(tmp_path)
    code, cap = _cli(["preprocess", "files", str(rec), "--out", str(tmp_path / "m.h5"),
                      "--ratings", ratings], capsys)
    assert code == 1 and message in cap.err and cap.err.count("\n") == 1
    assert not (tmp_path / "m.h5").exists()


def test_preprocess_xdf_two_streams_on_their_own_clocks(tmp_path, capsys):
    pytest.importorskip("pyxdf")
    from test_ingest_files import _xdf_recording

    path = tmp_path / "sub-06_ses-1.xdf"
    _xdf_recording(path)  # 256-Hz EEG on a slow clock, 32-Hz EDA on another, markers
    (tmp_path / "ratings.tsv").write_text("trial_type\tarousal\tvalence\nvideo\t2\t8\n"
                                          "video\t7\t3\nvideo\t5\t5\n")
    out = tmp_path / "x.h5"
    code, cap = _cli(["preprocess", "xdf", str(path), "--out", str(out), "--events",
                      str(tmp_path / "ratings.tsv"), "--ratings", "arousal=1-9,valence=1-9",
                      "--trial-type", "video", "--trial-end", "end", "--eeg-filter", "none"],
                     capsys)
    assert code == 0, cap.err
    assert "1 subjects, 2 trials" in cap.out and "skipped 1" in cap.out
    assert "outside the recording" in cap.out
    st = open_store(out)
    assert st.subject.tolist() == [6, 6] and st.trial_lengths.tolist() == [8 * 128, 6 * 128]
    np.testing.assert_allclose(st.ratings, [[2, 8], [7, 3]])
    # an MNE file is not an XDF recording: one line pointing at preprocess files
    rec = _fif_with_events(tmp_path)
    code, cap = _cli(["preprocess", "xdf", str(rec), "--out", str(tmp_path / "y.h5"),
                      "--ratings", "valence=1-9"], capsys)
    assert code == 1 and "preprocess files" in cap.err and cap.err.count("\n") == 1


def test_preprocess_bids_tree(tmp_path, capsys):
    mne = pytest.importorskip("mne")
    mne_bids = pytest.importorskip("mne_bids")
    pytest.importorskip("pybv")
    root = tmp_path / "bids"
    for sub, (v1, v2) in (("01", (3, 6)), ("02", (7, 2))):
        raw = signature_raw()
        raw.set_meas_date(1e9)
        raw.set_annotations(mne.Annotations(
            [10.0, 30.0], [8.0, 8.0], ["video", "video"],
            extras=[{"valence": v1, "arousal": 4}, {"valence": v2, "arousal": 5}]))
        bp = mne_bids.BIDSPath(subject=sub, task="emotion", root=root, datatype="eeg")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mne_bids.write_raw_bids(raw, bp, format="BrainVision", allow_preload=True,
                                    overwrite=True, verbose=False)
    out = tmp_path / "b.h5"
    code, cap = _cli(["preprocess", "bids", "--raw", str(root), "--out", str(out),
                      "--ratings", "valence=1-9,arousal=1-9", "--trial-type", "video",
                      "--subjects", "02"], capsys)
    assert code == 0, cap.err
    st = open_store(out)
    assert st.source == "bids" and st.subject.tolist() == [2, 2]
    assert st.ratings[:, 0].tolist() == [7, 2]
    assert st.preprocessing["eeg_filter"] == "deap"  # raw recordings get conditioned
    code, cap = _cli(["preprocess", "bids", "--raw", str(tmp_path), "--out",
                      str(tmp_path / "n.h5"), "--ratings", "valence=1-9"], capsys)
    assert code == 1 and "not a BIDS dataset" in cap.err and cap.err.count("\n") == 1
