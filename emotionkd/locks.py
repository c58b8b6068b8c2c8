"""What a running command holds: output locks and the signal guard (docs/outputs.md).

* a second run writing the same output at the same time is refused: the first holds an
  advisory lock (``flock`` on ``.NAME.lock`` beside the output, :func:`acquire`; the CLI takes it
  through :func:`emotionkd.outputs.hold_output`) until
  it ends (:func:`release_outputs`, also at exit);
* SIGTERM/SIGHUP become :class:`Terminated` inside :func:`terminate_on_signals`, so the
  cleanup of unfinished outputs (:mod:`emotionkd.outputs`) runs as on Ctrl-C.

Only the standard library is imported, so the CLI can use it before the heavy modules.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from emotionkd.errors import OS_REASONS, OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)


# ---------------------------------------------------------------------------------------------
# locks


class Lock:
    """One held advisory lock (re-entrant: ``count`` holders in this process)."""

    def __init__(self, target: Path, path: Path, fd: int) -> None:
        self.target, self.path, self.fd = target, path, fd
        self.count = 1
        self.pid = os.getpid()


_HELD: dict[str, Lock] = {}
_GUARD = threading.Lock()
_ATEXIT: list[Any] = []
_MADE: list[tuple[Path, int]] = []  # (folder made for an output, by which process)


def _lock_key(target: Path) -> str:
    return os.path.join(os.path.realpath(target.parent), target.name)


def _same_inode(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    fst = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)


def _owner_line() -> str:
    words = []
    for a in sys.argv[1:]:
        if a.startswith("-") or len(words) == 2:
            break
        words.append(a)
    cmd = " ".join(["emotionkd", *words])
    return (f"pid {os.getpid()} on {socket.gethostname()}, '{cmd}', started "
            f"{time.strftime('%Y-%m-%d %H:%M:%S')}")


def acquire(target: Path, option: str) -> Lock | None:
    """Take the advisory lock of ``target`` (re-entrant within this process)."""
    if fcntl is None:  # pragma: no cover - no flock on this platform
        return None
    key = _lock_key(target)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None and held.pid == os.getpid():
            held.count += 1
            return held
        lock_path = Path(key).with_name(f".{Path(key).name}.lock")
        for _ in range(20):
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | NOFOLLOW | CLOEXEC, 0o644)
            except OSError as exc:
                code = exc.errno if exc.errno in OS_REASONS else errno.EACCES
                reason, hint = OS_REASONS[code]
                if code in (errno.EISDIR, errno.ELOOP, errno.EEXIST):
                    hint = "remove it if no emotionkd run is using it, or choose another {option}"
                raise OutputError(f"{target}: cannot create its lock file {lock_path.name}: "
                                  f"{reason}; {hint.format(option=option)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not _same_inode(fd, lock_path):  # its holder just released it: try again
                    os.close(fd)
                    continue
                try:
                    owner = os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
                finally:
                    os.close(fd)
                raise OutputError(
                    f"{target}: another emotionkd run ({owner or 'starting'}) is writing this "
                    f"output; wait for it to finish or choose another {option}") from None
            except OSError:  # the file system offers no locks (some network mounts): go on
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(lock_path)
                return None
            if not _same_inode(fd, lock_path):  # unlinked by its previous holder meanwhile
                os.close(fd)
                continue
            line = (_owner_line() + "\n").encode()
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, line, 0)
            lock = Lock(target, lock_path, fd)
            _HELD[key] = lock
            if not _ATEXIT:
                _ATEXIT.append(atexit.register(release_outputs))
            return lock
    raise OutputError(f"{target}: cannot take its lock {lock_path.name} (it keeps changing); "
                      "run again")


def release(lock: Lock | None, everything: bool = False) -> None:
    if lock is None or lock.pid != os.getpid():
        return  # a forked worker never releases its parent's lock
    with _GUARD:
        lock.count = 0 if everything else lock.count - 1
        if lock.count > 0:
            return
        _HELD.pop(_lock_key(lock.target), None)
        # unlink while still holding it: a waiting run then sees another inode and retries
        with contextlib.suppress(OSError):
            if _same_inode(lock.fd, lock.path):
                os.unlink(lock.path)
        with contextlib.suppress(OSError):
            os.close(lock.fd)


def release_outputs() -> None:
    """Release every lock this process holds and remove the folders made for outputs that
    were never written (the end of a command)."""
    for lock in list(_HELD.values()):
        release(lock, everything=True)
    with _GUARD:
        made = [f for f in _MADE if f[1] == os.getpid()]
        _MADE.clear()
    remove_empty(folder for folder, _pid in made)


def note_made_folders(folders: Iterable[Path]) -> None:
    """Remember folders made for an output: :func:`release_outputs` removes those still
    empty (the command failed before writing into them)."""
    with _GUARD:
        _MADE.extend((Path(f), os.getpid()) for f in folders)


def remove_empty(folders: Iterable[Path]) -> None:
    """Remove those of ``folders`` that are empty, innermost first."""
    for folder in sorted(folders, key=lambda f: len(Path(f).parts), reverse=True):
        with contextlib.suppress(OSError):
            Path(folder).rmdir()  # refused when anything is inside


# ---------------------------------------------------------------------------------------------
# signals


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM or SIGHUP inside :func:`terminate_on_signals`.

    A BaseException (like KeyboardInterrupt, but not caught as one by the command-line
    framework), so every ``finally`` and cleanup handler runs and broad ``except Exception``
    handlers do not swallow it."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        try:
            name = signal.Signals(signum).name
        except ValueError:  # pragma: no cover
            name = f"signal {signum}"
        super().__init__(f"terminated by {name}")


@contextlib.contextmanager
def terminate_on_signals(signums: Iterable[str] = ("SIGTERM", "SIGHUP")) -> Iterator[None]:
    """Within the block, the named signals raise :class:`Terminated` (once; repeats during
    the cleanup are ignored); the previous handlers come back afterwards. A no-op outside
    the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum: int, frame: Any) -> None:
        if fired:
            return
        fired.append(signum)
        raise Terminated(signum)

    previous = {}
    for name in signums:
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
