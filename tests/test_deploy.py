"""Deployment that matches training: predict parity with the training windows, the recorded
preprocessing, wearable and lab formats, units, model cards, and the Python API."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli as _run

from emotionkd.checkpoint import check_data_compatible, load_checkpoint, save_checkpoint
from emotionkd.errors import CheckpointError, ConfigError, DataFormatError
from emotionkd.predict import load_predictor
from emotionkd.preprocess import CleanOptions, clean_trial, preprocess_deap, resample_poly_to
from emotionkd.recordings import infer_unit, read_recording
from emotionkd.runs import (
    DataSpec,
    ModelRun,
    data_section,
    load_windows,
    open_data,
    train_model,
    training_section,
)
from emotionkd.training import TrainConfig
from emotionkd.windows import window_starts

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"
MADE = ROOT / "tests" / "data" / "made"
NK = REAL / "neurokit_bio_eventrelated_100hz.csv"
TINY = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
        "classifier_dim": 8}
SUBJECT, TRIAL = 3, 2  # a held-out subject's trial, written out as a wristband recording


def _student(store: Path, out: Path, norm: str, train: bool = True) -> Path:
    """A tiny GSR student on subjects 1-2 of ``store`` (one epoch, or untrained)."""
    from emotionkd.models.registry import build_model, default_config

    st = open_data(store)
    ds = load_windows(st, DataSpec(norm=norm), load_eeg=False,
                      norm_subjects=[1, 2] if norm == "train" else None)
    cfg = default_config("emotionnet-student", ds.fs, ds.window_s, ds.n_eeg, TINY)
    data = data_section(ds, st, [1, 2], [])
    if not train:
        model = build_model("emotionnet-student", cfg)
        return save_checkpoint(out, role="student", model="emotionnet-student",
                               model_config=cfg, state_dict=model.state_dict(), data=data,
                               training={})
    tc = TrainConfig(epochs=1, batch_size=8, seed=0, lr=1e-2)
    model, res = train_model("emotionnet-student", cfg, ds.select_subjects([1, 2]), None, tc)
    return ModelRun("student", "emotionnet-student", model, cfg, res, data,
                    training_section(tc, res)).save(out)


@pytest.fixture(scope="module")
def train_ckpt(deap_store, tmp_path_factory) -> Path:
    return _student(deap_store, tmp_path_factory.mktemp("m") / "s_train.pt", "train")


@pytest.fixture(scope="module")
def subject_ckpt(deap_store, tmp_path_factory) -> Path:
    return _student(deap_store, tmp_path_factory.mktemp("m") / "s_subject.pt", "subject")


@pytest.fixture(scope="module")
def none_store(deap_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store") / "deap_none.h5"
    preprocess_deap(deap_raw, out, baseline="none")
    return out


def _raw_trial_us(deap_raw: Path) -> np.ndarray:
    """The held-out trial as recorded (3-s pre-stimulus baseline + stimulus), in µS."""
    from emotionkd.datasets.deap import iter_trials

    trial = next(t for t in iter_trials(deap_raw / f"s{SUBJECT:02d}.dat", SUBJECT)
                 if t.trial == TRIAL)
    assert trial.gsr_unit == "ohm" and trial.onset == 384
    return 1e6 / np.asarray(trial.gsr, dtype=np.float64)


def _write_csv(path: Path, values: np.ndarray) -> Path:
    path.write_text("EDA\n" + "\n".join(repr(float(v)) for v in values) + "\n")
    return path


def _store_windows(store: Path, norm: str, predictor) -> np.ndarray:  # noqa: ANN001
    """p(high) of the model on the held-out trial's training windows (WindowDataset)."""
    ds = load_windows(open_data(store), DataSpec(norm=norm), load_eeg=False,
                      norm_subjects=[1, 2] if norm == "train" else None)
    sel = np.flatnonzero((ds.subjects == SUBJECT) & (ds.trials == TRIAL))
    _, gsr, _ = ds.batch(sel, eeg=False)
    return predictor.predict_proba(gsr.numpy())[:, 1]


def _training_transform(us_128: np.ndarray, mu: float | None, sd: float | None,
                        baseline: str = "subtract") -> np.ndarray:
    """The training pipeline on a 128-Hz trial with baseline: preprocessing's clean_trial,
    WindowDataset's windows and normalisation (the trial's own statistics if mu is None)."""
    from emotionkd.datasets.records import Trial

    t = Trial(SUBJECT, TRIAL, np.zeros((1, len(us_128))), us_128, 128.0, np.zeros(4), 384,
              ["Fp1"], "us")
    g = clean_trial(t, CleanOptions(baseline=baseline), "us").gsr
    if mu is None:
        mu, sd = float(g.astype(np.float64).mean()), float(g.astype(np.float64).std())
    starts, _ = window_starts(np.array([0]), np.array([len(g)]), 512, 512)
    w = np.lib.stride_tricks.sliding_window_view(g, 512)[starts]
    return ((w - np.float32(mu)) * np.float32(1.0 / sd)).astype(np.float32)[:, None, :]


# ---------------------------------------------------------------------------------------------
# 1. the checkpoint records the training transformation


