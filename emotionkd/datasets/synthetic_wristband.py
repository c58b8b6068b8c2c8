"""A synthetic wristband recording: skin conductance as an Empatica E4 ``EDA.csv``.

What ``predict`` reads from a wearable, made by the generator of ``synth deap``
(:mod:`emotionkd.datasets.synthetic`): one synthetic person watches a sequence of one-minute
clips, each with its own latent (valence, arousal); the skin conductance follows the
moment-to-moment arousal (tonic rise, phasic responses) at 128 Hz and is then sampled at the
wristband's rate (E4: 4 Hz) through an anti-aliasing filter. The file has E4's layout: the
session's start as a Unix time, the sampling rate, then one value per row in µS. The clips'
latent states go to ``NAME.latent.csv`` beside it, so predictions can be compared with them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from emotionkd.datasets.synthetic import (
    DEFAULT_GSR_CUE,
    apply_cues,
    check_cues,
    latent_emotion,
    latent_trajectory,
    stimulus_set,
    subject_params,
    subject_rng,
    synth_gsr,
)
from emotionkd.errors import ConfigError
from emotionkd.signals import resample
from emotionkd.validation import check_number

#: the generator's rate; the file is resampled from it to the wristband's rate
GENERATOR_FS = 128.0
#: the length of one clip (a new latent state each clip)
CLIP_SECONDS = 60.0
#: the session start written in the first row (2023-11-14 22:13:20 UTC; fixed, so that the
#: same seed gives the same file)
START_UNIX = 1_700_000_000.0


def wristband_gsr(seconds: float, rate: float = 4.0, seed: int = 0,
                  gsr_cue: float = DEFAULT_GSR_CUE) -> tuple[np.ndarray, np.ndarray]:
    """(skin conductance in µS at ``rate``, the clips' latent (valence, arousal), shape
    (clips, 2)) of one synthetic person over ``seconds``."""
    check_number(seconds, "--seconds", low=8, high=24 * 3600,
                 why=" (at least two 4-s windows, at most a day)")
    check_number(rate, "--rate", low=1, high=GENERATOR_FS,
                 why=f" (Hz; the generator runs at {GENERATOR_FS:g} Hz)")
    check_cues(1.0, gsr_cue, 1.0)
    rng = subject_rng(seed, 1, "wristband")
    sp = apply_cues(subject_params(rng), 1.0, gsr_cue)
    n_clips = math.ceil(seconds / CLIP_SECONDS)
    latent = latent_emotion(rng, stimulus_set(seed, n_clips))
    n_clip = int(round(CLIP_SECONDS * GENERATOR_FS))
    traj = latent_trajectory(rng, latent, GENERATOR_FS, n_clip, onset=0)  # (clips, 2, n)
    one = traj.transpose(1, 0, 2).reshape(1, 2, n_clips * n_clip)  # the clips in a row
    gsr = synth_gsr(rng, sp, one, GENERATOR_FS)[0, : int(round(seconds * GENERATOR_FS))]
    try:
        out = resample(gsr, GENERATOR_FS, rate)
    except ConfigError:
        raise ConfigError(f"--rate {rate:g}: choose a rate that divides into "
                          f"{GENERATOR_FS:g} Hz by a simple ratio, e.g. 4, 32 or 64") from None
    return np.clip(out, 0.01, None), latent


def write_wristband(out: str | os.PathLike, seconds: float = 300.0, rate: float = 4.0,
                    seed: int = 0, gsr_cue: float = DEFAULT_GSR_CUE,
                    overwrite: bool = False) -> Path:
    """Write a synthetic E4 ``EDA.csv`` (and ``NAME.latent.csv``) to ``out``; return ``out``."""
    from emotionkd.outputs import check_output, write_text_atomic

    out = Path(out)
    latent_path = out.with_name(out.stem + ".latent.csv")
    check_output(out, overwrite=overwrite)
    check_output(latent_path, overwrite=overwrite, inputs=[out])
    values, latent = wristband_gsr(seconds, rate, seed, gsr_cue)
    rows = [f"{START_UNIX:.6f}", f"{rate:.6f}", *(f"{v:.6f}" for v in values)]
    write_text_atomic(out, "\n".join(rows) + "\n", overwrite=overwrite)
    table = ["clip,start_s,stop_s,valence,arousal"]
    for k, (v, a) in enumerate(latent):
        stop = min((k + 1) * CLIP_SECONDS, seconds)
        table.append(f"{k + 1},{k * CLIP_SECONDS:g},{stop:g},{v:.4f},{a:.4f}")
    write_text_atomic(latent_path, "\n".join(table) + "\n", overwrite=overwrite)
    return out
