"""The evaluation plan (emotionkd.evaluation.plan): split invariants of every protocol, the
configuration tables it carries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import small_plan

from emotionkd.config import (
    DataConfig,
    ExperimentConfig,
    resolve_config,
)
from emotionkd.errors import ConfigError
from emotionkd.evaluation import (
    fold_windows,
    make_folds,
)
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset


def test_evaluation_plan_carries_every_table(tmp_path):
    from emotionkd.evaluation import EvaluationPlan

    f = tmp_path / "e.toml"
    f.write_text("[data]\ntarget = 'arousal,valence'\nwindow = 2.0\n[model]\nsize = 'tiny'\n"
                 "[distill]\nkl_weight = 0.25\nstudent_init = 'teacher-gsr'\n"
                 "[feedback]\nfeedback_warmup = 2\nquiz_fraction = 0.3\n"
                 "[evaluate]\nprotocol = 'kfold'\nk = 3\nbaselines = 'none'\nseeds = '4,5'\n")
    ev = EvaluationPlan(resolve_config("evaluate", config=f))
    assert ev.targets == ["arousal", "valence"] and ev.config.data.window == 2.0
    assert ev.config.model.overrides()["d_model"] == 16 and ev.baselines == []
    assert ev.seeds == [4, 5]
    students = {v.label: v.config for v in ev.student_variants()}
    kd = students["student-emotionkd"].distill
    assert kd.params()["kl_weight"] == 0.25 and kd.student_init == "teacher-gsr"
    assert students["student-none"].distill.student_init == "scratch"  # not its method
    assert students["student-emotionkd+feedback"].distill.feedback
    assert ev.config.feedback.feedback_warmup == 2 and ev.quiz_fraction == 0.3
    assert (ev.protocol, ev.k, ev.feedback) == ("kfold", 3, True)
    again = EvaluationPlan.from_run_entries(json.loads(json.dumps(ev.run_entries())), "run.json")
    assert again.run_entries() == ev.run_entries()
    with pytest.raises(ConfigError, match="choose a protocol"):
        EvaluationPlan(ExperimentConfig())






@pytest.mark.parametrize("protocol, k", [("loso", 0), ("kfold", 3), ("subject-dependent", 2)])
def test_split_invariants(deap_store, protocol, k):
    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2), load_eeg=False)
    cfg = small_plan(protocol=protocol, k=k)
    folds = make_folds(cfg, st.subject, st.trial)
    keys = ds.trial_keys()
    tested = []
    for f in folds:
        fd = fold_windows(f, ds, cfg, fold_seed=f.index)
        train_side = np.concatenate([fd.train, fd.val, fd.quiz])
        assert len(fd.quiz) > 0 or protocol == "subject-dependent"  # 1 trial left there
        assert not set(fd.quiz) & set(fd.train)  # quiz from the training side, held out of it
        assert not set(keys[fd.quiz]) & set(keys[fd.train])  # whole trials
        assert not set(fd.val) & set(fd.train)  # validation ⊂ training side, not fitted on
        assert not set(train_side) & set(fd.test)
        assert not set(keys[train_side]) & set(keys[fd.test])  # no trial on both sides
        assert not set(keys[fd.val]) & set(keys[fd.quiz])
        if protocol != "subject-dependent":
            assert not set(ds.subjects[train_side]) & set(ds.subjects[fd.test])
        tested.extend(keys[fd.test].tolist())
    # every trial is tested exactly once over the folds
    assert sorted(set(tested)) == sorted(set(keys.tolist()))
    assert len(tested) == len(keys)


def test_what_the_student_imitates_applies_to_every_method_and_the_yardsticks():
    plan = small_plan(methods="kd,emotionkd,rkd,none", teacher_targets="crossfit",
                      crossfit_folds=3, calibrate_teacher=True, kd_grid="0.5:2")
    for v in plan.student_variants():
        d = v.config.distill
        assert (d.teacher_targets, d.crossfit_folds, d.calibrate_teacher, d.kd_grid) == \
            ("crossfit", 3, True, "0.5:2"), v.label
    assert plan.yardstick(True) == "student-ceiling"
    assert plan.yardstick(False) == "student-teacher-labels"
    labels = plan.model_labels(True)
    assert "student-ceiling" in labels and "student-teacher-labels" not in labels
    assert small_plan(headroom=False).yardstick(True) is None
