"""Across datasets (emotionkd.evaluation.cross and its use by evaluate): subjects told apart by
dataset, the EEG channels two stores share, which preprocessing differences are refused, and
the cross-dataset protocol on two synthetic stores from different generators (DEAP's and
HCI's)."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli as _cli

from emotionkd.errors import ConfigError
from emotionkd.evaluation.cross import (
    CONDITIONED,
    check_preprocessing,
    common_channels,
    eeg_conditioning,
    same_dataset,
)
from emotionkd.store import open_store

DEAP = {"reader": "deap-dat", "baseline": "subtract", "baseline_s": 3.0, "sampling_rate": 128.0,
        "raw_sampling_rate": 128.0, "eeg_filter": "none", "gsr_unit_option": "auto"}
HCI = {"reader": "hci-sessions", "baseline": "subtract", "baseline_s": 30.0,
       "sampling_rate": 128.0, "raw_sampling_rate": 256.0, "eeg_filter": "deap",
       "gsr_unit_option": "us"}


def _check(b: dict, uses_eeg: bool = True, norm: str = "subject", a: dict = DEAP) -> None:
    check_preprocessing(a, b, what_a="deap.h5", what_b="other.h5", uses_eeg=uses_eeg, norm=norm)


def test_differences_that_do_not_change_the_windows_are_allowed():
    # reader, raw rate, how the unit was decided; the baseline length without subtraction
    _check({**HCI, "baseline_s": 3.0})
    _check({**HCI, "baseline": "none"}, a={**DEAP, "baseline": "none"}, norm="train")
    assert eeg_conditioning(DEAP) == eeg_conditioning(HCI) == CONDITIONED
    assert eeg_conditioning({"reader": "amigos-preprocessed", "eeg_filter": "none"}) == \
        CONDITIONED
    # keep and none both leave the stimulus part as recorded
    _check({**HCI, "baseline": "keep"}, a={**DEAP, "baseline": "none"})


@pytest.mark.parametrize("change, norm, uses_eeg, setting", [
    ({"sampling_rate": 256.0}, "subject", False, "--fs 128"),
    ({"baseline": "none"}, "subject", False, "--baseline subtract"),
    ({}, "subject", False, "baseline length is 30 s"),
    ({}, "train", True, "--baseline none"),
    ({"eeg_filter": "none", "baseline_s": 3.0}, "subject", True, "--eeg-filter deap"),
])
def test_differences_that_matter_are_refused_naming_the_setting(change, norm, uses_eeg,
                                                                setting):
    with pytest.raises(ConfigError, match="other.h5") as err:
        _check({**HCI, **change}, uses_eeg=uses_eeg, norm=norm)
    assert setting in str(err.value)


def test_eeg_conditioning_does_not_matter_to_a_gsr_model():
    _check({**HCI, "eeg_filter": "none", "baseline_s": 3.0}, uses_eeg=False)


def test_why_the_baseline_length_is_refused_and_none_is_not(tmp_path):
    """The same trials with a 30-s or a 3-s baseline: subtracted, the per-subject-normalised
    GSR windows differ (a drifting tonic level makes the two baseline means differ per
    trial); dropped (--baseline none), they are identical."""
    import numpy as np

    from emotionkd.config import DataConfig
    from emotionkd.ingest import write_store
    from emotionkd.windows import WindowDataset

    rng = np.random.default_rng(1)
    fs, n = 16.0, 8
    tonic = [np.cumsum(rng.normal(0, 0.02, int(fs * 50))) + 5 for _ in range(n)]
    windows = {}
    for mode in ("subtract", "none"):
        for base in (30.0, 3.0):
            parts = [g[int((30 - base) * fs):] for g in tonic]  # 20-s stimulus after it
            rep = write_store(tmp_path / f"{mode}-{base:g}.h5", gsr=parts, fs=fs,
                              gsr_unit="us", baseline_s=base, baseline=mode,
                              ratings={"arousal": [2, 8] * (n // 2)},
                              rating_scales={"arousal": (1, 9)}, subjects=[1] * n,
                              target_fs=None)
            ds = WindowDataset(rep.out, DataConfig(window=4, step=4), load_eeg=False)
            windows[mode, base] = ds.batch(np.arange(len(ds)), eeg=False)[1].numpy()
    np.testing.assert_array_equal(windows["none", 30.0], windows["none", 3.0])
    assert np.abs(windows["subtract", 30.0] - windows["subtract", 3.0]).mean() > 0.1


def test_subjects_are_told_apart_by_dataset():
    assert same_dataset("deap", "deap") and not same_dataset("deap", "hci")
    assert not same_dataset("own", "mylab")


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """A DEAP-layout store (4 subjects) and an HCI-layout store (2 subjects), each from its
    own generator and preprocessed by its own reader."""
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.datasets.synthetic_hci import write_hci
    from emotionkd.preprocess import preprocess_deap, preprocess_hci

    pytest.importorskip("mne")
    root = tmp_path_factory.mktemp("cross")
    write_deap(root / "deap", n_subjects=4, n_trials=6, seconds=12.0, seed=5)
    write_hci(root / "hci", n_subjects=2, n_trials=4, seed=6, stimulus_s=(12.0, 16.0),
              neutral_s=(3.0, 4.0))
    # DEAP's baseline is 3 s, HCI's 30 s: dropped, their length does not matter
    preprocess_deap(root / "deap", root / "deap.h5", baseline="none")
    preprocess_hci(root / "hci", root / "hci.h5", baseline="none")
    preprocess_hci(root / "hci", root / "hci-subtract.h5")
    return root


def test_common_channels_amigos_within_deap(two_datasets, tmp_path):
    from emotionkd.datasets.amigos import AMIGOS_EEG_CHANNELS
    from emotionkd.datasets.synthetic_amigos import write_amigos
    from emotionkd.ingest import preprocess_amigos

    write_amigos(tmp_path / "am", n_subjects=1, short_s=(6, 7), long_s=(6, 7))
    am = open_store(preprocess_amigos(tmp_path / "am", tmp_path / "am.h5").out)
    deap = open_store(two_datasets / "deap.h5")
    assert common_channels(deap, am, "store") == list(AMIGOS_EEG_CHANNELS)
    assert common_channels(deap, am, "F3,O2") == ["F3", "O2"]
    with pytest.raises(Exception, match="Fz"):
        common_channels(deap, am, "F3,Fz")


def test_cross_dataset_protocol_deap_to_hci(two_datasets, capsys):
    root = two_datasets
    run = root / "run"
    code, cap = _cli(["evaluate", "--data", str(root / "deap.h5"), "--test-data",
                      str(root / "hci.h5"), "--epochs", "1", "--size", "tiny",
                      "--methods", "none", "--baselines", "gsr-features", "--out", str(run)],
                     capsys)
    assert code == 0, cap.err
    meta = json.loads((run / "run.json").read_text())
    sides = meta["cross_dataset"]
    assert (sides["train"]["dataset"], sides["test"]["dataset"]) == ("deap", "hci")
    assert sides["train"]["subjects"] == [1, 2, 3, 4] and sides["test"]["subjects"] == [1, 2]
    assert meta["folds"]["0"][0]["test_subjects"] == [1, 2]
    fold = json.loads(next((run / "folds").rglob("fold-000.json")).read_text())
    hci = open_store(root / "hci.h5")
    # every test window comes from the HCI store: its count is that store's
    from emotionkd.config import DataConfig
    from emotionkd.windows import WindowDataset

    n_hci = len(WindowDataset(hci, DataConfig(), load_eeg=False))
    assert fold["windows"]["test"] == n_hci and fold["threshold"] == 5.0
    assert "error" not in fold["models"]["baseline-gsr-features"]
    report = (run / "report.md").read_text()
    assert "training side: dataset **deap**" in report and "test side: dataset **hci**" in report
    # norm "train": the test store is scaled with the training side's statistics
    code, cap = _cli(["evaluate", "--data", str(root / "deap.h5"), "--test-data",
                      str(root / "hci.h5"), "--epochs", "1", "--size", "tiny", "--norm",
                      "train", "--methods", "none", "--baselines", "none", "--out",
                      str(root / "run-train")], capsys)
    assert code == 0, cap.err
    fold = json.loads(next((root / "run-train" / "folds").rglob("fold-000.json")).read_text())
    assert all("error" not in m for m in fold["models"].values()), fold["models"]
    # a test store of the training store's dataset is refused before any work
    code, cap = _cli(["evaluate", "--data", str(root / "deap.h5"), "--test-data",
                      str(root / "deap.h5"), "--out", str(root / "run2")], capsys)
    assert code == 1 and "holds dataset 'deap'" in cap.err and not (root / "run2").exists()
    # with the baseline subtracted on one side only: refused, the setting named
    code, cap = _cli(["evaluate", "--data", str(root / "deap.h5"), "--test-data",
                      str(root / "hci-subtract.h5"), "--out", str(root / "run3")], capsys)
    assert code == 1 and "--baseline none" in cap.err and not (root / "run3").exists()
    code, cap = _cli(["evaluate", "--data", str(root / "deap.h5"), "--test-data",
                      str(root / "hci.h5"), "--loso"], capsys)
    assert code == 1 and "choose one protocol" in cap.err


def test_checkpoint_on_another_dataset(two_datasets, tmp_path, capsys):
    root = two_datasets
    s = tmp_path / "s.pt"
    code, cap = _cli(["train-teacher", "--data", str(root / "deap.h5"), "--epochs", "1",
                      "--size", "tiny", "--out", str(tmp_path / "t.pt")], capsys)
    assert code == 0, cap.err
    code, cap = _cli(["distill", "--teacher", str(tmp_path / "t.pt"), "--data",
                      str(root / "deap.h5"), "--epochs", "1", "--out", str(s)], capsys)
    assert code == 0, cap.err
    # DEAP's subjects 1 and 2 trained it; HCI's subjects 1 and 2 are other people
    code, cap = _cli(["evaluate", "--model", str(s), "--data", str(root / "hci.h5"),
                      "--subjects", "1,2", "--json"], capsys)
    assert code == 0, cap.err
    res = json.loads(cap.out)
    assert res["used_training_subjects"] == [] and res["subjects"] == [1, 2]
    assert res["trained_on"]["dataset"] == "deap" and res["tested_on"]["dataset"] == "hci"
    # a GSR-only store of your own, rated 1-5: the student reads it, the threshold moves
    # from 5 on 1-9 to 3 on 1-5
    import numpy as np

    from emotionkd.ingest import write_store

    rng = np.random.default_rng(3)
    own = write_store(tmp_path / "own.h5", gsr=[3 + 0.05 * rng.standard_normal(128 * 12)
                                                for _ in range(6)],
                      fs=128.0, gsr_unit="us", ratings={"arousal": [1, 2, 4, 5, 2, 4]},
                      rating_scales={"arousal": (1, 5)}, subjects=[1, 1, 1, 2, 2, 2],
                      source="mylab").out
    code, cap = _cli(["evaluate", "--model", str(s), "--data", str(own), "--json"], capsys)
    assert code == 0, cap.err
    res = json.loads(cap.out)
    assert res["subjects"] == [1, 2] and res["threshold"] == 3.0
    assert res["cross_dataset"]["model_scale"] == [1, 9]
    assert res["tested_on"]["dataset"] == "mylab"
    # a teacher needs its channels: the store has none
    code, cap = _cli(["evaluate", "--model", str(tmp_path / "t.pt"), "--data", str(own)],
                     capsys)
    assert code == 1 and "lacks EEG channel(s)" in cap.err
    # on its own dataset the training subjects are still refused
    code, cap = _cli(["evaluate", "--model", str(s), "--data", str(root / "deap.h5"),
                      "--subjects", "1"], capsys)
    assert code == 1 and "were used to train" in cap.err
