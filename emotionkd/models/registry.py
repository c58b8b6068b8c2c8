"""Model registry: name → what the model needs, its role, and how it is built.

| name | role | needs | kind | what |
|---|---|---|---|---|
| emotionnet-teacher | teacher | eeg, gsr | torch | two streams, score-gated IMF fusion |
| emotionnet-student | student | gsr, teacher | torch | GSR stream, depth fusion (distilled) |
| concat | teacher | eeg, gsr | torch | baseline: fusion by concatenation |
| deepconvnet | student | gsr | torch | baseline: Schirrmeister et al. 2017 on GSR |
| shallowconvnet | baseline | eeg, gsr | torch | baseline: Shallow ConvNet, EEG + GSR |
| eeg-features | baseline | eeg, gsr | classical | band power + GSR features, logistic regression |
| eeg-de | baseline | eeg, gsr | classical | band DE + GSR features, logistic regression |
| gsr-features | baseline | gsr | classical | GSR features, logistic regression |
| gsr-neurokit | baseline | gsr | classical | NeuroKit2 GSR features, logistic regression |

``needs`` says what training a model takes: the EEG and/or the GSR of each window, and
``teacher`` for the model that is distilled from a trained teacher. ``sized`` models take the
``[model]`` architecture settings (size preset, ``d_model`` …); ``baseline`` models may be
listed in ``evaluate --baselines``. Callers ask the registry instead of checking names.

This module imports no torch: the command line reads it to list choices. The classes are
imported when a model is built. Checkpoints store the name and ``model.config_dict()``;
``build_model(name, config)`` gives the same architecture back.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from emotionkd.errors import ConfigError
from emotionkd.validation import bounded, check_number

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

_EMOTIONNET = "emotionkd.models.emotionnet"
#: bounds of the architecture settings: far beyond the paper's size (d_model 64, 8 heads ×
#: 64, 3 blocks), so that only a typo meets them, not a study
_WIDTH = "the paper's is 64; wider would not fit in memory"
ARCHITECTURE_RULES: dict[str, dict[str, Any]] = {
    "d_model": bounded(4096, _WIDTH), "n_heads": bounded(256, "the paper's is 8"),
    "head_dim": bounded(4096, _WIDTH),
    "n_blocks": bounded(64, "the paper's is 3; deeper would train for days"),
    "ff_dim": bounded(65536, "the paper's is 64"),
    "classifier_dim": bounded(65536, "the paper's is 128"),
    "stride": bounded(4096, "samples"), "kernel": bounded(65536, "samples; 0: fs/4", low=0),
    "pos_table": bounded(2**20, "rows; 0: from the token count", low=0),
}

#: the largest model built: 50 times the paper's teacher (2 M), about 1.6 GB with Adam's state
MAX_PARAMETERS = 100_000_000
MAX_WHY = "50 times the paper's teacher; about 1.6 GB of memory with Adam's state"
_BASELINES = "emotionkd.models.baselines"


@dataclass(frozen=True)
class ModelEntry:
    """What the rest of the package may know about a registered model."""

    role: str  # teacher | student | baseline
    needs: frozenset[str]  # eeg, gsr, teacher
    description: str
    kind: str = "torch"  # torch (built here) | classical (emotionkd.models.classical)
    builder: str = ""  # "module:Class" of a torch model
    config: str = ""  # "module:Class" of its configuration
    sized: bool = False  # takes the [model] architecture settings
    baseline: bool = False  # may be an evaluation baseline

    @property
    def inputs(self) -> str:
        """The signals its forward pass takes: "eeg+gsr" or "gsr"."""
        return "eeg+gsr" if "eeg" in self.needs else "gsr"


def _needs(*items: str) -> frozenset[str]:
    return frozenset(items)


_REGISTRY: dict[str, ModelEntry] = {
    "emotionnet-teacher": ModelEntry(
        "teacher", _needs("eeg", "gsr"), "EEG + GSR streams, score-gated IMF fusion",
        builder=f"{_EMOTIONNET}:EmotionNetTeacher", config=f"{_EMOTIONNET}:EmotionNetConfig",
        sized=True),
    "emotionnet-student": ModelEntry(
        "student", _needs("gsr", "teacher"), "GSR stream, depth fusion",
        builder=f"{_EMOTIONNET}:EmotionNetStudent", config=f"{_EMOTIONNET}:EmotionNetConfig",
        sized=True),
    "concat": ModelEntry(
        "teacher", _needs("eeg", "gsr"), "baseline: EEG + GSR streams fused by concatenation",
        builder=f"{_BASELINES}:ConcatTeacher", config=f"{_EMOTIONNET}:EmotionNetConfig",
        sized=True, baseline=True),
    "deepconvnet": ModelEntry(
        "student", _needs("gsr"), "baseline: Deep ConvNet (Schirrmeister et al. 2017) on GSR",
        builder=f"{_BASELINES}:DeepConvNet", config=f"{_BASELINES}:DeepConvNetConfig",
        baseline=True),
    "shallowconvnet": ModelEntry(
        "baseline", _needs("eeg", "gsr"),
        "baseline: Shallow ConvNet (Schirrmeister et al. 2017), EEG + GSR",
        builder=f"{_BASELINES}:ShallowConvNet", config=f"{_BASELINES}:ShallowConvNetConfig",
        baseline=True),
    "eeg-features": ModelEntry(
        "baseline", _needs("eeg", "gsr"),
        "log band power per EEG channel + GSR features → logistic regression",
        kind="classical", baseline=True),
    "eeg-de": ModelEntry(
        "baseline", _needs("eeg", "gsr"),
        "differential entropy per EEG channel and band + GSR features → logistic regression",
        kind="classical", baseline=True),
    "gsr-features": ModelEntry(
        "baseline", _needs("gsr"),
        "GSR tonic level/slope and SCR count/amplitude → logistic regression",
        kind="classical", baseline=True),
    "gsr-neurokit": ModelEntry(
        "baseline", _needs("gsr"),
        "NeuroKit2 GSR features (tonic, SCR count/amplitude/rise time; the neurokit extra) "
        "→ logistic regression", kind="classical", baseline=True),
}

#: settings of a sized model's configuration that come from the data, not from [model]
DATA_SHAPE_KEYS = ("fs", "window_s", "n_eeg", "n_classes")


def model_names(kind: str | None = "torch") -> list[str]:
    """Registered model names of one ``kind`` (None: every kind), in display order."""
    return [n for n, e in _REGISTRY.items() if kind is None or e.kind == kind]


def names_where(**facts: Any) -> list[str]:
    """Names whose entries have these facts, e.g. ``names_where(role="teacher")``;
    ``need="teacher"`` selects the entries whose ``needs`` hold it."""
    need = facts.pop("need", None)
    return [n for n, e in _REGISTRY.items()
            if (need is None or need in e.needs)
            and all(getattr(e, k) == v for k, v in facts.items())]


def entry(name: str) -> ModelEntry:
    """The registry entry of ``name`` (a ConfigError listing the names if unknown)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available models: "
                          f"{', '.join(model_names(None))}")
    return _REGISTRY[name]


