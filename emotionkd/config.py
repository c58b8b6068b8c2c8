"""The experiment configuration: one typed tree of settings that flags, TOML files, the Python
API, checkpoints and the docs all use, with every default defined here once.

An :class:`ExperimentConfig` has six tables — :class:`DataConfig` ``[data]``,
:class:`ModelConfig` ``[model]``, :class:`TrainConfig` ``[train]``, :class:`DistillConfig`
``[distill]``, :class:`FeedbackConfig` ``[feedback]`` and :class:`EvaluationConfig`
``[evaluate]``. A setting has one name everywhere: the flag ``--kl-weight`` is the TOML key
``kl_weight`` of ``[distill]``, the field ``DistillConfig.kl_weight``, and the key
``resolved.distill.kl_weight`` of a checkpoint. Names are unique across tables, so a file may
also give a key at its top level. Precedence: defaults < ``--config`` file < flags.

Each command applies the tables it uses (:data:`COMMAND_TABLES`): ``train-teacher`` data,
model and train; ``distill`` train, distill and feedback (its data and model come from the
teacher); ``evaluate`` all six. Every key of a file is checked whatever the command, and an
unknown key is an error; old names (``alpha``, ``beta``, ``warmup``) still work with a
deprecation note. :meth:`ExperimentConfig.to_toml` writes the resolved configuration of a
command as TOML that :func:`resolve_config` reads back to the same values (``--print-config``).

Only the standard library is imported at module level (the CLI reads these dataclasses to
build its options and help); the model registry is read on demand.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from emotionkd.choices import (
    CLASS_WEIGHTS,
    HINT_MAPS,
    KEEPS,
    MONITORS,
    NORMS,
    PROTOCOLS,
    SCHEDULES,
    STUDENT_INITS,
    TARGETS,
    TIES,
)
from emotionkd.errors import ConfigError
from emotionkd.models import registry as _registry
from emotionkd.validation import (
    check_bool,
    check_choice,
    check_items,
    check_number,
    check_text,
    csv_items,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# ---------------------------------------------------------------------------------------------
# allowed values

METHODS = ("emotionkd", "kd", "fitnets", "none")

#: size presets of the sized models: paper = the reference architecture
SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": {"d_model": 32, "n_heads": 4, "head_dim": 16, "n_blocks": 3, "ff_dim": 32,
              "classifier_dim": 64},
    "tiny": {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 2, "ff_dim": 16,
             "classifier_dim": 32},
}

#: loss weights per distillation method (the student objective
#: ``ce_weight·CE + kl_weight·T²·KL_T + hint_weight·MSE``):
#: emotionkd — the reference ``MLKDLoss`` (e2 = 0.1, e3 = 1); kd — Hinton with RepDistiller's
#: defaults; fitnets — CE + hint; none — CE only, the student alone
METHOD_WEIGHTS: dict[str, dict[str, float]] = {
    "emotionkd": {"ce_weight": 1.0, "kl_weight": 0.1, "hint_weight": 1.0, "temperature": 1.0},
    "kd": {"ce_weight": 0.1, "kl_weight": 0.9, "hint_weight": 0.0, "temperature": 4.0},
    "fitnets": {"ce_weight": 1.0, "kl_weight": 0.0, "hint_weight": 1.0, "temperature": 1.0},
    "none": {"ce_weight": 1.0, "kl_weight": 0.0, "hint_weight": 0.0, "temperature": 1.0},
}

#: old names → current ones (accepted with a deprecation note)
DEPRECATED = {"alpha": "kl_weight", "beta": "hint_weight", "warmup": "feedback_warmup",
              "window_s": "window", "step_s": "step"}

#: tables each command applies (the others are checked, not applied)
COMMAND_TABLES: dict[str, tuple[str, ...]] = {
    "train-teacher": ("data", "model", "train"),
    "distill": ("train", "distill", "feedback"),
    "evaluate": ("data", "model", "train", "distill", "feedback", "evaluate"),
}

#: a legacy table whose keys apply to train-teacher only
LEGACY_COMMAND_TABLE = "train-teacher"


# ---------------------------------------------------------------------------------------------
# settings: a dataclass field with what the CLI, the checks and the docs need


def setting(default: Any, help: str, *, kind: Any = None, choices: Iterable[str] = (),
            items: Iterable[str] = (), rule: dict[str, Any] | None = None, flag: bool = True,
            shown: str | None = None) -> Any:
    """A field of a configuration table.

    ``kind`` is the value type (by default the default's; ``"csv"`` for comma-separated
    lists); ``choices`` the allowed values (``items``: allowed entries of a list); ``rule`` the
    range for :func:`check_number`; ``flag`` whether the commands have a flag for it;
    ``shown`` how help and docs describe a default of None.
    """
    meta = {"help": help, "kind": kind or type(default), "choices": tuple(choices),
            "items": tuple(items), "rule": rule or {}, "flag": flag, "shown": shown}
    return field(default=default, metadata=meta)


def flag_name(f: Field) -> str:
    """The flag of a setting (``--kl-weight``), or its key when it has none."""
    return "--" + f.name.replace("_", "-") if f.metadata.get("flag") else f.name


def check_setting(f: Field, value: Any, label: str | None = None) -> Any:
    """``value`` checked and converted for setting ``f``; ``label`` names it in errors (the
    flag by default, ``FILE: key`` for config files)."""
    meta = f.metadata
    label = label or flag_name(f)
    if value is None and f.default is None:
        return None
    kind = meta["kind"]
    if kind is bool:
        return check_bool(value, label)
    if kind in (int, float):
        return check_number(value, label, integer=kind is int, **meta["rule"])
    if kind == "csv" and isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    check_text(value, label)
    if meta["choices"]:
        check_choice(value, label, meta["choices"])
    if kind == "csv" and meta["items"]:
        check_items(value, label, meta["items"])
    return value


def _check_fields(obj: Any) -> None:
    """Check and convert every setting of a table (``__post_init__`` of each table)."""
    for f in fields(obj):
        if "kind" in f.metadata:
            setattr(obj, f.name, check_setting(f, getattr(obj, f.name)))


def _preset_text(key: str) -> str:
    return "per method: " + ", ".join(f"{m} {w[key]:g}" for m, w in METHOD_WEIGHTS.items())


# ---------------------------------------------------------------------------------------------
# the tables

_SECONDS = {"low": 0, "low_open": True, "high": 3600, "why": " (seconds)"}
_SHARE = {"low": 0, "high": 1, "high_open": True}


@dataclass
class DataConfig:
    """``[data]``: how windows and labels are made, and which subjects train."""

    target: str = setting("arousal", "Rating to predict: " + ", ".join(TARGETS) + " or "
                          "another rating of the store; evaluate takes several, comma-separated.")
    window: float = setting(4.0, "Window length in seconds.", rule=_SECONDS)
    step: float = setting(4.0, "Window step in seconds; equal to the window: no overlap.",
                          rule=_SECONDS)
    threshold: float = setting(5.0, "Ratings above it are the high class.")
    tie: str = setting("low", "Class of a rating equal to the threshold: low gives the > rule, "
                       "high the >= rule.", choices=TIES)
    eeg_channels: str = setting("store", "EEG channels: store (every one in the store), all "
                                "(DEAP's 32), tsception28, or comma-separated names.")
    norm: str = setting("subject", "Normalisation: subject (z-score per subject, "
                        "unsupervised), train (statistics of the training subjects), none.",
                        choices=NORMS)
    val_fraction: float = setting(0.2, "Share of the training subjects (subject-dependent: "
                                  "trials) held out for validation: it picks the epoch kept.",
                                  rule={**_SHARE, "why": " (a share of the subjects)"})
    train_subjects: str | None = setting(None, "Training subjects, e.g. 1-20,25.", kind="csv",
                                         shown="every subject not held out")
    val_subjects: str | None = setting(None, "Early-stopping validation subjects.", kind="csv",
                                       shown="--val-fraction of the training subjects")
    test_subjects: str | None = setting(None, "Held-out test subjects, scored at the end.",
                                        kind="csv", shown="none")

    def __post_init__(self) -> None:
        _check_fields(self)


@dataclass
class ModelConfig:
    """``[model]``: the teacher architecture and the size of the sized models.

    ``architecture`` holds the other keys of ``[model]`` (``d_model``, ``n_heads`` …, see
    :func:`emotionkd.models.registry.architecture_defaults`); they override the size preset.
    """

    model: str = setting("emotionnet-teacher", "Teacher architecture.",
                         choices=tuple(_registry.names_where(role="teacher")))
    size: str = setting("paper", "Size preset of the EmotionNet models: paper (the reference "
                        "architecture), small or tiny.", choices=tuple(SIZE_PRESETS))
    architecture: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fields(self)
        self.architecture = dict(self.architecture)
        if self.architecture:
            self.resolved_architecture()  # unknown keys and bad values are errors now

    def overrides(self) -> dict[str, Any]:
        """What a sized model's configuration takes: the size preset, then explicit keys."""
        return {**SIZE_PRESETS[self.size], **self.architecture}

    def resolved_architecture(self) -> dict[str, Any]:
        """Every architecture setting of the sized models, with their defaults filled in."""
        arch = {**_registry.architecture_defaults(), **self.overrides()}
        checked = _registry.config_class(self.model).from_dict(arch)
        return {k: getattr(checked, k) for k in arch}


