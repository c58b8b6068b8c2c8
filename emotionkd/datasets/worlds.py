"""World families for the robustness suite: synthetic DEAP-layout data made by generators
designed apart from :mod:`emotionkd.datasets.synthetic`.

A teacher recipe tuned on one generator is not a result. These worlds put the arousal cue in
different places of the EEG, so that a model is judged on whether it learns what *any* world
holds (docs/synthetic-data.md, "World families"):

* ``broadband`` — the stimulus multiplies each channel's 1/f background by a gain that
  rises with arousal (a broadband band-power cue, the kind ``synth deap`` also has).
* ``rhythms`` — every channel carries its own beta rhythm (the subject's frequency in
  18–24 Hz, an independent phase per channel) whose amplitude rises with arousal, and a
  10-Hz alpha that falls; channels are not coherent, so mixing them before taking power
  cancels the cue.
* ``sources`` — three beta and two alpha sources (individual frequencies, slow amplitude
  bursts) mixed into the 32 channels by a fixed per-subject topography (volume conduction).
* ``aperiodic`` — arousal flattens the 1/f slope (pivoting at 20 Hz, so total power barely
  moves); the alpha rhythm carries no information.
* ``confounded`` — the EEG of ``broadband``, a skin-conductance cue 2.5 times as strong as
  the other families', and arousal ratings confounded by a bodily state per trial (warmth,
  exertion) that raises the tonic skin conductance during the stimulus and is reported as
  arousal, but that the EEG does not show.
  A GSR student trained on the ratings learns the confound; one trained on the truth does
  not; an EEG-only model's predictions do not carry it (a teacher that also reads the GSR
  learns it too).

Self-reports are ``5 + 3.5·a + b_s + ε`` (arousal ``a`` in [−1, 1], a per-subject bias
``b_s`` with SD ``rating_bias``, noise ε with SD ``rating_noise`` rating points), clipped to
1–9; valence is reported with the same noise but has no physiological cue. GSR carries a
weaker cue: skin-conductance responses whose rate rises with arousal. The latent truth goes
to the latent table as in ``synth deap``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emotionkd.choices import WORLDS
from emotionkd.datasets.synthetic import (
    SyntheticSubject,
    _fft_filter,
    _shaped_noise,
    _stimulus_weight,
    subject_rng,
    synth_peripheral,
)
from emotionkd.errors import ConfigError

#: default SD of the rating noise in the worlds (rating points): noisier than ``synth deap``,
#: as real self-reports are
WORLD_RATING_NOISE = 1.5
#: families whose skin-conductance cue is stronger than the others' (a factor on its exponents)
GSR_CUES: dict[str, float] = {"confounded": 2.5}
#: families whose arousal ratings are confounded by a bodily state that is not the emotion:
#: (rating points per SD of the state, rise of the tonic skin conductance per SD of the state
#: over the stimulus, as a fraction of the level)
CONFOUNDS: dict[str, tuple[float, float]] = {"confounded": (2.0, 0.15)}

FS = 128.0
BASELINE_S = 3.0


def world_ratings(rng: np.random.Generator, latent: np.ndarray, noise: float,
                  bias: float) -> np.ndarray:
    """(trials, 4) valence, arousal, dominance, liking on 1–9: 5 + 3.5·latent + the subject's
    bias + noise (dominance and liking follow valence)."""
    n = latent.shape[0]
    b = rng.normal(0.0, bias) if bias > 0 else 0.0
    v, a = latent[:, 0], latent[:, 1]
    base = np.stack([v, a, 0.6 * v, 0.8 * v], axis=1)
    out = 5.0 + 3.5 * base + b + (rng.normal(0.0, noise, (n, 4)) if noise > 0 else 0.0)
    return np.round(np.clip(out, 1.0, 9.0), 2)


def _narrowband(rng: np.random.Generator, shape: tuple[int, ...], n: int, freq: np.ndarray,
                width: float) -> np.ndarray:
    """Unit-variance Gaussian narrowband noise around ``freq`` (broadcast to ``shape``'s
    leading axes) with a Gaussian spectral peak of SD ``width`` Hz."""
    f = np.fft.rfftfreq(n, d=1.0 / FS)
    amp = np.exp(-0.5 * ((f - np.asarray(freq)[..., None]) / width) ** 2)
    x = _shaped_noise(rng, shape, n, amp)
    return x / (x.std(axis=-1, keepdims=True) + 1e-12)


def _pink(rng: np.random.Generator, shape: tuple[int, ...], n: int,
          slope: np.ndarray | float) -> np.ndarray:
    """1/f^slope background (1–45 Hz), unit variance per row."""
    f = np.fft.rfftfreq(n, d=1.0 / FS)
    band = (f >= 1.0) & (f <= 45.0)
    amp = np.where(band, np.maximum(f, 1.0) ** (-np.asarray(slope)[..., None] / 2.0), 0.0)
    x = _shaped_noise(rng, shape, n, amp)
    return x / (x.std(axis=-1, keepdims=True) + 1e-12)


def _bursts(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Slow amplitude envelope (below ~0.5 Hz), mean about 1: rhythms come in bursts."""
    f = np.fft.rfftfreq(n, d=1.0 / FS)
    env = _shaped_noise(rng, shape, n, np.exp(-0.5 * (f / 0.25) ** 2))
    env /= env.std(axis=-1, keepdims=True) + 1e-12
    return np.exp(0.5 * env - 0.125)


