"""Safe outputs: every file emotionkd writes goes through this module.

The rules (docs/outputs.md):

* an output is written to a unique hidden temporary file (``.NAME.XXXXXXXX.tmp``) created
  exclusively in the target's folder — never a fixed name, never through a symbolic link —
  then flushed to disk (fsync) and renamed over the target in one step: the target is
  always either the previous file or the complete new one;
* the temporary file is removed on every exit path: errors, Ctrl-C, and SIGTERM/SIGHUP
  (:func:`emotionkd.locks.terminate_on_signals` turns those into
  :class:`~emotionkd.locks.Terminated`, so the same cleanup runs);
* an output that is the same file as an input is refused, even with ``--overwrite``; an
  existing file is replaced only with ``--overwrite``; a folder where a file is expected, a
  missing or unwritable folder and too little free space are refused before any long work;
* a second run writing the same output at the same time is refused: the first holds an
  advisory lock (:mod:`emotionkd.locks`) until it ends;
* disk-full, read-only and permission errors become a one-line :class:`OutputError` that
  names the file and what to do (:func:`write_error`).

Only the standard library is imported, so the CLI can use it before the heavy modules.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from emotionkd.errors import OS_REASONS as REASONS
from emotionkd.errors import OutputError, OutputExistsError
from emotionkd.locks import NOFOLLOW, Lock, acquire, note_made_folders, release, remove_empty

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

MiB = 2**20

#: text of write failures reported without an errno (torch's stream writer, HDF5)
_WRITE_FAILED = re.compile(r"writ\w*.{0,60}fail|fail\w*.{0,60}writ|no space left|disk quota|"
                           r"read-only file system|iostream error|unexpected pos", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# messages


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if code is None:  # HDF5 puts the errno into its message
        m = re.search(r"errno = (\d+)", str(exc))
        code = int(m.group(1)) if m else None
    return code


def _inside(name: str | os.PathLike, folder: Path) -> bool:
    p = os.path.abspath(name)
    f = os.path.abspath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def write_error(exc: BaseException, path: str | os.PathLike, *, option: str = "--out",
                force: bool = False) -> OutputError | None:
    """The one-line :class:`OutputError` for a failed write of ``path``, or None when ``exc``
    is not a write failure of this output (e.g. an unreadable input raised it). ``force``:
    ``exc`` came from a writer that can fail only by writing (e.g. torch.save, whose
    messages name no cause). Call it before removing the partial file: a failure without an
    errno counts as a full disk when less than 1 MiB is left."""
    if isinstance(exc, OutputError):
        return exc
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    out = Path(path)
    text = str(exc)
    code = _errno_of(exc)
    fname = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
    if fname is not None and not _inside(fname, out.parent):
        return None  # another file (an input) failed
    if code is None and not force and not _WRITE_FAILED.search(text):
        return None
    if code not in REASONS:
        free = free_bytes(out.parent)
        code = errno.ENOSPC if free is not None and free < MiB else code
    reason, hint = REASONS.get(code, (None, "check the folder, then run again"))
    if reason is None:
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        reason = f"the write failed ({first[:160]})"
    kept = " and the previous file is unchanged" if out.is_file() else ""
    return OutputError(f"{out}: cannot write it: {reason}; nothing was written{kept}; "
                       f"{hint.format(option=option)}")


def os_error_message(exc: OSError) -> str:
    """One line for an OSError nobody translated (the CLI's last resort)."""
    what = exc.filename if exc.filename is not None else "a file"
    return f"{what}: {exc.strerror or exc}; check the path and the permissions of its folder"


# ---------------------------------------------------------------------------------------------
# checks before any work


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` are the same file: the same inode when both exist (hard and
    symbolic links included), else the same path once symbolic links are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _existing_folder(path: Path) -> Path:
    """The nearest existing ancestor of ``path`` (what ``mkdir -p`` would create into)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Bytes an unprivileged user may still write on the file system holding ``folder``
    (None when unknown)."""
    try:
        st = os.statvfs(_existing_folder(Path(folder)))
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def check_free_space(path: str | os.PathLike, need_bytes: float, *, option: str = "--out"
                     ) -> None:
    """Refuse to start when the file system of ``path`` has less than ``need_bytes`` free."""
    if need_bytes <= 0:
        return
    free = free_bytes(Path(path).parent)
    if free is not None and free < need_bytes:
        raise OutputError(
            f"{path}: needs about {_size(need_bytes)} but only {_size(free)} is free on the "
            f"disk of {_existing_folder(Path(path).parent)}; free some space or choose "
            f"another {option}")


def check_writable(folder: str | os.PathLike, path: str | os.PathLike, *,
                   option: str = "--out") -> None:
    """Create and remove a file in ``folder`` (the only test that also holds for root and
    read-only file systems); refuse with a one-line error naming ``path`` if it fails."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".emotionkd-probe.", suffix=".tmp")
    except OSError as exc:
        code = exc.errno if exc.errno in REASONS else errno.EACCES
        reason, hint = REASONS[code]
        raise OutputError(f"{path}: cannot write into {folder}: {reason}; "
                          f"{hint.format(option=option)}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)


def make_folder(folder: str | os.PathLike, *, option: str = "--out") -> Path:
    """``mkdir -p folder``, with a one-line OutputError instead of a traceback."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        code = exc.errno if exc.errno in REASONS else errno.EACCES
        reason, hint = REASONS[code]
        raise OutputError(f"{folder}: cannot create the folder: {reason}; "
                          f"{hint.format(option=option)}") from None
    return Path(folder)


def make_parents(path: str | os.PathLike, *, option: str = "--out") -> list[Path]:
    """Create the missing folders above ``path`` (``mkdir -p`` of its folder) and return
    them, outermost first, so that a command that ends without writing ``path`` can remove
    them again (:func:`remove_empty`)."""
    folder = Path(os.path.abspath(path)).parent
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    if missing:
        make_folder(missing[0], option=option)
    return missing[::-1]


def check_output(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike | None] = (),
    kind: str = "file",
    option: str = "--out",
    writable: bool = True,
) -> Path:
    """Validate an output before any work and return it as a Path.

    ``kind="file"``: a folder there is an error, an existing file needs ``overwrite``.
    ``kind="dir"``: a file there is an error. Missing folders above the output are fine (they
    are created with their parents when the output is held or written) as long as the nearest
    existing one is a folder. Either way the output must not be the same file as any of
    ``inputs`` (even with ``overwrite``), and, with ``writable``, its folder must accept a new
    file.
    """
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
    out = Path(path)
    if kind == "file" and out.is_dir():
        raise OutputError(f"{out}: {option} names a folder, but a file is written here; give "
                          "the path of a file instead")
    if kind == "file" and out.exists() and not out.is_file():
        raise OutputError(f"{out}: {option} names something other than a regular file (a "
                          "device or a pipe?); give the path of a file instead")
    if kind == "dir" and out.exists() and not out.is_dir():
        raise OutputError(f"{out}: {option} names a file, but a folder is written here; choose "
                          "a folder name")
    for inp in inputs:
        if inp is not None and same_file(out, inp):
            raise OutputError(f"{out}: {option} is the same file as the input {inp}; writing "
                              f"it would destroy the input; choose another {option}")
    if kind == "file" and not overwrite and (out.exists() or out.is_symlink()):
        raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it")
    if kind == "dir" and out.is_dir():
        folder = out
    else:
        folder = _existing_folder(out.parent)
    if not folder.is_dir():
        raise OutputError(f"{out}: {folder} is not a folder; check {option}")
    if writable:
        check_writable(folder, out, option=option)
    return out


def hold_output(
    path: str | os.PathLike,
    *,
    overwrite: bool,
    inputs: Iterable[str | os.PathLike | None] = (),
    need_bytes: float = 0,
    kind: str = "file",
    option: str = "--out",
    lock: bool = True,
) -> Path:
    """Everything a command does about an output before its long work: :func:`check_output`,
    :func:`check_free_space` for ``need_bytes``, the missing folders above the output
    (:func:`make_parents`; removed again if still empty when the command ends) and the lock,
    held until :func:`emotionkd.locks.release_outputs` (the CLI calls it when the command
    ends; also at exit)."""
    out = check_output(path, overwrite=overwrite, inputs=inputs, kind=kind, option=option)
    check_free_space(out if kind == "file" else out / "x", need_bytes, option=option)
    note_made_folders(make_parents(out, option=option))
    if lock:
        acquire(out, option)
    return out


# ---------------------------------------------------------------------------------------------
# atomic writes


@functools.cache
def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _final_mode(out: Path) -> int:
    """The mode of the file being replaced, else what a plain ``open(out, "w")`` would give."""
    try:
        st = os.stat(out)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def temp_name(path: str | os.PathLike) -> Path:
    """A fresh unique temporary sibling of ``path``, created exclusively (O_EXCL, never
    through a symbolic link) and empty; the caller owns it."""
    out = Path(path)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name[:200]}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename is done
    finally:
        os.close(fd)


def commit_temp(tmp: str | os.PathLike, out: str | os.PathLike, *, option: str = "--out"
                ) -> Path:
    """Finish a write into ``tmp`` (from :func:`temp_name`): check that it is still a regular
    file, fsync it, give it ``out``'s mode (or the umask's) and rename it onto ``out``. On
    failure ``tmp`` is removed and a write error is raised as its one-line OutputError."""
    tmp, out = Path(tmp), Path(out)
    try:
        st = os.lstat(tmp)
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{out}: its temporary file {tmp.name} was replaced by something "
                              "other than a file while it was written; nothing was written")
        fd = os.open(tmp, os.O_RDONLY | NOFOLLOW)
        try:
            os.fsync(fd)
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _final_mode(out))
        finally:
            os.close(fd)
        os.replace(tmp, out)
    except BaseException as exc:
        err = write_error(exc, out, option=option) if isinstance(exc, Exception) else None
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if err is not None and err is not exc:
            raise err from None
        raise
    _fsync_dir(out.parent)
    return out


class AtomicOutput:
    """One output written through a unique temporary file; see :func:`atomic_output`.

    ``open()`` checks the output, takes its lock and creates the temporary file (returned);
    ``commit()`` fsyncs it and renames it onto the output; ``discard()`` removes it. Both end
    the lock. As a context manager: commit on success, discard on any exception (Ctrl-C and
    :class:`Terminated` included), with write failures translated by :func:`write_error`.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = True,
                 inputs: Iterable[str | os.PathLike | None] = (), lock: bool = True,
                 option: str = "--out", check: bool = True) -> None:
        self.path = Path(path)
        self.overwrite, self.inputs = overwrite, list(inputs)
        self.lock, self.option, self.check = lock, option, check
        self.tmp: Path | None = None
        self._lock: Lock | None = None
        self._made: list[Path] = []

    def open(self) -> Path:
        if self.check:
            check_output(self.path, overwrite=self.overwrite, inputs=self.inputs,
                         option=self.option, writable=False)
        self._made = make_parents(self.path, option=self.option)
        self._lock = acquire(self.path, self.option) if self.lock else None
        try:
            self.tmp = temp_name(self.path)
        except OSError as exc:
            self.discard()
            err = write_error(exc, self.path, option=self.option)
            raise (err or OutputError(f"{self.path}: cannot create a temporary file in "
                                      f"{self.path.parent} ({exc.strerror})")) from None
        except BaseException:
            self.discard()
            raise
        return self.tmp

    def commit(self) -> Path:
        assert self.tmp is not None, "open() first"
        try:
            commit_temp(self.tmp, self.path, option=self.option)
        finally:  # renamed, or removed by commit_temp on failure
            self.tmp = None
            release(self._lock)
            self._lock = None
            self._made = []
        return self.path

    def discard(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp)
            self.tmp = None
        release(self._lock)
        self._lock = None
        remove_empty(self._made)
        self._made = []

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc_type is None:
            self.commit()
            return False
        err = write_error(exc, self.path, option=self.option) if isinstance(exc, Exception) \
            else None
        self.discard()
        if err is not None and err is not exc:
            raise err from None
        return False


def atomic_output(path: str | os.PathLike, *, overwrite: bool = True,
                  inputs: Iterable[str | os.PathLike | None] = (), lock: bool = True,
                  option: str = "--out", check: bool = True) -> AtomicOutput:
    """``with atomic_output(out) as tmp: write(tmp)`` — write ``tmp`` (any writer that opens a
    path: h5py, torch.save, onnx); on success it replaces ``out`` atomically, on any failure
    it is removed and ``out`` is left as it was.

    ``check`` runs :func:`check_output` first (``overwrite``, ``inputs``); ``lock`` takes the
    output's lock for the duration (re-entrant, so a command that holds it via
    :func:`hold_output` is not refused by itself). Outputs written by several processes on
    purpose (the fold files of an evaluation run) pass ``lock=False``.
    """
    return AtomicOutput(path, overwrite=overwrite, inputs=inputs, lock=lock, option=option,
                        check=check)


def write_bytes_atomic(path: str | os.PathLike, data: bytes, **kwargs: Any) -> Path:
    """Write ``data`` to ``path`` atomically (keywords as :func:`atomic_output`)."""
    with atomic_output(path, **kwargs) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | NOFOLLOW)
        with open(fd, "wb") as fh:
            fh.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8",
                      **kwargs: Any) -> Path:
    """Write ``text`` (no newline translation) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode(encoding), **kwargs)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 1,
                      default: Any = None, **kwargs: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically."""
    return write_text_atomic(path, json.dumps(obj, indent=indent, default=default), **kwargs)


def input_bytes(paths: Iterable[Path]) -> int:
    """The total size of the files among ``paths`` that can be read (for the free-space
    estimate of a run)."""
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return total