def test_checkpoint_records_and_compares_preprocessing(train_ckpt, none_store, capsys):
    ck = load_checkpoint(train_ckpt)
    pre = ck["data"]["preprocessing"]
    assert (pre["baseline"], pre["baseline_s"], pre["gsr_unit"]) == ("subtract", 3.0, "uS")
    assert pre["raw_sampling_rate"] == 128.0 and pre["sampling_rate"] == 128.0
    assert ck["data"]["norm"] == "train" and ck["data"]["norm_stats"]["gsr_std"] > 0
    # data made another way is refused, naming the step
    other = load_windows(open_data(none_store), DataSpec(norm="train"), load_eeg=False,
                         norm_subjects=[1, 2])
    with pytest.raises(CheckpointError, match="preprocessing baseline is 'subtract' in the "
                                              "checkpoint but 'none'"):
        check_data_compatible(ck, other.spec(), "deap_none.h5")
    with pytest.raises(CheckpointError, match="norm is 'train' in the checkpoint"):
        check_data_compatible(ck, {**ck["data"], "norm": "subject"}, "x")
    with pytest.raises(CheckpointError, match="norm_stats gsr_mean"):
        check_data_compatible(ck, {**ck["data"], "norm_stats": {"gsr_mean": 1.0}}, "x")
    check_data_compatible(ck, dict(ck["data"]), "itself")
    code, cap = _run(["info", str(train_ckpt)], capsys)
    assert code == 0, cap.err
    assert ("inputs: GSR in µS, each trial minus its 3-s pre-stimulus mean; 128 → 128 Hz; "
            "norm train (GSR mean") in cap.out
    assert "predict needs --baseline-seconds S" in cap.out


def test_old_checkpoints_still_load_with_the_defaults_of_their_time(train_ckpt, tmp_path):
    ck = load_checkpoint(train_ckpt)
    data = {k: v for k, v in ck["data"].items() if k != "preprocessing"}
    old = save_checkpoint(tmp_path / "old.pt", role="student", model=ck["model"],
                          model_config=ck["model_config"], state_dict=ck["state_dict"],
                          data=data, training=ck["training"])
    pred = load_predictor(old)
    assert (pred.meta.baseline, pred.meta.baseline_s, pred.meta.preprocessing_recorded) == \
        ("subtract", 3.0, False)
    res = pred.predict_array(5 + 0.1 * np.sin(np.arange(2000) / 50), 100, baseline_seconds=3)
    assert any("written before checkpoints recorded their preprocessing" in w
               for w in res.warnings)
    # an exported file of that time: its metadata lacks the new fields too
    from emotionkd.predict import ModelMeta

    fresh = load_predictor(train_ckpt).meta.as_dict()
    old_fields = {k: v for k, v in fresh.items()
                  if k not in ("baseline", "baseline_s", "preprocessing_recorded")}
    meta = ModelMeta.from_export({"predict": old_fields, "data": data})
    assert (meta.baseline, meta.baseline_s, meta.preprocessing_recorded) == \
        ("subtract", 3.0, False)
    assert ModelMeta.from_export({"predict": {**fresh, "added_later": 1}}) == \
        load_predictor(train_ckpt).meta


# ---------------------------------------------------------------------------------------------
# parity: a trial written out as a wristband recording, through predict


@pytest.mark.parametrize("rate", [128, 32, 4])
def test_predict_matches_the_training_windows(train_ckpt, deap_raw, deap_store, tmp_path, rate):
    """A held-out trial of the synthetic DEAP store, written as the µS CSV a wristband would
    produce at ``rate`` Hz (3-s rest period first), gives through ``predict`` the model's
    probabilities on the store's windows of that trial: to 1e-4 once the resampling is
    accounted for (the reference is the training pipeline run on the down/up-sampled trial),
    and close without that correction."""
    pred = load_predictor(train_ckpt)
    us = _raw_trial_us(deap_raw)
    rec_values = resample_poly_to(us, 128, rate) if rate != 128 else us
    rec = read_recording(_write_csv(tmp_path / f"rec{rate}.csv", rec_values), fs=rate)
    assert rec.unit == "us" and "inferred" in rec.notes[0]
    res = pred.predict_recording(rec, baseline_seconds=3.0)
    assert [r["start_s"] for r in res.rows] == [3.0, 7.0, 11.0]  # after the reference period
    assert res.summary["reference_s"] == 3.0
    got = res.p_high
    # the training pipeline (clean_trial, WindowDataset normalisation) on what predict saw
    seen = resample_poly_to(rec_values, rate, 128) if rate != 128 else rec_values
    ref = pred.predict_proba(_training_transform(seen, pred.meta.gsr_mean, pred.meta.gsr_std))
    corrected = float(np.max(np.abs(got - ref[:, 1])))
    raw_diff = float(np.max(np.abs(got - _store_windows(deap_store, "train", pred))))
    print(f"\n{rate} Hz: max |predict − training pipeline| {corrected:.2g} "
          f"(resampling accounted for); max |predict − store windows| {raw_diff:.2g}")
    assert corrected <= 1e-4
    assert raw_diff <= (1e-4 if rate == 128 else 0.05)
    assert np.ptp(got) > 0.05  # the comparison is not between constant outputs
    # the bug this replaces: absolute µS through the training statistics
    z = (us[384] - pred.meta.gsr_mean) / pred.meta.gsr_std
    assert z > 10


