"""EmotionNet teacher (EEG + GSR) and student (GSR only), after the EmotionKD reference code.

Every shape follows from (sampling rate, window length, EEG channel count): the temporal conv
kernel is fs/4 samples and its stride 8, so a window of T samples gives
L = ⌊(T − k)/8⌋ + 1 tokens (61 for 4 s at 128 Hz); the student's classifier reads L·D
features, the teacher's 2L·D.

Deviation from the reference code: its IMF's second branch concatenates the *earlier* EEG
block of its pair instead of the later one (``E_b`` for ``E_a``), so the third EEG transformer
block is built but never used and receives no gradient. The teacher here fixes it by default;
``faithful_imf_bug=True`` reproduces the original (see :class:`InterModalityFusion`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from emotionkd.errors import ConfigError
from emotionkd.models.layers import (
    CLASSIFIER_POOLS,
    SCORE_POOLS,
    Classifier,
    ConvHead,
    DepthFusion,
    Encoder,
    InterModalityFusion,
    PowerHead,
    keras_init,
)
from emotionkd.models.registry import ARCHITECTURE_RULES
from emotionkd.models.spectral import SPECTRAL, GsrAnchor, SpectralPath
from emotionkd.validation import FLAG, SHARE, bounded, check_fields

INITS = ("keras", "torch")
#: valid values of ``eeg_stem``
STEMS = ("conv", "power")


def data_shape_rules(min_eeg: int = 0) -> dict[str, dict[str, Any]]:
    """The rules of a model config's data shape: ``fs`` and ``window_s`` positive numbers,
    ``n_eeg`` a whole number of at least ``min_eeg``."""
    return {"fs": {"low": 0, "low_open": True, "high": 4096, "why": " (Hz)"},
            "window_s": {"low": 0, "low_open": True, "high": 3600, "why": " (seconds)"},
            "n_eeg": bounded(1024, "EEG channels", low=min_eeg)}




def config_from_dict(cls: type, owner: str, d: Any) -> Any:
    """Build the dataclass ``cls`` from a plain mapping; unknown keys are a ConfigError that
    lists the valid ones."""
    if not isinstance(d, dict):
        raise ConfigError(f"{owner}: the model config must be a mapping, got {type(d).__name__}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(d) - set(valid))
    if unknown:
        raise ConfigError(f"{owner}: unknown setting(s) {', '.join(map(str, unknown))}; "
                          f"valid settings: {', '.join(valid)}")
    return cls(**d)


def window_samples(fs: float, window_s: float) -> int:
    """Samples in a window, rounded as :mod:`emotionkd.windows` cuts them."""
    return int(round(window_s * fs))


@dataclass
class StudyOptions:
    """Architecture options that the studies of docs/studies.md try against the reference
    (``[model.study]`` in a config file, ``study`` in a model config). The defaults are the
    reference architecture; the library itself uses none of the others.

    ``eeg_stem``: ``conv`` (the reference) or ``power`` (log band power per channel,
    :class:`~emotionkd.models.layers.PowerHead`, with ``power_filters`` learned filters per
    channel); ``norm_first``: pre-norm transformer blocks instead of the reference's post-norm
    ones; ``classifier_pool``: ``flatten`` (the reference) or ``mean`` (the classifier reads
    the means of ``classifier_segments`` consecutive token segments per group).
    """

    eeg_stem: str = "conv"
    power_filters: int = 8
    norm_first: bool = False
    classifier_pool: str = "flatten"
    classifier_segments: int = 1

    def __post_init__(self) -> None:
        check_fields(self, "model.study", {
            "eeg_stem": {"choices": STEMS}, "power_filters": bounded(4096, "per channel"),
            "norm_first": FLAG, "classifier_pool": {"choices": CLASSIFIER_POOLS},
            "classifier_segments": bounded(2**20, "at most the token count")})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StudyOptions:
        return config_from_dict(cls, "model.study", d)


@dataclass
class EmotionNetConfig:
    """Architecture of EmotionNet (teacher, student and the concatenation baseline).

    Defaults are the reference code's values. ``kernel`` and ``pos_table`` are 0 for "derive
    from the data shape": kernel = fs/4 rounded half up (32 at 128 Hz); position table =
    token count rounded up to a multiple of 64 (64 rows for the reference's 61 tokens, as its
    Keras ``Embedding(64, 64)``; any window gets enough rows). ``n_eeg`` is ignored by the
    student, so one config serves both roles (it may be 0 for the student).
    """

    fs: float = 128.0  # sampling rate (Hz)
    window_s: float = 4.0  # window length (s)
    n_eeg: int = 28  # EEG channels (teacher and concat only)
    d_model: int = 64  # token width (conv filters)
    n_heads: int = 8
    head_dim: int = 64  # width per attention head: inner width n_heads·head_dim = 512
    n_blocks: int = 3  # transformer blocks per stream
    ff_dim: int = 64
    dropout: float = 0.1  # transformer dropout
    head_dropout: float = 0.3  # after the conv stem
    classifier_dim: int = 128
    classifier_dropout: float = 0.5
    n_classes: int = 2
    stride: int = 8  # temporal conv stride
    kernel: int = 0  # temporal conv kernel in samples; 0 = fs/4
    pos_table: int = 0  # position-table rows; 0 = tokens rounded up to a multiple of 64
    score_pool: str = "none"  # none (reference code) | gap (poster)
    faithful_imf_bug: bool = False  # True reproduces the reference IMF bug (teacher only)
    init: str = "keras"  # keras (reference initialisers) | torch (PyTorch defaults)
    head_l2: float = 1e-3  # weight of the L2 penalty on the conv-stem kernels
    #: the teacher's spectral path beside the conv stem (models/spectral.py): "anchored"
    #: (emotionkd's default: a band-power logistic regression fitted before training, which
    #: the deep path adds to), "bands" (log band power learned with the rest) or "none" (the
    #: reference architecture)
    spectral: str = "anchored"
    spectral_dropout: float = 0.25  # dropout on the spectral path's standardised features
    #: learning-rate factor of an anchored model's deep path (its regression is fixed): a
    #: residual learned in small steps, as boosting shrinks each stage (0.3 cost up to 11
    #: points on a fold of the world suite; docs/method.md)
    residual_lr: float = 0.1
    #: the student's counterpart of the anchored spectral path (opt-in while it is measured):
    #: the ``gsr-features`` regression fitted before training — on the labels, or for a
    #: distilled student on the method's mix of labels and teacher probabilities — with the
    #: deep path learning a residual at ``residual_lr`` (docs/method.md, "Headroom")
    gsr_anchor: bool = False
    #: options of the architecture studies (``[model.study]``); the defaults: the reference
    study: StudyOptions = field(default_factory=StudyOptions)

    def __post_init__(self) -> None:
        check_fields(self, "model", {
            **data_shape_rules(), **ARCHITECTURE_RULES,
            "n_classes": bounded(1000, "classes", low=2),
            **dict.fromkeys(("dropout", "head_dropout", "classifier_dropout",
                             "spectral_dropout"), SHARE),
            "residual_lr": {"low": 0, "low_open": True, "high": 1,
                            "why": " (a factor of the learning rate)"},
            "spectral": {"choices": SPECTRAL},
            "head_l2": {"low": 0, "high": 1e6, "why": " (a loss weight)"},
            "score_pool": {"choices": SCORE_POOLS},
            "init": {"choices": INITS}, "faithful_imf_bug": FLAG, "gsr_anchor": FLAG})
        if isinstance(self.study, dict):
            self.study = StudyOptions.from_dict(self.study)
        elif not isinstance(self.study, StudyOptions):
            raise ConfigError(f"model: study must be a table of study options, got "
                              f"{self.study!r}")
        if self.n_samples < self.kernel_size:
            raise ConfigError(
                f"model: a {self.window_s:g}-s window at fs = {self.fs:g} Hz has "
                f"{self.n_samples} samples, fewer than the temporal conv kernel "
                f"({self.kernel_size} samples = fs/4); use a longer window (>= "
                f"{self.kernel_size / self.fs:g} s) or a higher sampling rate"
            )
        study = self.study
        if study.classifier_pool == "mean" and study.classifier_segments > self.n_tokens:
            raise ConfigError(f"model.study: classifier_segments ({study.classifier_segments}) "
                              f"must be at most the token count ({self.n_tokens})")
        if self.pos_table and self.pos_table < self.n_tokens:
            raise ConfigError(f"model: pos_table ({self.pos_table}) must be at least the token "
                              f"count ({self.n_tokens}); use 0 to size it automatically")

    @property
    def n_samples(self) -> int:
        """Samples per window, T."""
        return window_samples(self.fs, self.window_s)

    @property
    def kernel_size(self) -> int:
        """Temporal conv kernel in samples (fs/4 rounded half up unless ``kernel`` is set)."""
        return self.kernel or max(1, math.floor(self.fs / 4 + 0.5))

    @property
    def n_tokens(self) -> int:
        """Tokens per stream, L = ⌊(T − kernel)/stride⌋ + 1."""
        return (self.n_samples - self.kernel_size) // self.stride + 1

    @property
    def pos_rows(self) -> int:
        """Rows of the position table actually built."""
        return self.pos_table or 64 * math.ceil(self.n_tokens / 64)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict; :meth:`from_dict` of it gives an equal config."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EmotionNetConfig:
        """Config from a plain dict; missing keys take their defaults, unknown ones are an
        error listing the valid ones."""
        return config_from_dict(cls, "model", d)


class EmotionNetBase(nn.Module):
    """What every EmotionNet-family model shares: config, heads' L2 penalty, input checks."""

    registry_name: ClassVar[str] = ""
    inputs: ClassVar[str] = ""

    def __init__(self, config: EmotionNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else EmotionNetConfig()

    def config_dict(self) -> dict[str, Any]:
        """The plain config dict that rebuilds this architecture via ``build_model``."""
        return self.config.as_dict()

    def _head(self, n_channels: int) -> ConvHead:
        c = self.config
        return ConvHead(n_channels, c.kernel_size, c.stride, c.d_model, c.head_dropout)

    def _eeg_head(self) -> nn.Module:
        c = self.config
        if c.study.eeg_stem == "power":
            taps = c.kernel_size | 1  # odd, so the filters are centred on their sample
            return PowerHead(c.n_eeg, taps, c.kernel_size, c.stride, c.study.power_filters,
                             c.d_model, c.head_dropout)
        return self._head(c.n_eeg)

    def _encoder(self) -> Encoder:
        c = self.config
        return Encoder(c.pos_rows, c.d_model, c.n_heads, c.head_dim, c.ff_dim, c.n_blocks,
                       c.dropout, c.study.norm_first)

    def _two_streams(self, what: str) -> None:
        """The EEG and GSR streams of a two-input model (head, then encoder, EEG first)."""
        if self.config.n_eeg < 1:
            raise ConfigError(f"model: {what} needs n_eeg >= 1 EEG channels (got 0)")
        self.eeg_head = self._eeg_head()
        self.eeg_encoder = self._encoder()
        self.gsr_head = self._head(1)
        self.gsr_encoder = self._encoder()

    def _classifier(self, n_tokens: int, groups: int = 1) -> Classifier:
        c, s = self.config, self.config.study
        mean = s.classifier_pool == "mean"
        width = (groups * s.classifier_segments if mean else n_tokens) * c.d_model
        return Classifier(width, c.classifier_dim, c.n_classes, c.classifier_dropout,
                          s.classifier_pool, groups, n_tokens, s.classifier_segments)

    def _finish_init(self) -> None:
        if self.config.init == "keras":
            keras_init(self)

    def _check_input(self, x: torch.Tensor, what: str, n_channels: int) -> None:
        c = self.config
        if torch.jit.is_tracing():  # shapes are fixed in a trace; avoid TracerWarnings
            return
        if x.dim() != 3 or x.shape[1] != n_channels or x.shape[2] != c.n_samples:
            raise ConfigError(
                f"{self.registry_name}: expects {what} windows shaped (batch, {n_channels}, "
                f"{c.n_samples}) ({c.window_s:g} s at {c.fs:g} Hz), got {tuple(x.shape)}"
            )

    def head_l2_penalty(self) -> torch.Tensor:
        """``head_l2`` · Σw² over the conv-stem kernels (both convs of every head), the
        reference's L2(0.001) kernel regulariser, to be added to the training loss."""
        kernels = [w for m in self.modules() if isinstance(m, (ConvHead, PowerHead))
                   for w in m.kernels()]
        if self.config.head_l2 == 0:
            return kernels[0].new_zeros(())
        return self.config.head_l2 * torch.stack([(w * w).sum() for w in kernels]).sum()


class EmotionNetStudent(EmotionNetBase):
    """GSR-only student: gsr (B, 1, T) → (logits (B, n_classes), fused tokens (B, L, D)).

    ``gsr_head`` → ``gsr_encoder`` (every block's output) → depth fusion
    Σ_d SGB_d(x_d) ⊙ x_d → classifier. ``gsr_head`` and ``gsr_encoder`` have exactly the
    teacher's module names and shapes, so a student can be warm-started from a teacher's GSR
    stream by copying the ``gsr_head.*`` and ``gsr_encoder.*`` state-dict entries.
    """

    registry_name = "emotionnet-student"
    inputs = "gsr"

    def __init__(self, config: EmotionNetConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.gsr_head = self._head(1)
        self.gsr_encoder = self._encoder()
        self.fusion = DepthFusion(c.d_model, c.n_blocks, c.score_pool)
        self.classifier = self._classifier(c.n_tokens)
        self.anchor = GsrAnchor(c.fs, c.n_samples, c.n_classes) if c.gsr_anchor else None
        self._finish_init()

    @property
    def starts_fitted(self) -> bool:
        """Whether :meth:`prepare_fit` makes the untrained student a model worth keeping
        (``gsr_anchor``: it starts as the ``gsr-features`` regression)."""
        return self.anchor is not None

    @property
    def lr_scale(self) -> float:
        """Learning-rate factor of an anchored student's deep path (``residual_lr``)."""
        return self.config.residual_lr if self.starts_fitted else 1.0

    def prepare_fit(self, train: Any, val: Any | None, soft: Any = None) -> dict[str, float]:
        """Before training (``gsr_anchor``): the anchor becomes the ``gsr-features``
        regression of the training labels, or of ``soft`` (probability of class 1 per training
        window: what a distilled student imitates), and the deep classifier's last layer
        starts at zero."""
        if not self.starts_fitted:
            return {}
        info = self.anchor.anchor(train, val, soft)
        with torch.no_grad():
            self.classifier.out.weight.zero_()
            self.classifier.out.bias.zero_()
        return info

    def forward(self, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(gsr, "GSR", 1)
        tokens = self.fusion(self.gsr_encoder(self.gsr_head(gsr)))
        logits = self.classifier(tokens)
        if self.anchor is not None:
            logits = logits + self.anchor(gsr)
        return logits, tokens


class EmotionNetTeacher(EmotionNetBase):
    """EEG + GSR teacher: (eeg (B, C, T), gsr (B, 1, T)) → (logits, fused tokens (B, 2L, D)).

    Two streams (``eeg_head``/``eeg_encoder`` and ``gsr_head``/``gsr_encoder``); one IMF per
    pair of consecutive blocks — IMF₁(e1, g1, e2, g2) + IMF₂(e2, g2, e3, g3) with three
    blocks — summed; classifier on the 2L fused tokens (EEG tokens first). With
    ``spectral = "anchored"`` (the default) or ``"bands"`` the logits of a per-channel
    log-band-power path on the EEG (:class:`~emotionkd.models.spectral.SpectralPath`) are
    added to the classifier's — anchored: a logistic regression fitted on the training windows
    before training (:meth:`prepare_fit`), so that the teacher starts as its ``eeg-features``
    yardstick's EEG half and its deep path learns a residual; ``spectral = "none"`` is the
    reference architecture.

    Deviation from the reference code: with ``faithful_imf_bug=False`` (default) each IMF's
    second branch uses the later EEG block as intended, so every parameter is trained; with
    ``True`` it uses the earlier one as the reference does and the last EEG block receives no
    gradient (its parameters are still built and counted, as in Keras; it is not run, since
    nothing reads its output).
    """

    registry_name = "emotionnet-teacher"
    inputs = "eeg+gsr"

    def __init__(self, config: EmotionNetConfig | None = None) -> None:
        super().__init__(config)
        c = self.config
        if c.n_blocks < 2:
            raise ConfigError(f"model: the teacher's IMF fuses pairs of consecutive blocks, so "
                              f"it needs n_blocks >= 2 (got {c.n_blocks})")
        self._two_streams("the teacher")
        self.fusions = nn.ModuleList(
            InterModalityFusion(c.d_model, c.score_pool, c.faithful_imf_bug)
            for _ in range(c.n_blocks - 1)
        )
        self.classifier = self._classifier(2 * c.n_tokens, groups=2)
        self.spectral = (None if c.spectral == "none" else
                         SpectralPath(c.n_eeg, c.fs, c.n_samples, c.n_classes,
                                      c.spectral_dropout, c.spectral == "anchored"))
        self._finish_init()

    @property
    def starts_fitted(self) -> bool:
        """Whether :meth:`prepare_fit` makes the untrained network a model worth keeping
        (then the epoch kept may be the start: early stopping judges it too)."""
        return self.config.spectral == "anchored"

    @property
    def lr_scale(self) -> float:
        """Factor :func:`~emotionkd.training.fit_model` applies to the learning rate: an
        anchored teacher trains only its deep path, at ``residual_lr`` × the recipe's rate."""
        return self.config.residual_lr if self.starts_fitted else 1.0

    def prepare_fit(self, train: Any, val: Any | None) -> dict[str, float]:
        """Before training (``anchored`` spectral paths): the spectral read-out becomes the
        band-power logistic regression of the training windows and the deep classifier's
        last layer starts at zero, so the teacher starts as that regression and its deep
        path learns what it adds (docs/method.md, "The teacher across world families")."""
        if not self.starts_fitted:
            return {}
        info = self.spectral.anchor(train, val)
        with torch.no_grad():
            self.classifier.out.weight.zero_()
            self.classifier.out.bias.zero_()
        return info

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_input(eeg, "EEG", self.config.n_eeg)
        self._check_input(gsr, "GSR", 1)
        bug = self.config.faithful_imf_bug
        # with the reference's IMF bug the last EEG block feeds nothing, so it is not run (as
        # the reference graph does no work for it; its parameters still exist and count)
        es = self.eeg_encoder(self.eeg_head(eeg), len(self.fusions) if bug else None)
        gs = self.gsr_encoder(self.gsr_head(gsr))
        tokens = None
        for i, imf in enumerate(self.fusions):
            # the IMF ignores its third input (E_a) under the bug; pass a tensor that exists
            out = imf(es[i], gs[i], es[i] if bug else es[i + 1], gs[i + 1])
            tokens = out if tokens is None else tokens + out
        logits = self.classifier(tokens)
        if self.spectral is not None:  # phase-invariant per-channel band power, summed in
            logits = logits + self.spectral(eeg, gsr)
        return logits, tokens
