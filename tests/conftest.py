"""Shared fixtures and helpers: tiny synthetic data written in the real raw layouts, small
trained models, and the command line run in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from emotionkd.config import DataConfig, TrainConfig
    from emotionkd.distill.methods import DistillMethod
    from emotionkd.evaluation import EvaluationPlan
    from emotionkd.models import EmotionNetStudent, EmotionNetTeacher

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real"  # recordings from public sources (data/README.md)
MADE = ROOT / "tests" / "data" / "made"
NK = REAL / "neurokit_bio_eventrelated_100hz.csv"

os.environ.setdefault("EMOTIONKD_NO_PROGRESS", "1")


@pytest.fixture(scope="session")
def deap_raw(tmp_path_factory) -> Path:
    """A DEAP data_preprocessed_python folder: 3 subjects × 4 trials × (3 s + 12 s)."""
    from emotionkd.datasets.synthetic import write_deap

    out = tmp_path_factory.mktemp("deap") / "data_preprocessed_python"
    write_deap(out, n_subjects=3, n_trials=4, seconds=12.0, seed=7)
    return out


@pytest.fixture(scope="session")
def deap_store(deap_raw, tmp_path_factory) -> Path:
    """The store preprocessed from :func:`deap_raw` with default options."""
    from emotionkd.preprocess import preprocess_deap

    out = tmp_path_factory.mktemp("store") / "deap.h5"
    preprocess_deap(deap_raw, out)
    return out


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    """Run ``emotionkd ARGS`` in-process: (exit status, captured stdout/stderr)."""
    from emotionkd.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr()


#: a tiny EmotionNet, for tests that need a trained model fast
TINY = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
        "classifier_dim": 8}


def train_and_save(store: Path, out: Path, name: str, data: DataConfig | None = None,
                   train: TrainConfig | None = None,
                   fit_subjects: tuple[int, ...] = (1, 2), val_subjects: tuple[int, ...] = (3,),
                   fit: bool = True, load_eeg: bool = True) -> Path:
    """Train registry model ``name`` (tiny) on ``fit_subjects`` of a store, early-stopping on
    ``val_subjects`` (or leave it untrained), and save its checkpoint to ``out``."""
    from emotionkd.checkpoint import TrainedModel, data_section, training_section
    from emotionkd.config import DataConfig, ExperimentConfig, TrainConfig
    from emotionkd.models.registry import build_model, config_for, model_spec
    from emotionkd.training import FitResult, fit_model
    from emotionkd.windows import WindowDataset

    data = data if data is not None else DataConfig()
    train = train if train is not None else TrainConfig(epochs=1, batch_size=16, seed=0)
    ds = WindowDataset(store, data, load_eeg=load_eeg,
                       norm_subjects=list(fit_subjects) if data.norm == "train" else None)
    val = ds.select_subjects(list(val_subjects)) if val_subjects else None
    if fit:
        model, cfg, res = fit_model(name, ds.select_subjects(list(fit_subjects)), val, train,
                                    TINY)
    else:
        cfg = config_for(name, ds.fs, ds.window_s, ds.n_eeg, TINY)
        model, res = build_model(name, cfg), FitResult(0, 0, {})
    role = model_spec(name)["role"]
    run = TrainedModel(role, name, model, cfg, ExperimentConfig(data=data, train=train),
                       "train-teacher" if role == "teacher" else "distill", res,
                       data_section(ds, fit_subjects, val_subjects), training_section(res))
    return run.save(out)


# ---------------------------------------------------------------------------------------------
# DEAP files with known values


#: the signature files: trials per subject, samples per trial, the stimulus onset (3 s)
N_TRIALS, N_SAMPLES, ONSET = 3, 384 + 256, 384


def signature_arrays(subject: int) -> dict[str, np.ndarray]:
    """Channel c of trial t: baseline level 10*c + t, stimulus level 1000*c + 100*t + ramp.

    GSR (row 36) is a resistance of 200 kOhm during the baseline and 250 kOhm + 1 kOhm·t
    during the stimulus, so its µS value and baseline subtraction are known exactly.
    """
    data = np.zeros((N_TRIALS, 40, N_SAMPLES))
    ramp = np.arange(N_SAMPLES - ONSET) * 0.01
    for t in range(N_TRIALS):
        for c in range(40):
            data[t, c, :ONSET] = 10 * c + t
            data[t, c, ONSET:] = 1000 * c + 100 * t + ramp + subject
        data[t, 36, :ONSET] = 2.0e5
        data[t, 36, ONSET:] = 2.5e5 + 1e3 * t
    labels = np.array([[1.0, 9.0, 5.0, 2.5], [5.0, 5.01, 3.0, 7.0], [8.5, 1.2, 4.0, 6.0]])
    return {"data": data, "labels": labels}


def write_dat(path: Path, arrays: dict) -> None:
    """A DEAP .dat file (a Python 2 pickle) holding ``arrays``."""
    from emotionkd.datasets.py2pickle import dump_py2

    with open(path, "wb") as fh:
        dump_py2(arrays, fh)


@pytest.fixture
def sig_folder(tmp_path) -> Path:
    """Two subjects of :func:`signature_arrays` in a DEAP folder."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for s in (1, 2):
        write_dat(raw / f"s{s:02d}.dat", signature_arrays(s))
    return raw


