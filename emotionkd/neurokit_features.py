"""Skin-conductance features from NeuroKit2 (the ``neurokit`` extra): the field's own pipeline
as a yardstick beside the built-in features of :mod:`emotionkd.features`.

Per window, NeuroKit2's EDA pipeline as ``nk.eda_process`` runs it by default:
``nk.eda_clean`` (method ``neurokit``: 4th-order Butterworth low-pass at 3 Hz),
``nk.eda_phasic`` (method ``highpass`` by default: the tonic part is the signal low-passed at
0.05 Hz, the phasic part the rest — Biopac AcqKnowledge's method, NeuroKit's default) and
``nk.eda_peaks`` on the phasic part (method ``neurokit``: peaks higher than 10 % of the
window's largest one, with their onsets, amplitudes and rise times). From these come
:data:`NEUROKIT_FEATURES`: tonic level (mean) and slope (least squares, units per second),
SCR count, mean and largest amplitude, and mean rise time (s); 0 where a window has no SCR.

Why ``highpass`` rather than cvxEDA: it is NeuroKit's default; cvxEDA needs the ``cvxopt``
package besides, takes about twice as long per window (docs/evaluation.md), and its
tonic model (splines with knots every 10 s) and priors assume recordings in µS longer than the
4-s, z-scored windows the models see. ``phasic="cvxeda"`` or ``"smoothmedian"``
choose another decomposition.

NeuroKit works on one signal at a time, so this is a loop over windows (milliseconds each),
unlike the vectorised features of :mod:`emotionkd.features`. The features of a window depend
on its samples only, so they are kept by content (a digest of the samples) and a window that
comes back — every fold of a protocol refits on the same windows — is not recomputed.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np

#: names of :func:`gsr_neurokit_features`' columns, in order
NEUROKIT_FEATURES = ("tonic_level", "tonic_slope", "scr_count", "scr_mean_amplitude",
                     "scr_max_amplitude", "scr_mean_rise_time")
PHASIC_METHODS = ("highpass", "smoothmedian", "cvxeda")
#: features of windows already seen, by (decomposition, rate, digest of the samples)
_CACHE: dict[tuple[str, float, bytes], np.ndarray] = {}
_CACHE_MAX = 500_000


def require_neurokit() -> Any:
    """The ``neurokit2`` module, or a one-line DependencyError with the install command."""
    from emotionkd.errors import require_module

    return require_module("neurokit2", "neurokit", "The gsr-neurokit baseline")


def _scrs(nk: Any, phasic: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Amplitudes and rise times of the SCRs NeuroKit finds in a phasic signal; empty for a
    signal without a local maximum, on which NeuroKit's peak search raises."""
    from scipy.signal import find_peaks

    if len(find_peaks(phasic)[0]) == 0:
        return np.zeros(0), np.zeros(0)
    _, info = nk.eda_peaks(phasic, sampling_rate=fs, method="neurokit")
    amp = np.asarray(info["SCR_Amplitude"], dtype=np.float64)
    rise = np.asarray(info["SCR_RiseTime"], dtype=np.float64)
    ok = np.isfinite(amp) & np.isfinite(rise)
    return amp[ok], rise[ok]


def gsr_neurokit_features(gsr: np.ndarray, fs: float, phasic: str = "highpass") -> np.ndarray:
    """NeuroKit2 skin-conductance features per window: (windows, samples) or (windows, 1,
    samples) → (windows, 6) in the order of :data:`NEUROKIT_FEATURES`."""
    if phasic not in PHASIC_METHODS:
        raise ValueError(f"phasic must be one of {PHASIC_METHODS}, not {phasic!r}")
    from emotionkd.features import gsr_windows

    nk = require_neurokit()
    g = gsr_windows(gsr)
    n_win, n = g.shape
    t = (np.arange(n) - (n - 1) / 2.0) / fs
    tt = max(float(t @ t), 1e-12)
    out = np.zeros((n_win, len(NEUROKIT_FEATURES)))
    if len(_CACHE) > _CACHE_MAX:
        _CACHE.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NeuroKit warns about short signals
        for i, w in enumerate(g):
            key = (phasic, float(fs), hashlib.blake2b(w.tobytes(), digest_size=16).digest())
            if key in _CACHE:
                out[i] = _CACHE[key]
                continue
            clean = np.asarray(nk.eda_clean(w, sampling_rate=fs, method="neurokit"))
            parts = nk.eda_phasic(clean, sampling_rate=fs, method=phasic)
            tonic = parts["EDA_Tonic"].to_numpy(dtype=np.float64)
            amp, rise = _scrs(nk, parts["EDA_Phasic"].to_numpy(dtype=np.float64), fs)
            out[i, :2] = tonic.mean(), tonic @ t / tt
            if len(amp):
                out[i, 2:] = len(amp), amp.mean(), amp.max(), rise.mean()
            _CACHE[key] = out[i].copy()
    return out
