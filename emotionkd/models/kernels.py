"""Performance kernels of the EmotionNet layers: the same arithmetic as the plain PyTorch
modules, computed with fewer passes over memory. :mod:`emotionkd.models.layers` says *what*
each block computes; this module says *how fast*. Every kernel has the plain form's values,
gradients (second derivatives included, for the feedback's meta-gradient) and running
statistics; tests compare them with the plain forms. The measurements behind them are in
docs/method.md ("How the forward pass is computed in training").

* :func:`batch_norm_rows` — BatchNorm over the last axis of tokens without transposed copies;
* :func:`linear_batch_norm_rows` — a Linear followed by BatchNorm as one Linear whose batch
  statistics come from the inputs' (the conv stem's temporal convolution and BatchNorm);
* :func:`conv_stem_rows` — the conv stem's two convolutions as matrix products over patches;
* :func:`attention_fold` and :func:`folded_attention_rows` — self-attention with the key and
  output projections multiplied into the query and value sides;
* :func:`softsign` — softsign with a four-operation backward and one ONNX operator;
* :func:`dropout` / :class:`Dropout` — inverted dropout with masks drawn 16 bits at a time.

Data-parallel training (:mod:`emotionkd.distributed`) installs the reduction that makes the
BatchNorm statistics global (:func:`use_global_statistics`); without it they are local.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from torch.nn.modules.batchnorm import _BatchNorm

#: (whether batch statistics are global now, the differentiable sum over processes); set by
#: :mod:`emotionkd.distributed`
_GLOBAL: dict[str, Callable[..., Any] | None] = {"enabled": None, "sum": None}


def use_global_statistics(enabled: Callable[[], bool],
                          reduce_sum: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Let BatchNorm statistics cover every process of a data-parallel run: ``enabled()``
    says whether they do at the moment, ``reduce_sum`` sums a tensor over the processes
    (differentiably)."""
    _GLOBAL["enabled"], _GLOBAL["sum"] = enabled, reduce_sum


def _global() -> bool:
    enabled = _GLOBAL["enabled"]
    return enabled is not None and bool(enabled())


def _sum(t: torch.Tensor) -> torch.Tensor:
    reduce = _GLOBAL["sum"]
    return t if reduce is None else reduce(t)


# ---------------------------------------------------------------------------------------------
# BatchNorm


def batch_norm_rows(x: torch.Tensor, bn: _BatchNorm) -> torch.Tensor:
    """Apply ``bn`` to the last axis of ``x`` with statistics over all other axes.

    Same statistics, running averages and parameters as calling the module on a
    channels-first view, without the transposed copies. Under multi-process training the
    statistics cover the global batch.
    """
    d = x.shape[-1]
    if bn.training and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
    flat = x.reshape(-1, d)
    if bn.training and _global():
        return _global_bn(flat, bn).view(x.shape)
    y = F.batch_norm(flat, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                     bn.training or bn.running_mean is None, bn.momentum, bn.eps)
    return y.view(x.shape)


def _update_running_stats(bn: _BatchNorm, mean: torch.Tensor, var: torch.Tensor,
                          n: torch.Tensor) -> None:
    """Running averages as ``F.batch_norm`` keeps them (variance unbiased over n rows)."""
    if bn.running_mean is None or bn.running_var is None:
        return
    with torch.no_grad():
        m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
        bn.running_mean.mul_(1 - m).add_(m * mean.detach())
        bn.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))


def _global_bn(flat: torch.Tensor, bn: _BatchNorm) -> torch.Tensor:
    """Training-mode BatchNorm with statistics summed over every process (differentiably)."""
    d = flat.shape[1]
    n_local = torch.tensor([float(flat.shape[0])], dtype=flat.dtype, device=flat.device)
    stats = _sum(torch.cat([flat.sum(0), (flat * flat).sum(0), n_local]))
    n = stats[-1]
    mean = stats[:d] / n
    var = (stats[d:2 * d] / n - mean * mean).clamp_min(0.0)
    _update_running_stats(bn, mean, var, n)
    y = (flat - mean) * torch.rsqrt(var + bn.eps)
    return y * bn.weight + bn.bias if bn.affine else y