def test_cli_refuses_or_uses_the_reference_period(train_ckpt, deap_raw, tmp_path, capsys):
    us = _raw_trial_us(deap_raw)
    csv_path = _write_csv(tmp_path / "rec.csv", resample_poly_to(us, 128, 32))
    base = ["predict", "--model", str(train_ckpt), "--input", str(csv_path), "--fs", "32"]
    code, cap = _run(base, capsys)
    assert code == 1 and len(cap.err.strip().splitlines()) == 1
    assert "pass --baseline-seconds S to use the first S s of the recording" in cap.err
    code, cap = _run([*base, "--baseline-seconds", "3", "--out", str(tmp_path / "p.json")],
                     capsys)
    assert code == 0, cap.err
    assert "reference: first 3 s" in cap.out
    doc = json.loads((tmp_path / "p.json").read_text())
    api = load_predictor(train_ckpt).predict_recording(read_recording(csv_path, fs=32),
                                                       baseline_seconds=3)
    np.testing.assert_allclose([w["p_high"] for w in doc["windows"]], api.p_high, atol=1e-7)
    code, cap = _run([*base, "--baseline-seconds", "15"], capsys)
    assert code == 1 and "after the 15-s reference period" in cap.err


def test_subject_norm_needs_no_reference(subject_ckpt, deap_raw, deap_store):
    """With per-subject normalisation the reference period changes nothing (the z-score
    removes any constant offset); predict equals the model on the trial's windows z-scored
    with the recording's own statistics, the calibration a held-out subject gets."""
    pred = load_predictor(subject_ckpt)
    us = _raw_trial_us(deap_raw)
    with_ref = pred.predict_array(us, 128, baseline_seconds=3.0)
    stimulus_only = pred.predict_array(us[384:], 128)
    np.testing.assert_allclose(stimulus_only.p_high, with_ref.p_high, atol=1e-6)
    ref = pred.predict_proba(_training_transform(us, None, None))[:, 1]
    assert np.max(np.abs(with_ref.p_high - ref)) <= 1e-4
    pooled = _store_windows(deap_store, "subject", pred)  # statistics of all 4 trials
    print(f"\nsubject norm: max |recording-calibrated − subject-calibrated| "
          f"{np.max(np.abs(with_ref.p_high - pooled)):.2g}")


def test_baseline_none_model_takes_absolute_values(none_store, deap_raw, tmp_path):
    ck = _student(none_store, tmp_path / "s_none.pt", "none", train=False)
    pred = load_predictor(ck)
    assert (pred.meta.baseline, pred.meta.norm) == ("none", "none")
    us = _raw_trial_us(deap_raw)
    got = pred.predict_array(us[384:], 128).p_high  # the stimulus part, as stored
    np.testing.assert_allclose(got, _store_windows(none_store, "none", pred), atol=1e-4)
    with pytest.raises(ConfigError, match="drop --baseline-seconds"):
        pred.predict_array(us, 128, baseline_seconds=3)


# ---------------------------------------------------------------------------------------------
# 2. wearable and lab formats


def test_opensignals_bitalino_recording(subject_ckpt, capsys):
    """Self-made file in OpenSignals' published layout (tests/data/made/README.md): the
    NeuroKit recording's EDA as the 10-bit counts a BITalino (r)evolution streams on A3."""
    path = MADE / "opensignals_bitalino_eda.txt"
    rec = read_recording(path)
    assert (rec.fmt, rec.fs, rec.channel, rec.unit, len(rec.values)) == \
        ("opensignals", 100.0, "A3", "adc", 4000)
    nk = np.loadtxt(NK, delimiter=",", skiprows=1, usecols=[1], max_rows=4000)
    # one 10-bit step is 3.3/1024/0.132 = 0.0244 µS: rounding leaves at most half of it
    assert np.max(np.abs(rec.values - nk)) <= 0.0123
    assert "ADC/2^10·3.3 V/0.132" in rec.notes[0]
    np.testing.assert_array_equal(read_recording(path, channel="eda").values, rec.values)
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(path)], capsys)
    assert code == 0, cap.err
    assert "10 windows of 4 s from 40 s of opensignals 'A3' (adc → µS, 100 → 128 Hz)" in cap.out


