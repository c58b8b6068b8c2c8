"""Recordings in files (emotionkd.ingest.files): MNE-readable files (FIF, BrainVision, EDF,
EEGLAB, BDF) and XDF, each written here and checked for channel names, units, trial
boundaries, ratings and scales; events tables; worker processes."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RAW_FS as FS
from conftest import signature_raw
from xdf_writer import Stream, write_xdf

from emotionkd.datasets.bdf import BdfChannel, write_bdf
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.ingest import preprocess_files
from emotionkd.store import Store, open_store

mne = pytest.importorskip("mne")
SCALES = {"valence": (1, 9), "arousal": (1, 9)}
EVENTS_TSV = ("onset\tduration\ttrial_type\tvalence\tarousal\n"
              "10.0\t8.0\tvideo\t3\t7\n20.0\t2.0\tfixation\tn/a\tn/a\n"
              "30.0\t8.0\tvideo\t8.5\t2\n40.0\t8.0\tvideo\tn/a\t5\n")


def _write(raw: Any, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.suffix == ".fif":
            raw.save(path, overwrite=True, verbose="error")
        else:
            fmt = {".vhdr": "brainvision", ".edf": "edf", ".set": "eeglab"}[path.suffix]
            mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error")
    return path


def _check_signature_store(st: Store, n_subjects: int) -> None:
    assert st.eeg_channels == ["Fz", "Cz"]  # ECG and EDA are not EEG
    assert st.rating_names == ["valence", "arousal"]
    assert st.rating_scales == [[1.0, 9.0], [1.0, 9.0]]
    assert st.sampling_rate == 128.0 and st.gsr_unit == "uS"
    assert st.trial.tolist() == [1, 2] * n_subjects  # by position among the video events
    assert st.trial_lengths.tolist() == [8 * 128] * 2 * n_subjects
    np.testing.assert_allclose(st.ratings[:2], [[3, 7], [8.5, 2]])
    eeg, gsr, off = st.load_signals(np.arange(st.n_trials))
    for k in range(st.n_trials):
        t0 = 10.0 if st.trial[k] == 1 else 30.0
        mid = off[k] + 4 * 128  # 4 s into the trial
        assert gsr[0, mid] == pytest.approx(4 + 0.01 * (t0 + 4), rel=1e-4)  # µS
        assert eeg[1, mid] == pytest.approx(10.0, rel=1e-3)  # µV
        assert np.abs(eeg[0, off[k]:off[k + 1]]).max() == pytest.approx(20.0, rel=0.01)


@pytest.mark.parametrize("name", ["sub-01_raw.fif", "sub-02_eeg.vhdr", "sub-03_eeg.edf",
                                  "sub-04_eeg.set"])
def test_mne_readable_files_with_annotations_and_events_tsv(tmp_path, name):
    if name.endswith(".vhdr"):
        pytest.importorskip("pybv")
    if name.endswith(".edf"):
        pytest.importorskip("edfio")
    if name.endswith(".set"):
        pytest.importorskip("eeglabio")
    path = _write(signature_raw(), tmp_path / name)
    (tmp_path / (name.rsplit("_", 1)[0] + "_events.tsv")).write_text(EVENTS_TSV)
    rep = preprocess_files(path, tmp_path / "s.h5", rating_scales=SCALES, trial_type="video",
                           eeg_filter="none")
    st = open_store(rep.out)
    _check_signature_store(st, 1)
    assert st.subject.tolist() == [int(name[4:6])] * 2  # from the file name
    assert rep.skipped == [(str(path), f"{path} row 4 (onset 40 s): a rating is n/a")]
    assert st.preprocessing["reader"] == "files" and st.source == "own"
    assert "skin conductance only in that unit" in next(iter(rep.gsr_units.values()))


def test_a_folder_of_recordings_one_subject_each(tmp_path):
    raw = signature_raw()
    for s in (1, 2):
        _write(raw, tmp_path / f"sub-{s:02d}_raw.fif")
        (tmp_path / f"sub-{s:02d}_events.tsv").write_text(EVENTS_TSV)
    rep = preprocess_files(tmp_path, tmp_path / "s.h5", rating_scales=SCALES,
                           trial_type="video", eeg_filter="none")
    st = open_store(rep.out)
    _check_signature_store(st, 2)
    assert st.subject.tolist() == [1, 1, 2, 2]
    # a baseline before each onset, subtracted by default; DEAP's conditioning by default
    st = open_store(preprocess_files(tmp_path, tmp_path / "b.h5", rating_scales=SCALES,
                                     trial_type="video", baseline_s=2.0).out)
    assert st.preprocessing["baseline"] == "subtract" and st.preprocessing["eeg_filter"] == "deap"
    _, gsr, off = st.load_signals([0])
    # GSR minus the mean of the 2 s before the onset (8-10 s: mean 4.09 µS)
    assert gsr[0, 4 * 128] == pytest.approx(4.14 - 4.09, abs=2e-3)
    # one subject recorded in two files: the second numbers its trials from 1001
    st = open_store(preprocess_files(tmp_path, tmp_path / "c.h5", rating_scales=SCALES,
                                     trial_type="video", subjects=5).out)
    assert st.subject.tolist() == [5] * 4 and st.trial.tolist() == [1, 2, 1001, 1002]


def test_gsr_only_and_channel_choice(tmp_path):
    path = _write(signature_raw(), tmp_path / "s01_raw.fif")
    (tmp_path / "s01_events.tsv").write_text(EVENTS_TSV)
    st = open_store(preprocess_files(path, tmp_path / "g.h5", rating_scales=SCALES,
                                     trial_type="video", eeg_channels=[]).out)
    assert st.eeg_channels == [] and st.preprocessing["eeg_filter"] == "none"
    eeg, gsr, _ = st.load_signals([0])
    assert eeg is None and gsr.shape == (1, 1024)
    st = open_store(preprocess_files(path, tmp_path / "c.h5", rating_scales={"arousal": (1, 9)},
                                     trial_type="video", eeg_channels=["cz"]).out)
    assert st.eeg_channels == ["Cz"] and st.rating_names == ["arousal"]
    with pytest.raises(DataFormatError, match="no EEG channel.*Pz"):
        preprocess_files(path, tmp_path / "x.h5", rating_scales=SCALES, eeg_channels=["Pz"])


def test_table_must_belong_to_the_recording(tmp_path):
    path = _write(signature_raw(), tmp_path / "s01_raw.fif")
    table = tmp_path / "other.tsv"
    table.write_text(EVENTS_TSV.replace("30.0\t8.0\tvideo", "33.0\t8.0\tvideo"))
    with pytest.raises(DataFormatError, match=r"row 3 \(onset 33 s\) has no event .* within "
                                               "0.05 s"):
        preprocess_files(path, tmp_path / "x.h5", rating_scales=SCALES, events=table,
                         trial_type="video")
    with pytest.raises(DataFormatError, match="no rating column 'liking'"):
        preprocess_files(path, tmp_path / "x.h5", rating_scales={"liking": (1, 9)},
                         events=tmp_path / "other.tsv", onset_tolerance_s=5)
    (tmp_path / "bad.tsv").write_text(EVENTS_TSV.replace("\t8.5\t", "\t10\t"))
    with pytest.raises(DataFormatError, match="valence = 10 is outside its scale 1-9"):
        preprocess_files(path, tmp_path / "x.h5", rating_scales=SCALES,
                         events=tmp_path / "bad.tsv", trial_type="video")
    with pytest.raises(DataFormatError, match="no events table"):
        preprocess_files(path, tmp_path / "x.h5", rating_scales=SCALES)
    assert not (tmp_path / "x.h5").exists()


def test_bdf_with_status_codes_and_a_declared_unit(tmp_path):
    """A BDF from the project's writer: trials at Status code 4 (system bits set), their
    duration from the table; GSR1 in kOhm, a median (200) that is a skin conductance in nS
    or kOhm, so the declared unit decides."""
    n = int(FS * 40)
    t = np.arange(n) / FS
    status = np.full(n, 0x1C0000)
    for onset in (5.0, 20.0):
        status[int(onset * FS):int(onset * FS) + 10] |= 4
    chans = [BdfChannel("Fz", "uV", -262144, 262143), BdfChannel("Cz", "uV", -262144, 262143),
             BdfChannel("GSR1", "kOhm", 0, 1000), BdfChannel("Status", "Boolean", -8388608,
                                                            8388607)]
    data = np.vstack([30 * np.sin(2 * np.pi * 6 * t), np.zeros(n), np.full(n, 200.0), status])
    path = write_bdf(tmp_path / "p03.bdf", chans, data, int(FS),
                     digital=[False, False, False, True])
    (tmp_path / "p03.tsv").write_text("onset\tduration\ttrial_type\tarousal\n"
                                      "5.0\t6.0\t4\t2\n20.0\t6.0\t4\t8\n")
    rep = preprocess_files(path, tmp_path / "b.h5", rating_scales={"arousal": (1, 9)},
                           stim_channel="Status", trial_type="4", eeg_filter="none")
    st = open_store(rep.out)
    assert st.subject.tolist() == [3, 3] and st.eeg_channels == ["Fz", "Cz"]
    assert st.trial_lengths.tolist() == [6 * 128] * 2 and st.ratings[:, 0].tolist() == [2, 8]
    _, gsr, _ = st.load_signals([0, 1])
    np.testing.assert_allclose(gsr, 1000 / 200.0, rtol=1e-3)  # kOhm → µS
    assert "kOhm: the median 200 fits nS or kOhm; the file declares kOhm" in \
        next(iter(rep.gsr_units.values()))


def _xdf_recording(path: Path) -> tuple[float, float]:
    """EEG at 256 Hz on a clock 1000 s behind the recorder's and running 50 ppm slow, GSR at
    32 Hz (a separate device) on a clock 250 s ahead, markers on the recorder's clock. A 1-Hz
    sine runs through Fz and the GSR in true time. Returns (recording start in true time,
    first GSR sample in true time)."""
    t0, dur = 5000.0, 60.0
    true_e = t0 + np.arange(int(dur * 256)) / 256

    def eeg_clock(t: np.ndarray | float) -> np.ndarray | float:
        return (t - 1000.0) / (1 + 50e-6)

    def gsr_clock(t: np.ndarray | float) -> np.ndarray | float:
        return t + 250.0

    sine_e = np.sin(2 * np.pi * (true_e - t0))
    eeg = np.column_stack([50e-6 * sine_e, np.full(len(true_e), 1e-5)])  # volts
    g0 = t0 + 0.3
    true_g = g0 + np.arange(int(dur * 32)) / 32
    gsr = 5.0 + 0.5 * np.sin(2 * np.pi * (true_g - t0))
    times = np.arange(t0 - 1, t0 + dur + 5, 5.0)
    markers = ["video", "end", "video", "end", "video", "end"]
    mt = t0 + np.array([10.0, 18.0, 30.0, 36.0, 58.0, 70.0])  # the last ends past the data
    write_xdf(path, [
        Stream("amp", "EEG", 256, eeg, eeg_clock(true_e), labels=["Fz", "Cz"],
               units=["volts", "volts"], types=["EEG", "EEG"],
               clock_offsets=[(float(eeg_clock(t)), float(t - eeg_clock(t))) for t in times]),
        Stream("wristband", "EDA", 32, gsr[:, None], gsr_clock(true_g), labels=["EDA"],
               units=["microsiemens"],
               clock_offsets=[(float(gsr_clock(t)), -250.0) for t in times]),
        Stream("stim", "Markers", 0, markers, mt, channel_format="string", labels=["m"]),
    ])
    return t0, g0


def test_xdf_two_streams_with_their_own_clocks_and_markers(tmp_path):
    pytest.importorskip("pyxdf")
    path = tmp_path / "sub-06_ses-1.xdf"
    _, g0 = _xdf_recording(path)
    (tmp_path / "ratings.tsv").write_text("trial_type\tarousal\tvalence\nvideo\t2\t8\n"
                                          "video\t7\t3\nvideo\t5\t5\n")
    rep = preprocess_files(path, tmp_path / "x.h5", events=tmp_path / "ratings.tsv",
                           rating_scales={"arousal": (1, 9), "valence": (1, 9)},
                           trial_type="video", trial_end="end", eeg_filter="none")
    st = open_store(rep.out)
    assert st.eeg_channels == ["Fz", "Cz"] and st.subject.tolist() == [6, 6]
    assert st.trial.tolist() == [1, 2] and st.trial_lengths.tolist() == [8 * 128, 6 * 128]
    np.testing.assert_allclose(st.ratings, [[2, 8], [7, 3]])
    assert len(rep.skipped) == 1 and "lies outside the recording" in rep.skipped[0][1]
    eeg, gsr, off = st.load_signals([0, 1])
    # the grid starts at the first GSR sample (the later stream, 0.3 s in), so a trial
    # starts at the grid sample nearest its marker; both signals follow the true-time sine
    lead = g0 - 5000.0
    for k, onset in enumerate((10.0, 30.0)):
        first = round((onset - lead) * 128)
        tt = lead + (first + np.arange(off[k + 1] - off[k])) / 128
        ref = np.sin(2 * np.pi * tt)
        seg = slice(off[k], off[k + 1])
        # linear interpolation of a 1-Hz sine sampled at 32 Hz errs by up to
        # 0.5 · (2π/32)² / 8 = 0.0024
        np.testing.assert_allclose(gsr[0, seg], 5 + 0.5 * ref, atol=3e-3)
        np.testing.assert_allclose(eeg[0, seg], 50 * ref, atol=0.2)  # volts → µV
        np.testing.assert_allclose(eeg[1, seg], 10.0, rtol=1e-4)
    assert "the file declares µS" in next(iter(rep.gsr_units.values()))
    with pytest.raises(DataFormatError, match="3 trial event.*2 row"):
        (tmp_path / "two.tsv").write_text("arousal\tvalence\n2\t8\n7\t3\n")
        preprocess_files(path, tmp_path / "y.h5", events=tmp_path / "two.tsv",
                         rating_scales=SCALES, trial_type="video", trial_end="end")


def test_files_in_worker_processes_match_one_process(tmp_path):
    raw = signature_raw()
    for s in (1, 2):
        _write(raw, tmp_path / f"sub-{s:02d}_raw.fif")
        (tmp_path / f"sub-{s:02d}_events.tsv").write_text(EVENTS_TSV)
    kw = {"rating_scales": SCALES, "trial_type": "video", "baseline_s": 1.0}
    a = open_store(preprocess_files(tmp_path, tmp_path / "a.h5", **kw).out)
    b = open_store(preprocess_files(tmp_path, tmp_path / "b.h5", workers=2, **kw).out)
    np.testing.assert_array_equal(a.load_signals(np.arange(4))[1], b.load_signals(np.arange(4))[1])
    with pytest.raises(ConfigError, match="unknown option.*trial_typ.*known: rating_scales"):
        preprocess_files(tmp_path, tmp_path / "c.h5", rating_scales=SCALES, trial_typ="video")
