"""Models: EmotionNet teacher and student, baselines, and the name → builder registry.

Inputs are float32 (batch, channels, time); every model returns ``(logits, feature tokens)``.
Nothing here knows about files; :mod:`emotionkd.checkpoint` saves and loads models through
:func:`build_model` and ``model.config_dict()``.
"""

from emotionkd.models.baselines import ConcatTeacher, DeepConvNet, DeepConvNetConfig
from emotionkd.models.emotionnet import (
    EmotionNetBase,
    EmotionNetConfig,
    EmotionNetStudent,
    EmotionNetTeacher,
)
from emotionkd.models.layers import (
    Classifier,
    ConvHead,
    DepthFusion,
    Encoder,
    InterModalityFusion,
    MultiHeadSelfAttention,
    PositionEmbedding,
    ScoreGenerationBlock,
    TransformerBlock,
    keras_init,
)
from emotionkd.models.registry import (
    build_model,
    config_keys,
    count_parameters,
    default_config,
    describe_models,
    model_names,
    model_spec,
)

__all__ = [
    "Classifier",
    "ConcatTeacher",
    "ConvHead",
    "DeepConvNet",
    "DeepConvNetConfig",
    "DepthFusion",
    "EmotionNetBase",
    "EmotionNetConfig",
    "EmotionNetStudent",
    "EmotionNetTeacher",
    "Encoder",
    "InterModalityFusion",
    "MultiHeadSelfAttention",
    "PositionEmbedding",
    "ScoreGenerationBlock",
    "TransformerBlock",
    "build_model",
    "config_keys",
    "count_parameters",
    "default_config",
    "describe_models",
    "keras_init",
    "model_names",
    "model_spec",
]
