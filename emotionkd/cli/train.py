"""The training commands: ``train-teacher`` and ``distill``. Each resolves its configuration,
checks its outputs, calls its job (:mod:`emotionkd.jobs`) and prints the result."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from emotionkd.cli import render
from emotionkd.cli.options import (
    CHECKPOINT_BYTES,
    O_DATA,
    O_TENSORBOARD,
    ExperimentConfig,
    check_out,
    configured,
    init_distributed,
    is_main,
    required,
)


def _n_params(model: object) -> int:
    from emotionkd.models.registry import count_parameters

    return count_parameters(model)


def _settings_text(w: dict[str, object]) -> str:
    """A method's loss settings, as the distill command prints them."""
    if {"ce_weight", "kl_weight", "temperature", "hint_weight", "hint_map"} <= set(w):
        return (f"CE {w['ce_weight']:g}, KL {w['kl_weight']:g} at T={w['temperature']:g}, "
                f"hint {w['hint_weight']:g} {w['hint_map']}")
    return ", ".join(f"{k} {v}" for k, v in w.items())


def _logs(out: Path, tensorboard: bool) -> dict[str, object]:
    """The per-epoch CSV beside the checkpoint and, with --tensorboard, its event folder."""
    from emotionkd.epochlog import history_path, require_tensorboard, tensorboard_path

    if tensorboard:
        require_tensorboard()
    return {"history": history_path(out),
            "tensorboard": tensorboard_path(out) if tensorboard else False}


def _logs_follow_the_checkpoint(cmd: Callable[..., None]) -> Callable[..., None]:
    """A training command whose run fails (training, or writing the checkpoint) leaves no
    per-epoch log of its own: the previous run's is put back (docs/outputs.md)."""

    @functools.wraps(cmd)
    def run(**kw: Any) -> None:
        from emotionkd.epochlog import discard_logs, keep_logs

        since = time.time()
        try:
            cmd(**kw)
        except BaseException:
            if kw.get("out") is not None and is_main():
                discard_logs(kw["out"], since)
            raise
        if kw.get("out") is not None and is_main():
            keep_logs(kw["out"])

    return run


def train_teacher_cmd(
    data: Optional[Path] = O_DATA,  # noqa: UP045
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", help="Teacher checkpoint to write, e.g. t.pt (required)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output."),
    tensorboard: bool = O_TENSORBOARD,
    *,
    config: ExperimentConfig,
    config_file: Optional[Path],  # noqa: UP045
) -> None:
    """Train the EEG+GSR teacher; keep its best validation epoch in a checkpoint.

    Validation subjects are held out of the training side (early stopping with --patience).
    Prints
    validation (and, with --test-subjects, test) metrics with the majority-class rate.
    """
    from emotionkd.cli.console import console, progress_task
    from emotionkd.jobs import train_teacher

    data, out = required(data, "--data"), required(out, "--out")
    check_out(out, overwrite, (data, config_file), CHECKPOINT_BYTES)
    logs = _logs(out, tensorboard)
    init_distributed()
    with progress_task(f"train-teacher {config.model.model}", total=config.train.epochs) as cb:
        run = train_teacher(data, config=config, progress=cb, **logs)
    if not is_main():
        return
    run.save(out)
    d, c = run.data, run.config.data
    console.print(f"wrote [bold]{out}[/]: {run.model_name} ({_n_params(run.model):,} parameters)"
                  f", target {c.target}, {d['window_samples'] / d['sampling_rate']:g}-s windows at "
                  f"{d['sampling_rate']:g} Hz, {len(d['eeg_channels'])} EEG channels; "
                  f"train subjects {d['train_subjects']}, validation {d['val_subjects']}")
    fr = run.fit
    console.print(f"{fr.epochs_run} epochs in {fr.seconds:.1f} s on {fr.device}; epoch kept "
                  f"{fr.best_epoch}" + (" (early stop)" if fr.stopped_early else ""))
    render.after_training(run, "teacher", out, f"train-teacher {run.model_name}: {out.name}",
                          overwrite, logs)