def _opensignals(path: Path, devices: list[dict], rows: np.ndarray,
                 magic: str = "# OpenSignals Text File Format") -> Path:
    """Write ``rows`` under an OpenSignals header of ``devices`` (each with its "mac"), in the
    published layout: magic line, one-line JSON header, end line, tab-separated rows ending in
    a tab."""
    header = {d.pop("mac"): d for d in devices}
    lines = [magic, "# " + json.dumps(header), "# EndOfHeader"]
    lines += ["\t".join(str(int(v)) if float(v).is_integer() else str(v) for v in r) + "\t"
              for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_opensignals_devices_channels_and_refusals(tmp_path):
    n = 1000
    adc = np.full(n, 26214)  # 16 bits: 26214/65536·3 V/0.12 = 10.0 µS
    plux = {"mac": "00:07:80:4D:2E:76", "device": "biosignalsplux", "sampling rate": 1000,
            "column": ["nSeq", "DI", "CH1", "CH2"], "label": ["CH1", "CH2"],
            "sensor": ["ECG", "EDA"], "resolution": [16, 1, 16, 16]}
    rows = np.column_stack([np.arange(n) % 16, np.zeros(n), np.full(n, 32768), adc])
    rec = read_recording(_opensignals(tmp_path / "plux.txt", [dict(plux)], rows))
    assert rec.channel == "CH2" and rec.fs == 1000
    np.testing.assert_allclose(rec.values, 26214 / 65536 * 3 / 0.12)
    # two devices in one file: the second one's columns follow the first one's
    bit = {"mac": "98:D3:41:FD:4E:E8", "device": "bitalino_rev", "sampling rate": 1000,
           "column": ["nSeq", "I1", "I2", "O1", "O2", "A1"], "label": ["A1"],
           "sensor": ["ECG"], "resolution": [4, 1, 1, 1, 1, 10]}
    both = np.column_stack([rows, np.arange(n) % 16, np.ones((n, 4)), np.full(n, 512)])
    rec = read_recording(_opensignals(tmp_path / "two.txt", [dict(plux), dict(bit)], both))
    assert rec.channel == "CH2"
    np.testing.assert_allclose(rec.values, 26214 / 65536 * 3 / 0.12)
    # a channel whose sensor type was not set: refused with the option to pass
    raw_only = {**bit, "sensor": ["RAW"]}
    p = _opensignals(tmp_path / "raw.txt", [dict(raw_only)], both[:, 4:])
    with pytest.raises(DataFormatError, match=r"no channel has sensor type or label EDA "
                                              r"\(channels: A1 \(RAW\)\); pass --channel LABEL"):
        read_recording(p)
    rec = read_recording(p, channel="A1")
    np.testing.assert_allclose(rec.values, 512 / 1024 * 3.3 / 0.132)
    # an unknown device, and values that are not ADC counts
    other = {**plux, "device": "muscleban"}
    with pytest.raises(DataFormatError, match="no EDA transfer function known for sensor 'EDA' "
                                              "of device 'muscleban'.*pass --unit us"):
        read_recording(_opensignals(tmp_path / "mb.txt", [dict(other)], rows))
    floats = rows.astype(float)
    floats[:, 3] = 5.25
    p = _opensignals(tmp_path / "conv.txt", [dict(plux)], floats)
    with pytest.raises(DataFormatError, match="not raw 16-bit ADC counts.*pass --unit us"):
        read_recording(p)
    np.testing.assert_allclose(read_recording(p, unit="us").values, 5.25)


# One test per PLUX device family, each a file in the published OpenSignals layout, checked
# against a hand computation of the family's transfer function EDA(µS) = ADC/2^n · VCC / k
# (docs/deployment.md, emotionkd/plux.py): BITalino VCC 3.3 V, k 0.132; PLUX hubs 3 V, 0.12.
_COUNTS10 = np.array([0, 128, 256, 512, 640, 1023] * 200)  # 10-bit counts, 12 s at 100 Hz


def test_opensignals_bitalino_revolution_edabitrev(subject_ckpt, tmp_path, capsys):
    """OpenSignals (r)evolution's current layout for a BITalino (r)evolution board: device
    bitalino_rev, sensor strings ECGBIT and EDABITREV, a resolution per column."""
    n = len(_COUNTS10)
    dev = {"mac": "84:BA:20:5E:FF:7F", "position": 0, "device": "bitalino_rev",
           "device name": "84:BA:20:5E:FF:7F", "sampling rate": 100,
           "resolution": [4, 1, 1, 1, 1, 10, 10], "firmware version": 1282, "mode": 0,
           "channels": [2, 3], "sensor": ["ECGBIT", "EDABITREV"], "label": ["A2", "A3"],
           "column": ["nSeq", "I1", "I2", "O1", "O2", "A2", "A3"], "convertedValues": 0,
           "special": [{}, {}], "digital IO": [0, 0, 1, 1]}
    rows = np.column_stack([np.arange(n) % 16, np.zeros((n, 4)), np.full(n, 511), _COUNTS10])
    path = _opensignals(tmp_path / "rev.txt", [dev], rows,
                        magic="# OpenSignals Text File Format. Version 1")
    rec = read_recording(path)
    assert (rec.channel, rec.fs, rec.unit) == ("A3", 100.0, "adc")
    # 512 of 1024 counts: 0.5 · 3.3 V / 0.132 = 12.5 µS; 1023: 24.9756 µS
    assert rec.values[3] == pytest.approx(12.5) and rec.values[5] == pytest.approx(24.97559, 1e-5)
    np.testing.assert_allclose(rec.values, _COUNTS10 / 1024 * 3.3 / 0.132)
    assert "BITalino (r)evolution EDA transfer function" in rec.notes[0]
    assert "chosen by sensor type" in rec.notes[0]
    # the ECG channel, if --channel insists: converted as EDA, and the note says so
    ecg = read_recording(path, channel="A2")
    np.testing.assert_allclose(ecg.values, 511 / 1024 * 3.3 / 0.132)
    assert "its sensor type is ECGBIT, converted as EDA because --channel chose it" in \
        ecg.notes[0]
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(path)], capsys)
    assert code == 0, cap.err


