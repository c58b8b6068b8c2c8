"""Signal primitives shared by preprocessing, the training windows and prediction, so that a
recording at deployment goes through exactly the arithmetic its training data went through:

* the GSR unit: the names of the units (:func:`gsr_unit_name`, :func:`check_gsr_unit`), one
  rule that infers the unit of a signal whose file does not settle it
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

#: skin conductance lies within about this range (µS); a unit is a candidate for a signal
#: whose median, read in that unit, falls inside it
PLAUSIBLE_US = (0.05, 50.0)
#: the name each unit of :data:`~emotionkd.choices.GSR_UNITS` is shown with
GSR_UNIT_NAMES = {"us": "µS", "ns": "nS", "kohm": "kOhm", "ohm": "Ohm", "s": "S"}
#: names files and users give the units (compared lower-case, without spaces, µ as u)
GSR_UNIT_ALIASES = {
    "us": "us", "usiemens": "us", "microsiemens": "us", "microsiemen": "us", "umho": "us",
    "ns": "ns", "nanosiemens": "ns", "s": "s", "siemens": "s", "mho": "s",
    "ohm": "ohm", "ohms": "ohm", "ω": "ohm", "kohm": "kohm", "kohms": "kohm", "kω": "kohm",
    "kiloohm": "kohm", "kiloohms": "kohm",
}
#: the units, as error messages list them after the option
GSR_UNIT_LIST = "|".join(u for u in GSR_UNITS if u != "auto")
#: DEAP's EEG pass band (Hz)
DEAP_BAND = (4.0, 45.0)
#: (the lowest rate it runs at is emotionkd.choices.DEAP_FILTER_MIN_FS)
#: a standard deviation below this is taken as 1 (a flat channel is left unscaled)
MIN_STD = 1e-8


# ---------------------------------------------------------------------------------------------
# GSR units


def plain_unit(text: str | None) -> str:
    """A unit's name as the tables compare it: lower-case, no spaces, µ as u."""
    return (text or "").strip().lower().replace("µ", "u").replace("μ", "u").replace(" ", "")


def gsr_unit_name(text: str | None) -> str | None:
    """The unit of :data:`~emotionkd.choices.GSR_UNITS` a name stands for ("µS", "kΩ",
    "microsiemens" …), or None when it names no conductance or resistance unit."""
    return GSR_UNIT_ALIASES.get(plain_unit(text))


def check_gsr_unit(unit: str, option: str = "--unit") -> str:
    """A unit a user gives (``auto`` or a name :func:`gsr_unit_name` knows), normalised; any
    other is a ConfigError naming ``option``."""
    text = str(unit).strip().lower()
    u = "auto" if text in ("auto", "") else gsr_unit_name(text)
    if u is None:
        raise ConfigError(f"{option} must be one of {', '.join(GSR_UNITS)}, not {unit!r}")
    return u


def _as_us(median: float, unit: str) -> float:
    return float(gsr_to_microsiemens(np.float64(median), unit, "", ""))


def infer_gsr_unit(values: np.ndarray, source: str, option: str = "--unit",
                   declared: str | None = None) -> tuple[str, str]:
    """The unit of a GSR signal whose file does not settle it, from its median, and the
    reason; where the values do not decide, a DataFormatError naming ``option``.

    The candidates are the units in which the median is a plausible skin conductance
    (:data:`PLAUSIBLE_US`, 0.05–50 µS): µS alone for a median m < 20 (as kOhm it would be above
    50 µS), Ohm alone for m > 50,000 (as nS it would be above 50 µS), S alone for m within
    5·10⁻⁸–5·10⁻⁵. One candidate is the unit; among several, the unit the file ``declared``
    (a hint: readers differ in whether they scale prefixed units, so the values decide);
    otherwise the unit must be given. A median outside every candidate's range is read as µS
    below them and as Ohm above them.
    """
    x = np.asarray(values, dtype=np.float64)
    finite = x[np.isfinite(x)]
    med = float(np.median(finite)) if len(finite) else float("nan")
    if not np.isfinite(med):
        raise DataFormatError(f"{source}: the GSR signal holds no finite values")
    if med <= 0:
        raise DataFormatError(f"{source}: GSR median is {med:.4g} (not positive), neither a "
                              f"conductance nor a resistance; check the channel or pass {option} "
                              f"{GSR_UNIT_LIST}")
    lo, hi = PLAUSIBLE_US
    fits = {u: v for u in GSR_UNIT_NAMES if lo <= (v := _as_us(med, u)) <= hi}
    said = f"the file declares {GSR_UNIT_NAMES[declared]}" if declared else "no unit declared"
    if len(fits) == 1:
        unit = next(iter(fits))
        return unit, (f"{GSR_UNIT_NAMES[unit]}: the median {med:.4g} is a skin conductance "
                      f"only in that unit (inferred; {said})")
    if declared in fits:
        return declared, (f"{GSR_UNIT_NAMES[declared]}: the median {med:.4g} fits "
                          f"{' or '.join(GSR_UNIT_NAMES[u] for u in fits)}; {said}")
    if not fits:  # beyond every unit's plausible range: very wet or very dry skin
        unit = "us" if med < lo else "ohm"
        return unit, (f"{GSR_UNIT_NAMES[unit]}: the median {med:.4g} is no plausible skin "
                      f"conductance in any unit; read as {GSR_UNIT_NAMES[unit]} (inferred; {said})")
    listed = " or ".join(f"{GSR_UNIT_NAMES[u]} ({v:.3g} µS)" for u, v in fits.items())
    raise DataFormatError(
        f"{source}: cannot tell the GSR unit from the values (median {med:.4g} is a plausible "
        f"skin conductance as {listed}; {said}); pass {option} {GSR_UNIT_LIST}")


