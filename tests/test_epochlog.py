"""Per-epoch logs (emotionkd.epochlog): CSV rows as training runs, TensorBoard events, the
epoch line, and the job that writes them beside its checkpoint."""

from __future__ import annotations

import csv
import sys

import pytest

from emotionkd.epochlog import (
    EpochLog,
    epoch_text,
    history_path,
    logged,
    require_tensorboard,
    tensorboard_path,
)
from emotionkd.errors import DependencyError


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_paths_beside_a_checkpoint(tmp_path):
    assert history_path(tmp_path / "t.pt") == tmp_path / "t.history.csv"
    assert tensorboard_path(tmp_path / "runs" / "s.pt") == tmp_path / "runs" / "s.tensorboard"


def test_csv_grows_row_by_row_and_widens_for_a_new_column(tmp_path):
    out = tmp_path / "logs" / "m.csv"  # its folder is made
    log = EpochLog(out)
    log({"epoch": 1, "seconds": 0.5, "train_loss": 0.75, "val_loss": 0.7})
    first = out.read_text()
    assert first.splitlines() == ["epoch,seconds,train_loss,val_loss", "1,0.5,0.75,0.7"]
    log({"epoch": 2, "seconds": 0.25, "train_loss": 0.5, "val_loss": 0.625})
    assert out.read_text().startswith(first)  # appended: `tail -f` follows it
    log({"epoch": 3, "seconds": 0.25, "train_loss": 0.5, "val_loss": 0.6, "train_fb_quiz": 0.3})
    rows = _rows(out)  # a new column (feedback's terms after its warm-up): header widened
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["train_fb_quiz"] == "" and rows[2]["train_fb_quiz"] == "0.3"
    log.close()


def test_logged_writes_each_record_then_forwards(tmp_path):
    seen = []
    log = EpochLog(tmp_path / "m.csv")
    cb = logged(lambda k, n, info="", **f: seen.append((k, n, info, f.get("record"))), log)
    cb(0.5, 2, info="epoch 1/2 loss 0.7")  # within an epoch: no record, nothing written
    assert not (tmp_path / "m.csv").exists()
    cb(1, 2, info="epoch 1/2", record={"epoch": 1, "train_loss": 0.7})
    assert len(_rows(tmp_path / "m.csv")) == 1 and seen[-1][3] == {"epoch": 1, "train_loss": 0.7}
    assert logged(None, None) is None
    assert logged(None, log) is not None  # a log without a progress bar


def test_epoch_text():
    rec = {"epoch": 3, "seconds": 4.21, "train_loss": 0.6123, "val_loss": 0.651,
           "val_balanced_accuracy": 0.6333}
    assert epoch_text(rec, 20, 2) == ("epoch 3/20 train loss 0.612 val loss 0.651 bacc 0.633 "
                                      "(best epoch 2) 4.2 s")
    assert epoch_text({"epoch": 1, "train_loss": 1.0}, 5) == "epoch 1/5 train loss 1.000"


def test_tensorboard_events_are_written(tmp_path):
    pytest.importorskip("tensorboard")  # the optional extra (in dev)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = tmp_path / "tb"
    log = EpochLog(None, folder, tag="teacher")
    for e in (1, 2):
        log({"epoch": e, "seconds": 0.1, "train_loss": 1.0 / e, "val_balanced_accuracy": 0.5})
    log.close()
    acc = EventAccumulator(str(folder))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"teacher/train/loss", "teacher/val/balanced_accuracy", "teacher/seconds"} <= set(tags)
    assert [s.value for s in acc.Scalars("teacher/train/loss")] == [1.0, 0.5]
    assert [s.step for s in acc.Scalars("teacher/train/loss")] == [1, 2]


def test_missing_tensorboard_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(DependencyError, match=r"emotionkd\[tensorboard\]"):
        require_tensorboard()


def test_job_writes_its_epochs_while_it_trains(deap_store, tmp_path):
    """The CSV beside the checkpoint holds every finished epoch when the next one starts."""
    from emotionkd.jobs import train_teacher

    out = tmp_path / "t.pt"
    rows_when_reported = []

    def progress(k, n, info="", record=None, **_):
        if record is not None:
            rows_when_reported.append(len(_rows(history_path(out))))

    run = train_teacher(deap_store, out, progress=progress, epochs=3, size="tiny", window=2.0,
                        step=2.0, batch_size=16)
    assert rows_when_reported == [1, 2, 3]
    rows = _rows(history_path(out))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["train_loss"]) for r in rows] == pytest.approx(
        [h["train_loss"] for h in run.fit.history], rel=1e-5)
    assert all(float(r["seconds"]) > 0 for r in rows)
