"""Checkpoints (emotionkd.checkpoint): round trip, the recorded preprocessing and its
comparison, refusal of other format versions."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import NK
from conftest import run_cli as _run

from emotionkd.checkpoint import (
    build_from_checkpoint,
    check_data_compatible,
    load_checkpoint,
)
from emotionkd.config import DataConfig
from emotionkd.errors import CheckpointError
from emotionkd.jobs import train_teacher
from emotionkd.predict import load_predictor
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset


def test_checkpoint_records_and_compares_preprocessing(train_ckpt, none_store, capsys):
    ck = load_checkpoint(train_ckpt)
    pre = ck["data"]["preprocessing"]
    assert (pre["baseline"], pre["baseline_s"], pre["gsr_unit"]) == ("subtract", 3.0, "uS")
    assert pre["raw_sampling_rate"] == 128.0 and pre["sampling_rate"] == 128.0
    assert ck["config"]["data"]["norm"] == "train" and ck["data"]["norm_stats"]["gsr_std"] > 0
    # data made another way is refused, naming the step
    other = WindowDataset(open_store(none_store), DataConfig(norm="train"), load_eeg=False,
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


def test_checkpoints_and_exports_of_another_format_are_refused(train_ckpt, tmp_path, capsys):
    """The package was never released: files of an earlier format are refused in one line
    (no reader of old layouts)."""
    import torch

    from emotionkd.predict import ModelMeta

    raw = torch.load(train_ckpt, weights_only=True)
    old = tmp_path / "old.pt"
    torch.save({**raw, "format_version": 1}, old)
    code, cap = _run(["predict", "--model", str(old), "--input", str(NK), "--fs", "100"],
                     capsys)
    assert code == 1 and len(cap.err.strip().splitlines()) == 1
    assert "old.pt: checkpoint format_version 1 is not read by emotionkd" in cap.err
    fresh = load_predictor(train_ckpt).meta
    with pytest.raises(CheckpointError, match="old.onnx: exported with metadata version 1; "
                                              ".*export the checkpoint again"):
        ModelMeta.from_export({"predict": fresh.as_dict()}, "old.onnx")
    later = {"format_version": 2, "predict": {**fresh.as_dict(), "added_later": 1}}
    assert ModelMeta.from_export(later) == fresh


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_round_trip_and_refusals(deap_store, tmp_path):
    run = train_teacher(deap_store, window=2, step=2, epochs=1, batch_size=16, seed=0,
                        d_model=8, n_heads=2, head_dim=4, n_blocks=2, ff_dim=8,
                        classifier_dim=8, val_subjects=[3])
    path = run.save(tmp_path / "t.pt")
    ck = load_checkpoint(path, role="teacher")
    raw = torch.load(path, weights_only=True)  # plain tensors and values only
    assert raw["format"] == "emotionkd-checkpoint" and raw["role"] == "teacher"
    m = build_from_checkpoint(ck)
    x = (torch.randn(2, 32, 256), torch.randn(2, 1, 256))
    run.model.eval()
    assert torch.equal(m(*x)[0], run.model(*x)[0])
    assert ck["data"]["val_subjects"] == [3] and ck["data"]["window_samples"] == 256
    assert ck["config"]["data"]["window"] == 2.0 and set(ck["config"]) == {"data", "model",
                                                                              "train"}
    with pytest.raises(CheckpointError, match="is a teacher checkpoint.*student is needed"):
        load_checkpoint(path, role="student")
    # data mismatch names both values
    with pytest.raises(CheckpointError, match=r"sampling_rate is 128.0 in the checkpoint but "
                                              r"256.0 in other.h5"):
        check_data_compatible(ck, {**ck["data"], "sampling_rate": 256.0}, "other.h5")
    # a checkpoint of another format version is refused in one line
    old = tmp_path / "v1.pt"
    torch.save({**raw, "format_version": 1}, old)
    with pytest.raises(CheckpointError, match="v1.pt: checkpoint format_version 1 is not read "
                                              "by emotionkd .*train the model again"):
        load_checkpoint(old)
    # corrupt / foreign / malicious files
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="bad.pt: not a readable checkpoint"):
        load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="not an emotionkd checkpoint"):
        load_checkpoint(other)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as fh:
        pickle.dump({"format": Evil()}, fh)
    with pytest.raises(CheckpointError, match="evil.pt: refused or unreadable"):
        load_checkpoint(evil)
    assert not marker.exists()
    # weights that do not fit the declared architecture
    ck2 = dict(ck)
    ck2["model_config"] = {**ck["model_config"], "d_model": 12}
    with pytest.raises(CheckpointError, match="weights do not match"):
        build_from_checkpoint(ck2)


def test_feedback_outcome_says_what_happened():
    from emotionkd.checkpoint import feedback_outcome, feedback_status

    assert feedback_outcome(False, 0) == "off"
    assert feedback_outcome(True, 12, 3, 1) == "on (12 steps)"
    assert feedback_outcome(True, None) == "on"  # not recorded
    assert feedback_outcome(True, 0, 1, 1) == \
        "configured, 0 steps ran (epochs ≤ feedback warm-up: 1 ≤ 1)"
    assert feedback_outcome(True, 0, 3, 1) == \
        "configured, 0 steps ran (no training step was a feedback step)"
    ck = {"config": {"distill": {"feedback": True}, "feedback": {"feedback_warmup": 2}},
          "distillation": {"feedback_steps": 0}, "training": {"epochs_run": 2}}
    assert feedback_status(ck) == "configured, 0 steps ran (epochs ≤ feedback warm-up: 2 ≤ 2)"
