"""Checkpoints: a ``.pt`` file of tensors and plain values only, what goes into one, and the
one way to read its configuration back.

Loaded with ``torch.load(..., weights_only=True)``, so a checkpoint from an untrusted source
cannot run code. Contents (format ``emotionkd-checkpoint``, version 2)::

    format, format_version, emotionkd_version, created
    role            "teacher" | "student"
    model           registry name, e.g. "emotionnet-student"
    model_config    plain dict: build_model(model, model_config) rebuilds the architecture
    state_dict      the weights (BatchNorm statistics included)
    config          the resolved configuration tables (names as in flags and files): data,
                    model and train; a student adds distill and feedback (its data and model
                    tables are its teacher's); ExperimentConfig.from_tables reads them back
    data            what the windows were made from: sampling_rate, window_samples, the EEG
                    channel names, source, store path, rating and class names, the training,
                    validation and test subjects, norm_stats (for norm "train"), the class
                    balance, and ``preprocessing``: how the store's signals were made
                    (baseline mode and length, GSR unit, raw and stored rates, EEG
                    conditioning)
    training        seed, epochs run, the epoch kept and its validation metrics, history,
                    device, run time, test metrics
    distillation    (students) feedback steps, quiz windows, a summary of the teacher

Everything needed to rebuild, evaluate, distil from or export the model is inside.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotionkd.errors import CheckpointError
from emotionkd.ondisk import check_regular

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from emotionkd.config import DataConfig, ExperimentConfig
    from emotionkd.training import FitResult
    from emotionkd.windows import WindowDataset
from emotionkd.validation import version_text
from emotionkd.version import __version__

FORMAT = "emotionkd-checkpoint"
FORMAT_VERSION = 2
REQUIRED = ("format", "format_version", "role", "model", "model_config", "state_dict", "config",
            "data", "training", "emotionkd_version")
#: data-specification keys that must agree between a checkpoint and the data it is used with
DATA_KEYS = ("sampling_rate", "window_samples", "eeg_channels", "target", "threshold", "tie",
             "norm")
#: entries of the data specification's ``preprocessing`` record that must agree as well
PREPROCESSING_KEYS = ("baseline", "baseline_s", "gsr_unit", "raw_sampling_rate", "eeg_filter")


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
    config: Mapping[str, Mapping[str, Any]],
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
        "config": plain(config),
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
    check_regular(p, "the checkpoint", "pass the .pt file written by train-teacher or "
                  "distill", CheckpointError)
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
            f"{p}: checkpoint format_version {version_text(ckpt.get('format_version'))} is "
            f"not read by "
            f"emotionkd {__version__}, which reads version {FORMAT_VERSION}; train the model "
            "again with this version"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{p}: checkpoint lacks {', '.join(missing)}; it is incomplete")
    ckpt["_path"] = str(p)
    check_sections(ckpt, p)
    if role is not None and ckpt["role"] != role:
        raise CheckpointError(
            f"{p}: is a {ckpt['role']} checkpoint ({ckpt['model']}) but a {role} is needed here"
        )
    return ckpt


def _with_compat(model: str, config: Any) -> Any:
    """A stored model config as this version builds it: EmotionNet configs written before the
    teacher's spectral path existed (emotionkd 0.1) get ``spectral = "none"``, the
    architecture they were trained as."""
    if not isinstance(config, Mapping):
        return config
    out = dict(config)
    if model.startswith("emotionnet") and "head_l2" in out and "spectral" not in out:
        out["spectral"] = "none"
    return out


#: what a checkpoint whose sections fail their checks needs
CHECKPOINT_FIX = "the checkpoint is damaged or was edited: train or distill the model again"


def check_sections(ckpt: dict[str, Any], p: Path) -> None:
    """Check the types and ranges of a loaded checkpoint's sections (role, model, data,
    configuration, weights) in the one form of :mod:`emotionkd.ondisk`."""
    from emotionkd.errors import ConfigError
    from emotionkd.ondisk import Source

    src = Source(p, CHECKPOINT_FIX, CheckpointError)
    src.text(ckpt["role"], "role", ("teacher", "student"))
    src.text(ckpt["model"], "model", empty=False)
    for name in ("model_config", "config", "training"):
        src.mapping(ckpt[name], name)
    d = src.mapping(ckpt["data"], "data", ("sampling_rate", "window_samples", "eeg_channels"))
    src.number(d["sampling_rate"], "data.sampling_rate", low=0, low_open=True, high=1e6)
    src.number(d["window_samples"], "data.window_samples", integer=True, low=1)
    src.texts(d["eeg_channels"], "data.eeg_channels")
    if "class_names" in d:
        src.texts(d["class_names"], "data.class_names", length=2, empty=False)
    if "preprocessing" in d:
        src.mapping(d["preprocessing"], "data.preprocessing")
    if d.get("norm_stats") is not None:
        stats = src.mapping(d["norm_stats"], "data.norm_stats")
        if "gsr_mean" in stats:
            src.number(stats["gsr_mean"], "data.norm_stats.gsr_mean")
        if "gsr_std" in stats:
            src.number(stats["gsr_std"], "data.norm_stats.gsr_std", low=0, low_open=True)
    try:
        checkpoint_config(ckpt)
    except ConfigError as exc:
        raise CheckpointError(f"{exc}; {CHECKPOINT_FIX}") from None
    _check_weights(src, ckpt["state_dict"])


def _check_weights(src: Any, state: Any) -> None:
    """Every weight a tensor of finite values (NaN weights label every window low)."""
    import torch

    if not isinstance(state, Mapping):
        src.fail("state_dict", "not a table of tensors")
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            src.fail(f"state_dict {name}", f"a {type(value).__name__}, not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            n = int((~torch.isfinite(value)).sum())
            src.fail(f"state_dict {name}", f"holding {n} non-finite value(s) (NaN or "
                                           "infinity)")


def build_from_checkpoint(ckpt: dict[str, Any]) -> nn.Module:
    """Rebuild the model of a loaded checkpoint and load its weights (strictly)."""
    from emotionkd.errors import ConfigError
    from emotionkd.models.registry import build_model

    src = ckpt.get("_path", "checkpoint")
    try:
        model = build_model(ckpt["model"], _with_compat(ckpt["model"], ckpt["model_config"]))
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except CheckpointError:
        raise
    except ConfigError as exc:
        raise CheckpointError(f"{src}: model_config is wrong ({exc}); {CHECKPOINT_FIX}") \
            from None
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{src}: weights do not match the {ckpt['model']} architecture it declares "
            f"({str(exc).splitlines()[0][:200]}); the checkpoint is corrupt or from an "
            "incompatible version"
        ) from None
    model.eval()
    return model


def checkpoint_config(ckpt: Mapping[str, Any]) -> ExperimentConfig:
    """The configuration a checkpoint was trained with (its resolved tables, read by
    :meth:`~emotionkd.config.ExperimentConfig.from_tables`)."""
    from emotionkd.config import ExperimentConfig

    return ExperimentConfig.from_tables(ckpt["config"], str(ckpt.get("_path", "checkpoint")))


def checkpoint_data(ckpt: Mapping[str, Any]) -> DataConfig:
    """The ``[data]`` table of a checkpoint with its EEG channels pinned to the names it was
    trained on, so that data for it is read the same way from any store."""
    from dataclasses import replace

    names = ",".join(ckpt["data"]["eeg_channels"])
    data = replace(checkpoint_config(ckpt).data, eeg_channels=names)
    if data.threshold is None and ckpt["data"].get("threshold") is not None:
        data = replace(data, threshold=float(ckpt["data"]["threshold"]))
    return data


def data_spec(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's data specification: its ``[data]`` settings together with the facts of
    its ``data`` entry (rate, window in samples, channel names, preprocessing …), in the keys
    of :meth:`emotionkd.windows.WindowDataset.spec`."""
    return {**ckpt["config"]["data"], **ckpt["data"]}


