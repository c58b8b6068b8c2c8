"""Where a run came from, and the refusal of work that came from elsewhere.

``run.json`` records the store's content digest (:mod:`emotionkd.store.digest`) and
preprocessing record, the command line, emotionkd's version (with the git commit of a
checkout) and the versions of the libraries. A command that adds folds to an existing run
folder is refused when its store, its preprocessing or its configuration differs from the
run's, with the setting that differs named: a run never merges folds made from different
data or settings.
"""

from __future__ import annotations

import platform
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emotionkd.errors import ConfigError
from emotionkd.store import Store
from emotionkd.version import __version__, source_commit
from emotionkd.windows import SHAPING_PREPROCESSING

#: entries of a preprocessing record that say where the data came from, not how it was made
#: (a store preprocessed again from a moved folder keeps its data and its digest)
_WHEREABOUTS = ("raw", "skipped", "gsr_units")


def library_versions() -> dict[str, str]:
    """emotionkd's version (and git commit when run from a checkout) and the libraries'."""
    import h5py
    import numpy as np
    import scipy
    import sklearn
    import torch

    out = {"emotionkd": __version__}
    commit = source_commit()
    if commit:
        out["git_commit"] = commit
    out.update({"python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__, "scipy": scipy.__version__,
                "scikit-learn": sklearn.__version__, "h5py": h5py.__version__})
    return out


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: ``emotionkd`` and ``argv`` (the command line's arguments), or
    the process's own command line (``emotionkd demo`` from the console script, ``python
    script.py …`` from Python)."""
    if argv is None and Path(sys.argv[0]).name in ("emotionkd", "emotionkd.exe"):
        argv = sys.argv[1:]
    if argv is not None:
        return shlex.join(["emotionkd", *argv])
    return shlex.join([Path(sys.executable).name, *sys.argv])


def run_provenance(store: Store, command: str | None) -> dict[str, Any]:
    """The entries of ``run.json`` that say where a run came from."""
    from emotionkd.store.digest import content_digest

    return {"store_digest": content_digest(store.path).as_dict(),
            "store_source": store.source,
            "preprocessing": dict(store.preprocessing or {}),
            "command": command if command is not None else command_line(),
            "versions": library_versions()}


# ---------------------------------------------------------------------------------------------
# what differs


def first_difference(old: Any, new: Any, path: tuple[str, ...] = ()
                     ) -> tuple[tuple[str, ...], Any, Any] | None:
    """The first place where two JSON-like values differ: (path of keys and indices, the old
    value there, the new one), or None when they are equal. A missing entry is ``None``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            found = first_difference(old.get(key), new.get(key), (*path, str(key)))
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return (*path, "length"), len(old), len(new)
        for i, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, (*path, str(i)))
            if found:
                return found
        return None
    return None if old == new else (path, old, new)


def _shown(v: Any) -> str:
    return "not set" if v is None else str(v)


def check_same_store(run_json: Path, old: dict[str, Any], new: dict[str, Any],
                     store_path: str) -> None:
    """Refuse adding work made from another store to a run: a preprocessing setting that
    shapes the windows, then the content digest (with the record's other entries, when one
    of them explains it). Runs written before the digest was recorded are not checked."""
    where = f"{run_json}: this run was made from a store"
    pre_old, pre_new = old.get("preprocessing"), new.get("preprocessing") or {}
    if isinstance(pre_old, dict):
        for key in SHAPING_PREPROCESSING:
            if pre_old.get(key) != pre_new.get(key):
                raise ConfigError(f"{where} preprocessed with {key}={_shown(pre_old.get(key))}"
                                  f"; {store_path} has {key}={_shown(pre_new.get(key))}; use a "
                                  "new --out (or the run's store)")
    dig_old = (old.get("store_digest") or {}).get("value")
    dig_new = (new.get("store_digest") or {}).get("value")
    if dig_old is None or dig_old == dig_new:
        return
    hint = ""
    if isinstance(pre_old, dict):
        rest = {k: v for k, v in pre_old.items() if k not in _WHEREABOUTS}
        diff = first_difference(rest, {k: v for k, v in pre_new.items()
                                       if k not in _WHEREABOUTS})
        if diff:
            hint = (f" (preprocessed with {'.'.join(diff[0])}={_shown(diff[1])}; it has "
                    f"{_shown(diff[2])})")
    raise ConfigError(f"{where} with content digest {dig_old[:12]}{hint}; {store_path} has "
                      f"digest {str(dig_new)[:12]}: its data differ; use a new --out (or the "
                      "run's store)")


def check_same_plan(run_dir: Path, old: dict[str, Any], entries: dict[str, Any],
                    folds: dict[str, Any]) -> None:
    """Refuse adding work with another configuration (or other folds) to a run, naming the
    setting: ``[train] epochs is 2 in the run but 3 here (--epochs)``."""
    diff = first_difference(old.get("config"), entries["config"], ("config",))
    if diff:
        keys, a, b = diff
        table, key = (keys[1], keys[-1]) if len(keys) > 2 else ("", keys[-1])
        flag = "--" + key.replace("_", "-")
        raise ConfigError(f"{run_dir}: holds a run with a different configuration: [{table}] "
                          f"{'.'.join(keys[2:])} is {_shown(a)} in the run but {_shown(b)} "
                          f"here ({flag}); use the run's options or another --out")
    if bool(old.get("save_models")) != bool(entries.get("save_models")):
        raise ConfigError(f"{run_dir}: holds a run with save_models "
                          f"{bool(old.get('save_models'))} but --save-models is "
                          f"{'given' if entries.get('save_models') else 'not given'} here; use "
                          "the run's options or another --out")
    diff = first_difference(old.get("folds"), folds, ())
    if diff:
        raise ConfigError(f"{run_dir}: holds a run with other folds: {_fold_difference(*diff)}"
                          " (another store, --subjects or --seeds); use the run's data and "
                          "options or another --out")


def _fold_difference(keys: tuple[str, ...], a: Any, b: Any) -> str:
    """'seed 0 has 3 folds in the run but 2 here', 'seed 0 fold 1 test_subjects is …'."""
    if len(keys) < 2:
        return f"seed {keys[0]} is {'absent' if b is None else 'new'} here"
    if keys[1] == "length":
        return f"seed {keys[0]} has {a} folds in the run but {b} here"
    return (f"seed {keys[0]} fold {keys[1]} {'.'.join(k for k in keys[2:] if k != 'length')}"
            f" is {_shown(a)} in the run but {_shown(b)} here")
