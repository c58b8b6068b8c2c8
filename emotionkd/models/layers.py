"""Building blocks of EmotionNet, ported from the reference Keras code (method.md §1.2).

Fidelity notes (Keras → PyTorch):

* attention has ``n_heads`` heads of ``head_dim`` each (8 × 64 = an inner width of 512 for a
  64-wide model), as Keras ``MultiHeadAttention(num_heads=8, key_dim=64)``; PyTorch's
  ``nn.MultiheadAttention(64, 8)`` would split 64 into 8 heads of 8 instead;
* LayerNorm ε = 1e-6, BatchNorm momentum 0.01 (Keras 0.99) and ε = 1e-3;
* BatchNorm on token sequences normalises the feature axis with statistics over (batch,
  tokens), like Keras BN on the last axis of a 3-D tensor;
* optional Keras-style initialisation (glorot-uniform with Keras fan rules, U(−0.05, 0.05)
  for the position table) — see :func:`keras_init`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_MOMENTUM = 0.01
BN_EPS = 1e-3
LN_EPS = 1e-6


class TokenBatchNorm(nn.Module):
    """BatchNorm over the feature axis of (B, L, D) tokens (statistics over B and L)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(d, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(x.transpose(1, 2)).transpose(1, 2)


class ConvHead(nn.Module):
    """Conv stem: temporal conv (kernel fs/4, stride 8, 64 filters) → BN → ReLU → a spatial
    conv across all input channels at once → tokens (B, L, D) → dropout.

    Input (B, C, T) → (B, D, C, L) after the temporal conv → (B, D, 1, L) after the spatial
    conv (kernel (C, 1)) → (B, L, D). For GSR (C = 1) the spatial conv is a per-token D→D map,
    exactly the reference ``GSR_Head``'s (1, 1) convolution.
    """

    def __init__(self, n_channels: int, kernel: int, stride: int, d_model: int,
                 dropout: float) -> None:
        super().__init__()
        self.temporal = nn.Conv2d(1, d_model, kernel_size=(1, kernel), stride=(1, stride))
        self.bn = nn.BatchNorm2d(d_model, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.spatial = nn.Conv2d(d_model, d_model, kernel_size=(n_channels, 1))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.temporal(x.unsqueeze(1))))  # (B, D, C, L)
        h = self.spatial(h).squeeze(2)  # (B, D, L)
        return self.drop(h.transpose(1, 2))  # (B, L, D)

    def kernels(self) -> list[torch.Tensor]:
        """The conv kernels the reference regularises with L2(0.001)."""
        return [self.temporal.weight, self.spatial.weight]


class MultiHeadSelfAttention(nn.Module):
    """Self-attention with ``n_heads`` heads of ``head_dim`` each, independent of ``d_model``.

    q, k, v: Linear(d_model → n_heads·head_dim); output: Linear(n_heads·head_dim → d_model);
    scores scaled by 1/√head_dim, no mask (Keras MultiHeadAttention with key_dim=head_dim).
    """

    def __init__(self, d_model: int, n_heads: int, head_dim: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim = n_heads, head_dim
        inner = n_heads * head_dim
        self.q = nn.Linear(d_model, inner)
        self.k = nn.Linear(d_model, inner)
        self.v = nn.Linear(d_model, inner)
        self.out = nn.Linear(inner, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        h = (att @ v).transpose(1, 2).reshape(b, n, self.n_heads * self.head_dim)
        return self.out(h)


class TransformerBlock(nn.Module):
    """Post-norm block: LN(x + drop(MHA(x))) then LN(h + drop(FFN(h)))."""

    def __init__(self, d_model: int, n_heads: int, head_dim: int, ff_dim: int,
                 dropout: float) -> None:
        super().__init__()
        self.attn = MultiHeadSelfAttention(d_model, n_heads, head_dim)
        self.drop1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model, eps=LN_EPS)
        self.ff1 = nn.Linear(d_model, ff_dim)
        self.ff2 = nn.Linear(ff_dim, d_model)
        self.drop2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model, eps=LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x + self.drop1(self.attn(x)))
        return self.norm2(h + self.drop2(self.ff2(F.relu(self.ff1(h)))))


class Encoder(nn.Module):
    """Learned position embedding, then ``n_blocks`` transformer blocks; returns every block's
    output (the fusions use them all)."""

    def __init__(self, n_tokens: int, pos_table: int, d_model: int, n_heads: int,
                 head_dim: int, ff_dim: int, n_blocks: int, dropout: float) -> None:
        super().__init__()
        if pos_table < n_tokens:
            raise ValueError(f"position table ({pos_table}) smaller than token count {n_tokens}")
        self.n_tokens = n_tokens
        self.pos = nn.Embedding(pos_table, d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, n_heads, head_dim, ff_dim, dropout) for _ in range(n_blocks)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = x + self.pos.weight[: x.shape[1]].unsqueeze(0)
        outs = []
        for blk in self.blocks:
            h = blk(h)
            outs.append(h)
        return outs


