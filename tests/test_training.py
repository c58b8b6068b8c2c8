"""The fit loop, checkpoints, configs and `train-teacher`."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import run_cli as _cli

from emotionkd.checkpoint import (
    build_from_checkpoint,
    check_data_compatible,
    load_checkpoint,
)
from emotionkd.config import DataConfig, ModelConfig, read_config_file, resolve_config
from emotionkd.errors import CheckpointError, ConfigError
from emotionkd.jobs import train_teacher
from emotionkd.models.registry import build_model, default_config
from emotionkd.store import open_store
from emotionkd.training import SupervisedTask, TrainConfig, evaluate_task, fit
from emotionkd.validation import parse_subjects
from emotionkd.windows import WindowDataset

TINY = {"size": "tiny"}


def _tiny_student(ds):
    cfg = default_config("emotionnet-student", ds.fs, ds.window_s, ds.n_eeg,
                         ModelConfig(**TINY).overrides())
    torch.manual_seed(0)
    return build_model("emotionnet-student", cfg)


def test_fit_is_deterministic_and_restores_best(deap_store):
    spec = DataConfig(window=2, step=2)
    ds = WindowDataset(open_store(deap_store), spec)
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    cfg = TrainConfig(epochs=4, batch_size=16, lr=1e-3, patience=0, seed=3)
    states = []
    for _ in range(2):
        m = _tiny_student(ds)
        task = SupervisedTask(m)
        res = fit(task, train, val, cfg)
        states.append({k: v.clone() for k, v in m.state_dict().items()})
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert res.epochs_run == 4 and 1 <= res.best_epoch <= 4
    # the restored model is the best epoch's: its validation loss equals the recorded best
    again = evaluate_task(task, val, torch.device("cpu"), 512)
    assert again["loss"] == pytest.approx(res.best["loss"], rel=1e-5)
    best_loss = min(h["val_loss"] for h in res.history)
    assert res.best["loss"] == pytest.approx(best_loss)


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_chooses_the_epoch_and_on_epoch_sees_every_epoch(deap_store, keep):
    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    seen: dict[int, dict] = {}

    def on_epoch(epoch, task):
        seen[epoch] = {k: v.clone() for k, v in task.model.state_dict().items()}

    m = _tiny_student(ds)
    cfg = TrainConfig(epochs=4, batch_size=16, lr=1e-2, seed=1, keep=keep)
    res = fit(SupervisedTask(m), train, val, cfg, on_epoch=on_epoch)
    assert sorted(seen) == [1, 2, 3, 4]
    losses = [h["val_loss"] for h in res.history]
    best = int(np.argmin(losses)) + 1
    assert best != 4, "the setting must give a best epoch before the last to tell them apart"
    kept = best if keep == "best" else 4
    assert res.best_epoch == kept
    assert res.best["loss"] == pytest.approx(losses[kept - 1])
    final = m.state_dict()
    assert all(torch.equal(final[k], seen[kept][k]) for k in final)
    other = 4 if keep == "best" else best  # the rule not chosen gives other weights
    assert not all(torch.equal(final[k], seen[other][k]) for k in final)


def test_early_stopping_stops(deap_store):
    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2))
    m = _tiny_student(ds)
    cfg = TrainConfig(epochs=30, batch_size=16, lr=1e-2, patience=2, seed=0)
    res = fit(SupervisedTask(m), ds.select_subjects([1, 2]), ds.select_subjects([3]), cfg)
    assert res.stopped_early and res.epochs_run == res.best_epoch + 2


def test_training_learns_the_synthetic_signal(tmp_path):
    # the teacher must learn arousal from EEG well above chance on held-out subjects
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.preprocess import preprocess_deap

    write_deap(tmp_path / "raw", n_subjects=5, n_trials=10, seconds=16, seed=11)
    st = preprocess_deap(tmp_path / "raw", tmp_path / "d.h5").out
    run = train_teacher(st, window=2, step=2, epochs=20, batch_size=16, lr=1e-3, patience=6,
                        seed=0, d_model=16, n_heads=2, head_dim=8, n_blocks=2, ff_dim=16,
                        classifier_dim=32, val_subjects=[4], test_subjects=[5])
    # over seeds 0–5: AUC 0.85–0.93, balanced accuracy 0.76–0.89 on the held-out subject. With
    # fewer optimiser steps (batch 32, 12 epochs: under 100 steps) the outcome hinged on the seed.
    assert run.test_metrics["roc_auc"] > 0.8
    assert run.test_metrics["balanced_accuracy"] > 0.65
    assert run.test_metrics["accuracy"] > run.test_metrics["majority_baseline"] + 0.1


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


def test_config_file_precedence_and_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('target = "valence"\n[train]\nepochs = 7\nlr = 0.01\n[model]\nd_model = 16\n')
    values = {k: v for k, (v, _) in read_config_file(cfg).items()}
    assert values == {"target": "valence", "epochs": 7, "lr": 0.01, "d_model": 16}
    out = resolve_config("train-teacher", {"lr": 0.5, "epochs": None}, cfg)
    assert (out.data.target, out.train.epochs, out.train.lr) == ("valence", 7, 0.5)
    assert out.model.architecture == {"d_model": 16} and out.train.patience == 0  # default
    bad = tmp_path / "bad.toml"
    bad.write_text("epochz = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: unknown key 'epochz' .did you mean epochs"):
        resolve_config("train-teacher", {}, bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("epochs = [\n")
    with pytest.raises(ConfigError, match="broken.toml: invalid TOML"):
        read_config_file(broken)
    assert parse_subjects("1,3-5", "--x") == [1, 3, 4, 5]
    with pytest.raises(ConfigError, match="--x: cannot read"):
        parse_subjects("a-b", "--x")


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


def test_models_command(capsys):
    code, cap = _cli(["models"], capsys)
    assert code == 0 and "993,986" in cap.out and "2,047,490" in cap.out


def test_window_labels_used_for_class_weights(deap_store):
    from emotionkd.training import class_weights

    w = class_weights(np.array([0, 0, 0, 1]), "balanced")
    assert torch.allclose(w, torch.tensor([4 / 6, 4 / 2]))
    assert class_weights(np.array([0, 1]), "none") is None


def test_cpu_allocator_tuning_is_applied_once_on_glibc():
    import platform
    import sys

    from emotionkd.training import tune_cpu_allocator

    first = tune_cpu_allocator()
    hits = tune_cpu_allocator.cache_info().hits
    assert tune_cpu_allocator() == first  # one decision per process: the call is cached
    assert tune_cpu_allocator.cache_info().hits == hits + 1
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert first is True
