"""The teacher's spectral path (emotionkd/models/spectral.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import welch

from emotionkd.models.spectral import BANDS, LogBandPower, SpectralPath, band_matrix


@pytest.mark.parametrize("fs,seconds", [(128.0, 4.0), (256.0, 2.0), (64.0, 2.5)])
def test_log_band_power_is_welchs(fs, seconds):
    n = int(fs * seconds)
    x = torch.randn(3, 5, n, dtype=torch.float64) * 7.0 + 2.0
    lb = LogBandPower(fs, n).double()
    nperseg = int(fs)
    f, p = welch(x.numpy(), fs=fs, nperseg=nperseg)  # Hann, 50 % overlap, density
    width = f[1] - f[0]
    ref = np.stack([p[..., (f >= lo) & (f < hi)].sum(-1) * width for lo, hi in BANDS], -1)
    # the DFT constants are float32
    np.testing.assert_allclose(lb(x).numpy(), np.log(ref + 1e-6), rtol=1e-6, atol=1e-6)


def test_band_power_ignores_phase_and_sees_each_channel():
    fs, n = 128.0, 512
    t = torch.arange(n) / fs
    phase = torch.rand(8, 1) * 6.3
    x = torch.sin(2 * torch.pi * 20.0 * t + phase)[None]  # same rhythm, random phases
    lb = LogBandPower(fs, n)
    bp = lb(x)[0]
    assert torch.allclose(bp, bp[0:1].expand_as(bp), atol=1e-3)  # phase-invariant
    assert int(bp[0].argmax()) == 2  # beta (13–30 Hz)
    mixed = lb(x.mean(1, keepdim=True))[0, 0]  # mixing first loses power the phases cancel
    assert mixed[2] < bp[0, 2]


def test_band_matrix_gives_empty_bands_the_nearest_bin():
    m = band_matrix(32.0, 32)  # bins 0..16 Hz: gamma (30–45) has none
    assert m[:, 3].sum() == 1 and m[16, 3] == 1  # numpy
    assert m[4:8, 0].sum() == 4 and m[:, 0].sum() == 4


def test_spectral_path_learns_a_per_channel_rhythm_that_mixing_cancels():
    torch.manual_seed(0)
    fs, n, c = 64.0, 128, 6
    y = torch.randint(0, 2, (256,))
    t = torch.arange(n) / fs
    phase = torch.rand(256, c, 1) * 6.3
    amp = (0.3 + 1.2 * y.float())[:, None, None]
    x = amp * torch.sin(2 * torch.pi * 20.0 * t + phase) + torch.randn(256, c, n)
    path = SpectralPath(c, fs, n, 2, dropout=0.0)
    opt = torch.optim.Adam(path.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(path(x), y)
        loss.backward()
        opt.step()
    path.eval()
    assert (path(x).argmax(1) == y).float().mean() > 0.9
    # constants are rebuilt from the config, not stored in state_dict
    assert not any(k.endswith(("cos", "sin", "bands")) for k in path.state_dict())


def test_teacher_default_has_the_path_and_reference_has_none():
    from emotionkd.models import EmotionNetConfig, EmotionNetTeacher

    tiny = dict(d_model=8, n_heads=2, head_dim=4, n_blocks=2, ff_dim=8, classifier_dim=8)
    assert EmotionNetConfig().spectral == "anchored"
    ref = EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=2, n_eeg=3, spectral="none",
                                             **tiny))
    assert ref.spectral is None
    with pytest.raises(Exception, match="spectral"):
        EmotionNetConfig(spectral="wavelets")


def test_old_checkpoints_without_the_key_build_the_reference(tmp_path):
    from emotionkd.checkpoint import _with_compat

    assert _with_compat("emotionnet-teacher", {"head_l2": 1e-3})["spectral"] == "none"
    assert "spectral" not in _with_compat("shallowconvnet", {"head_l2": 1e-3})
    assert _with_compat("emotionnet-teacher", {"head_l2": 0, "spectral": "bands"})[
        "spectral"] == "bands"


TINY = dict(d_model=8, n_heads=2, head_dim=4, n_blocks=2, ff_dim=8, classifier_dim=8)


def _windows(deap_store):
    from emotionkd.config import DataConfig
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(deap_store, DataConfig(window=2, step=1, target="arousal"))
    sub = np.asarray(ds.subjects)
    return ds, ds.subset(np.flatnonzero(sub != 3)), ds.subset(np.flatnonzero(sub == 3))


def _tiny_model(ds, student: bool = False, **config):
    """A seeded tiny teacher (or student) for the windows of ``ds``."""
    from emotionkd.models import EmotionNetConfig, EmotionNetStudent, EmotionNetTeacher

    torch.manual_seed(0)
    cls = EmotionNetStudent if student else EmotionNetTeacher
    return cls(EmotionNetConfig(fs=ds.fs, window_s=ds.window_s, n_eeg=ds.n_eeg, **config,
                                **TINY))


def _anchored_teacher(ds, spectral: str = "anchored"):
    return _tiny_model(ds, spectral=spectral)


def test_anchored_teacher_starts_as_the_band_power_regression(deap_store):
    from sklearn.linear_model import LogisticRegression

    ds, train, val = _windows(deap_store)
    teacher = _anchored_teacher(ds)
    info = teacher.prepare_fit(train, val)
    assert info["C"] in (0.001, 0.01, 0.1, 1.0, 10.0)
    # by hand: the path's own features, standardised on the training windows, the chosen C
    x = teacher.spectral.features(train)
    xs = (x - x.mean(0)) / np.where(x.std(0) > 1e-12, x.std(0), 1.0)
    ref = LogisticRegression(C=info["C"], class_weight="balanced", max_iter=5000).fit(
        xs, train.labels)
    xv = (teacher.spectral.features(val) - x.mean(0)) / np.where(x.std(0) > 1e-12,
                                                                 x.std(0), 1.0)
    teacher.eval()
    eeg, gsr, _ = val.batch(np.arange(len(val)))
    with torch.no_grad():
        logits, _ = teacher(eeg, gsr)
    margin = (logits[:, 1] - logits[:, 0]).numpy()  # the deep classifier adds 0 at the start
    np.testing.assert_allclose(margin, ref.decision_function(xv), rtol=1e-3, atol=1e-3)
    assert "spectral.norm.mean" in teacher.state_dict()  # the statistics travel with it


def test_early_stopping_may_keep_the_anchored_start(deap_store):
    from emotionkd.config import TrainConfig
    from emotionkd.training import SupervisedTask, fit

    ds, train, val = _windows(deap_store)
    teacher = _anchored_teacher(ds, "anchored")
    teacher.prepare_fit(train, val)
    start = {k: v.clone() for k, v in teacher.state_dict().items()}
    assert list(teacher.spectral.linear.parameters()) == []  # fitted buffers, not learned
    # a learning rate that barely moves anything: the start is never beaten by 1e-6, so the
    # epoch kept is 0, the state is the start's, and no "never trained" error is raised
    res = fit(SupervisedTask(teacher), train, val, TrainConfig(epochs=2, lr=1e-12,
                                                                batch_size=16))
    assert res.best_epoch == 0 and np.isfinite(res.best["loss"])
    for k, v in teacher.state_dict().items():
        if v.dtype.is_floating_point and "running" not in k and "num_batches" not in k:
            torch.testing.assert_close(v, start[k], rtol=0, atol=1e-6)


@pytest.mark.parametrize("fs,n", [(128.0, 512), (64.0, 256), (4.0, 12)])
def test_skin_conductance_features_are_the_yardsticks(fs, n):
    from emotionkd.features import gsr_features
    from emotionkd.models.spectral import SkinConductanceFeatures

    rng = np.random.default_rng(1)
    t = np.arange(n) / fs
    g = np.cumsum(rng.normal(0, 0.05, (12, n)), 1) + 3 + 0.5 * np.sin(t)[None]
    g[0] = 3.0  # flat: no response at all
    ref = gsr_features(g, fs)
    got = SkinConductanceFeatures(fs, n).double()(torch.tensor(g)[:, None]).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    assert ref[1:, 2].min() >= 1 and got[0, 2] == 0  # responses counted; none when flat


def test_anchored_start_predicts_as_the_eeg_features_yardstick(deap_store):
    from emotionkd.models.classical import FeatureLogReg

    ds, train, val = _windows(deap_store)
    teacher = _anchored_teacher(ds)
    info = teacher.prepare_fit(train, val)
    yardstick = FeatureLogReg("eeg-features")
    assert yardstick.fit(train, val)["C"] == info["C"]
    teacher.eval()
    eeg, gsr, _ = val.batch(np.arange(len(val)))
    with torch.no_grad():
        p = torch.softmax(teacher(eeg, gsr)[0], 1).numpy()
    np.testing.assert_allclose(p, yardstick.predict_proba(val), atol=2e-3)



def _anchored_student(ds):
    return _tiny_model(ds, student=True, gsr_anchor=True)


def test_anchored_student_starts_as_the_gsr_features_yardstick(deap_store):
    from emotionkd.models.classical import FeatureLogReg

    ds, train, val = _windows(deap_store)
    student = _anchored_student(ds)
    assert student.starts_fitted and student.lr_scale == 0.1
    info = student.prepare_fit(train, val)
    yardstick = FeatureLogReg("gsr-features")
    assert yardstick.fit(train, val)["C"] == info["C"]
    student.eval()
    _, gsr, _ = val.batch(np.arange(len(val)), eeg=False)
    with torch.no_grad():
        p = torch.softmax(student(gsr)[0], 1).numpy()
    np.testing.assert_allclose(p, yardstick.predict_proba(val), atol=2e-3)
    # soft targets equal to the hard labels give the same class-balanced regression
    hard = student.anchor.linear.weight.clone()
    student.prepare_fit(train, val, soft=np.asarray(train.labels, dtype=float))
    torch.testing.assert_close(student.anchor.linear.weight, hard, rtol=1e-3, atol=1e-3)
    # soft targets move it: the regression of the flipped labels points the other way
    student.prepare_fit(train, val, soft=1.0 - np.asarray(train.labels, dtype=float))
    assert float((student.anchor.linear.weight[1] * hard[1]).sum()) < 0


def test_anchor_targets_mix_labels_and_teacher_by_the_methods_weights(deap_store):
    from conftest import method_object

    from emotionkd.distill.trainer import anchor_targets

    ds, train, _ = _windows(deap_store)
    z = torch.randn(len(train), 2)
    p = torch.softmax(z, 1)[:, 1].numpy()
    y = np.asarray(train.labels, dtype=float)
    kd = method_object("kd")  # CE 0.1, KL 0.9
    np.testing.assert_allclose(anchor_targets(None, kd, train, z, 1.0), 0.1 * y + 0.9 * p,
                               rtol=1e-6)
    np.testing.assert_allclose(anchor_targets(None, kd, train, 2 * z, 2.0),
                               0.1 * y + 0.9 * p, rtol=1e-5)  # calibration divides first
    assert anchor_targets(None, method_object("fitnets"), train, z, 1.0) is None  # no KL term
