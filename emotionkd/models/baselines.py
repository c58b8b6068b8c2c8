"""Comparison models for the paper's tables (docs/method.md, "Baselines").

* :class:`DeepConvNet` — the Deep ConvNet of Schirrmeister et al. (2017), "Deep learning with
  convolutional neural networks for EEG decoding and visualization", adapted to one GSR
  channel. Block 1: temporal conv (25 filters) → "spatial" conv over the input channels (for
  one channel a 25 → 25 per-sample map, kept for fidelity) → BN → ELU → max-pool; blocks 2–4:
  dropout → conv (50, 100, 200 filters) → BN → ELU → max-pool; then a linear classifier. The
  temporal kernel (10 samples at 250 Hz in the original) scales with the sampling rate, and
  pooling (3, stride 3) shrinks where a short window would otherwise run out of samples.
* :class:`ConcatTeacher` — the "Concatenate" multimodal row: the teacher's two streams with the
  score-gated IMF fusion replaced by concatenating the last block's EEG and GSR tokens.
* :class:`ShallowConvNet` — the Shallow ConvNet of Schirrmeister et al. (2017) on EEG + GSR:
  the deep yardstick of the teacher (it computes log band power by construction).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.emotionnet import (
    EmotionNetBase,
    EmotionNetConfig,
    config_from_dict,
    data_shape_rules,
    window_samples,
)
from emotionkd.models.kernels import Dropout
from emotionkd.validation import COUNT, SHARE, WHOLE, check_fields, check_number


class _Windowed:
    """A config with ``fs`` (Hz) and ``window_s`` (s): the samples of its windows."""

    fs: float
    window_s: float

    @property
    def n_samples(self) -> int:
        return window_samples(self.fs, self.window_s)


@dataclass
class DeepConvNetConfig(_Windowed):
    """Architecture of :class:`DeepConvNet`; defaults are Schirrmeister et al.'s values.

    ``kernel`` 0 means 10 samples at 250 Hz scaled to ``fs`` (rounded half up, at least 3):
    5 at 128 Hz, 10 at 256 Hz. ``n_eeg`` is accepted and ignored (GSR-only model), so every
    registry model takes the same data keys.
    """

    fs: float = 128.0
    window_s: float = 4.0
    n_eeg: int = 0  # ignored
    filters: tuple[int, ...] = (25, 50, 100, 200)
    kernel: int = 0  # temporal kernel in samples; 0 = derived from fs
    pool: int = 3  # max-pool size and stride (before shrinking for short windows)
    dropout: float = 0.5
    n_classes: int = 2

    def __post_init__(self) -> None:
        o = "deepconvnet"
        check_fields(self, o, {**data_shape_rules(), "kernel": COUNT, "pool": WHOLE,
                               "dropout": SHARE, "n_classes": {"integer": True, "low": 2}})
        if isinstance(self.filters, (str, bytes)) or not hasattr(self.filters, "__iter__"):
            raise ConfigError(f"{o}: filters must be a list of four integers, got "
                              f"{self.filters!r}")
        self.filters = tuple(check_number(f, f"{o}: filters", low=1, integer=True)
                             for f in self.filters)
        if len(self.filters) != 4:
            raise ConfigError(f"{o}: filters must be four integers (one per block), got "
                              f"{list(self.filters)}")
        need = 4 * (self.kernel_size - 1) + 1
        if self.n_samples < need:
            raise ConfigError(
                f"{o}: a {self.window_s:g}-s window at fs = {self.fs:g} Hz has "
                f"{self.n_samples} samples; four convolutions of {self.kernel_size} samples "
                f"need at least {need}: use a longer window or a smaller kernel"
            )

    @property
    def kernel_size(self) -> int:
        return self.kernel or max(3, math.floor(10 * self.fs / 250 + 0.5))

    def pools(self) -> list[int]:
        """Pool size (= stride) per block: ``pool``, or smaller where a short window would
        otherwise leave the later convolutions too few samples."""
        k, n, out = self.kernel_size, self.n_samples, []
        for block in range(4):
            n = n - k + 1
            later = 3 - block
            p = self.pool
            while p > 1 and n // p < later * (k - 1) + 1:
                p -= 1
            n //= p
            out.append(p)
        return out

    def out_length(self) -> int:
        """Time steps left after the four blocks, L'."""
        n = self.n_samples
        for p in self.pools():
            n = (n - self.kernel_size + 1) // p
        return n

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DeepConvNetConfig:
        return config_from_dict(cls, "deepconvnet", d)


