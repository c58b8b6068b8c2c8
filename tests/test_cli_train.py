"""The training commands (emotionkd.cli.train): train-teacher and distill end to end."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_cli as _cli

from emotionkd.checkpoint import (
    load_checkpoint,
)
from emotionkd.errors import ConfigError
from emotionkd.jobs import train_teacher


def test_distill_command_end_to_end(deap_store, teacher_ckpt, tmp_path, capsys):
    from emotionkd.checkpoint import load_checkpoint

    out = tmp_path / "s.pt"
    code, cap = _cli(["distill", "--teacher", str(teacher_ckpt), "--data", str(deap_store),
                      "--out", str(out), "--epochs", "2", "--batch-size", "8",
                      "--feedback-warmup", "0", "--pilot-lr", "0.05", "--teacher-lr", "1e-3"],
                     capsys)
    assert code == 0, cap.err
    assert "method emotionkd" in cap.out and "feedback steps" in cap.out
    ck = load_checkpoint(out, role="student")
    dist = ck["distillation"]
    assert ck["config"]["distill"]["method"] == "emotionkd" and dist["feedback_steps"] > 0
    assert ck["config"]["distill"]["feedback"] is True
    assert ck["config"]["data"]["window"] == 2.0  # the teacher's [data] table
    assert dist["teacher"]["path"] == str(teacher_ckpt) and len(dist["teacher"]["sha256"]) == 64
    assert dist["quiz_windows"] > 0
    assert ck["data"]["train_subjects"] == [1] and ck["data"]["test_subjects"] == [3]
    adapted = load_checkpoint(tmp_path / "s.teacher.pt", role="teacher")
    orig = load_checkpoint(teacher_ckpt)
    assert any(not torch.equal(adapted["state_dict"][k], orig["state_dict"][k])
               for k in orig["state_dict"])
    assert "adapted_by_feedback" in adapted["training"]
    # KD baselines, warm start, and no feedback → no adapted teacher written
    for method in ("kd", "fitnets", "none"):
        o = tmp_path / f"{method}.pt"
        code, cap = _cli(["distill", "--teacher", str(teacher_ckpt), "--data", str(deap_store),
                          "--out", str(o), "--method", method, "--epochs", "1",
                          "--student-init", "teacher-gsr"], capsys)
        assert code == 0, cap.err
        assert load_checkpoint(o)["distillation"]["feedback_steps"] == 0
        assert not (tmp_path / f"{method}.teacher.pt").exists()


def test_distill_refuses_mismatched_data(deap_raw, teacher_ckpt, tmp_path, capsys):
    from emotionkd.preprocess import preprocess_deap

    other = preprocess_deap(deap_raw, tmp_path / "o.h5", eeg_channels="tsception28").out
    code, cap = _cli(["distill", "--teacher", str(teacher_ckpt), "--data", str(other),
                      "--out", str(tmp_path / "s.pt")], capsys)
    assert code == 1 and "EEG channel" in cap.err and "o.h5" in cap.err
    code, cap = _cli(["distill", "--teacher", str(other), "--data", str(other),
                      "--out", str(tmp_path / "s.pt")], capsys)
    assert code == 1 and "is an HDF5 file (a data store?), not a checkpoint" in cap.err
    assert not (tmp_path / "s.pt").exists()


def test_train_teacher_cli(deap_store, tmp_path, capsys):
    cfg = tmp_path / "t.toml"
    cfg.write_text('[data]\nwindow = 2.0\nstep = 2.0\n[train]\nepochs = 2\nbatch_size = 16\n'
                   '[model]\nd_model = 8\nn_heads = 2\nhead_dim = 4\nn_blocks = 2\nff_dim = 8\n'
                   'classifier_dim = 8\n')
    out = tmp_path / "t.pt"
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out", str(out),
                      "--config", str(cfg), "--epochs", "1", "--target", "valence",
                      "--eeg-channels", "tsception28", "--val-subjects", "2",
                      "--test-subjects", "3"], capsys)
    assert code == 0, cap.err
    assert "wrote" in cap.out and "validation" in cap.out and "test" in cap.out
    ck = load_checkpoint(out)
    assert ck["training"]["epochs_run"] == 1  # the flag overrides the file
    resolved = ck["config"]  # the resolved tables, names as in flags and files
    assert resolved["data"]["window"] == 2.0 and resolved["model"]["d_model"] == 8
    assert resolved["train"]["epochs"] == 1 and set(resolved) == {"data", "model", "train"}
    assert ck["model_config"]["d_model"] == 8
    assert resolved["data"]["target"] == "valence" and len(ck["data"]["eeg_channels"]) == 28
    assert ck["data"]["train_subjects"] == [1] and ck["data"]["test_subjects"] == [3]
    code, cap = _cli(["info", str(out), "--json"], capsys)
    info = json.loads(cap.out)
    assert info["role"] == "teacher" and info["config"]["data"]["target"] == "valence"
    # refusals: existing output, bad subjects, wrong model role
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out", str(out)], capsys)
    assert code == 1 and "--overwrite" in cap.err
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out", str(tmp_path / "x.pt"),
                      "--test-subjects", "9"], capsys)
    assert code == 1 and "subject(s) [9] are not in the data" in cap.err
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out", str(tmp_path / "x.pt"),
                      "--model", "deepconvnet"], capsys)
    assert code == 2 and "'deepconvnet' is not one of" in cap.err  # a choice: usage error
    with pytest.raises(ConfigError, match="--model must be one of emotionnet-teacher, concat, "
                                          "not 'deepconvnet'"):
        train_teacher(deap_store, model="deepconvnet")
    assert not (tmp_path / "x.pt").exists()


def test_feedback_that_never_ran_is_reported_as_such(deap_store, teacher_ckpt, tmp_path,
                                                     capsys):
    """distill --epochs 1 with the default warm-up of 1 epoch: feedback is configured but
    makes no step; distill, info and the model card say so instead of 'feedback on'."""
    from emotionkd.checkpoint import load_checkpoint
    from emotionkd.modelcard import model_card

    out = tmp_path / "s.pt"
    code, cap = _cli(["distill", "--teacher", str(teacher_ckpt), "--data", str(deap_store),
                      "--epochs", "1", "--out", str(out)], capsys)
    assert code == 0, cap.err
    said = "feedback configured, 0 steps ran (epochs ≤ feedback warm-up: 1 ≤ 1)"
    assert said in cap.out and "feedback on" not in cap.out
    assert "so the student trained without it" in cap.err
    assert not (tmp_path / "s.teacher.pt").exists()
    code, cap = _cli(["info", str(out)], capsys)
    assert code == 0 and said in " ".join(cap.out.split())
    card = " ".join(model_card(load_checkpoint(out)).split())
    assert "adaptive " + said in card and "feedback on" not in card


def test_train_teacher_prints_one_line_per_epoch_without_bars(deap_store, tmp_path, capsys,
                                                              monkeypatch):
    """EMOTIONKD_NO_PROGRESS (or a pipe): every epoch as a line on stdout, so `> log` holds
    them; the per-epoch CSV beside the checkpoint; --tensorboard event files beside it."""
    monkeypatch.setenv("EMOTIONKD_NO_PROGRESS", "1")
    out = tmp_path / "t.pt"
    args = ["train-teacher", "--data", str(deap_store), "--out", str(out), "--epochs", "3",
            "--size", "tiny", "--window", "2", "--step", "2"]
    code, cap = _cli(args, capsys)
    assert code == 0, cap.err
    lines = [ln for ln in cap.out.splitlines() if ": epoch " in ln]
    assert [ln.split(": epoch ")[1].split()[0] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert all("train loss" in ln and "val loss" in ln and ln.endswith(" s") for ln in lines)
    assert len((tmp_path / "t.history.csv").read_text().splitlines()) == 1 + 3
    assert f"per-epoch log: {tmp_path / 't.history.csv'}" in cap.out
    pytest.importorskip("tensorboard")  # the optional extra (in dev)
    code, cap = _cli([*args, "--overwrite", "--tensorboard"], capsys)
    assert code == 0, cap.err
    assert len(list((tmp_path / "t.tensorboard").glob("events.out.tfevents.*"))) == 1
    code, cap = _cli([*args, "--overwrite", "--tensorboard", "--epochs", "1"], capsys)
    assert len(list((tmp_path / "t.tensorboard").glob("events.out.tfevents.*"))) == 1  # fresh
    assert len((tmp_path / "t.history.csv").read_text().splitlines()) == 1 + 1


def test_tensorboard_flag_without_the_package_is_refused_before_training(
        deap_store, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out",
                      str(tmp_path / "t.pt"), "--tensorboard"], capsys)
    assert code == 1 and "pip install" in cap.err and len(cap.err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
