"""The package version, in a module of its own so that every layer can read it without
importing the package root (which serves the Python API), and the git commit of a checkout
the package runs from (recorded by evaluation runs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

__version__ = "0.1.0"


def source_commit() -> str | None:
    """The git commit of the checkout the package runs from (``+dirty`` when files differ
    from it), or None when it is installed from a wheel, git is absent or fails.

    Only a repository whose root holds this package counts, so an installed copy inside some
    other repository (a virtual environment in a project) is not given that project's
    commit."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10)
    except (OSError, subprocess.SubprocessError):  # git absent, not executable, too slow
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")