def linear_batch_norm_rows(p: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None,
                           bn: _BatchNorm) -> torch.Tensor:
    """``bn`` applied to ``F.linear(p, w, b)`` (rows = samples), computed as one Linear.

    BatchNorm after a linear map is itself linear: with the batch statistics of the outputs
    obtained from those of the inputs (mean μₚ and covariance Cₚ of the k-wide rows of p; the
    outputs have mean w μₚ + b and variance diag(w Cₚ wᵀ)), the result is
    (p − μₚ)(s·w)ᵀ + β with s = γ/√(var + ε). Same values, gradients (through the statistics)
    and running averages as ``batch_norm_rows(F.linear(p, w, b), bn)``, without the two
    passes of BatchNorm over the d-wide output. Under multi-process training the statistics
    are global.
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
        sync = bn.training and _global()
        tot = _sum(torch.cat([p32.sum(0), n_local])) if sync else None
        n = tot[-1] if sync else n_local[0]
        mu_p = tot[:-1] / n if sync else p32.mean(0)
        pc = p32 - mu_p
        cov = pc.t() @ pc
        cov = (_sum(cov) if sync else cov) / n
        var = ((w32 @ cov) * w32).sum(1)  # diag(w C wᵀ), differentiable in w
        s = torch.rsqrt(var + bn.eps)
        if bn.affine:
            s = s * bn.weight
        if bn.training:
            _update_running_stats(bn, w32 @ mu_p + (b if b is not None else 0.0), var, n)
    return F.linear(pc.to(p.dtype), (w32 * s[:, None]).to(w.dtype), shift)


def conv_stem_rows(x: torch.Tensor, temporal: nn.Conv2d, bn: nn.BatchNorm2d,
                   spatial: nn.Conv2d) -> torch.Tensor:
    """The conv stem's temporal convolution → BatchNorm → ReLU → spatial convolution on
    signals x (B, C, T), as tokens (B, L, D): both convolutions as matrix products over
    strided patches (``unfold``) of the convolutions' own weights — the same arithmetic,
    cheaper to train on a CPU than a one-input-channel convolution's backward pass."""
    b, c, _ = x.shape
    d, _, _, k = temporal.weight.shape
    # (B, L, C, k): token-major patches, so the D-wide products come out in the order the
    # spatial conv reads them (one copy of the k-wide patches, none of the outputs)
    patches = x.unfold(-1, k, temporal.stride[1]).transpose(1, 2)
    n = patches.shape[1]
    # temporal conv and BatchNorm as one Linear over the (B·L·C, k) patch rows
    h = F.relu_(linear_batch_norm_rows(patches.reshape(-1, k), temporal.weight.view(d, k),
                                       temporal.bias, bn))
    # spatial conv: out[b, l, o] = Σ_{c,i} W[o, i, c] · h[b, l, c, i] + bias[o]
    w = spatial.weight.squeeze(-1).permute(0, 2, 1).reshape(d, c * d)
    return F.linear(h.view(b, n, c * d), w, spatial.bias)


# ---------------------------------------------------------------------------------------------
# attention


def attention_fold(attn: nn.Module, dtype: torch.dtype | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The folded weights (w_m, b_m, w_z, b_out) of a
    :class:`~emotionkd.models.layers.MultiHeadSelfAttention`, differentiable in its
    parameters (computed in ``dtype`` if given).

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


# ---------------------------------------------------------------------------------------------
# elementwise


class _Softsign(torch.autograd.Function):
    """x / (1 + |x|) with a four-operation backward, g / (1 + |x|)², itself differentiable;
    exports as ONNX's single ``Softsign`` operator (not Abs, Add, Div)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x / (x.abs() + 1.0)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        t = x.abs() + 1.0
        return g / (t * t)

    @staticmethod
    def symbolic(g: Any, x: Any) -> Any:
        return g.op("Softsign", x)


def softsign(x: torch.Tensor) -> torch.Tensor:
    """``F.softsign`` with a cheaper backward pass (four elementwise operations; autograd's runs
    eight) and a single ONNX operator; TorchScript traces, which cannot hold a Python function,
    get ``F.softsign``."""
    if torch.jit.is_tracing() and not torch.onnx.is_in_onnx_export():
        return F.softsign(x)
    return _Softsign.apply(x)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout; on the CPU with masks drawn 16 bits at a time.

    ``F.dropout`` on a CPU draws one Bernoulli variate per element. Here one 64-bit random
    word gives four 16-bit uniforms, and an element is kept when its uniform is at or above
    ⌊p·2¹⁶⌉ / 2¹⁶ (= p within 8·10⁻⁶); kept elements are scaled by the exact inverse of the
    keep rate, so the expectation is unchanged. Other devices use ``F.dropout``.
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
    """``nn.Dropout`` with :func:`dropout`'s CPU masks (same constructor, no state)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
