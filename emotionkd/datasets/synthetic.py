"""Synthetic physiology for the embedded default, tests and benchmarks.

The generator makes EEG and skin conductance whose properties depend on a latent emotional
state, so that models can learn from them, and writes them *in the real raw layouts* (DEAP's
``data_preprocessed_python``/``_matlab`` here; MAHNOB-HCI's Sessions/ tree in ``hci``), so
that everything downstream runs exactly the code path real data takes.

The signal model (documented in docs/synthetic-data.md):

* Each trial has a latent valence and arousal in [-1, 1]; the self-reports are the latent
  state mapped to the 1–9 scale plus rating noise (so labels are imperfect, as in real data).
* EEG (µV, 32 channels in DEAP order): 1/f^β background, band-limited rhythms (theta, alpha at
  the subject's own peak frequency, beta, gamma) with scalp topographies, a shared component
  (volume conduction), a slow multiplicative envelope, then the DEAP pipeline's 4–45 Hz band
  and common average reference. During the stimulus, arousal raises beta and gamma power and
  lowers alpha; valence shifts frontal alpha asymmetry (left frontal alpha falls, right rises,
  with positive valence). The pre-stimulus baseline uses the neutral state.
* GSR (µS): a subject-specific tonic level with a slow drift, an arousal-dependent tonic rise
  after onset, and phasic skin-conductance responses (bi-exponential shapes with latency) whose
  rate and amplitude grow with arousal; plus sensor noise. It carries weaker, noisier emotion
  information than the EEG.
* Subjects differ in channel gains, alpha frequency, 1/f slope, tonic level, SCR
  responsiveness and the strength (sometimes near zero) of their EEG and GSR emotion effects,
  so cross-subject generalisation is not trivial.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionkd.datasets.records import DEAP_CHANNELS, DEAP_EEG_CHANNELS
from emotionkd.errors import ConfigError

_LEFT_FRONTAL = ["Fp1", "AF3", "F3", "F7", "FC5", "FC1"]
_RIGHT_FRONTAL = ["Fp2", "AF4", "F4", "F8", "FC6", "FC2"]
_POSTERIOR = ["P3", "P7", "PO3", "O1", "Oz", "Pz", "P4", "P8", "PO4", "O2"]
_IDX = {c: i for i, c in enumerate(DEAP_EEG_CHANNELS)}


@dataclass
class SubjectParams:
    """Per-subject physiology (drawn once per subject from its seed)."""

    channel_gain: np.ndarray  # (32,) background amplitude per channel, µV
    slope: float  # 1/f exponent
    alpha_freq: float  # Hz
    alpha_gain: float
    eeg_strength: float  # scales all EEG emotion effects (can be near 0)
    valence_strength: float  # frontal-asymmetry effect
    scl: float  # tonic skin conductance, µS
    scr_rate: float  # phasic responses per minute at neutral arousal
    scr_amp: float  # mean SCR amplitude at neutral arousal, µS
    gsr_strength: float  # scales GSR arousal effects (non-responders ≈ 0)
    tau_decay: float  # SCR recovery time constant, s


def subject_params(rng: np.random.Generator) -> SubjectParams:
    """Draw one subject's physiology."""
    responder = rng.random() > 0.15
    return SubjectParams(
        channel_gain=rng.lognormal(np.log(9.0), 0.25, size=32) * rng.lognormal(0.0, 0.3),
        slope=float(rng.uniform(0.8, 1.6)),
        alpha_freq=float(np.clip(rng.normal(10.0, 0.8), 8.5, 12.0)),
        alpha_gain=float(rng.lognormal(np.log(1.4), 0.3)),
        eeg_strength=float(rng.uniform(0.35, 1.2)),
        valence_strength=float(rng.uniform(0.2, 1.0)),
        scl=float(rng.lognormal(np.log(5.0), 0.6)),
        scr_rate=float(rng.uniform(2.0, 5.0)),
        scr_amp=float(rng.uniform(0.05, 0.35)),
        gsr_strength=float(rng.uniform(0.5, 1.1) if responder else rng.uniform(0.0, 0.15)),
        tau_decay=float(rng.uniform(2.5, 4.5)),
    )


def stimulus_set(seed: int, n_trials: int) -> np.ndarray:
    """Latent (valence, arousal) of the stimulus videos, shared by every subject.

    Like DEAP's 40 music videos, the set is balanced over the four valence-arousal quadrants
    (cycling HAHV, LAHV, LALV, HALV in video order), with magnitudes spread over (0.15, 0.95).
    """
    rng = np.random.default_rng([int(seed) % (2**32), 7777])
    quad = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]], dtype=np.float64)
    signs = quad[np.arange(n_trials) % 4]
    mags = rng.uniform(0.15, 0.95, size=(n_trials, 2))
    return signs * mags


