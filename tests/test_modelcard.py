"""Model cards (emotionkd.modelcard) written by export."""

from __future__ import annotations

import json

from conftest import run_cli as _run

from emotionkd.checkpoint import load_checkpoint, save_checkpoint


def test_export_writes_a_model_card(train_ckpt, tmp_path, capsys):
    out = tmp_path / "s.onnx"
    code, cap = _run(["export", "--model", str(train_ckpt), "--out", str(out)], capsys)
    assert code == 0, cap.err
    card = (tmp_path / "s.onnx.md").read_text()
    for text in ("# Model card: emotionnet-student (student, arousal)",
                 "## Inputs and their preprocessing", "3-s pre-stimulus period",
                 "μ = ", "needs `--baseline-seconds S`", "## Training data and protocol",
                 "subjects: training [1, 2]", "No held-out test metrics were recorded",
                 "## Normalisation caveats", "## Intended use and limits",
                 "Not for clinical", "weak evidence"):
        assert text in card, text
    out.unlink()  # the card alone still blocks a second export without --overwrite
    code, cap = _run(["export", "--model", str(train_ckpt), "--out", str(out)], capsys)
    assert code == 1 and "s.onnx.md: already exists; pass --overwrite" in cap.err
    # recorded test metrics and an evaluation run's folds, with their majority baselines
    ck = load_checkpoint(train_ckpt)
    test = {"n": 30.0, "accuracy": 0.6, "balanced_accuracy": 0.55, "macro_f1": 0.5,
            "roc_auc": 0.58, "majority_baseline": 0.6}
    data = {**ck["data"], "test_subjects": [3]}
    tested = save_checkpoint(tmp_path / "tested.pt", role="student", model=ck["model"],
                             model_config=ck["model_config"], state_dict=ck["state_dict"],
                             config=ck["config"], data=data,
                             training={**ck["training"], "test": test})
    run = tmp_path / "run"
    run.mkdir()
    from emotionkd.evaluation.summary import (
        MajorityBaseline,
        ModelSummary,
        RunSummary,
        Stat,
        TargetSummary,
    )

    ms = {k: Stat(0.56, 0.04, 3) for k in ("balanced_accuracy", "accuracy", "macro_f1",
                                           "roc_auc")}
    model = ModelSummary(3, 3, 0, ms, {"balanced_accuracy": [0.52, 0.6, 0.56]}, {}, {}, {},
                         errors=[])
    target = TargetSummary(3, [], [], MajorityBaseline(0.58, [0.58] * 3), 90, 0.4,
                           {"student-emotionkd+feedback": model}, {}, False, 1.0)
    results = RunSummary("loso", 0, 3, [0], 3, {"arousal": target}, {}, {}, "deap.h5")
    (run / "results.json").write_text(json.dumps(results.to_dict()))
    code, cap = _run(["export", "--model", str(tested), "--format", "torchscript", "--out",
                      str(tmp_path / "t.ts"), "--evaluation", str(run)], capsys)
    assert code == 0, cap.err
    card = (tmp_path / "t.ts.md").read_text()
    assert "Held-out test subjects [3]: balanced accuracy 55.0 %" in card
    assert "majority-class baseline 60.0 % (30 windows)" in card
    assert "protocol loso, 3 of 3 folds" in card and "majority-class baseline 58.0 %" in card
    assert "| student-emotionkd+feedback | 3 | 56.0 ± 4.0 |" in card
    assert "| 52.0, 60.0, 56.0 |" in card


def test_model_card_says_when_the_training_data_were_synthetic(train_ckpt):
    """A model trained on a synthetic store is not described as trained on recordings of
    people; one trained on recordings is."""
    from emotionkd.modelcard import model_card

    ck = load_checkpoint(train_ckpt)
    assert ck["data"]["synthetic"] is True  # the test store comes from `synth deap`
    card = model_card(ck)
    assert "**synthetic** data in deap's layout" in card and "not recorded from people" in card
    assert "recorded in a laboratory" not in card and "simulated self-reports" in card
    real = model_card({**ck, "data": {**ck["data"], "synthetic": False}})
    assert "recorded in a laboratory" in real and "synthetic" not in real
    assert "self-reports of a small number of people" in real
