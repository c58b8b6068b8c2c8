"""Model registry: name → builder. A model is rebuilt from ``(name, plain config dict)``.

| name | role | inputs | what |
|---|---|---|---|
| emotionnet-teacher | teacher | eeg+gsr | two streams, score-gated IMF fusion |
| emotionnet-student | student | gsr | GSR stream, depth fusion |
| concat | teacher | eeg+gsr | baseline: fusion by concatenation |
| deepconvnet | student | gsr | baseline: Schirrmeister et al. 2017 on GSR |
| shallowconvnet | baseline | eeg+gsr | baseline: Shallow ConvNet (Schirrmeister et al. 2017) |

Checkpoints store the name and ``model.config_dict()``; ``build_model(name, config)`` gives the
same architecture back (load the state dict into it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.baselines import (
    ConcatTeacher,
    DeepConvNet,
    DeepConvNetConfig,
    ShallowConvNet,
    ShallowConvNetConfig,
)
from emotionkd.models.emotionnet import EmotionNetConfig, EmotionNetStudent, EmotionNetTeacher


@dataclass(frozen=True)
class _Entry:
    cls: type[nn.Module]
    config_cls: type
    role: str
    inputs: str
    description: str


_REGISTRY: dict[str, _Entry] = {
    "emotionnet-teacher": _Entry(EmotionNetTeacher, EmotionNetConfig, "teacher", "eeg+gsr",
                                 "EEG + GSR streams, score-gated IMF fusion"),
    "emotionnet-student": _Entry(EmotionNetStudent, EmotionNetConfig, "student", "gsr",
                                 "GSR stream, depth fusion"),
    "concat": _Entry(ConcatTeacher, EmotionNetConfig, "teacher", "eeg+gsr",
                     "baseline: EEG + GSR streams fused by concatenation"),
    "deepconvnet": _Entry(DeepConvNet, DeepConvNetConfig, "student", "gsr",
                          "baseline: Deep ConvNet (Schirrmeister et al. 2017) on GSR"),
    "shallowconvnet": _Entry(ShallowConvNet, ShallowConvNetConfig, "baseline", "eeg+gsr",
                             "baseline: Shallow ConvNet (Schirrmeister et al. 2017), EEG + GSR"),
}


def model_names() -> list[str]:
    """Registered model names, in display order."""
    return list(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available models: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def model_spec(name: str) -> dict[str, str]:
    """``{"role": "teacher"|"student", "inputs": "eeg+gsr"|"gsr", "description": ...}``."""
    e = _entry(name)
    return {"role": e.role, "inputs": e.inputs, "description": e.description}


def config_keys(name: str) -> list[str]:
    """The settings a model's config accepts."""
    return [f.name for f in fields(_entry(name).config_cls)]


def default_config(name: str, fs: float, window_s: float, n_eeg: int,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, validated config dict of model ``name`` for a data shape.

    ``overrides`` (e.g. size knobs from a config file) replace defaults; an unknown key is a
    ConfigError listing the valid ones. The result is plain JSON-serialisable data.
    """
    e = _entry(name)
    data = {"fs": float(fs), "window_s": float(window_s), "n_eeg": int(n_eeg)}
    return e.config_cls.from_dict({**data, **dict(overrides or {})}).as_dict()


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    """Build model ``name`` from its plain config dict (missing keys take their defaults;
    unknown ones are a ConfigError listing the valid ones)."""
    e = _entry(name)
    if not isinstance(config, dict):
        raise ConfigError(f"model {name!r}: the config must be a mapping, got "
                          f"{type(config).__name__}")
    return e.cls(e.config_cls.from_dict(dict(config)))


def count_parameters(model: nn.Module, include_buffers: bool = True,
                     trainable_only: bool = False) -> int:
    """Number of parameter values, plus buffer values (BatchNorm running mean and variance;
    ``num_batches_tracked`` excluded) when ``include_buffers``, the convention of Keras'
    ``count_params``. ``trainable_only`` counts parameters with ``requires_grad`` and no
    buffers."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    if include_buffers and not trainable_only:
        n += sum(b.numel() for k, b in model.named_buffers()
                 if not k.endswith("num_batches_tracked"))
    return int(n)


def describe_models(fs: float = 128.0, window_s: float = 4.0, n_eeg: int = 28,
                    overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per registered model at a data shape: name, role, inputs, description,
    ``parameters`` (with BatchNorm statistics) and ``trainable``.

    ``overrides`` (e.g. a size preset) are applied to every model whose config has those keys;
    a key that no model accepts is a ConfigError.
    """
    over = dict(overrides or {})
    known = {k for name in _REGISTRY for k in config_keys(name)}
    unknown = sorted(set(over) - known)
    if unknown:
        raise ConfigError(f"unknown model setting(s) {', '.join(unknown)}; valid settings: "
                          f"{', '.join(sorted(known))}")
    rows = []
    for name in _REGISTRY:
        keys = set(config_keys(name))
        mine = {k: v for k, v in over.items() if k in keys}
        model = build_model(name, default_config(name, fs, window_s, n_eeg, mine))
        rows.append({"name": name, **model_spec(name),
                     "parameters": count_parameters(model),
                     "trainable": count_parameters(model, trainable_only=True)})
    return rows
