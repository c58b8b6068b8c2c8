"""Checkpoints: a ``.pt`` file of tensors and plain values only.

Loaded with ``torch.load(..., weights_only=True)``, so a checkpoint from an untrusted source
cannot run code. Contents (format ``emotionkd-checkpoint``, version 1)::

    format, format_version, emotionkd_version, created
    role            "teacher" | "student"
    model           registry name, e.g. "emotionnet-student"
    model_config    plain dict: build_model(model, model_config) rebuilds the architecture
    state_dict      the weights (BatchNorm statistics included)
    data            sampling_rate, window_s, step_s, window, eeg_channels, target, threshold,
                    tie, norm (+ norm_stats for "train"), source, train/val subjects, store path,
                    class names, and ``preprocessing``: how the store's signals were made
                    (baseline mode and length, GSR unit, raw and stored rates, EEG conditioning)
    training        resolved configuration, seed, epochs run, best epoch, best validation
                    metrics, history
    distillation    (students) method, loss weights, feedback settings, teacher summary

Everything needed to rebuild, evaluate, distil from or export the model is inside.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emotionkd.errors import CheckpointError
from emotionkd.version import __version__

FORMAT = "emotionkd-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("format", "format_version", "role", "model", "model_config", "state_dict", "data",
            "training", "emotionkd_version")
#: data-specification keys that must agree between a checkpoint and the data it is used with
DATA_KEYS = ("sampling_rate", "window", "eeg_channels", "target", "threshold", "tie", "norm")
#: entries of the data specification's ``preprocessing`` record that must agree as well
PREPROCESSING_KEYS = ("baseline", "baseline_s", "gsr_unit", "raw_sampling_rate", "eeg_filter")
#: pre-stimulus baseline lengths (s) of the datasets, assumed for checkpoints that predate the
#: preprocessing record (every store was then made with the default ``--baseline subtract``)
LEGACY_BASELINE_S = {"deap": 3.0, "hci": 30.0}


def plain(obj: Any) -> Any:
    """Convert numpy scalars/arrays, paths and tuples into plain Python values recursively."""
    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def save_checkpoint(
    path: str | os.PathLike,
    *,
    role: str,
    model: str,
    model_config: dict[str, Any],
    state_dict: Mapping[str, Any],
    data: dict[str, Any],
    training: dict[str, Any],
    overwrite: bool = True,
    inputs: Sequence[str | os.PathLike] = (),
    **extra: Any,
) -> Path:
    """Write a checkpoint atomically through :func:`emotionkd.outputs.atomic_output` (a unique
    temporary file, fsync, rename; removed on any failure, a full disk is a one-line
    OutputError). ``path`` must not be one of ``inputs``."""
    import torch

    from emotionkd.outputs import atomic_output, write_error

    out = Path(path)
    if role not in ("teacher", "student"):
        raise ValueError(f"role must be teacher or student, not {role!r}")
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "emotionkd_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "role": role,
        "model": model,
        "model_config": plain(model_config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in state_dict.items()},
        "data": plain(data),
        "training": plain(training),
        **{k: plain(v) for k, v in extra.items()},
    }
    with atomic_output(out, overwrite=overwrite, inputs=inputs) as tmp:
        try:
            torch.save(ckpt, tmp)
        except (OSError, RuntimeError) as exc:  # torch's writer names no cause
            raise write_error(exc, out, force=True) from None
    return out


def load_checkpoint(path: str | os.PathLike, role: str | None = None) -> dict[str, Any]:
    """Load and validate a checkpoint (weights only: no code can run). ``role`` checks the
    checkpoint is a teacher or a student."""
    import pickle

    import torch

    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint; create one with 'emotionkd train-teacher'"
                              " or 'emotionkd distill'")
    if p.is_dir():
        raise CheckpointError(f"{p}: is a directory, not a checkpoint file")
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x89HDF"):
        raise CheckpointError(f"{p}: is an HDF5 file (a data store?), not a checkpoint; pass "
                              "the .pt file written by train-teacher or distill")
    if not head.startswith((b"PK\x03\x04", b"\x80")):
        raise CheckpointError(f"{p}: not a readable checkpoint (not a torch file); pass the "
                              ".pt file written by train-teacher or distill")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{p}: refused or unreadable: it holds objects other than tensors and plain values "
            f"({str(exc).splitlines()[0][:160]}); only emotionkd checkpoints are accepted"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{p}: not a readable checkpoint ({str(exc).splitlines()[0][:160]}); the file may be "
            "truncated or not a .pt file"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p}: is a torch file but not an emotionkd checkpoint")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format_version {ckpt.get('format_version')} is not supported by "
            f"emotionkd {__version__} (expects {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{p}: checkpoint lacks {', '.join(missing)}; it is incomplete")
    if role is not None and ckpt["role"] != role:
        raise CheckpointError(
            f"{p}: is a {ckpt['role']} checkpoint ({ckpt['model']}) but a {role} is needed here"
        )
    ckpt["_path"] = str(p)
    return ckpt


def build_from_checkpoint(ckpt: dict[str, Any]):  # noqa: ANN201 - returns torch.nn.Module
    """Rebuild the model of a loaded checkpoint and load its weights (strictly)."""
    from emotionkd.models.registry import build_model

    src = ckpt.get("_path", "checkpoint")
    try:
        model = build_model(ckpt["model"], dict(ckpt["model_config"]))
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except CheckpointError:
        raise
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{src}: weights do not match the {ckpt['model']} architecture it declares "
            f"({str(exc).splitlines()[0][:200]}); the checkpoint is corrupt or from an "
            "incompatible version"
        ) from None
    model.eval()
    return model


def check_data_compatible(ckpt: dict[str, Any], spec: Mapping[str, Any], what: str) -> None:
    """Raise CheckpointError if ``spec`` (a data specification, e.g. WindowDataset.spec()) does
    not match the checkpoint's data specification, naming both values."""
    src = ckpt.get("_path", "checkpoint")
    have = ckpt["data"]
    pairs = [(key, have.get(key), spec.get(key)) for key in DATA_KEYS
             if key in have and key in spec]
    pre_have, pre_spec = have.get("preprocessing") or {}, spec.get("preprocessing") or {}
    pairs += [(f"preprocessing {key}", pre_have[key], pre_spec[key]) for key in PREPROCESSING_KEYS
              if key in pre_have and key in pre_spec]
    st_have, st_spec = have.get("norm_stats") or {}, spec.get("norm_stats") or {}
    pairs += [(f"norm_stats {key}", st_have[key], st_spec[key]) for key in ("gsr_mean", "gsr_std")
              if key in st_have and key in st_spec]
    for key, a, b in pairs:
        if not _same(a, b):
            raise CheckpointError(
                f"{src}: {key} is {a!r} in the checkpoint but {b!r} in {what}; "
                "use data preprocessed the same way (or retrain)"
            )