@dataclass
class TrainConfig:
    """``[train]``: optimisation of every model (Adam, early stopping, schedule)."""

    epochs: int = setting(20, "Maximum epochs.", rule={"low": 1, "high": 100_000})
    batch_size: int = setting(64, "Batch size (under torchrun: the global batch).",
                              rule={"low": 1, "high": 2**20})
    lr: float = setting(1e-4, "Adam learning rate.",
                        rule={"low": 0, "low_open": True, "high": 1,
                              "why": " (larger Adam steps diverge)"})
    weight_decay: float = setting(0.0, "Adam weight decay.", rule={"low": 0})
    patience: int = setting(0, "Early stopping: epochs without improvement; 0 trains every "
                            "epoch (the epoch --keep names is kept either way).",
                            rule={"low": 0, "why": " (0: never stop early)"})
    grad_clip: float = setting(1.0, "Largest gradient norm; 0 turns clipping off.",
                               rule={"low": 0, "why": " (0: off)"})
    seed: int = setting(0, "Random seed.", rule={"low": 0})
    device: str = setting("auto", "Device: auto (CUDA when present), cpu, cuda or cuda:N.")
    amp: bool = setting(True, "Mixed precision on CUDA.", flag=False)
    monitor: str = setting("loss", "Validation quantity that picks the epoch kept (and stops "
                           "early with --patience).", choices=MONITORS)
    keep: str = setting("best", "Model kept: best (the epoch --monitor picks on the validation "
                        "data) or last (the last epoch trained).", choices=KEEPS)
    class_weight: str = setting("balanced", "Class weights of the loss: balanced or none.",
                                choices=CLASS_WEIGHTS)
    adam_eps: float = setting(1e-7, "Adam epsilon (the reference's Keras default).",
                              rule={"low": 0, "low_open": True}, flag=False)
    eval_batch_size: int = setting(512, "Batch size of validation and test predictions.",
                                   rule={"low": 1}, flag=False)
    schedule: str = setting("cosine", "Learning-rate schedule: constant, or cosine decay to "
                            "5 % of --lr by the last epoch.", choices=SCHEDULES)
    warmup_epochs: float = setting(1.0, "Epochs of linear learning-rate warm-up from 0 (the "
                                   "feedback's start is feedback_warmup).",
                                   rule={"low": 0})
    label_smoothing: float = setting(0.1, "Label smoothing of the supervised loss.",
                                     rule=_SHARE)

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.warmup_epochs > self.epochs:
            raise ConfigError(f"--warmup-epochs must be between 0 and --epochs "
                              f"({self.epochs}), got {self.warmup_epochs:g}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LossWeights:
    """The student objective ``ce_weight·CE + kl_weight·T²·KL_T + hint_weight·MSE`` of one
    distillation (resolved from a method's preset and explicit settings)."""

    ce_weight: float = METHOD_WEIGHTS["emotionkd"]["ce_weight"]
    kl_weight: float = METHOD_WEIGHTS["emotionkd"]["kl_weight"]
    hint_weight: float = METHOD_WEIGHTS["emotionkd"]["hint_weight"]
    temperature: float = METHOD_WEIGHTS["emotionkd"]["temperature"]
    hint_map: str = "fold"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def method_weights(method: str, **overrides: Any) -> LossWeights:
    """The loss weights of ``method`` (:data:`METHOD_WEIGHTS`); ``overrides`` with value None
    are ignored, the others are checked like the flags of the same names."""
    if method not in METHOD_WEIGHTS:
        raise ConfigError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    given = {DEPRECATED.get(k, k): v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - {f.name for f in fields(LossWeights)})
    if unknown:
        raise ConfigError(f"unknown loss weight(s) {', '.join(unknown)}; known: "
                          f"{', '.join(f.name for f in fields(LossWeights))}")
    spec = {f.name: f for f in fields(DistillConfig)}
    checked = {k: check_setting(spec[k], v) for k, v in given.items()}
    return LossWeights(**{**METHOD_WEIGHTS[method], **checked})


@dataclass
class DistillConfig:
    """``[distill]``: the distillation method and its loss weights (None: the method's).

    ``evaluate`` trains every method of ``--methods``; the weights, ``hint_map`` and
    ``student_init`` set here apply to the students of ``method``, the others keep their
    presets."""

    method: str = setting("emotionkd", "Distillation: emotionkd (CE + 0.1 KL + 1 hint), kd "
                          "(Hinton, T = 4), fitnets (CE + hint), none (the student alone).",
                          choices=METHODS)
    feedback: bool | None = setting(None, "Adaptive feedback: the teacher learns from a pilot "
                                    "student's quiz loss; evaluate trains the emotionkd student "
                                    "with and without it.", kind=bool,
                                    shown="on for emotionkd, off otherwise; evaluate: on")
    ce_weight: float | None = setting(None, "Weight of the student's cross-entropy.",
                                      kind=float, rule={"low": 0}, shown=_preset_text("ce_weight"))
    kl_weight: float | None = setting(None, "Weight of the soft-label KL term.", kind=float,
                                      rule={"low": 0}, shown=_preset_text("kl_weight"))
    hint_weight: float | None = setting(None, "Weight of the hint (feature MSE) term.",
                                        kind=float, rule={"low": 0},
                                        shown=_preset_text("hint_weight"))
    temperature: float | None = setting(None, "KD temperature T; the KL is scaled by T².",
                                        kind=float, rule={"low": 0, "low_open": True,
                                                          "high": 100},
                                        shown=_preset_text("temperature"))
    hint_map: str = setting("fold", "Teacher tokens of the hint: fold (EEG half + GSR half), "
                            "gsr, eeg.", choices=HINT_MAPS)
    student_init: str = setting("scratch", "Student start: scratch, or teacher-gsr (the "
                                "teacher's GSR stream).", choices=STUDENT_INITS)

    def __post_init__(self) -> None:
        _check_fields(self)

    def weights(self, method: str | None = None) -> LossWeights:
        """The loss weights of ``method`` (default: this table's): the explicit settings for
        this table's method, the preset for any other."""
        method = method or self.method
        mine = {"hint_map": self.hint_map}
        if method == self.method:
            mine.update(ce_weight=self.ce_weight, kl_weight=self.kl_weight,
                        hint_weight=self.hint_weight, temperature=self.temperature)
        return method_weights(method, **mine)

    def feedback_on(self, command: str) -> bool:
        """Whether feedback runs: as set, else on for emotionkd (``evaluate``: on)."""
        if self.feedback is not None:
            return self.feedback
        return command == "evaluate" or self.method == "emotionkd"


@dataclass
class FeedbackConfig:
    """``[feedback]``: the adaptive feedback (docs/method.md, "Adaptive feedback")."""

    pilot_lr: float = setting(0.01, "Step size of the pilot student's differentiable SGD "
                              "step.", rule={"low": 0, "low_open": True, "high": 10})
    teacher_lr: float = setting(1e-5, "Teacher learning rate during feedback.",
                                rule={"low": 0, "high": 1})
    feedback_warmup: int = setting(1, "Epochs of plain distillation before feedback starts.",
                                   rule={"low": 0})
    feedback_every: int = setting(1, "A feedback step every k student steps.", rule={"low": 1})
    feedback_teacher_ce: float = setting(1.0, "Weight of the teacher's own CE in its update "
                                         "(e1).", rule={"low": 0}, flag=False)
    feedback_student_ce: float = setting(1.0, "Weight of the pilot student's quiz CE, the "
                                         "meta-gradient (e2).", rule={"low": 0}, flag=False)
    feedback_grad_clip: float = setting(1.0, "Largest norm of the teacher's feedback gradient; "
                                        "0 turns clipping off.", rule={"low": 0}, flag=False)
    quiz_fraction: float = setting(0.2, "Share of the training trials held out as the "
                                   "feedback's quiz set.",
                                   rule={**_SHARE, "why": " (a share of the trials)"})

    def __post_init__(self) -> None:
        _check_fields(self)
        if self.feedback_teacher_ce + self.feedback_student_ce == 0:
            raise ConfigError("feedback_teacher_ce and feedback_student_ce cannot both be 0: "
                              "the teacher would get no update")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _baseline_names() -> tuple[str, ...]:
    return (*_registry.names_where(baseline=True), "none")


@dataclass
class EvaluationConfig:
    """``[evaluate]``: the protocol and what it compares."""

    protocol: str | None = setting(None, "Evaluation protocol.", kind=str, choices=PROTOCOLS,
                                   flag=False, shown="none: give --loso, --kfold K or "
                                   "--subject-dependent K")
    k: int = setting(0, "Folds of kfold and subject-dependent.", rule={"low": 0, "high": 10_000},
                     flag=False)
    methods: str = setting("emotionkd,none", "Students, comma-separated: "
                           + ", ".join(METHODS) + ".", kind="csv", items=METHODS)
    baselines: str = setting("eeg-features,gsr-features,shallowconvnet",
                             "Baselines, comma-separated: " + ", ".join(_baseline_names())
                             + ".", kind="csv", items=_baseline_names())
    feedback_ablation: bool = setting(False, "Also train the feedback's halves: meta-gradient "
                                      "only and teacher CE only.")
    seeds: str | None = setting(None, "Repeat the whole protocol per seed, e.g. 0,1,2.",
                                kind="csv", shown="--seed")
    subjects: str | None = setting(None, "Restrict the run to these subjects, e.g. 1-10.",
                                   kind="csv", shown="all")

    def __post_init__(self) -> None:
        _check_fields(self)

    def seed_list(self, seed: int) -> list[int]:
        """``seeds`` as integers (``[seed]`` when not set)."""
        if self.seeds is None:
            return [int(seed)]
        try:
            return [int(v) for v in csv_items(self.seeds)]
        except ValueError:
            raise ConfigError(f"--seeds: cannot read {self.seeds!r}; give integers, e.g. "
                              "0,1,2") from None


TABLES: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
                           "distill": DistillConfig, "feedback": FeedbackConfig,
                           "evaluate": EvaluationConfig}


