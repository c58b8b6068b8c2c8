"""Write pickles the way Python 2's cPickle wrote DEAP's ``.dat`` files.

Python 3 cannot emit Python-2 ``str`` opcodes for binary data, yet that is what users' real
DEAP files contain: the array buffers are stored as ``BINSTRING`` byte strings, so loading them
in Python 3 needs ``encoding='latin1'`` (the default 'ASCII' raises UnicodeDecodeError). This
small protocol-2 emitter reproduces that byte layout for dicts of numpy arrays, so synthetic
data and tests exercise exactly the code path real files take.
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

import numpy as np

PROTO = b"\x80"
STOP = b"."
MARK = b"("
EMPTY_DICT = b"}"
SETITEMS = b"u"
GLOBAL = b"c"
REDUCE = b"R"
BUILD = b"b"
TUPLE = b"t"
TUPLE1, TUPLE2, TUPLE3 = b"\x85", b"\x86", b"\x87"
NEWFALSE, NEWTRUE, NONE = b"\x89", b"\x88", b"N"
BININT1, BININT2, BININT = b"K", b"M", b"J"
SHORT_BINSTRING, BINSTRING = b"U", b"T"


def _str(b: bytes) -> bytes:
    """A Python-2 ``str`` (byte string) opcode."""
    if len(b) < 256:
        return SHORT_BINSTRING + bytes([len(b)]) + b
    return BINSTRING + struct.pack("<i", len(b)) + b


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return BININT1 + bytes([v])
    if 0 <= v < 65536:
        return BININT2 + struct.pack("<H", v)
    return BININT + struct.pack("<i", v)


def _tuple(items: list[bytes]) -> bytes:
    if len(items) == 1:
        return items[0] + TUPLE1
    if len(items) == 2:
        return items[0] + items[1] + TUPLE2
    if len(items) == 3:
        return b"".join(items) + TUPLE3
    return MARK + b"".join(items) + TUPLE


def _dtype(dt: np.dtype) -> bytes:
    byteorder = b"|" if dt.itemsize == 1 else b"<"
    return (
        GLOBAL + b"numpy\ndtype\n"
        + _tuple([_str(f"{dt.kind}{dt.itemsize}".encode()), _int(0), _int(1)]) + REDUCE
        + _tuple([_int(3), _str(byteorder), NONE, NONE, NONE,
                  BININT + struct.pack("<i", -1), BININT + struct.pack("<i", -1), _int(0)])
        + BUILD
    )  # fmt: skip


def _array_header(arr: np.ndarray) -> tuple[bytes, bytes]:
    """Opcodes before and after the raw buffer of ``arr`` (numpy 1.x ``__reduce__`` layout)."""
    head = (
        GLOBAL + b"numpy.core.multiarray\n_reconstruct\n"
        + _tuple([GLOBAL + b"numpy\nndarray\n", _tuple([_int(0)]), _str(b"b")]) + REDUCE
        + MARK + _int(1) + _tuple([_int(int(n)) for n in arr.shape]) + _dtype(arr.dtype)
        + NEWFALSE
    )  # fmt: skip
    nbytes = arr.nbytes
    if nbytes < 256:
        head += SHORT_BINSTRING + bytes([nbytes])
    else:
        head += BINSTRING + struct.pack("<i", nbytes)
    tail = TUPLE + BUILD
    return head, tail


def dump_py2(obj: dict[str, Any], f: BinaryIO) -> None:
    """Write a dict of str → ndarray as a Python-2 protocol-2 pickle to ``f``.

    Arrays are written little-endian, C order; the buffer is streamed without an extra copy.
    """
    f.write(PROTO + b"\x02" + EMPTY_DICT + MARK)
    for key, value in obj.items():
        f.write(_str(str(key).encode("ascii")))
        arr = np.ascontiguousarray(value)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        if arr.dtype.hasobject or arr.dtype.kind not in "fiub":
            raise TypeError(f"cannot write dtype {arr.dtype} as a Python-2 pickle")
        if arr.nbytes >= 2**31:
            raise ValueError("array too large for a Python-2 BINSTRING (2 GiB)")
        head, tail = _array_header(arr)
        f.write(head)
        f.write(memoryview(arr).cast("B"))
        f.write(tail)
    f.write(SETITEMS + STOP)
