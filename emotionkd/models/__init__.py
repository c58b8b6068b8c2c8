"""Models: EmotionNet teacher and student, baselines, and the name → builder registry.

Inputs are float32 (batch, channels, time); every model returns ``(logits, feature tokens)``.
Nothing here knows about files; :mod:`emotionkd.checkpoint` saves and loads models through
:func:`build_model` and ``model.config_dict()``.

The names below are imported on first use, so that :mod:`emotionkd.models.registry` (which
the command line reads for its choices) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "ConcatTeacher": "baselines", "DeepConvNet": "baselines", "DeepConvNetConfig": "baselines",
    "EmotionNetBase": "emotionnet", "EmotionNetConfig": "emotionnet",
    "EmotionNetStudent": "emotionnet", "EmotionNetTeacher": "emotionnet",
    "Classifier": "layers", "ConvHead": "layers", "DepthFusion": "layers", "Encoder": "layers",
    "InterModalityFusion": "layers", "MultiHeadSelfAttention": "layers",
    "PositionEmbedding": "layers", "ScoreGenerationBlock": "layers",
    "TransformerBlock": "layers", "keras_init": "layers",
    "build_model": "registry", "config_keys": "registry", "count_parameters": "registry",
    "default_config": "registry", "describe_models": "registry", "model_names": "registry",
    "model_spec": "registry",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'emotionkd.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"emotionkd.models.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
