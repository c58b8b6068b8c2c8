"""The experiment configuration: one typed tree of settings that flags, TOML files, the Python
API, checkpoints, run folders and the docs all use, with every default defined once.

An :class:`ExperimentConfig` has six tables — :class:`DataConfig` ``[data]``,
:class:`ModelConfig` ``[model]``, :class:`TrainConfig` ``[train]``, :class:`DistillConfig`
``[distill]``, :class:`FeedbackConfig` ``[feedback]`` and :class:`EvaluationConfig`
``[evaluate]`` (:mod:`.tables`). A setting has one name everywhere: the flag
``--kl-weight`` is the TOML key ``kl_weight`` of ``[distill]``, the field
``DistillConfig.kl_weight`` and the key ``config.distill.kl_weight`` of a checkpoint. Names
are unique across tables, so a file may also give a key at its top level.

Each command applies the tables it uses (:data:`COMMAND_TABLES`): ``train-teacher`` data,
model and train; ``distill`` train, distill and feedback (its data and model come from the
teacher); ``evaluate`` all six. Files and flags resolve onto the tables by
:func:`resolve_config`; :meth:`ExperimentConfig.resolved` writes the tables back with every
value filled in and :meth:`ExperimentConfig.from_tables` reads them (:mod:`.experiment`).

Only the standard library and the torch-free registries are imported at module level (the
CLI reads these dataclasses to build its options and help).
"""

from emotionkd.config.experiment import (
    CHECKPOINT_TABLES,
    COMMAND_TABLES,
    ExperimentConfig,
    build,
    read_config_file,
    resolve_config,
    toml_value,
    tomllib,
)
from emotionkd.config.tables import (
    SIZE_PRESETS,
    TABLES,
    DataConfig,
    DistillConfig,
    EvaluationConfig,
    FeedbackConfig,
    ModelConfig,
    TrainConfig,
    homes,
    settings,
)

__all__ = ["CHECKPOINT_TABLES", "COMMAND_TABLES", "SIZE_PRESETS", "TABLES", "DataConfig",
           "DistillConfig", "EvaluationConfig", "ExperimentConfig", "FeedbackConfig",
           "ModelConfig", "TrainConfig", "build", "homes", "read_config_file", "resolve_config",
           "settings", "toml_value", "tomllib"]
