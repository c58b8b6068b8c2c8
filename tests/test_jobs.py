"""The jobs (emotionkd.jobs): a teacher learns the synthetic signal."""

from __future__ import annotations

from emotionkd.jobs import train_teacher


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


def _five_point_store(path):
    """An own store rated on 1-5 (a 5-point SAM): 3 subjects × 4 trials of EEG and GSR."""
    import numpy as np

    from emotionkd.ingest import write_store

    rng = np.random.default_rng(0)
    n, k = 3, 4
    gsr = [3 + 0.1 * rng.standard_normal(128 * 8) for _ in range(n * k)]
    eeg = [rng.standard_normal((2, 128 * 8)) for _ in range(n * k)]
    arousal = [1, 2, 4, 5] * n  # no rating above DEAP's 5
    return write_store(path, gsr=gsr, eeg=eeg, eeg_channels=["Fz", "Cz"], fs=128.0,
                       gsr_unit="us", ratings={"arousal": arousal},
                       rating_scales={"arousal": (1, 5)},
                       subjects=[s for s in (1, 2, 3) for _ in range(k)]).out


def test_one_class_targets_are_refused_before_training(tmp_path, deap_store, monkeypatch):
    import pytest

    import emotionkd.training
    from emotionkd.errors import ConfigError

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(emotionkd.training, "fit_model", no_training)
    # issue 27: --threshold 20 on 1-9 ratings
    with pytest.raises(ConfigError, match=r"one class with --threshold 20 .*0 high, \d+ low "
                                          r"trials; the ratings run from .* on a 1-9 scale; "
                                          r"pass --threshold"):
        train_teacher(deap_store, tmp_path / "t.pt", threshold=20, epochs=1)
    # ratings 1-5 with threshold 5: every label low; the fix named is 3
    store = _five_point_store(tmp_path / "five.h5")
    with pytest.raises(ConfigError, match=r"0 high, 8 low trials; .*1-5 scale; pass "
                                          r"--threshold 3"):
        train_teacher(store, tmp_path / "t.pt", threshold=5, epochs=1, val_subjects=[3])
    assert not (tmp_path / "t.pt").exists()


def test_default_threshold_is_the_scale_midpoint_in_every_job(tmp_path):
    from emotionkd.checkpoint import load_checkpoint
    from emotionkd.jobs import distill_student

    store = _five_point_store(tmp_path / "five.h5")
    run = train_teacher(store, tmp_path / "t.pt", epochs=1, val_subjects=[3], size="tiny",
                        batch_size=8)
    assert run.config.data.threshold == 3.0  # the midpoint of 1-5, recorded as used
    assert load_checkpoint(tmp_path / "t.pt")["data"]["threshold"] == 3.0
    s = distill_student(tmp_path / "t.pt", store, tmp_path / "s.pt", epochs=1, batch_size=8)
    assert s.config.data.threshold == 3.0
    assert s.data["train_balance"]["high"] > 0 and s.data["train_balance"]["low"] > 0


def test_distill_with_crossfit_targets_records_the_calibration(deap_store, teacher_ckpt,
                                                               tmp_path, monkeypatch):
    from emotionkd.distill import targets
    from emotionkd.jobs import distill_student

    folds = []
    real = targets.crossfit_logits
    monkeypatch.setattr(targets, "crossfit_logits",
                        lambda *a, **k: folds.append(a[5]) or real(*a, **k))
    run = distill_student(teacher_ckpt, deap_store, tmp_path / "s.pt", method="kd",
                          teacher_targets="crossfit", crossfit_folds=2, calibrate_teacher=True,
                          kd_grid="0.5:2", epochs=1, batch_size=16, lr=1e-3)
    assert folds == [2]  # the teacher's architecture, re-fitted on the training trials
    d = run.distillation
    assert d["teacher_temperature"] > 0 and d["kd_chosen"] == {"kl_weight": 0.5,
                                                               "temperature": 2.0}
    assert run.config.distill.teacher_targets == "crossfit"
