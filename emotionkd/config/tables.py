"""The six tables of an experiment configuration, with every setting's default, help text
and allowed values defined once (:func:`~emotionkd.settings.setting`).

Only the standard library is imported at module level, besides the registries the tables
take their choices from (the models and the distillation methods, both torch-free).
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields, replace
from functools import partial
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
    TEACHER_TARGETS,
    TIES,
)
from emotionkd.distill import methods as _methods
from emotionkd.errors import ConfigError
from emotionkd.models import registry as _registry
from emotionkd.settings import check_setting, check_table, is_setting, setting
from emotionkd.validation import SEED, check_device, check_unique, parse_integers

#: size presets of the sized models: paper = the reference architecture
SIZE_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "small": {"d_model": 32, "n_heads": 4, "head_dim": 16, "n_blocks": 3, "ff_dim": 32,
              "classifier_dim": 64},
    "tiny": {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 2, "ff_dim": 16,
             "classifier_dim": 32},
}

#: each size preset's optimiser recipe: the reference's Adam 1e-4 with batches of 64 for the
#: paper size; the small models learn at 1e-3 with batches of 32 (docs/method.md, "Defaults
#: for the amount of data")
SIZE_RECIPES: dict[str, dict[str, Any]] = {
    "paper": {"lr": 1e-4, "batch_size": 64},
    "small": {"lr": 1e-3, "batch_size": 32},
    "tiny": {"lr": 1e-3, "batch_size": 32},
}
#: ``size = "auto"`` picks the paper size from this many training windows on, tiny below
AUTO_PAPER_WINDOWS = 10_000
#: the values of ``size``
SIZES = ("auto", *SIZE_PRESETS)


def auto_size(n_windows: int) -> str:
    """The size preset ``size = "auto"`` gives a model trained on ``n_windows`` windows."""
    return "paper" if n_windows >= AUTO_PAPER_WINDOWS else "tiny"


def _recipe_text(key: str) -> str:
    return ", ".join(f"{v[key]:g} at {k}" for k, v in SIZE_RECIPES.items()) + " (by the model size)"


_SECONDS = {"low": 0, "low_open": True, "high": 3600, "why": " (seconds)"}
_SHARE = {"low": 0, "high": 1, "high_open": True}
#: bounds of counts of epochs and steps, and of loss weights: far beyond any sensible value,
#: so that only a typo meets them (a fold would otherwise run for days)
_EPOCHS = {"high": 100_000, "why": " (more would run for days: surely a typo)"}
_WEIGHT = {"low": 0, "high": 1e6, "why": " (a loss weight)"}


@dataclass
class DataConfig:
    """``[data]``: how windows and labels are made, and which subjects train."""

    target: str = setting("arousal", "Rating to predict: " + ", ".join(TARGETS) + " or "
                          "another rating of the store; evaluate takes several, comma-separated.")
    window: float = setting(4.0, "Window length in seconds.", rule=_SECONDS)
    step: float = setting(4.0, "Window step in seconds; equal to the window: no overlap.",
                          rule=_SECONDS)
    threshold: float | None = setting(None, "Ratings above it are the high class.", kind=float,
                                      shown="the rating scale's midpoint (5 on 1-9, 3 on 1-5)")
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
        check_table(self)
        check_unique(self.target, "--target")


@dataclass
class ModelConfig:
    """``[model]``: the teacher architecture and the size of the sized models.

    ``architecture`` holds the other keys of ``[model]`` (``d_model``, ``n_heads`` …, see
    :func:`emotionkd.models.registry.architecture_defaults`); they override the size preset.
    """

    model: str = setting("emotionnet-teacher", "Teacher architecture.",
                         choices=tuple(_registry.names_where(role="teacher")))
    size: str = setting("auto", "Size preset of the EmotionNet models: auto (tiny below "
                        f"{AUTO_PAPER_WINDOWS:,} training windows, paper from there), paper (the "
                        "reference architecture), small or tiny.", choices=SIZES)
    architecture: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_table(self)
        self.architecture = dict(self.architecture)
        _registry.check_architecture(self.architecture)  # before torch is imported
        if self.architecture:
            self.resolved_architecture()  # unknown keys and bad values are errors now

    def overrides(self) -> dict[str, Any]:
        """What a sized model's configuration takes: the size preset, then explicit keys.
        ``size = "auto"`` must be resolved from the data first (:meth:`for_windows`)."""
        if self.size == "auto":
            raise ConfigError("model: size 'auto' depends on the training data; resolve it "
                              "with for_windows(n) (ExperimentConfig.for_data) first")
        return {**SIZE_PRESETS[self.size], **self.architecture}

    def for_windows(self, n_windows: int) -> ModelConfig:
        """This table with ``size = "auto"`` resolved for ``n_windows`` training windows."""
        if self.size != "auto":
            return self
        return replace(self, size=auto_size(n_windows))

    def resolved_architecture(self) -> dict[str, Any]:
        """Every architecture setting of the sized models, with their defaults filled in
        (with ``size = "auto"``: only the explicit keys, checked; the rest follows the data)."""
        preset = {} if self.size == "auto" else SIZE_PRESETS[self.size]
        arch = {**_registry.architecture_defaults(), **preset, **self.architecture}
        checked = _registry.config_class(self.model).from_dict(arch).as_dict()
        keys = self.architecture if self.size == "auto" else arch
        return {k: checked[k] for k in keys}


@dataclass
class TrainConfig:
    """``[train]``: optimisation of every model (Adam, early stopping, schedule)."""

    epochs: int = setting(20, "Maximum epochs.", rule={"low": 1, **_EPOCHS})
    batch_size: int | None = setting(None, "Batch size (under torchrun: the global batch).",
                                     kind=int, rule={"low": 1, "high": 2**20,
                                                     "why": " (windows per step)"},
                                     shown=_recipe_text("batch_size"))
    lr: float | None = setting(None, "Adam learning rate.", kind=float,
                               rule={"low": 0, "low_open": True, "high": 1,
                                     "why": " (larger Adam steps diverge)"},
                               shown=_recipe_text("lr"))
    weight_decay: float = setting(0.0, "Adam weight decay.",
                                  rule={"low": 0, "high": 1,
                                        "why": " (a larger decay erases the weights)"})
    patience: int = setting(0, "Early stopping: epochs without improvement; 0 trains every "
                            "epoch (the epoch --keep names is kept either way).",
                            rule={"low": 0, "high": 100_000, "why": " (0: never stop early)"})
    grad_clip: float = setting(1.0, "Largest gradient norm; 0 turns clipping off.",
                               rule={"low": 0, "high": 1e6, "why": " (0: off)"})
    seed: int = setting(0, "Random seed.", rule=SEED)
    device: str = setting("auto", "Device: auto (CUDA when present), cpu, cuda, cuda:N (the "
                          "N-th GPU) or mps.")
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
                                   rule={"low": 1, "high": 2**20,
                                         "why": " (windows per step)"}, flag=False)
    schedule: str = setting("cosine", "Learning-rate schedule: constant, or cosine decay to "
                            "5 % of --lr by the last epoch.", choices=SCHEDULES)
    warmup_epochs: float = setting(1.0, "Epochs of linear learning-rate warm-up from 0 (the "
                                   "feedback's start is feedback_warmup).",
                                   rule={"low": 0, **_EPOCHS})
    label_smoothing: float = setting(0.1, "Label smoothing of the supervised loss.",
                                     rule=_SHARE)

    def __post_init__(self) -> None:
        check_table(self)
        check_device(self.device)
        if self.warmup_epochs > self.epochs:
            raise ConfigError(f"--warmup-epochs must be between 0 and --epochs "
                              f"({self.epochs}), got {self.warmup_epochs:g}")

    def for_size(self, size: str) -> TrainConfig:
        """This table with the learning rate and batch size that are not set taken from the
        recipe of size preset ``size``."""
        recipe = SIZE_RECIPES.get(size, SIZE_RECIPES["paper"])
        return replace(self, lr=recipe["lr"] if self.lr is None else self.lr,
                       batch_size=recipe["batch_size"] if self.batch_size is None
                       else self.batch_size)


@dataclass
class DistillConfig:
    """``[distill]``: the distillation method and the settings of its loss (None: the
    method's preset, :mod:`emotionkd.distill.methods`).

    ``evaluate`` trains every method of ``--methods``: the weights and ``student_init`` set
    here apply to the students of ``method``, the other methods keep their presets;
    ``hint_map`` applies to every method that uses it. ``options`` holds the settings that
    registered methods declare of their own (they are keys of ``[distill]`` like the others).
    """

    method: str = setting("emotionkd", _methods.method_help, choices=_methods.names)
    feedback: bool | None = setting(None, "Adaptive feedback: the teacher learns from a pilot "
                                    "student's quiz loss; evaluate trains the emotionkd student "
                                    "with and without it.", kind=bool,
                                    shown="on for emotionkd, off otherwise; evaluate: on")
    ce_weight: float | None = setting(None, "Weight of the student's cross-entropy.",
                                      kind=float, rule=_WEIGHT,
                                      shown=partial(_methods.presets_text, "ce_weight"))
    kl_weight: float | None = setting(None, "Weight of the soft-label KL term.", kind=float,
                                      rule=_WEIGHT,
                                      shown=partial(_methods.presets_text, "kl_weight"))
    hint_weight: float | None = setting(None, "Weight of the hint (feature MSE) term.",
                                        kind=float, rule=_WEIGHT,
                                        shown=partial(_methods.presets_text, "hint_weight"))
    temperature: float | None = setting(None, "KD temperature T; the KL is scaled by T².",
                                        kind=float, rule={"low": 0, "low_open": True,
                                                          "high": 100},
                                        shown=partial(_methods.presets_text, "temperature"))
    hint_map: str = setting("fold", "Teacher tokens of the hint: fold (EEG half + GSR half), "
                            "gsr, eeg.", choices=HINT_MAPS)
    student_init: str = setting("scratch", "Student start: scratch, or teacher-gsr (the "
                                "teacher's GSR stream).", choices=STUDENT_INITS)
    teacher_targets: str = setting("fit", "Soft labels of the KL term: fit (the teacher's on "
                                   "its own training windows) or crossfit (each window's from a "
                                   "teacher trained on the other --crossfit-folds parts of the "
                                   "training trials).", choices=TEACHER_TARGETS)
    crossfit_folds: int = setting(4, "Parts of the training trials for --teacher-targets "
                                  "crossfit (one extra teacher per part).",
                                  rule={"low": 2, "high": 100})
    calibrate_teacher: bool = setting(False, "Divide the teacher's logits by the temperature "
                                      "that minimises its NLL on held-out windows (validation "
                                      "subjects; with crossfit, its out-of-fold training "
                                      "windows).")
    kd_grid: str | None = setting(None, "Choose the KL weight and temperature on the validation "
                                  "subjects among WEIGHT:T pairs, e.g. 0.1:1,0.5:2,0.9:4 (one "
                                  "student per pair; the epoch kept decides).", kind="csv",
                                  shown="off: the method's values")
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_table(self)
        if self.kd_grid is not None:
            self.kd_pairs()
        own = _methods.own_settings()
        unknown = sorted(set(self.options) - set(own))
        if unknown:
            raise ConfigError(f"[distill]: unknown setting(s) {', '.join(unknown)}; the "
                              f"methods' own settings: {', '.join(own) or 'none'}")
        self.options = {k: check_setting(own[k], v) for k, v in self.options.items()}

    def params(self, method: str | None = None) -> dict[str, Any]:
        """The resolved settings of ``method``'s loss (default: this table's method): its
        presets and defaults, the explicit weights where it is this table's method, and the
        settings that are one value for the run (``hint_map``, the methods' own settings)."""
        name = method or self.method
        cls = _methods.method_class(name)
        mine: dict[str, Any] = {}
        for key in cls.uses:
            value = getattr(self, key)
            if _SHARED[key].default is not None or (name == self.method and value is not None):
                mine[key] = value
        mine.update({k: v for k, v in self.options.items() if k in cls.settings})
        return {**cls.defaults(), **mine}

    def kd_pairs(self) -> list[tuple[float, float]]:
        """``kd_grid`` as (KL weight, temperature) pairs (empty when not set)."""
        out = []
        for item in (self.kd_grid or "").split(","):
            if not item.strip():
                continue
            w, sep, t = item.partition(":")
            try:
                pair = (float(w), float(t))
            except ValueError:
                pair = (-1.0, -1.0)
            if not sep or not (0 <= pair[0] < 1e6 and 0 < pair[1] <= 100):
                raise ConfigError(f"--kd-grid: {item.strip()!r} is not WEIGHT:T with WEIGHT >= "
                                  "0 and 0 < T <= 100, e.g. 0.5:2")
            out.append(pair)
        return out

    def method_object(self, method: str | None = None) -> _methods.DistillMethod:
        """The configured method (``method`` or this table's) with its resolved settings."""
        name = method or self.method
        return _methods.method_class(name)(self.params(name))

    def feedback_on(self, command: str) -> bool:
        """Whether feedback runs: as set, else on for the method that defaults to it
        (emotionkd; ``evaluate``: on)."""
        if self.feedback is not None:
            return self.feedback
        return command == "evaluate" or _methods.method_class(self.method).feedback_default


#: the settings of [distill] that methods read, by name
_SHARED = {f.name: f for f in fields(DistillConfig) if is_setting(f)}


@dataclass
class FeedbackConfig:
    """``[feedback]``: the adaptive feedback (docs/method.md, "Adaptive feedback")."""

    pilot_lr: float = setting(0.01, "Step size of the pilot student's differentiable SGD "
                              "step.", rule={"low": 0, "low_open": True, "high": 10})
    teacher_lr: float = setting(1e-5, "Teacher learning rate during feedback.",
                                rule={"low": 0, "high": 1})
    feedback_warmup: int = setting(1, "Epochs of plain distillation before feedback starts.",
                                   rule={"low": 0, **_EPOCHS})
    feedback_every: int = setting(1, "A feedback step every k student steps.",
                                  rule={"low": 1, "high": 1_000_000, "why": " (steps)"})
    feedback_teacher_ce: float = setting(1.0, "Weight of the teacher's own CE in its update "
                                         "(e1).", rule=_WEIGHT, flag=False)
    feedback_student_ce: float = setting(1.0, "Weight of the pilot student's quiz CE, the "
                                         "meta-gradient (e2).", rule=_WEIGHT, flag=False)
    feedback_grad_clip: float = setting(1.0, "Largest norm of the teacher's feedback gradient; "
                                        "0 turns clipping off.",
                                        rule={"low": 0, "high": 1e6, "why": " (0: off)"},
                                        flag=False)
    quiz_fraction: float = setting(0.2, "Share of the training trials held out as the "
                                   "feedback's quiz set.",
                                   rule={**_SHARE, "why": " (a share of the trials)"})

    def __post_init__(self) -> None:
        check_table(self)
        if self.feedback_teacher_ce + self.feedback_student_ce == 0:
            raise ConfigError("feedback_teacher_ce and feedback_student_ce cannot both be 0: "
                              "the teacher would get no update")

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
    methods: str = setting("emotionkd,none", lambda: "Students, comma-separated: "
                           + ", ".join(_methods.names()) + ".", kind="csv",
                           items=_methods.names)
    baselines: str = setting("eeg-features,gsr-features,shallowconvnet",
                             "Baselines, comma-separated: " + ", ".join(_baseline_names())
                             + ".", kind="csv", items=_baseline_names())
    feedback_ablation: bool = setting(False, "Also train the feedback's halves: meta-gradient "
                                      "only and teacher CE only.")
    headroom: bool = setting(True, "Train the headroom's yardstick: the student alone on the "
                             "latent truth of a synthetic store (student-ceiling), or on real "
                             "data with --teacher-targets crossfit on the cross-fitted "
                             "teacher's hard predictions (student-teacher-labels).")
    seeds: str | None = setting(None, "Repeat the whole protocol per seed, e.g. 0,1,2.",
                                kind="csv", shown="--seed")
    subjects: str | None = setting(None, "Restrict the run to these subjects, e.g. 1-10.",
                                   kind="csv", shown="all")
    test_data: str | None = setting(None, "Store of another dataset to test on (protocol "
                                    "cross-dataset): every model trains on the subjects of "
                                    "--data and is tested on every subject of this one.",
                                    kind=str, flag=False, shown="none")

    def __post_init__(self) -> None:
        check_table(self)
        if self.protocol in ("kfold", "subject-dependent") and self.k < 2:
            raise ConfigError(f"--{self.protocol} needs K >= 2 folds")
        if (self.protocol == "cross-dataset") != (self.test_data is not None):
            raise ConfigError("the cross-dataset protocol and --test-data (test_data in "
                              "[evaluate]) go together: give both or neither")
        if self.seeds is not None:
            parse_integers(self.seeds, "--seeds", rule=SEED)

    def seed_list(self, seed: int) -> list[int]:
        """``seeds`` as integers (``[seed]`` when not set)."""
        return [int(seed)] if self.seeds is None else parse_integers(self.seeds, "--seeds",
                                                                      rule=SEED)


TABLES: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig,
                           "distill": DistillConfig, "feedback": FeedbackConfig,
                           "evaluate": EvaluationConfig}


def settings(table: str) -> dict[str, Field]:
    """The settings of a table by name (``[model]``'s architecture keys not included;
    ``[distill]``'s include the registered methods' own settings)."""
    out = {f.name: f for f in fields(TABLES[table]) if is_setting(f)}
    if table == "distill":
        out.update(_methods.own_settings())
    return out


def homes() -> dict[str, str]:
    """Key → table, for every setting (names are unique across tables)."""
    return {k: t for t in TABLES for k in settings(t)}