def check_data_compatible(ckpt: dict[str, Any], spec: Mapping[str, Any], what: str) -> None:
    """Raise CheckpointError if ``spec`` (a data specification, e.g. WindowDataset.spec()) does
    not match the checkpoint's (:func:`data_spec`), naming both values."""
    src = ckpt.get("_path", "checkpoint")
    have = data_spec(ckpt)
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


def feedback_outcome(configured: bool, steps: int | None, epochs_run: int | None = None,
                     warmup: int | None = None) -> str:
    """What adaptive feedback did, in the words of distill, info, the model card and the
    report: ``off``, ``on (12 steps)``, or ``configured, 0 steps ran (epochs ≤ feedback
    warm-up: 1 ≤ 1)`` when it was asked for but never ran (``steps`` None: not recorded)."""
    if not configured:
        return "off"
    if steps is None:
        return "on"
    if steps:
        return f"on ({steps} steps)"
    why = (f"epochs ≤ feedback warm-up: {epochs_run} ≤ {warmup}"
           if epochs_run is not None and warmup is not None and epochs_run <= warmup
           else "no training step was a feedback step")
    return f"configured, 0 steps ran ({why})"


def feedback_status(ckpt: Mapping[str, Any]) -> str:
    """:func:`feedback_outcome` of a checkpoint (or its :func:`summary`)."""
    cfg = ckpt.get("config") or {}
    steps = (ckpt.get("distillation") or {}).get("feedback_steps")
    return feedback_outcome(bool((cfg.get("distill") or {}).get("feedback")), steps,
                            (ckpt.get("training") or {}).get("epochs_run"),
                            (cfg.get("feedback") or {}).get("feedback_warmup"))


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
        "config": ckpt["config"],
        "data": ckpt["data"],
        "training": {k: tr[k] for k in ("seed", "epochs_run", "best_epoch", "best", "device")
                     if k in tr},
    }
    if "distillation" in ckpt:
        out["distillation"] = ckpt["distillation"]
    return out


