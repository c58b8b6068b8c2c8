"""Distillation: losses against hand-computed values, the pilot step, the exact meta-gradient,
and the distill command."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import run_cli as _cli

from emotionkd.config import DistillConfig, FeedbackConfig
from emotionkd.distill.feedback import FeedbackUpdater, pilot_quiz_loss
from emotionkd.distill.losses import HintAdapter, hint_mse, map_teacher_tokens, soft_kl
from emotionkd.distill.methods import Outputs, method_class
from emotionkd.errors import ConfigError
from emotionkd.models import EmotionNetConfig, EmotionNetStudent, EmotionNetTeacher

TINY = dict(d_model=8, n_heads=2, head_dim=4, n_blocks=2, ff_dim=8, classifier_dim=8)


def test_soft_kl_matches_hand_computation():
    z_s = torch.tensor([[1.0, -1.0], [0.5, 0.0]])
    z_t = torch.tensor([[2.0, 0.0], [-1.0, 1.0]])

    def kl(zs, zt, t):
        ps = np.exp(zs / t) / np.exp(zs / t).sum()
        pt = np.exp(zt / t) / np.exp(zt / t).sum()
        return float((pt * np.log(pt / ps)).sum())

    for t in (1.0, 4.0):
        expect = t * t * np.mean([kl(z_s[i].numpy(), z_t[i].numpy(), t) for i in range(2)])
        assert soft_kl(z_s, z_t, t).item() == pytest.approx(expect, rel=1e-5)
    assert soft_kl(z_t, z_t, 3.0).item() == pytest.approx(0.0, abs=1e-7)


def test_hint_mapping_and_mse():
    f_t = torch.arange(2 * 4 * 3, dtype=torch.float32).view(2, 4, 3)  # 2L = 4 tokens
    assert torch.equal(map_teacher_tokens(f_t, 2, "eeg"), f_t[:, :2])
    assert torch.equal(map_teacher_tokens(f_t, 2, "gsr"), f_t[:, 2:])
    assert torch.equal(map_teacher_tokens(f_t, 2, "fold"), f_t[:, :2] + f_t[:, 2:])
    f_s = torch.ones(2, 2, 3)
    expect = float(((f_t[:, :2] + f_t[:, 2:] - 1.0) ** 2).mean())
    ad = HintAdapter(3, 3)  # starts as the identity
    assert hint_mse(f_s, f_t, ad, "fold").item() == pytest.approx(expect)
    with pytest.raises(ConfigError, match="expected 2 × 3"):
        map_teacher_tokens(f_t, 3, "fold")
    with pytest.raises(ConfigError, match="--hint-map"):
        map_teacher_tokens(f_t, 2, "both")


def _method(name: str = "emotionkd", **settings):
    """The configured method object, as a [distill] table with ``settings`` gives it."""
    return DistillConfig(method=name, **settings).method_object()


def test_method_presets_and_objective():
    assert _method().params == {"ce_weight": 1.0, "kl_weight": 0.1, "hint_weight": 1.0,
                                "temperature": 1.0, "hint_map": "fold"}
    kd = _method("kd").params
    assert (kd["ce_weight"], kd["kl_weight"], kd["hint_weight"], kd["temperature"]) == \
        (0.1, 0.9, 0.0, 4.0)
    assert _method("fitnets").params["kl_weight"] == 0
    assert _method("none").params["hint_weight"] == 0 and _method("none").alone
    assert _method(kl_weight=0.5, hint_map="gsr").params["kl_weight"] == 0.5
    assert _method("kd").needs() == {"logits"} and _method("fitnets").needs() == {"features"}
    with pytest.raises(ConfigError, match="--method"):
        _method("crd")
    with pytest.raises(ConfigError, match="--temperature must be a finite number above 0"):
        _method("kd", temperature=0)
    with pytest.raises(ConfigError, match="--hint-map must be one of fold, gsr, eeg"):
        _method("kd", hint_map="both")
    z_s = torch.tensor([[0.2, -0.1]])
    z_t = torch.tensor([[1.0, 0.0]])
    y = torch.tensor([1])
    f_s, f_t = torch.zeros(1, 2, 3), torch.ones(1, 4, 3)
    w = method_class("emotionkd")({"ce_weight": 1.0, "kl_weight": 0.1, "hint_weight": 1.0})
    total, terms = w.loss(Outputs(y, z_s, f_s, z_t, f_t), None)
    ce = -math.log(math.exp(-0.1) / (math.exp(0.2) + math.exp(-0.1)))
    assert terms["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert terms["hint"].item() == pytest.approx(4.0)  # fold: 1 + 1 = 2, squared
    assert total.item() == pytest.approx(ce + 0.1 * terms["kl"].item() + 4.0, rel=1e-6)
    _, only_ce = _method("none").loss(Outputs(y, z_s, f_s, z_t, f_t), None)
    assert set(only_ce) == {"ce"}


def _pair(dtype=torch.float32):
    torch.manual_seed(0)
    cfg = EmotionNetConfig(fs=32, window_s=2, n_eeg=3, dropout=0.0, head_dropout=0.0,
                           classifier_dropout=0.0, **TINY)
    t, s = EmotionNetTeacher(cfg).to(dtype), EmotionNetStudent(cfg).to(dtype)
    return t, s


def _batch(n, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, 64, generator=g, dtype=dtype),
            torch.randn(n, 1, 64, generator=g, dtype=dtype),
            torch.randint(0, 2, (n,), generator=g))


def test_pilot_step_leaves_the_real_student_untouched():
    t, s = _pair()
    s.train()
    before = {k: v.clone() for k, v in s.state_dict().items()}
    eeg, gsr, y = _batch(8)
    _, qg, qy = _batch(8, seed=2)
    upd = FeedbackUpdater(t, s, HintAdapter(8, 8), _method(), FeedbackConfig(teacher_lr=1e-3))
    t_before = {k: v.clone() for k, v in t.state_dict().items()}
    upd.step(eeg, gsr, y, qg, qy)
    after = s.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # params AND BN buffers
    assert all(p.grad is None for p in s.parameters())
    assert s.training  # mode restored
    changed = [k for k in t_before if not torch.equal(t_before[k], t.state_dict()[k])]
    assert changed  # the teacher did learn


def test_meta_gradient_matches_finite_differences():
    """d/dθ_t of the pilot's quiz CE through one SGD step, against central differences."""
    t, s = _pair(torch.float64)
    t.eval()
    s.train()
    adapter = HintAdapter(8, 8).double()
    w = _method(kl_weight=0.5)
    eeg, gsr, y = _batch(6, torch.float64)
    _, qg, qy = _batch(6, torch.float64, seed=3)
    lr = 0.5

    def quiz() -> torch.Tensor:
        q, _, _ = pilot_quiz_loss(t, s, adapter, w, eeg, gsr, y, qg, qy, lr)
        return q

    params = [p for p in t.parameters()]
    grads = torch.autograd.grad(quiz(), params, allow_unused=True)
    g_flat = torch.cat([(torch.zeros_like(p) if g is None else g).flatten()
                        for p, g in zip(params, grads)])
    assert g_flat.abs().sum() > 0, "the meta-gradient must reach the teacher"
    rng = torch.Generator().manual_seed(5)
    direction = [torch.randn(p.shape, generator=rng, dtype=torch.float64) for p in params]
    eps = 1e-5

    def shift(scale: float) -> None:
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(scale * eps * d)

    shift(1.0)
    plus = quiz().item()
    shift(-2.0)
    minus = quiz().item()
    shift(1.0)
    fd = (plus - minus) / (2 * eps)
    analytic = float(sum((g * d).sum() for g, d in zip(grads, direction) if g is not None))
    assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-9)
    # the student-side term alone (no teacher CE) is nonzero: feedback really flows
    assert abs(analytic) > 1e-8


def test_feedback_config_validation():
    with pytest.raises(ConfigError):
        FeedbackConfig(pilot_lr=0)
    with pytest.raises(ConfigError, match="--feedback-every must be a whole number of at least 1"):
        FeedbackConfig(feedback_every=0)


@pytest.fixture(scope="module")
def teacher_ckpt(deap_store, tmp_path_factory):
    from emotionkd.jobs import train_teacher

    out = tmp_path_factory.mktemp("t") / "t.pt"
    train_teacher(deap_store, out, window=2, step=2, epochs=2, batch_size=16, lr=1e-3, seed=0,
                  val_subjects=[2], test_subjects=[3], **TINY)
    return out


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


def test_student_init_from_teacher_copies_the_gsr_stream():
    from emotionkd.distill.trainer import init_student_from_teacher

    t, s = _pair()
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
        task = trainer.DistillTask(build_from_checkpoint(ck), student, _method(),
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