def distilled_student() -> str:
    """The model that distillation trains (the entry that needs a teacher)."""
    return names_where(need="teacher")[0]


def model_spec(name: str) -> dict[str, Any]:
    """``{"role", "inputs", "needs", "kind", "sized", "description"}`` of a model."""
    e = entry(name)
    return {"role": e.role, "inputs": e.inputs, "needs": sorted(e.needs), "kind": e.kind,
            "sized": e.sized, "description": e.description}


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _torch_entry(name: str) -> ModelEntry:
    e = entry(name)
    if e.kind != "torch":
        raise ConfigError(f"model {name!r} is a {e.kind} baseline, not a neural network; "
                          "it is fitted by emotionkd.models.classical")
    return e


def config_class(name: str) -> type:
    """The configuration dataclass of a torch model."""
    return _load(_torch_entry(name).config)


def config_keys(name: str) -> list[str]:
    """The settings a model's config accepts."""
    return [f.name for f in fields(config_class(name))]


def check_architecture(arch: dict[str, Any], owner: str = "model") -> None:
    """The bounds of the architecture keys given (:data:`ARCHITECTURE_RULES`), checked without
    torch, so a typo such as ``d_model = 1000000000`` is refused before anything is loaded."""
    for key, rule in ARCHITECTURE_RULES.items():
        if key in arch:
            check_number(arch[key], f"{owner}: {key}", **rule)


