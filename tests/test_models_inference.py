"""Inference folding (emotionkd.models.inference): exact rewrites of trained models."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from emotionkd.models.inference import (
    FoldedBlock,
    FoldedClassifier,
    FoldedScoreBlock,
    FoldedSelfAttention,
    fold_for_inference,
)
from emotionkd.models.layers import MultiHeadSelfAttention, TransformerBlock
from emotionkd.models.registry import build_model, default_config

SMALL = {"d_model": 16, "n_heads": 2, "head_dim": 16, "n_blocks": 2, "ff_dim": 16,
         "classifier_dim": 8}


def _trained(name: str, over: dict) -> torch.nn.Module:
    """A model whose BatchNorm statistics and biases are far from their initial values."""
    torch.manual_seed(0)
    model = build_model(name, default_config(name, 64, 2, 4, over))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.normal_(0, 0.5)
    model.train()
    for _ in range(3):
        model(*_inputs(name, 16))
    return model.eval()


def _inputs(name: str, batch: int, seed: int = 1) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    gsr = torch.randn(batch, 1, 128, generator=g)
    if name == "emotionnet-student":
        return (gsr,)
    return torch.randn(batch, 4, 128, generator=g), gsr


ARCH = {"paper": {}, "spectral": {"study": {"eeg_stem": "power", "norm_first": True,
                                             "classifier_pool": "mean",
                                             "classifier_segments": 3}}}


@pytest.mark.parametrize("name", ["emotionnet-student", "emotionnet-teacher", "concat"])
@pytest.mark.parametrize("pool", ["none", "gap"])
@pytest.mark.parametrize("arch", sorted(ARCH))
def test_folded_model_computes_the_same_outputs(name, pool, arch):
    model = _trained(name, {**SMALL, "score_pool": pool, **ARCH[arch]})
    folded = fold_for_inference(model)
    kinds = {type(m) for m in folded.modules()}
    expected = {FoldedSelfAttention, FoldedBlock, FoldedClassifier}
    if name.startswith("emotionnet"):  # the concat baseline has no score-generation blocks
        expected.add(FoldedScoreBlock)
    assert expected <= kinds
    assert MultiHeadSelfAttention not in kinds and TransformerBlock not in kinds
    x = _inputs(name, 5)
    with torch.no_grad():
        ref, got = model(*x), folded(*x)
    torch.testing.assert_close(got[0], ref[0], atol=1e-5, rtol=1e-4)  # logits
    torch.testing.assert_close(got[1], ref[1], atol=1e-5, rtol=1e-4)  # hint features
    assert model.training is False and any(p.requires_grad for p in model.parameters())
    assert not any(p.requires_grad for p in folded.parameters())  # the original is untouched


def test_attention_fold_only_where_it_saves_work():
    wide = _trained("emotionnet-student", {**SMALL, "head_dim": 8})  # d = 16 > k = 8
    folded = fold_for_inference(wide)
    assert not any(isinstance(m, FoldedSelfAttention) for m in folded.modules())
    x = _inputs("emotionnet-student", 3)
    with torch.no_grad():
        torch.testing.assert_close(folded(*x)[0], wide(*x)[0], atol=1e-5, rtol=1e-4)


def test_paper_student_loses_30_percent_of_its_flops():
    cfg = default_config("emotionnet-student", 128, 4, 28)
    model = build_model("emotionnet-student", cfg).eval()

    def flops(m: torch.nn.Module) -> int:
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            m(torch.randn(1, 1, 512))
        return fc.get_total_flops()

    before, after = flops(model), flops(fold_for_inference(model))
    assert after < 0.72 * before


def test_batchnorm_without_running_statistics_is_not_folded():
    model = _trained("emotionnet-student", SMALL)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.track_running_stats, m.running_mean, m.running_var = False, None, None
    folded = fold_for_inference(model)
    assert not any(isinstance(m, FoldedScoreBlock) for m in folded.modules())


@pytest.mark.parametrize("name", ["emotionnet-student", "emotionnet-teacher"])
def test_frozen_token_counts_keep_outputs_and_drop_shape_arithmetic(name):
    from emotionkd.models.inference import StaticPosition
    from emotionkd.models.layers import PositionEmbedding

    model = _trained(name, SMALL)
    folded = fold_for_inference(model, _inputs(name, 2, seed=5))
    assert any(isinstance(m, StaticPosition) for m in folded.modules())
    assert not any(isinstance(m, PositionEmbedding) for m in folded.modules())
    assert all(m.tokens == 15 for m in folded.modules() if isinstance(m, FoldedSelfAttention))
    x = _inputs(name, 7)  # another batch size: only the window length is fixed
    with torch.no_grad():
        torch.testing.assert_close(folded(*x)[0], model(*x)[0], atol=1e-5, rtol=1e-4)
    traced = torch.jit.trace(folded, _inputs(name, 2), check_trace=False)
    kinds = {n.kind() for n in traced.inlined_graph.nodes()}
    assert "aten::size" not in kinds  # no run-time shape arithmetic in the exported graph
