"""The deployment commands (emotionkd.cli.deploy): predict's reference period."""

from __future__ import annotations

import json

import numpy as np
from conftest import raw_trial_us, write_eda_csv
from conftest import run_cli as _run

from emotionkd.predict import load_predictor
from emotionkd.recordings import read_recording
from emotionkd.signals import resample


def test_cli_refuses_or_uses_the_reference_period(train_ckpt, deap_raw, tmp_path, capsys):
    us = raw_trial_us(deap_raw)
    csv_path = write_eda_csv(tmp_path / "rec.csv", resample(us, 128, 32))
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
