"""Export (ONNX, TorchScript) with parity and metadata; predict on real GSR recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli as _run
from conftest import train_and_save

from emotionkd.config import DataConfig
from emotionkd.errors import CheckpointError, ConfigError, DataFormatError
from emotionkd.export import ExportParityError, export_model, read_metadata
from emotionkd.predict import load_predictor, predict_recording
from emotionkd.recordings import read_recording
from emotionkd.training import TrainConfig

REAL = Path(__file__).parent / "data" / "real"
E4 = REAL / "e4_EDA.csv"
NK = REAL / "neurokit_bio_eventrelated_100hz.csv"
TINY = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
        "classifier_dim": 8}


def _train(deap_store, out: Path, name: str) -> Path:
    return train_and_save(deap_store, out, name, DataConfig(window=4, step=4),
                          TrainConfig(epochs=1, batch_size=8, seed=0))


@pytest.fixture(scope="module")
def student_ckpt(deap_store, tmp_path_factory):
    return _train(deap_store, tmp_path_factory.mktemp("m") / "s.pt", "emotionnet-student")


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("torchscript", ".ts")])
def test_export_parity_and_metadata(student_ckpt, tmp_path, fmt, suffix):
    out = tmp_path / f"s{suffix}"
    rep = export_model(student_ckpt, fmt, out)
    assert out.exists() and rep.max_abs_diff <= 1e-4
    meta = read_metadata(out)
    assert meta["emotionkd_version"] and meta["role"] == "student"
    p = meta["predict"]
    assert (p["sampling_rate"], p["window_samples"], p["norm"], p["target"]) == (128.0, 512,
                                                                                "subject",
                                                                        "arousal")
    assert p["class_names"] == ["low arousal", "high arousal"]
    assert meta["input_shapes"]["gsr"] == ["batch", 1, 512]
    # the exported file and the checkpoint predict the same on a batch of any size
    pt, ex = load_predictor(student_ckpt), load_predictor(out)
    x = np.random.default_rng(0).normal(size=(5, 1, 512)).astype(np.float32)
    np.testing.assert_allclose(ex.predict_proba(x), pt.predict_proba(x), atol=1e-5)


def test_teacher_exports_with_both_inputs(deap_store, tmp_path):
    t = _train(deap_store, tmp_path / "t.pt", "emotionnet-teacher")
    rep = export_model(t, "onnx", tmp_path / "t.onnx")
    assert rep.metadata["inputs"] == ["eeg", "gsr"] and rep.max_abs_diff <= 1e-4
    with pytest.raises(CheckpointError, match="needs EEG"):
        load_predictor(t)


def test_export_parity_failure_leaves_nothing(student_ckpt, tmp_path):
    out = tmp_path / "s.onnx"
    with pytest.raises(ExportParityError, match="differ from PyTorch"):
        export_model(student_ckpt, "onnx", out, tolerance=1e-15)
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(ConfigError, match="must be one of onnx, torchscript"):
        export_model(student_ckpt, "tflite", out)


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
