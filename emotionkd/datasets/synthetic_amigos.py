"""Synthetic AMIGOS ``Data_Preprocessed_PXX.mat`` files in the release's layout.

Each participant file is MAT v5 (written by scipy) with the release's four variables in its
order, each a 1 × 20 cell array: ``VideoIDs`` (the video code as text), ``joined_data``
(float64 samples × 17 at 128 Hz: the 14 Emotiv channels AF3 … AF4 in file order, ECG right
and left, GSR as skin resistance in Ohm), ``labels_ext_annotation`` (segment number,
valence, arousal per 20-s segment) and ``labels_selfassessment`` (1 × 12: arousal, valence,
dominance, liking, familiarity on 1-9, then seven 0/1 emotions). Cells 0-15 are the short
videos in ascending number, 16-19 the long videos N1, P1, B1, U1; every trial starts with a
5-s baseline, and the first GSR samples carry a filter start-up transient. The known gaps of
the real release are reproduced where those participants are written: no long videos for
P08, P24 and P28 (0 × 0 data, 1 × 0 labels), no long-video ratings for P32, and NaN-filled
short trials for P09, P12, P21-P24 and P33. The physiology comes from the generator of
``synth deap`` (:mod:`emotionkd.datasets.synthetic`); the latent emotion of every video goes
to ``emotionkd-latent.csv`` (trial = video number, long videos 101-104).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from emotionkd.choices import AMIGOS_LAYOUTS
from emotionkd.datasets.amigos import (
    AMIGOS_COLUMNS,
    AMIGOS_FILE_EEG,
    AMIGOS_FS,
    LONG_VIDEOS,
    SHORT_VIDEOS,
)
from emotionkd.datasets.records import DEAP_EEG_CHANNELS
from emotionkd.datasets.synthetic import (
    DEFAULT_EEG_CUE,
    DEFAULT_GSR_CUE,
    DEFAULT_LABEL_NOISE,
    LATENT_FILE,
    apply_cues,
    check_cues,
    latent_emotion,
    latent_trajectory,
    ratings_from_latent,
    stimulus_set,
    subject_params,
    subject_rng,
    synth_eeg,
    synth_gsr,
    write_latent_table,
)
from emotionkd.errors import ConfigError
from emotionkd.validation import check_choice, check_number

BASELINE_S = 5.0
#: participants without long-video recordings in the real release
REFERENCE_MISSING_LONG = (8, 24, 28)
#: participants with long-video recordings but no long-video self-assessment
REFERENCE_UNLABELLED_LONG = (32,)
#: participant -> short videos (1-based positions among the 16) with NaN-filled data
REFERENCE_NAN_SHORT: dict[int, tuple[int, ...]] = {
    9: (1, 2, 3, 6, 7, 9, 11, 12, 13, 15, 16), 12: (5,), 21: (2, 11), 22: (16,),
    23: (1, 5, 7, 9, 12), 24: (1, 8, 12, 13, 14, 15, 16),
    33: (1, 2, 3, 7, 8, 9, 10, 11, 13, 16),
}
#: share of valence and arousal ratings left at the slider's rest position, 5.0
TIE_SHARE = 0.1
_STARTUP = 20  # samples of GSR filter start-up
_CODES = [str(v) for v in SHORT_VIDEOS] + list(LONG_VIDEOS)
_EEG_ROWS = [DEAP_EEG_CHANNELS.index(c) for c in AMIGOS_FILE_EEG]


def video_seconds(seed: int, short_s: tuple[float, float], long_s: tuple[float, float]
                  ) -> np.ndarray:
    """Stimulus length of each of the 20 videos, the same for every participant."""
    rng = np.random.default_rng([int(seed) % (2**32), 4242])
    return np.concatenate([rng.uniform(*short_s, size=16), rng.uniform(*long_s, size=4)])


def _ecg(rng: np.random.Generator, n: int, fs: float, arousal: np.ndarray) -> np.ndarray:
    """Two ECG leads (mV): P, QRS and T waves at beat times whose rate rises with arousal."""
    t = np.arange(n) / fs
    rate = 1.15 * (1.0 + 0.08 * arousal)  # beats per second, per sample
    beats = np.flatnonzero(np.diff(np.floor(np.cumsum(rate) / fs + rng.uniform()))) + 1
    lead = np.zeros(n)
    for b in beats[:, None] + np.array([-int(0.18 * fs), 0, int(0.25 * fs)]):
        for pos, amp, width in zip(b, (0.12, 1.0, 0.3), (0.025, 0.01, 0.05)):
            if 0 <= pos < n:
                lo, hi = max(pos - int(4 * width * fs), 0), min(pos + int(4 * width * fs), n)
                lead[lo:hi] += amp * np.exp(-0.5 * ((t[lo:hi] - t[pos]) / width) ** 2)
    noise = rng.normal(0.0, 0.02, (2, n))
    return np.stack([0.9 * lead, 0.6 * lead]) + noise


def _emotions(rng: np.random.Generator, latent: np.ndarray) -> np.ndarray:
    """The seven 0/1 basic-emotion columns (neutral, disgust, happiness, surprise, anger,
    fear, sadness) from the latent (valence, arousal); several may be 1."""
    v, a = latent[:, 0], latent[:, 1]
    u = rng.random((len(v), 4))
    happiness = v > 0.2
    sadness = (v < -0.2) & (a < 0.0)
    fear = (v < -0.2) & (a > 0.2)
    anger = (v < -0.4) & (a > 0.4) & (u[:, 0] < 0.5)
    disgust = (v < -0.3) & (u[:, 1] < 0.4)
    surprise = (a > 0.5) & (u[:, 2] < 0.5)
    felt = happiness | sadness | fear | anger | disgust | surprise
    neutral = ~felt | ((np.abs(v) < 0.2) & (np.abs(a) < 0.2) & (u[:, 3] < 0.5))
    return np.stack([neutral, disgust, happiness, surprise, anger, fear, sadness],
                    axis=1).astype(np.float64)


def self_assessment(rng: np.random.Generator, latent: np.ndarray, noise: float) -> np.ndarray:
    """(videos, 12) ratings in labels_selfassessment's column order."""
    vadl = ratings_from_latent(rng, latent, noise=noise)  # valence, arousal, dom., liking
    va = vadl[:, :2].copy()
    va[rng.random(va.shape) < TIE_SHARE] = 5.0
    familiarity = np.round(rng.uniform(1.0, 9.0, len(latent)), 2)
    whole = rng.random(len(latent)) < 0.5
    familiarity[whole] = np.rint(familiarity[whole])
    return np.column_stack([va[:, 1], va[:, 0], vadl[:, 2], vadl[:, 3], familiarity,
                            _emotions(rng, latent)])


