"""Fault injection: nothing lost, nothing overwritten (issue 18, docs/outputs.md).

One test (or parametrized case) per numbered case of the issue, plus the lock. Each checks the
one-line message (no traceback), the exit status, that inputs are byte-identical afterwards
and that no temporary or lock file is left behind.

A full disk and a read-only folder are real where the platform allows it: as root with
``unshare`` a small or read-only tmpfs is mounted in a private mount namespace for one
subprocess (nothing leaks to the host); a non-root user gets a read-only folder by chmod.
Elsewhere those cases are injected (``OSError(ENOSPC)``/``OSError(EROFS)`` at the writer);
the injection tests below run everywhere."""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from conftest import TINY, train_and_save

import emotionkd
from emotionkd.cli import main
from emotionkd.errors import OutputError, TrainingError

ROOT = Path(emotionkd.__file__).resolve().parents[1]


TRAIN = ["--size", "tiny", "--epochs", "1", "--batch-size", "16", "--window", "2",
         "--step", "2"]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary, probe and lock files emotionkd might have left in ``folder``."""
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.name.startswith(".") and p.name.endswith((".tmp", ".lock")))


def one_line_error(code: int, err: str, *fragments: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "EMOTIONKD_NO_PROGRESS": "1"}


@functools.cache
def can_mount() -> bool:
    """Root with ``unshare``: tmpfs mounts in a private namespace (real full/read-only disks).
    ``EMOTIONKD_TEST_NO_MOUNT=1`` forces the injection fallbacks."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    if os.environ.get("EMOTIONKD_TEST_NO_MOUNT", "") not in ("", "0"):
        return False
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; rmdir "$d"'],
        capture_output=True)
    return res.returncode == 0


#: runs one CLI command in a subprocess and reports its exit status and the folder's files
DRIVER = r"""
import hashlib, json, os, sys
spec = json.loads(sys.argv[1])
if spec["no_space_check"]:  # reach the writer itself: a disk that fills up during the run
    import emotionkd.outputs as o
    o.check_free_space = lambda *a, **k: None
from emotionkd.cli import main
try:
    main(spec["args"])
    code = 0
except SystemExit as exc:
    code = int(exc.code or 0)
d = spec["dir"]
files = {n: hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
         for n in sorted(os.listdir(d)) if os.path.isfile(os.path.join(d, n))}
print("RESULT " + json.dumps({"code": code, "files": files}))
"""


def in_tmpfs(folder: Path, args: list[str], *, size: str = "1m", readonly: bool = False,
             copy: tuple[tuple[Path, str], ...] = (), no_space_check: bool = False,
             ) -> tuple[int, str, dict[str, str]]:
    """Run ``emotionkd ARGS`` with a ``size`` tmpfs (read-only: remounted so after ``copy``)
    mounted on ``folder`` in a private mount namespace; (exit status, stderr, {file: sha256}
    of the folder afterwards)."""
    folder.mkdir(exist_ok=True)
    q = shlex.quote
    cmds = [f"mount -t tmpfs -o size={size} tmpfs {q(str(folder))}"]
    cmds += [f"cp {q(str(src))} {q(str(folder / name))}" for src, name in copy]
    if readonly:
        cmds.append(f"mount -o remount,ro {q(str(folder))}")
    spec = {"args": args, "dir": str(folder), "no_space_check": no_space_check}
    cmds.append(f"exec {q(sys.executable)} -c {q(DRIVER)} {q(json.dumps(spec))}")
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          " && ".join(cmds)], capture_output=True, text=True, env=child_env(),
                         timeout=600)
    result = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    assert result, (res.returncode, res.stderr[-2000:])
    doc = json.loads(result[-1][len("RESULT "):])
    assert res.returncode == 0, res.stderr  # the driver itself ended normally: no crash
    return doc["code"], res.stderr, doc["files"]


def _train(store: Path, out: Path, name: str) -> Path:
    from emotionkd.config import DataConfig

    return train_and_save(store, out, name, DataConfig(window=2, step=2))


@pytest.fixture(scope="module")
def models(deap_store, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"teacher": _train(deap_store, d / "t.pt", "emotionnet-teacher"),
            "student": _train(deap_store, d / "s.pt", "emotionnet-student")}


