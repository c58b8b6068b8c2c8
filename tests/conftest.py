"""Shared fixtures: tiny synthetic data written in the real raw layouts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.config import DataConfig, TrainConfig

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
