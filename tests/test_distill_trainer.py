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
