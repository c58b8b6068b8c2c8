"""Exact algebraic rewrites of trained models for inference (export and prediction).

Self-attention as trained (:class:`~emotionkd.models.layers.MultiHeadSelfAttention`) projects
the tokens x (L × d) to queries, keys and values of H heads × k, and projects the concatenated
heads back to d. Two of those four products fold away (``kernels.attention_fold``; training
uses the same fold, differentiably, at every step — here it is computed once, in float64):

* scores: (x Wqₕᵀ + bqₕ)(x Wkₕᵀ + bkₕ)ᵀ / √k = (x Pₕ + cₕ) xᵀ + (terms constant along each
  row), with Pₕ = Wqₕᵀ Wkₕ / √k (d × d) and cₕ = bqₕ Wkₕ / √k. Softmax over keys ignores
  row-constant terms, so the key projection disappears.
* output: Σₕ Aₕ (x Wvₕᵀ + bvₕ) Woₕᵀ + bo = Σₕ Aₕ (x Uₕ) + (bo + Wo bv), with Uₕ = Wvₕᵀ Woₕᵀ,
  because every row of Aₕ sums to 1. The output projection disappears.

Each fold trades a d → H·k projection for a d → H·d one, so it is applied only when
d ≤ k: at the paper's size (d = k = 64) it removes 8 of the 24 MFLOP of every block, 30 % of
the student's forward cost.

Further rewrites remove whole operators, which matters at batch 1 where a small graph's
latency is mostly per-operator overhead:

* the classifier's four Linear layers have no activation between them, so they are one
  matrix (3,904 → 2 for the paper-size student: also half the exported file);
* every eval-mode BatchNorm that follows a Linear (the score-generation blocks of the
  fusions) is folded into that Linear's weight and bias;
* for export, token counts are frozen from an example input (:func:`freeze_token_counts`),
  so the traced graph has constant reshapes and a constant position table instead of
  Shape → Gather → Concat chains;
* transformer blocks (:class:`FoldedBlock`) and score blocks run on 2-D token rows (B·L, d),
  so each token-wise Linear exports as one GEMM with its bias (and ReLU) fused instead of a
  batched MatMul, Add and Relu (the paper-size student's ONNX graph: 397 → 128 nodes).

The weights are folded in float64; outputs agree with the original model to float32 rounding
(export checks this against the unmodified model, see :mod:`emotionkd.export`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from emotionkd.models.kernels import attention_fold, folded_attention_rows, softsign
from emotionkd.models.layers import (
    Classifier,
    MultiHeadSelfAttention,
    PositionEmbedding,
    ScoreGenerationBlock,
    TokenBatchNorm,
    TransformerBlock,
)


class FoldedSelfAttention(nn.Module):
    """Inference-only self-attention with the key and output projections folded away."""

    def __init__(self, attn: MultiHeadSelfAttention) -> None:
        super().__init__()
        self.n_heads, self.d_model = attn.n_heads, attn.q.in_features
        with torch.no_grad():  # folded in float64, stored in the model's dtype
            folded = attention_fold(attn, torch.float64)
        dtype = attn.q.weight.dtype
        for name, t in zip(("w_m", "b_m", "w_z", "b_out"), folded):
            self.register_buffer(name, t.to(dtype))
        #: token count fixed by :func:`freeze_token_counts` (exported graphs then need no
        #: shape arithmetic at run time); None = read it from the input
        self.tokens: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.tokens if self.tokens is not None else x.shape[1]
        return self.rows(x, x.reshape(-1, self.d_model)).reshape(-1, n, self.d_model)

    def rows(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Attention output as (B·L, d) rows, for tokens x (B, L, d) and their rows."""
        n = self.tokens if self.tokens is not None else x.shape[1]
        return folded_attention_rows(x, rows, self.w_m, self.b_m, self.w_z, self.b_out,
                                     self.n_heads, n, self.d_model)


class FoldedBlock(nn.Module):
    """A transformer block for inference on (B·L, d) token rows: every token-wise product is
    a 2-D GEMM with its bias (and the FFN's ReLU) fused when exported, instead of a batched
    MatMul followed by separate Add and Relu operators."""

    def __init__(self, block: TransformerBlock) -> None:
        super().__init__()
        self.attn = FoldedSelfAttention(block.attn)
        self.norm1, self.norm2 = block.norm1, block.norm2
        self.ff1, self.ff2 = block.ff1, block.ff2
        self.norm_first = block.norm_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.attn.d_model
        n = self.attn.tokens if self.attn.tokens is not None else x.shape[1]
        rows = x.reshape(-1, d)
        if self.norm_first:  # pre-norm: attention reads the normalised tokens
            normed = self.norm1(rows)
            h = rows + self.attn.rows(normed.reshape(-1, n, d), normed)
            h = h + self.ff2(F.relu(self.ff1(self.norm2(h))))
            return h.reshape(-1, n, d)
        h = self.norm1(rows + self.attn.rows(x, rows))
        h = self.norm2(h + self.ff2(F.relu(self.ff1(h))))
        return h.reshape(-1, n, d)


