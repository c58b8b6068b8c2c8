"""One fold's models (emotionkd.evaluation.fold): every model trains on the same windows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import small_plan

from emotionkd.evaluation import EvaluationPlan, evaluate_protocol


def _one_epoch(**options: Any) -> EvaluationPlan:
    """:func:`small_plan` trained one epoch, with the GSR-features baseline unless told."""
    return small_plan(**{"epochs": 1, "baselines": "gsr-features", **options})


@pytest.fixture(scope="module")
def ablation_run(deap_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ablation"
    return out, evaluate_protocol(deap_store, _one_epoch(feedback_ablation=True), out)


def _folds(out):
    return [json.loads(p.read_text()) for p in sorted((out / "folds").rglob("fold-*.json"))]


def test_every_model_of_a_fold_trains_on_the_same_windows(ablation_run):
    out, res = ablation_run
    labels = set(res.targets["arousal"].models)
    assert {"student-emotionkd", "student-emotionkd+feedback",
            "student-emotionkd+feedback-meta", "student-emotionkd+feedback-ce"} <= labels
    for f in _folds(out):
        digests = {label: m["trained_on"]["sha1"] for label, m in f["models"].items()}
        assert len(set(digests.values())) == 1, digests  # identical windows for every model
        assert set(digests) == labels
        assert f["trained_on"]["windows"] == f["windows"]["train"]
        assert f["windows"]["quiz"] > 0  # the quiz trials are held out of everyone's windows
        # the feedback variants really differ: the ce-only variant takes no pilot step
        fb = f["models"]["student-emotionkd+feedback"]
        ce_only = f["models"]["student-emotionkd+feedback-ce"]
        meta_only = f["models"]["student-emotionkd+feedback-meta"]
        assert fb["feedback_steps"] > 0 and ce_only["feedback_steps"] > 0
        assert any("train_fb_quiz" in h for h in meta_only["history"])
        assert not any("train_fb_quiz" in h for h in ce_only["history"])
        assert f["models"]["student-emotionkd"]["feedback_steps"] == 0
    md = (out / "report.md").read_text()
    for row in ("student-emotionkd+feedback-meta − student-emotionkd",
                "student-emotionkd+feedback-ce − student-emotionkd",
                "student-emotionkd+feedback − student-none"):
        assert row in md


def test_fold_progress_shows_the_epoch_and_loss_and_logs_every_model(deap_store, tmp_path):
    """evaluate's bar names the model in training with its epoch and loss; each model's
    epochs go to RUN/epochs/<target>/seed-S/fold-XXX/<model>.csv as it trains."""
    import csv

    infos = []
    out = tmp_path / "run"
    plan = _one_epoch(epochs=2, subjects="1,2,3", baselines="shallowconvnet,gsr-features")
    evaluate_protocol(deap_store, plan, out,
                      progress=lambda k, n, info="", **f: infos.append((k, n, info)))
    assert any(": teacher epoch 1/2 " in i and " loss " in i for _, _, i in infos)
    assert any(": student-none epoch 2/2 train loss" in i for _, _, i in infos)
    done = [k for k, _, _ in infos]
    assert done == sorted(done)  # the bar only moves forward
    folder = out / "epochs" / "arousal" / "seed-0"
    for fold in ("fold-000", "fold-001", "fold-002"):
        names = sorted(p.stem for p in (folder / fold).glob("*.csv"))
        assert names == sorted(["teacher", "student-emotionkd", "student-emotionkd+feedback",
                                "student-none", "student-ceiling", "baseline-shallowconvnet"])
        with open(folder / fold / "teacher.csv", newline="") as fh:
            assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2"]
    assert not (out / "tensorboard").exists()  # only with --tensorboard


def test_the_ceiling_trains_on_the_latent_truth(ablation_run):
    out, res = ablation_run
    t = res.targets["arousal"]
    assert "student-ceiling" in t.models and "student-teacher-labels" not in t.models
    for f in _folds(out):
        assert f["models"]["student-ceiling"]["labels"] == "latent truth"
        assert len(f["test_window_subjects"]) == len(f["test_labels"])
    assert t.headroom is not None and t.headroom.yardstick == "student-ceiling"
    assert t.headroom.truth == "latent truth"
    assert set(t.headroom.captures) >= {"student-emotionkd", "student-emotionkd+feedback"}
    md = (out / "report.md").read_text()
    assert "### Headroom" in md and "student-ceiling − student-none" in md


def test_real_data_gets_the_teacher_labels_yardstick_from_shared_crossfit(deap_store, tmp_path,
                                                                          monkeypatch):
    from emotionkd.distill import targets
    from emotionkd.evaluation.fold import FoldRunner
    from emotionkd.evaluation.plan import make_folds
    from emotionkd.evaluation.protocol import target_windows
    from emotionkd.store import open_store

    calls = []
    real = targets.crossfit_logits
    monkeypatch.setattr(targets, "crossfit_logits",
                        lambda *a, **k: calls.append(a[5]) or real(*a, **k))
    plan = _one_epoch(methods="kd,none", baselines="none", teacher_targets="crossfit",
                      crossfit_folds=2, calibrate_teacher=True)
    ds = target_windows(open_store(deap_store), plan, "arousal")
    ds.latent_labels = None  # as a real store: no latent truth
    fold = make_folds(plan, ds.subjects, ds.trials)[0]
    result = FoldRunner(plan, ds, fold, "arousal", tmp_path, 0).run()
    assert "student-ceiling" not in result["models"]
    yard = result["models"]["student-teacher-labels"]
    assert "error" not in yard, yard.get("traceback")
    assert yard["labels"] == "teacher out-of-fold predictions"
    assert 0 <= yard["agreement_with_ratings"] <= 1
    assert calls == [2]  # one cross-fit per fold, shared by kd and the yardstick
    kd = result["models"]["student-kd"]
    assert kd["teacher_temperature"] > 0  # calibrated on the out-of-fold windows