def test_opensignals_bitalino_older_header_6bit_channel(tmp_path):
    """Older OpenSignals: device "bitalino" (also (r)evolution boards) and the generic sensor
    string EDA, here on A5, one of BITalino's 6-bit channels."""
    counts = np.array([0, 8, 16, 32, 48, 63] * 40)
    n = len(counts)
    dev = {"mac": "20:16:02:26:60:88", "device": "bitalino", "sampling rate": 1000,
           "column": ["nSeq", "I1", "I2", "O1", "O2", "A1", "A5"], "label": ["A1", "A5"],
           "sensor": ["RAW", "EDA"], "resolution": [4, 1, 1, 1, 1, 10, 6],
           "firmware version": "5.1", "channels": [1, 5]}
    rows = np.column_stack([np.arange(n) % 16, np.ones((n, 4)), np.full(n, 700), counts])
    rec = read_recording(_opensignals(tmp_path / "old.txt", [dict(dev)], rows))
    assert rec.channel == "A5"
    # 32 of 64 counts: 0.5 · 3.3 / 0.132 = 12.5 µS
    assert rec.values[3] == pytest.approx(12.5)
    np.testing.assert_allclose(rec.values, counts / 64 * 3.3 / 0.132)
    assert "ADC/2^6·3.3 V/0.132" in rec.notes[0] and "by device family (bitalino)" in rec.notes[0]
    assert "the original board too" in rec.notes[0]
    # a RAW channel chosen with --channel: the family's function, for its 10 bits
    rec = read_recording(_opensignals(tmp_path / "old.txt", [dict(dev)], rows), channel="A1")
    np.testing.assert_allclose(rec.values, 700 / 1024 * 3.3 / 0.132)


def test_opensignals_biosignalsplux_hub_written_as_channeller(tmp_path):
    """A biosignalsplux hub as OpenSignals writes it (PLUX's file specification): device
    "channeller", PORTn_CHNm columns after nSeq and DI, one resolution per analog channel."""
    counts = np.array([0, 8192, 26214, 32768, 65535] * 60)
    n = len(counts)
    dev = {"mac": "00:07:80:79:6F:DB", "sensor": ["ECG", "EDA"],
           "device name": "00:07:80:79:6F:DB",
           "column": ["nSeq", "DI", "PORT1_CHN1", "PORT2_CHN1"], "sync interval": 2,
           "channels": [1, 2], "convertedValues": 0, "mode": 0, "digital IO": [0, 1],
           "firmware version": 773, "device": "channeller", "position": 0,
           "sampling rate": 1000, "label": ["PORT1_CHN1", "PORT2_CHN1"], "resolution": [16, 16]}
    rows = np.column_stack([np.arange(n) % 16, np.zeros(n), np.full(n, 32768), counts])
    rec = read_recording(_opensignals(tmp_path / "hub.txt", [dev], rows))
    assert (rec.channel, rec.fs) == ("PORT2_CHN1", 1000.0)
    # 32768 of 65536 counts: 0.5 · 3 V / 0.12 = 12.5 µS
    assert rec.values[3] == pytest.approx(12.5)
    np.testing.assert_allclose(rec.values, counts / 65536 * 3.0 / 0.12)
    assert "biosignalsplux EDA transfer function" in rec.notes[0]
    assert "by device family (channeller)" in rec.notes[0]


def test_opensignals_bioplux_old_header_without_columns(tmp_path):
    """An old bioplux export: one resolution for every channel and no column list (the data
    rows are nSeq, then the channels)."""
    counts = np.array([0, 1024, 2048, 4095] * 50)
    n = len(counts)
    dev = {"mac": "00:07:80:79:6F:9D", "sensor": ["EDA"], "device name": "00:07:80:79:6F:9D",
           "label": ["CH1"], "channels": [1], "device": "bioplux", "sampling rate": 1000,
           "resolution": 12, "firmware version": 514}
    rows = np.column_stack([np.arange(n) % 128, counts])
    rec = read_recording(_opensignals(tmp_path / "bioplux.txt", [dev], rows))
    assert rec.channel == "CH1"
    # 2048 of 4096 counts: 0.5 · 3 V / 0.12 = 12.5 µS
    assert rec.values[2] == pytest.approx(12.5)
    np.testing.assert_allclose(rec.values, counts / 4096 * 3.0 / 0.12)


@pytest.mark.parametrize("device, vcc, k", [
    ("bitalino", 3.3, 0.132), ("bitalino_rev", 3.3, 0.132), ("bitalino_riot", 3.3, 0.132),
    ("biosignalsplux", 3.0, 0.12), ("bioplux", 3.0, 0.12), ("bioplux_exp", 3.0, 0.12),
    ("channeller", 3.0, 0.12), ("swifter", 3.0, 0.12), ("rachimeter", 3.0, 0.12),
    ("ddme_openbanplux", 3.0, 0.12)])
