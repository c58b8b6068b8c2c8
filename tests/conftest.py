"""Shared fixtures: tiny synthetic data written in the real raw layouts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def run_cli(args: list[str], capsys) -> tuple[int, object]:  # noqa: ANN001
    """Run ``emotionkd ARGS`` in-process: (exit status, captured stdout/stderr)."""
    from emotionkd.cli import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr()