class StaticPosition(nn.Module):
    """The first L rows of a position table, for inputs of exactly L tokens."""

    def __init__(self, pos: PositionEmbedding, tokens: int) -> None:
        super().__init__()
        self.register_buffer("table", pos.weight.detach()[:tokens].clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table


def _linear64(lin: nn.Linear) -> tuple[torch.Tensor, torch.Tensor]:
    w = lin.weight.detach().double()
    b = lin.bias.detach().double() if lin.bias is not None else w.new_zeros(w.shape[0])
    return w, b


def _with_bn(lin: nn.Linear, tbn: TokenBatchNorm) -> nn.Linear | None:
    """Linear followed by an eval-mode BatchNorm, as one Linear (None if not foldable)."""
    bn = tbn.bn
    if bn.running_mean is None or bn.running_var is None:
        return None  # no running statistics: eval mode normalises with batch statistics
    w, b = _linear64(lin)
    scale = torch.rsqrt(bn.running_var.double() + bn.eps)
    if bn.affine:
        scale = scale * bn.weight.detach().double()
    shift = bn.bias.detach().double() if bn.affine else torch.zeros_like(scale)
    out = nn.Linear(w.shape[1], w.shape[0]).to(device=lin.weight.device, dtype=lin.weight.dtype)
    with torch.no_grad():
        out.weight.copy_(w * scale[:, None])
        out.bias.copy_((b - bn.running_mean.double()) * scale + shift)
    return out.requires_grad_(False)


class FoldedScoreBlock(nn.Module):
    """A score-generation block with both BatchNorms folded into their Linear layers."""

    def __init__(self, sgb: ScoreGenerationBlock, fc1: nn.Linear, fc2: nn.Linear) -> None:
        super().__init__()
        self.pool, self.fc1, self.fc2 = sgb.pool, fc1, fc2
        #: token count fixed by :func:`freeze_token_counts`; None = read it from the input
        self.tokens: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.mean(dim=1, keepdim=True) if self.pool == "gap" else x
        d = self.fc1.in_features
        n = 1 if self.pool == "gap" else self.tokens if self.tokens is not None else h.shape[1]
        rows = self.fc2(F.relu(self.fc1(h.reshape(-1, d))))  # 2-D GEMMs, bias/ReLU fused
        return softsign(rows).reshape(-1, n, d)


class FoldedClassifier(nn.Module):
    """The activation-free Linear stack of :class:`Classifier` as one Linear on the flattened
    tokens; a mean-pooled classifier's segment averaging is folded into the weights too (it is
    linear), so every classifier becomes one matrix product at inference."""

    def __init__(self, clf: Classifier) -> None:
        super().__init__()
        w, b = _linear64(clf.fc1)
        for lin in (clf.fc2, clf.fc3, clf.out):
            lw, lb = _linear64(lin)
            w, b = lw @ w, lw @ b + lb
        if clf.pool == "mean":  # w reads (group, segment, d): spread it over the tokens
            pm = clf.pool_matrix.double()  # (tokens per group, segments)
            d = w.shape[1] // (clf.groups * clf.segments)
            w = torch.einsum("ogsd,ls->ogld", w.reshape(-1, clf.groups, clf.segments, d), pm)
            w = w.reshape(w.shape[0], -1)
        self.linear = nn.Linear(w.shape[1], w.shape[0]).to(device=clf.fc1.weight.device,
                                                            dtype=clf.fc1.weight.dtype)
        with torch.no_grad():
            self.linear.weight.copy_(w)
            self.linear.bias.copy_(b)
        self.linear.requires_grad_(False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(tokens.flatten(1))


def _folded(child: nn.Module) -> nn.Module | None:
    if isinstance(child, TransformerBlock) and child.attn.folds:
        return FoldedBlock(child)
    if isinstance(child, MultiHeadSelfAttention) and child.folds:
        return FoldedSelfAttention(child)
    if isinstance(child, Classifier):
        return FoldedClassifier(child)
    if isinstance(child, ScoreGenerationBlock):
        fc1, fc2 = _with_bn(child.fc1, child.bn1), _with_bn(child.fc2, child.bn2)
        if fc1 is not None and fc2 is not None:
            return FoldedScoreBlock(child, fc1, fc2)
    return None


def _fold_children(module: nn.Module) -> None:
    """Replace foldable children in place; replaced subtrees are not visited again."""
    for name, child in list(module.named_children()):
        new = _folded(child)
        if new is not None:
            setattr(module, name, new)
        else:
            _fold_children(child)


def fold_for_inference(model: nn.Module,
                       example: tuple[torch.Tensor, ...] | None = None) -> nn.Module:
    """A copy of ``model`` in eval mode with attention, score blocks and classifier folded.

    The copy is for inference only: it computes the same outputs as ``model.eval()`` and
    must not be trained (its folded layers no longer match the training parametrisation).
    With ``example`` inputs, token counts are frozen to theirs (:func:`freeze_token_counts`):
    the model then accepts only inputs of that window length, as an exported graph does."""
    folded = copy.deepcopy(model).eval()
    _fold_children(folded)
    folded.requires_grad_(False)
    if example is not None:
        freeze_token_counts(folded, example)
    return folded


def freeze_token_counts(model: nn.Module, example: tuple[torch.Tensor, ...]) -> None:
    """Record the token count each attention layer and position table sees for ``example``
    and make it a constant, so traced graphs carry no Shape/Slice/Concat chains."""
    seen: dict[nn.Module, int] = {}

    def record(mod: nn.Module, args: tuple) -> None:  # a pre-hook must return None
        seen.setdefault(mod, int(args[0].shape[1]))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules()
             if isinstance(m, (FoldedSelfAttention, FoldedBlock, FoldedScoreBlock,
                               PositionEmbedding))]
    try:
        with torch.no_grad():
            model(*example)
    finally:
        for hook in hooks:
            hook.remove()
    for mod, n in seen.items():
        if isinstance(mod, (FoldedSelfAttention, FoldedScoreBlock)):
            mod.tokens = n
        elif isinstance(mod, FoldedBlock):
            mod.attn.tokens = n
    for _, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, PositionEmbedding) and child in seen:
                setattr(module, child_name, StaticPosition(child, seen[child]))
