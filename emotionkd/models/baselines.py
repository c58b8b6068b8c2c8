"""Comparison models for the paper's tables (method.md §3.2).

* :class:`DeepConvNet` — the Deep ConvNet of Schirrmeister et al. (2017), "Deep learning with
  convolutional neural networks for EEG decoding and visualization", adapted to one GSR
  channel. Block 1: temporal conv (25 filters) → "spatial" conv over the input channels (for
  one channel a 25 → 25 per-sample map, kept for fidelity) → BN → ELU → max-pool; blocks 2–4:
  dropout → conv (50, 100, 200 filters) → BN → ELU → max-pool; then a linear classifier. The
  temporal kernel (10 samples at 250 Hz in the original) scales with the sampling rate, and
  pooling (3, stride 3) shrinks where a short window would otherwise run out of samples.
* :class:`ConcatTeacher` — the "Concatenate" multimodal row: the teacher's two streams with the
  score-gated IMF fusion replaced by concatenating the last block's EEG and GSR tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.emotionnet import (
    EmotionNetBase,
    EmotionNetConfig,
    _as_float,
    _as_int,
    config_from_dict,
    window_samples,
)
from emotionkd.models.layers import Dropout


@dataclass
class DeepConvNetConfig:
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
        self.fs = _as_float(o, "fs", self.fs, 0.0)
        self.window_s = _as_float(o, "window_s", self.window_s, 0.0)
        if self.fs <= 0 or self.window_s <= 0:
            raise ConfigError(f"{o}: fs ({self.fs:g} Hz) and window_s ({self.window_s:g} s) "
                              "must be positive")
        self.n_eeg = _as_int(o, "n_eeg", self.n_eeg, 0)
        if isinstance(self.filters, (str, bytes)) or not hasattr(self.filters, "__iter__"):
            raise ConfigError(f"{o}: filters must be a list of four integers, got "
                              f"{self.filters!r}")
        self.filters = tuple(_as_int(o, "filters", f, 1) for f in self.filters)
        if len(self.filters) != 4:
            raise ConfigError(f"{o}: filters must be four integers (one per block), got "
                              f"{list(self.filters)}")
        self.kernel = _as_int(o, "kernel", self.kernel, 0)
        self.pool = _as_int(o, "pool", self.pool, 1)
        self.dropout = _as_float(o, "dropout", self.dropout, 0.0, 1.0)
        self.n_classes = _as_int(o, "n_classes", self.n_classes, 2)
        need = 4 * (self.kernel_size - 1) + 1
        if self.n_samples < need:
            raise ConfigError(
                f"{o}: a {self.window_s:g}-s window at fs = {self.fs:g} Hz has "
                f"{self.n_samples} samples; four convolutions of {self.kernel_size} samples "
                f"need at least {need}: use a longer window or a smaller kernel"
            )

    @property
    def n_samples(self) -> int:
        return window_samples(self.fs, self.window_s)

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


class DeepConvNet(nn.Module):
    """GSR-only Deep ConvNet: gsr (B, 1, T) → (logits (B, n_classes), features (B, L', 200)).

    BatchNorm uses PyTorch defaults and conv layers followed by BatchNorm have no bias, as in
    braindecode's Deep4Net; the final layer is a Linear over the flattened (200 × L') map,
    equivalent to the original's full-length classification convolution.
    """

    registry_name: ClassVar[str] = "deepconvnet"
    inputs: ClassVar[str] = "gsr"

    def __init__(self, config: DeepConvNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else DeepConvNetConfig()
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

    def config_dict(self) -> dict[str, Any]:
        """The plain config dict that rebuilds this architecture via ``build_model``."""
        return self.config.as_dict()

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
        c = self.config
        if c.n_eeg < 1:
            raise ConfigError("model: the concat teacher needs n_eeg >= 1 EEG channels (got 0)")
        self.eeg_head = self._head(c.n_eeg)
        self.eeg_encoder = self._encoder()
        self.gsr_head = self._head(1)
        self.gsr_encoder = self._encoder()
        self.classifier = self._classifier(2 * c.n_tokens)
        self._finish_init()

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(eeg, "EEG", self.config.n_eeg)
        self._check_input(gsr, "GSR", 1)
        e = self.eeg_encoder(self.eeg_head(eeg))[-1]
        g = self.gsr_encoder(self.gsr_head(gsr))[-1]
        tokens = torch.cat([e, g], dim=1)
        return self.classifier(tokens), tokens
