"""The Python API end to end: synthetic data → store → windows → teacher → distilled student
→ evaluation on held-out subjects → export.

    python examples/api_walkthrough.py [--out DIR] [--quick]

Everything the command line does is available as library calls; this script shows the
pieces a researcher combines when extending emotionkd (e.g. a new loss or model).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path


def main(out: Path, quick: bool) -> None:
    from emotionkd.checkpoint import TrainedModel, data_section, training_section
    from emotionkd.config import (
        DataConfig,
        DistillConfig,
        ExperimentConfig,
        FeedbackConfig,
        ModelConfig,
        TrainConfig,
    )
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.distill.trainer import fit_student
    from emotionkd.export import export_model
    from emotionkd.metrics import class_balance
    from emotionkd.models import count_parameters
    from emotionkd.preprocess import preprocess_deap
    from emotionkd.splits import holdout_trials
    from emotionkd.store import open_store
    from emotionkd.training import fit_model, score_model
    from emotionkd.windows import WindowDataset

    n_subj, n_trials, secs, epochs = (4, 4, 12, 1) if quick else (6, 12, 30, 12)
    # 1. data in DEAP's raw layout, then the HDF5 store
    raw = out / "raw"
    write_deap(raw, n_subjects=n_subj, n_trials=n_trials, seconds=secs, seed=0, overwrite=True)
    preprocess_deap(raw, out / "deap.h5", eeg_channels="tsception28", overwrite=True)
    store = open_store(out / "deap.h5")
    print(f"store: {store.n_trials} trials of subjects {store.subjects}, "
          f"{len(store.eeg_channels)} EEG channels at {store.sampling_rate:g} Hz")

    # 2. windows with labels (arousal > 5) and per-subject normalisation, as the [data]
    #    table of a configuration says; a subject split
    config = ExperimentConfig(
        data=DataConfig(window=4, step=4, target="arousal"),
        model=ModelConfig(architecture={"d_model": 16, "n_heads": 2, "head_dim": 8,
                                        "n_blocks": 2, "ff_dim": 16, "classifier_dim": 32}),
        train=TrainConfig(epochs=epochs, batch_size=32, lr=1e-3, patience=4, seed=0),
        distill=DistillConfig(method="emotionkd", feedback=True),
        feedback=FeedbackConfig(pilot_lr=0.05, teacher_lr=1e-4, feedback_warmup=0))
    ds = WindowDataset(store, config.data)
    train_s, val_s, test_s = store.subjects[:-2], store.subjects[-2:-1], store.subjects[-1:]
    train, val, test = (ds.select_subjects(s) for s in (train_s, val_s, test_s))
    config = config.for_data(len(train))  # size "auto" -> tiny for this little data
    print(f"windows: train {len(train)}, validation {len(val)}, test {len(test)}; test class "
          f"balance {class_balance(test.labels)}")

    # 3. the teacher (EEG + GSR); a small size for a quick run
    teacher, cfg, res = fit_model("emotionnet-teacher", train, val, config.train,
                                  config.model.overrides())
    print(f"teacher: {count_parameters(teacher):,} parameters, best epoch {res.best_epoch}, "
          f"test balanced accuracy {score_model(teacher, test)['balanced_accuracy']:.3f}")

    # 4. distil a GSR-only student with the EmotionKD loss and adaptive feedback; the quiz
    #    set is held-out trials of the training subjects
    keep, quiz = holdout_trials(train.trial_keys(), 0.2, seed=0)
    dres = fit_student(teacher, cfg, train.subset(keep.nonzero()[0]), val, config,
                       quiz=train.subset(quiz.nonzero()[0]))
    student = dres.student
    m = score_model(student, test)
    print(f"student: {count_parameters(student):,} parameters, {dres.feedback_steps} feedback "
          f"steps, test balanced accuracy {m['balanced_accuracy']:.3f} "
          f"(majority baseline {m['majority_baseline']:.3f})")

    # 5. save a checkpoint and export it to ONNX with a parity check
    run = TrainedModel("student", "emotionnet-student", student, cfg, config, "distill",
                       dres.fit, data_section(ds, train_s, val_s, test_s),
                       training_section(dres.fit, example=True))
    ck = run.save(out / "student.pt")
    rep = export_model(ck, "onnx", out / "student.onnx", overwrite=True)
    print(f"exported {rep.path} (max |diff| vs PyTorch {rep.max_abs_diff:.1e})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--quick", action="store_true", help="tiny data and one epoch")
    args = ap.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp), args.quick)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        main(args.out, args.quick)
