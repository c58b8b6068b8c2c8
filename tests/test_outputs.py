"""Atomic outputs (emotionkd.outputs): modes kept, the temporary file removed on error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def leftovers(folder: Path) -> list[str]:
    """Temporary, probe and lock files emotionkd might have left in ``folder``."""
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.name.startswith(".") and p.name.endswith((".tmp", ".lock")))


def test_atomic_output_keeps_modes_and_removes_its_file_on_error(tmp_path):
    from emotionkd.outputs import atomic_output, write_bytes_atomic

    out = tmp_path / "x.bin"
    out.write_bytes(b"old")
    out.chmod(0o640)
    write_bytes_atomic(out, b"new")
    assert out.read_bytes() == b"new" and (out.stat().st_mode & 0o777) == 0o640
    with pytest.raises(ZeroDivisionError), atomic_output(out) as tmp:
        tmp.write_bytes(b"partial")
        assert tmp.name.startswith(".x.bin.") and tmp.name.endswith(".tmp")
        1 / 0  # noqa: B018
    assert out.read_bytes() == b"new" and leftovers(tmp_path) == []
    new = tmp_path / "fresh.bin"
    write_bytes_atomic(new, b"1")
    mask = os.umask(0)
    os.umask(mask)
    assert (new.stat().st_mode & 0o777) == 0o666 & ~mask