def _cells(n: int) -> np.ndarray:
    return np.empty((1, n), dtype=object)


def participant_variables(
    subject: int,
    seed: int = 0,
    short_s: tuple[float, float] = (60.0, 120.0),
    long_s: tuple[float, float] = (60.0, 120.0),
    missing_long: Sequence[int] = REFERENCE_MISSING_LONG,
    unlabelled_long: Sequence[int] = REFERENCE_UNLABELLED_LONG,
    nan_short: Mapping[int, Sequence[int]] = REFERENCE_NAN_SHORT,
    label_noise: float = DEFAULT_LABEL_NOISE,
    eeg_cue: float = DEFAULT_EEG_CUE,
    gsr_cue: float = DEFAULT_GSR_CUE,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One participant's four MAT variables (1 × 20 object arrays, in the file's order) and
    the latent (valence, arousal) of the 20 videos."""
    fs = AMIGOS_FS
    rng = subject_rng(seed, subject, "amigos")
    sp = apply_cues(subject_params(rng), eeg_cue, gsr_cue)
    latent = latent_emotion(rng, stimulus_set(seed, 20))
    ratings = self_assessment(rng, latent, label_noise)
    seconds = video_seconds(seed, short_s, long_s)
    onset = int(round(BASELINE_S * fs))
    variables = {name: _cells(20) for name in
                 ("VideoIDs", "joined_data", "labels_ext_annotation", "labels_selfassessment")}
    for k, code in enumerate(_CODES):
        long = k >= 16
        variables["VideoIDs"][0, k] = code
        if long and subject in missing_long:
            variables["joined_data"][0, k] = np.zeros((0, 0))
            variables["labels_ext_annotation"][0, k] = np.zeros((0, 0))
            variables["labels_selfassessment"][0, k] = np.zeros((1, 0))
            continue
        n = onset + int(round(seconds[k] * fs))
        traj = latent_trajectory(rng, latent[k:k + 1], fs, n, onset)
        eeg = synth_eeg(rng, sp, traj, fs)[0][_EEG_ROWS]
        eeg -= eeg.mean(axis=0, keepdims=True)  # AMIGOS' common average over its 14
        ohm = 1e6 / synth_gsr(rng, sp, traj, fs)[0]
        ohm[:_STARTUP] *= 1.0 + 0.6 * np.exp(-np.arange(_STARTUP) / 4.0)  # filter start-up
        data = np.column_stack([eeg.T, _ecg(rng, n, fs, traj[0, 1]).T, ohm])
        if not long and k + 1 in tuple(nan_short.get(subject, ())):
            data[n // 2:] = np.nan  # an incomplete recording
        variables["joined_data"][0, k] = data
        starts = np.arange(onset, n, int(20 * fs))
        seg = np.array([[j + 1, *traj[0, :, s:s + int(20 * fs)].mean(axis=1)]
                        for j, s in enumerate(starts)])
        variables["labels_ext_annotation"][0, k] = seg
        labelled = not (long and subject in unlabelled_long)
        variables["labels_selfassessment"][0, k] = (ratings[k][None, :] if labelled
                                                    else np.zeros((1, 0)))
    return variables, latent


def _mat_bytes(variables: dict[str, np.ndarray], compress: bool) -> bytes:
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, variables, format="5", do_compression=compress)
    return buf.getvalue()


def _check_settings(n_subjects: int, participants: Sequence[int] | None,
                    short_s: tuple[float, float], long_s: tuple[float, float],
                    layout: str) -> list[int]:
    """The participants to write, after checking the video lengths and the layout."""
    for lo_hi, option in ((short_s, "short_s"), (long_s, "long_s")):
        lo = check_number(lo_hi[0], option, low=1, high=7200, why=" (video lengths)")
        check_number(lo_hi[1], option, low=lo, high=7200, why=" (video lengths, low-high)")
    check_choice(layout, "--layout", AMIGOS_LAYOUTS)
    subjects = list(participants) if participants is not None else list(
        range(1, int(n_subjects) + 1))
    if not subjects or any(not 1 <= int(s) <= 99 for s in subjects) or \
            len(set(subjects)) != len(subjects):
        raise ConfigError(f"--subjects: participants must be distinct numbers 1-99, got "
                          f"{subjects}")
    return subjects


def _participant_paths(root: Path, subjects: Sequence[int], layout: str,
                       overwrite: bool) -> list[Path]:
    """Where each participant's file goes in ``layout``; existing ones need ``overwrite``."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder; choose another --out")
    paths = []
    for s in subjects:
        name = f"Data_Preprocessed_P{s:02d}"
        paths.append({"folders": root / name / f"{name}.mat", "flat": root / f"{name}.mat",
                      "zip": root / f"{name}.zip"}[layout])
    clash = [str(p.relative_to(root)) for p in paths if p.exists()]
    if clash and not overwrite:
        raise ConfigError(f"{root}: already holds {', '.join(clash[:3])}"
                          f"{'…' if len(clash) > 3 else ''}; pass --overwrite or choose "
                          "another --out")
    return paths


