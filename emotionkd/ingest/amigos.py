"""AMIGOS' preprocessed release → store, through the pipeline of ``preprocess deap``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from emotionkd.datasets.records import TrialList
from emotionkd.preprocess import CleanOptions, Job, PreprocessReport, input_bytes, run_pipeline


def _read_amigos(job: Job) -> TrialList:
    from emotionkd.datasets.amigos import iter_trials

    o = job.options
    return iter_trials(Path(job.path), job.subject, list(job.channels), o["videos"],
                       o["baseline_s"], o["trim_samples"], o["gsr_unit"])


def _check_settings(videos: str, baseline: str, baseline_s: float, trim_samples: int) -> int:
    """The checked trim (samples); refuses a baseline that the trim would leave empty."""
    from emotionkd.choices import AMIGOS_VIDEOS
    from emotionkd.datasets.amigos import AMIGOS_FS
    from emotionkd.errors import ConfigError
    from emotionkd.validation import check_choice, check_number

    check_choice(videos, "--videos", AMIGOS_VIDEOS)
    check_number(baseline_s, "--baseline-seconds", low=0, high=60,
                 why=" (the pre-stimulus part of every AMIGOS trial)")
    trim = int(check_number(trim_samples, "--trim-samples", low=0, high=1280, integer=True))
    if round(baseline_s * AMIGOS_FS) <= trim and baseline == "subtract":
        raise ConfigError("--baseline subtract needs a baseline longer than --trim-samples")
    return trim


def preprocess_amigos(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    videos: str = "short",
    eeg_channels: str | Sequence[str] | None = None,
    baseline: str = "subtract",
    baseline_s: float = 5.0,
    gsr_unit: str = "auto",
    eeg_filter: str = "none",
    target_fs: float | None = None,
    trim_samples: int = 20,
    overwrite: bool = False,
    skip_bad: bool = False,
    strict: bool = False,
    workers: int = 1,
    progress: Callable[..., None] | None = None,
) -> PreprocessReport:
    """AMIGOS' preprocessed release (``Data_Preprocessed_PXX`` folders, .mat or .zip files)
    → store: the 14 Emotiv EEG channels by name in DEAP's order, GSR in µS, the 12
    self-assessment ratings with their scales (1-9, and 0/1 for the basic emotions).

    ``videos``: "short" (the 16 short videos, default), "long" (the 4 long ones) or "all".
    Trials are numbered by video (short videos keep their number, long videos N1, P1, B1, U1
    are 101-104). ``baseline_s`` is the pre-stimulus part at the start of each trial (5 s by
    peer consensus); the first ``trim_samples`` samples (GSR filter start-up) are dropped.
    The EEG is already band-passed 4-45 Hz and common-average referenced (over its 14
    channels): ``eeg_filter="deap"`` repeats that conditioning, "none" (default) keeps it.
    Empty cells, cells without ratings and cells with NaN samples are skipped one by one
    (an error with ``strict``)."""
    from emotionkd.datasets import amigos as a
    from emotionkd.datasets.synthetic import LATENT_FILE, read_latent_table

    trim = _check_settings(videos, baseline, baseline_s, trim_samples)
    channels = a.resolve_channels(eeg_channels)
    opts = CleanOptions(baseline=baseline, gsr_unit=gsr_unit, target_fs=target_fs,
                        eeg_filter=eeg_filter, keep_channels=tuple(channels))
    folder = a.scan_folder(raw)
    # the common average reference needs every electrode: read all 14, keep the chosen ones
    read = tuple(a.AMIGOS_EEG_CHANNELS) if eeg_filter == "deap" else tuple(channels)
    jobs = [Job(str(p), read, subject=s, options={
        "videos": videos, "baseline_s": float(baseline_s), "trim_samples": trim,
        "gsr_unit": opts.gsr_unit}) for s, p in folder.files]
    inputs = [p for _, p in folder.files] + [Path(raw) / LATENT_FILE]
    return run_pipeline(
        jobs=jobs, read=_read_amigos, out=out, source="amigos", eeg_channels=channels,
        rating_names=a.AMIGOS_RATING_NAMES, rating_scales=a.AMIGOS_RATING_SCALES, fs=a.AMIGOS_FS,
        opts=opts, preprocessing=_record(raw, folder.files, videos, baseline_s, trim,
                                         eeg_filter),
        overwrite=overwrite, skip_bad=skip_bad, strict=strict, workers=workers,
        stray=[p.name for p in folder.stray if p.name != LATENT_FILE], progress=progress,
        latent=read_latent_table(raw), inputs=inputs,
        need_bytes=_need_bytes(folder.files, len(channels), target_fs),
    )


def _need_bytes(files: Sequence[tuple[int, Path]], n_eeg: int, target_fs: float | None
                ) -> float:
    """The store's size, estimated: float64 (samples, 17) → float32 kept EEG + GSR, at the
    stored rate; zips are compressed (say 3:1)."""
    from emotionkd.datasets.amigos import AMIGOS_FS

    raw_bytes = sum(input_bytes([p]) * (3 if p.suffix.lower() == ".zip" else 1)
                    for _, p in files)
    return raw_bytes * (n_eeg + 1) / 17 / 2 * (target_fs or AMIGOS_FS) / AMIGOS_FS + 4 * 2**20


def _record(raw: str | os.PathLike, files: Sequence[tuple[int, Path]], videos: str,
            baseline_s: float, trim: int, eeg_filter: str) -> dict:
    """The reader's entries of the store's preprocessing record."""
    return {
        "reader": "amigos-preprocessed", "raw": str(Path(raw).resolve()),
        "videos": videos, "baseline_s": float(baseline_s), "trim_samples": trim,
        "trial_numbers": "video number; long videos N1, P1, B1, U1 = 101-104",
        "eeg_conditioning": (
            "as released (4-45 Hz, common average of the 14 channels), then 4-45 Hz "
            "band-pass and common average reference again" if eeg_filter == "deap"
            else "as released: 4-45 Hz band-pass, common average of the 14 channels"),
        "files": [str(p.relative_to(raw)) for _, p in files]}
