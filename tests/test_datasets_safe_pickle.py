"""The restricted unpickler (emotionkd.datasets.safe_pickle): DEAP's arrays load, anything
else is refused."""

import io
import os
import pickle

import numpy as np
import pytest

from emotionkd.datasets.py2pickle import dump_py2
from emotionkd.datasets.safe_pickle import safe_load, safe_loads
from emotionkd.errors import UnsafePickleError


def _py2_bytes(obj: dict) -> bytes:
    buf = io.BytesIO()
    dump_py2(obj, buf)
    return buf.getvalue()


def test_python2_style_pickle_needs_latin1():
    rng = np.random.default_rng(0)
    data = {"labels": np.linspace(1, 9, 8).reshape(2, 4), "data": rng.normal(size=(2, 40, 50))}
    raw = _py2_bytes(data)
    # exactly the failure users hit with Python 3's default encoding
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(raw)
    plain = pickle.loads(raw, encoding="latin1")
    safe = safe_loads(raw)
    for key in data:
        np.testing.assert_array_equal(plain[key], data[key])
        np.testing.assert_array_equal(safe[key], data[key])
        assert safe[key].dtype == np.float64
    # encoding='bytes' gives bytes keys, as some public scripts use
    assert set(pickle.loads(raw, encoding="bytes")) == {b"data", b"labels"}


def test_python2_opcodes_are_binstring():
    raw = _py2_bytes({"data": np.zeros((1, 40, 10))})
    import pickletools

    ops = {op.name for op, _, _ in pickletools.genops(raw)}
    assert "BINSTRING" in ops and "SHORT_BINSTRING" in ops
    assert "BINBYTES" not in ops and "SHORT_BINBYTES" not in ops
    assert raw[:2] == b"\x80\x02"


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"data": _Evil(str(marker)), "labels": np.ones((1, 4))}, protocol=2)
    with pytest.raises(UnsafePickleError, match="evil.dat.*system"):
        safe_loads(payload, source="evil.dat")
    assert not marker.exists()
    # sanity: the payload really would run with a plain unpickler
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("proto", [2, 4, 5])
def test_python3_pickles_of_arrays_load(proto):
    obj = {b"data": np.arange(6.0).reshape(2, 3), "labels": [1, 2, (3, 4)], "s": {1, 2}}
    out = safe_loads(pickle.dumps(obj, protocol=proto))
    np.testing.assert_array_equal(out[b"data"], obj[b"data"])
    assert out["labels"] == [1, 2, (3, 4)]


def test_object_arrays_and_other_globals_refused():
    with pytest.raises(UnsafePickleError, match="object dtype"):
        safe_loads(pickle.dumps(np.array([1, "x"], dtype=object)))
    import collections

    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        safe_loads(pickle.dumps(collections.Counter("ab")))
    with pytest.raises(UnsafePickleError):
        safe_load(io.BytesIO(pickle.dumps(np.ma.masked_array([1, 2]))))
