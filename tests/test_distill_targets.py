"""Cross-fitted teacher targets and temperature calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emotionkd.config import TrainConfig
from emotionkd.distill.targets import crossfit_logits, fit_temperature, trial_parts
from emotionkd.errors import ConfigError


def test_trial_parts_keep_trials_whole_and_spread_each_subject():
    keys = np.repeat([100001, 100002, 100003, 100004, 200001, 200002, 200003, 200004], 3)
    parts = trial_parts(keys, 2, seed=0)
    for key in np.unique(keys):
        assert len(set(parts[keys == key])) == 1  # a trial is in one part
    for subject in (1, 2):
        own = parts[keys // 100000 == subject]
        assert sorted(np.unique(own)) == [0, 1]  # every subject in both parts
        assert np.sum(own == 0) == np.sum(own == 1)
    assert trial_parts(keys, 2, seed=0).tolist() == parts.tolist()  # deterministic
    with pytest.raises(ConfigError, match="--crossfit-folds 9: the training side has only 8 "
                                          "trials"):
        trial_parts(keys, 9, seed=0)


def test_fit_temperature_recovers_the_temperature_of_the_labels():
    # logit difference 2 for every window and 731 of 1000 high: sigmoid(2 / T) = 0.731 at
    # T = 2 / logit(0.731) ≈ 2.0
    logits = torch.tensor([[0.0, 2.0]]).repeat(1000, 1)
    labels = np.r_[np.ones(731), np.zeros(269)].astype(int)
    want = 2 / math.log(0.731 / 0.269)
    assert fit_temperature(logits, labels) == pytest.approx(want, rel=0.03)
    # over-cautious logits get a temperature below 1
    assert fit_temperature(torch.tensor([[0.0, 0.2]]).repeat(100, 1),
                           np.r_[np.ones(95), np.zeros(5)].astype(int)) < 1
    assert fit_temperature(torch.zeros(0, 2), np.zeros(0, dtype=int)) == 1.0


def test_crossfit_logits_come_from_teachers_that_did_not_see_the_window(deap_store,
                                                                      monkeypatch):
    from emotionkd import training
    from emotionkd.config import DataConfig
    from emotionkd.windows import WindowDataset

    ds = WindowDataset(deap_store, DataConfig(window=2.0, step=2.0), load_eeg=True)
    seen: list[set] = []
    real_fit = training.fit_model

    def spy(name, train, val, cfg, architecture=None, seed=None, progress=None):
        seen.append(set(train.trial_keys().tolist()))
        return real_fit(name, train, val, cfg, architecture, seed)

    monkeypatch.setattr(training, "fit_model", spy)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=1e-3)
    tiny = {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 2, "ff_dim": 16,
            "classifier_dim": 16}
    out = crossfit_logits("emotionnet-teacher", ds, None, cfg, tiny, 3, seed=0)
    assert out.shape == (len(ds), 2) and len(seen) == 3
    parts = trial_parts(ds.trial_keys(), 3, seed=0)
    for j, trained in enumerate(seen):
        held = set(ds.trial_keys()[parts == j].tolist())
        assert not held & trained  # the part predicted was not trained on
    prob = torch.softmax(out, dim=1)
    assert torch.allclose(prob.sum(dim=1), torch.ones(len(ds)), atol=1e-5)