def gsr_to_microsiemens(values: Any, unit: str, source: str, option: str = "--unit"
                        ) -> np.ndarray:
    """Skin conductance in µS (float64) from GSR in a known ``unit``: µS as it is, nS / 1000,
    S · 10⁶, 10⁶ / Ohm, 10³ / kOhm. ``option`` (the option that sets the unit) is named in
    errors."""
    g = np.asarray(values, dtype=np.float64)
    if unit == "us":
        return g
    if unit == "ns":
        return g / 1000.0
    if unit == "s":
        return g * 1e6
    if unit in ("ohm", "kohm"):
        if (g[np.isfinite(g)] <= 0).any():
            raise DataFormatError(
                f"{source}: GSR has zero or negative values ({np.nanmin(g):.4g}), impossible "
                f"for a skin resistance in {GSR_UNIT_NAMES[unit]}; check the file or pass "
                f"{option} us|ns")
        return (1e6 if unit == "ohm" else 1e3) / g
    raise ConfigError(f"{option} must be one of {', '.join(GSR_UNITS)}, not {unit!r}")


def to_microsiemens(values: Any, unit: str, source: str, option: str = "--unit",
                    declared: str | None = None) -> tuple[np.ndarray, str, str]:
    """(conductance in µS, the unit used, why when it was inferred): ``unit`` is one of
    :data:`~emotionkd.choices.GSR_UNITS`; ``auto`` infers it with :func:`infer_gsr_unit`
    (``declared``: the unit the file states, its hint)."""
    why = ""
    if unit == "auto":
        unit, why = infer_gsr_unit(values, source, option, declared)
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


# ---------------------------------------------------------------------------------------------
# plausibility


#: skin conductance lies within about 0.05-100 µS: beyond MAX_PLAUSIBLE_US (in magnitude, so
#: that baseline-subtracted signals are judged alike) a value is a spike or damaged data
MIN_PLAUSIBLE_US, MAX_PLAUSIBLE_US = 0.05, 100.0


def gsr_problem(gsr: np.ndarray, flat: bool = True) -> str:
    """Why a trial's raw GSR (µS) is no usable skin conductance: flat (one value
    throughout; checked when ``flat``) or beyond :data:`MAX_PLAUSIBLE_US`; "" when it is
    plausible."""
    if flat and gsr.size and float(np.ptp(gsr)) == 0.0:
        return f"the GSR is flat (a constant {float(gsr[0]):.4g} µS): no signal"
    big = np.abs(gsr) > MAX_PLAUSIBLE_US
    if big.any():
        return (f"the GSR reaches {float(np.max(np.abs(gsr))):.4g} µS in {int(big.sum())} "
                f"sample(s), beyond the {MAX_PLAUSIBLE_US:g} µS of skin conductance (a spike "
                "or damaged data)")
    return ""


def signals_digest(eeg: np.ndarray, gsr: np.ndarray) -> str:
    """A digest of a trial's signals, to find one recording stored twice."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(gsr).tobytes())
    h.update(np.ascontiguousarray(eeg).tobytes())
    return h.hexdigest()