class ScoreGate(nn.Module):
    """ScoreGenerationBlock: Linear → BN → ReLU → Linear → BN → softsign, giving a score in
    (−1, 1) that multiplies its input.

    ``pool="none"`` (the reference code) scores every token; ``pool="gap"`` (the poster's
    "Interactivity Extractor") scores the token-average, an SE-style channel gate.
    """

    def __init__(self, d_model: int, pool: str = "none") -> None:
        super().__init__()
        if pool not in ("none", "gap"):
            raise ValueError(f"score_pool must be 'none' or 'gap', not {pool!r}")
        self.pool = pool
        self.fc1 = nn.Linear(d_model, d_model)
        self.bn1 = TokenBatchNorm(d_model)
        self.fc2 = nn.Linear(d_model, d_model)
        self.bn2 = TokenBatchNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.mean(dim=1, keepdim=True) if self.pool == "gap" else x
        s = F.softsign(self.bn2(self.fc2(F.relu(self.bn1(self.fc1(h))))))
        return s * x


class InterModalityFusion(nn.Module):
    """IMF: gate(cat[E_b, G_b]) + gate(cat[E_a, G_a]), concatenating along the token axis.

    ``faithful_bug=True`` reproduces the reference code, whose second branch concatenates
    E_b instead of E_a (so the deeper EEG block of the pair is never used).
    """

    def __init__(self, d_model: int, pool: str = "none", faithful_bug: bool = False) -> None:
        super().__init__()
        self.gate_before = ScoreGate(d_model, pool)
        self.gate_after = ScoreGate(d_model, pool)
        self.faithful_bug = faithful_bug

    def forward(self, e_b: torch.Tensor, g_b: torch.Tensor, e_a: torch.Tensor,
                g_a: torch.Tensor) -> torch.Tensor:
        before = torch.cat([e_b, g_b], dim=1)
        after = torch.cat([e_b if self.faithful_bug else e_a, g_a], dim=1)
        return self.gate_before(before) + self.gate_after(after)


class DepthFusion(nn.Module):
    """MultiDepthFusion: Σ_d gate_d(x_d) over the encoder blocks' outputs."""

    def __init__(self, d_model: int, n_blocks: int, pool: str = "none") -> None:
        super().__init__()
        self.gates = nn.ModuleList(ScoreGate(d_model, pool) for _ in range(n_blocks))

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return sum(g(x) for g, x in zip(self.gates, xs))


class Classifier(nn.Module):
    """Dropout → Linear(L·D, h) → Linear(h, h) → Linear(h, h) → Linear(h, classes).

    No activations between the layers, as in the reference code (so at inference it is one
    linear map; the factorisation only changes the optimisation).
    """

    def __init__(self, in_features: int, hidden: int, n_classes: int, dropout: float) -> None:
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc3(self.fc2(self.fc1(self.drop(tokens.flatten(1))))))


def _keras_fans(w: torch.Tensor, module: nn.Module) -> tuple[float, float]:
    """Keras glorot fans for the corresponding Keras kernel shape."""
    if isinstance(module, nn.Conv2d):
        out_c, in_c, kh, kw = w.shape
        rf = kh * kw
        return in_c * rf, out_c * rf
    out_f, in_f = w.shape
    return in_f, out_f


def keras_init(model: nn.Module) -> None:
    """Glorot-uniform weights with Keras fan rules, zero biases, U(−0.05, 0.05) embeddings.

    Keras computes the fans of an n-D kernel as (shape[-2]·r, shape[-1]·r) with
    r = prod(shape[:-2]). Its attention kernels are (d, H, k) for q/k/v (fan_in H·d, fan_out
    k·d: limit ≈ 0.036 at 64/8/64) and (H, k, d) for the output (fans H·k and H·d); a
    Conv2D kernel (kh, kw, cin, cout) has fans (cin·kh·kw, cout·kh·kw).
    """
    for m in model.modules():
        if isinstance(m, MultiHeadSelfAttention):
            h, k = m.n_heads, m.head_dim
            d = m.q.in_features
            for lin in (m.q, m.k, m.v):  # Keras kernel (d, H, k): receptive = d
                _glorot_(lin.weight, fan_in=d * h, fan_out=d * k)
            # output kernel (H, k, d): receptive = H
            _glorot_(m.out.weight, fan_in=h * k, fan_out=h * d)
            for lin in (m.q, m.k, m.v, m.out):
                nn.init.zeros_(lin.bias)
        elif isinstance(m, (nn.Linear, nn.Conv2d)) and not _inside_attention(model, m):
            fan_in, fan_out = _keras_fans(m.weight, m)
            _glorot_(m.weight, fan_in, fan_out)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.uniform_(m.weight, -0.05, 0.05)


def _inside_attention(root: nn.Module, target: nn.Module) -> bool:
    for m in root.modules():
        if isinstance(m, MultiHeadSelfAttention) and any(target is c for c in m.children()):
            return True
    return False


def _glorot_(w: torch.Tensor, fan_in: float, fan_out: float) -> None:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        w.uniform_(-limit, limit)
