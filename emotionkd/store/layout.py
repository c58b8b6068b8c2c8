"""The layout of the trial-major HDF5 store (format ``emotionkd-trials``, version 1).

One file per dataset holds continuous, preprocessed signals; windows are cut at training time.

Layout::

    /                 attrs: format, format_version, source, sampling_rate, created_with,
                             preprocessing (JSON), eeg_channels, gsr_unit, rating_names,
                             rating_scales (JSON list of [min, max] or null per rating;
                             optional: stores without it are read as 1-9)
    /eeg              float32 [n_eeg_channels, total_samples]   chunked along time; a
                                           GSR-only store has 0 channels
    /gsr              float32 [1, total_samples]
    /trials/subject   int32   [n_trials]
    /trials/trial     int32   [n_trials]
    /trials/start     int64   [n_trials]   first sample of the trial in /eeg and /gsr
    /trials/stop      int64   [n_trials]   one past its last sample
    /trials/onset     int64   [n_trials]   first sample of the stimulus (== start unless the
                                           pre-stimulus baseline was kept)
    /trials/ratings   float32 [n_trials, n_ratings]
    /trials/latent    float32 [n_trials, 2]   optional, synthetic data only: the true
                                           (valence, arousal) in [-1, 1] (attrs: names)

Writers stream trial by trial into resizable datasets in a unique temporary file and rename it
at the end (:mod:`emotionkd.outputs`), so a crash, a full disk or a signal never leaves a
half-written file under the final name. Readers check the signals for NaN and infinity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from emotionkd.errors import ConfigError

#: names of the latent-emotion columns of synthetic stores (/trials/latent)
LATENT_NAMES = ("valence", "arousal")

FORMAT = "emotionkd-trials"
FORMAT_VERSION = 1
#: the scale assumed for every rating of a store written without ``rating_scales``
LEGACY_RATING_SCALE = (1.0, 9.0)


def check_rating_scales(scales: Sequence[Sequence[float] | None],
                        names: Sequence[str]) -> list[list[float] | None]:
    """Validate one scale per rating: ``[min, max]`` with min < max (finite), or None for a
    category; returns them as plain lists for the JSON attribute."""
    scales = list(scales)
    if len(scales) != len(names):
        raise ConfigError(f"rating scales: {len(scales)} given for {len(names)} ratings "
                          f"({', '.join(names)}); give one [min, max] (or None) per rating")
    out: list[list[float] | None] = []
    for name, sc in zip(names, scales):
        if sc is None:
            out.append(None)
            continue
        try:
            lo, hi = (float(x) for x in sc)
        except (TypeError, ValueError):
            raise ConfigError(f"rating scale of '{name}': {sc!r} is not a pair (min, max)") \
                from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"rating scale of '{name}': ({lo:g}, {hi:g}) needs finite "
                              "min < max")
        out.append([lo, hi])
    return out
