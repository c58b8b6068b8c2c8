"""Building blocks of EmotionNet, ported from the reference Keras code (docs/method.md).

Tokens are (batch, length, features) throughout, as in the reference. Keras → PyTorch fidelity
(docs/method.md, "Architecture"):

* attention has ``n_heads`` heads of ``head_dim`` each, independent of the model width (8 × 64 =
  an inner width of 512 for a 64-wide model), like Keras ``MultiHeadAttention(num_heads=8,
  key_dim=64)``; ``nn.MultiheadAttention(64, 8)`` would split 64 into 8 heads of 8 instead;
* LayerNorm ε = 1e-6; BatchNorm momentum 0.01 (Keras 0.99 is the weight of the *old* running
  value, PyTorch's momentum the weight of the new one) and ε = 1e-3;
* BatchNorm on tokens normalises the feature axis with statistics over (batch, tokens), like
  Keras BN on the last axis of a 3-D tensor;
* :func:`keras_init` reproduces Keras' initialisers (glorot-uniform with Keras fan rules, zero
  biases, U(−0.05, 0.05) for the position table).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from emotionkd.distributed import all_reduce_sum, sync_batchnorm_enabled

#: BatchNorm momentum as PyTorch counts it (= 1 − Keras' default 0.99)
BN_MOMENTUM = 0.01
#: Keras' default BatchNorm epsilon
BN_EPS = 1e-3
#: the reference's LayerNormalization epsilon
LN_EPS = 1e-6
#: valid values of the score gates' pooling option
SCORE_POOLS = ("none", "gap")


def _bn_rows(x: torch.Tensor, bn: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    """Apply ``bn`` to the last axis of ``x`` with statistics over all other axes.

    Same statistics, running averages and parameters as calling the module on a
    channels-first view, without the transposed copies. Under multi-process training the
    statistics cover the global batch (see :mod:`emotionkd.distributed`).
    """
    d = x.shape[-1]
    if bn.training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    flat = x.reshape(-1, d)
    if bn.training and sync_batchnorm_enabled():
        return _global_bn(flat, bn).view(x.shape)
    y = F.batch_norm(flat, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                     bn.training or bn.running_mean is None, bn.momentum, bn.eps)
    return y.view(x.shape)


def _update_running_stats(bn: nn.modules.batchnorm._BatchNorm, mean: torch.Tensor,
                          var: torch.Tensor, n: torch.Tensor) -> None:
    """Running averages as ``F.batch_norm`` keeps them (variance unbiased over n rows)."""
    if bn.running_mean is None or bn.running_var is None:
        return
    with torch.no_grad():
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(m * mean.detach())
        bn.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))


def _global_bn(flat: torch.Tensor, bn: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    """Training-mode BatchNorm with statistics summed over every rank (differentiably)."""
    d = flat.shape[1]
    n_local = torch.tensor([float(flat.shape[0])], dtype=flat.dtype, device=flat.device)
    stats = all_reduce_sum(torch.cat([flat.sum(0), (flat * flat).sum(0), n_local]))
    n = stats[-1]
    mean = stats[:d] / n
    var = (stats[d:2 * d] / n - mean * mean).clamp_min(0.0)
    _update_running_stats(bn, mean, var, n)
    y = (flat - mean) * torch.rsqrt(var + bn.eps)
    return y * bn.weight + bn.bias if bn.affine else y


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout; on the CPU with masks drawn 16 bits at a time.

    ``F.dropout`` on a CPU draws one Bernoulli variate per element, which took 14 % of a
    teacher training step. Here one 64-bit random word gives four 16-bit uniforms, and an
    element is kept when its uniform is at or above ⌊p·2¹⁶⌉ / 2¹⁶ (= p within 8·10⁻⁶); kept
    elements are scaled by the exact inverse of the keep rate, so the expectation is unchanged.
    Four times faster on a CPU; other devices use ``F.dropout``.
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or not 0.0 < p < 1.0 or x.numel() == 0:
        return F.dropout(x, p, training)
    n = x.numel()
    words = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64)
    dropped = round(p * 65536)
    keep = words.view(torch.int16)[:n].view(x.shape) >= dropped - 32768
    return x * keep.to(x.dtype).mul_(65536.0 / (65536 - dropped))


class Dropout(nn.Module):
    """``nn.Dropout`` with :func:`dropout`'s faster CPU masks (same constructor, no state)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _linear_bn_rows(p: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
                    bn: nn.modules.batchnorm._BatchNorm) -> torch.Tensor:
    """``bn`` applied to ``F.linear(p, w, b)`` (rows = samples), computed as one Linear.

    BatchNorm after a linear map is itself linear: with the batch statistics of the outputs
    obtained from those of the inputs (mean μₚ and covariance Cₚ of the k-wide rows of p; the
    outputs have mean w μₚ + b and variance diag(w Cₚ wᵀ)), the result is
    (p − μₚ)(s·w)ᵀ + β with s = γ/√(var + ε). Same values, gradients (through the statistics)
    and running averages as ``_bn_rows(F.linear(p, w, b), bn)``, without the two passes of
    BatchNorm over the d-wide output — for the teacher's EEG stem 7 M values per batch, which
    were 8 % of a training step. Under multi-process training the statistics are global.
    """
    shift = bn.bias if bn.affine else None
    if not bn.training and bn.running_mean is not None and bn.running_var is not None:
        s = torch.rsqrt(bn.running_var + bn.eps)
        if bn.affine:
            s = s * bn.weight
        b0 = -bn.running_mean if b is None else b - bn.running_mean
        return F.linear(p, w * s[:, None], b0 * s + (shift if shift is not None else 0.0))
    if bn.training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    with torch.autocast(p.device.type, enabled=False):  # statistics in full precision
        wide = p.dtype if p.dtype == torch.float64 else torch.float32
        p32, w32 = p.to(wide), w.to(wide)
        n_local = torch.tensor([float(p.shape[0])], dtype=wide, device=p.device)
        sync = bn.training and sync_batchnorm_enabled()
        tot = all_reduce_sum(torch.cat([p32.sum(0), n_local])) if sync else None
        n = tot[-1] if sync else n_local[0]
        mu_p = tot[:-1] / n if sync else p32.mean(0)
        pc = p32 - mu_p
        cov = pc.t() @ pc
        cov = (all_reduce_sum(cov) if sync else cov) / n
        var = ((w32 @ cov) * w32).sum(1)  # diag(w C wᵀ), differentiable in w
        s = torch.rsqrt(var + bn.eps)
        if bn.affine:
            s = s * bn.weight
        if bn.training:
            _update_running_stats(bn, w32 @ mu_p + (b if b is not None else 0.0), var, n)
    return F.linear(pc.to(p.dtype), (w32 * s[:, None]).to(w.dtype), shift)


