"""Knowledge distillation: losses (:mod:`.losses`) and the adaptive feedback (:mod:`.feedback`).

The package is also callable: ``emotionkd.distill(teacher, data, out, ...)`` runs
:func:`emotionkd.api.distill` (the API function and this package share the name).
"""

import sys as _sys
import types as _types


class _CallablePackage(_types.ModuleType):
    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        from emotionkd.api import distill

        return distill(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallablePackage
