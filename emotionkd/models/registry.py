"""Model registry: name → builder. A model is rebuilt from ``(name, plain config dict)``.

| name | role | inputs |
|---|---|---|
| emotionnet-teacher | teacher | EEG + GSR |
| emotionnet-student | student | GSR |
| concat | teacher (baseline: concatenation instead of IMF) | EEG + GSR |
| deepconvnet | student (baseline: Schirrmeister et al. 2017 on GSR) | GSR |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.baselines import ConcatTeacher, DeepConvNet, deepconvnet_config
from emotionkd.models.emotionnet import EmotionNetConfig, EmotionNetStudent, EmotionNetTeacher

_REGISTRY: dict[str, dict[str, Any]] = {
    "emotionnet-teacher": {
        "role": "teacher", "inputs": "eeg+gsr", "cls": EmotionNetTeacher,
        "config": EmotionNetConfig.from_dict,
        "description": "two streams, score-gated IMF fusion"},
    "emotionnet-student": {
        "role": "student", "inputs": "gsr", "cls": EmotionNetStudent,
        "config": EmotionNetConfig.from_dict,
        "description": "GSR stream, depth fusion"},
    "concat": {
        "role": "teacher", "inputs": "eeg+gsr", "cls": ConcatTeacher,
        "config": EmotionNetConfig.from_dict,
        "description": "baseline: fusion by concatenation"},
    "deepconvnet": {
        "role": "student", "inputs": "gsr", "cls": DeepConvNet, "config": deepconvnet_config,
        "description": "baseline: Schirrmeister et al. 2017"},
}


def model_names() -> list[str]:
    return list(_REGISTRY)


def _entry(name: str) -> dict[str, Any]:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def model_spec(name: str) -> dict[str, str]:
    """Role ("teacher" | "student"), inputs ("eeg+gsr" | "gsr") and a description."""
    e = _entry(name)
    return {"role": e["role"], "inputs": e["inputs"], "description": e["description"]}


def default_config(name: str, fs: float, window_s: float, n_eeg: int,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full config dict of ``name`` for a data shape, with optional overrides."""
    e = _entry(name)
    base = {"fs": float(fs), "window_s": float(window_s), "n_eeg": int(n_eeg)}
    cfg = e["config"]({**base, **(overrides or {})})
    return cfg.as_dict()


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild a registered model from its plain config dict."""
    e = _entry(name)
    model = e["cls"](e["config"](dict(config)))
    return model


def count_parameters(model: nn.Module, include_buffers: bool = True,
                     trainable_only: bool = False) -> int:
    """Parameters (+ BatchNorm running statistics, excluding num_batches_tracked)."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    if include_buffers and not trainable_only:
        n += sum(b.numel() for k, b in model.named_buffers()
                 if not k.endswith("num_batches_tracked"))
    return int(n)


def describe_models(fs: float = 128.0, window_s: float = 4.0, n_eeg: int = 28,
                    builder: Callable[[str, dict], nn.Module] = build_model
                    ) -> list[dict[str, Any]]:
    """Name, role, inputs, parameter counts of every registered model at one data shape."""
    rows = []
    for name in _REGISTRY:
        m = builder(name, default_config(name, fs, window_s, n_eeg))
        rows.append({**model_spec(name), "name": name,
                     "parameters": count_parameters(m),
                     "trainable": count_parameters(m, trainable_only=True)})
    return rows