class TokenBatchNorm(nn.Module):
    """BatchNorm over the feature axis of (B, L, D) tokens, statistics over B and L.

    What Keras' BatchNormalization does on the last axis of a 3-D tensor; the parameters live
    in a ``BatchNorm1d`` (state-dict keys ``bn.*``).
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(d_model, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _bn_rows(x, self.bn)


class ConvHead(nn.Module):
    """Conv stem ("head"): signal (B, C, T) → tokens (B, L, D).

    Temporal conv (1 → D filters, kernel ``kernel`` samples, stride ``stride``, valid padding)
    → BatchNorm → ReLU → "spatial" conv over all C input channels at once (kernel (C, 1)) →
    squeeze → Dropout. For GSR (C = 1) the spatial conv is a per-token D → D map, exactly the
    reference ``GSR_Head``'s (1, 1) convolution. L = ⌊(T − kernel)/stride⌋ + 1.

    The weights are stored as the two ``Conv2d`` layers, but both convolutions are computed as
    matrix products over strided patches (``unfold``): the same arithmetic, about three times
    faster to train on a CPU than a one-input-channel convolution's backward pass.
    """

    def __init__(self, n_channels: int, kernel: int, stride: int, d_model: int,
                 dropout: float) -> None:
        super().__init__()
        self.temporal = nn.Conv2d(1, d_model, kernel_size=(1, kernel), stride=(1, stride))
        self.bn = nn.BatchNorm2d(d_model, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.spatial = nn.Conv2d(d_model, d_model, kernel_size=(n_channels, 1))
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            # exporters get the plain convolutions (same arithmetic, fast to run forward)
            h = F.relu(self.bn(self.temporal(x.unsqueeze(1))))  # (B, D, C, L)
            return self.drop(self.spatial(h).squeeze(2).transpose(1, 2))
        b, c, _ = x.shape
        d, _, _, k = self.temporal.weight.shape
        # (B, L, C, k): token-major patches, so the D-wide products come out in the order the
        # spatial conv reads them (one copy of the k-wide patches, none of the outputs)
        patches = x.unfold(-1, k, self.temporal.stride[1]).transpose(1, 2)
        n = patches.shape[1]
        # temporal conv and BatchNorm as one Linear over the (B·L·C, k) patch rows
        h = F.relu_(_linear_bn_rows(patches.reshape(-1, k), self.temporal.weight.view(d, k),
                                    self.temporal.bias, self.bn))
        # spatial conv: out[b, l, o] = Σ_{c,i} W[o, i, c] · h[b, l, c, i] + bias[o]
        w = self.spatial.weight.squeeze(-1).permute(0, 2, 1).reshape(d, c * d)
        h = F.linear(h.view(b, n, c * d), w, self.spatial.bias)
        return self.drop(h)  # (B, L, D)

    def kernels(self) -> list[torch.Tensor]:
        """The conv kernels the reference regularises with L2(0.001)."""
        return [self.temporal.weight, self.spatial.weight]


class PowerHead(nn.Module):
    """Log-power stem: signal (B, C, T) → tokens (B, L, D), the same token grid as
    :class:`ConvHead` (token l covers samples [l·stride, l·stride + pool)).

    Every channel is filtered by the same ``n_filters`` learned FIR filters (``taps`` samples,
    zero-padded to keep the length), squared, averaged over each token's span and put on a log
    scale: log band power per channel, filter and token — the quantity a band-power feature
    set hands a linear model, and a multiplicative change of power becomes an additive one.
    A BatchNorm standardises the C·F log powers, and a Linear maps them to the D-wide token
    (the spatial mixing). After ShallowConvNet's square–pool–log (Schirrmeister et al. 2017),
    with the spatial step after the log so that each channel's power counts on its own.
    """

    def __init__(self, n_channels: int, taps: int, pool: int, stride: int, n_filters: int,
                 d_model: int, dropout: float) -> None:
        super().__init__()
        self.n_channels, self.pool, self.stride = n_channels, pool, stride
        self.temporal = nn.Conv1d(1, n_filters, taps, padding=taps // 2, bias=False)
        self.bn = TokenBatchNorm(n_channels * n_filters)
        self.spatial = nn.Linear(n_channels * n_filters, d_model)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        f = self.temporal.out_channels
        y = self.temporal(x.reshape(b * c, 1, t))[..., :t]  # (B·C, F, T)
        p = F.avg_pool1d(y * y, self.pool, self.stride)  # (B·C, F, L)
        logp = torch.log(p + 1e-6).reshape(b, c * f, -1).transpose(1, 2)  # (B, L, C·F)
        return self.drop(self.spatial(self.bn(logp)))

    def kernels(self) -> list[torch.Tensor]:
        """The conv and mixing kernels (regularised like :class:`ConvHead`'s)."""
        return [self.temporal.weight, self.spatial.weight]


class MultiHeadSelfAttention(nn.Module):
    """Self-attention with ``n_heads`` heads of ``head_dim`` each, independent of ``d_model``.

    q, k, v: Linear(d_model → n_heads·head_dim); output: Linear(n_heads·head_dim → d_model);
    scores scaled by 1/√head_dim; no mask and no attention dropout (Keras defaults).

    When d_model ≤ head_dim (the paper's 64 = 64) the forward pass multiplies the weights
    together first, as :mod:`emotionkd.models.inference` does for a frozen model: the scores
    are (x Mₕ + cₕ) xᵀ with Mₕ = Wqₕᵀ Wkₕ/√k, and the output is Σₕ (Aₕ x) Uₕ with
    Uₕ = Wvₕᵀ Woₕᵀ (row-constant score terms cancel in the softmax; rows of Aₕ sum to 1, which
    turns the value and output biases into one constant). The parameters, their gradients
    (through the products) and the function are the same as the four-projection form, at
    two thirds of its arithmetic and with no head transposes; a training step of the teacher
    is about 10 % faster. Otherwise the four projections are computed directly. Both forms are
    written with plain matrix products and softmax, twice differentiable (the feedback
    meta-gradient needs a second derivative).
    """

    def __init__(self, d_model: int, n_heads: int, head_dim: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, head_dim
        inner = n_heads * head_dim
        self.q = nn.Linear(d_model, inner)
        self.k = nn.Linear(d_model, inner)
        self.v = nn.Linear(d_model, inner)
        self.out = nn.Linear(inner, d_model)

    @property
    def inner_dim(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def folds(self) -> bool:
        """Whether the folded form saves work: model width at most the head width."""
        return self.q.in_features <= self.head_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folds:
            return self._folded(x)
        return self._projected(x)

    def _projected(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        w = torch.cat([self.q.weight * (1.0 / math.sqrt(self.head_dim)), self.k.weight,
                       self.v.weight])
        bias = torch.cat([self.q.bias * (1.0 / math.sqrt(self.head_dim)), self.k.bias,
                          self.v.bias])
        qkv = F.linear(x, w, bias).view(b, n, 3, self.n_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, L, k); q pre-scaled
        ctx = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return self.out(ctx.transpose(1, 2).reshape(b, n, self.inner_dim))

    def _folded(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        rows = folded_attention_rows(x, x.reshape(-1, d), *attention_fold(self), self.n_heads,
                                     n, d)
        return rows.view(b, n, d)


def attention_fold(attn: MultiHeadSelfAttention, dtype: torch.dtype | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The folded weights (w_m, b_m, w_z, b_out) of ``attn``, differentiable in its parameters
    (computed in ``dtype`` if given).

    Scores: (x Wqₕᵀ + bqₕ)(x Wkₕᵀ + bkₕ)ᵀ/√k = (x Mₕ + cₕ) xᵀ + row-constant terms, which the
    softmax removes; m = x Mₕ + cₕ for all heads is one Linear (w_m: (H·d, d), rows (h, d_out)).
    Output: Σₕ Aₕ (x Wvₕᵀ + bvₕ) Woₕᵀ + bo = Σₕ (Aₕ x) Uₕ + (bo + Wo bv), rows of Aₕ summing
    to 1; with the heads' Aₕ x side by side that is one Linear (w_z: (d, H·d))."""
    h, k, d = attn.n_heads, attn.head_dim, attn.q.in_features

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t if dtype is None else t.to(dtype)

    scale = 1.0 / math.sqrt(k)
    wk, wv = cast(attn.k.weight).view(h, k, d), cast(attn.v.weight).view(h, k, d)
    # weight rows (h, d_out, d_in) = Mₕᵀ = Wkₕᵀ Wqₕ / √k
    w_m = torch.einsum("hkd,hke->hde", wk, cast(attn.q.weight).view(h, k, d) * scale)
    b_m = torch.einsum("hk,hkd->hd", cast(attn.q.bias).view(h, k) * scale, wk)
    wo = cast(attn.out.weight)  # (d, H·k)
    # weight[o, h·d + c] = (Woₕ Wvₕ)[o, c]
    w_z = torch.einsum("ohk,hkc->ohc", wo.view(d, h, k), wv)
    b_out = cast(attn.out.bias) + wo @ cast(attn.v.bias)
    return w_m.reshape(h * d, d), b_m.reshape(h * d), w_z.reshape(d, h * d), b_out


def folded_attention_rows(x: torch.Tensor, rows: torch.Tensor, w_m: torch.Tensor,
                          b_m: torch.Tensor, w_z: torch.Tensor, b_out: torch.Tensor,
                          n_heads: int, tokens: int, d: int) -> torch.Tensor:
    """Self-attention from :func:`attention_fold`'s weights, as (B·L, d) rows, for tokens
    x (B, L, d) and their rows (B·L, d): two token-wise GEMMs and two batched products, with
    free reshapes only (no head transposes). The sizes are plain ints, so that traced graphs
    carry no shape arithmetic."""
    # m: (B, L·H, d) with rows (query i, head h) — a free reshape of the product
    m = F.linear(rows, w_m, b_m).reshape(-1, tokens * n_heads, d)
    scores = m @ x.transpose(1, 2)  # (B, L·H, L): scores[(i, h), j] = mₕᵢ · xⱼ
    # z: rows (i, h) of Σⱼ Aₕᵢⱼ xⱼ — (B·L, H·d) is a free reshape of the product
    z = (torch.softmax(scores, dim=-1) @ x).reshape(-1, n_heads * d)
    return F.linear(z, w_z, b_out)


class TransformerBlock(nn.Module):
    """Post-norm block (the reference): h = LN(x + Dropout(MHA(x))); out = LN(h +
    Dropout(FFN(h))). With ``norm_first`` a pre-norm block: h = x + Dropout(MHA(LN(x))); out =
    h + Dropout(FFN(LN(h))), whose residual stream keeps the tokens' scale (a post-norm block
    rescales every token to unit spread, removing power and level information).

    FFN = Linear(d, ff) → ReLU → Linear(ff, d); both LayerNorms have ε = 1e-6.
    """

    def __init__(self, d_model: int, n_heads: int, head_dim: int, ff_dim: int,
                 dropout: float, norm_first: bool = False) -> None:
        super().__init__()
        self.norm_first = bool(norm_first)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, head_dim)
        self.drop1 = Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=LN_EPS)
        self.ff1 = nn.Linear(d_model, ff_dim)
        self.ff2 = nn.Linear(ff_dim, d_model)
        self.drop2 = Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            h = x + self.drop1(self.attn(self.norm1(x)))
            return h + self.drop2(self.ff2(F.relu(self.ff1(self.norm2(h)))))
        h = self.norm1(x + self.drop1(self.attn(x)))
        return self.norm2(h + self.drop2(self.ff2(F.relu(self.ff1(h)))))


class PositionEmbedding(nn.Module):
    """Learned position table (``n_rows`` × D); rows 0..L−1 are added to L tokens.

    The reference's table has 64 rows for 61 tokens; any ``n_rows`` ≥ L works. PyTorch-style
    initialisation is N(0, 1) as ``nn.Embedding``; :func:`keras_init` sets U(−0.05, 0.05).
    """

    def __init__(self, n_rows: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_rows, d_model))
        nn.init.normal_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        if not torch.jit.is_tracing() and n > self.weight.shape[0]:
            raise ValueError(f"{n} tokens but the position table has {self.weight.shape[0]} rows")
        return x + self.weight[:n].unsqueeze(0)


class Encoder(nn.Module):
    """Position embedding, then ``n_blocks`` transformer blocks; returns the output of every
    block (the fusions use them all)."""

    def __init__(self, pos_rows: int, d_model: int, n_heads: int, head_dim: int, ff_dim: int,
                 n_blocks: int, dropout: float, norm_first: bool = False) -> None:
        super().__init__()
        self.pos = PositionEmbedding(pos_rows, d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, head_dim, ff_dim, dropout, norm_first)
            for _ in range(n_blocks)
        )

    def forward(self, x: torch.Tensor, n_blocks: int | None = None) -> list[torch.Tensor]:
        """Outputs of the first ``n_blocks`` blocks (all by default); later blocks are not
        run."""
        h = self.pos(x)
        outs = []
        for block in self.blocks[:n_blocks]:
            h = block(h)
            outs.append(h)
        return outs


class ScoreGenerationBlock(nn.Module):
    """Score in (−1, 1) for gating tokens: Linear → BN → ReLU → Linear → BN → softsign.

    Returns the score only; the fusions multiply it with their input. ``pool="none"`` (the
    reference code) scores every token: (B, L, D) → (B, L, D). ``pool="gap"`` (the poster's
    "Interactivity Extractor") scores the token average, an SE-style gate shared by all tokens:
    (B, L, D) → (B, 1, D); its BatchNorm then has one value per window, so training needs
    batches of at least two windows.
    """

    def __init__(self, d_model: int, pool: str = "none") -> None:
        super().__init__()
        if pool not in SCORE_POOLS:
            raise ValueError(f"score pool must be one of {SCORE_POOLS}, not {pool!r}")
        self.pool = pool
        self.fc1 = nn.Linear(d_model, d_model)
        self.bn1 = TokenBatchNorm(d_model)
        self.fc2 = nn.Linear(d_model, d_model)
        self.bn2 = TokenBatchNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.mean(dim=1, keepdim=True) if self.pool == "gap" else x
        # (folding each Linear + BatchNorm pair as in the conv stem was measured slower here:
        # with 64 inputs the covariance product costs more than the BatchNorm passes)
        return softsign(self.bn2(self.fc2(F.relu(self.bn1(self.fc1(h))))))


class _Softsign(torch.autograd.Function):
    """x / (1 + |x|) with a four-operation backward, g / (1 + |x|)², itself differentiable;
    exports as ONNX's single ``Softsign`` operator (not Abs, Add, Div)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(x)
        return x / (x.abs() + 1.0)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        (x,) = ctx.saved_tensors
        t = x.abs() + 1.0
        return g / (t * t)

    @staticmethod
    def symbolic(g, x):  # noqa: ANN001, ANN205
        return g.op("Softsign", x)


def softsign(x: torch.Tensor) -> torch.Tensor:
    """``F.softsign`` with a cheaper backward pass (four elementwise operations; autograd's runs
    eight) and a single ONNX operator; TorchScript traces, which cannot hold a Python function,
    get ``F.softsign``."""
    if torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
        return F.softsign(x)
    return _Softsign.apply(x)


def _gated(sgb: ScoreGenerationBlock, x: torch.Tensor) -> torch.Tensor:
    return sgb(x) * x


class InterModalityFusion(nn.Module):
    """IMF(E_b, G_b, E_a, G_a) = SGB₁(X_b) ⊙ X_b + SGB₂(X_a) ⊙ X_a with X_b = cat[E_b, G_b] and
    X_a = cat[E_a, G_a], concatenated along the token axis (L + L → 2L tokens).

    *Deviation from the reference code (fixed by default):* the reference builds the "after"
    branch as ``cat[E_b, G_a]`` — the earlier EEG block instead of the later one — so the
    later EEG block of the pair is not used there (in the teacher, the third EEG block is never
    used and gets no gradient). ``faithful_bug=True`` reproduces that behaviour.
    """

    def __init__(self, d_model: int, pool: str = "none", faithful_bug: bool = False) -> None:
        super().__init__()
        self.sgb_before = ScoreGenerationBlock(d_model, pool)
        self.sgb_after = ScoreGenerationBlock(d_model, pool)
        self.faithful_bug = faithful_bug

    def forward(self, e_b: torch.Tensor, g_b: torch.Tensor, e_a: torch.Tensor,
                g_a: torch.Tensor) -> torch.Tensor:
        before = torch.cat([e_b, g_b], dim=1)
        after = torch.cat([e_b if self.faithful_bug else e_a, g_a], dim=1)
        return _gated(self.sgb_before, before) + _gated(self.sgb_after, after)


class DepthFusion(nn.Module):
    """MultiDepthFusion: Σ_d SGB_d(x_d) ⊙ x_d over the outputs of the encoder's blocks."""

    def __init__(self, d_model: int, n_blocks: int, pool: str = "none") -> None:
        super().__init__()
        self.sgbs = nn.ModuleList(ScoreGenerationBlock(d_model, pool) for _ in range(n_blocks))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if len(xs) != len(self.sgbs):
            raise ValueError(f"depth fusion has {len(self.sgbs)} gates but got {len(xs)} inputs")
        out = _gated(self.sgbs[0], xs[0])
        for sgb, x in zip(self.sgbs[1:], xs[1:]):
            out = out + _gated(sgb, x)
        return out


#: valid values of the classifier's token pooling
CLASSIFIER_POOLS = ("flatten", "mean")


def segment_matrix(tokens: int, segments: int) -> torch.Tensor:
    """(tokens, segments) averaging matrix: column j averages the j-th of ``segments``
    consecutive, nearly equal runs of tokens."""
    edges = [round(j * tokens / segments) for j in range(segments + 1)]
    m = torch.zeros(tokens, segments)
    for j in range(segments):
        m[edges[j]:edges[j + 1], j] = 1.0 / max(edges[j + 1] - edges[j], 1)
    return m


class Classifier(nn.Module):
    """Flatten → Dropout → Linear(L·D, h) → Linear(h, h) → Linear(h, h) → Linear(h, classes).

    No activations between the layers, as in the reference code: at inference it is one linear
    map, the factorisation only changes the optimisation. Flattening (B, L, D) row-major is
    the same order as Keras' Flatten.

    ``pool="mean"`` averages the tokens instead of flattening them: each of ``groups`` equal
    runs of tokens (the teacher's EEG-first and GSR-first halves: 2) is cut into ``segments``
    consecutive parts whose token means the first Linear reads — groups·segments·D features
    instead of L·D. One segment is position-free; a few keep the coarse time course (the rise
    or fall of skin conductance over a window) with a fraction of the weights (flattening
    gives every token position its own weights, which lets a small data set be memorised).
    """

    def __init__(self, in_features: int, hidden: int, n_classes: int, dropout: float,
                 pool: str = "flatten", groups: int = 1, tokens: int = 0,
                 segments: int = 1) -> None:
        super().__init__()
        if pool not in CLASSIFIER_POOLS:
            raise ValueError(f"classifier pool must be one of {CLASSIFIER_POOLS}, not {pool!r}")
        self.pool, self.groups, self.segments = pool, int(groups), int(segments)
        if pool == "mean":
            if tokens < groups * segments or tokens % groups:
                raise ValueError(f"{tokens} tokens cannot be cut into {groups} groups of "
                                 f"{segments} segments")
            self.register_buffer("pool_matrix", segment_matrix(tokens // groups, segments),
                                 persistent=False)
        self.drop = Dropout(dropout)
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """The classifier's input vector: flattened tokens, or the segment means."""
        if self.pool == "mean":
            b, n, d = tokens.shape
            x = tokens.reshape(b, self.groups, n // self.groups, d)
            return torch.einsum("bgld,ls->bgsd", x, self.pool_matrix).flatten(1)
        return tokens.flatten(1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc3(self.fc2(self.fc1(self.drop(self.features(tokens))))))


def _glorot_(w: torch.Tensor, fan_in: int, fan_out: int) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        w.uniform_(-limit, limit)


def _keras_attention_init(m: MultiHeadSelfAttention) -> None:
    # Keras kernels: q/k/v (d, H, k) and output (H, k, d). Keras fans of an n-D kernel are
    # (shape[-2]·r, shape[-1]·r) with r = prod(shape[:-2]).
    d, h, k = m.q.in_features, m.n_heads, m.head_dim
    for lin in (m.q, m.k, m.v):
        _glorot_(lin.weight, fan_in=h * d, fan_out=k * d)  # 512, 4096 at 64/8/64: ±0.036
    _glorot_(m.out.weight, fan_in=k * h, fan_out=d * h)
    for lin in (m.q, m.k, m.v, m.out):
        nn.init.zeros_(lin.bias)


def keras_init(module: nn.Module) -> None:
    """Re-initialise ``module`` in place as Keras would have.

    Dense and conv kernels: glorot-uniform with Keras fans (a Dense kernel (in, out) has fans
    in/out; a conv kernel (*k, cin, cout) has fans (cin·∏k, cout·∏k)); attention kernels with
    the fans of Keras' (d, H, k) and (H, k, d) einsum kernels; biases zero; the position table
    U(−0.05, 0.05) (Keras ``Embedding``). Norm layers keep γ = 1, β = 0.
    """
    if isinstance(module, MultiHeadSelfAttention):
        _keras_attention_init(module)
    elif isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        w = module.weight
        receptive = math.prod(w.shape[2:])
        _glorot_(w, fan_in=w.shape[1] * receptive, fan_out=w.shape[0] * receptive)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (PositionEmbedding, nn.Embedding)):
        nn.init.uniform_(module.weight, -0.05, 0.05)
    else:
        for child in module.children():
            keras_init(child)
