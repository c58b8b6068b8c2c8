"""Prediction (emotionkd.predict): parity with the training windows, reference periods,
normalisation, quality flags, real recordings and error paths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import NK, REAL, SUBJECT, TRIAL, raw_trial_us, student_checkpoint, write_eda_csv
from conftest import run_cli as _run

from emotionkd.config import DataConfig
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.export import export_model
from emotionkd.predict import Predictor, load_predictor, predict_recording
from emotionkd.preprocess import CleanOptions, clean_trial
from emotionkd.recordings import read_recording
from emotionkd.signals import resample
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset, window_starts


def _store_windows(store: Path, norm: str, predictor: Predictor) -> np.ndarray:
    """p(high) of the model on the held-out trial's training windows (WindowDataset)."""
    ds = WindowDataset(open_store(store), DataConfig(norm=norm), load_eeg=False,
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


@pytest.mark.parametrize("rate", [128, 32, 4])
def test_predict_matches_the_training_windows(train_ckpt, deap_raw, deap_store, tmp_path, rate):
    """A held-out trial of the synthetic DEAP store, written as the µS CSV a wristband would
    produce at ``rate`` Hz (3-s rest period first), gives through ``predict`` the model's
    probabilities on the store's windows of that trial: to 1e-4 once the resampling is
    accounted for (the reference is the training pipeline run on the down/up-sampled trial),
    and close without that correction."""
    pred = load_predictor(train_ckpt)
    us = raw_trial_us(deap_raw)
    rec_values = resample(us, 128, rate) if rate != 128 else us
    rec = read_recording(write_eda_csv(tmp_path / f"rec{rate}.csv", rec_values), fs=rate)
    assert rec.unit == "us" and "inferred" in rec.notes[0]
    res = pred.predict_recording(rec, baseline_seconds=3.0)
    assert [r["start_s"] for r in res.rows] == [3.0, 7.0, 11.0]  # after the reference period
    assert res.summary["reference_s"] == 3.0
    got = res.p_high
    # the training pipeline (clean_trial, WindowDataset normalisation) on what predict saw
    seen = resample(rec_values, rate, 128) if rate != 128 else rec_values
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


def test_subject_norm_needs_no_reference(subject_ckpt, deap_raw, deap_store):
    """With per-subject normalisation the reference period changes nothing (the z-score
    removes any constant offset); predict equals the model on the trial's windows z-scored
    with the recording's own statistics, the calibration a held-out subject gets."""
    pred = load_predictor(subject_ckpt)
    us = raw_trial_us(deap_raw)
    with_ref = pred.predict_array(us, 128, baseline_seconds=3.0)
    stimulus_only = pred.predict_array(us[384:], 128)
    np.testing.assert_allclose(stimulus_only.p_high, with_ref.p_high, atol=1e-6)
    ref = pred.predict_proba(_training_transform(us, None, None))[:, 1]
    assert np.max(np.abs(with_ref.p_high - ref)) <= 1e-4
    pooled = _store_windows(deap_store, "subject", pred)  # statistics of all 4 trials
    print(f"\nsubject norm: max |recording-calibrated − subject-calibrated| "
          f"{np.max(np.abs(with_ref.p_high - pooled)):.2g}")


def test_baseline_none_model_takes_absolute_values(none_store, deap_raw, tmp_path):
    ck = student_checkpoint(none_store, tmp_path / "s_none.pt", "none", train=False)
    pred = load_predictor(ck)
    assert (pred.meta.baseline, pred.meta.norm) == ("none", "none")
    us = raw_trial_us(deap_raw)
    got = pred.predict_array(us[384:], 128).p_high  # the stimulus part, as stored
    np.testing.assert_allclose(got, _store_windows(none_store, "none", pred), atol=1e-4)
    with pytest.raises(ConfigError, match="drop --baseline-seconds"):
        pred.predict_array(us, 128, baseline_seconds=3)


def test_every_window_flagged_says_so(subject_ckpt, tmp_path, capsys):
    flat = write_eda_csv(tmp_path / "off.csv", np.full(1000, 0.01))
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(flat), "--fs",
                      "100", "--unit", "us", "--out", str(tmp_path / "p.json")], capsys)
    assert code == 0, cap.err
    assert "no usable windows" in cap.out and "nan" not in cap.out.lower()
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["summary"]["mean_p_high"] is None and doc["summary"]["usable_windows"] == 0


E4 = REAL / "e4_EDA.csv"


