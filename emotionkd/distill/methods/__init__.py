"""Distillation methods, registered by name (:mod:`.base` says what a method is).

The built-in methods (:mod:`.weighted`: emotionkd, kd, fitnets, none; :mod:`.rkd`,
:mod:`.pkt`, :mod:`.crd`: relational and contrastive transfer of embeddings) register when this
package is imported; a new method is a :class:`DistillMethod` subclass decorated with
:func:`register` in a module of its own, imported here.
"""

from importlib import import_module

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

#: the built-in methods' modules, imported in the order of the choices (each registers its own)
BUILT_IN = ("weighted", "rkd", "pkt", "crd")
for _module in BUILT_IN:
    import_module(f"emotionkd.distill.methods.{_module}")

__all__ = ["TEACHER_OUTPUTS", "DistillMethod", "Outputs", "alone_method", "method_class",
           "method_help", "names", "own_settings", "presets_text", "register", "unregister"]