@pytest.fixture(scope="session")
def none_store(deap_raw, tmp_path_factory) -> Path:
    """The store of :func:`deap_raw` preprocessed with ``baseline="none"``."""
    from emotionkd.preprocess import preprocess_deap

    out = tmp_path_factory.mktemp("store") / "deap_none.h5"
    preprocess_deap(deap_raw, out, baseline="none")
    return out


#: a held-out subject's trial, written out as a wristband recording by the predict tests
SUBJECT, TRIAL = 3, 2


def raw_trial_us(deap_raw: Path) -> np.ndarray:
    """The held-out trial as recorded (3-s pre-stimulus baseline + stimulus), in µS."""
    from emotionkd.datasets.deap import iter_trials

    trial = next(t for t in iter_trials(deap_raw / f"s{SUBJECT:02d}.dat", SUBJECT)
                 if t.trial == TRIAL)
    assert trial.gsr_unit == "ohm" and trial.onset == 384
    return 1e6 / np.asarray(trial.gsr, dtype=np.float64)


def write_eda_csv(path: Path, values: np.ndarray) -> Path:
    """A one-column CSV recording headed EDA."""
    path.write_text("EDA\n" + "\n".join(repr(float(v)) for v in values) + "\n")
    return path


# ---------------------------------------------------------------------------------------------
# MAHNOB-HCI sessions


@pytest.fixture(scope="session")
def hci_sessions(tmp_path_factory) -> Path:
    """A synthetic HCI Sessions/ folder: 2 subjects × 2 clips (emotional and neutral)."""
    from emotionkd.datasets.synthetic_hci import write_hci

    root = tmp_path_factory.mktemp("hci") / "Sessions"
    write_hci(root, n_subjects=2, n_trials=2, seed=3, stimulus_s=(6.0, 9.0),
              neutral_s=(3.0, 4.0))
    return root


def session_length(folder: Path) -> float:
    """The clip length session.xml states (cutLenSec)."""
    import xml.etree.ElementTree as ET

    return float(ET.parse(folder / "session.xml").getroot().get("cutLenSec"))


# ---------------------------------------------------------------------------------------------
# small trained models


def student_checkpoint(store: Path, out: Path, norm: str, train: bool = True) -> Path:
    """A tiny GSR student on subjects 1-2 of ``store`` (one epoch, or untrained)."""
    from emotionkd.config import DataConfig, TrainConfig

    return train_and_save(store, out, "emotionnet-student", DataConfig(norm=norm),
                          TrainConfig(epochs=1, batch_size=8, seed=0, lr=1e-2),
                          val_subjects=(), fit=train, load_eeg=False)


@pytest.fixture(scope="session")
def train_ckpt(deap_store, tmp_path_factory) -> Path:
    """A student normalised with the training statistics (``norm train``)."""
    return student_checkpoint(deap_store, tmp_path_factory.mktemp("m") / "s_train.pt", "train")


@pytest.fixture(scope="session")
def subject_ckpt(deap_store, tmp_path_factory) -> Path:
    """A student normalised per subject (``norm subject``)."""
    return student_checkpoint(deap_store, tmp_path_factory.mktemp("m") / "s_subject.pt",
                              "subject")


def train_on_4s_windows(deap_store: Path, out: Path, name: str) -> Path:
    """Registry model ``name`` (tiny) trained one epoch on 4-s windows."""
    from emotionkd.config import DataConfig, TrainConfig

    return train_and_save(deap_store, out, name, DataConfig(window=4, step=4),
                          TrainConfig(epochs=1, batch_size=8, seed=0))


@pytest.fixture(scope="session")
def student_ckpt(deap_store, tmp_path_factory) -> Path:
    """A tiny student trained on 4-s windows (export and predict)."""
    return train_on_4s_windows(deap_store, tmp_path_factory.mktemp("m") / "s.pt",
                               "emotionnet-student")


@pytest.fixture(scope="session")
def teacher_ckpt(deap_store, tmp_path_factory) -> Path:
    """A tiny teacher trained two epochs on 2-s windows (distillation)."""
    from emotionkd.jobs import train_teacher

    out = tmp_path_factory.mktemp("t") / "t.pt"
    train_teacher(deap_store, out, window=2, step=2, epochs=2, batch_size=16, lr=1e-3, seed=0,
                  val_subjects=[2], test_subjects=[3], **TINY)
    return out


