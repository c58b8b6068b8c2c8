"""EmotionNet teacher (EEG + GSR) and student (GSR only), after the EmotionKD reference code.

Every shape follows from (sampling rate, window length, EEG channel count): the conv kernel is
fs/4 samples, the stride 8, so a window of T samples gives L = ⌊(T − k)/8⌋ + 1 tokens (61 for
4 s at 128 Hz); the classifier's input is L·D (student) or 2L·D (teacher).

Deviation from the reference (documented in docs/method.md): the reference IMF's second branch
concatenates the *first* EEG block of its pair instead of the second (``E_b`` for ``E_a``), so
the third EEG transformer block is built but never used and receives no gradient. We fix it by
default; ``faithful_imf_bug=True`` reproduces the original.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.layers import (
    Classifier,
    ConvHead,
    DepthFusion,
    Encoder,
    InterModalityFusion,
    keras_init,
)


@dataclass
class EmotionNetConfig:
    """Architecture of EmotionNet; defaults are the paper's (reference code's) values."""

    fs: float = 128.0  # sampling rate (Hz)
    window_s: float = 4.0  # window length (s)
    n_eeg: int = 28  # EEG channels (teacher only)
    d_model: int = 64
    n_heads: int = 8
    head_dim: int = 64  # per head: inner attention width n_heads·head_dim = 512
    n_blocks: int = 3
    ff_dim: int = 64
    dropout: float = 0.1  # transformer dropout
    head_dropout: float = 0.3  # after the conv stem
    classifier_dim: int = 128
    classifier_dropout: float = 0.5
    n_classes: int = 2
    stride: int = 8
    kernel: int = 0  # temporal conv kernel; 0 = round(fs / 4)
    score_pool: str = "none"  # none (code) | gap (poster)
    faithful_imf_bug: bool = False
    init: str = "keras"  # keras | torch
    head_l2: float = 1e-3  # L2 on the head conv kernels (reference regulariser)

    def __post_init__(self) -> None:
        if self.fs <= 0 or self.window_s <= 0:
            raise ConfigError(f"model: fs ({self.fs}) and window_s ({self.window_s}) must be "
                              "positive")
        for name in ("n_eeg", "d_model", "n_heads", "head_dim", "n_blocks", "ff_dim",
                     "classifier_dim", "n_classes", "stride"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"model: {name} must be >= 1, got {getattr(self, name)}")
        if self.score_pool not in ("none", "gap"):
            raise ConfigError(f"model: score_pool must be none or gap, not {self.score_pool!r}")
        if self.init not in ("keras", "torch"):
            raise ConfigError(f"model: init must be keras or torch, not {self.init!r}")
        if self.n_samples < self.kernel_size:
            raise ConfigError(
                f"model: a {self.window_s:g}-s window at {self.fs:g} Hz has {self.n_samples} "
                f"samples, fewer than the conv kernel ({self.kernel_size} = fs/4); use a longer "
                "window"
            )

    @property
    def n_samples(self) -> int:
        return int(round(self.window_s * self.fs))

    @property
    def kernel_size(self) -> int:
        return int(self.kernel) if self.kernel else max(1, int(round(self.fs / 4)))

    @property
    def n_tokens(self) -> int:
        return (self.n_samples - self.kernel_size) // self.stride + 1

    @property
    def pos_table(self) -> int:
        """Position-table rows: the token count rounded up to a multiple of 64 (64 at the
        reference shape, as Keras' Embedding(maxlen=64))."""
        return 64 * math.ceil(self.n_tokens / 64)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmotionNetConfig:
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - valid)
        if unknown:
            raise ConfigError(f"model: unknown setting(s) {', '.join(unknown)}; valid: "
                              f"{', '.join(sorted(valid))}")
        return cls(**d)


def _head(cfg: EmotionNetConfig, n_channels: int) -> ConvHead:
    return ConvHead(n_channels, cfg.kernel_size, cfg.stride, cfg.d_model, cfg.head_dropout)