def latent_emotion(rng: np.random.Generator, stimuli: np.ndarray | int) -> np.ndarray:
    """A subject's latent (valence, arousal) per trial: the video's emotion plus the subject's
    own reaction (SD 0.3), in [-1, 1]. ``stimuli`` is the stimulus set, or a trial count for
    a random (seed-independent) set."""
    if isinstance(stimuli, (int, np.integer)):
        stimuli = rng.uniform(-0.95, 0.95, size=(int(stimuli), 2))
    return np.clip(stimuli + rng.normal(0.0, 0.3, stimuli.shape), -1, 1)


def ratings_from_latent(
    rng: np.random.Generator, latent: np.ndarray, integer: bool = False,
    noise: float = 1.0,
) -> np.ndarray:
    """Self-reports (valence, arousal, dominance, liking) on the 1–9 scale with rating noise
    (SD ``noise`` scale points)."""
    n = latent.shape[0]
    v, a = latent[:, 0], latent[:, 1]
    dom = 0.5 * v + 0.2 * a + rng.normal(0, 0.35, n)
    lik = 0.7 * v + rng.normal(0, 0.35, n)
    scaled = 5.0 + 4.0 * np.stack([v, a, np.clip(dom, -1, 1), np.clip(lik, -1, 1)], axis=1)
    noisy = scaled + rng.normal(0, noise, scaled.shape)
    out = np.clip(noisy, 1.0, 9.0)
    return np.rint(out) if integer else np.round(out, 2)


def _shaped_noise(
    rng: np.random.Generator, shape: tuple[int, ...], n: int, amp: np.ndarray
) -> np.ndarray:
    """Gaussian noise of length ``n`` with amplitude spectrum ``amp`` (last axis: rfft bins).

    Scaled so that the variance of the output equals the mean of ``amp**2`` over the bins.
    """
    nf = n // 2 + 1
    spec = rng.standard_normal(shape + (nf,)) + 1j * rng.standard_normal(shape + (nf,))
    spec *= amp
    spec[..., 0] = 0.0
    return np.fft.irfft(spec, n=n, axis=-1) * (n / np.sqrt(4.0 * nf))