def preprocessing_record(data: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The checkpoint's record of how its training signals were made, and whether the
    checkpoint holds one. Checkpoints written before the record existed get the defaults of
    that time: baseline ``subtract`` over the dataset's pre-stimulus period (3 s for DEAP, 30 s
    for MAHNOB-HCI) and GSR in µS."""
    pre = data.get("preprocessing")
    if isinstance(pre, Mapping) and pre.get("baseline"):
        return dict(pre), True
    out = dict(pre or {})
    out.setdefault("baseline", "subtract")
    out.setdefault("baseline_s", LEGACY_BASELINE_S.get(str(data.get("source", "")).lower()))
    out.setdefault("gsr_unit", "uS")
    return out, False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            a, b = float(a), float(b)
            return abs(a - b) < 1e-6 or abs(a - b) <= 1e-6 * max(abs(a), abs(b))
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def summary(ckpt: dict[str, Any]) -> dict[str, Any]:
    """Plain summary for ``emotionkd info`` on a checkpoint."""
    n_params = int(sum(v.numel() for k, v in ckpt["state_dict"].items()
                       if not k.endswith("num_batches_tracked")))
    tr = ckpt.get("training", {})
    out = {
        "path": ckpt.get("_path"),
        "format": f"{FORMAT} v{ckpt['format_version']}",
        "created_with": f"emotionkd {ckpt['emotionkd_version']}",
        "created": ckpt.get("created"),
        "role": ckpt["role"],
        "model": ckpt["model"],
        "parameters": n_params,
        "model_config": ckpt["model_config"],
        "data": ckpt["data"],
        "training": {k: tr[k] for k in ("seed", "epochs_run", "best_epoch", "best", "device")
                     if k in tr},
    }
    pre, recorded = preprocessing_record(ckpt["data"])
    out["preprocessing"] = {**pre, "recorded": recorded}
    if "distillation" in ckpt:
        out["distillation"] = ckpt["distillation"]
    return out
