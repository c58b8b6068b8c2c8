"""Classical yardsticks: hand-made features and a logistic regression (scikit-learn).

* ``eeg-features`` — log band power of every EEG channel (theta, alpha, beta, gamma; Welch),
  plus the skin-conductance features below: the teacher's yardstick (it sees what the teacher
  sees).
* ``eeg-de`` — the same with the differential entropy of each band instead of its power (the
  usual DE features of SEED/DEAP papers).
* ``gsr-features`` — the skin-conductance features alone (tonic level and slope, SCR count,
  mean and largest amplitude): the GSR-only student's yardstick.
* ``gsr-neurokit`` — skin-conductance features from NeuroKit2's EDA pipeline (the ``neurokit``
  extra; :mod:`emotionkd.neurokit_features`): the GSR yardstick as the field computes it.

Features are computed from exactly the windows the deep models get (same normalisation), then
standardised with training-side statistics; the regularisation strength C is chosen from a
small grid by balanced accuracy on the validation windows (the data the deep models early-stop
on) and the model is fitted on the training windows only, so every model of a fold learns
from the same labelled data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from emotionkd.errors import ConfigError
from emotionkd.features import BANDS, EEG_METHODS, GSR_FEATURES, eeg_band_power, gsr_features
from emotionkd.models.registry import entry, model_names
from emotionkd.neurokit_features import PHASIC_METHODS
from emotionkd.validation import check_choice

#: what each classical baseline computes: its EEG features (``None``: FeatureModelConfig's
#: eeg_method; EEG only where the registry entry needs it) and its GSR features
FEATURE_SETS: dict[str, tuple[str | None, str]] = {
    "eeg-features": (None, "builtin"), "eeg-de": ("de", "builtin"),
    "gsr-features": (None, "builtin"), "gsr-neurokit": (None, "neurokit"),
}


def _uses_eeg(name: str) -> bool:
    """Whether classical baseline ``name`` reads the EEG (its registry entry says so)."""
    known = model_names("classical")
    if name not in known:
        raise ConfigError(f"unknown classical baseline {name!r}; choose from {', '.join(known)}")
    return "eeg" in entry(name).needs


@dataclass
class FeatureModelConfig:
    """Settings of a feature + logistic-regression baseline."""

    eeg_method: str = "welch"  # eeg-features: welch (log band power) | de (differential entropy)
    neurokit_phasic: str = "highpass"  # gsr-neurokit: NeuroKit's eda_phasic method
    c_grid: list[float] = field(default_factory=lambda: [0.001, 0.01, 0.1, 1.0, 10.0])
    scr_threshold: float = 0.05  # smallest SCR rise, in the windows' units
    class_weight: str = "balanced"  # balanced | none
    batch: int = 1024  # windows per feature-extraction chunk (memory bound)

    def __post_init__(self) -> None:
        check_choice(self.eeg_method, "eeg_method", EEG_METHODS)
        check_choice(self.neurokit_phasic, "neurokit_phasic", PHASIC_METHODS)
        if not self.c_grid or any(not (isinstance(c, (int, float)) and c > 0 and
                                       math.isfinite(c)) for c in self.c_grid):
            raise ConfigError(f"c_grid must hold positive numbers, got {self.c_grid!r}")
        if self.class_weight not in ("balanced", "none"):
            raise ConfigError(f"class_weight must be balanced or none, not "
                              f"{self.class_weight!r}")


def require_baselines(names: list[str]) -> None:
    """Refuse, before any work, classical baselines whose optional package is missing (a
    one-line DependencyError with the install command)."""
    if any(FEATURE_SETS.get(n, (None, ""))[1] == "neurokit" for n in names):
        from emotionkd.neurokit_features import require_neurokit

        require_neurokit()


def _gsr_block(kind: str, gsr: np.ndarray, fs: float, cfg: FeatureModelConfig) -> np.ndarray:
    if kind == "neurokit":
        from emotionkd.neurokit_features import gsr_neurokit_features

        return gsr_neurokit_features(gsr, fs, cfg.neurokit_phasic)
    return gsr_features(gsr, fs, cfg.scr_threshold)


def _gsr_width(kind: str) -> int:
    if kind == "neurokit":
        from emotionkd.neurokit_features import NEUROKIT_FEATURES

        return len(NEUROKIT_FEATURES)
    return len(GSR_FEATURES)


def window_features(name: str, ds: Any, cfg: FeatureModelConfig) -> np.ndarray:
    """Feature matrix (windows, features) of baseline ``name`` for a
    :class:`~emotionkd.windows.WindowDataset`, extracted in chunks of ``cfg.batch`` windows."""
    use_eeg = _uses_eeg(name)
    eeg_method, gsr_kind = FEATURE_SETS[name]
    if use_eeg and not ds.has_eeg:
        raise ConfigError(f"{name} needs EEG but the data were loaded without it")
    blocks = []
    for a in range(0, len(ds), cfg.batch):
        eeg, gsr, _ = ds.batch(np.arange(a, min(a + cfg.batch, len(ds))), eeg=use_eeg)
        cols = [_gsr_block(gsr_kind, gsr.numpy(), ds.fs, cfg)]
        if use_eeg:
            cols.insert(0, eeg_band_power(eeg.numpy(), ds.fs, eeg_method or cfg.eeg_method))
        blocks.append(np.hstack(cols))
    width = (len(BANDS) * ds.n_eeg if use_eeg else 0) + _gsr_width(gsr_kind)
    return np.vstack(blocks) if blocks else np.zeros((0, width))


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the columns of ``x``; constant columns get scale 1."""
    sd = x.std(axis=0)
    return x.mean(axis=0), np.where(sd > 1e-12, sd, 1.0)


