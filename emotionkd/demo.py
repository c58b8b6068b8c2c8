"""The one-command demo: synthetic DEAP-layout data → store → a small subject-wise evaluation
of the teacher, the EmotionKD student with and without feedback, the student alone and the
yardsticks → report, figures (``run/figures/``, with the plots extra) and models.

Everything is reduced so that it finishes in under three minutes on two CPU cores
(``benchmarks/demo_time.py`` measures it); :data:`REDUCTIONS` lists what was reduced, which
the command prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.config import ExperimentConfig
    from emotionkd.evaluation import RunSummary

#: the demo setting next to the paper's (what was reduced, printed by the command)
DEMO: dict[str, Any] = {
    "subjects": 8, "trials": 12, "seconds": 30.0, "window": 4.0, "size": "tiny",
    "epochs": 12, "patience": 0, "batch_size": 32, "lr": 1e-3, "folds": 4,
}
#: (setting, what the full-size job uses)
REDUCTIONS = [
    ("subjects", "32 in DEAP"),
    ("trials", "40 per subject in DEAP"),
    ("seconds", "60 s of video per DEAP trial"),
    ("folds", "one per subject (leave-one-subject-out), 32 in DEAP"),
    ("epochs", "20 (the default; the paper's setting: up to 40)"),
    ("size", "paper: d_model 64, 8 heads × 64, 3 blocks"),
    ("batch_size", "64 (the default)"),
    ("lr", "1e-4 (the default; the tiny models learn faster at 1e-3)"),
]
#: the demo's protocol and epochs before it was shrunk to three minutes (leave-one-subject-out,
#: 20 epochs): what studies/ at ``--scale demo`` run, so that docs/studies.md's tables stay
#: reproducible (``demo_config(**STUDY_PROTOCOL)``)
STUDY_PROTOCOL: dict[str, Any] = {"protocol": "loso", "k": 0, "epochs": 20}
#: an even smaller setting for the test suite
QUICK: dict[str, Any] = {
    "subjects": 3, "trials": 4, "seconds": 8.0, "window": 2.0, "size": "tiny",
    "epochs": 1, "patience": 0, "batch_size": 16, "lr": 1e-3, "folds": 3,
}
#: the demo's evaluation settings beyond the reductions: subject-wise k-fold (every subject
#: tested once, by a model that never saw it), EmotionKD with feedback and the student alone,
#: with a livelier feedback (larger pilot and teacher steps) for so few epochs
EVALUATE: dict[str, Any] = {
    "protocol": "kfold", "target": "arousal", "methods": "emotionkd,none", "feedback": True,
    "pilot_lr": 0.05, "teacher_lr": 1e-4, "feedback_warmup": 1,
    # the headroom's ceiling student costs about 17 s (192.5 vs 175.7 s wall, quiet 2 cores)
    # and the demo's world has no headroom to show (docs/method.md, "Headroom")
    "headroom": False,
}


@dataclass
class DemoResult:
    out: Path
    store: Path
    run: Path
    results: RunSummary
    seconds: float
    setting: dict[str, Any] = field(default_factory=dict)

    @property
    def figures(self) -> list[Path]:
        """The report's figures (none without matplotlib)."""
        return [self.run / f for f in (self.results.figures.files if self.results.figures
                                        else [])]


def demo_bytes(setting: dict[str, Any]) -> int:
    """About what the demo writes: the raw float64 DEAP layout (40 rows, 3 s of baseline), a
    store of ~40 % of it, and the run folder with its small models."""
    raw = setting["subjects"] * setting["trials"] * (setting["seconds"] + 3) * 128 * 40 * 8
    return int(1.5 * raw) + 32 * 2**20


def demo_config(quick: bool = False, seed: int = 0, **overrides: Any) -> ExperimentConfig:
    """The demo's evaluation as a configuration (``emotionkd demo --print-config`` prints it;
    ``emotionkd evaluate --config`` runs it on any store); ``overrides`` replace settings."""
    from emotionkd.config import resolve_config

    setting = QUICK if quick else DEMO
    given = {k: setting[k] for k in ("window", "size", "epochs", "patience", "batch_size", "lr")}
    return resolve_config("evaluate", {**given, **EVALUATE, "step": setting["window"],
                                       "k": setting["folds"], "seed": seed, **overrides})


def run_demo(out: str | os.PathLike = "emotionkd-demo", quick: bool = False,
             overwrite: bool = False, seed: int = 0,
             progress: Callable[..., None] | None = None,
             stage: Callable[[str], None] | None = None) -> DemoResult:
    """Run the demo into ``out`` (raw data, store, run folder with report and models)."""
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.errors import ConfigError
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol
    from emotionkd.outputs import check_free_space, check_output, make_folder
    from emotionkd.preprocess import preprocess_deap

    setting = dict(QUICK if quick else DEMO)
    plan = EvaluationPlan(demo_config(quick, seed), save_models=True)  # checked before writing
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder; choose another --out")
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ConfigError(f"{root}: exists and is not empty; pass --overwrite or another --out")
    check_output(root, overwrite=True, kind="dir")
    check_free_space(root / "x", demo_bytes(setting))
    make_folder(root)
    t0 = time.perf_counter()
    say = stage or (lambda _msg: None)
    say(f"writing {setting['subjects']} synthetic subjects in DEAP's layout")
    raw = root / "data_preprocessed_python"
    write_deap(raw, n_subjects=setting["subjects"], n_trials=setting["trials"],
               seconds=setting["seconds"], seed=seed, overwrite=True)
    say("preprocessing them into an HDF5 store")
    store = root / "deap_synthetic.h5"
    preprocess_deap(raw, store, overwrite=True)
    run_dir = root / "run"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    plan = EvaluationPlan(demo_config(quick, seed), save_models=True)
    say(f"subject-wise evaluation: {setting['folds']} folds of the {setting['subjects']} "
        "subjects, each tested by models trained on the others × (teacher, EmotionKD student "
        "with and without feedback, student alone, and the yardsticks: logistic regression on "
        "EEG band power + GSR features, on GSR features, Shallow ConvNet)")
    results = evaluate_protocol(store, plan, run_dir, progress=progress)
    return DemoResult(root, store, run_dir, results, time.perf_counter() - t0, setting)
