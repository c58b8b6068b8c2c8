"""Signal primitives shared by preprocessing, the training windows and prediction, so that a
recording at deployment goes through exactly the arithmetic its training data went through:

* the GSR unit: one rule that infers the unit of a signal whose file does not state it
  (:func:`infer_gsr_unit`) and one conversion to skin conductance in µS
  (:func:`to_microsiemens`);
* resampling with an anti-aliasing polyphase filter (:func:`resample`);
* DEAP's EEG conditioning (:func:`condition_eeg`);
* the z-score normalisation: statistics from sums (:func:`moments`, :func:`zscore_stats`) and
  its application (:func:`normalise`), used by :class:`~emotionkd.windows.WindowDataset` and
  :func:`~emotionkd.predict.predict_recording` alike.

numpy only at import; scipy is imported by the functions that filter.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from emotionkd.choices import GSR_UNITS
from emotionkd.errors import ConfigError, DataFormatError

#: a median below this is skin conductance in µS ...
US_MAX_MEDIAN = 20.0
#: ... and a median above this is skin resistance in Ohm (below 20 µS); between the two, µS,
#: nS, kOhm and Ohm are all physiologically possible and the unit must be given
OHM_MIN_MEDIAN = 50_000.0
#: DEAP's EEG pass band (Hz)
DEAP_BAND = (4.0, 45.0)
#: a standard deviation below this is taken as 1 (a flat channel is left unscaled)
MIN_STD = 1e-8

_UNIT_LIST = "|".join(u for u in GSR_UNITS if u != "auto")


# ---------------------------------------------------------------------------------------------
# GSR units


def infer_gsr_unit(values: np.ndarray, source: str, option: str = "--unit") -> tuple[str, str]:
    """The unit of a GSR signal whose file does not state it, from its median, where that is
    unambiguous, and the reason; otherwise a DataFormatError naming ``option``.

    Skin conductance lies within about 0.05–50 µS. Read as each candidate unit, a median m is
    plausible as µS for m < 20 (as kOhm it would be above 50 µS), as Ohm for m > 50,000 (as
    nS it would be above 50 µS); in between µS, nS, kOhm and Ohm all give plausible
    conductances, so the unit must be given.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    med = float(np.median(finite)) if len(finite) else float("nan")
    if not np.isfinite(med):
        raise DataFormatError(f"{source}: the GSR signal holds no finite values")
    if 0.0 < med < US_MAX_MEDIAN:
        return "us", f"unit inferred: median {med:.4g} < {US_MAX_MEDIAN:g}, skin conductance in µS"
    if med > OHM_MIN_MEDIAN:
        return "ohm", (f"unit inferred: median {med:.4g} > {OHM_MIN_MEDIAN:,.0f}, skin "
                       "resistance in Ohm")
    if med <= 0:
        raise DataFormatError(f"{source}: GSR median is {med:.4g} (not positive), neither a "
                              f"conductance nor a resistance; check the channel or pass {option} "
                              f"{_UNIT_LIST}")
    as_us = {"µS": med, "nS": med / 1e3, "kOhm": 1e3 / med, "Ohm": 1e6 / med}
    fits = [f"{u} ({v:.3g} µS)" for u, v in as_us.items() if 0.05 <= v <= 50]
    raise DataFormatError(
        f"{source}: cannot tell the GSR unit from the values (median {med:.4g} is a plausible "
        f"skin conductance as {' or '.join(fits) or 'no unit'}); pass {option} {_UNIT_LIST}"
    )


def gsr_to_microsiemens(values: Any, unit: str, source: str, option: str = "--unit"
                        ) -> np.ndarray:
    """Skin conductance in µS (float64) from GSR in a known ``unit``: µS as it is, nS / 1000,
    10⁶ / Ohm, 10³ / kOhm. ``option`` (the option that sets the unit) is named in errors."""
    g = np.asarray(values, dtype=np.float64)
    if unit == "us":
        return g
    if unit == "ns":
        return g / 1000.0
    if unit in ("ohm", "kohm"):
        if (g <= 0).any():
            raise DataFormatError(
                f"{source}: GSR has zero or negative values ({g.min():.4g}), impossible for a "
                f"skin resistance in {'kOhm' if unit == 'kohm' else 'Ohm'}; check the file or "
                f"pass {option} us|ns")
        return (1e6 if unit == "ohm" else 1e3) / g
    raise ConfigError(f"{option} must be one of {', '.join(GSR_UNITS)}, not {unit!r}")


def to_microsiemens(values: Any, unit: str, source: str, option: str = "--unit"
                    ) -> tuple[np.ndarray, str, str]:
    """(conductance in µS, the unit used, why when it was inferred): ``unit`` is one of
    :data:`~emotionkd.choices.GSR_UNITS`; ``auto`` infers it with :func:`infer_gsr_unit`."""
    why = ""
    if unit == "auto":
        unit, why = infer_gsr_unit(values, source, option)
    return gsr_to_microsiemens(values, unit, source, option), unit, why


# ---------------------------------------------------------------------------------------------
# resampling and EEG conditioning


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling along the last axis with scipy's anti-aliasing FIR (Kaiser)."""
    if fs_in == fs_out:
        return x
    from scipy.signal import resample_poly

    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if abs(float(ratio) - fs_out / fs_in) > 1e-9:
        raise ConfigError(f"cannot resample {fs_in} Hz to {fs_out} Hz with a rational ratio")
    # padtype="line": extend the signal linearly at both ends instead of with zeros, so a
    # slowly varying signal (skin conductance, EEG offsets) gets no edge transients
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=-1, padtype="line")


def condition_eeg(eeg: np.ndarray, fs: float) -> np.ndarray:
    """DEAP's EEG conditioning: a 4–45 Hz band-pass (4th-order Butterworth, zero phase; the
    upper edge is lowered below Nyquist at low rates) and a common average reference."""
    from scipy import signal

    lo, hi = DEAP_BAND
    hi = min(hi, 0.45 * fs)
    sos = signal.butter(4, [lo, hi], btype="bandpass", fs=fs, output="sos")
    x = np.asarray(eeg, dtype=np.float64)
    x = x - x.mean(axis=1, keepdims=True)  # DC offsets first: no filter start-up transient
    y = signal.sosfiltfilt(sos, x, axis=-1, padlen=min(x.shape[1] - 1, 3 * int(fs)))
    return y - y.mean(axis=0, keepdims=True)


# ---------------------------------------------------------------------------------------------
# the z-score normalisation


def moments(x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(samples, sum, sum of squares) over the last axis, in float64: what
    :func:`zscore_stats` needs, and additive, so the statistics of several segments are the
    sums of theirs."""
    v = np.asarray(x, dtype=np.float64)
    return float(v.shape[-1]), v.sum(axis=-1), np.square(v).sum(axis=-1)


def zscore_stats(count: float, total: Any, total_sq: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation from :func:`moments`; an SD below
    :data:`MIN_STD` is 1, so a flat signal is shifted but not blown up."""
    n = max(float(count), 1.0)
    mean = np.asarray(total, dtype=np.float64) / n
    std = np.sqrt(np.maximum(np.asarray(total_sq, dtype=np.float64) / n - mean ** 2, 0.0))
    return mean, np.where(std > MIN_STD, std, 1.0)


def normalise(x: Any, mean: Any, inv_std: Any) -> Any:
    """``(x - mean) · inv_std``, for numpy arrays and torch tensors alike (the training batches
    and the windows of a recording go through this one expression)."""
    return (x - mean) * inv_std
