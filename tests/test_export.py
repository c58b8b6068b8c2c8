"""Export (emotionkd.export): ONNX and TorchScript with parity and metadata."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import train_on_4s_windows

from emotionkd.errors import CheckpointError, ConfigError
from emotionkd.export import ExportParityError, export_model, read_metadata
from emotionkd.predict import load_predictor


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
    t = train_on_4s_windows(deap_store, tmp_path / "t.pt", "emotionnet-teacher")
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