def architecture_defaults() -> dict[str, Any]:
    """Default architecture of the sized models (what ``[model]`` may set besides ``model``
    and ``size``): their configuration's fields other than the data shape."""
    cls = config_class(names_where(sized=True)[0])
    return {k: v for k, v in cls().as_dict().items() if k not in DATA_SHAPE_KEYS}


def default_config(name: str, fs: float, window_s: float, n_eeg: int,
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full, validated config dict of model ``name`` for a data shape.

    ``overrides`` (e.g. size knobs from a config file) replace defaults; an unknown key is a
    ConfigError listing the valid ones. The result is plain JSON-serialisable data.
    """
    data = {"fs": float(fs), "window_s": float(window_s), "n_eeg": int(n_eeg)}
    return config_class(name).from_dict({**data, **dict(overrides or {})}).as_dict()


def config_for(name: str, fs: float, window_s: float, n_eeg: int,
               architecture: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`default_config` with the ``[model]`` architecture applied only where the entry
    is sized (the other models keep their own defaults)."""
    return default_config(name, fs, window_s, n_eeg,
                          architecture if _torch_entry(name).sized else None)


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    """Build model ``name`` from its plain config dict (missing keys take their defaults;
    unknown ones are a ConfigError listing the valid ones)."""
    e = _torch_entry(name)
    if not isinstance(config, dict):
        raise ConfigError(f"model {name!r}: the config must be a mapping, got "
                          f"{type(config).__name__}")
    cfg = _load(e.config).from_dict(dict(config))
    build = _load(e.builder)
    import torch

    with torch.device("meta"):  # counted without memory before the real allocation
        n = count_parameters(build(cfg), include_buffers=False)
    if n > MAX_PARAMETERS:
        raise ConfigError(f"model {name!r}: {n:,} parameters at this architecture and data "
                          f"shape, more than the {MAX_PARAMETERS:,} allowed ({MAX_WHY}); use "
                          "smaller [model] settings or a shorter window")
    return build(cfg)


def count_parameters(model: nn.Module, include_buffers: bool = True,
                     trainable_only: bool = False) -> int:
    """Number of parameter values, plus buffer values (BatchNorm running mean and variance;
    ``num_batches_tracked`` and fixed constants that checkpoints do not store excluded) when
    ``include_buffers``, the convention of Keras'
    ``count_params``. ``trainable_only`` counts parameters with ``requires_grad`` and no
    buffers."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
    if include_buffers and not trainable_only:
        stored = model.state_dict().keys()
        n += sum(b.numel() for k, b in model.named_buffers()
                 if k in stored and not k.endswith("num_batches_tracked"))
    return int(n)


def describe_models(fs: float = 128.0, window_s: float = 4.0, n_eeg: int = 28,
                    overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per registered neural network at a data shape: name, role, inputs,
    description, ``parameters`` (with BatchNorm statistics) and ``trainable``.

    ``overrides`` (e.g. a size preset) are applied to every model whose config has those keys;
    a key that no model accepts is a ConfigError.
    """
    over = dict(overrides or {})
    names = model_names()
    known = {k for name in names for k in config_keys(name)}
    unknown = sorted(set(over) - known)
    if unknown:
        raise ConfigError(f"unknown model setting(s) {', '.join(unknown)}; valid settings: "
                          f"{', '.join(sorted(known))}")
    rows = []
    for name in names:
        keys = set(config_keys(name))
        mine = {k: v for k, v in over.items() if k in keys}
        model = build_model(name, default_config(name, fs, window_s, n_eeg, mine))
        spec = model_spec(name)
        rows.append({"name": name, "role": spec["role"], "inputs": spec["inputs"],
                     "description": spec["description"],
                     "parameters": count_parameters(model),
                     "trainable": count_parameters(model, trainable_only=True)})
    return rows
