"""The checks of every value read from disk: store attributes and datasets, checkpoint
sections, exported-model metadata, run and fold files, recordings. A file written by another
version, damaged by the disk or edited by hand must end in one line of one form,

    FILE: FIELD is WHAT IT IS; FIX

never in a traceback or a silently wrong result. :class:`Source` carries the file, the fix and
the error class; its methods check a value's type and range and return it converted. The
file-level checks (:func:`check_regular`, :func:`check_size`, :func:`read_json`) refuse FIFOs,
devices and oversized files before anything is read, so nothing hangs or fills the memory.

Only the standard library is imported (the command line uses these before any heavy module);
arrays are recognised by their ``shape`` and ``dtype`` attributes.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from emotionkd.errors import DataFormatError, EmotionKDError
from emotionkd.validation import in_range, number_rule

#: the largest JSON file (run.json, a fold result, results.json) read whole
MAX_JSON_BYTES = 256 * 2**20


def shown(value: Any, limit: int = 60) -> str:
    """A short description of a value for a message: ``nan``, ``'one'`` (text), ``an array of
    shape (2, 3)``, ``a list``."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "shape", ()) != ():
        return f"an array of shape {tuple(value.shape)} ({value.dtype})"
    if hasattr(value, "item") and hasattr(value, "dtype"):  # a numpy scalar
        value = value.item()
    if isinstance(value, bytes):
        return f"bytes {value[:limit]!r}"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[:limit] + "…"
        return f"{text!r} (text)"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}: {_cut(repr(list(value)), limit)}"
    if isinstance(value, Mapping):
        return f"a mapping of {len(value)} entries"
    if value is None:
        return "missing"
    if isinstance(value, (int, float, bool)):
        return repr(value)
    return f"a {type(value).__name__}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class Source:
    """A file whose values are checked as they are read: every failure is one
    ``error`` (:class:`DataFormatError` unless given) reading ``"FILE: FIELD is …; FIX"``."""

    def __init__(self, path: str | os.PathLike, fix: str,
                 error: type[EmotionKDError] = DataFormatError) -> None:
        self.path = str(path)
        self.fix = fix
        self.error = error

    def fail(self, field: str, problem: str) -> NoReturn:
        """Raise the one-line error: ``FILE: FIELD is PROBLEM; FIX``."""
        raise self.error(f"{self.path}: {field} is {problem}; {self.fix}")

    def number(self, value: Any, field: str, *, low: float | None = None,
               high: float | None = None, low_open: bool = False, high_open: bool = False,
               integer: bool = False) -> Any:
        """``value`` as a float (``integer``: an int) within the bounds; NaN, infinity, text,
        booleans and arrays are refused."""
        if hasattr(value, "item") and getattr(value, "shape", ()) == ():
            value = value.item()
        x = math.nan
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            x = float(value) if abs(value) < 1e308 or isinstance(value, float) else math.inf
        if not in_range(x, low=low, high=high, low_open=low_open, high_open=high_open,
                        integer=integer):
            rule = number_rule(low=low, high=high, low_open=low_open, high_open=high_open,
                               integer=integer)
            self.fail(field, f"{shown(value)}, not {rule}")
        return int(x) if integer else x

    def text(self, value: Any, field: str, choices: Iterable[str] | None = None,
             empty: bool = True) -> str:
        """``value`` if it is text (one of ``choices`` when given; not empty unless
        ``empty``)."""
        if not isinstance(value, str):
            self.fail(field, f"{shown(value)}, not text")
        if not empty and not value.strip():
            self.fail(field, "empty")
        if choices is not None:
            allowed = tuple(choices)
            if value not in allowed:
                self.fail(field, f"{value!r}, not one of {', '.join(allowed)}")
        return value

    def texts(self, value: Any, field: str, *, unique: bool = True, length: int | None = None,
              empty: bool = True) -> list[str]:
        """``value`` as a list of text entries (no name twice when ``unique``; exactly
        ``length`` entries when given)."""
        if not isinstance(value, (list, tuple)):
            self.fail(field, f"{shown(value)}, not a list of names")
        bad = [v for v in value if not isinstance(v, str) or (not empty and not v.strip())]
        if bad:
            self.fail(field, f"{shown(list(value))}, whose entry {bad[0]!r} is not a name")
        if length is not None and len(value) != length:
            self.fail(field, f"{shown(list(value))}, not {length} names")
        if unique:
            seen = [v for i, v in enumerate(value) if v in value[:i]]
            if seen:
                self.fail(field, f"{shown(list(value))}, which names {seen[0]!r} twice")
        return list(value)

    def mapping(self, value: Any, field: str, keys: Iterable[str] = ()) -> dict[str, Any]:
        """``value`` if it is a mapping holding ``keys``."""
        if not isinstance(value, Mapping):
            self.fail(field, f"{shown(value)}, not a table of settings")
        missing = [k for k in keys if k not in value]
        if missing:
            self.fail(field, f"without {', '.join(missing)}")
        return dict(value)

    def json(self, text: Any, field: str) -> Any:
        """``text`` (a str or bytes) parsed as JSON."""
        if isinstance(text, bytes):
            try:
                text = text.decode()
            except UnicodeDecodeError:
                self.fail(field, "not UTF-8 text")
        if not isinstance(text, str):
            self.fail(field, f"{shown(text)}, not JSON text")
        try:
            return json.loads(text)
        except ValueError as exc:
            self.fail(field, f"not valid JSON ({exc})")

    def version(self, value: Any, field: str, expected: int, reader: str) -> int:
        """A format version: the integer ``expected``; text such as '1' or '1.0', arrays and
        other numbers are refused, naming ``reader`` (e.g. "emotionkd 1.2, which reads
        version 1")."""
        if hasattr(value, "item") and getattr(value, "shape", ()) == ():
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, f"{shown(value)}, not the whole number {expected} that {reader} "
                             "reads")
        if value != expected:
            self.fail(field, f"{value}, not read by {reader}")
        return value


