"""The evaluation commands: ``evaluate`` (a leakage-free protocol, or one checkpoint on chosen
subjects) and ``report`` (merge a run folder's folds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from emotionkd.cli import render
from emotionkd.cli.options import (
    O_DATA,
    O_TENSORBOARD,
    ExperimentConfig,
    check_out,
    configured,
    init_distributed,
    is_main,
    number,
    required,
)
from emotionkd.validation import SEED

#: the folds of a protocol: EvaluationConfig's k
_K = {"integer": True, "low": 2, "high": 10_000, "why": " (folds)"}


def protocol_given(kw: dict[str, Any]) -> dict[str, Any]:
    """--loso, --kfold K, --subject-dependent K, --test-data STORE → the protocol settings
    (at most one)."""
    from emotionkd.errors import ConfigError

    loso, kfold, dep = kw.pop("loso"), kw.pop("kfold"), kw.pop("subject_dependent")
    test = kw["test_data"]
    chosen = [(name, k) for name, on, k in (("loso", loso, 0), ("kfold", kfold is not None, kfold),
                                            ("subject-dependent", dep is not None, dep),
                                            ("cross-dataset", test is not None, 0)) if on]
    if len(chosen) > 1:
        raise ConfigError("choose one protocol: --loso, --kfold K, --subject-dependent K or "
                          "--test-data STORE")
    if test is not None:
        return {"protocol": "cross-dataset", "k": 0, "test_data": str(test)}
    return {"protocol": chosen[0][0], "k": chosen[0][1]} if chosen else {}


def evaluate_cmd(
    data: Optional[Path] = O_DATA,  # noqa: UP045
    loso: bool = typer.Option(False, "--loso", help="Leave-one-subject-out protocol."),
    kfold: Optional[int] = number(  # noqa: UP045
        None, "--kfold", "K folds over groups of subjects.", **_K),
    subject_dependent: Optional[int] = number(  # noqa: UP045
        None, "--subject-dependent", "Per subject, K folds over its trials.", **_K),
    test_data: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--test-data", help="Cross-dataset protocol: train on --data, test on every "
                                  "subject of this store of another dataset."),
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", show_default="runs/STORE-PROTOCOL-TIME", help="Run folder."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run; skip finished folds."),
    fold: Optional[int] = number(  # noqa: UP045
        None, "--fold", "Run only fold I (0-based), e.g. one job of a cluster array.",
        integer=True, low=0, high=10_000, why=" (folds)"),
    only_seed: Optional[int] = number(  # noqa: UP045
        None, "--only-seed", "Run only this seed of --seeds (with --fold: one job of a "
                             "cluster array).", integer=True, **SEED),
    save_models: bool = typer.Option(False, "--save-models", help="Keep every fold's models."),
    tensorboard: bool = O_TENSORBOARD,
    model: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--model", help="Instead of a protocol: evaluate this checkpoint on --subjects."),
    allow_train_subjects: bool = typer.Option(
        False, "--allow-train-subjects",
        help="With --model: allow subjects the model was trained on (leaks)."),
    as_json: bool = typer.Option(False, "--json", help="With --model: print JSON."),
    *,
    config: ExperimentConfig,
    config_file: Optional[Path],  # noqa: UP045
) -> None:
    """Leakage-free evaluation of teacher, students and baselines, or of one model.

    Protocols: leave-one-subject-out, k-fold over subjects, subject-dependent (docs/
    evaluation.md). Every fold retrains every model; per-fold results are written as they
    finish, runs resume, and report.md compares the models with confidence intervals.
    """
    data = required(data, "--data")
    if model is not None and test_data is not None:
        from emotionkd.errors import ConfigError

        raise ConfigError("--model evaluates a checkpoint on --data; --test-data is the "
                          "cross-dataset protocol's test store: give one of them")
    if model is not None:
        _one_checkpoint(model, data, config, allow_train_subjects, as_json)
        return
    _run_protocol(data, out, config, config_file, save_models=save_models, resume=resume,
                  fold=fold, only_seed=only_seed, tensorboard=tensorboard, test_data=test_data)


def _run_protocol(data: Path, out: Path | None, config: ExperimentConfig,
                  config_file: Path | None, *, save_models: bool, resume: bool,
                  fold: int | None, only_seed: int | None, tensorboard: bool = False,
                  test_data: Path | None = None) -> None:
    init_distributed()
    from emotionkd.cli.console import ARGV, console, progress_task
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol
    from emotionkd.evaluation.provenance import command_line
    from emotionkd.evaluation.rundir import default_run_dir
    from emotionkd.store import open_store
    from emotionkd.windows import check_data

    store = open_store(data)
    plan = EvaluationPlan(config, save_models=save_models, tensorboard=tensorboard)
    check_data(store, config.data, plan.targets)
    out = out if out is not None else default_run_dir(data, plan.protocol)
    # fold jobs (a cluster array) write one run folder together: checked, never locked
    check_out(out, True, (data, config_file, test_data), 16 * 2**20, kind="dir", lock=False)
    if is_main():
        tested = f" → {plan.test_data}" if plan.test_data else ""
        console.print(f"evaluation run: [bold]{out}[/] ({plan.protocol}{tested}, targets "
                      f"{', '.join(plan.targets)}; models {', '.join(plan.model_labels())})")
    with progress_task(f"evaluate {plan.protocol}") as cb:
        results = evaluate_protocol(store, plan, out, resume=resume, fold=fold, progress=cb,
                                    only_seed=only_seed, command=command_line(ARGV))
    if results is None:
        return
    render.results_table(results)
    console.print(f"report: {out / 'report.md'}  results: {out / 'results.json'}, "
                  f"{out / 'results.csv'}" + (f"  models: {out / 'models'}" if save_models
                                              else "") + f"  epochs: {out / 'epochs'}"
                  + (f"  TensorBoard: {out / 'tensorboard'}" if tensorboard else ""))
    render.figures(results.figures, out)
    render.exit_if_failed(results, out)


def _one_checkpoint(model: Path, data: Path, config: ExperimentConfig,
                    allow_train_subjects: bool, as_json: bool) -> None:
    """``evaluate --model``: one checkpoint on ``--subjects``."""
    import json

    from emotionkd.cli.console import console
    from emotionkd.evaluation import evaluate_checkpoint
    from emotionkd.validation import parse_subjects

    subjects = parse_subjects(config.evaluate.subjects, "--subjects")
    res = evaluate_checkpoint(model, data, subjects, allow_train_subjects)
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    tr, te = res["trained_on"], res["tested_on"]
    across = (f"; trained on dataset {tr['dataset']}, tested on dataset {te['dataset']}, "
              f"threshold {res['threshold']:g}" if tr["dataset"] != te["dataset"] else "")
    console.print(f"{model} on subjects {res['subjects']} of {data} (target {res['target']}"
                  f"{across})", highlight=False)
    rows = {"all": res["overall"], **{f"subject {s}": m for s, m in res["per_subject"].items()}}
    render.metrics_table("checkpoint", rows)


def report_cmd(
    run: Path = typer.Argument(..., help="Run folder written by 'emotionkd evaluate'."),
) -> None:
    """Merge whatever folds of a run exist into its results, report and figures.

    Writes results.json, results.csv, report.md and the figures it shows (RUN/figures/*.png;
    needs the plots extra).
    """
    from emotionkd.cli.console import console
    from emotionkd.evaluation import build_report

    results = build_report(run)
    render.results_table(results)
    console.print(f"report: {run / 'report.md'}")
    render.figures(results.figures, run)
    render.exit_if_failed(results, run)


def register(app: typer.Typer) -> None:
    """Add the evaluation commands to the command line."""
    exclude = ("model", "method", "train_subjects", "val_subjects", "test_subjects")
    app.command("evaluate")(configured("evaluate", exclude=exclude,
                                       given_from=protocol_given)(evaluate_cmd))
    app.command("report")(report_cmd)