def _encoder(cfg: EmotionNetConfig) -> Encoder:
    return Encoder(cfg.n_tokens, cfg.pos_table, cfg.d_model, cfg.n_heads, cfg.head_dim,
                   cfg.ff_dim, cfg.n_blocks, cfg.dropout)


class _Base(nn.Module):
    registry_name = ""
    inputs = ""

    def __init__(self, cfg: EmotionNetConfig) -> None:
        super().__init__()
        self.config = cfg

    def config_dict(self) -> dict[str, Any]:
        return self.config.as_dict()

    def _heads(self) -> list[ConvHead]:
        return [m for m in self.modules() if isinstance(m, ConvHead)]

    def head_l2_penalty(self) -> torch.Tensor:
        """head_l2 · Σw² over the conv-stem kernels (the reference's L2(0.001) regulariser)."""
        ks = [k for h in self._heads() for k in h.kernels()]
        return self.config.head_l2 * sum((k * k).sum() for k in ks)

    def _init(self) -> None:
        if self.config.init == "keras":
            keras_init(self)


class EmotionNetStudent(_Base):
    """GSR (B, 1, T) → (logits (B, n_classes), fused tokens (B, L, D)).

    GSR head → encoder → depth fusion over every block's output → classifier.
    """

    registry_name = "emotionnet-student"
    inputs = "gsr"

    def __init__(self, cfg: EmotionNetConfig | None = None) -> None:
        super().__init__(cfg or EmotionNetConfig())
        c = self.config
        self.gsr_head = _head(c, 1)
        self.gsr_encoder = _encoder(c)
        self.fusion = DepthFusion(c.d_model, c.n_blocks, c.score_pool)
        self.classifier = Classifier(c.n_tokens * c.d_model, c.classifier_dim, c.n_classes,
                                     c.classifier_dropout)
        self._init()

    def forward(self, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.fusion(self.gsr_encoder(self.gsr_head(gsr)))
        return self.classifier(feats), feats


class EmotionNetTeacher(_Base):
    """EEG (B, C, T) + GSR (B, 1, T) → (logits, fused tokens (B, 2L, D)).

    Two streams (head + encoder each); IMF fusions over consecutive block pairs
    ((1,2) and (2,3) with three blocks), summed; classifier on the 2L fused tokens.
    """

    registry_name = "emotionnet-teacher"
    inputs = "eeg+gsr"

    def __init__(self, cfg: EmotionNetConfig | None = None) -> None:
        super().__init__(cfg or EmotionNetConfig())
        c = self.config
        if c.n_blocks < 2:
            raise ConfigError("model: the teacher's IMF fuses pairs of blocks; n_blocks >= 2")
        self.eeg_head = _head(c, c.n_eeg)
        self.eeg_encoder = _encoder(c)
        self.gsr_head = _head(c, 1)
        self.gsr_encoder = _encoder(c)
        self.fusions = nn.ModuleList(
            InterModalityFusion(c.d_model, c.score_pool, c.faithful_imf_bug)
            for _ in range(c.n_blocks - 1)
        )
        self.classifier = Classifier(2 * c.n_tokens * c.d_model, c.classifier_dim, c.n_classes,
                                     c.classifier_dropout)
        self._init()

    def fuse(self, eeg: torch.Tensor, gsr: torch.Tensor) -> torch.Tensor:
        if eeg.shape[1] != self.config.n_eeg:
            raise ConfigError(f"teacher expects {self.config.n_eeg} EEG channels, got "
                              f"{eeg.shape[1]}")
        es = self.eeg_encoder(self.eeg_head(eeg))
        gs = self.gsr_encoder(self.gsr_head(gsr))
        return sum(f(es[i], gs[i], es[i + 1], gs[i + 1]) for i, f in enumerate(self.fusions))

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.fuse(eeg, gsr)
        return self.classifier(feats), feats