def test_opensignals_every_device_name_of_plux(tmp_path, device, vcc, k):
    """Every ``device`` name PLUX's own conversion code knows, with a generic EDA channel."""
    dev = {"mac": "00:07:80:00:00:01", "device": device, "sampling rate": 100,
           "column": ["nSeq", "A1"], "label": ["A1"], "sensor": ["EDA"], "resolution": [4, 10]}
    rows = np.column_stack([np.arange(300) % 16, np.full(300, 300)])
    rec = read_recording(_opensignals(tmp_path / "d.txt", [dev], rows))
    np.testing.assert_allclose(rec.values, 300 / 1024 * vcc / k)


def test_opensignals_refusals_without_a_known_conversion(tmp_path):
    base = {"mac": "00:07:80:00:00:02", "sampling rate": 100, "column": ["nSeq", "A1"],
            "label": ["A1"], "resolution": [4, 10]}
    rows = np.column_stack([np.arange(300) % 16, np.full(300, 300)])
    # muscleBAN carries no EDA sensor; an EDA sensor string we have no document for
    for dev, what in (({"device": "muscleban", "sensor": ["EDA"]}, "sensor 'EDA' of device "
                       "'muscleban'"),
                      ({"device": "bitalino_rev", "sensor": ["EDAXYZ"]}, "sensor 'EDAXYZ'")):
        p = _opensignals(tmp_path / "r.txt", [{**base, **dev}], rows)
        with pytest.raises(DataFormatError, match=f"no EDA transfer function known for {what}"
                                                  r".*; convert the channel to µS and pass "
                                                  r"--unit us$"):
            read_recording(p)
        np.testing.assert_allclose(read_recording(p, unit="us").values, 300.0)
    # a resolution list that fits neither the columns nor the channels
    p = _opensignals(tmp_path / "res.txt", [{**base, "device": "bitalino_rev", "sensor": ["EDA"],
                                             "resolution": [4, 1, 10]}], rows)
    with pytest.raises(DataFormatError, match="no ADC resolution for channel A1.*--unit us"):
        read_recording(p)


def test_opensignals_converted_values_are_microsiemens(tmp_path):
    """"convertedValues": 1: OpenSignals wrote physical units (µS for EDA), not counts."""
    dev = {"mac": "00:07:80:00:00:03", "device": "biosignalsplux", "sampling rate": 100,
           "column": ["nSeq", "DI", "CH1"], "label": ["CH1"], "sensor": ["EDA"],
           "resolution": [16], "convertedValues": 1}
    us = 4.0 + 0.5 * np.sin(np.arange(400) / 20)
    rows = np.column_stack([np.arange(400) % 16, np.zeros(400), us])
    rec = read_recording(_opensignals(tmp_path / "conv.txt", [dev], rows))
    np.testing.assert_allclose(rec.values, us, rtol=1e-12)
    assert rec.unit == "us" and "convertedValues" in rec.notes[0]


def test_e4_session_zip_folder_and_other_streams(tmp_path):
    e4 = read_recording(REAL / "e4_EDA.csv")
    acc = "1560279825.000000,1560279825.000000,1560279825.000000\n32,32,32\n-1,2,60\n" * 1
    zpath = tmp_path / "1560279825_A01234.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(REAL / "e4_EDA.csv", "EDA.csv")
        zf.writestr("ACC.csv", acc)
    rec = read_recording(zpath)
    assert (rec.fmt, rec.fs, rec.start_time) == ("e4", 4.0, e4.start_time)
    np.testing.assert_array_equal(rec.values, e4.values)
    folder = tmp_path / "session"
    folder.mkdir()
    (folder / "EDA.csv").write_bytes((REAL / "e4_EDA.csv").read_bytes())
    (folder / "ACC.csv").write_text(acc)
    np.testing.assert_array_equal(read_recording(folder).values, e4.values)
    with pytest.raises(DataFormatError, match="is the E4 ACC stream, not skin conductance"):
        read_recording(folder / "ACC.csv")
    with zipfile.ZipFile(tmp_path / "no_eda.zip", "w") as zf:
        zf.writestr("ACC.csv", acc)
    with pytest.raises(DataFormatError, match=r"no EDA.csv in the zip \(ACC.csv\)"):
        read_recording(tmp_path / "no_eda.zip")
    (tmp_path / "rec.h5").write_bytes(b"\x89HDF")
    with pytest.raises(DataFormatError, match="unsupported recording format '.h5'; supported: "
                                              "Empatica E4 .*OpenSignals text"):
        read_recording(tmp_path / "rec.h5")


def test_decimal_commas_are_parsed_or_refused_never_truncated(tmp_path, subject_ckpt, capsys):
    x = 5 + 0.25 * np.sin(np.arange(1000) / 40)
    text = lambda v: f"{v:.4f}".replace(".", ",")  # noqa: E731
    semi = tmp_path / "semi.csv"
    semi.write_text("time;EDA\n" + "\n".join(f"{text(i / 100)};{text(v)}"
                                              for i, v in enumerate(x)) + "\n")
    with pytest.raises(DataFormatError, match="decimal commas; pass --decimal ,"):
        read_recording(semi, column="EDA", time_column="time")
    rec = read_recording(semi, column="EDA", time_column="time", decimal=",")
    assert rec.fs == pytest.approx(100)
    np.testing.assert_allclose(rec.values, np.round(x, 4), atol=1e-12)
    one = tmp_path / "one.csv"  # one column: a naive comma split would keep the integer part
    one.write_text("EDA\n" + "\n".join(text(v) for v in x) + "\n")
    with pytest.raises(DataFormatError, match="more comma-separated fields.*--decimal ,"):
        read_recording(one, fs=100)
    np.testing.assert_allclose(read_recording(one, fs=100, decimal=",").values, np.round(x, 4))
    bare = tmp_path / "bare.csv"  # no header either
    bare.write_text("\n".join(text(v) for v in x) + "\n")
    with pytest.raises(DataFormatError, match="decimal"):
        read_recording(bare, fs=100, column="0")
    tsv = tmp_path / "rec.tsv"
    tsv.write_text("t\tEDA\n" + "\n".join(f"{i / 100}\t{v}" for i, v in enumerate(x)) + "\n")
    np.testing.assert_allclose(read_recording(tsv, time_column="t").values, x)
    with pytest.raises(ConfigError, match="--decimal must be one of auto, ., ,"):
        read_recording(tsv, fs=100, decimal=";")
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(semi),
                      "--column", "EDA", "--time-column", "time", "--decimal", ","], capsys)
    assert code == 0, cap.err


def test_units_inferred_only_when_unambiguous(tmp_path, subject_ckpt, capsys):
    from emotionkd.datasets.bdf import BdfChannel, write_bdf

    assert infer_unit(np.full(10, 5.0), "x")[0] == "us"
    assert infer_unit(np.full(10, 2e5), "x")[0] == "ohm"
    with pytest.raises(DataFormatError, match=r"median 500 is a plausible skin conductance as "
                                              r"nS .* or kOhm .*; pass --unit us\|ohm\|kohm\|ns"):
        infer_unit(np.full(10, 500.0), "x")
    with pytest.raises(DataFormatError, match="not positive"):
        infer_unit(np.full(10, -1.0), "x")
    # a PLUX-like EDF/BDF whose EDA channel declares its unit as 'n/a'
    sig = 5 + 0.3 * np.sin(np.arange(128 * 20) / 100)
    p = write_bdf(tmp_path / "plux.bdf", [BdfChannel("EDA", "n/a", 0, 30)], sig[None, :], 128)
    rec = read_recording(p)
    assert rec.unit == "us" and "declares unit 'n/a'" in rec.notes[0]
    np.testing.assert_allclose(rec.values, sig, atol=1e-4)
    p = write_bdf(tmp_path / "plux2.bdf", [BdfChannel("EDA", "n/a", 0, 3000)],
                  100 * sig[None, :], 128)
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(p)], capsys)
    assert code == 1 and "pass --unit us|ohm|kohm|ns" in cap.err
    assert len(cap.err.strip().splitlines()) == 1
    np.testing.assert_allclose(read_recording(p, unit="kohm").values, 1e3 / (100 * sig),
                               rtol=1e-3)
    # predict has no --gsr-unit: its messages name --unit
    zeros = _write_csv(tmp_path / "zero.csv", np.r_[np.zeros(10), np.ones(900)])
    with pytest.raises(DataFormatError, match=r"pass --unit us\|ns"):
        read_recording(zeros, fs=100, unit="ohm")
    with pytest.raises(ConfigError, match="--unit must be one of auto, us, ohm, kohm, ns"):
        read_recording(zeros, fs=100, unit="mV")


def test_every_window_flagged_says_so(subject_ckpt, tmp_path, capsys):
    flat = _write_csv(tmp_path / "off.csv", np.full(1000, 0.01))
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(flat), "--fs",
                      "100", "--unit", "us", "--out", str(tmp_path / "p.json")], capsys)
    assert code == 0, cap.err
    assert "no usable windows" in cap.out and "nan" not in cap.out.lower()
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["summary"]["mean_p_high"] is None and doc["summary"]["usable_windows"] == 0


# ---------------------------------------------------------------------------------------------
# 3. model card


