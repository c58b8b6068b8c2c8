"""Errors a user can cause. The CLI prints them on one line and exits non-zero.

Every message should name the file or option, say what is wrong and what to do.
"""

from __future__ import annotations

import errno


class EmotionKDError(Exception):
    """Base class of all user-facing errors raised by emotionkd."""

    exit_code = 1


class DataFormatError(EmotionKDError):
    """A raw recording, store or input file is missing, malformed or inconsistent."""


class SkipRecord(DataFormatError):
    """An input that is left out (an unrated session, a missing file): skipped with its reason
    in the summary, an error only in strict mode — unless ``expected`` (e.g. a neutral clip,
    which never has ratings), which is never an error."""

    expected = False


class UnsafePickleError(DataFormatError):
    """A pickle asked to reconstruct something other than numpy arrays and plain containers."""


class CheckpointError(EmotionKDError):
    """A checkpoint is missing, malformed, or does not match the data or model it is used with."""


class ConfigError(EmotionKDError):
    """An option or configuration value is invalid or inconsistent with another one."""


class DependencyError(EmotionKDError):
    """An optional dependency needed for this feature is not installed."""


class OutputError(EmotionKDError):
    """An output cannot be written safely: a folder where a file is expected, the same file as
    an input, an unwritable folder, a full disk, another run writing it (emotionkd.outputs)."""


class OutputExistsError(OutputError):
    """The output path exists and --overwrite was not given."""


class TrainingError(EmotionKDError):
    """Training produced no usable model (a non-finite loss, no finite validation metric)."""


def require_module(module: str, extra: str, feature: str):
    """Import an optional dependency or raise DependencyError with the install command."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise DependencyError(
            f"{feature} needs the optional package '{module}', which is not installed: "
            f"run  pip install 'emotionkd[{extra}]'"
        ) from exc


#: errno → (what happened, what to do) for the one-line messages of emotionkd.outputs and
#: emotionkd.locks; "{option}" is the output's option name
OS_REASONS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free some space or choose another {option}"),
    errno.EFBIG: ("the file is larger than the file system or a size limit allows",
                  "choose another {option} or raise the limit"),
    errno.EROFS: ("the file system is read-only", "choose a writable folder with {option}"),
    errno.EACCES: ("permission denied", "choose a folder you may write to with {option}"),
    errno.EPERM: ("operation not permitted", "choose a folder you may write to with {option}"),
    errno.EIO: ("an input/output error on the device", "check the disk, then run again"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter {option}"),
    errno.ELOOP: ("a symbolic link is in the way", "remove the link or choose another {option}"),
    errno.EISDIR: ("a folder is in the way", "give a file name with {option}"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path given to {option}"),
    errno.ENOENT: ("its folder does not exist (any more)", "create the folder first"),
    errno.EEXIST: ("a file of that name is in the way", "remove it or choose another {option}"),
}
if hasattr(errno, "EDQUOT"):
    OS_REASONS[errno.EDQUOT] = ("the disk quota is used up",
                                 "free some space or choose another {option}")
