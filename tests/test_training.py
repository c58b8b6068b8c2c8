"""The fit loop, checkpoints, configs and `train-teacher`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emotionkd.config import DataConfig, ModelConfig
from emotionkd.errors import ConfigError
from emotionkd.models.registry import build_model, default_config
from emotionkd.store import open_store
from emotionkd.training import SupervisedTask, TrainConfig, evaluate_task, fit, lr_factor, nll
from emotionkd.windows import WindowDataset


def test_lr_schedule_warms_up_then_decays():
    f = [lr_factor("cosine", s, 100, 10) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[-1] == pytest.approx(0.05, abs=1e-3)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert [lr_factor("constant", s, 100, 0) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(schedule="step")
    with pytest.raises(ConfigError, match="--label-smoothing must be .* below 1"):
        TrainConfig(label_smoothing=1.0)


def test_balanced_nll_weights_classes_equally():
    y = np.array([0, 0, 0, 1])
    p = np.array([[0.9, 0.1]] * 3 + [[0.5, 0.5]])
    per = -np.log([0.9, 0.9, 0.9, 0.5])
    assert nll(y, p) == pytest.approx(per.mean())
    assert nll(y, p, balanced=True) == pytest.approx((per[:3].mean() + per[3]) / 2)


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
