"""What the student imitates, made better than a teacher's fit of its own training labels.

* **Cross-fitted targets** (:func:`crossfit_logits`): the training windows' trials are split
  into K parts (each subject's trials spread over the parts); a teacher trained on the other
  K − 1 parts gives each part's soft labels. No window's target comes from a teacher that saw
  its (noisy) rating, so the targets carry what the teacher generalises, not what it memorised.
* **Temperature calibration** (:func:`fit_temperature`): one temperature T_cal dividing the
  teacher's logits, the minimiser of the NLL of the teacher's predictions on the validation
  subjects (Guo et al. 2017), so that the soft labels' confidence matches how often the teacher
  is right on data it did not train on.

Both are settings of ``[distill]`` (``teacher_targets``, ``crossfit_folds``,
``calibrate_teacher``); :func:`emotionkd.distill.trainer.fit_student` applies them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from emotionkd.config import TrainConfig
from emotionkd.errors import ConfigError
from emotionkd.windows import WindowDataset


def trial_parts(trial_keys: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A part number 0..k-1 per window: whole trials, each subject's trials shuffled and dealt
    round-robin over the parts (so every part holds about 1/k of every subject)."""
    keys = np.asarray(trial_keys, dtype=np.int64)
    uniq = np.unique(keys)
    if len(uniq) < k:
        raise ConfigError(f"--crossfit-folds {k}: the training side has only {len(uniq)} "
                          "trials; use fewer folds")
    rng = np.random.default_rng(seed)
    part_of: dict[int, int] = {}
    offset = 0
    for s in np.unique(uniq // 100000):
        own = rng.permutation(uniq[uniq // 100000 == s])
        for i, key in enumerate(own):
            part_of[int(key)] = (i + offset) % k
        offset += len(own)  # the next subject starts where this one stopped
    return np.array([part_of[int(x)] for x in keys], dtype=np.int64)


def crossfit_logits(teacher: str, train: WindowDataset, val: WindowDataset | None,
                    cfg: TrainConfig, architecture: dict[str, Any] | None, k: int,
                    seed: int) -> torch.Tensor:
    """Out-of-fold teacher logits (n_train, 2): each window's from the teacher (registry model
    ``teacher``, trained as ``fit_model`` trains it, early-stopped on ``val``) that was trained
    on the other parts of :func:`trial_parts`. The logits are log-probabilities (a softmax of
    them gives the teacher's probabilities back)."""
    from emotionkd.training import fit_model, predict_proba

    parts = trial_parts(train.trial_keys(), k, seed)
    out = np.zeros((len(train), 2), dtype=np.float32)
    for j in range(k):
        held = np.flatnonzero(parts == j)
        model, _, _ = fit_model(teacher, train.subset(np.flatnonzero(parts != j)), val, cfg,
                                architecture, seed=seed + 101 * (j + 1))
        prob = predict_proba(model, train.subset(held), batch_size=cfg.eval_batch_size)
        out[held] = np.log(np.clip(prob, 1e-7, 1.0))
    return torch.from_numpy(out)


@torch.no_grad()
def model_logits(model: nn.Module, ds: WindowDataset, batch_size: int = 512) -> torch.Tensor:
    """A teacher's (eval-mode) logits on every window of ``ds``, on the CPU."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for a in range(0, len(ds), batch_size):
        eeg, gsr, _ = ds.batch(np.arange(a, min(a + batch_size, len(ds))))
        z, _ = model(eeg.to(dev), gsr.to(dev))
        out.append(z.float().cpu())
    model.train(was)
    return torch.cat(out) if out else torch.zeros((0, 2))


#: the temperatures :func:`fit_temperature` searches (log-spaced, 0.05 … 20)
TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.05), np.log(20.0), 241))


def fit_temperature(logits: torch.Tensor, labels: np.ndarray) -> float:
    """The temperature T (from :data:`TEMPERATURE_GRID`) minimising the mean NLL of
    softmax(logits / T) on ``labels``; 1 when there is nothing to fit on."""
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(y) == 0:
        return 1.0
    z = logits.double()
    best, best_t = float("inf"), 1.0
    for t in TEMPERATURE_GRID:
        nll = float(torch.nn.functional.cross_entropy(z / float(t), y))
        if nll < best - 1e-12:
            best, best_t = nll, float(t)
    return best_t