def method_object(name: str = "emotionkd", **settings: Any) -> DistillMethod:
    """The configured method object, as a [distill] table with ``settings`` gives it."""
    from emotionkd.config import DistillConfig

    return DistillConfig(method=name, **settings).method_object()


def teacher_student_pair(dtype: torch.dtype | None = None
                         ) -> tuple[EmotionNetTeacher, EmotionNetStudent]:
    """A tiny teacher and student (seeded, no dropout) on 3 EEG channels at 32 Hz."""
    import torch

    from emotionkd.models import EmotionNetConfig, EmotionNetStudent, EmotionNetTeacher

    dtype = dtype or torch.float32
    torch.manual_seed(0)
    cfg = EmotionNetConfig(fs=32, window_s=2, n_eeg=3, dropout=0.0, head_dropout=0.0,
                           classifier_dropout=0.0, spectral_dropout=0.0, **TINY)
    return EmotionNetTeacher(cfg).to(dtype), EmotionNetStudent(cfg).to(dtype)


def small_plan(epochs: int = 2, baselines: str = "none", **options: Any) -> EvaluationPlan:
    """A small LOSO evaluation plan of the tiny models on 2-s windows; ``options`` override
    any flag, list values are given comma-separated."""
    from emotionkd.config import resolve_config
    from emotionkd.evaluation import EvaluationPlan

    opts = dict(protocol="loso", target="arousal", methods="emotionkd,none", window=2.0,
                step=2.0, epochs=epochs, batch_size=16, lr=1e-3, patience=0, **TINY,
                feedback_warmup=0, val_fraction=0.3, quiz_fraction=0.3, baselines=baselines)
    opts.update(options)
    opts = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in opts.items()}
    return EvaluationPlan(resolve_config("evaluate", opts))


#: the sampling rate of :func:`signature_raw`
RAW_FS = 256.0


def signature_raw(seconds: float = 60.0) -> Any:  # mne.io.RawArray
    """Fz: 20 µV at 10 Hz; Cz: 10 µV; an ECG channel; EDA: 4 + 0.01·t µS (stored in S, MNE's
    unit); annotations video at 10, 30, 40 s (8 s) and fixation at 20 s."""
    import mne

    n = int(RAW_FS * seconds)
    t = np.arange(n) / RAW_FS
    info = mne.create_info(["Fz", "Cz", "ECG", "EDA"], RAW_FS, ["eeg", "eeg", "ecg", "gsr"])
    x = np.vstack([20e-6 * np.sin(2 * np.pi * 10 * t), np.full(n, 10e-6),
                   1e-3 * np.sin(t), (4 + 0.01 * t) * 1e-6])
    raw = mne.io.RawArray(x, info, verbose="error")
    raw.set_annotations(mne.Annotations([10.0, 20.0, 30.0, 40.0], [8.0, 2.0, 8.0, 8.0],
                                        ["video", "fixation", "video", "video"]))
    return raw


def scr_responses(n: int, onsets: list[int], amp: float, fs: float = 128.0) -> np.ndarray:
    """``n`` samples of skin-conductance responses of amplitude ``amp`` (a difference of
    exponentials, 0.5-s rise and 3-s decay) starting at the sample indices ``onsets``."""
    t = np.arange(n) / fs
    g = np.zeros(n)
    for o in onsets:
        s = np.clip(t - o / fs, 0, None)
        g += amp * (np.exp(-s / 3.0) - np.exp(-s / 0.5)) * (t >= o / fs)
    return g


def run_page_code(page: str, cwd: Path) -> tuple[str, subprocess.CompletedProcess]:
    """The ```python blocks of docs/``page``, run as one script in ``cwd``: (code, result)."""
    import re

    text = (ROOT / "docs" / page).read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))
    return code, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                cwd=cwd)



# ---------------------------------------------------------------------------------------------
# fault injection (tests/test_faults_*.py)


@pytest.fixture(scope="session")
def tiny_models(deap_store, tmp_path_factory) -> dict[str, Path]:
    """A tiny teacher and student trained one epoch on 2-s windows of :func:`deap_store`."""
    from emotionkd.config import DataConfig

    d = tmp_path_factory.mktemp("tiny")
    return {role: train_and_save(deap_store, d / f"{role[0]}.pt", f"emotionnet-{role}",
                                 DataConfig(window=2, step=2))
            for role in ("teacher", "student")}


def one_line_error(code: int, err: str, *fragments: str) -> str:
    """The one error line of a failed command (exit status 1, no traceback), holding every
    one of ``fragments``."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1, err
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary, probe and lock files emotionkd might have left in ``folder``."""
    return sorted(p.name for p in Path(folder).iterdir()
                  if p.name.startswith(".") and p.name.endswith((".tmp", ".lock")))


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