def _eeg_broadband(rng: np.random.Generator, a_t: np.ndarray, n_trials: int, n: int,
                  strength: float) -> np.ndarray:
    slope = rng.uniform(1.0, 1.8)
    x = _pink(rng, (n_trials, 32), n, slope)
    gain = rng.lognormal(0.0, 0.15, 32)[None, :, None]  # channels differ in how much
    return x * np.exp(0.35 * strength * gain * a_t)


def _eeg_rhythms(rng: np.random.Generator, a_t: np.ndarray, n_trials: int, n: int,
                strength: float) -> np.ndarray:
    slope = rng.uniform(1.0, 1.8)
    x = _pink(rng, (n_trials, 32), n, slope)
    f_beta = np.full((n_trials, 32), rng.uniform(18.0, 24.0))
    f_alpha = np.full((n_trials, 32), rng.uniform(9.0, 11.0))
    beta = _narrowband(rng, (n_trials, 32), n, f_beta, 1.0)  # independent phase per channel
    alpha = _narrowband(rng, (n_trials, 32), n, f_alpha, 0.7)
    beta *= 0.45 * np.exp(0.6 * strength * a_t)
    alpha *= 0.9 * np.exp(-0.4 * strength * a_t)
    return x + beta + alpha


def _eeg_sources(rng: np.random.Generator, a_t: np.ndarray, n_trials: int, n: int,
                strength: float) -> np.ndarray:
    slope = rng.uniform(1.0, 1.8)
    freqs = np.concatenate([rng.uniform(17.0, 26.0, 3), rng.uniform(8.5, 11.5, 2)])
    src = _narrowband(rng, (n_trials, 5), n, np.broadcast_to(freqs, (n_trials, 5)), 0.8)
    src *= _bursts(rng, (n_trials, 5), n)
    k = np.array([0.7, 0.7, 0.7, -0.5, -0.5])[None, :, None]
    src *= np.exp(k * strength * a_t)
    topo = rng.normal(0.0, 1.0, (32, 5))
    topo /= np.linalg.norm(topo, axis=0, keepdims=True) / np.sqrt(32 / 5)
    mixed = np.einsum("cs,tsn->tcn", topo, src) * 0.6
    return _pink(rng, (n_trials, 32), n, slope) + mixed


def _eeg_aperiodic(rng: np.random.Generator, a_t: np.ndarray, n_trials: int, n: int,
                  strength: float) -> np.ndarray:
    f = np.fft.rfftfreq(n, d=1.0 / FS)
    band = (f >= 1.0) & (f <= 45.0)
    logf = np.log(np.maximum(f, 1.0) / 20.0)  # pivot at 20 Hz
    slope0 = rng.uniform(1.2, 2.0)
    # the slope changes within a trial with the stimulus: built as a mix of two fixed-slope
    # backgrounds weighted by the momentary arousal, which keeps it smooth in time
    lo = np.where(band, np.exp(-(slope0 - 0.5 * strength) / 2.0 * logf), 0.0)
    hi = np.where(band, np.exp(-(slope0 + 0.5 * strength) / 2.0 * logf), 0.0)
    spec = (rng.standard_normal((n_trials, 32, len(f)))
            + 1j * rng.standard_normal((n_trials, 32, len(f))))
    flat, steep = np.fft.irfft(spec * lo, n=n), np.fft.irfft(spec * hi, n=n)
    w = 0.5 * (1.0 + np.clip(a_t, -1.0, 1.0))  # 1 = high arousal = flatter spectrum
    x = w * flat + (1.0 - w) * steep
    x /= x.std() + 1e-12  # one scale per subject: the trials keep their power differences
    f_alpha = np.full((n_trials, 32), rng.uniform(9.0, 11.0))
    return x + 0.6 * _narrowband(rng, (n_trials, 32), n, f_alpha, 0.7)


_EEG = {"broadband": _eeg_broadband, "rhythms": _eeg_rhythms, "sources": _eeg_sources,
        "aperiodic": _eeg_aperiodic, "confounded": _eeg_broadband}