def settings(table: str) -> dict[str, Field]:
    """The settings of a table by name (``[model]``'s architecture keys not included)."""
    return {f.name: f for f in fields(TABLES[table]) if "kind" in f.metadata}


#: key → table, for every setting
HOME: dict[str, str] = {k: t for t in TABLES for k in settings(t)}


# ---------------------------------------------------------------------------------------------
# the whole configuration


@dataclass
class ExperimentConfig:
    """One experiment: every table, resolved."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    feedback: FeedbackConfig = field(default_factory=FeedbackConfig)
    evaluate: EvaluationConfig = field(default_factory=EvaluationConfig)

    def resolved(self, command: str = "evaluate") -> dict[str, dict[str, Any]]:
        """The tables ``command`` applies, with every value resolved (method presets, size
        preset and architecture defaults filled in; settings that are not set left out) —
        what ``--print-config`` prints and checkpoints store."""
        out: dict[str, dict[str, Any]] = {}
        for table in COMMAND_TABLES[command]:
            obj = getattr(self, table)
            values = {k: getattr(obj, k) for k in settings(table)}
            if table == "model":
                values.update(self.model.resolved_architecture())
            if table == "distill":
                values.update(self.distill.weights().as_dict())
                values["feedback"] = self.distill.feedback_on(command)
            out[table] = {k: v for k, v in values.items() if v is not None}
        return out

    def to_toml(self, command: str = "evaluate") -> str:
        """The resolved configuration of ``command`` as TOML (``--config`` reads it back to
        the same values); settings that are not set are listed as comments."""
        lines = [f"# emotionkd {command}: resolved configuration (defaults < --config file < "
                 "flags)"]
        for table, values in self.resolved(command).items():
            lines += ["", f"[{table}]"]
            lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
            lines += [f"# {k}: not set ({f.metadata['shown']})"
                      for k, f in settings(table).items() if k not in values]
        return "\n".join(lines) + "\n"


def toml_value(v: Any) -> str:
    """A TOML literal for the value types of a configuration (text, booleans, integers,
    floats, and lists of them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to TOML")


# ---------------------------------------------------------------------------------------------
# reading files and resolving


def _canonical(key: str, where: str, notes: list[str] | None) -> str:
    key = key.replace("-", "_")
    if key in DEPRECATED:
        new = DEPRECATED[key]
        if notes is not None:
            notes.append(f"{where}{key} is deprecated; use {new}")
        return new
    return key


def read_config_file(path: str | os.PathLike, command: str,
                     notes: list[str] | None = None) -> dict[str, tuple[Any, str]]:
    """The settings of a TOML file as ``{key: (value, label)}`` (``label`` names file and key
    for error messages), with deprecated names translated (a note each) and every key checked:
    an unknown key or table is an error that lists the valid ones. Keys of the legacy
    ``[train-teacher]`` table are returned only for that command."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        with open(p, "rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: invalid TOML ({exc})") from None
    arch = set(_registry.architecture_defaults())
    out: dict[str, tuple[Any, str]] = {}
    legacy: dict[str, tuple[Any, str]] = {}

    def take(key: str, value: Any, table: str | None, into: dict) -> None:
        where = f"{p}: " + (f"[{table}] " if table else "")
        key = _canonical(key, where, notes)
        home = HOME.get(key, "model" if key in arch else None)
        if home is None:
            valid = sorted({*HOME, *arch})
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{where}unknown key '{key}'{hint}; valid keys: "
                              f"{', '.join(valid)}")
        if table in TABLES and table != home and notes is not None:
            notes.append(f"{where}{key} belongs in [{home}]; move it there")
        if key in into:
            raise ConfigError(f"{p}: key '{key}' is set twice")
        into[key] = (value, f"{p}: {key}")

    for name, value in doc.items():
        if not isinstance(value, Mapping):
            take(name, value, None, out)
            continue
        table = LEGACY_COMMAND_TABLE if name.replace("_", "-") == LEGACY_COMMAND_TABLE else name
        if table not in TABLES and table != LEGACY_COMMAND_TABLE:
            raise ConfigError(f"{p}: unknown table [{name}]; tables: "
                              f"{', '.join(f'[{t}]' for t in TABLES)}")
        for key, v in value.items():
            if isinstance(v, Mapping):
                raise ConfigError(f"{p}: [{name}.{key}] is not a table emotionkd reads; "
                                  f"give {key}'s keys in [{name}]")
            take(key, v, table, legacy if table == LEGACY_COMMAND_TABLE else out)
    if command == LEGACY_COMMAND_TABLE:
        out.update(legacy)
    return out


def resolve_config(
    command: str,
    given: Mapping[str, Any] | None = None,
    config: str | os.PathLike | None = None,
    notes: list[str] | None = None,
) -> ExperimentConfig:
    """The configuration of ``command``: defaults, then the file ``config``, then ``given``
    (flags or API keywords; ``None`` values are "not given").

    ``given`` may hold only settings of the tables the command applies; deprecated names are
    translated with a note appended to ``notes``.
    """
    if command not in COMMAND_TABLES:
        raise ConfigError(f"unknown command {command!r}; known: {', '.join(COMMAND_TABLES)}")
    tables = COMMAND_TABLES[command]
    values = read_config_file(config, command, notes) if config is not None else {}
    arch = set(_registry.architecture_defaults()) if "model" in tables else set()
    for key, value in (given or {}).items():
        if value is None:
            continue
        name = _canonical(key, "", notes)
        home = HOME.get(name, "model" if name in arch else None)
        if home not in tables:
            known = sorted({k for k, t in HOME.items() if t in tables} | arch)
            why = f" ({command} does not apply [{home}])" if home else ""
            raise ConfigError(f"unknown option {key!r}{why}; known: {', '.join(known)}")
        if name in given and name != key and given[name] is not None:
            raise ConfigError(f"{key} and {name} are the same setting; give only {name}")
        option = flag_name(settings(home)[name]) if name in HOME else name
        values[name] = (value, option)
    parts: dict[str, Any] = {}
    for table, cls in TABLES.items():
        spec = settings(table)
        kwargs = {k: check_setting(spec[k], v, label)
                  for k, (v, label) in values.items() if k in spec}
        if table == "model":
            kwargs["architecture"] = {k: v for k, (v, _) in values.items() if k not in HOME}
        try:
            parts[table] = cls(**kwargs)
        except ConfigError as exc:  # a rule between settings: name the file if it set them
            from_file = config is not None and any(
                label.startswith(f"{config}: ") for k, (_, label) in values.items()
                if HOME.get(k, "model") == table)
            raise ConfigError(f"{config}: {exc}" if from_file else str(exc)) from None
    return ExperimentConfig(**parts)


def model_overrides(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Architecture overrides from a flat mapping: the ``size`` preset, then explicit keys
    (kept for scripts; commands use :meth:`ModelConfig.overrides`)."""
    keys = dict(cfg)
    size = keys.pop("size", None) or "paper"
    model = ModelConfig(size=size, architecture={k: v for k, v in keys.items()
                                                 if k not in HOME and v is not None})
    return model.overrides()
