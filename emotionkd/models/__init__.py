"""Models: EmotionNet teacher and student, baselines, and the name → builder registry.

Nothing here knows about files; see :mod:`emotionkd.checkpoint` for saving and loading.
"""

from emotionkd.models.baselines import ConcatTeacher, DeepConvNet, DeepConvNetConfig
from emotionkd.models.emotionnet import EmotionNetConfig, EmotionNetStudent, EmotionNetTeacher
from emotionkd.models.registry import (
    build_model,
    count_parameters,
    default_config,
    describe_models,
    model_names,
    model_spec,
)

__all__ = [
    "ConcatTeacher",
    "DeepConvNet",
    "DeepConvNetConfig",
    "EmotionNetConfig",
    "EmotionNetStudent",
    "EmotionNetTeacher",
    "build_model",
    "count_parameters",
    "default_config",
    "describe_models",
    "model_names",
    "model_spec",
]
