"""Fitting a student (emotionkd.distill.trainer): initialisation from the teacher, cached
teacher outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY, method_object, teacher_student_pair

from emotionkd.models import EmotionNetConfig, EmotionNetStudent


def test_student_init_from_teacher_copies_the_gsr_stream():
    from emotionkd.distill.trainer import init_student_from_teacher

    t, s = teacher_student_pair()
    n = init_student_from_teacher(s, t)
    ts, ss = t.state_dict(), s.state_dict()
    assert n > 0 and all(torch.equal(ts[k], ss[k]) for k in ss
                         if k.startswith(("gsr_head.", "gsr_encoder.")))


def test_cached_teacher_outputs_train_like_the_live_teacher(deap_store, teacher_ckpt):
    # without feedback the frozen teacher's outputs are computed once; training then matches
    # running the teacher on every batch (same batches, same losses, same student)
    from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
    from emotionkd.config import DataConfig
    from emotionkd.distill import trainer
    from emotionkd.store import open_store
    from emotionkd.training import TrainConfig, fit
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    cfg = TrainConfig(epochs=2, batch_size=8, lr=1e-3, seed=0)
    ck = load_checkpoint(teacher_ckpt)
    results = []
    for cache in (True, False):
        torch.manual_seed(0)
        student = EmotionNetStudent(EmotionNetConfig(fs=ds.fs, window_s=2, **TINY))
        task = trainer.DistillTask(build_from_checkpoint(ck), student, method_object(),
                                   cache_teacher=cache)
        res = fit(task, train, val, cfg)
        assert (task._cache is not None) == cache and task.batch_eeg != cache
        _, gsr, _ = val.batch(np.arange(len(val)))
        with torch.no_grad():
            results.append((res, student.eval()(gsr)[0]))
    (r1, z1), (r2, z2) = results
    for a, b in zip(r1.history, r2.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        # eval mode is looser: biases in front of BatchNorm get only rounding noise as
        # gradient, which Adam turns into lr-sized steps that the running means follow late
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=2e-3)
    torch.testing.assert_close(z1, z2, rtol=2e-3, atol=2e-3)
    # the cache holds the eval-mode teacher's outputs of every training window
    teacher = build_from_checkpoint(ck).eval()
    z, f = trainer.teacher_outputs(teacher, train, torch.device("cpu"), batch_size=5)
    eeg, gsr, _ = train.batch(np.arange(len(train)))
    with torch.no_grad():
        z_ref, f_ref = teacher(eeg, gsr)
    torch.testing.assert_close(z, z_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f, f_ref, rtol=1e-5, atol=1e-5)
    # over the memory cap the teacher runs on every batch instead
    old = trainer.TEACHER_CACHE_MAX_BYTES
    trainer.TEACHER_CACHE_MAX_BYTES = 10
    try:
        assert trainer.teacher_outputs(teacher, train, torch.device("cpu")) is None
    finally:
        trainer.TEACHER_CACHE_MAX_BYTES = old


def _student_job(deap_store, teacher_ckpt, **distill):
    from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
    from emotionkd.config import DataConfig, resolve_config
    from emotionkd.models.registry import config_for, distilled_student
    from emotionkd.store import open_store
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2), load_eeg=True)
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    cfg = resolve_config("evaluate", {"epochs": 1, "batch_size": 8, "lr": 1e-3, "feedback": False,
                                     **TINY, **distill}).for_data(len(train))
    teacher = build_from_checkpoint(load_checkpoint(teacher_ckpt))
    s_cfg = config_for(distilled_student(), ds.fs, 2.0, ds.n_eeg, cfg.model.overrides())
    return teacher, s_cfg, train, val, cfg


def test_kd_grid_trains_one_student_per_pair_and_keeps_the_best(deap_store, teacher_ckpt,
                                                                 monkeypatch):
    from emotionkd.distill import trainer

    teacher, s_cfg, train, val, cfg = _student_job(deap_store, teacher_ckpt, method="kd",
                                                   kd_grid="0.2:1,0.9:4")
    scores, passes = [], []
    real, outputs = trainer._selection_score, trainer.teacher_outputs
    monkeypatch.setattr(trainer, "_selection_score",
                        lambda res, monitor: scores.append(real(res, monitor)) or scores[-1])
    monkeypatch.setattr(trainer, "teacher_outputs",
                        lambda *a, **k: passes.append(1) or outputs(*a, **k))
    res = trainer.fit_student(teacher, s_cfg, train, val, cfg, seed=0)
    assert len(scores) == 2
    assert len(passes) == 1  # the frozen teacher ran over the training windows once for both
    assert res.chosen == [(0.2, 1.0), (0.9, 4.0)][int(np.argmax(scores))]
    assert (res.method.params["kl_weight"], res.method.params["temperature"]) == res.chosen
    assert -res.fit.best["loss"] == pytest.approx(max(scores))
    # no grid: the method's own values
    teacher, s_cfg, train, val, cfg = _student_job(deap_store, teacher_ckpt, method="kd")
    assert trainer.fit_student(teacher, s_cfg, train, val, cfg, seed=0).chosen is None


def test_calibration_divides_the_teachers_logits(deap_store, teacher_ckpt):
    from emotionkd.distill import trainer
    from emotionkd.distill.targets import fit_temperature, model_logits

    teacher, s_cfg, train, val, cfg = _student_job(deap_store, teacher_ckpt, method="kd",
                                                   calibrate_teacher=True)
    targets, scale = trainer.soft_targets(teacher, train, val, cfg, seed=0)
    assert targets is None
    assert scale == fit_temperature(model_logits(teacher, val), val.labels)
    res = trainer.fit_student(teacher, s_cfg, train, val, cfg, seed=0)
    assert res.logit_scale == scale
    # a method without the KL term has nothing to calibrate
    _, _, _, _, fit_cfg = _student_job(deap_store, teacher_ckpt, method="fitnets",
                                       calibrate_teacher=True)
    assert trainer.soft_targets(teacher, train, val, fit_cfg, seed=0) == (None, 1.0)


def test_given_targets_replace_the_teachers_logits(deap_store, teacher_ckpt):
    from emotionkd.distill import trainer
    from emotionkd.distill.methods import Outputs

    teacher, s_cfg, train, val, cfg = _student_job(deap_store, teacher_ckpt, method="kd")
    targets = torch.zeros(len(train), 2)
    targets[:, 1] = 3.0
    seen = []

    class Spy(type(cfg.distill.method_object())):
        def loss(self, out: Outputs, state):
            seen.append(out.teacher_logits.clone())
            return super().loss(out, state)

    student = EmotionNetStudent(EmotionNetConfig(**s_cfg))
    task = trainer.DistillTask(teacher, student, Spy(cfg.distill.params()), targets=targets,
                               logit_scale=2.0)
    from emotionkd.training import fit

    fit(task, train, val, cfg.train)
    assert seen and all(torch.allclose(z, torch.tensor([0.0, 1.5]).expand_as(z)) for z in seen)


@pytest.mark.parametrize("method", ["none", "kd"])
def test_an_anchored_student_fits_its_regression_to_what_the_method_imitates(
        deap_store, teacher_ckpt, method, monkeypatch):
    from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
    from emotionkd.config import DataConfig
    from emotionkd.config.experiment import ExperimentConfig
    from emotionkd.distill.trainer import anchor_targets, fit_student
    from emotionkd.models.spectral import GsrAnchor
    from emotionkd.store import open_store
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    cfg = ExperimentConfig.from_tables(
        {"distill": {"method": method, "feedback": False},
         "train": {"epochs": 1, "batch_size": 8, "lr": 1e-12}}, "test")
    teacher = build_from_checkpoint(load_checkpoint(teacher_ckpt))
    s_cfg = EmotionNetConfig(fs=ds.fs, window_s=2, gsr_anchor=True, **TINY).as_dict()
    from emotionkd.distill import targets, trainer

    passes, outputs = [], trainer.teacher_outputs
    monkeypatch.setattr(trainer, "teacher_outputs",
                        lambda *a, **k: passes.append(1) or outputs(*a, **k))
    monkeypatch.setattr(targets, "model_logits", lambda *a: pytest.fail("a second pass"))
    res = fit_student(None if method == "none" else teacher, s_cfg, train, val, cfg, seed=0)
    monkeypatch.undo()
    assert len(passes) == (method == "kd")  # the anchor's mix and the KL term share one pass
    # by hand: the same anchor fitted on the labels (none) or on the mix kd imitates
    ref = GsrAnchor(ds.fs, res.student.config.n_samples, 2)
    soft = None if method == "none" else anchor_targets(teacher, res.method, train, None, 1.0)
    ref.anchor(train, val, soft)
    torch.testing.assert_close(res.student.anchor.linear.weight, ref.linear.weight,
                               rtol=1e-4, atol=1e-5)
    assert res.fit.best_epoch == 0  # lr 1e-12: the fitted start is kept
    if method == "kd":  # the teacher's probabilities moved the regression off the labels'
        plain = GsrAnchor(ds.fs, res.student.config.n_samples, 2)
        plain.anchor(train, val)
        assert not torch.allclose(plain.linear.weight, ref.linear.weight, atol=1e-3)
