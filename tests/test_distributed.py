"""Multi-process data-parallel training (torch.distributed, gloo, 2 CPU processes) matches
single-process training with the same global batch; feedback keeps teacher replicas equal;
evaluation folds run as separate processes and merge."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

NOTRAND = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
           "classifier_dim": 8, "dropout": 0.0, "head_dropout": 0.0, "classifier_dropout": 0.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(store: str, out: str, feedback: bool) -> None:
    """Train a tiny student (and, with feedback, distil it from a tiny teacher)."""
    from emotionkd.config import DataConfig, DistillConfig, ExperimentConfig, FeedbackConfig
    from emotionkd.distill.trainer import fit_student
    from emotionkd.distributed import world
    from emotionkd.models.registry import build_model, default_config
    from emotionkd.store import open_store
    from emotionkd.training import SupervisedTask, TrainConfig, fit
    from emotionkd.windows import WindowDataset

    torch.set_num_threads(1)
    ds = WindowDataset(open_store(store), DataConfig(window=2, step=2))
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-3, patience=0, seed=0,
                      class_weight="none", device="cpu")
    torch.manual_seed(0)
    s_cfg = default_config("emotionnet-student", ds.fs, ds.window_s, ds.n_eeg, NOTRAND)
    student = build_model("emotionnet-student", s_cfg)
    if not feedback:
        res = fit(SupervisedTask(student), train, val, cfg)
        result = {"student": student.state_dict(), "best": res.best}
    else:
        t_cfg = default_config("emotionnet-teacher", ds.fs, ds.window_s, ds.n_eeg, NOTRAND)
        teacher = build_model("emotionnet-teacher", t_cfg)
        config = ExperimentConfig(
            train=cfg, distill=DistillConfig(feedback=True),
            feedback=FeedbackConfig(feedback_warmup=0, teacher_lr=1e-3, pilot_lr=0.1))
        dres = fit_student(teacher, s_cfg, train, val, config, quiz=train)
        result = {"student": dres.student.state_dict(), "teacher": teacher.state_dict(),
                  "steps": dres.feedback_steps}
    rank = world()[0]
    torch.save(result, f"{out}.rank{rank}")


def _worker(rank: int, size: int, port: int, store: str, out: str, feedback: bool) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(size), LOCAL_RANK=str(rank))
    from emotionkd.distributed import init_from_env

    init_from_env()
    try:
        _train(store, out, feedback)
    finally:
        torch.distributed.destroy_process_group()


def _run_two(store: Path, out: Path, feedback: bool) -> None:
    mp.start_processes(_worker, args=(2, _free_port(), str(store), str(out), feedback),
                       nprocs=2, join=True, start_method="spawn")


def test_two_processes_match_one(deap_store, tmp_path):
    _train(str(deap_store), str(tmp_path / "single"), feedback=False)
    _run_two(deap_store, tmp_path / "ddp", feedback=False)
    one = torch.load(str(tmp_path / "single.rank0"))
    r0, r1 = (torch.load(str(tmp_path / f"ddp.rank{r}")) for r in (0, 1))
    # Biases that feed straight into a BatchNorm (and attention key biases) have a true
    # gradient of zero: Adam turns their float-noise gradients into steps of size lr, so they
    # (and the running means they shift) differ between any two summation orders.
    noise_only = ("temporal.bias", "fc1.bias", "fc2.bias", "attn.k.bias", "running_mean")
    compared = 0
    for k in one["student"]:
        assert torch.equal(r0["student"][k], r1["student"][k]), k  # replicas identical
        if one["student"][k].is_floating_point() and not k.endswith(noise_only):
            torch.testing.assert_close(r0["student"][k], one["student"][k], atol=1e-4,
                                       rtol=1e-3, msg=k)
            compared += 1
    assert compared > 30
    assert r0["best"] == r1["best"]  # all-reduced validation metrics: same on every rank
    assert r0["best"]["loss"] == pytest.approx(one["best"]["loss"], rel=1e-2)


def test_feedback_under_two_processes(deap_store, tmp_path):
    _run_two(deap_store, tmp_path / "fb", feedback=True)
    r0, r1 = (torch.load(str(tmp_path / f"fb.rank{r}")) for r in (0, 1))
    assert r0["steps"] > 0
    for part in ("teacher", "student"):
        for k in r0[part]:
            assert torch.equal(r0[part][k], r1[part][k]), (part, k)


def test_folds_as_separate_processes_merge(deap_store, tmp_path):
    cfg = tmp_path / "e.toml"
    cfg.write_text("[model]\nd_model = 8\nn_heads = 2\nhead_dim = 4\nn_blocks = 2\n"
                   "ff_dim = 8\nclassifier_dim = 8\n")
    run = tmp_path / "run"
    base = [sys.executable, "-m", "emotionkd", "evaluate", "--data", str(deap_store), "--loso",
            "--methods", "none", "--window", "2", "--step", "2", "--epochs", "1",
            "--config", str(cfg), "--out", str(run)]
    env = {**os.environ, "EMOTIONKD_NO_PROGRESS": "1"}
    procs = [subprocess.Popen([*base, "--fold", str(i)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (0, 1, 2)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    res = subprocess.run([sys.executable, "-m", "emotionkd", "report", str(run)], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    merged = json.loads((run / "results.json").read_text())
    assert merged["targets"]["arousal"]["folds_done"] == 3
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol

    meta = json.loads((run / "run.json").read_text())
    plan = EvaluationPlan.from_run_entries(meta, "run.json")
    full = evaluate_protocol(deap_store, plan, tmp_path / "full")
    a = merged["targets"]["arousal"]["models"]["student-none"]["per_fold"]
    b = full.targets["arousal"].models["student-none"].per_fold
    assert a == b


def test_cli_under_torchrun(deap_store, tmp_path):
    """`torchrun --nproc-per-node 2 -m emotionkd train-teacher …`: one file, one report."""
    env = {**os.environ, "EMOTIONKD_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    out = tmp_path / "t.pt"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", "-m", "emotionkd", "train-teacher", "--data", str(deap_store), "--out", str(out),
           "--size", "tiny", "--epochs", "1", "--window", "2", "--step", "2"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("wrote") == 1  # rank 0 alone writes and reports
    assert out.exists() and not list(tmp_path.glob("*.tmp"))
    from emotionkd.checkpoint import load_checkpoint

    ck = load_checkpoint(out)
    assert ck["model"] == "emotionnet-teacher"
