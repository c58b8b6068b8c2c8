"""Figures: the report's PNGs per target and kind, learning curves beside checkpoints, and the
one-line hint without matplotlib."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import TINY
from conftest import run_cli as _cli

from emotionkd.config import resolve_config
from emotionkd.errors import OutputExistsError
from emotionkd.evaluation import EvaluationPlan, evaluate_protocol
from emotionkd.figures import (
    FIGURE_KINDS,
    PLOTS_HINT,
    curves_path,
    learning_curve_figure,
)

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"
TARGETS = ["arousal", "valence"]


@pytest.fixture(scope="module")
def run(deap_store, tmp_path_factory):
    """Two targets, 2 folds, teacher + student alone + a classical baseline: every figure kind
    has data (histories, comparisons, probabilities)."""
    out = tmp_path_factory.mktemp("figruns") / "run"
    cfg = resolve_config("evaluate", dict(
        protocol="kfold", k=2, target=",".join(TARGETS), methods="none",
        baselines="gsr-features", window=2.0, step=2.0, epochs=2, batch_size=16, lr=1e-3,
        patience=0, val_fraction=0.3, **TINY))
    evaluate_protocol(deap_store, EvaluationPlan(cfg), out)
    return out


def test_report_writes_one_png_per_target_and_kind(run, capsys):
    shutil.rmtree(run / "figures")
    code, cap = _cli(["report", str(run)], capsys)
    assert code == 0, cap.err
    pngs = sorted((run / "figures").glob("*.png"))
    assert len(pngs) == len(TARGETS) * len(FIGURE_KINDS)
    assert {p.name for p in pngs} == {f"{t}-{k}.png" for t in TARGETS for k in FIGURE_KINDS}
    for p in pngs:
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, p
    md = (run / "report.md").read_text()
    assert "## Figures" in md
    for p in pngs:
        assert f"](figures/{p.name})" in md
    fig = json.loads((run / "results.json").read_text())["figures"]
    assert fig["skipped"] is None and len(fig["files"]) == len(pngs)
    assert f"figures: {run / 'figures'} ({len(pngs)} PNGs" in cap.out
    assert not list((run / "figures").glob(".*"))  # no temporary or lock file left


def test_report_figures_are_deterministic(run, capsys):
    first = {p.name: p.read_bytes() for p in (run / "figures").glob("*.png")}
    assert first
    code, cap = _cli(["report", str(run)], capsys)
    assert code == 0, cap.err
    assert {p.name: p.read_bytes() for p in (run / "figures").glob("*.png")} == first


def test_without_matplotlib_one_line_hint_and_everything_else_works(run, tmp_path, capsys,
                                                                   monkeypatch):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "figures")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    code, cap = _cli(["report", str(copy)], capsys)
    assert code == 0, cap.err
    assert cap.err.count(PLOTS_HINT) == 1 and len(cap.err.strip().splitlines()) == 1
    assert not (copy / "figures").exists()
    assert PLOTS_HINT in (copy / "report.md").read_text()
    assert json.loads((copy / "results.json").read_text())["figures"]["skipped"] == PLOTS_HINT
    assert "student-none" in cap.out  # the results table still printed
    # the training commands' helper: the hint instead of the curves
    from emotionkd.cli.render import learning_curves

    fit = SimpleNamespace(history=[{"epoch": 1, "train_loss": 0.7}], best_epoch=1)
    learning_curves(tmp_path / "t.pt", fit, "t", overwrite=True)
    err = capsys.readouterr().err
    assert err.count(PLOTS_HINT) == 1 and not (tmp_path / "t.curves.png").exists()


def test_modules_and_help_do_not_import_matplotlib():
    code = (
        "import sys; sys.argv=['emotionkd','report','--help']\n"
        "import emotionkd, emotionkd.figures, emotionkd.evaluation\n"
        "from emotionkd.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('MPL', 'matplotlib' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "MPL False" in res.stdout


def test_learning_curve_figure(tmp_path):
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_ce": 1.0 / e, "train_kl": 0.1,
                "train_hint": 0.5 / e, "val_loss": 0.9 - 0.05 * e,
                "val_balanced_accuracy": 0.5 + 0.02 * e, "val_accuracy": 0.55}
               for e in range(1, 6)]
    out = tmp_path / "s.curves.png"
    assert learning_curve_figure(history, out, "distill emotionkd", best_epoch=4) == out
    assert out.read_bytes().startswith(PNG)
    with pytest.raises(OutputExistsError):
        learning_curve_figure(history, out, "again", overwrite=False)
    assert learning_curve_figure([], tmp_path / "empty.png", "none") is None
    assert curves_path(tmp_path / "t.pt") == tmp_path / "t.curves.png"


def test_train_teacher_and_distill_write_curves_beside_the_checkpoint(deap_store, tmp_path,
                                                                      capsys):
    t, s = tmp_path / "t.pt", tmp_path / "s.pt"
    small = ["--size", "tiny", "--epochs", "2", "--window", "2", "--step", "2"]
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out", str(t), *small],
                     capsys)
    assert code == 0, cap.err
    assert (tmp_path / "t.curves.png").read_bytes().startswith(PNG)
    assert f"learning curves: {tmp_path / 't.curves.png'}" in cap.out
    stale = tmp_path / "s.curves.png"
    stale.write_bytes(b"not replaced without --overwrite")
    code, cap = _cli(["distill", "--teacher", str(t), "--data", str(deap_store), "--out", str(s),
                      "--epochs", "1", "--feedback-warmup", "0"], capsys)
    assert code == 0, cap.err
    assert s.exists() and stale.read_bytes() == b"not replaced without --overwrite"
    assert "--overwrite" in cap.err
    code, cap = _cli(["distill", "--teacher", str(t), "--data", str(deap_store), "--out", str(s),
                      "--epochs", "1", "--feedback-warmup", "0", "--overwrite"], capsys)
    assert code == 0, cap.err
    assert stale.read_bytes().startswith(PNG)