class _ConfiguredNet(nn.Module):
    """A network built from a config dataclass (kept as ``config``)."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        """The plain config dict that rebuilds this architecture via ``build_model``."""
        return self.config.as_dict()


class DeepConvNet(_ConfiguredNet):
    """GSR-only Deep ConvNet: gsr (B, 1, T) → (logits (B, n_classes), features (B, L', 200)).

    BatchNorm uses PyTorch defaults and conv layers followed by BatchNorm have no bias, as in
    braindecode's Deep4Net; the final layer is a Linear over the flattened (200 × L') map,
    equivalent to the original's full-length classification convolution.
    """

    registry_name: ClassVar[str] = "deepconvnet"
    inputs: ClassVar[str] = "gsr"

    def __init__(self, config: DeepConvNetConfig | None = None) -> None:
        super().__init__(config or DeepConvNetConfig())
        c = self.config
        k, f = c.kernel_size, c.filters
        self.temporal = nn.Conv1d(1, f[0], k)
        self.spatial = nn.Conv1d(f[0], f[0], 1, bias=False)
        self.blocks = nn.ModuleList()
        for i, p in enumerate(c.pools()):
            layers: list[nn.Module] = []
            if i > 0:
                layers += [Dropout(c.dropout), nn.Conv1d(f[i - 1], f[i], k, bias=False)]
            layers += [nn.BatchNorm1d(f[i]), nn.ELU()]
            layers.append(nn.MaxPool1d(p) if p > 1 else nn.Identity())
            self.blocks.append(nn.Sequential(*layers))
        self.classifier = nn.Linear(f[-1] * c.out_length(), c.n_classes)

    def forward(self, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        tracing = torch.jit.is_tracing()  # shapes are fixed in a trace; avoid TracerWarnings
        if not tracing and (gsr.dim() != 3 or gsr.shape[1] != 1 or gsr.shape[2] != c.n_samples):
            raise ConfigError(f"deepconvnet: expects GSR windows shaped (batch, 1, "
                              f"{c.n_samples}) ({c.window_s:g} s at {c.fs:g} Hz), got "
                              f"{tuple(gsr.shape)}")
        h = self.spatial(self.temporal(gsr))
        for block in self.blocks:
            h = block(h)
        return self.classifier(h.flatten(1)), h.transpose(1, 2)


class ConcatTeacher(EmotionNetBase):
    """Concatenation-fusion teacher: (eeg (B, C, T), gsr (B, 1, T)) → (logits, tokens (B, 2L, D)).

    The EmotionNet teacher's two streams (same module names), with the IMF fusion replaced by
    concatenating the last block's EEG and GSR tokens along the token axis, then the same
    classifier. Uses :class:`EmotionNetConfig`; its fusion options (``score_pool``,
    ``faithful_imf_bug``) have no effect here.
    """

    registry_name = "concat"
    inputs = "eeg+gsr"

    def __init__(self, config: EmotionNetConfig | None = None) -> None:
        super().__init__(config)
        self._two_streams("the concat teacher")
        self.classifier = self._classifier(2 * self.config.n_tokens, groups=2)
        self._finish_init()

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(eeg, "EEG", self.config.n_eeg)
        self._check_input(gsr, "GSR", 1)
        e = self.eeg_encoder(self.eeg_head(eeg))[-1]
        g = self.gsr_encoder(self.gsr_head(gsr))[-1]
        tokens = torch.cat([e, g], dim=1)
        return self.classifier(tokens), tokens


@dataclass
class ShallowConvNetConfig(_Windowed):
    """Architecture of :class:`ShallowConvNet`; defaults are Schirrmeister et al.'s values.

    ``kernel``, ``pool`` and ``pool_stride`` are 0 for "the original's at 250 Hz, scaled to
    ``fs``": 25, 75 and 15 samples at 250 Hz (13, 38 and 8 at 128 Hz).
    """

    fs: float = 128.0
    window_s: float = 4.0
    n_eeg: int = 28
    filters: int = 40
    kernel: int = 0
    pool: int = 0
    pool_stride: int = 0
    dropout: float = 0.5
    n_classes: int = 2

    def __post_init__(self) -> None:
        o = "shallowconvnet"
        check_fields(self, o, {**data_shape_rules(min_eeg=1), "filters": WHOLE,
                               **dict.fromkeys(("kernel", "pool", "pool_stride"), COUNT),
                               "dropout": SHARE, "n_classes": {"integer": True, "low": 2}})
        if self.n_samples < self.kernel_size + self.pool_size - 1:
            raise ConfigError(f"{o}: a {self.window_s:g}-s window at fs = {self.fs:g} Hz has "
                              f"{self.n_samples} samples, too few for a {self.kernel_size}-"
                              f"sample kernel and {self.pool_size}-sample pooling; use a "
                              "longer window")

    def _scaled(self, value: int, at_250: int) -> int:
        return value or max(1, math.floor(at_250 * self.fs / 250 + 0.5))

    @property
    def kernel_size(self) -> int:
        return self._scaled(self.kernel, 25)

    @property
    def pool_size(self) -> int:
        return self._scaled(self.pool, 75)

    @property
    def stride(self) -> int:
        return self._scaled(self.pool_stride, 15)

    def out_length(self) -> int:
        """Pooled time steps."""
        return (self.n_samples - self.kernel_size + 1 - self.pool_size) // self.stride + 1

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShallowConvNetConfig:
        return config_from_dict(cls, "shallowconvnet", d)


class ShallowConvNet(_ConfiguredNet):
    """Shallow ConvNet on EEG + GSR: (eeg (B, C, T), gsr (B, 1, T)) → (logits, features).

    GSR is one more input row beside the C EEG channels. Temporal conv (``filters`` kernels,
    shared by every row) → spatial conv over all C + 1 rows (no bias) → BatchNorm → square →
    mean pooling → log → dropout → a Linear over the pooled map (the original's
    classification convolution). The features returned are the log-power map (B, L', filters).
    """

    registry_name: ClassVar[str] = "shallowconvnet"
    inputs: ClassVar[str] = "eeg+gsr"

    def __init__(self, config: ShallowConvNetConfig | None = None) -> None:
        super().__init__(config or ShallowConvNetConfig())
        c = self.config
        self.temporal = nn.Conv2d(1, c.filters, (1, c.kernel_size))
        self.spatial = nn.Conv2d(c.filters, c.filters, (c.n_eeg + 1, 1), bias=False)
        self.bn = nn.BatchNorm1d(c.filters)
        self.drop = Dropout(c.dropout)
        self.classifier = nn.Linear(c.filters * c.out_length(), c.n_classes)

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.config
        if not torch.jit.is_tracing():
            for what, x, rows in (("EEG", eeg, c.n_eeg), ("GSR", gsr, 1)):
                if x.dim() != 3 or x.shape[1] != rows or x.shape[2] != c.n_samples:
                    raise ConfigError(f"shallowconvnet: expects {what} windows shaped (batch, "
                                      f"{rows}, {c.n_samples}), got {tuple(x.shape)}")
        x = torch.cat([eeg, gsr], dim=1)  # (B, C+1, T)
        # the temporal and spatial convolutions are both linear: applied as one convolution
        # over all rows (kernel W[o, r, t] = Σ_f spatial[o, f, r] · temporal[f, t], plus the
        # temporal bias carried through the spatial sums), the same function as the two
        # layers in turn, without the (B, F, C+1, T') intermediate
        wt = self.temporal.weight[:, 0, 0, :]  # (F, k)
        ws = self.spatial.weight[:, :, :, 0]  # (F_out, F, C+1)
        kernel = torch.einsum("ofr,ft->ort", ws, wt)
        bias = torch.einsum("ofr,f->o", ws, self.temporal.bias)
        h = self.bn(F.conv1d(x, kernel, bias))  # (B, F, T')
        h = F.avg_pool1d(h * h, c.pool_size, c.stride)
        h = torch.log(torch.clamp(h, min=1e-6))  # (B, F, L')
        return self.classifier(self.drop(h).flatten(1)), h.transpose(1, 2)