def _world_gsr(rng: np.random.Generator, a_t: np.ndarray, n: int, cue: float = 1.0,
               state_t: np.ndarray | None = None) -> np.ndarray:
    """Skin conductance (trials, n) in µS: a tonic level with drift that rises slightly with
    arousal (3 % at the highest), plus responses whose rate (×2.7 from neutral to the
    highest arousal) and size (×1.35) grow with it: a weaker, noisier cue than the EEG's.
    ``cue`` multiplies the three effects' exponents (the confounded family's 2.5); ``state_t``
    (trials, n) is a fractional rise of the tonic level (the confounded family's confound)."""
    n_trials = a_t.shape[0]
    a = a_t[:, 0, :]
    level = rng.lognormal(np.log(4.0), 0.5) * rng.lognormal(0.0, 0.1, (n_trials, 1))
    f = np.fft.rfftfreq(n, d=1.0 / FS)
    drift = _shaped_noise(rng, (n_trials,), n, 1.0 / (1.0 + (f / 0.02) ** 2))
    drift /= drift.std(axis=-1, keepdims=True) + 1e-12
    rate = rng.uniform(3.0, 8.0) / 60.0 / FS * np.exp(1.0 * cue * a)
    events = rng.random((n_trials, n)) < rate
    amp = events * rng.exponential(rng.uniform(0.05, 0.3), (n_trials, n)) * np.exp(0.3 * cue * a)
    tk = np.arange(int(20 * FS)) / FS
    kernel = np.exp(-tk / 3.5) - np.exp(-tk / 0.7)
    kernel = np.concatenate([np.zeros(int(1.5 * FS)), kernel / kernel.max()])
    smooth = np.exp(-tk / 8.0)
    tonic = level * (1.0 + 0.04 * drift + 0.03 * cue * _fft_filter(a, smooth / smooth.sum()))
    if state_t is not None:
        tonic = tonic * (1.0 + state_t)
    gsr = tonic + _fft_filter(amp, kernel)
    return np.clip(gsr + rng.normal(0.0, 0.005, (n_trials, n)), 0.05, None)


def _check_family(family: str) -> None:
    if family not in _EEG:
        names = ", ".join(w for w in WORLDS if w in _EEG)
        raise ConfigError(f"--world must be one of {names}, not {family!r}")


def world_subject(family: str, subject: int, n_trials: int, seconds: float, seed: int,
                  rating_noise: float = WORLD_RATING_NOISE,
                  rating_bias: float = 0.0) -> SyntheticSubject:
    """One subject of world ``family`` (3 s of neutral baseline, then ``seconds`` of
    stimulus at 128 Hz), in the shape :func:`~emotionkd.datasets.synthetic.deap_arrays`
    writes."""
    _check_family(family)
    rng = subject_rng(seed, subject, family)  # its first 4 letters pick the stream
    latent = np.stack([rng.uniform(-1, 1, n_trials), rng.uniform(-1, 1, n_trials)], axis=1)
    ratings = world_ratings(rng, latent, rating_noise, rating_bias)
    state = None
    if family in CONFOUNDS:  # a bodily state (warmth, exertion) felt as arousal, seen in GSR
        to_rating, to_tonic = CONFOUNDS[family]
        state = rng.normal(0.0, 1.0, n_trials)
        ratings[:, 1] = np.round(np.clip(ratings[:, 1] + to_rating * state, 1.0, 9.0), 2)
    onset = int(round(BASELINE_S * FS))
    n = onset + int(round(seconds * FS))
    w = _stimulus_weight(n, FS, onset, None)
    a_t = latent[:, 1][:, None, None] * w[None, None, :]  # (trials, 1, n)
    strength = rng.uniform(0.6, 1.4)  # subjects differ in how strongly the EEG shows it
    eeg = _EEG[family](rng, a_t, n_trials, n, strength)
    eeg = eeg * rng.lognormal(np.log(10.0), 0.3) * rng.lognormal(0.0, 0.2, (1, 32, 1))
    eeg -= eeg.mean(axis=1, keepdims=True)  # common average reference, as DEAP
    # the state builds up over the stimulus like arousal does (0 in the baseline)
    state_t = None if state is None else CONFOUNDS[family][1] * state[:, None] * w[None, :]
    gsr = _world_gsr(rng, a_t, n, GSR_CUES.get(family, 1.0), state_t)
    per = synth_peripheral(rng, latent, FS, n)
    return SyntheticSubject(subject, FS, onset, eeg, gsr, per, ratings, latent, None)


def write_world(out_dir: str | os.PathLike, family: str, n_subjects: int = 8,
                n_trials: int = 20, seconds: float = 30.0, seed: int = 0,
                rating_noise: float = WORLD_RATING_NOISE, rating_bias: float = 0.0,
                fmt: str = "dat", overwrite: bool = False,
                progress: Callable[..., None] | None = None) -> list[Path]:
    """Write world ``family`` in DEAP's preprocessed layout (as ``synth deap`` does), with
    the latent table beside it. Returns the subject files."""
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.validation import check_number

    _check_family(family)
    check_number(rating_noise, "--label-noise", low=0, high=10)
    check_number(rating_bias, "--rating-bias", low=0, high=10)

    def generate(k: int) -> SyntheticSubject:
        return world_subject(family, k, n_trials, seconds, seed, rating_noise, rating_bias)

    return write_deap(out_dir, n_subjects=n_subjects, n_trials=n_trials, seconds=seconds,
                      seed=seed, fmt=fmt, overwrite=overwrite, progress=progress,
                      generate=generate)
