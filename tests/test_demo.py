"""The demo's setting (emotionkd.demo): what it runs, what it reduces and says it reduces."""

from __future__ import annotations

from emotionkd.demo import DEMO, QUICK, REDUCTIONS, STUDY_PROTOCOL, demo_config
from emotionkd.evaluation import EvaluationPlan


def test_demo_compares_the_teacher_with_its_yardsticks_and_the_students():
    plan = EvaluationPlan(demo_config())
    cfg = plan.config
    assert (cfg.evaluate.protocol, cfg.evaluate.k) == ("kfold", DEMO["folds"])
    assert cfg.train.epochs == DEMO["epochs"] and cfg.model.size == "tiny"
    assert plan.model_labels(latent_truth=True) == [  # no headroom row: see EVALUATE
        "teacher", "student-emotionkd", "student-emotionkd+feedback", "student-none",
        "baseline-eeg-features", "baseline-gsr-features", "baseline-shallowconvnet"]
    assert DEMO["subjects"] % DEMO["folds"] == 0  # every fold tests as many subjects


def test_every_reduction_is_printed_with_its_full_size():
    """Every setting in which the demo differs from the full-size job is in REDUCTIONS (the
    command prints each with what the full job uses)."""
    reduced = {key for key, _full in REDUCTIONS}
    assert {"subjects", "trials", "seconds", "folds", "epochs", "size", "batch_size",
            "lr"} <= reduced
    assert reduced <= set(DEMO) and reduced <= set(QUICK)


def test_studies_keep_the_setting_their_tables_were_made_with():
    cfg = demo_config(**STUDY_PROTOCOL)
    assert cfg.evaluate.protocol == "loso" and cfg.train.epochs == 20
    assert demo_config(quick=True).evaluate.k == QUICK["subjects"]  # quick: one per subject
