"""Readers of raw dataset layouts (and writers of synthetic data in those layouts).

Every reader yields :class:`Trial` records (a :class:`TrialList` where it leaves trials out,
with the reasons); nothing here knows about torch.
"""

from emotionkd.datasets.records import (
    DEAP_CHANNELS,
    DEAP_EEG_CHANNELS,
    DEAP_GSR_INDEX,
    DEAP_RATING_NAMES,
    EEG_PRESETS,
    TSCEPTION28,
    Trial,
    TrialList,
    resolve_eeg_channels,
)

__all__ = [
    "DEAP_CHANNELS",
    "DEAP_EEG_CHANNELS",
    "DEAP_GSR_INDEX",
    "DEAP_RATING_NAMES",
    "EEG_PRESETS",
    "TSCEPTION28",
    "Trial",
    "TrialList",
    "resolve_eeg_channels",
]
