"""A restricted unpickler for DEAP's ``.dat`` files.

A pickle can name any importable callable and have the unpickler call it, so loading a ``.dat``
from an untrusted source with plain :func:`pickle.load` can run arbitrary code. This unpickler
only resolves the few globals that numpy arrays, numpy dtypes and plain containers need, and
refuses everything else *before* anything is called. Object arrays are refused too (their
elements would be arbitrary unpickled objects).

DEAP's files were written by Python 2, so their byte strings must be decoded as latin-1 (the
array buffers arrive as ``str`` and numpy re-encodes them); this is the default here.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from emotionkd.errors import UnsafePickleError

try:  # numpy >= 2
    from numpy._core import multiarray as _ma
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _ma  # type: ignore[no-redef]


def _safe_dtype(*args: Any) -> np.dtype:
    dt = np.dtype(*args)
    if dt.hasobject:
        raise UnsafePickleError("object dtype")
    return dt


def _safe_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"array subtype {subtype!r}")
    return _ma._reconstruct(np.ndarray, shape, _safe_dtype(dtype))


def _safe_scalar(dtype: Any, *args: Any) -> Any:
    return _ma.scalar(_safe_dtype(dtype), *args)


def _safe_frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    arr = np.frombuffer(buf, dtype=_safe_dtype(dtype))
    return arr.reshape(shape, order=order)


def _safe_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1')
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise UnsafePickleError("codecs.encode with unexpected arguments")
    return codecs.encode(obj, encoding, errors)


class _Refused(Exception):
    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


_ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _safe_reconstruct
    _ALLOWED[(_mod, "scalar")] = _safe_scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _safe_frombuffer
_ALLOWED[("numpy", "ndarray")] = np.ndarray
_ALLOWED[("numpy", "dtype")] = _safe_dtype
_ALLOWED[("_codecs", "encode")] = _safe_encode
_ALLOWED[("collections", "OrderedDict")] = OrderedDict
for _mod in ("builtins", "__builtin__"):
    for _name, _obj in (("set", set), ("frozenset", frozenset), ("list", list), ("dict", dict),
                        ("tuple", tuple), ("complex", complex), ("bytearray", bytearray)):
        _ALLOWED[(_mod, _name)] = _obj


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy-array and plain-container globals."""

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(module, name) from None

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102
        raise _Refused("<persistent id>", str(pid))


def safe_load(fileobj: BinaryIO, source: str = "<stream>", encoding: str = "latin1") -> Any:
    """Unpickle ``fileobj`` allowing only numpy arrays, dtypes and plain containers.

    Raises :class:`UnsafePickleError` naming ``source`` if the pickle asks for anything else.
    Other failures (truncated or corrupt data) propagate as their usual exceptions.
    """
    try:
        return SafeUnpickler(fileobj, encoding=encoding).load()
    except _Refused as exc:
        raise UnsafePickleError(
            f"{source}: refused to load: the pickle asks for '{exc.module}.{exc.name}', which is "
            "not a numpy array or plain container (a .dat file from an untrusted source can run "
            "code); nothing was executed. Use the original DEAP files."
        ) from None
    except UnsafePickleError as exc:
        raise UnsafePickleError(
            f"{source}: refused to load: the pickle contains {exc}, which emotionkd does not "
            "reconstruct; nothing was executed. Use the original DEAP files."
        ) from None


def safe_loads(data: bytes, source: str = "<bytes>", encoding: str = "latin1") -> Any:
    """:func:`safe_load` on an in-memory pickle."""
    return safe_load(io.BytesIO(data), source=source, encoding=encoding)