def test_predict_real_e4_and_neurokit(student_ckpt, tmp_path, capsys):
    e4 = read_recording(E4)
    assert (e4.fmt, e4.fs, len(e4.values)) == ("e4", 4.0, 9998)
    assert e4.start_time == 1560279825.0
    predictor = load_predictor(student_ckpt)
    res = predict_recording(predictor, e4)
    # 9998 samples at 4 Hz = 2499.5 s → 319,936 at 128 Hz → ⌊(319936 − 512)/512⌋ + 1 windows
    assert len(res.rows) == 624
    p = np.array([r["p_high"] for r in res.rows])
    assert ((p >= 0) & (p <= 1)).all() and np.isfinite(p).all()
    # windows are fed in chunks (64 by default): the chunk size does not change any result
    whole = predict_recording(predictor, e4, batch_size=1000)
    np.testing.assert_allclose([r["p_high"] for r in whole.rows], p, rtol=0, atol=1e-5)
    assert res.rows[1]["start_unix"] == pytest.approx(1560279829.0)
    out = tmp_path / "nk.json"
    code, cap = _run(["predict", "--model", str(student_ckpt), "--input", str(NK), "--fs", "100",
                      "--out", str(out)], capsys)
    assert code == 0, cap.err
    doc = json.loads(out.read_text())
    assert len(doc["windows"]) == 37  # 150 s → 37 whole 4-s windows
    assert doc["summary"]["channel"] == "EDA" and doc["summary"]["recording_fs"] == 100
    # ONNX model on the same recording, CSV output, with a 2-s step
    onnx = tmp_path / "s.onnx"
    export_model(student_ckpt, "onnx", onnx)
    code, cap = _run(["predict", "--model", str(onnx), "--input", str(NK), "--fs", "100",
                      "--column", "EDA", "--step", "2", "--out", str(tmp_path / "nk.csv")], capsys)
    assert code == 0, cap.err
    lines = (tmp_path / "nk.csv").read_text().splitlines()
    assert lines[0].startswith("window,start_s,end_s,p_high,label,quality")
    assert len(lines) == 1 + 74  # header + ⌊(19200 − 512)/256⌋ + 1 windows


def _csv(path: Path, values, header="EDA") -> Path:
    path.write_text(header + "\n" + "\n".join(str(v) for v in values) + "\n")
    return path


def test_predict_error_paths(student_ckpt, tmp_path, capsys):
    pred = load_predictor(student_ckpt)
    cases = [
        (["--input", str(tmp_path / "x.xyz")], "x.xyz: no such recording"),
        (["--input", str(NK), "--fs", "100", "--column", "SCR"], "no column 'SCR'"),
        (["--input", str(NK)], "sampling rate is unknown"),
        (["--input", str(_csv(tmp_path / "short.csv", np.full(300, 5.0)))
          , "--fs", "100"], "shorter than one 4-s window"),
        (["--input", str(_csv(tmp_path / "nan.csv", [5.0] * 10 + ["nan"] + [5.0] * 900)),
          "--fs", "100"], "non-finite GSR value"),
    ]
    (tmp_path / "x.xyz").write_text("1\n2\n")
    cases[0] = (["--input", str(tmp_path / "x.xyz")],
                "unsupported recording format '.xyz'; supported: ")
    for args, msg in cases:
        code, cap = _run(["predict", "--model", str(student_ckpt), *args], capsys)
        assert code == 1, (args, cap.err)
        assert msg in cap.err and len(cap.err.strip().splitlines()) == 1
    # a flat (disconnected or stuck) sensor: warn and mark the windows, still predict
    flat = np.concatenate([np.full(800, 0.0), 5 + 0.05 * np.sin(np.arange(1600) / 30)])
    rec = read_recording(_csv(tmp_path / "flat.csv", flat), fs=100, unit="us")
    res = predict_recording(pred, rec)
    assert res.warnings and "disconnected" in res.warnings[0]
    assert res.rows[0]["quality"] == "disconnected" and res.rows[-1]["quality"] == ""
    stuck = np.concatenate([5 + 0.05 * np.sin(np.arange(1600) / 30), np.full(800, 7.3)])
    res = predict_recording(pred, read_recording(_csv(tmp_path / "stuck.csv", stuck), fs=100))
    assert res.rows[-1]["quality"] == "flat"
    with pytest.raises(DataFormatError, match="Ohm"):
        read_recording(_csv(tmp_path / "neg.csv", -np.ones(900)), fs=100, unit="ohm")


def test_resistance_recording_is_converted(student_ckpt, tmp_path):
    us = 5 + 0.1 * np.sin(np.arange(1000) / 20)
    rec = read_recording(_csv(tmp_path / "ohm.csv", 1e6 / us, header="GSR"), fs=50)
    assert rec.unit == "ohm"
    np.testing.assert_allclose(rec.values, us, rtol=1e-9)
    t = np.arange(1000) / 50
    both = tmp_path / "both.csv"
    both.write_text("t;gsr\n" + "\n".join(f"{a};{b}" for a, b in zip(t, us)) + "\n")
    rec = read_recording(both, time_column="t", column="gsr")
    assert rec.fs == pytest.approx(50) and rec.channel == "gsr"