def choose_logreg(xs: np.ndarray, y: np.ndarray, xv: np.ndarray | None, yv: Any,
                  c_grid: list[float], class_weight: str = "balanced",
                  sample_weight: np.ndarray | None = None) -> tuple[Any, float, float]:
    """Logistic regressions on standardised ``xs`` (rows weighted by ``sample_weight``) over
    ``c_grid``; the one with the best balanced accuracy on ``(xv, yv)`` (the largest C of
    ties; the middle of the grid without validation windows). Returns (model, C, validation
    balanced accuracy or NaN)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    weight = "balanced" if class_weight == "balanced" else None
    grid = sorted(float(c) for c in c_grid)
    if xv is None:
        c = grid[len(grid) // 2]
        return LogisticRegression(C=c, class_weight=weight, max_iter=5000).fit(
            xs, y, sample_weight=sample_weight), c, math.nan
    fitted, scores = {}, {}
    for c in grid:
        fitted[c] = LogisticRegression(C=c, class_weight=weight, max_iter=5000).fit(
            xs, y, sample_weight=sample_weight)
        scores[c] = float(balanced_accuracy_score(yv, fitted[c].predict(xv)))
    best = max(scores, key=lambda c: (scores[c], c))
    return fitted[best], best, scores[best]


class FeatureLogReg:
    """A classical baseline of one fold: features → standardisation → logistic regression."""

    def __init__(self, name: str, config: FeatureModelConfig | None = None) -> None:
        _uses_eeg(name)  # a known classical baseline
        self.name = name
        self.config = config or FeatureModelConfig()
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.model: Any = None
        self.info: dict[str, Any] = {}

    def fit(self, train: Any, val: Any | None = None) -> dict[str, Any]:
        """Fit on ``train``; choose C by balanced accuracy on ``val`` (largest C of the grid's
        ties; the middle of the grid without validation windows). Returns what was chosen."""
        cfg = self.config
        x, y = window_features(self.name, train, cfg), np.asarray(train.labels)
        if len(np.unique(y)) < 2:
            raise ConfigError(f"{self.name}: the training windows hold a single class")
        self.mean, self.scale = standardiser(x)
        xs = (x - self.mean) / self.scale
        have_val = val is not None and len(val) > 0
        xv = (window_features(self.name, val, cfg) - self.mean) / self.scale if have_val \
            else None
        self.model, best_c, score = choose_logreg(xs, y, xv, val.labels if have_val else None,
                                                  cfg.c_grid, cfg.class_weight)
        self.info = {"C": best_c, "val_balanced_accuracy": score,
                     "features": int(x.shape[1]), "train_windows": int(len(y))}
        return self.info

    def predict_proba(self, ds: Any) -> np.ndarray:
        """(windows, 2) class probabilities."""
        if self.model is None:
            raise RuntimeError("fit the baseline first")
        x = (window_features(self.name, ds, self.config) - self.mean) / self.scale
        return self.model.predict_proba(x)

    def state(self) -> dict[str, Any]:
        """Everything that reproduces the fitted model, as plain data (saved as JSON)."""
        return {"name": self.name, "config": asdict(self.config), "info": self.info,
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.model.coef_.tolist(), "intercept": self.model.intercept_.tolist()}