# ---------------------------------------------------------------------------------------------
# what a trained model's checkpoint holds


def data_section(ds: WindowDataset, train_subjects: Sequence[int],
                 val_subjects: Sequence[int], test_subjects: Sequence[int] = ()
                 ) -> dict[str, Any]:
    """The checkpoint's ``data`` entry for a model trained on windows of ``ds``."""
    spec = ds.spec()
    out = {k: spec[k] for k in ("sampling_rate", "window_samples", "eeg_channels", "n_eeg",
                                "source", "preprocessing")}
    out.update({
        "store": str(ds.store.path),
        "synthetic": bool(ds.store.synthetic),
        "rating_names": list(ds.store.rating_names),
        "rating_scale": ds.store.rating_scales[ds.store.rating_index(ds.target)],
        "threshold": ds.threshold,  # as used (the default: the scale's midpoint)
        "class_names": [f"low {ds.target}", f"high {ds.target}"],
        "train_subjects": [int(s) for s in train_subjects],
        "val_subjects": [int(s) for s in val_subjects],
        "test_subjects": [int(s) for s in test_subjects],
    })
    if "norm_stats" in spec:
        out["norm_stats"] = spec["norm_stats"]
    return out


def training_section(res: FitResult, **extra: Any) -> dict[str, Any]:
    """The checkpoint's ``training`` entry of a fit (``extra``: more entries)."""
    return {"seed": res.seed, "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
            "best": res.best, "history": res.history, "seconds": round(res.seconds, 2),
            "device": res.device, "stopped_early": res.stopped_early, **extra}


@dataclass
class TrainedModel:
    """A trained model with everything its checkpoint holds; ``command`` (train-teacher,
    distill or evaluate) says which tables of ``config`` it records."""

    role: str
    model_name: str
    model: nn.Module
    model_config: dict[str, Any]
    config: ExperimentConfig
    command: str
    fit: FitResult
    data: dict[str, Any]
    training: dict[str, Any]
    test_metrics: dict[str, float] | None = None
    distillation: dict[str, Any] | None = None
    #: a distillation's teacher as feedback left it (None: unchanged or no feedback)
    adapted_teacher: TrainedModel | None = None

    def tables(self) -> dict[str, dict[str, Any]]:
        """The resolved configuration tables the checkpoint stores."""
        from emotionkd.config import CHECKPOINT_TABLES

        return self.config.resolved(self.command, CHECKPOINT_TABLES[self.command])

    def save(self, path: str | os.PathLike, overwrite: bool = True,
             inputs: Sequence[str | os.PathLike] = ()) -> Path:
        extra = {} if self.distillation is None else {"distillation": self.distillation}
        return save_checkpoint(path, role=self.role, model=self.model_name,
                               model_config=self.model_config,
                               state_dict=self.model.state_dict(), config=self.tables(),
                               data=self.data, training=self.training, overwrite=overwrite,
                               inputs=inputs, **extra)
