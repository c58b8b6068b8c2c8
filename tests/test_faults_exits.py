"""Fault injection, exits and messages (issue 27): exit codes that tell the truth.

``evaluate``, ``report`` and ``demo`` exit 1 with one line when a model failed in every fold
(partial failures: listed, exit 0); standard output closed or full is an error; ``predict
--out -`` writes to standard output; Ctrl-C ends with one line and 130; a format version read
as text says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

import emotionkd
from emotionkd.evaluation.fold import FoldRunner

ROOT = Path(emotionkd.__file__).resolve().parents[1]
EVAL = ["--size", "tiny", "--epochs", "1", "--window", "2", "--step", "2", "--batch-size", "16",
        "--methods", "none", "--baselines", "gsr-features", "--no-feedback"]


def error_line(cap) -> str:
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert "Traceback" not in cap.err + cap.out, cap.err
    assert len(lines) == 1 and lines[0].startswith("error: "), cap.err
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.name.endswith((".tmp", ".lock")))


def fail_every_fold(monkeypatch) -> None:
    def broken(self):
        raise RuntimeError("injected: the fold cannot run")

    monkeypatch.setattr(FoldRunner, "run", broken)


# ---------------------------------------------------------------------------------------------
# a model that failed in every fold


def test_evaluate_exits_1_when_every_fold_failed(deap_store, tmp_path, capsys, monkeypatch):
    fail_every_fold(monkeypatch)
    run = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--loso", "--out", str(run),
                         *EVAL], capsys)
    line = error_line(cap)
    assert code == 1
    assert "failed in every fold" in line and "teacher" in line and "(arousal)" in line
    assert "injected: the fold cannot run" in line and str(run / "report.md") in line
    report = (run / "report.md").read_text()  # written: it lists every failure
    assert "Failed in every fold: teacher" in report and report.count("injected") == 3
    assert leftovers(run) == []

    # report on the same run folder: the same truth
    code, cap = run_cli(["report", str(run)], capsys)
    assert code == 1 and "failed in every fold" in error_line(cap)


def test_one_model_failing_everywhere_is_enough(deap_store, tmp_path, capsys, monkeypatch):
    """The teacher fails in every fold, the classical baseline works: still exit 1, naming
    only the models without any result."""
    def no_teacher(self):
        raise ValueError("injected teacher failure")

    monkeypatch.setattr(FoldRunner, "fit_teacher", no_teacher)
    monkeypatch.setattr(FoldRunner, "fit_student", no_teacher)
    run = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--loso", "--out", str(run),
                         *EVAL], capsys)
    line = error_line(cap)
    assert code == 1 and "teacher" in line and "baseline-gsr-features" not in line
    results = json.loads((run / "results.json").read_text())
    models = results["targets"]["arousal"]["models"]
    assert models["baseline-gsr-features"]["folds"] == 3 and len(models["teacher"]["errors"]) == 3


def test_partial_failure_is_listed_and_exits_0(deap_store, tmp_path, capsys, monkeypatch):
    real = FoldRunner.fit_teacher

    def fails_in_fold_0(self):
        if self.fold.index == 0:
            raise ValueError("injected failure in fold 0")
        real(self)

    monkeypatch.setattr(FoldRunner, "fit_teacher", fails_in_fold_0)
    run = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--loso", "--out", str(run),
                         *EVAL], capsys)
    assert code == 0, cap.err
    assert "teacher (1 failed)" in cap.out  # the summary table
    report = (run / "report.md").read_text()
    assert "* teacher, fold 0 (seed 0): ValueError: injected failure in fold 0" in report
    assert "Failed in every fold" not in report


def test_summary_counts_whole_fold_errors():
    from emotionkd.evaluation.summary import summarise_target

    fold = {"target": "arousal", "seed": 0, "models": {}}
    folds = [{**fold, "fold": {"index": i}, "error": "boom"} for i in range(2)]
    t = summarise_target(folds, ["teacher", "baseline-x"])
    assert t.failed_everywhere() == ["teacher", "baseline-x"]
    assert t.first_error("teacher") == "boom"
    assert summarise_target([], ["teacher"]).failed_everywhere() == []


def test_demo_not_done_when_every_model_failed(tmp_path, capsys, monkeypatch):
    fail_every_fold(monkeypatch)
    out = tmp_path / "d"
    code, cap = run_cli(["demo", "--quick", "--out", str(out)], capsys)
    assert code == 1
    assert "failed in every fold" in error_line(cap)
    assert "done in" not in cap.out
    assert leftovers(out) == []


# ---------------------------------------------------------------------------------------------
# standard output


def child(cmd: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EMOTIONKD_NO_PROGRESS": "1"}
    return subprocess.run(["sh", "-c", cmd], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=300)


def test_info_with_stdout_closed_exits_1(deap_store, tmp_path):
    res = child(f"'{sys.executable}' -m emotionkd info '{deap_store}' >&-", tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "standard output is closed" in lines[0], res.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("extra", ["--json", ""])
def test_info_into_a_full_disk(deap_store, tmp_path, extra):
    res = child(f"'{sys.executable}' -m emotionkd info {extra} '{deap_store}' > /dev/full",
                tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], res.stderr
    assert "permissions" not in lines[0] and "standard output" in lines[0]


def test_closed_pipe_ends_quietly(deap_store, tmp_path):
    """`| head -1` is the reader's choice: no message, the status of a SIGPIPE (141)."""
    res = child(f"'{sys.executable}' -m emotionkd info --json '{deap_store}' | head -c 1 "
                "; exit 0", tmp_path)
    assert res.stdout == "{" and "error" not in res.stderr and "Traceback" not in res.stderr