def check_regular(path: str | os.PathLike, what: str, fix: str,
                  error: type[EmotionKDError] = DataFormatError) -> Path:
    """Refuse a FIFO, a device or a socket given as a file: opening one could block forever
    or read without end. A missing path or a folder is the caller's to explain."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except OSError:
        return p
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return p
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a character device" if stat.S_ISCHR(mode) else
            "a block device" if stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    raise error(f"{p}: {what} is {kind}, not a regular file; {fix}")


def check_size(path: str | os.PathLike, limit: int, what: str, fix: str,
               error: type[EmotionKDError] = DataFormatError) -> int:
    """The size of ``path`` in bytes; a file larger than ``limit`` is refused before it is
    read (a sparse file of terabytes costs nothing on disk but everything in memory)."""
    size = os.stat(path).st_size
    if size > limit:
        raise error(f"{path}: {what} is {size / 2**20:,.1f} MiB, more than the "
                    f"{limit / 2**20:,.0f} MiB emotionkd reads; {fix}")
    return size


def read_json(path: str | os.PathLike, fix: str, *, kind: type = dict,
              error: type[EmotionKDError] = DataFormatError) -> Any:
    """A JSON file of ``kind`` (a dict unless given): regular, at most
    :data:`MAX_JSON_BYTES`, valid JSON of that kind; otherwise one line naming the file."""
    p = check_regular(path, "the file", fix, error)
    src = Source(p, fix, error)
    try:
        check_size(p, MAX_JSON_BYTES, "the file", fix, error)
        raw = p.read_bytes()
    except OSError as exc:
        raise error(f"{p}: cannot be read ({exc.strerror or exc}); {fix}") from None
    value = src.json(raw, "the content")
    if not isinstance(value, kind):
        src.fail("the content", f"{shown(value)}, not a JSON "
                                f"{'object' if kind is dict else kind.__name__}")
    return value
