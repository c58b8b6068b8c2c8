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


def test_outputs_are_created_with_their_parent_folders(tmp_path):
    """`--out a/b/c.h5` and `--out a/b/raw` create a/b (mkdir -p); a command that ends
    without writing removes the folders it made; a file in the way is refused."""
    from emotionkd.errors import OutputError
    from emotionkd.locks import release_outputs
    from emotionkd.outputs import check_output, hold_output, write_bytes_atomic

    out = tmp_path / "a" / "b" / "c.bin"
    assert check_output(out, overwrite=False) == out  # nothing is created by the check
    assert not (tmp_path / "a").exists()
    write_bytes_atomic(out, b"1")
    assert out.read_bytes() == b"1" and leftovers(out.parent) == []
    folder = tmp_path / "d" / "e" / "raw"
    hold_output(folder, overwrite=False, kind="dir")  # the lock sits in d/e
    assert (tmp_path / "d" / "e" / ".raw.lock").exists()
    release_outputs()  # the command failed before writing: the made folders go again
    assert not (tmp_path / "d").exists()
    hold_output(folder, overwrite=False, kind="dir")
    folder.mkdir()
    (folder / "s01.dat").write_bytes(b"x")
    release_outputs()
    assert (folder / "s01.dat").exists() and leftovers(folder.parent) == []
    (tmp_path / "f").write_text("a file")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output(tmp_path / "f" / "g" / "c.bin", overwrite=False)


def test_a_failed_atomic_write_removes_the_folders_it_made(tmp_path):
    from emotionkd.outputs import atomic_output

    with pytest.raises(ZeroDivisionError), atomic_output(tmp_path / "x" / "y" / "z.bin") as tmp:
        tmp.write_bytes(b"partial")
        1 / 0  # noqa: B018
    assert list(tmp_path.iterdir()) == []
