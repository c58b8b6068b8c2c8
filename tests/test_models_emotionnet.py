"""EmotionNet teacher and student (emotionkd.models.emotionnet): reference sizes, shapes,
gradients, the IMF bug, initialisation, configuration and the study options."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY as TINY8

from emotionkd.errors import ConfigError
from emotionkd.models import (
    DeepConvNetConfig,
    EmotionNetConfig,
    EmotionNetStudent,
    EmotionNetTeacher,
    build_model,
    count_parameters,
    default_config,
    describe_models,
    model_spec,
)
from emotionkd.models.layers import (
    MultiHeadSelfAttention,
    PowerHead,
    ScoreGenerationBlock,
)

#: a tiny EmotionNet for tests that do not need the full size
TINY = {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 3, "ff_dim": 16,
        "classifier_dim": 16}


def _tokens(fs: float, window_s: float) -> int:
    t = int(round(fs * window_s))
    return (t - math.floor(fs / 4 + 0.5)) // 8 + 1


def _inputs(name: str, cfg: dict, batch: int = 2) -> tuple[torch.Tensor, ...]:
    t = int(round(cfg["fs"] * cfg["window_s"]))
    gsr = torch.randn(batch, 1, t)
    if model_spec(name)["inputs"] == "eeg+gsr":
        return torch.randn(batch, cfg["n_eeg"], t), gsr
    return (gsr,)


def test_student_reference_parameter_count():
    # The reference Keras student at 1 x 512 GSR (4 s at 128 Hz): 993,986 parameters including
    # BatchNorm statistics = 993,090 trainable + 896 moving means/variances (docs/method.md,
    # "Parameter counts").
    s = build_model("emotionnet-student", default_config("emotionnet-student", 128, 4, 28))
    assert count_parameters(s) == 993_986
    assert count_parameters(s, trainable_only=True) == 993_090
    assert count_parameters(s) - count_parameters(s, include_buffers=False) == 896


def test_teacher_reference_parameter_count():
    # Measured: 2,047,490 (2,046,210 trainable + 1,280 BN statistics) at 28 x 512 EEG + 1 x 512
    # GSR — exactly the reference Keras teacher's count. Keras builds the third EEG transformer
    # block although its IMF bug never reads it (its output is an input of the IMF layer node),
    # so fixing the bug adds no parameters; the difference is that here all 141,248 parameters
    # of that block are used and trained (see the gradient tests below), whereas the reference
    # effectively trains 1,904,962 of its 2,046,210 trainable parameters.
    t = build_model("emotionnet-teacher",
                    default_config("emotionnet-teacher", 128, 4, 28, {"spectral": "none"}))
    assert count_parameters(t) == 2_047_490
    assert count_parameters(t, trainable_only=True) == 2_046_210
    assert sum(p.numel() for p in t.eeg_encoder.blocks[2].parameters()) == 141_248
    # emotionkd's default adds the anchored spectral path: fixed standardisation of 28 x 4
    # log band powers and 5 GSR features (117 means + 117 scales, stored) and a linear layer
    # (117 x 2 + 2); its DFT and smoothing matrices are constants rebuilt from the config
    rows = {r["name"]: r for r in describe_models(128, 4, 28)}
    assert rows["emotionnet-teacher"]["parameters"] == 2_047_490 + 234 + 236
    bands = build_model("emotionnet-teacher",
                        default_config("emotionnet-teacher", 128, 4, 28, {"spectral": "bands"}))
    # "bands": BatchNorm instead (224 parameters + 224 statistics)
    assert count_parameters(bands) == 2_047_490 + 224 + 224 + 226
    assert rows["emotionnet-student"]["trainable"] == 993_090


def test_reference_shape_arithmetic():
    c = EmotionNetConfig()
    assert (c.n_samples, c.kernel_size, c.n_tokens, c.pos_rows) == (512, 32, 61, 64)


@pytest.mark.parametrize("fs, window_s, n_eeg", [
    (128, 4, 28), (128, 4, 32), (256, 4, 32), (256, 1, 28), (128, 1, 32), (128, 8, 28),
    (256, 8, 32), (200, 2, 3),
])
def test_emotionnet_shapes_follow_the_data(fs, window_s, n_eeg):
    L = _tokens(fs, window_s)
    for name, n_tok in (("emotionnet-teacher", 2 * L), ("emotionnet-student", L),
                        ("concat", 2 * L)):
        cfg = default_config(name, fs, window_s, n_eeg, TINY)
        m = build_model(name, cfg)
        z, f = m(*_inputs(name, cfg))
        assert z.shape == (2, 2) and f.shape == (2, n_tok, 16), name
        assert m.config.n_tokens == L
        assert m.config.pos_rows >= L and m.config.pos_rows % 64 == 0


def test_position_table_rule():
    # tokens rounded up to a multiple of 64: 64 rows at the reference shape, as Keras builds
    assert EmotionNetConfig(window_s=4).pos_rows == 64  # 61 tokens
    assert EmotionNetConfig(window_s=8).pos_rows == 128  # 125 tokens
    assert EmotionNetConfig(fs=256, window_s=8).pos_rows == 256  # 249 tokens
    s = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, pos_table=20, **TINY))
    assert s.gsr_encoder.pos.weight.shape == (20, 16)


def test_kernel_scales_with_sampling_rate():
    assert [EmotionNetConfig(fs=fs).kernel_size for fs in (128, 256, 250, 512)] == [32, 64, 63, 128]
    s = EmotionNetStudent(EmotionNetConfig(fs=256, window_s=2, **TINY))
    assert s.gsr_head.temporal.kernel_size == (1, 64) and s.gsr_head.temporal.stride == (1, 8)
    t = EmotionNetTeacher(EmotionNetConfig(fs=128, window_s=2, n_eeg=32, **TINY))
    assert t.eeg_head.spatial.kernel_size == (32, 1)  # every EEG channel at once


#: parameters whose training-mode gradient is zero by construction, so the fast forward paths
#: leave them out of the graph: the stems' temporal-conv bias (a batch-statistics BatchNorm
#: subtracts it again) and the attention key bias (it shifts each row of scores by a constant,
#: which the softmax removes)
NO_GRADIENT = (".temporal.bias", ".attn.k.bias")


def _needs_grad(name: str) -> bool:
    return not name.endswith(NO_GRADIENT)


def _teacher_grads(faithful_imf_bug: bool, n_blocks: int = 3) -> dict[str, float]:
    torch.manual_seed(0)
    cfg = {**TINY, "n_blocks": n_blocks}
    t = EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=4, n_eeg=3,
                                           faithful_imf_bug=faithful_imf_bug, **cfg)).train()
    z, _ = t(torch.randn(4, 3, 256), torch.randn(4, 1, 256))
    F.cross_entropy(z, torch.tensor([0, 1, 1, 0])).backward()
    return {k: 0.0 if p.grad is None else float(p.grad.abs().sum())
            for k, p in t.named_parameters() if _needs_grad(k)}


def test_every_teacher_parameter_gets_gradient_with_the_fix():
    g = _teacher_grads(faithful_imf_bug=False)
    assert [k for k, v in g.items() if v == 0] == []


@pytest.mark.parametrize("n_blocks", [3, 2])
def test_faithful_imf_bug_starves_the_last_eeg_block(n_blocks):
    g = _teacher_grads(faithful_imf_bug=True, n_blocks=n_blocks)
    last = [k for k in g if k.startswith(f"eeg_encoder.blocks.{n_blocks - 1}.")]
    assert len(last) > 10 and all(g[k] == 0 for k in last)
    assert [k for k, v in g.items() if v == 0 and k not in last] == []
    assert [k for k, v in _teacher_grads(False, n_blocks).items() if v == 0] == []


@pytest.mark.parametrize("bug", [True, False])
def test_faithful_teacher_skips_only_the_unused_eeg_block(bug):
    torch.manual_seed(0)
    t = EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=4, n_eeg=3, faithful_imf_bug=bug,
                                           **TINY)).eval()
    calls = []
    t.eeg_encoder.blocks[-1].register_forward_hook(lambda *a: calls.append(1))
    eeg, gsr = torch.randn(4, 3, 256), torch.randn(4, 1, 256)
    with torch.no_grad():
        z, tokens = t(eeg, gsr)
        # the same function, written with every block of both encoders run
        es, gs = t.eeg_encoder(t.eeg_head(eeg)), t.gsr_encoder(t.gsr_head(gsr))
        ref = sum(imf(es[i], gs[i], es[i + 1], gs[i + 1]) for i, imf in enumerate(t.fusions))
    assert len(calls) == 1 + (not bug)  # the forward above ran it only without the bug
    torch.testing.assert_close(tokens, ref, rtol=0, atol=1e-6)
    torch.testing.assert_close(z, t.classifier(ref) + t.spectral(eeg, gsr), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["emotionnet-student", "concat", "deepconvnet"])
def test_gradients_flow(name):
    torch.manual_seed(0)
    cfg = default_config(name, 64, 4, 3, None if name == "deepconvnet" else TINY)
    m = build_model(name, cfg).train()
    z, _ = m(*_inputs(name, cfg, batch=4))
    F.cross_entropy(z, torch.tensor([0, 1, 1, 0])).backward()
    if hasattr(m, "head_l2_penalty"):
        m.head_l2_penalty().backward()
    assert [k for k, p in m.named_parameters()
            if _needs_grad(k) and (p.grad is None or not p.grad.any())] == []


def test_student_is_twice_differentiable():
    # the adaptive feedback needs the gradient of a gradient (functional pilot step)
    torch.manual_seed(0)
    s = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, **TINY)).train()
    params = {k: p for k, p in s.named_parameters() if _needs_grad(k)}
    z, _ = torch.func.functional_call(s, params, (torch.randn(3, 1, 128),), strict=False)
    g = torch.autograd.grad(F.cross_entropy(z, torch.tensor([0, 1, 0])), list(params.values()),
                            create_graph=True)
    q = params["gsr_encoder.blocks.0.attn.q.weight"]
    (hv,) = torch.autograd.grad(sum((gi * gi).sum() for gi in g), q)
    assert hv.abs().sum() > 0


def test_tracing_is_exact_and_quiet():
    # export (TorchScript trace) must not warn about the input checks
    s = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, **TINY)).eval()
    x = torch.randn(2, 1, 128)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(s, (x,))
    torch.testing.assert_close(traced(x)[0], s(x)[0])


def test_head_l2_penalty():
    s = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, head_l2=0.5, **TINY))
    h = s.gsr_head
    expected = 0.5 * ((h.temporal.weight ** 2).sum() + (h.spatial.weight ** 2).sum())
    torch.testing.assert_close(s.head_l2_penalty(), expected)
    t = EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=2, n_eeg=3, **TINY))
    kernels = [t.eeg_head.temporal.weight, t.eeg_head.spatial.weight,
               t.gsr_head.temporal.weight, t.gsr_head.spatial.weight]
    torch.testing.assert_close(t.head_l2_penalty(), 1e-3 * sum((w ** 2).sum() for w in kernels))
    off = EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, head_l2=0, **TINY))
    assert off.head_l2_penalty().item() == 0


def test_keras_initialisation_limits():
    torch.manual_seed(0)
    s = EmotionNetStudent(EmotionNetConfig())
    q = s.gsr_encoder.blocks[0].attn.q.weight  # Keras kernel (64, 8, 64): fans 512 / 4096
    assert 0.03 < q.abs().max() <= math.sqrt(6 / (512 + 4096))
    o = s.gsr_encoder.blocks[0].attn.out.weight  # Keras kernel (8, 64, 64): fans 512 / 512
    assert 0.9 * math.sqrt(6 / 1024) < o.abs().max() <= math.sqrt(6 / 1024)
    conv = s.gsr_head.temporal.weight  # Keras kernel (1, 32, 1, 64): fans 32 / 2048
    assert conv.abs().max() <= math.sqrt(6 / (32 + 2048))
    pos = s.gsr_encoder.pos.weight
    assert 0.045 < pos.abs().max() <= 0.05
    assert s.gsr_encoder.blocks[0].attn.q.bias.abs().sum() == 0
    torch_init = EmotionNetStudent(EmotionNetConfig(init="torch"))
    assert torch_init.gsr_encoder.pos.weight.abs().max() > 1  # N(0, 1), nn.Embedding default


@pytest.mark.parametrize("name", ["emotionnet-teacher", "emotionnet-student", "concat",
                                  "deepconvnet"])
def test_config_round_trip_and_eval_determinism(name):
    over = None if name == "deepconvnet" else {**TINY, "score_pool": "gap", "init": "torch"}
    cfg = default_config(name, 64, 2, 4, over)
    torch.manual_seed(1)
    a = build_model(name, cfg).eval()
    plain = json.loads(json.dumps(a.config_dict()))  # JSON-serialisable
    b = build_model(name, plain).eval()
    assert b.config_dict() == a.config_dict() == cfg
    assert {k: v.shape for k, v in a.state_dict().items()} == \
        {k: v.shape for k, v in b.state_dict().items()}
    b.load_state_dict(a.state_dict())
    x = _inputs(name, cfg)
    za, fa = a(*x)
    zb, fb = b(*x)
    assert torch.equal(za, zb) and torch.equal(fa, fb)
    assert torch.equal(a(*x)[0], za)  # eval mode is deterministic


def test_student_and_teacher_gsr_streams_match():
    cfg = EmotionNetConfig(fs=64, window_s=2, n_eeg=4, **TINY)
    teacher, student = EmotionNetTeacher(cfg).eval(), EmotionNetStudent(cfg).eval()

    def stream(m: torch.nn.Module) -> dict[str, torch.Size]:
        return {k: v.shape for k, v in m.state_dict().items()
                if k.startswith(("gsr_head.", "gsr_encoder."))}

    assert stream(teacher) == stream(student) and len(stream(student)) > 20
    # warm start: copying the teacher's stream makes the student's stream compute the same
    state = {k: v for k, v in teacher.state_dict().items() if k in stream(student)}
    student.load_state_dict(state, strict=False)
    gsr = torch.randn(2, 1, 128)
    torch.testing.assert_close(student.gsr_encoder(student.gsr_head(gsr))[-1],
                               teacher.gsr_encoder(teacher.gsr_head(gsr))[-1])


def test_bad_configs_are_clear_errors():
    with pytest.raises(ConfigError, match=r"0.2-s window at fs = 128 Hz .* fewer than"):
        EmotionNetConfig(fs=128, window_s=0.2)
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) bogus; valid settings: fs, "):
        build_model("emotionnet-student", {"bogus": 1})
    with pytest.raises(ConfigError, match=r"unknown setting\(s\) d_model.*filters"):
        default_config("deepconvnet", 128, 4, 0, {"d_model": 8})
    with pytest.raises(ConfigError, match="unknown model 'nope'; available models: emotionnet"):
        build_model("nope", {})
    with pytest.raises(ConfigError, match="unknown model"):
        model_spec("nope")
    with pytest.raises(ConfigError, match="mapping"):
        build_model("emotionnet-student", [("fs", 128)])
    with pytest.raises(ConfigError, match="unknown model setting"):
        describe_models(overrides={"nope": 1})
    bad = [{"score_pool": "max"}, {"init": "xavier"}, {"dropout": 1.0}, {"n_heads": 0},
           {"d_model": 2.5}, {"faithful_imf_bug": "yes"}, {"fs": -1}, {"window_s": "4"},
           {"n_classes": 1}, {"head_l2": -1}, {"pos_table": 10}, {"n_blocks": True}]
    for over in bad:
        with pytest.raises(ConfigError, match="model: "):
            EmotionNetConfig.from_dict(over)
    with pytest.raises(ConfigError, match="n_blocks >= 2"):
        EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=2, **{**TINY, "n_blocks": 1}))
    with pytest.raises(ConfigError, match="n_eeg >= 1"):
        build_model("emotionnet-teacher", default_config("emotionnet-teacher", 64, 2, 0, TINY))
    EmotionNetStudent(EmotionNetConfig(fs=64, window_s=2, n_eeg=0, **{**TINY, "n_blocks": 1}))


def test_wrong_input_shapes_are_clear_errors():
    t = EmotionNetTeacher(EmotionNetConfig(fs=64, window_s=2, n_eeg=4, **TINY)).eval()
    with pytest.raises(ConfigError, match=r"EEG windows shaped \(batch, 4, 128\) .* got \(1, 5"):
        t(torch.randn(1, 5, 128), torch.randn(1, 1, 128))
    with pytest.raises(ConfigError, match=r"GSR windows shaped \(batch, 1, 128\) \(2 s at 64 Hz"):
        t(torch.randn(1, 4, 128), torch.randn(1, 1, 100))
    d = build_model("deepconvnet", default_config("deepconvnet", 64, 2, 0))
    with pytest.raises(ConfigError, match="deepconvnet: expects GSR"):
        d(torch.randn(2, 128))


def test_deepconvnet_architecture():
    c = DeepConvNetConfig(fs=250, window_s=4)
    assert c.kernel_size == 10 and c.pools() == [3, 3, 3, 3]  # the original's settings
    assert DeepConvNetConfig(fs=128).kernel_size == 5
    assert DeepConvNetConfig(fs=128, window_s=1).pools() == [3, 3, 1, 3]  # shrunk, not failed
    for fs in (16, 50, 100, 128, 200, 256, 500, 1000, 2048):
        assert DeepConvNetConfig(fs=fs, window_s=1).out_length() >= 1
    m = build_model("deepconvnet", default_config("deepconvnet", 128, 4, 0))
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv1d)]
    assert [cv.out_channels for cv in convs] == [25, 25, 50, 100, 200]
    assert any(isinstance(mod, torch.nn.ELU) for mod in m.modules())
    with pytest.raises(ConfigError, match=r"deepconvnet: a 0.1-s window at fs = 128 Hz"):
        DeepConvNetConfig(fs=128, window_s=0.1)
    with pytest.raises(ConfigError, match="filters"):
        DeepConvNetConfig(filters=(25, 50))


def test_concat_teacher_fuses_last_blocks_by_concatenation():
    torch.manual_seed(0)
    m = build_model("concat", default_config("concat", 64, 2, 3, TINY)).eval()
    eeg, gsr = torch.randn(2, 3, 128), torch.randn(2, 1, 128)
    z, f = m(eeg, gsr)
    L = m.config.n_tokens
    assert z.shape == (2, 2) and f.shape == (2, 2 * L, 16)
    torch.testing.assert_close(f[:, :L], m.eeg_encoder(m.eeg_head(eeg))[-1])
    torch.testing.assert_close(f[:, L:], m.gsr_encoder(m.gsr_head(gsr))[-1])
    assert {k for k in m.state_dict() if k.startswith("gsr_")} == {
        k for k in EmotionNetStudent(m.config).state_dict() if k.startswith("gsr_")}


def test_folded_attention_equals_the_four_projections():
    # same function and same parameter gradients (k.bias: zero by construction), in float64
    torch.manual_seed(0)
    attn = MultiHeadSelfAttention(8, 3, 8).double()
    for lin in (attn.q, attn.k, attn.v, attn.out):
        torch.nn.init.normal_(lin.bias)
    x = torch.randn(4, 7, 8, dtype=torch.float64)
    g = torch.randn(4, 7, 8, dtype=torch.float64)
    grads = []
    for path in (attn._projected, attn._folded):
        attn.zero_grad()
        out = path(x)
        (out * g).sum().backward()
        grads.append((out.detach(), {
            k: p.grad.clone() if p.grad is not None else torch.zeros_like(p)
            for k, p in attn.named_parameters()}))
    (o1, g1), (o2, g2) = grads
    torch.testing.assert_close(o1, o2, rtol=1e-10, atol=1e-10)
    for k in g1:
        torch.testing.assert_close(g1[k], g2[k], rtol=1e-8, atol=1e-10, msg=k)
    assert attn.forward(x).allclose(o2)  # d_model ≤ head_dim: the folded path is used
    wide = MultiHeadSelfAttention(16, 2, 8)
    wide.forward(torch.randn(2, 5, 16))  # d_model > head_dim: projections, no error


@pytest.mark.parametrize("offset", [0.0, 50.0])
def test_linear_batchnorm_fold_equals_batchnorm_after_linear(offset):
    import copy

    from emotionkd.models.kernels import batch_norm_rows, linear_batch_norm_rows

    torch.manual_seed(0)
    p = torch.randn(300, 6, dtype=torch.float64) * 0.5 + offset
    w1 = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    b1 = torch.randn(5, dtype=torch.float64, requires_grad=True)
    bn1 = torch.nn.BatchNorm1d(5, eps=1e-3, momentum=0.1).double()
    with torch.no_grad():
        bn1.weight.uniform_(0.5, 1.5)
        bn1.bias.uniform_(-1, 1)
    bn2 = copy.deepcopy(bn1)
    w2, b2 = w1.detach().clone().requires_grad_(), b1.detach().clone().requires_grad_()
    g = torch.randn(300, 5, dtype=torch.float64)
    for _ in range(2):  # two steps: running averages follow the same path
        y1 = batch_norm_rows(F.linear(p, w1, b1), bn1)
        y2 = linear_batch_norm_rows(p, w2, b2, bn2)
        torch.testing.assert_close(y1, y2)
        (y1 * g).sum().backward()
        (y2 * g).sum().backward()
    torch.testing.assert_close(w1.grad, w2.grad)
    torch.testing.assert_close(bn1.weight.grad, bn2.weight.grad)
    torch.testing.assert_close(bn1.bias.grad, bn2.bias.grad)
    assert b2.grad is None and b1.grad.abs().max() < 1e-8  # zero by construction
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(bn1, name), getattr(bn2, name))
    bn1.eval()
    bn2.eval()
    torch.testing.assert_close(batch_norm_rows(F.linear(p, w1, b1), bn1),
                               linear_batch_norm_rows(p, w2, b2, bn2))


def test_dropout_masks_rate_scale_and_seeding():
    from emotionkd.models.kernels import Dropout, dropout

    x = torch.ones(200_000)
    torch.manual_seed(3)
    y = dropout(x, 0.1, True)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.9) < 0.003
    assert torch.allclose(y[kept], torch.tensor(65536 / (65536 - round(0.1 * 65536))))
    assert abs(y.mean().item() - 1.0) < 0.004  # inverted dropout keeps the expectation
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.1, True), y)  # seeded
    assert dropout(x, 0.1, False) is x
    half = dropout(torch.ones(100_000), 0.5, True)
    assert abs((half != 0).float().mean().item() - 0.5) < 0.005
    xs = torch.randn(4, 7, requires_grad=True)
    m = Dropout(0.3)
    out = m(xs)
    out.sum().backward()
    torch.testing.assert_close(xs.grad, (out != 0).float() / (1 - round(0.3 * 65536) / 65536))
    assert m.eval()(xs) is xs
    with pytest.raises(ValueError):
        Dropout(1.5)


@pytest.mark.parametrize("pool", ["none", "gap"])
def test_score_block_equals_linear_batchnorm_softsign(pool):
    import copy

    torch.manual_seed(0)
    sgb = ScoreGenerationBlock(6, pool).double()
    for m in (sgb.fc1, sgb.fc2):
        torch.nn.init.normal_(m.bias)
    ref = copy.deepcopy(sgb)
    x = torch.randn(5, 7, 6, dtype=torch.float64)

    def reference(m, x):  # the block as written in the paper / reference code
        h = x.mean(dim=1, keepdim=True) if pool == "gap" else x
        return F.softsign(m.bn2(m.fc2(F.relu(m.bn1(m.fc1(h))))))

    g = torch.randn_like(reference(copy.deepcopy(ref), x))
    for mode in ("train", "eval"):
        sgb.train(mode == "train")
        ref.train(mode == "train")
        sgb.zero_grad()
        ref.zero_grad()
        out, expected = sgb(x), reference(ref, x)
        torch.testing.assert_close(out, expected)
        (out * g).sum().backward()
        (expected * g).sum().backward()
        for (name, p), q in zip(sgb.named_parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, q.grad, msg=name)
        for a, b in zip(sgb.buffers(), ref.buffers()):
            torch.testing.assert_close(a, b)


def test_softsign_is_twice_differentiable():
    from emotionkd.models.kernels import softsign

    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(softsign(x), F.softsign(x))
    assert torch.autograd.gradcheck(softsign, (x,))
    assert torch.autograd.gradgradcheck(softsign, (x,))


@pytest.mark.parametrize("name", ["emotionnet-teacher", "emotionnet-student", "concat"])
def test_spectral_options_build_train_and_penalise_their_heads(name):
    over = {**TINY8, "study": {"eeg_stem": "power", "norm_first": True,
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
            default_config("emotionnet-teacher", 64, 2, 4, {**TINY8, "study": bad})
    with pytest.raises(ConfigError, match="unknown setting.*eeg_stem"):  # a study option
        default_config("emotionnet-teacher", 64, 2, 4, {**TINY8, "eeg_stem": "power"})


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