# ---------------------------------------------------------------------------------------------
# predict --out -


def test_predict_out_dash_writes_stdout(student_ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = tmp_path / "in.csv"
    csv.write_text("gsr\n" + "\n".join(f"{5 + (i % 50) / 100:.3f}" for i in range(960)) + "\n")
    code, cap = run_cli(["predict", "--model", str(student_ckpt), "--input", str(csv),
                         "--fs", "32", "--out", "-"], capsys)
    assert code == 0, cap.err
    assert not (tmp_path / "-").exists()
    rows = cap.out.splitlines()
    assert rows[0].startswith("window,start_s,end_s,p_high") and len(rows) > 2
    assert "windows of" in cap.err  # the summary goes to stderr
    code, cap = run_cli(["predict", "--model", str(student_ckpt), "--input", str(csv),
                         "--fs", "32", "--out", "-", "--out-format", "json"], capsys)
    assert code == 0 and len(json.loads(cap.out)["windows"]) == len(rows) - 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


# ---------------------------------------------------------------------------------------------
# Ctrl-C


def test_ctrl_c_exits_130_with_one_line(deap_store, tmp_path, capsys, monkeypatch):
    import emotionkd.jobs

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(emotionkd.jobs, "train_teacher", interrupted)
    code, cap = run_cli(["train-teacher", "--data", str(deap_store), "--out",
                         str(tmp_path / "t.pt"), "--size", "tiny"], capsys)
    assert code == 130
    assert "interrupted (Ctrl-C)" in error_line(cap)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_during_evaluation(deap_store, tmp_path, capsys, monkeypatch):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(FoldRunner, "run", interrupted)
    run = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--loso", "--out", str(run),
                         *EVAL], capsys)
    assert code == 130 and "interrupted" in error_line(cap)
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------------------------------------
# a format version read as text


def test_checkpoint_format_version_as_text(student_ckpt, tmp_path, capsys):
    ckpt = torch.load(student_ckpt, weights_only=True)
    ckpt["format_version"] = str(ckpt["format_version"])
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    code, cap = run_cli(["info", str(bad)], capsys)
    line = error_line(cap)
    assert code == 1
    assert f"format_version '{ckpt['format_version']}' (text, not a whole number)" in line


def test_run_format_version_as_text(tmp_path, capsys):
    from emotionkd.evaluation.rundir import RUN_FORMAT, RUN_FORMAT_VERSION

    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"format": RUN_FORMAT,
                                              "format_version": str(RUN_FORMAT_VERSION)}))
    code, cap = run_cli(["report", str(run)], capsys)
    line = error_line(cap)
    assert code == 1 and f"'{RUN_FORMAT_VERSION}' (text, not a whole number)" in line


def test_version_text():
    from emotionkd.validation import version_text

    assert version_text(2) == "2"
    assert version_text("1") == "'1' (text, not a whole number)"
    assert version_text(1.0) == "1.0 (float, not a whole number)"
    assert version_text(True) == "True (bool, not a whole number)"


@pytest.mark.parametrize("version", ["1", "2"])
def test_store_format_version_as_text_reads_sensibly(deap_store, tmp_path, capsys, version):
    """A text '1' is read as the version it spells (or refused saying it is text); never the
    contradiction "1 is not supported (expects 1)"."""
    import shutil

    import h5py

    store = tmp_path / "v.h5"
    shutil.copy(deap_store, store)
    with h5py.File(store, "a") as f:
        f.attrs["format_version"] = version
    code, cap = run_cli(["info", str(store)], capsys)
    if code == 0:
        assert version == "1" and "emotionkd-trials v1" in cap.out
    else:
        line = error_line(cap)
        assert f"format_version {version} is not supported (expects {version})" not in line
        assert version == "2" or "text" in line
