"""Distillation methods, registered by name (:mod:`.base` says what a method is).

The built-in methods (:mod:`.weighted`: emotionkd, kd, fitnets, none; :mod:`.rkd`,
:mod:`.pkt`, :mod:`.crd`: relational and contrastive transfer of embeddings) register when this
package is imported; a new method is a :class:`DistillMethod` subclass decorated with
:func:`register` in a module of its own, imported here.
"""

from emotionkd.distill.methods import (  # noqa: F401, I001 - after weighted: order of the choices
    crd,
    pkt,
    rkd,
    weighted,  # noqa: F401 - registers the built-in methods
)
from emotionkd.distill.methods.base import (
    TEACHER_OUTPUTS,
    DistillMethod,
    Outputs,
    alone_method,
    method_class,
    method_help,
    names,
    own_settings,
    presets_text,
    register,
    unregister,
)

__all__ = ["TEACHER_OUTPUTS", "DistillMethod", "Outputs", "alone_method", "method_class",
           "method_help", "names", "own_settings", "presets_text", "register", "unregister"]
