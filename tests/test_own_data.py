"""Your own recordings: numpy arrays, MNE Raw objects, MNE-readable files (FIF, BrainVision,
EDF, EEGLAB, BDF), EEG-BIDS and XDF, each written here and checked for channel names, units,
trial boundaries, ratings and scales; GSR units; rating scales and the one-class check."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from xdf_writer import Stream, write_xdf

import emotionkd as ek
from emotionkd.datasets.bdf import BdfChannel, write_bdf
from emotionkd.datasets.own import resolve_gsr_unit
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.ingest import preprocess_bids, preprocess_files
from emotionkd.labels import check_two_classes, default_threshold
from emotionkd.store import StoreWriter, open_store

mne = pytest.importorskip("mne")
ROOT = Path(__file__).resolve().parents[1]
FS = 256.0
SCALES = {"valence": (1, 9), "arousal": (1, 9)}
EVENTS_TSV = ("onset\tduration\ttrial_type\tvalence\tarousal\n"
              "10.0\t8.0\tvideo\t3\t7\n20.0\t2.0\tfixation\tn/a\tn/a\n"
              "30.0\t8.0\tvideo\t8.5\t2\n40.0\t8.0\tvideo\tn/a\t5\n")


def signature_raw(seconds: float = 60.0):  # noqa: ANN201 - mne.io.RawArray
    """Fz: 20 µV at 10 Hz; Cz: 10 µV; an ECG channel; EDA: 4 + 0.01·t µS (stored in S, MNE's
    unit); annotations video at 10, 30, 40 s (8 s) and fixation at 20 s."""
    n = int(FS * seconds)
    t = np.arange(n) / FS
    info = mne.create_info(["Fz", "Cz", "ECG", "EDA"], FS, ["eeg", "eeg", "ecg", "gsr"])
    x = np.vstack([20e-6 * np.sin(2 * np.pi * 10 * t), np.full(n, 10e-6),
                   1e-3 * np.sin(t), (4 + 0.01 * t) * 1e-6])
    raw = mne.io.RawArray(x, info, verbose="error")
    raw.set_annotations(mne.Annotations([10.0, 20.0, 30.0, 40.0], [8.0, 2.0, 8.0, 8.0],
                                        ["video", "fixation", "video", "video"]))
    return raw


def _write(raw, path: Path) -> Path:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.suffix == ".fif":
            raw.save(path, overwrite=True, verbose="error")
        else:
            fmt = {".vhdr": "brainvision", ".edf": "edf", ".set": "eeglab"}[path.suffix]
            mne.export.export_raw(path, raw, fmt=fmt, overwrite=True, verbose="error")
    return path


def _check_signature_store(st, n_subjects: int) -> None:  # noqa: ANN001
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


def test_write_store_from_numpy_arrays(tmp_path):
    fs = 64.0
    n = int(fs * 100)
    rng = np.random.default_rng(0)
    eeg = rng.normal(0, 10, (2, n))
    kohm = np.full(n, 250.0)  # 4 µS
    rep = ek.write_store(tmp_path / "a.h5", gsr=kohm, gsr_unit="kohm", eeg=eeg,
                         eeg_channels=["Fz", "Cz"], fs=fs, trials=[(640, 1280), (1920, 2560)],
                         baseline_s=2.0, baseline="none", subjects=[4, 4],
                         ratings={"valence": [2, 4], "arousal": [1, 5]},
                         rating_scales={"valence": (1, 5), "arousal": (1, 5)}, target_fs=None)
    st = open_store(rep.out)
    assert st.eeg_channels == ["Fz", "Cz"] and st.sampling_rate == 64.0
    assert st.rating_names == ["valence", "arousal"] and st.rating_scales == [[1, 5], [1, 5]]
    assert st.trial.tolist() == [1, 2] and st.subject.tolist() == [4, 4]
    assert st.trial_lengths.tolist() == [640, 640]
    e, g, _ = st.load_signals([0])
    np.testing.assert_allclose(e, eeg[:, 640:1280], rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(g, 4.0, rtol=1e-6)
    assert default_threshold(st, "valence") == 3.0
    # per-trial GSR-only arrays, unit inferred, resampled to 128 Hz
    rep = ek.write_store(tmp_path / "b.h5", gsr=[np.full(40, 5.0), np.full(60, 6.0)], fs=4,
                         gsr_unit="auto", ratings={"arousal": [1, 9]},
                         rating_scales={"arousal": (1, 9)})
    st = open_store(rep.out)
    assert st.eeg_channels == [] and st.trial_lengths.tolist() == [1280, 1920]
    assert st.preprocessing["baseline"] == "none"
    assert "µS: the median" in next(iter(rep.gsr_units.values()))


def test_write_store_refuses_bad_input_and_writes_nothing(tmp_path):
    out = tmp_path / "x.h5"
    base = {"fs": 64.0, "gsr_unit": "us", "ratings": {"v": [5]}, "rating_scales": {"v": (1, 9)}}
    with pytest.raises(ConfigError, match=r"shape \(640, 2\), expected \(2 channels, 640 "
                                          r"samples\) \(channels × samples: transpose it\)"):
        ek.write_store(out, gsr=np.ones(640), eeg=np.ones((640, 2)), eeg_channels=["a", "b"],
                       **base)
    with pytest.raises(ConfigError, match=r"ratings\['v'\]\[0\] = 12 .* scale 1-9"):
        ek.write_store(out, gsr=np.ones(640), **{**base, "ratings": {"v": [12]}})
    with pytest.raises(ConfigError, match="rating_scales: no scale for v"):
        ek.write_store(out, gsr=np.ones(640), **{**base, "rating_scales": {"w": (1, 9)}})
    with pytest.raises(ConfigError, match="subtract needs a pre-stimulus baseline"):
        ek.write_store(out, gsr=np.ones(640), baseline="subtract", **base)
    with pytest.raises(ConfigError, match="trials\\[0\\] starts at sample 10, less than"):
        ek.write_store(out, gsr=np.ones(640), trials=[(10, 100)], baseline_s=1.0, **base)
    with pytest.raises(DataFormatError, match="cannot tell the GSR unit.*gsr_unit"):
        ek.write_store(out, gsr=np.full(640, 200.0), **{**base, "gsr_unit": "auto"})
    assert not out.exists()


def test_write_store_from_mne_raw_objects(tmp_path):
    raw = signature_raw()
    rep = ek.write_store_from_raw(tmp_path / "r.h5", raw, rating_scales={"valence": (1, 9)},
                                  ratings={"valence": [3, 8.5, 6]}, trial_type="video",
                                  eeg_filter="none")
    st = open_store(rep.out)
    assert st.trial.tolist() == [1, 2, 3] and st.ratings[:, 0].tolist() == [3, 8.5, 6]
    assert st.trial_lengths.tolist() == [1024] * 3 and st.eeg_channels == ["Fz", "Cz"]
    # a table per Raw (rows as mappings), matched by onset
    rows = [{"onset": 10.0, "duration": 8.0, "trial_type": "video", "valence": 2},
            {"onset": 30.0, "duration": 4.0, "trial_type": "video", "valence": 9}]
    st = open_store(ek.write_store_from_raw(
        tmp_path / "t.h5", [raw, raw], rating_scales={"valence": (1, 9)}, events=[rows, rows],
        trial_type="video", subjects=[7, 8]).out)
    assert st.subject.tolist() == [7, 7, 8, 8] and st.trial_lengths.tolist() == [1024, 512] * 2
    with pytest.raises(ConfigError, match=r"ratings\['valence'\] has 2 values for 3"):
        ek.write_store_from_raw(tmp_path / "x.h5", raw, rating_scales={"valence": (1, 9)},
                                ratings={"valence": [3, 8]}, trial_type="video")


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


def test_gsr_unit_is_settled_by_the_values_and_the_declared_unit():
    def unit(x: float, declared: str | None = None, option: str = "auto") -> str:
        return resolve_gsr_unit(np.full(10, x), declared, option, "r")[1]

    assert unit(5.0) == "us" and unit(2e5) == "ohm" and unit(5e-6) == "s"
    assert unit(5000.0, "ns") == "ns" and unit(5000.0, "kohm") == "kohm"
    assert unit(5e-6, "us") == "s"  # a reader returned siemens for a µS channel
    assert unit(200.0, "kohm") == "kohm" and unit(200.0, "ns") == "ns"
    assert unit(5.0, None, "ohm") == "ohm"  # the caller's unit is used as given
    with pytest.raises(DataFormatError, match="nS or kOhm.*--gsr-unit"):
        unit(200.0)
    with pytest.raises(DataFormatError, match="as no unit"):
        unit(-3.0)


def test_rating_scales_default_threshold_and_one_class_check(tmp_path, deap_store):
    st = open_store(deap_store)  # preprocess deap records DEAP's scale
    assert st.rating_scales == [[1.0, 9.0]] * 4 and default_threshold(st, "arousal") == 5.0
    legacy = tmp_path / "legacy.h5"
    with StoreWriter(legacy, source="own", sampling_rate=4, eeg_channels=[],
                     rating_names=["arousal"]) as w:
        w.add_trial(subject=1, trial=1, eeg=np.zeros((0, 8)), gsr=np.ones(8), ratings=[3])
    assert open_store(legacy).rating_scales == [[1.0, 9.0]]  # no attribute: 1-9
    assert default_threshold(open_store(legacy), "arousal") == 5.0
    with pytest.raises(ConfigError, match="scale of 'a'"):
        StoreWriter(tmp_path / "y.h5", source="own", sampling_rate=4, eeg_channels=[],
                    rating_names=["a"], rating_scales=[(5, 1)])
    cat = tmp_path / "cat.h5"
    with StoreWriter(cat, source="own", sampling_rate=4, eeg_channels=[],
                     rating_names=["emotion"], rating_scales=[None]) as w:
        w.add_trial(subject=1, trial=1, eeg=np.zeros((0, 8)), gsr=np.ones(8), ratings=[3])
    with pytest.raises(ConfigError, match="'emotion' is a category.*--threshold"):
        default_threshold(open_store(cat), "emotion")
    ratings = np.array([1, 2, 2, 3, 4, 5, 5])  # a 1-5 scale under DEAP's threshold 5
    labels = (ratings > 5).astype(int)
    with pytest.raises(ConfigError, match=r"target 'arousal' gives one class with --threshold "
                                          r"5 \(high = rating > 5\): 0 high, 7 low windows; the "
                                          r"ratings run from 1 to 5 on a 1-5 scale; pass "
                                          r"--threshold 3"):
        check_two_classes(labels, target="arousal", threshold=5, ratings=ratings,
                          scale=(1, 5))
    check_two_classes((ratings > 3).astype(int), target="arousal", threshold=3)  # two classes
    with pytest.raises(ConfigError, match="7 high, 0 low"):
        check_two_classes(np.ones(7), target="arousal", threshold=0, tie="high")


def test_own_data_example_runs(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "examples" / "own_data.py"), "--out",
                          str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "from arrays:" in res.stdout and "from files:" in res.stdout
    st = open_store(tmp_path / "own-files.h5")
    assert st.rating_names == ["valence", "arousal"] and st.rating_scales == [[1, 5], [1, 5]]


def test_own_data_page_code_runs(tmp_path):
    import re

    text = (ROOT / "docs" / "own-data.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    assert "write_store" in code and "preprocess_files" in code
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "[[1.0, 5.0], [1.0, 5.0]] [30. 30.]"
    assert res.stdout.splitlines()[1].startswith("2 {")


def test_hci_store_records_its_scales(tmp_path):
    from emotionkd.datasets.synthetic_hci import write_hci
    from emotionkd.preprocess import preprocess_hci

    write_hci(tmp_path / "Sessions", n_subjects=1, n_trials=1, stimulus_s=(4.0, 4.0),
              neutral_s=(3.0, 3.0))
    st = open_store(preprocess_hci(tmp_path / "Sessions", tmp_path / "h.h5").out)
    assert st.rating_names[-1] == "emotion"
    assert st.rating_scales == [[1.0, 9.0]] * 4 + [None]  # the emotion keyword: a category


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
