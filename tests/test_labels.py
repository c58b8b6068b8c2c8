"""Rating scales and binary labels (emotionkd.labels): the default threshold is the scale's
midpoint; a target whose labels would all be one class is refused with a threshold to try."""

from __future__ import annotations

import numpy as np
import pytest

from emotionkd.errors import ConfigError
from emotionkd.labels import check_two_classes, default_threshold
from emotionkd.store import StoreWriter, open_store


def test_default_threshold_is_the_midpoint_of_the_scale(tmp_path, deap_store):
    assert default_threshold(open_store(deap_store), "arousal") == 5.0
    for name, scales, want in (("legacy", None, 5.0), ("five", [(1, 5)], 3.0),
                               ("binary", [(0, 1)], 0.5)):
        path = tmp_path / f"{name}.h5"
        with StoreWriter(path, source="own", sampling_rate=4, eeg_channels=[],
                         rating_names=["arousal"], rating_scales=scales) as w:
            w.add_trial(subject=1, trial=1, eeg=np.zeros((0, 8)), gsr=np.ones(8), ratings=[1])
        assert default_threshold(open_store(path), "arousal") == want, name
    cat = tmp_path / "cat.h5"
    with StoreWriter(cat, source="own", sampling_rate=4, eeg_channels=[],
                     rating_names=["emotion"], rating_scales=[None]) as w:
        w.add_trial(subject=1, trial=1, eeg=np.zeros((0, 8)), gsr=np.ones(8), ratings=[3])
    with pytest.raises(ConfigError, match="'emotion' is a category.*--threshold"):
        default_threshold(open_store(cat), "emotion")


def test_one_class_labels_are_refused_with_a_threshold_to_try():
    ratings = np.array([1, 2, 2, 3, 4, 5, 5])  # a 1-5 scale under DEAP's threshold 5
    labels = (ratings > 5).astype(int)
    with pytest.raises(ConfigError, match=r"target 'arousal' gives one class with --threshold "
                                          r"5 \(high = rating > 5\): 0 high, 7 low windows; the "
                                          r"ratings run from 1 to 5 on a 1-5 scale; pass "
                                          r"--threshold 3"):
        check_two_classes(labels, target="arousal", threshold=5, ratings=ratings,
                          scale=(1, 5))
    check_two_classes((ratings > 3).astype(int), target="arousal", threshold=3)  # two classes
    with pytest.raises(ConfigError, match="7 high, 0 low"):
        check_two_classes(np.ones(7), target="arousal", threshold=0, tie="high")


def test_rating_scales_from_the_command_line_and_thresholds_moved_between_scales():
    from emotionkd.labels import map_threshold, parse_rating_scales

    assert parse_rating_scales("valence=1-9, arousal=1..5,emotion=category,x=-1:1") == {
        "valence": (1, 9), "arousal": (1, 5), "emotion": None, "x": (-1, 1)}
    for bad in ("valence", "valence=a-b", "=1-9", ""):
        with pytest.raises(ConfigError, match="--ratings"):
            parse_rating_scales(bad)
    assert map_threshold(5, (1, 9), (1, 5)) == 3.0
    assert map_threshold(0.5, (0, 1), (1, 9)) == 5.0
    assert map_threshold(6, (1, 9), None) == 6 and map_threshold(6, (1, 9), (1, 9)) == 6
