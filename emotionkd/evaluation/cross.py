"""Across datasets: which dataset a store holds, the EEG channels two stores share, and which
preprocessing differences between them are refused (docs/evaluation.md#across-datasets).

Subjects are identified by (dataset, subject): DEAP's subject 1 and HCI's subject 1 are two
people. A store's dataset is its ``source`` (deap, hci, amigos; own recordings: the name
given at ``preprocess files --source``, own by default).

Differences that change what a model sees are refused with the setting named: the stored
sampling rate, whether each trial's baseline mean was subtracted, the baseline length when
it was (the subtracted GSR level depends on it, with any normalisation: measured in
docs/evaluation.md) and the EEG conditioning (for models that read EEG). Differences that do
not are allowed: the reader, the raw sampling rate before resampling, how the GSR unit was
decided (every store holds µS), and the baseline length when no baseline was subtracted
(``--baseline none`` or ``keep``: it does not enter the windows at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from emotionkd.config import DataConfig
from emotionkd.errors import ConfigError
from emotionkd.store import Store

#: what the EEG of a reader's store is conditioned with when nothing more was done: DEAP's
#: and AMIGOS' releases are band-passed 4-45 Hz and common-average referenced
_RELEASED_CONDITIONED = ("deap-", "amigos-")
CONDITIONED = "band-passed 4-45 Hz, common average reference"


def dataset_of(source: str | None) -> str:
    """The dataset a store's (or a checkpoint's) ``source`` names."""
    return str(source or "unknown")


def same_dataset(a: str | None, b: str | None) -> bool:
    """Whether two sources are one dataset, so that equal subject numbers are one person."""
    return dataset_of(a) == dataset_of(b)


def eeg_conditioning(pre: Mapping[str, Any]) -> str:
    """The EEG conditioning a preprocessing record amounts to (CONDITIONED or as recorded)."""
    reader = str(pre.get("reader", ""))
    if pre.get("eeg_filter") == "deap" or reader.startswith(_RELEASED_CONDITIONED):
        return CONDITIONED
    return "as recorded"


def _subtracted(pre: Mapping[str, Any]) -> bool:
    """Whether each trial's baseline mean was subtracted (keep and none both leave the
    stimulus part as recorded)."""
    return pre.get("baseline") == "subtract"


def check_preprocessing(a: Mapping[str, Any], b: Mapping[str, Any], *, what_a: str,
                        what_b: str, uses_eeg: bool, norm: str) -> None:
    """Refuse the differences between two preprocessing records that change what a model
    sees, naming the setting and the fix; allow the others (module docstring)."""
    ra, rb = a.get("sampling_rate"), b.get("sampling_rate")
    if ra is not None and rb is not None and abs(float(ra) - float(rb)) > 1e-6:
        raise ConfigError(f"{what_b}: stored at {float(rb):g} Hz but {what_a} at {float(ra):g} "
                          f"Hz (sampling rate); preprocess it with --fs {float(ra):g}")
    if _subtracted(a) != _subtracted(b):
        mode = "subtract" if _subtracted(a) else "none"
        raise ConfigError(
            f"{what_b}: baseline is {b.get('baseline')} but {what_a} has {a.get('baseline')} "
            f"(whether each trial's pre-stimulus mean is removed changes every window); "
            f"preprocess it with --baseline {mode}")
    if _subtracted(a):
        sa, sb = a.get("baseline_s"), b.get("baseline_s")
        if sa is not None and sb is not None and abs(float(sa) - float(sb)) > 1e-6:
            raise ConfigError(
                f"{what_b}: baseline length is {float(sb):g} s but {float(sa):g} s in {what_a}; "
                "the subtracted pre-stimulus mean of the GSR depends on it, and per-subject "
                f"normalisation does not undo that (norm {norm}; measured in "
                "docs/evaluation.md#across-datasets): preprocess both with --baseline none "
                "(the length then does not enter the windows) or with equal baselines")
    if uses_eeg and eeg_conditioning(a) != eeg_conditioning(b):
        raise ConfigError(
            f"{what_b}: its EEG is {eeg_conditioning(b)} but {eeg_conditioning(a)} in "
            f"{what_a} (EEG conditioning); preprocess it with --eeg-filter "
            f"{'deap' if eeg_conditioning(a) == CONDITIONED else 'none'}")


def common_channels(a: Store, b: Store, setting: str | None) -> list[str]:
    """The EEG channels a teacher trained on ``a`` and tested on ``b`` uses: those the
    ``--eeg-channels`` setting names (each must be in both stores), or by default every
    channel of ``a`` that ``b`` has too, in ``a``'s order (AMIGOS' 14 within DEAP's 32)."""
    from emotionkd.datasets.records import eeg_channel_names

    names = eeg_channel_names(setting)
    if names is not None:
        for st in (a, b):
            st.channel_indices(names)  # a channel it lacks: a one-line error naming it
        return list(names)
    have = {c.lower() for c in b.eeg_channels}
    common = [c for c in a.eeg_channels if c.lower() in have]
    if not common:
        raise ConfigError(f"{a.path} and {b.path} have no EEG channel in common ("
                          f"{', '.join(a.eeg_channels[:6]) or 'none'} … vs "
                          f"{', '.join(b.eeg_channels[:6]) or 'none'} …); the teacher needs "
                          "EEG on both sides")
    return common


