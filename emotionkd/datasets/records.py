"""The Trial record every reader yields, and the channel tables shared by DEAP and HCI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from emotionkd.errors import ConfigError
from emotionkd.validation import did_you_mean

#: The 32 EEG channels in DEAP's (Geneva) order, the canonical EEG order of emotionkd stores.
DEAP_EEG_CHANNELS: list[str] = [
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7",
    "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz",
    "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
]  # fmt: skip

#: All 40 rows of DEAP's data_preprocessed_python arrays, 0-based.
DEAP_CHANNELS: list[str] = DEAP_EEG_CHANNELS + [
    "hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration", "Plethysmograph", "Temperature",
]  # fmt: skip

#: GSR row in DEAP's preprocessed arrays (the readme's channel no. 37, 1-based).
DEAP_GSR_INDEX = 36

DEAP_RATING_NAMES = ["valence", "arousal", "dominance", "liking"]

#: TSception's 28 channels: DEAP's 32 minus the midline Fz, Cz, Pz, Oz (left then right half).
TSCEPTION28: list[str] = [
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1",
    "Fp2", "AF4", "F4", "F8", "FC6", "FC2", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
]  # fmt: skip

EEG_PRESETS: dict[str, list[str]] = {"all": DEAP_EEG_CHANNELS, "tsception28": TSCEPTION28}


def resolve_eeg_channels(spec: str | Sequence[str] | None) -> list[str]:
    """Turn ``--eeg-channels`` into canonical names.

    ``None``/``"all"`` gives the 32 DEAP channels; ``"tsception28"`` the 28-channel preset;
    otherwise a comma-separated list (or sequence) of 10-20 names, matched case-insensitively.
    """
    if spec is None:
        return list(DEAP_EEG_CHANNELS)
    if isinstance(spec, str):
        key = spec.strip().lower()
        if key in EEG_PRESETS:
            return list(EEG_PRESETS[key])
        names = [s.strip() for s in spec.split(",") if s.strip()]
    else:
        names = [str(s).strip() for s in spec]
    canon = {c.lower(): c for c in DEAP_EEG_CHANNELS}
    unknown = [n for n in names if n.lower() not in canon]
    if unknown or not names:
        raise ConfigError(
            f"--eeg-channels: unknown channel(s) {', '.join(unknown) or '(none given)'}; use "
            f"'all', 'tsception28' or names from: {', '.join(DEAP_EEG_CHANNELS)}"
            + (did_you_mean(unknown[0], [*EEG_PRESETS, *DEAP_EEG_CHANNELS]) if unknown else "")
        )
    out = [canon[n.lower()] for n in names]
    dups = sorted({n for n in out if out.count(n) > 1})
    if dups:
        raise ConfigError(f"--eeg-channels: channel(s) listed twice: {', '.join(dups)}")
    return out


def eeg_channel_names(setting: str | Sequence[str] | None) -> list[str] | None:
    """The EEG channel names of the ``eeg_channels`` setting: None for ``store`` (every
    channel of the store), else :func:`resolve_eeg_channels`."""
    if setting is None or setting in ("", "store"):
        return None
    return resolve_eeg_channels(setting)


@dataclass
class Trial:
    """One stimulus presentation as read from a raw file, before preprocessing.

    ``eeg`` is (n_eeg, n) in µV with rows named by ``eeg_channels``; ``gsr`` is (n,) in
    ``gsr_unit`` ("ohm", "us" or "ns"); samples ``[0, onset)`` are the pre-stimulus baseline.
    """

    subject: int
    trial: int
    eeg: np.ndarray
    gsr: np.ndarray
    fs: float
    ratings: np.ndarray
    onset: int
    eeg_channels: list[str]
    gsr_unit: str
    source_file: str = ""
    extra: dict = field(default_factory=dict)


class TrialList(list):
    """The trials a reader read from one input, plus the trials it left out: ``skipped``
    holds one reason per left-out trial (an empty cell, NaN samples, no ratings), reported
    like a skipped file (an error in strict mode)."""

    def __init__(self, trials: Sequence[Trial] = (), skipped: Sequence[str] = ()) -> None:
        super().__init__(trials)
        self.skipped: list[str] = list(skipped)
