"""What a distillation method is, and the registry of methods by name.

A method is one class (a subclass of :class:`DistillMethod`, registered with
:func:`register`) that says

* its name and a one-line summary (the ``--method`` help);
* what its loss reads from the teacher (:attr:`~DistillMethod.teacher_outputs`: ``logits``,
  ``features``; none at all means the student trains alone) and whether it needs the
  windows' indices (a memory bank keyed by window);
* the settings it reads: shared ``[distill]`` settings (:attr:`~DistillMethod.uses`, e.g.
  ``kl_weight``), their values unless set (:attr:`~DistillMethod.presets`) and settings of
  its own (:attr:`~DistillMethod.settings`, which become flags and config-file keys);
* trainable state that is trained with the student and dropped afterwards
  (:meth:`~DistillMethod.state`: a hint regressor, projection heads, a memory bank);
* its loss over the student's and the teacher's outputs (:meth:`~DistillMethod.loss`).

The command line, the configuration, ``evaluate`` and the report ask this registry for the
methods, so a new one is a class in one file. This module imports no torch: the command line
reads the registry to build its choices; losses import torch when they run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import Field, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from emotionkd.errors import ConfigError
from emotionkd.settings import named
from emotionkd.validation import did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch
    from torch import nn

#: what a method may read from the teacher
TEACHER_OUTPUTS = ("logits", "features")


@dataclass
class Outputs:
    """One batch as a method's loss sees it.

    ``student_features`` are the student's fused tokens (B, L, D); ``teacher_features`` the
    teacher's (B, 2L, D), EEG tokens first; the teacher's entries are None where the method
    does not ask for them. ``index`` holds the batch's window indices in the training set
    (methods with :attr:`DistillMethod.needs_indices`)."""

    y: torch.Tensor
    student_logits: torch.Tensor
    student_features: torch.Tensor
    teacher_logits: torch.Tensor | None = None
    teacher_features: torch.Tensor | None = None
    index: np.ndarray | None = None
    class_weight: torch.Tensor | None = None


class DistillMethod:
    """A distillation method (see the module docstring). Instances hold the resolved values
    of the settings the method reads (:attr:`params`)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    teacher_outputs: ClassVar[frozenset[str]] = frozenset(TEACHER_OUTPUTS)
    needs_indices: ClassVar[bool] = False
    uses: ClassVar[tuple[str, ...]] = ()
    presets: ClassVar[dict[str, Any]] = {}
    settings: ClassVar[dict[str, Field]] = {}
    #: distil runs this method with adaptive feedback unless told otherwise
    feedback_default: ClassVar[bool] = False
    #: evaluate also trains it with feedback (and, with --feedback-ablation, each half)
    feedback_variants: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = {**self.defaults(), **dict(params or {})}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The values of its settings when nothing is set: its own settings' defaults, then
        the presets."""
        return {**{k: f.default for k, f in cls.settings.items()}, **cls.presets}

    @property
    def alone(self) -> bool:
        """Whether the student trains without a teacher (plain supervision)."""
        return not self.teacher_outputs

    def needs(self) -> frozenset[str]:
        """What this instance's loss reads from the teacher (a method may need less for some
        settings, e.g. no logits with a KL weight of 0)."""
        return frozenset(self.teacher_outputs)

    def state(self, student_width: int, teacher_width: int, n_train: int) -> nn.Module | None:
        """Trainable parts of the method, trained with the student and dropped afterwards;
        ``n_train`` is the number of training windows (for a memory bank)."""
        return None

    def loss(self, out: Outputs, state: nn.Module | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The student's training loss on one batch and its named terms."""
        raise NotImplementedError


_METHODS: dict[str, type[DistillMethod]] = {}


def register(cls: type[DistillMethod]) -> type[DistillMethod]:
    """Register a method class under its :attr:`~DistillMethod.name` (a class decorator)."""
    if not cls.name or cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"a distillation method needs a new name, got {cls.name!r}")
    bad = set(cls.teacher_outputs) - set(TEACHER_OUTPUTS)
    if bad:
        raise ValueError(f"{cls.name}: unknown teacher outputs {sorted(bad)}")
    for key, f in cls.settings.items():
        named(key, f)
    _METHODS[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a registered method (for tests that register one of their own)."""
    _METHODS.pop(name, None)


def names() -> tuple[str, ...]:
    """Registered method names, in registration order."""
    return tuple(_METHODS)


def method_class(name: str) -> type[DistillMethod]:
    if name not in _METHODS:
        raise ConfigError(f"--method must be one of {', '.join(_METHODS)}, not {name!r}"
                          f"{did_you_mean(name, _METHODS)}")
    return _METHODS[name]


def own_settings() -> dict[str, Field]:
    """Every registered method's own settings by name (they join the ``[distill]`` table)."""
    out: dict[str, Field] = {}
    for cls in _METHODS.values():
        out.update(cls.settings)
    return out


def alone_method() -> str:
    """The method that trains the student without a teacher: the reference of the report's
    comparisons."""
    return next(n for n, cls in _METHODS.items() if not cls.teacher_outputs)


def presets_text(key: str) -> str:
    """'per method: emotionkd 0.1, kd 0.9, …' for a shared setting (the help's default)."""
    return "per method: " + ", ".join(f"{n} {cls.presets[key]:g}" for n, cls in _METHODS.items()
                                      if key in cls.presets)


def method_help() -> str:
    """The ``--method`` help: every method with its summary."""
    return "Distillation: " + ", ".join(f"{n} ({cls.summary})" for n, cls in _METHODS.items()) \
        + "."