def side(store: Store, subjects: Sequence[int]) -> dict[str, Any]:
    """What one side of a cross-dataset evaluation came from, for run.json and the report."""
    return {"store": str(store.path), "dataset": dataset_of(store.source),
            "subjects": sorted(int(s) for s in subjects), "sampling_rate": store.sampling_rate,
            "preprocessing": {k: v for k, v in (store.preprocessing or {}).items()
                              if k in ("reader", "baseline", "baseline_s", "eeg_filter",
                                       "raw_sampling_rate")}}


def checkpoint_on_store(ck: Mapping[str, Any], store: Store, uses_eeg: bool
                        ) -> tuple[DataConfig, dict[str, Any]]:
    """How a checkpoint reads a store of another dataset: its ``[data]`` table (a student
    reads no EEG, so any store's channels serve; the threshold moved to the store's rating
    scale) and the note of what differs, for the result. A teacher needs every channel it
    was trained on; a preprocessing difference that matters is refused."""
    from dataclasses import replace

    from emotionkd.checkpoint import checkpoint_data
    from emotionkd.labels import map_threshold, rating_scale

    d, data = ck["data"], checkpoint_data(ck)
    src = str(ck.get("_path", "checkpoint"))
    if uses_eeg:
        missing = [c for c in d["eeg_channels"]
                   if c.lower() not in {x.lower() for x in store.eeg_channels}]
        if missing:
            raise ConfigError(
                f"{store.path}: lacks EEG channel(s) {', '.join(missing)} that the model {src} "
                f"reads; train it on the channels both stores have (--eeg-channels "
                f"{','.join(c for c in d['eeg_channels'] if c not in missing) or '…'})")
    else:
        data = replace(data, eeg_channels="store")
    check_preprocessing(d.get("preprocessing") or {}, store_record(store), what_a=src,
                        what_b=str(store.path), uses_eeg=uses_eeg, norm=data.norm)
    scale, to_scale = d.get("rating_scale"), rating_scale(store, data.target)
    threshold = map_threshold(float(data.threshold), scale, to_scale)
    note = {"trained_on": dataset_of(d.get("source")), "tested_on": dataset_of(store.source),
            "threshold": threshold, "model_threshold": float(data.threshold),
            "model_scale": scale, "store_scale": to_scale}
    return replace(data, threshold=threshold), note


def store_record(store: Store) -> dict[str, Any]:
    """A store's preprocessing record with its stored rate (as a data specification has)."""
    return {**(store.preprocessing or {}), "sampling_rate": store.sampling_rate}
