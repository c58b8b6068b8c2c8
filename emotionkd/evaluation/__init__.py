"""Evaluation protocols (LOSO, k-fold over subjects, subject-dependent) by responsibility:

* :mod:`.plan` — what a run does: its configuration, folds, windows and digests;
* :mod:`.rundir` — the run folder: its format, versions and atomic fold files;
* :mod:`.fold` — one fold and seed: every model trained and tested;
* :mod:`.summary` — the statistics, as typed results (``results.json``);
* :mod:`.report` — ``report.md`` and ``results.csv``;
* :mod:`.protocol` — the entry points.

Every fold retrains the teacher, the students and the baselines on the same windows (docs/
evaluation.md has the leakage rules and the statistics).
"""

from emotionkd.evaluation.plan import EvaluationPlan, StudentVariant, fold_windows, make_folds
from emotionkd.evaluation.protocol import (
    build_report,
    evaluate_checkpoint,
    evaluate_protocol,
)
from emotionkd.evaluation.report import comparison_line, describe_normalisation
from emotionkd.evaluation.summary import (
    Comparison,
    Difference,
    ModelSummary,
    RunSummary,
    TargetSummary,
    comparison_pairs,
    paired_comparison,
    summarise_target,
)

__all__ = ["Comparison", "Difference", "EvaluationPlan", "ModelSummary", "RunSummary",
           "StudentVariant", "TargetSummary", "build_report", "comparison_line",
           "comparison_pairs", "describe_normalisation", "evaluate_checkpoint",
           "evaluate_protocol", "fold_windows", "make_folds", "paired_comparison",
           "summarise_target"]
