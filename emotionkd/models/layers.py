"""Building blocks of EmotionNet, ported from the reference Keras code (docs/method.md): what
each block computes. How the heavy ones are computed fast is in
:mod:`emotionkd.models.kernels`.

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

from emotionkd.models.kernels import (
    Dropout,
    attention_fold,
    batch_norm_rows,
    conv_stem_rows,
    folded_attention_rows,
    softsign,
)

#: BatchNorm momentum as PyTorch counts it (= 1 − Keras' default 0.99)
BN_MOMENTUM = 0.01
#: Keras' default BatchNorm epsilon
BN_EPS = 1e-3
#: the reference's LayerNormalization epsilon
LN_EPS = 1e-6
#: valid values of the score gates' pooling option
SCORE_POOLS = ("none", "gap")


class TokenBatchNorm(nn.Module):
    """BatchNorm over the feature axis of (B, L, D) tokens, statistics over B and L.

    What Keras' BatchNormalization does on the last axis of a 3-D tensor; the parameters live
    in a ``BatchNorm1d`` (state-dict keys ``bn.*``).
    """

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(d_model, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return batch_norm_rows(x, self.bn)


class ConvHead(nn.Module):
    """Conv stem ("head"): signal (B, C, T) → tokens (B, L, D).

    Temporal conv (1 → D filters, kernel ``kernel`` samples, stride ``stride``, valid padding)
    → BatchNorm → ReLU → "spatial" conv over all C input channels at once (kernel (C, 1)) →
    squeeze → Dropout. For GSR (C = 1) the spatial conv is a per-token D → D map, exactly the
    reference ``GSR_Head``'s (1, 1) convolution. L = ⌊(T − kernel)/stride⌋ + 1.

    The weights are stored as the two ``Conv2d`` layers; in training both convolutions are
    computed as matrix products over patches (:func:`~emotionkd.models.kernels.conv_stem_rows`),
    exporters get the plain convolutions.
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
        h = conv_stem_rows(x, self.temporal, self.bn, self.spatial)
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
    together first (:func:`~emotionkd.models.kernels.attention_fold`), as
    :mod:`emotionkd.models.inference` does for a frozen model: the same parameters, gradients
    and function as the four-projection form, with less arithmetic. Otherwise the four
    projections are computed directly. Both forms are twice differentiable (the feedback's
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
        return softsign(self.bn2(self.fc2(F.relu(self.bn1(self.fc1(h))))))


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
