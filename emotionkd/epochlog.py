"""Per-epoch logs of a training run, written while it runs (docs/outputs.md#training-logs).

:func:`emotionkd.training.fit` hands every epoch's record (``epoch``, ``seconds``, the
training means ``train_*`` and the validation metrics ``val_*``) to its ``progress``
callback as ``record=``; :func:`logged` wraps a callback so that the record also goes to an
:class:`EpochLog`: one CSV row per epoch (``t.pt`` → ``t.history.csv``; in an evaluation run
``epochs/<target>/seed-S/fold-XXX/<model>.csv``) and, optionally, TensorBoard event files
(the ``tensorboard`` extra). The CSV is appended row by row, so ``tail -f`` follows it; it is
the log while the run goes on: a training command that fails removes it again and puts back
the previous run's (:func:`discard_logs`), so a failed run leaves its checkpoint's files as
they were; in an evaluation run, each model's CSV stays with its fold.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotionkd.errors import DependencyError

#: the install line of the optional TensorBoard writer
TENSORBOARD_HINT = 'pip install "emotionkd[tensorboard]" (or: pip install tensorboard)'


def history_path(checkpoint: str | os.PathLike) -> Path:
    """The per-epoch CSV beside a checkpoint: ``t.pt`` → ``t.history.csv``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + ".history.csv")


def tensorboard_path(checkpoint: str | os.PathLike) -> Path:
    """The TensorBoard folder beside a checkpoint: ``t.pt`` → ``t.tensorboard/``."""
    p = Path(checkpoint)
    return p.with_name(p.stem + ".tensorboard")


def _backup(path: Path) -> Path:
    return path.with_name(f".{path.name}.previous")


def discard_logs(checkpoint: str | os.PathLike, since: float) -> None:
    """A training command failed: remove the logs it wrote beside ``checkpoint`` (event files
    written after ``since``, a ``time.time()``) and put back the previous run's CSV."""
    csv_path = history_path(checkpoint)
    if _backup(csv_path).exists():
        os.replace(_backup(csv_path), csv_path)
    elif csv_path.exists() and csv_path.stat().st_mtime >= since:
        csv_path.unlink()
    for f in tensorboard_path(checkpoint).glob("events.out.tfevents.*"):
        if f.stat().st_mtime >= since:
            f.unlink()


def keep_logs(checkpoint: str | os.PathLike) -> None:
    """A training command succeeded: its CSV replaces the previous run's for good."""
    _backup(history_path(checkpoint)).unlink(missing_ok=True)


def require_tensorboard() -> None:
    """Refuse, before any work, TensorBoard logs when its writer cannot be imported."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:  # torch raises ImportError when tensorboard is missing
        raise DependencyError(f"--tensorboard needs the tensorboard package ({exc}); "
                              f"{TENSORBOARD_HINT}") from None


def epoch_text(record: dict[str, Any], epochs: int, best_epoch: int | None = None) -> str:
    """One epoch as a line: ``epoch 3/20 train loss 0.612 val loss 0.651 bacc 0.633 (best
    epoch 2) 4.2 s``."""
    text = f"epoch {record['epoch']}/{epochs}"
    if "train_loss" in record:
        text += f" train loss {record['train_loss']:.3f}"
    if "val_loss" in record:
        text += f" val loss {record['val_loss']:.3f}"
    if "val_balanced_accuracy" in record:
        text += f" bacc {record['val_balanced_accuracy']:.3f}"
    if best_epoch is not None:
        text += f" (best epoch {best_epoch})"
    if "seconds" in record:
        text += f" {record['seconds']:.1f} s"
    return text


class EpochLog:
    """Writes each epoch's record as it comes: a CSV row (the file is started at the first
    record, and rewritten whole when a later epoch brings a new column, e.g. feedback's terms
    after its warm-up) and, with ``tensorboard``, one scalar per number under ``tag``."""

    def __init__(self, csv_path: str | os.PathLike | None = None,
                 tensorboard: str | os.PathLike | None = None, tag: str = "") -> None:
        self.csv_path = Path(csv_path) if csv_path is not None else None
        self.tensorboard = Path(tensorboard) if tensorboard is not None else None
        self.tag = tag
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = []
        self._writer: Any = None

    def __call__(self, record: dict[str, Any]) -> None:
        self.rows.append(dict(record))
        if self.csv_path is not None:
            self._write_csv(record)
        if self.tensorboard is not None:
            self._write_tensorboard(record)

    def _write_csv(self, record: dict[str, Any]) -> None:
        from emotionkd.outputs import make_folder, write_error, write_text_atomic

        new = [k for k in record if k not in self.columns]
        self.columns += new
        try:
            if new:  # (re)start the file with the full header and every row so far
                make_folder(self.csv_path.parent)
                if len(self.rows) == 1 and self.csv_path.exists():  # the previous run's
                    os.replace(self.csv_path, _backup(self.csv_path))
                write_text_atomic(self.csv_path, self._csv(self.rows, header=True), lock=False)
            else:
                with open(self.csv_path, "a", encoding="utf-8", newline="") as fh:
                    fh.write(self._csv([record], header=False))
        except OSError as exc:
            raise (write_error(exc, self.csv_path) or exc) from None

    def _csv(self, rows: list[dict[str, Any]], header: bool) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, restval="", lineterminator="\n")
        if header:
            w.writeheader()
        for row in rows:
            w.writerow({k: _cell(v) for k, v in row.items()})
        return buf.getvalue()

    def _write_tensorboard(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            require_tensorboard()
            from torch.utils.tensorboard import SummaryWriter

            for old in self.tensorboard.glob("events.out.tfevents.*"):  # an earlier run's
                old.unlink(missing_ok=True)

            self._writer = SummaryWriter(log_dir=str(self.tensorboard))
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                name = key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key
                self._writer.add_scalar(f"{self.tag}/{name}" if self.tag else name,
                                        float(value), step)
        self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _cell(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


def logged(progress: Callable[..., None] | None, log: EpochLog | None
           ) -> Callable[..., None] | None:
    """``progress``, with each epoch's record (``record=``) also written to ``log``."""
    if log is None:
        return progress

    def callback(completed: float, total: float | None = None, info: str = "",
                 **fields: Any) -> None:
        if fields.get("record") is not None:
            log(fields["record"])
        if progress is not None:
            progress(completed, total, info=info, **fields)

    return callback
