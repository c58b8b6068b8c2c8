"""Classical features of EEG and skin-conductance windows: the field's yardsticks.

Everything is vectorised over windows: arrays come in as (windows, channels, samples) and go
out as (windows, features), with one numpy/scipy call per operation, never a Python loop over
windows.

* :func:`eeg_band_power` — per EEG channel, the log power in the theta (4–8 Hz), alpha
  (8–13), beta (13–30) and gamma (30–45) bands from a Welch periodogram, or the differential
  entropy of the band-passed signal (``method="de"``, ½·log(2πe·σ²), the usual DE feature of
  SEED/DEAP papers).
* :func:`gsr_features` — skin-conductance features: tonic level and slope, and phasic
  responses (SCR count, mean and largest amplitude) from the decomposition documented in
  docs/method.md ("Classical baselines"): a 1-Hz low-pass removes sensor noise; its least-squares
  line over the window is the tonic part (level = mean, slope); an SCR is a run of rising
  samples of the low-passed signal whose total rise is at least ``scr_threshold``, and its
  amplitude is that rise.

They feed the ``eeg-features`` (Welch), ``eeg-de`` (differential entropy) and ``gsr-features``
baselines of ``emotionkd evaluate`` (:mod:`emotionkd.models.classical`); NeuroKit2's features
are in :mod:`emotionkd.neurokit_features`.
"""

from __future__ import annotations

import numpy as np

#: EEG bands (Hz) of the band-power features, in feature order
BANDS: dict[str, tuple[float, float]] = {
    "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, 45.0),
}
#: names of :func:`gsr_features`' columns, in order
GSR_FEATURES = ("tonic_level", "tonic_slope", "scr_count", "scr_mean_amplitude",
                "scr_max_amplitude")
EEG_METHODS = ("welch", "de")


def _usable_bands(fs: float, bands: dict[str, tuple[float, float]]
                  ) -> dict[str, tuple[float, float]]:
    """Bands clipped to the Nyquist frequency; a band entirely above it is dropped."""
    nyq = fs / 2.0
    return {k: (lo, min(hi, nyq * 0.999)) for k, (lo, hi) in bands.items() if lo < nyq * 0.999}


def eeg_band_power(eeg: np.ndarray, fs: float, method: str = "welch",
                   bands: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Log band power per channel and band: (windows, channels, samples) → (windows,
    channels·bands), channel-major (all bands of channel 0 first).

    ``welch``: natural log of the band's integral of the Welch power spectral density
    (segments of at most 2 s, half overlap, Hann window). ``de``: differential entropy
    ½·log(2πe·var) of the signal band-passed with a 4th-order zero-phase Butterworth filter.
    """
    from scipy import signal

    if method not in EEG_METHODS:
        raise ValueError(f"method must be one of {EEG_METHODS}, not {method!r}")
    x = np.asarray(eeg, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"eeg must be (windows, channels, samples), got shape {x.shape}")
    use = _usable_bands(fs, bands or BANDS)
    n = x.shape[-1]
    tiny = 1e-12
    if method == "welch":
        nper = int(min(n, round(2 * fs)))
        f, pxx = signal.welch(x, fs=fs, nperseg=nper, noverlap=nper // 2, axis=-1)
        df = f[1] - f[0] if len(f) > 1 else fs
        cols = [np.log(pxx[..., (f >= lo) & (f < hi)].sum(axis=-1) * df + tiny)
                for lo, hi in use.values()]
    else:
        cols = []
        for lo, hi in use.values():
            sos = signal.butter(4, [lo, hi], btype="bandpass", fs=fs, output="sos")
            pad = min(n - 1, 3 * (2 * len(sos) + 1))
            y = signal.sosfiltfilt(sos, x, axis=-1, padlen=pad)
            cols.append(0.5 * np.log(2 * np.pi * np.e * (y.var(axis=-1) + tiny)))
    return np.stack(cols, axis=-1).reshape(x.shape[0], -1)


def gsr_windows(gsr: np.ndarray) -> np.ndarray:
    """GSR windows as a float64 (windows, samples) array; (windows, 1, samples) is accepted."""
    g = np.asarray(gsr, dtype=np.float64)
    if g.ndim == 3:
        g = g[:, 0]
    if g.ndim != 2:
        raise ValueError(f"gsr must be (windows, samples), got shape {g.shape}")
    return g


def gsr_features(gsr: np.ndarray, fs: float, scr_threshold: float = 0.05) -> np.ndarray:
    """Skin-conductance features per window: (windows, samples) or (windows, 1, samples) →
    (windows, 5) in the order of :data:`GSR_FEATURES`.

    ``scr_threshold`` is the smallest rise counted as a response, in the signal's units (µS
    for raw conductance; standard deviations for z-scored windows).
    """
    from scipy import signal

    g = gsr_windows(gsr)
    n_win, n = g.shape
    if n >= 16 and fs > 2.5:
        sos = signal.butter(2, 1.0, btype="lowpass", fs=fs, output="sos")
        smooth = signal.sosfiltfilt(sos, g, axis=-1, padlen=min(n - 1, 15))
    else:
        smooth = g
    t = (np.arange(n) - (n - 1) / 2.0) / fs
    level = smooth.mean(axis=1)
    slope = smooth @ t / max(float(t @ t), 1e-12)
    count, mean_amp, max_amp = _rises(np.diff(smooth, axis=1), scr_threshold)
    return np.stack([level, slope, count, mean_amp, max_amp], axis=1)


def _rises(d: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of first differences: the number of rising runs whose total rise is at least
    ``threshold``, their mean rise and the largest rise (0 where there is none).

    Vectorised over rows: the runs of all rows are found at once on the flattened array (a
    row boundary always ends a run) and summed with one ``np.add.reduceat``.
    """
    rows, m = d.shape
    if m == 0 or rows == 0:
        z = np.zeros(rows)
        return z, z.copy(), z.copy()
    up = d > 0
    prev = np.zeros_like(up)
    prev[:, 1:] = up[:, :-1]
    start = (up & ~prev).ravel()
    flat = np.where(up, d, 0.0).ravel()
    starts = np.flatnonzero(start)
    if len(starts) == 0:
        z = np.zeros(rows)
        return z, z.copy(), z.copy()
    # a run's sum: from its start to the next start (zeros in between do not count)
    sums = np.add.reduceat(flat, starts)
    owner = starts // m
    # a reduceat segment may run past the end of its row into the next row's leading zeros
    # only when the next row starts without a rise; those samples are 0, so sums are exact
    ok = sums >= threshold
    count = np.bincount(owner[ok], minlength=rows).astype(np.float64)
    total = np.bincount(owner[ok], weights=sums[ok], minlength=rows)
    mean_amp = np.divide(total, count, out=np.zeros(rows), where=count > 0)
    max_amp = np.zeros(rows)
    np.maximum.at(max_amp, owner[ok], sums[ok])
    return count, mean_amp, max_amp
