"""Comparison models for the paper's tables.

* :class:`DeepConvNet` — Schirrmeister et al. (2017), adapted to one GSR channel: four
  conv–BN–ELU–max-pool blocks (25, 50, 100, 200 filters, dropout 0.5) and a linear classifier.
  The temporal kernel (10 samples at 250 Hz in the original) scales with the sampling rate,
  and pooling shrinks for short windows so every window of at least one second works.
* :class:`ConcatTeacher` — the "Concatenate" multimodal row: the teacher's two streams with
  the score-gated IMF fusion replaced by concatenating the last block's EEG and GSR tokens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.emotionnet import EmotionNetConfig, _Base, _encoder, _head
from emotionkd.models.layers import Classifier


@dataclass
class DeepConvNetConfig:
    fs: float = 128.0
    window_s: float = 4.0
    n_eeg: int = 0  # unused (GSR only); kept so every model shares the data keys
    filters: tuple[int, int, int, int] = (25, 50, 100, 200)
    kernel: int = 0  # temporal kernel in samples; 0 = round(10 · fs / 250), at least 3
    pool: int = 3
    dropout: float = 0.5
    n_classes: int = 2

    def __post_init__(self) -> None:
        self.filters = tuple(int(f) for f in self.filters)  # TOML/JSON give lists
        if len(self.filters) != 4 or min(self.filters) < 1:
            raise ConfigError("deepconvnet: filters must be four positive numbers")
        if self.window_s * self.fs < 8:
            raise ConfigError(f"deepconvnet: window {self.window_s:g} s at {self.fs:g} Hz is "
                              "too short")

    @property
    def n_samples(self) -> int:
        return int(round(self.window_s * self.fs))

    @property
    def kernel_size(self) -> int:
        return int(self.kernel) if self.kernel else max(3, int(round(10 * self.fs / 250)))

    def plan(self) -> list[tuple[int, int]]:
        """(kernel, pool) per block such that the sequence never becomes empty."""
        n, out = self.n_samples, []
        for _ in range(4):
            k = min(self.kernel_size, n)
            n = n - k + 1
            p = self.pool if n >= self.pool * 2 else 1
            n = n // p
            out.append((k, p))
        return out

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["filters"] = list(self.filters)
        return d


class DeepConvNet(nn.Module):
    """GSR (B, 1, T) → (logits, features (B, L', 200))."""

    registry_name = "deepconvnet"
    inputs = "gsr"

    def __init__(self, cfg: DeepConvNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg or DeepConvNetConfig()
        c = self.config
        blocks, cin, n = [], 1, c.n_samples
        for f, (k, p) in zip(c.filters, c.plan()):
            blocks.append(nn.ModuleDict({
                "conv": nn.Conv1d(cin, f, k, bias=False),
                "bn": nn.BatchNorm1d(f),
                "pool": nn.MaxPool1d(p) if p > 1 else nn.Identity(),
                "drop": nn.Dropout(c.dropout),
            }))
            cin, n = f, (n - k + 1) // p
        self.blocks = nn.ModuleList(blocks)
        self.n_out = n
        self.classifier = nn.Linear(cin * n, c.n_classes)

    def config_dict(self) -> dict[str, Any]:
        return self.config.as_dict()

    def forward(self, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = gsr
        for b in self.blocks:
            h = b["drop"](b["pool"](F.elu(b["bn"](b["conv"](h)))))
        return self.classifier(h.flatten(1)), h.transpose(1, 2)


class ConcatTeacher(_Base):
    """EEG + GSR → (logits, tokens (B, 2L, D)): both EmotionNet streams, last-block tokens
    concatenated along the token axis, no score gating."""

    registry_name = "concat"
    inputs = "eeg+gsr"

    def __init__(self, cfg: EmotionNetConfig | None = None) -> None:
        super().__init__(cfg or EmotionNetConfig())
        c = self.config
        self.eeg_head = _head(c, c.n_eeg)
        self.eeg_encoder = _encoder(c)
        self.gsr_head = _head(c, 1)
        self.gsr_encoder = _encoder(c)
        self.classifier = Classifier(2 * c.n_tokens * c.d_model, c.classifier_dim, c.n_classes,
                                     c.classifier_dropout)
        self._init()

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.eeg_encoder(self.eeg_head(eeg))[-1]
        g = self.gsr_encoder(self.gsr_head(gsr))[-1]
        feats = torch.cat([e, g], dim=1)
        return self.classifier(feats), feats


def deepconvnet_config(d: dict[str, Any]) -> DeepConvNetConfig:
    valid = {f.name for f in fields(DeepConvNetConfig)}
    unknown = sorted(set(d) - valid)
    if unknown:
        raise ConfigError(f"deepconvnet: unknown setting(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(sorted(valid))}")
    return DeepConvNetConfig(**d)
