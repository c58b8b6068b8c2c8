"""The evaluation commands (emotionkd.cli.evaluate): evaluate and report from the command
line, the configuration tables reaching the run."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli as _cli

from emotionkd.cli import main
from emotionkd.errors import ConfigError
from emotionkd.evaluation import (
    evaluate_checkpoint,
)


def test_evaluate_honours_the_distill_and_feedback_tables(deap_store, tmp_path, capsys,
                                                          monkeypatch):
    """A config file's [distill] loss weights and [feedback] reach run.json and the students
    that evaluate trains (the bug: evaluate ignored [distill])."""
    import emotionkd.distill.trainer as trainer

    seen: list[tuple] = []
    real = trainer.fit_student

    def spy(teacher, s_cfg, train, val, config, *rest, **kw):
        seen.append(config)
        return real(teacher, s_cfg, train, val, config, *rest, **kw)

    monkeypatch.setattr(trainer, "fit_student", spy)
    f = tmp_path / "e.toml"
    f.write_text("[data]\nwindow = 2.0\nstep = 2.0\n[model]\nsize = 'tiny'\n"
                 "[train]\nepochs = 2\nbatch_size = 16\nlabel_smoothing = 0.0\n"
                 "[distill]\nkl_weight = 0.3\nhint_weight = 0.5\ntemperature = 2.0\n"
                 "[feedback]\nfeedback_warmup = 1\npilot_lr = 0.02\n"
                 "[evaluate]\nprotocol = 'loso'\nmethods = 'emotionkd'\nbaselines = 'none'\n"
                 "headroom = false\n")  # no yardstick student
    run = tmp_path / "run"
    code, cap = _cli(["evaluate", "--data", str(deap_store), "--config", str(f), "--fold", "0",
                      "--out", str(run)], capsys)
    assert code == 0, cap.err
    recorded = json.loads((run / "run.json").read_text())["config"]
    assert recorded["distill"]["kl_weight"] == 0.3 and recorded["distill"]["temperature"] == 2.0
    assert recorded["feedback"]["feedback_warmup"] == 1
    assert recorded["feedback"]["pilot_lr"] == 0.02 and recorded["train"]["epochs"] == 2
    assert recorded["train"]["label_smoothing"] == 0.0
    assert {c.distill.method for c in seen} == {"emotionkd"} and len(seen) == 2  # ± feedback
    for c in seen:
        p = c.distill.params()
        assert (p["kl_weight"], p["hint_weight"], p["temperature"]) == (0.3, 0.5, 2.0)
        assert c.train.epochs == 2 and c.train.label_smoothing == 0.0
    fbs = [c.feedback for c in seen if c.distill.feedback]
    assert len(fbs) == 1 and (fbs[0].feedback_warmup, fbs[0].pilot_lr) == (1, 0.02)


def test_evaluate_cli_and_checkpoint_mode(deap_store, tmp_path, capsys):
    cfgfile = tmp_path / "e.toml"
    cfgfile.write_text("[model]\nd_model = 8\nn_heads = 2\nhead_dim = 4\nn_blocks = 2\n"
                       "ff_dim = 8\nclassifier_dim = 8\n")
    out = tmp_path / "run"
    args = ["evaluate", "--data", str(deap_store), "--kfold", "3", "--target",
            "arousal,valence", "--methods", "kd,none", "--window", "2", "--step", "2",
            "--epochs", "1", "--batch-size", "16", "--out", str(out), "--config", str(cfgfile),
            "--save-models"]
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code
    text = capsys.readouterr().out
    assert "arousal: 3 of 3 fold runs" in text and "valence" in text
    models = sorted((out / "models" / "arousal" / "seed-0" / "fold-000").glob("*.pt"))
    assert {p.stem for p in models} == {"teacher", "student-kd", "student-none",
                                        "baseline-shallowconvnet", "student-ceiling"}
    # a saved fold model evaluated on its own held-out subject, and refused on training ones
    ck = str(out / "models" / "arousal" / "seed-0" / "fold-000" / "student-none.pt")
    from emotionkd.checkpoint import load_checkpoint

    d = load_checkpoint(ck)["data"]
    res = evaluate_checkpoint(ck, deap_store, d["test_subjects"])
    assert res["subjects"] == d["test_subjects"] and 0 <= res["overall"]["accuracy"] <= 1
    with pytest.raises(ConfigError, match="leaks"):
        evaluate_checkpoint(ck, deap_store, d["train_subjects"])
    assert evaluate_checkpoint(ck, deap_store, d["train_subjects"],
                               allow_train_subjects=True)["used_training_subjects"]
    for bad, msg in ((["evaluate", "--data", str(deap_store)], "choose a protocol"),
                     (["evaluate", "--data", str(deap_store), "--loso", "--kfold", "2"],
                      "choose one protocol"),
                     (["evaluate", "--data", str(deap_store), "--loso", "--methods", "vid"],
                      "unknown vid")):
        with pytest.raises(SystemExit) as exc:
            main(bad)
        assert exc.value.code == 1
        assert msg in capsys.readouterr().err


def test_evaluate_refuses_a_one_class_target_before_any_fold(deap_store, tmp_path, capsys):
    from conftest import run_cli

    run = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--loso", "--threshold", "20",
                         "--out", str(run)], capsys)
    assert code == 1 and cap.err.count("\n") == 1
    assert "gives one class with --threshold 20" in cap.err and "pass --threshold" in cap.err
    assert not run.exists()