def test_export_writes_a_model_card(train_ckpt, tmp_path, capsys):
    out = tmp_path / "s.onnx"
    code, cap = _run(["export", "--model", str(train_ckpt), "--out", str(out)], capsys)
    assert code == 0, cap.err
    card = (tmp_path / "s.onnx.md").read_text()
    for text in ("# Model card: emotionnet-student (student, arousal)",
                 "## Inputs and their preprocessing", "3-s pre-stimulus period",
                 "μ = ", "needs `--baseline-seconds S`", "## Training data and protocol",
                 "subjects: training [1, 2]", "No held-out test metrics were recorded",
                 "## Normalisation caveats", "## Intended use and limits",
                 "Not for clinical", "weak evidence"):
        assert text in card, text
    out.unlink()  # the card alone still blocks a second export without --overwrite
    code, cap = _run(["export", "--model", str(train_ckpt), "--out", str(out)], capsys)
    assert code == 1 and "s.onnx.md: already exists; pass --overwrite" in cap.err
    # recorded test metrics and an evaluation run's folds, with their majority baselines
    ck = load_checkpoint(train_ckpt)
    test = {"n": 30.0, "accuracy": 0.6, "balanced_accuracy": 0.55, "macro_f1": 0.5,
            "roc_auc": 0.58, "majority_baseline": 0.6}
    data = {**ck["data"], "test_subjects": [3]}
    tested = save_checkpoint(tmp_path / "tested.pt", role="student", model=ck["model"],
                             model_config=ck["model_config"], state_dict=ck["state_dict"],
                             data=data, training={**ck["training"], "test": test})
    run = tmp_path / "run"
    run.mkdir()
    ms = {"mean": 0.56, "std": 0.04, "n": 3}
    (run / "results.json").write_text(json.dumps({
        "protocol": "loso", "folds_total": 3, "targets": {"arousal": {
            "folds_done": 3, "majority_baseline": {"mean": 0.58},
            "models": {"student-emotionkd+feedback": {
                "folds": 3, "per_fold": {"balanced_accuracy": [0.52, 0.6, 0.56]},
                "mean_std": {"balanced_accuracy": ms, "accuracy": ms, "macro_f1": ms,
                             "roc_auc": ms}}}}}}))
    code, cap = _run(["export", "--model", str(tested), "--format", "torchscript", "--out",
                      str(tmp_path / "t.ts"), "--evaluation", str(run)], capsys)
    assert code == 0, cap.err
    card = (tmp_path / "t.ts.md").read_text()
    assert "Held-out test subjects [3]: balanced accuracy 55.0 %" in card
    assert "majority-class baseline 60.0 % (30 windows)" in card
    assert "protocol loso, 3 of 3 folds" in card and "majority-class baseline 58.0 %" in card
    assert "| student-emotionkd+feedback | 3 | 56.0 ± 4.0 |" in card
    assert "| 52.0, 60.0, 56.0 |" in card


# ---------------------------------------------------------------------------------------------
# 4. Python API


def test_api_names_are_lazy_and_import_stays_light():
    code = (
        "import sys, emotionkd\n"
        "light = not any(m in sys.modules for m in ('torch', 'numpy', 'h5py'))\n"
        "names = [n for n in ('read_recording', 'from_mne_raw', 'load_predictor', 'Predictor',"
        " 'train_teacher', 'distill_student', 'evaluate') if n in dir(emotionkd)]\n"
        "f = emotionkd.read_recording\n"
        "still = 'torch' not in sys.modules\n"
        "import emotionkd.distill.losses\n"
        "print(light, still, len(names), callable(emotionkd.distill_student), "
        "emotionkd.Predictor.__name__)\n"
        "try:\n    emotionkd.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.splitlines()[0] == "True True 7 True Predictor"
    assert "has no attribute 'nothing'" in res.stdout


def test_predict_array_and_mne_raw_match_a_recording_file(subject_ckpt, tmp_path):
    import mne

    import emotionkd as ek

    pred = ek.load_predictor(subject_ckpt)
    x = np.loadtxt(NK, delimiter=",", skiprows=1, usecols=[1])
    from_file = pred.predict_recording(ek.read_recording(NK, fs=100))
    from_array = pred.predict_array(x, 100)
    np.testing.assert_allclose(from_array.p_high, from_file.p_high, atol=1e-7)
    assert from_array.usable.all() and len(from_array.start_s) == 37
    raw = mne.io.RawArray(x[None, :] * 1e3, mne.create_info(["ECG"], 100.0, ["misc"]),
                          verbose="error")
    raw.add_channels([mne.io.RawArray(x[None, :], mne.create_info(["EDA"], 100.0, ["misc"]),
                                      verbose="error")])
    rec = ek.from_mne_raw(raw)
    assert rec.channel == "EDA" and rec.fmt == "mne"
    np.testing.assert_allclose(pred.predict_recording(rec).p_high, from_file.p_high, atol=1e-7)
    with pytest.raises(DataFormatError, match="no channel 'GSR'"):
        ek.read_recording(raw, channel="GSR")
    with pytest.raises(ConfigError, match="unknown option 'epoch'; known: .*epochs"):
        ek.train_teacher("missing.h5", epoch=1)


def test_api_doc_example_runs(tmp_path):
    text = (ROOT / "docs" / "api.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    assert "predict_array" in code and "from_mne_raw" in code
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "30 windows; p(high arousal)" in res.stdout
    assert "MNE Raw gives the same: True" in res.stdout


def test_api_evaluate_one_checkpoint(subject_ckpt, deap_store):
    import emotionkd as ek

    res = ek.evaluate(deap_store, model=subject_ckpt, subjects=[3])
    assert res["subjects"] == [3] and 0 <= res["overall"]["balanced_accuracy"] <= 1
    with pytest.raises(ConfigError, match="pass out=RUN_FOLDER"):
        ek.evaluate(deap_store)
