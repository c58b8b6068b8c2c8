"""The layers (emotionkd.models.layers): attention, normalisation, score blocks, the IMF, the
power stem, pre-norm blocks and the mean-pooled classifier."""

from __future__ import annotations

import math

import pytest
import torch

from emotionkd.models import (
    EmotionNetConfig,
    EmotionNetStudent,
)
from emotionkd.models.layers import (
    Classifier,
    InterModalityFusion,
    MultiHeadSelfAttention,
    PowerHead,
    ScoreGenerationBlock,
    TokenBatchNorm,
    TransformerBlock,
)

#: a tiny EmotionNet for tests that do not need the full size
TINY = {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 3, "ff_dim": 16,
        "classifier_dim": 16}


def test_attention_heads_have_their_own_width():
    att = MultiHeadSelfAttention(d_model=64, n_heads=8, head_dim=64)
    assert att.inner_dim == 512 and att.q.weight.shape == (512, 64)
    assert att.out.weight.shape == (64, 512)
    assert sum(p.numel() for p in att.parameters()) == 132_672  # Keras MHA(8, key_dim=64)
    att = MultiHeadSelfAttention(d_model=16, n_heads=4, head_dim=32)
    assert att.q.weight.shape == (128, 16)
    s = EmotionNetStudent(EmotionNetConfig())
    assert s.gsr_encoder.blocks[0].attn.inner_dim == 512


def test_attention_matches_per_head_formula():
    torch.manual_seed(0)
    att = MultiHeadSelfAttention(d_model=6, n_heads=3, head_dim=4)
    x = torch.randn(2, 5, 6)
    q, k, v = att.q(x), att.k(x), att.v(x)
    heads = []
    for h in range(3):
        sl = slice(4 * h, 4 * (h + 1))
        a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) / 2.0, dim=-1)  # 1/sqrt(4)
        heads.append(a @ v[..., sl])
    expected = att.out(torch.cat(heads, dim=-1))
    torch.testing.assert_close(att(x), expected)


def test_normalisation_hyperparameters_match_keras():
    s = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, **TINY))
    bns = [m for m in s.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert bns and all(b.momentum == 0.01 and b.eps == 1e-3 for b in bns)
    lns = [m for m in s.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(lns) == 2 * 3 and all(n.eps == 1e-6 for n in lns)


def test_token_batchnorm_uses_batch_and_token_statistics():
    bn = TokenBatchNorm(3).train()
    x = torch.randn(4, 7, 3) * 5 + 2
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=(0, 1)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(bn.bn.running_mean, 0.01 * x.mean(dim=(0, 1)))


@pytest.mark.parametrize("pool, score_shape", [("none", (3, 10, 8)), ("gap", (3, 1, 8))])
def test_score_generation_block_pooling(pool, score_shape):
    torch.manual_seed(0)
    sgb = ScoreGenerationBlock(8, pool).train()
    x = torch.randn(3, 10, 8)
    score = sgb(x)
    assert score.shape == score_shape
    assert score.abs().max() < 1  # softsign
    s = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, score_pool=pool, **TINY)).eval()
    z, f = s(torch.randn(3, 1, 128))
    assert z.shape == (3, 2) and f.shape == (3, s.config.n_tokens, 16)


def test_gap_gate_is_shared_by_all_tokens():
    torch.manual_seed(0)
    imf = InterModalityFusion(4, pool="gap").eval()
    e, g = torch.randn(2, 5, 4), torch.randn(2, 5, 4)
    x = torch.cat([e, g], dim=1)
    out = imf(e, g, e, g)
    ratio = out / x  # both branches see the same tokens: one per-channel gate per window
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))


@pytest.mark.parametrize("bug", [False, True])
def test_imf_formula_and_token_axis(bug):
    torch.manual_seed(0)
    imf = InterModalityFusion(4, faithful_bug=bug).eval()
    eb, gb, ea, ga = (torch.randn(2, 5, 4) for _ in range(4))
    before = torch.cat([eb, gb], dim=1)
    after = torch.cat([eb if bug else ea, ga], dim=1)
    expected = imf.sgb_before(before) * before + imf.sgb_after(after) * after
    out = imf(eb, gb, ea, ga)
    assert out.shape == (2, 10, 4)
    torch.testing.assert_close(out, expected)


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