def _print_distilled(run: Any, out: Path) -> None:
    """What distill made: the student, its method, what feedback did, the epochs."""
    from emotionkd.checkpoint import feedback_outcome
    from emotionkd.cli.console import console, print_warning

    dc, dist = run.config.distill, run.distillation or {}
    fed = feedback_outcome(dc.feedback, dist.get("feedback_steps"), run.fit.epochs_run,
                           run.config.feedback.feedback_warmup)
    console.print(f"wrote [bold]{out}[/]: {run.model_name} ({_n_params(run.model):,} "
                  f"parameters), method {dc.method} ({_settings_text(dc.params())}), feedback "
                  f"{fed}")
    if fed.startswith("configured"):
        print_warning(f"{out}: feedback {fed}, so the student trained without it; give "
                      "--epochs above --feedback-warmup (or --feedback-warmup 0)")
    fr = run.fit
    console.print(f"{fr.epochs_run} epochs in {fr.seconds:.1f} s on {fr.device}; epoch kept "
                  f"{fr.best_epoch}" + (f"; {dist['feedback_steps']} feedback steps on "
                                        f"{dist['quiz_windows']} quiz windows"
                                        if dist.get("feedback_steps") else ""))


def distill_cmd(
    teacher: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--teacher", help="Teacher checkpoint from train-teacher (required)."),
    data: Optional[Path] = O_DATA,  # noqa: UP045
    out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--out", help="Student checkpoint to write, e.g. s.pt (required)."),
    teacher_out: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--teacher-out", show_default="OUT with .teacher.pt",
        help="Where to save the teacher adapted by feedback."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    tensorboard: bool = O_TENSORBOARD,
    *,
    config: ExperimentConfig,
    config_file: Optional[Path],  # noqa: UP045
) -> None:
    """Distil a GSR-only student from a teacher checkpoint.

    The data specification (rate, window, step, channels, target, threshold, tie rule,
    normalisation) and the subject split come from the teacher; a store that does not match
    is refused. When feedback changed the teacher, the adapted teacher is written too.
    """
    from emotionkd.cli.console import console, progress_task
    from emotionkd.distill.trainer import uses_feedback
    from emotionkd.jobs import distill_student

    teacher, data = required(teacher, "--teacher"), required(data, "--data")
    out = required(out, "--out")
    inputs = (teacher, data, config_file)
    check_out(out, overwrite, inputs, CHECKPOINT_BYTES)
    logs = _logs(out, tensorboard)
    init_distributed()
    t_out = teacher_out or out.with_name(out.stem + ".teacher.pt")
    feedback = uses_feedback(config)
    if feedback:
        from emotionkd.errors import ConfigError
        from emotionkd.outputs import same_file

        if same_file(t_out, out):
            raise ConfigError(f"{t_out}: --teacher-out is the same file as --out; give it "
                              "another name")
        check_out(t_out, overwrite, inputs, CHECKPOINT_BYTES, option="--teacher-out")
    label = f"distill {config.distill.method}" + (" + feedback" if feedback else "")
    with progress_task(label, total=config.train.epochs) as cb:
        run = distill_student(teacher, data, config=config, progress=cb, **logs)
    if not is_main():
        return
    run.save(out)
    _print_distilled(run, out)
    if run.adapted_teacher is not None:
        run.adapted_teacher.save(t_out)
        console.print(f"wrote the teacher adapted by feedback to [bold]{t_out}[/]")
    render.after_training(run, "student", out, f"{label}: {out.name}", overwrite, logs)


def register(app: typer.Typer) -> None:
    """Add the training commands to the command line."""
    app.command("train-teacher")(configured("train-teacher")(
        _logs_follow_the_checkpoint(train_teacher_cmd)))
    app.command("distill")(configured("distill")(_logs_follow_the_checkpoint(distill_cmd)))
