"""The report of a run (emotionkd.evaluation.report): n = 1 shows n/a, not a zero SD; a
feedback student whose feedback never ran is flagged."""

from __future__ import annotations

import math

from conftest import run_cli, small_plan

from emotionkd.evaluation import build_report, evaluate_protocol
from emotionkd.evaluation.report import mean_sd
from emotionkd.evaluation.summary import Stat


def test_mean_sd_of_one_test_set_is_na():
    assert mean_sd(Stat(0.333, math.nan, 1)) == "33.3 ± n/a"
    assert mean_sd(Stat(0.5, 0.0, 1)) == "50.0 ± n/a"  # a results.json of older runs
    assert mean_sd(Stat(0.731, 0.064, 8), "±") == "73.1±6.4"
    assert mean_sd(Stat(math.nan, math.nan, 0)) == mean_sd(None) == "–"


def test_feedback_that_never_ran_is_flagged_and_one_fold_has_no_sd(deap_store, tmp_path,
                                                                    capsys):
    out = tmp_path / "run"
    plan = small_plan(epochs=1, feedback_warmup=1, methods="emotionkd,none")
    res = evaluate_protocol(deap_store, plan, out, fold=0)
    m = res.targets["arousal"].models
    assert m["student-emotionkd+feedback"].feedback_steps == 0
    assert m["student-emotionkd+feedback"].feedback_never_ran
    assert m["student-emotionkd"].feedback_steps is None
    assert not m["student-emotionkd"].feedback_never_ran
    report = (out / "report.md").read_text()
    assert ("**student-emotionkd+feedback: feedback configured, 0 steps ran (epochs ≤ "
            "feedback warm-up: 1 ≤ 1) in every fold**") in report
    assert "| student-emotionkd+feedback (0 feedback steps) | 1 |" in report
    assert "± n/a" in report and "± 0.0" not in report  # one fold: no spread to show
    assert build_report(out).targets["arousal"].models[
        "student-emotionkd+feedback"].feedback_never_ran  # read back from the folds
    code, cap = run_cli(["report", str(out)], capsys)
    assert code == 0 and "student-emotionkd+feedback*" in cap.out
    assert "*student-emotionkd+feedback: feedback was configured but made 0 steps" in cap.err
    rows = [r.split(",") for r in (out / "results.csv").read_text().splitlines()]
    assert {r[5] for r in rows[1:] if r[1] == "rating" and r[2] == "teacher"} == {""}


def test_feedback_that_ran_is_not_flagged(deap_store, tmp_path):
    res = evaluate_protocol(deap_store, small_plan(epochs=1, methods="emotionkd,none"),
                            tmp_path / "run", fold=0)
    m = res.targets["arousal"].models["student-emotionkd+feedback"]
    assert m.feedback_steps > 0 and not m.feedback_never_ran
    assert "(0 feedback steps)" not in (tmp_path / "run" / "report.md").read_text()
