"""Synthetic MAHNOB-HCI-Tagging ``Sessions/`` trees in the real layout.

For every subject p and trial k: a neutral-clip session (id 130(p−1) + 2k − 1, file
``Part_{p}_N_Trial{k}_emotion.bdf``, no ratings) and an emotional-clip session (id
130(p−1) + 2k, ``Part_{p}_S_Trial{k}_emotion.bdf``, ``feltArsl`` … in session.xml). Each BDF
is a genuine BioSemi 24-bit file with the 47 HCI channels at 256 Hz in HCI order (EEG in the
BioSemi cap order, not DEAP's), 30 s before the stimulus and 30 s after it, GSR1 as skin
resistance in Ohm, and a Status channel whose system bits sit in the high byte and whose low
16 bits carry 268 in two short pulses, at the stimulus onset and at its end. The physiology
comes from the same generator as ``synth deap`` (:mod:`emotionkd.datasets.synthetic`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from emotionkd.datasets.bdf import BdfChannel, write_bdf
from emotionkd.datasets.hci import BIOSEMI32_CAP_ORDER, HCI_CHANNELS
from emotionkd.datasets.records import DEAP_EEG_CHANNELS
from emotionkd.datasets.synthetic import (
    DEFAULT_EEG_CUE,
    DEFAULT_GSR_CUE,
    DEFAULT_LABEL_NOISE,
    LATENT_FILE,
    SubjectParams,
    apply_cues,
    check_cues,
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

FS = 256
PRE_S = POST_S = 30.0
STATUS_SYSTEM = 0x1C0000  # CMS in range + speed-mode bits, as in real BioSemi recordings
STATUS_CODE = 268
PULSE_S = 0.05
EMOTION_BY_QUADRANT = {(1, 1): 4, (1, -1): 11, (-1, 1): 3, (-1, -1): 5}  # joy, amusement,
# fear, sadness (HCI feltEmo codes)


def _channels() -> list[BdfChannel]:
    chans = []
    for name in HCI_CHANNELS:
        if name == "Status":
            chans.append(BdfChannel(name, "Boolean", -8388608, 8388607, "Triggers and Status"))
        elif name.startswith("GSR"):
            chans.append(BdfChannel(name, "Ohm", 0, 16777215, "Nihon Kohden GSR"))
        elif name == "Temp":
            chans.append(BdfChannel(name, "DegC", -100, 200, "Temperature"))
        else:
            chans.append(BdfChannel(name, "uV", -262144, 262143, "Active electrode",
                                    "HP:DC; LP:52 Hz"))
    return chans


def _session_xml(session_id: int, subject: int, bdf: str, ratings: np.ndarray | None,
                 emotion: int, cut: int, length_s: float, media: str) -> str:
    attrs = {
        "sessionId": str(session_id), "date": "2009-01-01", "time": "12:00:00",
        "experimentType": "emotion", "isStim": "1" if ratings is not None else "0",
        "cutNr": str(cut), "cutLenSec": f"{length_s:.3f}", "vidRate": "60.9708",
        "mediaFile": media,
    }
    if ratings is not None:
        attrs.update({"feltEmo": str(emotion), "feltArsl": str(int(ratings[1])),
                      "feltVlnc": str(int(ratings[0])), "feltCtrl": str(int(ratings[2])),
                      "feltPred": str(int(ratings[3]))})
    head = " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items())
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<session {head}>\n'
            f'  <subject id="{subject}" />\n'
            f'  <track type="Physiological" filename="{bdf}" />\n</session>\n')


def session_signals(rng: np.random.Generator, sp: SubjectParams, latent: np.ndarray,
                    stim_s: float, fs: int = FS,
                    channel_order: Sequence[str] | None = None) -> tuple[np.ndarray, int, int]:
    """(47 × n data, onset, end) of one session; rows in ``channel_order`` (HCI order)."""
    onset = int(round(PRE_S * fs))
    end = onset + int(round(stim_s * fs))
    n = end + int(round(POST_S * fs))
    traj = latent_trajectory(rng, latent[None, :], fs, n, onset, end)
    eeg = synth_eeg(rng, sp, traj, fs)[0]
    t = np.arange(n) / fs
    # what raw, unreferenced BioSemi EEG carries and DEAP's preprocessing removes: DC offsets
    # (µV), a common-mode signal shared by every electrode (mains hum at 50 Hz and a slow
    # drift) and a slow drift per electrode
    eeg += rng.uniform(-5000, 5000, size=(32, 1))
    common = 25.0 * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi))
    common += 40.0 * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 2 * np.pi))
    eeg += common[None, :]
    eeg += rng.normal(0, 15.0, size=(32, 1)) * np.sin(
        2 * np.pi * rng.uniform(0.02, 0.2, size=(32, 1)) * t[None, :]
        + rng.uniform(0, 2 * np.pi, size=(32, 1)))
    gsr_us = synth_gsr(rng, sp, traj, fs)[0]
    rows: dict[str, np.ndarray] = {c: eeg[DEAP_EEG_CHANNELS.index(c)] for c in
                                   BIOSEMI32_CAP_ORDER}
    beat = np.sin(2 * np.pi * 1.15 * t)
    ecg = 400 * np.maximum(beat, 0) ** 20 - 60 * np.maximum(-beat, 0) ** 3
    for i in range(1, 9):
        rows[f"EXG{i}"] = (ecg * (1.0 - 0.2 * i) if i <= 3 else np.zeros(n)) + rng.normal(
            0, 2.0, n)
    rows["GSR1"] = 1e6 / gsr_us
    rows["GSR2"] = np.zeros(n)
    rows["Erg1"] = rows["Erg2"] = np.zeros(n)
    rows["Resp"] = 300 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 5, n)
    rows["Temp"] = 32.0 + 0.001 * t + rng.normal(0, 0.01, n)
    status = np.full(n, STATUS_SYSTEM, dtype=np.int64)
    pulse = int(round(PULSE_S * fs))
    status[onset:onset + pulse] |= STATUS_CODE
    status[end:end + pulse] |= STATUS_CODE
    rows["Status"] = status
    order = list(channel_order) if channel_order is not None else HCI_CHANNELS
    return np.stack([rows[c] for c in order]), onset, end


def write_hci(
    out_dir: str | os.PathLike,
    n_subjects: int = 2,
    n_trials: int = 20,
    seed: int = 0,
    stimulus_s: tuple[float, float] = (35.0, 117.0),
    neutral_s: tuple[float, float] = (5.3, 22.2),
    overwrite: bool = False,
    progress: Callable[..., None] | None = None,
    channel_order: Sequence[str] | None = None,
    label_noise: float = DEFAULT_LABEL_NOISE,
    eeg_cue: float = DEFAULT_EEG_CUE,
    gsr_cue: float = DEFAULT_GSR_CUE,
) -> list[Path]:
    """Write a Sessions/ tree, plus the latent emotion of every emotional clip in
    :data:`~emotionkd.datasets.synthetic.LATENT_FILE` at its root; returns the session
    folders (neutral and emotional). The cue strengths and label noise are those of
    :func:`~emotionkd.datasets.synthetic.generate_subject`."""
    _check_arguments(n_subjects, n_trials, stimulus_s, neutral_s, label_noise, eeg_cue, gsr_cue)
    root = _prepare_folder(Path(out_dir), overwrite, n_subjects * n_trials,
                           max(stimulus_s) + max(neutral_s) + 4 * 30.0)
    chans = _channels()
    if channel_order is not None:
        by_name = {c.label: c for c in chans}
        chans = [by_name[c] for c in channel_order]
    stimuli = stimulus_set(seed, n_trials)
    folders = []
    latent_rows: list[tuple[int, int, float, float]] = []
    total = n_subjects * n_trials
    for p in range(1, n_subjects + 1):
        rng = subject_rng(seed, p, "hci")
        sp = apply_cues(subject_params(rng), eeg_cue, gsr_cue)
        latent = np.clip(stimuli + rng.normal(0, 0.3, stimuli.shape), -1, 1)
        ratings = ratings_from_latent(rng, latent, integer=True, noise=label_noise)
        latent_rows += [(p, k + 1, float(v), float(a)) for k, (v, a) in enumerate(latent)]
        base = 130 * (p - 1)
        for k in range(1, n_trials + 1):
            for kind, sid in (("N", base + 2 * k - 1), ("S", base + 2 * k)):
                lo, hi = stimulus_s if kind == "S" else neutral_s
                emotional = kind == "S"
                folders.append(_write_session(
                    root / str(sid), rng, sp, chans, channel_order, p=p, k=k, kind=kind,
                    length=float(rng.uniform(lo, hi)),
                    latent=latent[k - 1] if emotional else np.zeros(2),
                    ratings=ratings[k - 1] if emotional else None))
            if progress is not None:
                progress((p - 1) * n_trials + k, total)
    write_latent_table(root / LATENT_FILE, latent_rows)
    return folders


def _check_arguments(n_subjects: int, n_trials: int, stimulus_s: tuple[float, float],
                     neutral_s: tuple[float, float], label_noise: float, eeg_cue: float,
                     gsr_cue: float) -> None:
    from emotionkd.validation import check_number

    check_cues(eeg_cue, gsr_cue, label_noise)
    for lo_hi, option in ((stimulus_s, "--stimulus-seconds"), (neutral_s, "neutral_s")):
        lo = check_number(lo_hi[0], option, low=1, high=3600, why=" (clip lengths)")
        check_number(lo_hi[1], option, low=lo, high=3600, why=" (clip lengths, low-high)")
    if not 1 <= n_subjects <= 30:
        raise ConfigError(f"--subjects must be between 1 and 30, got {n_subjects}")
    if not 1 <= n_trials <= 20:
        raise ConfigError(f"--trials must be between 1 and 20 (HCI has 20 clips), got "
                          f"{n_trials}")


def _prepare_folder(root: Path, overwrite: bool, n_clips: int, clip_s: float) -> Path:
    """Check the output folder and its free space (24-bit samples of every channel at 256 Hz
    for ``n_clips`` clips of at most ``clip_s`` seconds each), then create it."""
    from emotionkd.outputs import check_free_space, check_output, make_folder

    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: exists and is not a folder; choose another --out")
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ConfigError(f"{root}: exists and is not empty; pass --overwrite or choose "
                          "another --out")
    check_output(root, overwrite=True, kind="dir")
    check_free_space(root / "x", n_clips * clip_s * FS * len(_channels()) * 3 + 2**20)
    make_folder(root)
    return root


def _write_session(folder: Path, rng: np.random.Generator, sp: SubjectParams,
                   chans: list[BdfChannel],
                   channel_order: Sequence[str] | None, *, p: int, k: int, kind: str,
                   length: float, latent: np.ndarray, ratings: np.ndarray | None) -> Path:
    """One session folder: the BDF recording of clip ``k`` of participant ``p`` (``kind``
    "N" neutral, "S" emotional) and its session.xml."""
    from emotionkd.outputs import write_text_atomic

    folder.mkdir(exist_ok=True)
    sid = int(folder.name)
    bdf = f"Part_{p}_{kind}_Trial{k}_emotion.bdf"
    data, _, _ = session_signals(rng, sp, latent, length, FS, channel_order)
    write_bdf(folder / bdf, chans, data, FS, digital=[c.label == "Status" for c in chans],
              subject=f"Part_{p}", recording=f"session {sid}")
    quad = (int(np.sign(latent[0]) or 1), int(np.sign(latent[1]) or 1))
    xml = _session_xml(sid, p, bdf, ratings, EMOTION_BY_QUADRANT[quad], 2 * k - (kind == "N"),
                       length, f"{'n' if kind == 'N' else ''}{k}.avi")
    write_text_atomic(folder / "session.xml", xml, lock=False)
    return folder