def _zipped(blob: bytes, stem: str) -> bytes:
    """A release zip: the .mat inside a folder of its name, Deflate-compressed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{stem}/{stem}.mat", blob)
    return buf.getvalue()


def write_amigos(
    out_dir: str | os.PathLike,
    n_subjects: int = 4,
    seed: int = 0,
    *,
    participants: Sequence[int] | None = None,
    short_s: tuple[float, float] = (60.0, 120.0),
    long_s: tuple[float, float] = (60.0, 120.0),
    layout: str = "folders",
    compress: bool = False,
    missing_long: Sequence[int] = REFERENCE_MISSING_LONG,
    unlabelled_long: Sequence[int] = REFERENCE_UNLABELLED_LONG,
    nan_short: Mapping[int, Sequence[int]] = REFERENCE_NAN_SHORT,
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    label_noise: float = DEFAULT_LABEL_NOISE,
    eeg_cue: float = DEFAULT_EEG_CUE,
    gsr_cue: float = DEFAULT_GSR_CUE,
) -> list[Path]:
    """Write participants P01 … (or ``participants``) in AMIGOS' preprocessed layout.

    ``layout``: "folders" (``Data_Preprocessed_PXX/Data_Preprocessed_PXX.mat``, the unpacked
    zips), "flat" (the .mat files side by side) or "zip" (``Data_Preprocessed_PXX.zip``
    holding that folder, Deflate-compressed). Real long videos last 14-24 min; ``long_s``
    defaults to short lengths to keep files small. ``missing_long``, ``unlabelled_long`` and
    ``nan_short`` are the gaps to reproduce (the real release's by default). Returns the
    participant files."""
    from emotionkd.outputs import atomic_output, check_free_space, check_output, make_folder

    check_cues(eeg_cue, gsr_cue, label_noise)
    subjects = _check_settings(n_subjects, participants, short_s, long_s, layout)
    root = Path(out_dir)
    paths = _participant_paths(root, subjects, layout, overwrite)
    check_output(root, overwrite=True, kind="dir")
    seconds = video_seconds(seed, short_s, long_s) + BASELINE_S
    check_free_space(root / "x", len(subjects) * seconds.sum() * AMIGOS_FS
                     * len(AMIGOS_COLUMNS) * 8 + 2**20)
    make_folder(root)
    latent_rows: list[tuple[int, int, float, float]] = []
    trial_ids = list(SHORT_VIDEOS) + list(LONG_VIDEOS.values())
    for k, (s, path) in enumerate(zip(subjects, paths), start=1):
        variables, latent = participant_variables(
            s, seed, short_s, long_s, missing_long, unlabelled_long, nan_short,
            label_noise, eeg_cue, gsr_cue)
        latent_rows += [(s, t, float(v), float(a)) for t, (v, a) in zip(trial_ids, latent)]
        blob = _mat_bytes(variables, compress)
        if layout == "zip":
            blob = _zipped(blob, path.stem)
        make_folder(path.parent)
        with atomic_output(path, lock=False) as tmp:
            Path(tmp).write_bytes(blob)
        if progress is not None:
            progress(k, len(subjects))
    write_latent_table(root / LATENT_FILE, latent_rows)
    return paths