def _fft_filter(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Causal linear convolution of each row of ``x`` with ``kernel``, truncated to len(x)."""
    n = x.shape[-1]
    m = n + len(kernel) - 1
    nfft = 1 << (m - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, nfft, axis=-1) * np.fft.rfft(kernel, nfft), nfft, axis=-1)
    return y[..., :n]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _stimulus_weight(n: int, fs: float, onset: int, stop: int | None) -> np.ndarray:
    """0 before the stimulus, 1 during it (0.5-s ramps), back to 0 after ``stop``."""
    t = np.arange(n, dtype=np.float64)
    ramp = 0.125 * fs
    w = _sigmoid((t - onset - 2 * ramp) / ramp)
    if stop is not None and stop < n:
        w *= _sigmoid((stop - t) / ramp)
    return w


def _topographies() -> dict[str, np.ndarray]:
    alpha = np.full(32, 0.6)
    alpha[[_IDX[c] for c in _POSTERIOR]] = 1.3
    theta = np.full(32, 0.5)
    theta[[_IDX[c] for c in ("Fz", "FC1", "FC2", "AF3", "AF4", "F3", "F4", "Cz")]] = 0.9
    gamma = np.full(32, 0.8)
    gamma[[_IDX[c] for c in ("T7", "T8", "F7", "F8", "Fp1", "Fp2", "P7", "P8")]] = 1.2
    return {"alpha": alpha, "theta": theta, "beta": np.ones(32), "gamma": gamma}


def latent_trajectory(
    rng: np.random.Generator,
    latent: np.ndarray,
    fs: float,
    n: int,
    onset: int,
    stop: int | None = None,
    sd: float = 0.35,
) -> np.ndarray:
    """Moment-to-moment (valence, arousal), shape (trials, 2, n).

    Emotion is not constant during a video: the trial's latent state plus a slow fluctuation
    (SD ``sd``, timescale ≈ 10 s), clipped to [-1, 1], and 0 (neutral) outside the stimulus
    with 0.5-s transitions. EEG and GSR both follow this trajectory; the self-report only
    reflects the trial as a whole.
    """
    n_trials = latent.shape[0]
    f = np.fft.rfftfreq(n, d=1.0 / fs)
    fluct = _shaped_noise(rng, (n_trials, 2), n, np.exp(-0.5 * (f / 0.05) ** 2))
    fluct *= sd / (fluct.std(axis=-1, keepdims=True) + 1e-12)
    w = _stimulus_weight(n, fs, onset, stop)
    return np.clip(latent[:, :, None] + fluct, -1.0, 1.0) * w[None, None, :]


def synth_eeg(rng: np.random.Generator, sp: SubjectParams, traj: np.ndarray,
              fs: float) -> np.ndarray:
    """EEG in µV, shape (trials, 32, n), channels in DEAP order (see module docstring), from
    the moment-to-moment (valence, arousal) ``traj`` (trials, 2, n) of
    :func:`latent_trajectory`."""
    n_trials, _, n = traj.shape
    v, a = traj[:, 0:1, :], traj[:, 1:2, :]  # (trials, 1, n)
    f = np.fft.rfftfreq(n, d=1.0 / fs)
    band = _sigmoid((f - 4.0) / 0.5) * _sigmoid((45.0 - f) / 1.0)  # DEAP's 4-45 Hz band
    topo = _topographies()
    shapes = {
        "theta": np.exp(-0.5 * ((f - 6.0) / 1.2) ** 2),
        "alpha": np.exp(-0.5 * ((f - sp.alpha_freq) / 1.0) ** 2),
        "beta": _sigmoid((f - 14.0) / 1.0) * _sigmoid((29.0 - f) / 1.0),
        "gamma": _sigmoid((f - 31.0) / 1.0) * _sigmoid((44.0 - f) / 1.0),
    }
    base_gain = {"theta": 6.0, "alpha": 13.0 * sp.alpha_gain, "beta": 3.2, "gamma": 2.0}
    arousal_k = {"theta": 0.0, "alpha": -0.3, "beta": 0.45, "gamma": 0.55}
    asym = np.zeros(32)
    asym[[_IDX[c] for c in _LEFT_FRONTAL]] = -1.0
    asym[[_IDX[c] for c in _RIGHT_FRONTAL]] = 1.0
    background = 3.0 * sp.channel_gain[None, :, None] / (1.0 + f) ** (sp.slope / 2.0)
    x = _shaped_noise(rng, (n_trials, 32), n, background * band)
    s_e, s_v = sp.eeg_strength, sp.valence_strength
    for b, shp in shapes.items():
        rhythm = _shaped_noise(rng, (n_trials, 32), n, np.sqrt(12.0 * shp) * band)
        jitter = rng.lognormal(0.0, 0.12, size=(n_trials, 1, 1))  # emotion-independent
        gain = base_gain[b] * topo[b][None, :, None] * jitter
        if arousal_k[b]:
            gain = gain * np.exp(arousal_k[b] * s_e * a)
        if b == "alpha":  # frontal asymmetry: left alpha falls, right rises with valence
            gain = gain * np.exp(0.45 * s_v * v * asym[None, :, None])
        x += rhythm * gain
    # slow, emotion-independent non-stationarity (envelope below ~0.1 Hz)
    env = _shaped_noise(rng, (n_trials, 1), n, np.exp(-0.5 * (f / 0.05) ** 2))
    env /= env.std(axis=-1, keepdims=True) + 1e-12
    x *= np.exp(0.12 * env)
    x -= x.mean(axis=1, keepdims=True)  # common average reference
    return x


def synth_gsr(rng: np.random.Generator, sp: SubjectParams, traj: np.ndarray,
              fs: float) -> np.ndarray:
    """Skin conductance in µS, shape (trials, n) (see module docstring), from ``traj`` as
    :func:`synth_eeg`."""
    n_trials, _, n = traj.shape
    a = traj[:, 1, :]  # (trials, n), 0 outside the stimulus
    s = sp.gsr_strength
    f = np.fft.rfftfreq(n, d=1.0 / fs)
    drift = _shaped_noise(rng, (n_trials,), n, 1.0 / (1.0 + (f / 0.01) ** 2))
    drift /= drift.std(axis=-1, keepdims=True) + 1e-12
    level = sp.scl * rng.lognormal(0.0, 0.08, size=(n_trials, 1))
    tonic = level * (1.0 + 0.03 * drift)
    # slow tonic change following arousal (first-order response, time constant 8 s)
    tk = np.arange(int(40 * fs)) / fs
    smooth = np.exp(-tk / 8.0)
    tonic += 0.10 * s * level * _fft_filter(a, smooth / smooth.sum())
    # phasic responses: Poisson events whose rate and amplitude grow with momentary arousal
    p_event = np.clip(sp.scr_rate / 60.0 / fs * np.exp(0.9 * s * a), 0, 1)
    events = rng.random((n_trials, n)) < p_event
    impulses = events * rng.exponential(1.0, size=(n_trials, n)) * sp.scr_amp * np.exp(
        0.5 * s * a)
    tk = np.arange(int(np.ceil(8 * sp.tau_decay * fs))) / fs
    kernel = np.exp(-tk / sp.tau_decay) - np.exp(-tk / 0.75)
    kernel /= kernel.max()
    delay = int(round(1.5 * fs))  # response latency
    kernel = np.concatenate([np.zeros(delay), kernel])
    phasic = _fft_filter(impulses, kernel)
    gsr = tonic + phasic + rng.normal(0.0, 0.004, size=(n_trials, n))
    return np.clip(gsr, 0.05, None)


def synth_peripheral(
    rng: np.random.Generator, latent: np.ndarray, fs: float, n: int
) -> dict[str, np.ndarray]:
    """Plausible EOG, EMG, respiration, plethysmograph and temperature rows, shape (trials, n)."""
    n_trials = latent.shape[0]
    t = np.arange(n) / fs
    a = latent[:, 1:2]
    blinks = (rng.random((n_trials, n)) < 0.25 / fs).astype(np.float64)
    kt = np.arange(-int(0.3 * fs), int(0.3 * fs) + 1) / fs
    blink_shape = 150.0 * np.exp(-0.5 * (kt / 0.07) ** 2)
    veog = _fft_filter(blinks, blink_shape)
    veog = np.roll(veog, -(len(blink_shape) // 2), axis=-1)
    jumps = rng.normal(0, 1, (n_trials, n)) * (rng.random((n_trials, n)) < 0.5 / fs)
    saccades = np.cumsum(jumps, axis=-1)
    heog = 40.0 * (saccades - saccades.mean(-1, keepdims=True))
    f_resp = 0.25 * (1.0 + 0.1 * a) + rng.normal(0, 0.01, (n_trials, 1))
    f_heart = 1.1 * (1.0 + 0.05 * a) + rng.normal(0, 0.03, (n_trials, 1))
    phase = rng.uniform(0, 2 * np.pi, (n_trials, 2))
    resp = 800.0 * np.sin(2 * np.pi * f_resp * t + phase[:, :1]) + rng.normal(0, 20, (n_trials, n))
    heart = 2 * np.pi * f_heart * t + phase[:, 1:]
    plet = 1500.0 * (np.sin(heart) + 0.4 * np.sin(2 * heart)) + rng.normal(0, 30, (n_trials, n))
    temp = 32.0 + rng.normal(0, 1.0, (n_trials, 1)) + 0.002 * t + rng.normal(0, 0.01, (n_trials, n))
    return {
        "hEOG": heog + rng.normal(0, 5, (n_trials, n)),
        "vEOG": veog + rng.normal(0, 5, (n_trials, n)),
        "zEMG": rng.normal(0, 8.0, (n_trials, n)),
        "tEMG": rng.normal(0, 12.0, (n_trials, n)),
        "Respiration": resp,
        "Plethysmograph": plet,
        "Temperature": temp,
    }


@dataclass
class SyntheticSubject:
    """All trials of one synthetic subject: physiology plus ratings."""

    subject: int
    fs: float
    onset: int
    eeg: np.ndarray  # (trials, 32, n) µV
    gsr_us: np.ndarray  # (trials, n) µS
    peripheral: dict[str, np.ndarray]
    ratings: np.ndarray  # (trials, 4): valence, arousal, dominance, liking
    latent: np.ndarray  # (trials, 2)
    params: SubjectParams | None  # None for the world families (datasets/worlds.py)


#: default strength of the emotion effects on the EEG (a multiplier of the effect sizes in
#: docs/synthetic-data.md) and on the GSR, and the SD of the rating noise (rating points)
DEFAULT_EEG_CUE = 1.0
#: the EEG effects of ``eeg_cue = 1``, relative to emotionkd 0.1's generator: with 0.1's
#: strength two band powers barely beat the GSR features (a world too weak to show whether a
#: teacher knows more than its student); ``eeg_cue = 1/3`` gives 0.1's world back
EEG_EFFECT_SCALE = 3.0
DEFAULT_GSR_CUE = 1.0
DEFAULT_LABEL_NOISE = 1.0
#: the sidecar table of latent emotions that ``write_deap``/``write_hci`` put beside the data
LATENT_FILE = "emotionkd-latent.csv"


def check_cues(eeg_cue: float, gsr_cue: float, label_noise: float) -> None:
    """The cue strengths and the label noise must be finite and non-negative."""
    for name, v in (("--eeg-cue", eeg_cue), ("--gsr-cue", gsr_cue),
                    ("--label-noise", label_noise)):
        if not (isinstance(v, (int, float)) and np.isfinite(v) and 0 <= v <= 100):
            raise ConfigError(f"{name} must be a number between 0 and 100, got {v!r}")


def apply_cues(sp: SubjectParams, eeg_cue: float, gsr_cue: float) -> SubjectParams:
    """A subject's physiology with its emotion effects scaled by the cue strengths."""
    sp.eeg_strength *= EEG_EFFECT_SCALE * eeg_cue
    sp.valence_strength *= EEG_EFFECT_SCALE * eeg_cue
    sp.gsr_strength *= gsr_cue
    return sp


def write_latent_table(path: Path, rows: list[tuple[int, int, float, float]]) -> None:
    """Write the latent (valence, arousal) of every trial as CSV (subject, trial, valence,
    arousal), atomically: the ground truth that self-reports only approximate."""
    from emotionkd.outputs import write_text_atomic

    lines = ["subject,trial,valence,arousal"]
    lines += [f"{s},{t},{v:.6f},{a:.6f}" for s, t, v, a in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_latent_table(folder: str | os.PathLike) -> dict[tuple[int, int], np.ndarray] | None:
    """The latent table of a synthetic data folder: {(subject, trial): (valence, arousal)};
    None when the folder has none (real data)."""
    from emotionkd.errors import DataFormatError

    path = Path(folder) / LATENT_FILE
    if not path.is_file():
        return None
    out: dict[tuple[int, int], np.ndarray] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines or lines[0].strip() != "subject,trial,valence,arousal":
            raise ValueError("unexpected header")
        for line in lines[1:]:
            if line.strip():
                s, t, v, a = line.split(",")
                out[(int(s), int(t))] = np.array([float(v), float(a)])
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: unreadable latent-emotion table ({exc}); regenerate "
                              "the synthetic data or delete the file") from None
    return out


def subject_rng(seed: int, subject: int, stream: str = "") -> np.random.Generator:
    """Independent, reproducible random stream per (seed, subject): a subject's data does not
    depend on how many other subjects are generated."""
    extra = [int.from_bytes(stream.encode(), "little") % (2**32)] if stream else []
    return np.random.default_rng([int(seed) % (2**32), int(subject), *extra])


def generate_subject(
    subject: int,
    n_trials: int = 40,
    stimulus_s: float = 60.0,
    baseline_s: float = 3.0,
    fs: float = 128.0,
    seed: int = 0,
    integer_ratings: bool = False,
    peripheral: bool = True,
    label_noise: float = DEFAULT_LABEL_NOISE,
    eeg_cue: float = DEFAULT_EEG_CUE,
    gsr_cue: float = DEFAULT_GSR_CUE,
) -> SyntheticSubject:
    """One DEAP-like subject: ``baseline_s`` of pre-trial baseline then ``stimulus_s`` of video.

    ``eeg_cue`` and ``gsr_cue`` scale the emotion effects on the EEG and the GSR (0 removes
    them); ``label_noise`` is the SD of the self-reports' noise in rating points."""
    check_cues(eeg_cue, gsr_cue, label_noise)
    if n_trials < 1 or stimulus_s <= 0 or baseline_s < 0 or fs <= 0:
        raise ConfigError("synthetic data needs trials >= 1, seconds > 0 and fs > 0")
    rng = subject_rng(seed, subject)
    sp = apply_cues(subject_params(rng), eeg_cue, gsr_cue)
    latent = latent_emotion(rng, stimulus_set(seed, n_trials))
    ratings = ratings_from_latent(rng, latent, integer=integer_ratings, noise=label_noise)
    onset = int(round(baseline_s * fs))
    n = onset + int(round(stimulus_s * fs))
    traj = latent_trajectory(rng, latent, fs, n, onset)
    eeg = synth_eeg(rng, sp, traj, fs)
    gsr = synth_gsr(rng, sp, traj, fs)
    per = synth_peripheral(rng, latent, fs, n) if peripheral else {}
    return SyntheticSubject(subject, fs, onset, eeg, gsr, per, ratings, latent, sp)


def deap_arrays(subj: SyntheticSubject) -> dict[str, np.ndarray]:
    """The ``{'data', 'labels'}`` dict of a DEAP ``sXX.dat``: (trials, 40, samples) float64 with
    GSR in row 36 as skin resistance in Ohm, and (trials, 4) ratings."""
    n_trials, _, n = subj.eeg.shape
    data = np.empty((n_trials, 40, n), dtype=np.float64)
    data[:, :32] = subj.eeg
    for row, name in enumerate(DEAP_CHANNELS[32:], start=32):
        if name == "GSR":
            data[:, row] = 1e6 / subj.gsr_us  # µS -> Ohm
        elif name in subj.peripheral:
            data[:, row] = subj.peripheral[name]
        else:
            data[:, row] = 0.0
    return {"data": data, "labels": subj.ratings.astype(np.float64)}


def _check_deap_request(out: Path, n_subjects: int, seconds: float, fmt: str,
                        overwrite: bool) -> list[Path]:
    """The subject files ``write_deap`` would write, after checking what it was asked."""
    from emotionkd.validation import check_number

    check_number(seconds, "--seconds", low=1, high=3600, why=" (per trial)")
    if fmt not in ("dat", "mat"):
        raise ConfigError(f"--format must be 'dat' or 'mat', not {fmt!r}")
    if not 1 <= n_subjects <= 99:
        raise ConfigError(f"--subjects must be between 1 and 99, got {n_subjects}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder; choose another --out")
    names = [out / f"s{k:02d}.{fmt}" for k in range(1, n_subjects + 1)]
    clash = [p.name for p in names if p.exists()]
    if clash and not overwrite:
        raise ConfigError(
            f"{out}: already holds {', '.join(clash[:3])}{'…' if len(clash) > 3 else ''}; "
            "pass --overwrite or choose another --out"
        )
    return names


def write_deap(
    out_dir: str | os.PathLike,
    n_subjects: int = 4,
    n_trials: int = 40,
    seconds: float = 60.0,
    seed: int = 0,
    fmt: str = "dat",
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    label_noise: float = DEFAULT_LABEL_NOISE,
    eeg_cue: float = DEFAULT_EEG_CUE,
    gsr_cue: float = DEFAULT_GSR_CUE,
    generate: Callable[[int], SyntheticSubject] | None = None,
) -> list[Path]:
    """Write ``s01``..``sNN`` in DEAP's ``data_preprocessed_python`` (``fmt='dat'``: Python-2
    pickles) or ``data_preprocessed_matlab`` (``fmt='mat'``) layout, plus the latent emotion
    of every trial in :data:`LATENT_FILE`. Returns the paths of the subject files.
    ``generate(k)`` makes subject ``k`` instead of this module's generator (the world
    families of :mod:`emotionkd.datasets.worlds`)."""
    from emotionkd.datasets.py2pickle import dump_py2
    from emotionkd.outputs import atomic_output, check_free_space, check_output, make_folder

    check_cues(eeg_cue, gsr_cue, label_noise)
    out = Path(out_dir)
    names = _check_deap_request(out, n_subjects, seconds, fmt, overwrite)
    check_output(out, overwrite=True, kind="dir")
    # float64 (trials, 40, samples) per subject, 3 s of baseline before the stimulus
    check_free_space(out / "x", n_subjects * n_trials * 40 * (seconds + 3) * 128 * 8 + 2**20)
    make_folder(out)
    latent_rows: list[tuple[int, int, float, float]] = []
    for k, path in enumerate(names, start=1):
        subj = generate(k) if generate is not None else generate_subject(
            k, n_trials, seconds, seed=seed, label_noise=label_noise, eeg_cue=eeg_cue,
            gsr_cue=gsr_cue)
        latent_rows += [(k, t + 1, float(v), float(a)) for t, (v, a) in enumerate(subj.latent)]
        arrays = deap_arrays(subj)
        with atomic_output(path, lock=False) as tmp, open(tmp, "wb") as fh:
            if fmt == "dat":
                dump_py2({"labels": arrays["labels"], "data": arrays["data"]}, fh)
            else:
                from scipy.io import savemat

                savemat(fh, arrays, format="5", do_compression=False)
        if progress is not None:
            progress(k, n_subjects)
    write_latent_table(out / LATENT_FILE, latent_rows)
    return names
