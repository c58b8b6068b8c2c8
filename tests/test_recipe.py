"""Architecture options beyond the reference (power stem, pre-norm, mean pooling) and the
training recipe (schedule, label smoothing, class-balanced validation, random crops)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emotionkd.config import DataConfig
from emotionkd.errors import ConfigError
from emotionkd.models.layers import Classifier, PowerHead, TransformerBlock
from emotionkd.models.registry import build_model, default_config
from emotionkd.store import open_store
from emotionkd.training import TrainConfig, lr_factor, nll
from emotionkd.windows import WindowDataset

TINY = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
        "classifier_dim": 8}


def test_power_head_is_log_band_power_on_the_conv_token_grid():
    torch.manual_seed(0)
    head = PowerHead(n_channels=3, taps=33, pool=32, stride=8, n_filters=4, d_model=8,
                     dropout=0.0).eval()
    x = torch.randn(2, 3, 512)
    tokens = head(x)
    assert tokens.shape == (2, (512 - 32) // 8 + 1, 8)  # the ConvHead's 61 tokens
    # doubling the signal adds log 4 to every log power: after the BatchNorm and the linear
    # mixing that is one fixed shift of every token
    shift = head(2 * x) - tokens
    torch.testing.assert_close(shift, shift[:1, :1].expand_as(shift), atol=1e-4, rtol=0)
    w = head.spatial.weight / torch.sqrt(head.bn.bn.running_var + head.bn.bn.eps)[None, :]
    torch.testing.assert_close(shift[0, 0], w.sum(1) * math.log(4), atol=1e-4, rtol=1e-4)


def test_pre_norm_block_keeps_the_scale_post_norm_removes_it():
    torch.manual_seed(0)
    post = TransformerBlock(8, 2, 4, 8, 0.0).eval()
    pre = TransformerBlock(8, 2, 4, 8, 0.0, norm_first=True).eval()
    pre.load_state_dict(post.state_dict())
    x = torch.randn(1, 5, 8)
    with torch.no_grad():
        # post-norm: every output token has unit spread whatever the input's scale
        assert post(10 * x).std(-1, unbiased=False).mean() == pytest.approx(1.0, abs=0.01)
        assert pre(10 * x).std(-1).mean() > 5 * pre(x).std(-1).mean()


def test_mean_pooled_classifier_reads_segment_means():
    clf = Classifier(2 * 3 * 4, 6, 2, 0.0, pool="mean", groups=2, tokens=14,
                     segments=3).eval()
    tokens = torch.randn(3, 14, 4)
    halves = tokens[:, :7], tokens[:, 7:]
    runs = [(0, 2), (2, 5), (5, 7)]  # 7 tokens in 3 nearly equal consecutive runs
    expect = torch.stack([h[:, a:b].mean(1) for h in halves for a, b in runs], 1).flatten(1)
    torch.testing.assert_close(clf.features(tokens), expect)
    clf = Classifier(2 * 4, 6, 2, 0.0, pool="mean", groups=2, tokens=10).eval()
    tokens = torch.randn(3, 10, 4)
    feats = clf.features(tokens)
    torch.testing.assert_close(feats, torch.cat([tokens[:, :5].mean(1), tokens[:, 5:].mean(1)],
                                                1))
    # position-free: shuffling tokens within a group changes nothing
    perm = torch.cat([torch.randperm(5), 5 + torch.randperm(5)])
    torch.testing.assert_close(clf(tokens[:, perm]), clf(tokens))


@pytest.mark.parametrize("name", ["emotionnet-teacher", "emotionnet-student", "concat"])
def test_spectral_options_build_train_and_penalise_their_heads(name):
    over = {**TINY, "study": {"eeg_stem": "power", "norm_first": True,
                              "classifier_pool": "mean"}}
    m = build_model(name, default_config(name, 64, 2, 4, over))
    eeg, gsr = torch.randn(4, 4, 128), torch.randn(4, 1, 128)
    logits, feats = m(gsr) if name == "emotionnet-student" else m(eeg, gsr)
    assert logits.shape == (4, 2)
    assert feats.shape[1] == (1 if name == "emotionnet-student" else 2) * m.config.n_tokens
    logits.sum().backward()
    assert all(p.grad is not None for n, p in m.named_parameters()
               if not n.endswith(("k.bias", "temporal.bias")))
    if name != "emotionnet-student":
        assert isinstance(m.eeg_head, PowerHead)
        # the power head's kernels are in the L2 penalty like the conv stem's
        m.zero_grad()
        m.head_l2_penalty().backward()
        assert m.eeg_head.temporal.weight.grad.abs().sum() > 0


def test_config_rejects_bad_options():
    for bad in ({"eeg_stem": "fft"}, {"classifier_pool": "max"}, {"norm_first": "yes"},
                {"power_filters": 0}, {"stem": "conv"}):
        with pytest.raises(ConfigError, match="model.study: "):
            default_config("emotionnet-teacher", 64, 2, 4, {**TINY, "study": bad})
    with pytest.raises(ConfigError, match="unknown setting.*eeg_stem"):  # a study option
        default_config("emotionnet-teacher", 64, 2, 4, {**TINY, "eeg_stem": "power"})


def test_study_options_are_a_sub_table_of_the_model(tmp_path):
    """[model.study] in a file, study= in the API; --print-config writes it back."""
    from emotionkd.config import resolve_config

    f = tmp_path / "s.toml"
    f.write_text('[model]\nsize = "tiny"\n[model.study]\nclassifier_pool = "mean"\n')
    cfg = resolve_config("train-teacher", config=f)
    assert cfg.model.overrides()["study"] == {"classifier_pool": "mean"}
    study = cfg.resolved("train-teacher")["model"]["study"]
    assert study == {"eeg_stem": "conv", "power_filters": 8, "norm_first": False,
                     "classifier_pool": "mean", "classifier_segments": 1}
    text = cfg.to_toml("train-teacher")
    assert '[model.study]\neeg_stem = "conv"' in text
    printed = tmp_path / "p.toml"
    printed.write_text(text)
    assert resolve_config("train-teacher", config=printed).resolved("train-teacher") == \
        cfg.resolved("train-teacher")
    assert resolve_config("train-teacher", {"study": {"norm_first": True}}).resolved(
        "train-teacher")["model"]["study"]["norm_first"] is True


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


def test_random_crop_stays_inside_the_trial(deap_store):
    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2))
    idx = np.arange(len(ds))
    big = np.full(len(ds), 10_000)
    _, g_end, _ = ds.batch(idx, shift=big)
    _, g_start, _ = ds.batch(idx, shift=-big)
    begin, end = ds._segments
    owner = ds.window_trial
    # clipped to the last / first window of each trial
    last = ds.batch(idx, shift=(end[owner] - ds.window_samples) - ds.starts)[1]
    first = ds.batch(idx, shift=begin[owner] - ds.starts)[1]
    torch.testing.assert_close(g_end, last)
    torch.testing.assert_close(g_start, first)
    _, g0, _ = ds.batch(idx, shift=np.zeros(len(ds), dtype=int))
    torch.testing.assert_close(g0, ds.batch(idx)[1])
