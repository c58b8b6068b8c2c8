"""The layout of the trial-major HDF5 store (format ``emotionkd-trials``, version 1).

One file per dataset holds continuous, preprocessed signals; windows are cut at training time.

Layout::

    /                 attrs: format, format_version, source, sampling_rate, created_with,
                             preprocessing (JSON), eeg_channels, gsr_unit, rating_names
    /eeg              float32 [n_eeg_channels, total_samples]   chunked along time
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

#: names of the latent-emotion columns of synthetic stores (/trials/latent)
LATENT_NAMES = ("valence", "arousal")

FORMAT = "emotionkd-trials"
FORMAT_VERSION = 1