def gsr_csv(path: Path, n: int = 960, sep: str = ".") -> Path:
    v = 5 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, n))
    path.write_text("gsr\n" + "\n".join(f"{x:.3f}".replace(".", sep) for x in v) + "\n")
    return path


@pytest.fixture()
def work(tmp_path, deap_store, models) -> dict[str, Path]:
    """Private copies of a store, a teacher, a student and a GSR recording."""
    paths = {"store": tmp_path / "s.h5", "teacher": tmp_path / "t.pt",
             "student": tmp_path / "st.pt", "csv": gsr_csv(tmp_path / "in.csv")}
    shutil.copyfile(deap_store, paths["store"])
    shutil.copyfile(models["teacher"], paths["teacher"])
    shutil.copyfile(models["student"], paths["student"])
    return paths


def many_subjects(deap_raw: Path, folder: Path, n: int) -> Path:
    """A DEAP folder of ``n`` small subject files, each its own signals (copies of one file
    are refused as leakage): a preprocessing run long enough to be caught in the middle."""
    from conftest import signature_arrays, write_dat

    folder.mkdir()
    for k in range(1, n + 1):
        write_dat(folder / f"s{k}.dat", signature_arrays(k))
    return folder


def wait_for(pattern: str, folder: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    t0 = time.monotonic()
    while not list(folder.glob(pattern)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the run never started writing"
        time.sleep(0.01)


def test_case1_nan_store_is_refused_by_train_teacher_and_distill(work, capsys):
    import h5py

    store = work["store"]
    with h5py.File(store, "r+") as f:  # 50,000 NaNs (200 KB) in the EEG of subject 2
        eeg = f["eeg"]
        a = int(f["trials/start"][4])
        block = eeg[:, a:a + 50_000 // eeg.shape[0] + 1]
        block[:] = np.nan
        eeg[:, a:a + block.shape[1]] = block
    before = digest(store), digest(work["teacher"])
    out = store.parent / "new.pt"
    code, _, err = run(["train-teacher", "--data", str(store), "--out", str(out), *TRAIN],
                       capsys)
    line = one_line_error(code, err, "s.h5: 50016 non-finite EEG value(s)",
                          "channel Fp1 of subject 2, trial 1", "preprocess the raw data again")
    code, _, err = run(["distill", "--teacher", str(work["teacher"]), "--data", str(store),
                        "--out", str(out), "--epochs", "1"], capsys)
    assert one_line_error(code, err) == line
    assert not out.exists() and (digest(store), digest(work["teacher"])) == before
    assert leftovers(store.parent) == []


def test_case1_fit_refuses_a_nonfinite_loss_and_untrained_weights(deap_store):
    from emotionkd.config import DataConfig
    from emotionkd.models.registry import build_model, default_config
    from emotionkd.store import open_store
    from emotionkd.training import SupervisedTask, TrainConfig, fit
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(open_store(deap_store), DataConfig(window=2, step=2), load_eeg=False)
    cfg = default_config("emotionnet-student", ds.fs, ds.window_s, ds.n_eeg, TINY)
    train, val = ds.select_subjects([1, 2]), ds.select_subjects([3])
    tc = TrainConfig(epochs=2, batch_size=16, lr=1e-3)

    class Diverging(SupervisedTask):
        def train_loss(self, *a, **k):
            loss, terms = super().train_loss(*a, **k)
            return loss * float("nan"), terms

    with pytest.raises(TrainingError, match=r"training loss became nan at epoch 1 \(batch 1\)"
                                            r".*Lower --lr \(now 0.001\)"):
        fit(Diverging(build_model("emotionnet-student", cfg)), train, val, tc)

    class NanOnValidation(SupervisedTask):  # trains, but every validation metric is NaN
        def eval_logits(self, eeg, gsr):
            z = super().eval_logits(eeg, gsr)
            return z if self.model.training else z * float("nan")

    with pytest.raises(TrainingError, match="no epoch gave a finite validation loss in 2 "
                                            "epoch.*never trained; no model is saved"):
        fit(NanOnValidation(build_model("emotionnet-student", cfg)), train, val, tc)


def test_case1_no_checkpoint_from_a_run_that_never_trained(work, capsys, monkeypatch):
    from emotionkd.training import SupervisedTask

    real = SupervisedTask.train_loss

    def nan_loss(self, *a, **k):
        loss, terms = real(self, *a, **k)
        return loss * float("inf"), terms

    monkeypatch.setattr(SupervisedTask, "train_loss", nan_loss)
    out = work["store"].parent / "t_new.pt"
    out.write_bytes(b"previous checkpoint")
    code, _, err = run(["train-teacher", "--data", str(work["store"]), "--out", str(out),
                        "--overwrite", *TRAIN], capsys)
    one_line_error(code, err, "training loss became inf at epoch 1", "no model is saved")
    assert out.read_bytes() == b"previous checkpoint" and leftovers(out.parent) == []


def test_case2_predict_out_needs_overwrite(work, capsys):
    model, inp = work["student"], work["csv"]
    out = inp.parent / "p.csv"
    out.write_text("keep me\n")
    base = ["predict", "--model", str(model), "--input", str(inp), "--fs", "4"]
    code, _, err = run([*base, "--out", str(out)], capsys)
    one_line_error(code, err, "p.csv: already exists; pass --overwrite to replace it")
    assert out.read_text() == "keep me\n"
    code, stdout, err = run([*base, "--out", str(out), "--overwrite"], capsys)
    assert code == 0, err
    assert "p_high" in out.read_text().splitlines()[0] and "wrote" in stdout
    assert leftovers(inp.parent) == []


@pytest.mark.parametrize("case", ["train-teacher", "distill", "distill-teacher-out", "export",
                                  "predict", "preprocess", "symlink", "hardlink", "config"])
def test_case3_output_equal_to_an_input_is_refused(work, deap_raw, case, tmp_path, capsys):
    s, t, st, csv_ = work["store"], work["teacher"], work["student"], work["csv"]
    raw = tmp_path / "raw"
    shutil.copytree(deap_raw, raw)
    cfg = tmp_path / "c.toml"
    cfg.write_text("epochs = 1\n")
    link = tmp_path / "link.h5"
    args, victim = {
        "train-teacher": (["train-teacher", "--data", s, "--out", s], s),
        "distill": (["distill", "--teacher", t, "--data", s, "--out", t], t),
        "distill-teacher-out": (["distill", "--teacher", t, "--data", s, "--out",
                                 tmp_path / "new.pt", "--teacher-out", t], t),
        "export": (["export", "--model", st, "--out", st], st),
        "predict": (["predict", "--model", st, "--input", csv_, "--fs", "4", "--out", csv_],
                    csv_),
        "preprocess": (["preprocess", "deap", "--raw", raw, "--out", raw / "s01.dat"],
                       raw / "s01.dat"),
        "symlink": (["train-teacher", "--data", s, "--out", link], s),
        "hardlink": (["train-teacher", "--data", s, "--out", link], s),
        "config": (["train-teacher", "--data", s, "--config", cfg, "--out", cfg], cfg),
    }[case]
    if case == "symlink":
        link.symlink_to(s)
    if case == "hardlink":
        os.link(s, link)
    option = "--teacher-out" if case == "distill-teacher-out" else "--out"
    before = {p: digest(p) for p in (s, t, st, csv_, cfg, raw / "s01.dat")}
    code, _, err = run([str(a) for a in args] + ["--overwrite"], capsys)
    one_line_error(code, err, f"{option} is the same file as the input",
                   "writing it would destroy the input")
    assert {p: digest(p) for p in before} == before
    assert str(victim.name) in err
    for folder in (tmp_path, raw):
        assert leftovers(folder) == []


def test_case4_temporary_names_never_clash_or_follow_links(deap_raw, tmp_path, capsys):
    user = tmp_path / "a.h5.tmp"
    user.write_text("the user's own file")
    victim = tmp_path / "victim.txt"
    victim.write_text("must not be overwritten")
    (tmp_path / "b.h5.tmp").symlink_to(victim)
    (tmp_path / "c.h5.tmp").mkdir()
    for name in ("a", "b", "c"):
        code, out, err = run(["preprocess", "deap", "--raw", str(deap_raw), "--out",
                              str(tmp_path / f"{name}.h5")], capsys)
        assert code == 0 and "3 subjects" in out, err
        assert (tmp_path / f"{name}.h5").is_file()
        assert not (tmp_path / f"{name}.h5").is_symlink()
    assert user.read_text() == "the user's own file"
    assert victim.read_text() == "must not be overwritten"
    assert (tmp_path / "b.h5.tmp").is_symlink() and (tmp_path / "c.h5.tmp").is_dir()
    assert leftovers(tmp_path) == []


def test_case4_and_lock_concurrent_preprocess_is_refused(deap_raw, tmp_path, capsys):
    from emotionkd.store import open_store

    big = many_subjects(deap_raw, tmp_path / "big", 150)
    out = tmp_path / "same.h5"
    first = subprocess.Popen([sys.executable, "-m", "emotionkd", "preprocess", "deap", "--raw",
                              str(big), "--out", str(out)], env=child_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(".same.h5.*.tmp", tmp_path, first)
        assert (tmp_path / ".same.h5.lock").exists()
        code, _, err = run(["preprocess", "deap", "--raw", str(deap_raw), "--out", str(out),
                            "--overwrite"], capsys)
        one_line_error(code, err, "same.h5: another emotionkd run (pid ",
                       f"pid {first.pid} on ", "'emotionkd preprocess deap'",
                       "wait for it to finish or choose another --out")
    finally:
        stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert "150 subjects" in stdout
    assert len(open_store(out).subjects) == 150  # the first run's data, not interleaved
    assert leftovers(tmp_path) == []


def hold_in_child(path: Path) -> subprocess.Popen:
    """Another process that takes the lock of ``path`` (hold_output) and keeps it until its
    stdin is closed."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom emotionkd.outputs import hold_output\n"
         "from emotionkd.locks import release_outputs\n"
         f"hold_output({str(path)!r}, overwrite=True)\n"
         "print('held', flush=True)\nsys.stdin.readline()\nrelease_outputs()"],
        env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_lock_of_a_killed_run_does_not_block_and_is_cleaned(tmp_path):
    from emotionkd.outputs import write_text_atomic

    out = tmp_path / "r.json"
    holder = hold_in_child(out)
    try:
        with pytest.raises(OutputError, match=rf"another emotionkd run \(pid {holder.pid} "):
            write_text_atomic(out, "x")
        assert not out.exists()
        holder.send_signal(signal.SIGKILL)  # no cleanup: its lock file stays behind …
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (tmp_path / ".r.json.lock").exists()
    write_text_atomic(out, "x")  # … but the lock went with the process
    assert out.read_text() == "x" and leftovers(tmp_path) == []


def test_evaluation_files_take_no_lock(tmp_path):
    """Fold jobs of one run write its files concurrently: unique temporaries, no lock."""
    from emotionkd.evaluation.rundir import write_json

    path = tmp_path / "run" / "folds" / "arousal" / "seed-0" / "fold-000.json"
    path.parent.mkdir(parents=True)
    other_job = hold_in_child(path)
    try:
        write_json(path, {"a": np.int64(1)})
    finally:
        other_job.stdin.close()
        other_job.wait(timeout=30)
    assert json.loads(path.read_text()) == {"a": 1} and leftovers(path.parent) == []


def _case5_args(name: str, work: dict[str, Path], folder: Path) -> list[str]:
    s, t, st, csv_ = (str(work[k]) for k in ("store", "teacher", "student", "csv"))
    return {
        "preprocess": ["preprocess", "deap", "--raw", str(work["raw"]), "--out",
                       str(folder / "d.h5")],
        "train-teacher": ["train-teacher", "--data", s, "--out", str(folder / "t.pt"), *TRAIN],
        "distill": ["distill", "--teacher", t, "--data", s, "--out", str(folder / "s.pt")],
        "predict": ["predict", "--model", st, "--input", csv_, "--fs", "4", "--out",
                    str(folder / "p.csv")],
        "evaluate": ["evaluate", "--data", s, "--loso", "--out", str(folder / "run"), *TRAIN],
        "synth": ["synth", "deap", "--out", str(folder / "raw"), "--subjects", "1",
                  "--trials", "1", "--seconds", "2"],
        "export": ["export", "--model", st, "--format", "torchscript", "--out",
                   str(folder / "s.ts")],
    }[name]


@pytest.mark.parametrize("name", ["preprocess", "train-teacher", "distill", "predict",
                                  "evaluate", "synth", "export"])
def test_case5_unwritable_output_folder(work, deap_raw, name, tmp_path, capsys, monkeypatch):
    work = {**work, "raw": deap_raw}
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    args = _case5_args(name, work, folder)
    before = {k: digest(v) for k, v in work.items() if v.is_file()}
    if os.geteuid() != 0:  # a real permission error
        folder.chmod(0o555)
        try:
            code, _, err = run(args, capsys)
        finally:
            folder.chmod(0o755)
        files = {p.name: digest(p) for p in folder.iterdir()}
        fragment = "permission denied"
    elif can_mount():  # root ignores permissions: a real read-only file system instead
        shutil.copyfile(folder / "old.txt", tmp_path / "old.txt")  # the mount hides it
        code, err, files = in_tmpfs(folder, args, readonly=True,
                                    copy=((tmp_path / "old.txt", "old.txt"),))
        fragment = "the file system is read-only"
    else:  # root without mounts: inject the error of a read-only file system
        import tempfile

        real = tempfile.mkstemp

        def mkstemp(*a, dir=None, **k):  # noqa: A002
            if dir is not None and Path(dir).resolve() == folder.resolve():
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
            return real(*a, dir=dir, **k)

        monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
        code, _, err = run(args, capsys)
        files = {p.name: digest(p) for p in folder.iterdir()}
        fragment = "the file system is read-only"
    one_line_error(code, err, "cannot write into", fragment, "choose a")
    assert files == {"old.txt": hashlib.sha256(b"old").hexdigest()}
    assert {k: digest(v) for k, v in work.items() if v.is_file()} == before


@pytest.mark.skipif(not can_mount(), reason="a real small file system needs root and unshare "
                                            "(mount namespaces); the injection tests cover the "
                                            "same code paths")
def test_case5_full_disk_real_hdf5_and_checkpoint(work, deap_raw, tmp_path):
    folder = tmp_path / "small"
    old = tmp_path / "old.bin"
    old.write_bytes(b"previous output")
    prev = hashlib.sha256(b"previous output").hexdigest()
    # the free-space check refuses before any work …
    code, err, files = in_tmpfs(folder, ["preprocess", "deap", "--raw", str(deap_raw), "--out",
                                         str(folder / "d.h5")], size="1m")
    one_line_error(code, err, "d.h5: needs about", "MiB but only", "free some space")
    assert files == {}
    # … and a disk that fills up while HDF5 writes (it once crashed the process: exit 139)
    code, err, files = in_tmpfs(folder, ["preprocess", "deap", "--raw", str(deap_raw), "--out",
                                         str(folder / "d.h5"), "--overwrite"], size="1m",
                                copy=((old, "d.h5"),), no_space_check=True)
    one_line_error(code, err, "d.h5: cannot write it: the disk is full; nothing was written "
                              "and the previous file is unchanged")
    assert files == {"d.h5": prev}
    # … and while torch writes a checkpoint
    code, err, files = in_tmpfs(folder, ["train-teacher", "--data", str(work["store"]),
                                         "--out", str(folder / "t.pt"), "--overwrite", *TRAIN],
                                size="48k", copy=((old, "t.pt"),), no_space_check=True)
    one_line_error(code, err, "t.pt: cannot write it: the disk is full")
    assert files == {"t.pt": prev}


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class _FullFile:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, fh: IO) -> None:
        self.fh = fh

    def write(self, data: str | bytes) -> int:
        self.fh.write(data[: len(data) // 2])  # part of it lands, then the disk is full
        _enospc()

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


@pytest.mark.parametrize("writer", ["hdf5", "checkpoint", "distill", "predict", "export",
                                    "synth", "evaluation"])
def test_case5_disk_full_injected_at_every_writer(work, deap_raw, writer, tmp_path, capsys,
                                                  monkeypatch):
    import builtins

    import h5py
    import torch

    import emotionkd.outputs as outputs_mod

    folder = tmp_path / "out"
    folder.mkdir()
    name = {"hdf5": "d.h5", "checkpoint": "t.pt", "distill": "s.pt", "predict": "p.csv",
            "export": "s.ts", "synth": "emotionkd-latent.csv", "evaluation": "results.json"
            }[writer]
    target = folder / name
    target.write_bytes(b"previous output")
    before = {k: digest(v) for k, v in work.items()}
    if writer == "hdf5":
        monkeypatch.setattr(h5py.Dataset, "__setitem__", _enospc)
        args = ["preprocess", "deap", "--raw", str(deap_raw), "--out", str(target)]
    elif writer in ("checkpoint", "distill"):
        def save(obj: object, f: str | os.PathLike, *a: object, **k: object) -> None:
            Path(f).write_bytes(b"half a checkpoint")
            _enospc()

        monkeypatch.setattr(torch, "save", save)
        args = (["train-teacher", "--data", str(work["store"]), "--out", str(target), *TRAIN]
                if writer == "checkpoint" else
                ["distill", "--teacher", str(work["teacher"]), "--data", str(work["store"]),
                 "--out", str(target), "--epochs", "1"])
    elif writer == "export":
        monkeypatch.setattr(torch.jit, "save", lambda m, f, **k: (Path(f).write_bytes(b"x"),
                                                                   _enospc()))
        args = ["export", "--model", str(work["student"]), "--format", "torchscript", "--out",
                str(target)]
    else:  # text writers of emotionkd.outputs and predict's CSV writer
        real_open = builtins.open

        def full_open(file: str | os.PathLike | int, mode: str = "r", *a: Any, **k: Any
                      ) -> IO | _FullFile:
            fh = real_open(file, mode, *a, **k)
            name_ = str(file) if not isinstance(file, int) else os.readlink(
                f"/proc/self/fd/{file}") if sys.platform.startswith("linux") else ""
            return _FullFile(fh) if "w" in mode and f".{name}." in name_ else fh

        if writer == "predict":
            import emotionkd.predict as predict_mod

            monkeypatch.setattr(predict_mod, "open", full_open, raising=False)
            args = ["predict", "--model", str(work["student"]), "--input", str(work["csv"]),
                    "--fs", "4", "--out", str(target)]
        else:
            monkeypatch.setattr(outputs_mod, "open", full_open, raising=False)
            if writer == "synth":
                args = ["synth", "deap", "--out", str(folder), "--subjects", "1", "--trials",
                        "1", "--seconds", "2", "--overwrite"]
            else:
                from emotionkd.evaluation.rundir import write_json

                with pytest.raises(OutputError) as info:
                    write_json(target, {"x": 1})
                args = None
    if args is not None:
        code, _, err = run(args + ["--overwrite"] * (writer != "synth"), capsys)
    else:
        code, err = 1, f"error: {info.value}\n"
    one_line_error(code, err, f"{name}: cannot write it: the disk is full; nothing was "
                              "written and the previous file is unchanged; free some space")
    assert target.read_bytes() == b"previous output"
    assert {k: digest(v) for k, v in work.items()} == before
    assert leftovers(folder) == [] and leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["preprocess", "train-teacher", "distill", "export",
                                  "predict"])
def test_case6_out_is_an_existing_folder(work, deap_raw, name, tmp_path, capsys):
    folder = tmp_path / "adir"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    args = _case5_args(name, {**work, "raw": deap_raw}, tmp_path)
    args[args.index("--out") + 1] = str(folder)
    code, _, err = run(args + ["--overwrite"], capsys)
    one_line_error(code, err, "adir: --out names a folder, but a file is written here")
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("extra, message", [
    (["--fs", "nan"], "--fs must be "),
    (["--fs", "inf"], "--fs must be "),
    (["--fs", "0"], "--fs must be "),
    (["--fs", "0.01"], "at 0.01 Hz a 2-s window of the model holds 0.02 sample(s)"),
    (["--fs", "4", "--step", "nan"], "--step must be a finite number above 0 and at most "
                                     "3600 (seconds)"),
    (["--fs", "4", "--step", "0"], "--step must be a finite number above 0"),
    (["--fs", "2", "--step", "0.0078125"], "GiB in memory (limit 2 GiB)"),
])
def test_case7_predict_numbers(work, extra, message, tmp_path, capsys):
    inp = gsr_csv(tmp_path / "long.csv", n=20_000) if "0.0078125" in extra else work["csv"]
    code, _, err = run(["predict", "--model", str(work["student"]), "--input", str(inp),
                        "--out", str(tmp_path / "p.csv"), *extra], capsys)
    one_line_error(code, err, message)
    assert not (tmp_path / "p.csv").exists() and leftovers(tmp_path) == []


def test_case7_decimal_commas_are_refused(work, tmp_path, capsys):
    v = ["5,012", "5,031", "5,047", "5,006"] * 100
    files = {
        "header.csv": "gsr\n" + "\n".join(v) + "\n",
        "semicolon.csv": "t;gsr\n" + "\n".join(f"{i / 4:.2f};{x}".replace(".", ",")
                                               for i, x in enumerate(v)) + "\n",
        "bare.csv": "\n".join(v) + "\n",
        "e4.csv": "1560279825,000000\n4,000000\n" + "\n".join(x + "000" for x in v) + "\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        code, _, err = run(["predict", "--model", str(work["student"]), "--input",
                            str(tmp_path / name), "--fs", "4", "--column", "0"]
                           if name != "e4.csv" else
                           ["predict", "--model", str(work["student"]), "--input",
                            str(tmp_path / name)], capsys)
        # the wording is the reader's (recordings/text.py); what matters: refused, never truncated
        one_line_error(code, err, f"{name}: ", *(["decimal"] if name != "e4.csv" else []))


@pytest.mark.parametrize("extra, message", [
    (["--lr", "nan"], "--lr must be a finite number above 0 and at most 1 (larger Adam steps "
                      "diverge), got nan"),
    (["--lr", "5"], "--lr must be a finite number above 0 and at most 1"),
    (["--epochs", "0"], "--epochs must be a whole number of at least 1"),
    (["--batch-size", "0"], "--batch-size must be a whole number of at least 1"),
    (["--patience", "-1"], "--patience must be a whole number of at least 0"),
    (["--val-fraction", "1"], "--val-fraction must be a finite number of at least 0 and "
                              "below 1 (a share of the subjects)"),
    (["--window", "inf"], "--window must be a finite number above 0 and at most 3600 "
                          "(seconds)"),
    (["--threshold", "nan"], "--threshold must be a finite number, got nan"),
    (["--config", "CFG"], "c.toml: weight_decay must be a finite number of at least 0 and at "
                          "most 1"),  # a file's value is named by file and key
])
def test_case7_training_numbers(work, extra, message, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nweight_decay = nan\n")
    extra = [str(cfg) if a == "CFG" else a for a in extra]
    out = tmp_path / "new.pt"
    code, stdout, err = run(["train-teacher", "--data", str(work["store"]), "--out", str(out),
                             *extra], capsys)
    one_line_error(code, err, message)
    assert not out.exists() and stdout == "" and leftovers(tmp_path) == []


@pytest.mark.parametrize("extra, message", [
    (["--tolerance", "nan"], "--tolerance must be a finite number above 0"),
    (["--opset", "99"], "--opset must be a whole number of at least 7 and at most 20"),
])
def test_case7_export_numbers(work, extra, message, tmp_path, capsys):
    code, _, err = run(["export", "--model", str(work["student"]), "--out",
                        str(tmp_path / "s.onnx"), *extra], capsys)
    one_line_error(code, err, message)


@pytest.mark.parametrize("sig, status, message", [
    (signal.SIGTERM, 143, "error: terminated by SIGTERM; unfinished outputs were removed"),
    (signal.SIGINT, 130, ""),
])
def test_case8_signal_during_preprocess_leaves_nothing(deap_raw, tmp_path, sig, status,
                                                       message):
    big = many_subjects(deap_raw, tmp_path / "big", 150)
    out = tmp_path / "o.h5"
    out.write_bytes(b"previous store")
    proc = subprocess.Popen(
        [sys.executable, "-m", "emotionkd", "preprocess", "deap", "--raw", str(big), "--out",
         str(out), "--overwrite"], env=child_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(".o.h5.*.tmp", tmp_path, proc)
        proc.send_signal(sig)
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err
    assert "Traceback" not in err
    if message:
        assert [ln for ln in err.splitlines() if ln.strip()] == [message]
    assert out.read_bytes() == b"previous store"
    assert leftovers(tmp_path) == []
