"""Trial records → cleaned trials (baseline, resampling, GSR units) → HDF5 store.

The pipeline is dataset-agnostic: a dataset supplies a list of *jobs* (:class:`Job`: a DEAP
subject file, an HCI session folder; the readers of :mod:`emotionkd.ingest` add AMIGOS and
your own recordings) and a picklable ``read(job) -> list[Trial]``. Jobs run one at a time or in
a process pool (``workers``); results are written to the store in job order as they arrive,
with at most ``workers`` jobs in flight, so peak memory does not grow with the dataset.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotionkd.choices import BASELINE_MODES, DEAP_FILTER_MIN_FS, EEG_FILTERS, GSR_UNITS
from emotionkd.datasets.records import Trial
from emotionkd.errors import ConfigError, DataFormatError, SkipRecord
from emotionkd.outputs import input_bytes
from emotionkd.signals import (
    condition_eeg,
    gsr_problem,
    gsr_to_microsiemens,
    infer_gsr_unit,
    resample,
    signals_digest,
)
from emotionkd.validation import check_choice, check_number

if TYPE_CHECKING:  # pragma: no cover
    from emotionkd.store import StoreWriter


@dataclass
class CleanOptions:
    """How raw trials are cleaned before storage."""

    baseline: str = "subtract"  # subtract the pre-stimulus mean | none (drop it) | keep
    gsr_unit: str = "auto"  # unit of the raw GSR; auto decides by magnitude
    target_fs: float | None = None  # resample to this rate (None: keep the raw rate)
    eeg_filter: str = "none"  # deap: 4–45 Hz band-pass + common average reference
    #: EEG channels to keep after conditioning (None: every channel read); the common average
    #: is taken over every channel read, as DEAP's is over all 32 before any selection
    keep_channels: tuple[str, ...] | None = None
    #: leave out trials of flat GSR and refuse a recording stored twice (the public
    #: datasets, where a flat trial is a sensor failure and a copy a copied file or session)
    screen: bool = False

    def __post_init__(self) -> None:
        check_choice(self.eeg_filter, "--eeg-filter", EEG_FILTERS)
        check_choice(self.baseline, "--baseline", BASELINE_MODES)
        self.gsr_unit = check_choice(str(self.gsr_unit).lower(), "--gsr-unit", GSR_UNITS)
        if self.target_fs is not None:
            self.target_fs = check_number(self.target_fs, "--fs", low=1, high=4096,
                                          why=" (Hz; the raw data is resampled to it)")
        if self.eeg_filter == "deap" and (self.target_fs or DEAP_FILTER_MIN_FS) < \
                DEAP_FILTER_MIN_FS:
            raise ConfigError(
                f"--fs must be at least {DEAP_FILTER_MIN_FS:g} Hz with --eeg-filter deap, got "
                f"{self.target_fs:g}: the 4-45 Hz band-pass needs its upper edge (at most "
                f"0.45 × the rate) above 4 Hz; give a higher --fs or --eeg-filter none")


@dataclass
class CleanTrial:
    subject: int
    trial: int
    eeg: np.ndarray  # float32 (C, n)
    gsr: np.ndarray  # float32 (n,) µS
    ratings: np.ndarray
    onset: int  # stimulus start within the stored trial (0 unless baseline kept)
    latent: np.ndarray | None = None  # synthetic data only: latent (valence, arousal)
    #: why the trial cannot be stored (flat or implausible GSR); "" when it can
    problem: str = ""
    #: a digest of its signals: two trials with the same one are one recording stored twice
    digest: str = ""


@dataclass(frozen=True)
class Job:
    """One input of a run (a DEAP subject file, an HCI session folder, an AMIGOS participant,
    a recording of your own): its path or name, which messages use, and what its reader
    needs: the EEG channels to read, the subject, and the reader's own ``options`` (plain,
    picklable values, so a job can run in a worker process)."""

    path: str
    channels: tuple[str, ...] = ()
    subject: int = 0
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        return self.path


@dataclass
class JobResult:
    job: str
    trials: list[CleanTrial] = field(default_factory=list)
    gsr_unit: str = ""
    gsr_unit_reason: str = ""
    error: str = ""
    skipped: bool = False
    expected: bool = False
    exception: Exception | None = None
    trial_skips: list[str] = field(default_factory=list)  # trials the reader left out


@dataclass
class PreprocessReport:
    """What a preprocessing run did; printed by the CLI, stored (in part) in the file."""

    out: str
    source: str
    n_subjects: int = 0
    n_trials: int = 0
    sampling_rate: float = 0.0
    eeg_channels: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (job, reason)
    ignored: list[str] = field(default_factory=list)  # expected non-trials (neutral clips)
    stray: list[str] = field(default_factory=list)
    gsr_units: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    total_duration_s: float = 0.0
    #: digest of every trial written → (job, trial): no recording is stored twice
    digests: dict[str, tuple[str, int]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("digests")
        return out


# ---------------------------------------------------------------------------------------------
# cleaning one trial


def clean_trial(trial: Trial, opts: CleanOptions, gsr_unit: str) -> CleanTrial:
    """Unit conversion, optional resampling and EEG conditioning, then baseline handling;
    float32 output.

    Without resampling the EEG goes from the raw float64 rows to the float32 result in one
    pass (no float64 intermediate copies): this is the hot loop of `preprocess deap`.
    """
    src = f"{trial.source_file} (subject {trial.subject}, trial {trial.trial})"
    if trial.onset < 1 and opts.baseline == "subtract":
        raise DataFormatError(f"{src}: no pre-stimulus baseline to subtract; use --baseline none")
    eeg = np.asarray(trial.eeg)
    gsr = gsr_to_microsiemens(trial.gsr, gsr_unit, src, "--gsr-unit")
    problem = gsr_problem(gsr, flat=opts.screen)
    digest = signals_digest(eeg, gsr) if opts.screen else ""
    onset = trial.onset
    if opts.target_fs is not None and opts.target_fs != trial.fs:
        both = resample(np.vstack([eeg, gsr[None, :]]), trial.fs, opts.target_fs)
        eeg, gsr = both[:-1], both[-1]
        onset = int(round(onset * opts.target_fs / trial.fs))
    if opts.eeg_filter == "deap":
        eeg = condition_eeg(eeg, opts.target_fs or trial.fs)
    if opts.keep_channels is not None and list(opts.keep_channels) != list(trial.eeg_channels):
        rows = {c: i for i, c in enumerate(trial.eeg_channels)}
        eeg = eeg[[rows[c] for c in opts.keep_channels]]
    if eeg.shape[1] <= onset:
        raise DataFormatError(f"{src}: the trial has no samples after the stimulus onset")
    if opts.baseline == "subtract":
        base = eeg[:, :onset].mean(axis=1, keepdims=True)
        out = np.empty((eeg.shape[0], eeg.shape[1] - onset), dtype=np.float32)
        np.subtract(eeg[:, onset:], base, out=out, casting="same_kind")
        eeg, gsr, onset = out, gsr[onset:] - gsr[:onset].mean(), 0
    elif opts.baseline == "none":
        eeg, gsr, onset = eeg[:, onset:], gsr[onset:], 0
    eeg = eeg.astype(np.float32, copy=False)
    gsr = gsr.astype(np.float32)
    if not (np.isfinite(eeg).all() and np.isfinite(gsr).all()):
        raise DataFormatError(f"{src}: NaN or Inf after cleaning")
    return CleanTrial(subject=trial.subject, trial=trial.trial, eeg=eeg, gsr=gsr,
                      ratings=np.asarray(trial.ratings, dtype=np.float32), onset=onset,
                      problem=problem, digest=digest)


def _latent_for(latent: dict | None, subject: int, trial: int, source: str) -> np.ndarray | None:
    if latent is None:
        return None
    try:
        return latent[(int(subject), int(trial))]
    except KeyError:
        raise DataFormatError(f"{source}: the latent-emotion table has no row for subject "
                              f"{subject}, trial {trial}; regenerate the synthetic data") \
            from None


def _job_unit(trials: Sequence[Trial], opts: CleanOptions, job: Any) -> tuple[str, str]:
    """The unit of a job's raw GSR and why: ``--gsr-unit`` when given, else the reader's when
    it settled the unit (from the file's header, or an assumption it checked), else the one
    rule (:func:`~emotionkd.signals.infer_gsr_unit`) over every sample of the job."""
    if opts.gsr_unit != "auto":
        return opts.gsr_unit, "given by --gsr-unit"
    if trials[0].extra.get("gsr_unit_reason"):
        return trials[0].gsr_unit, trials[0].extra["gsr_unit_reason"]
    return infer_gsr_unit(np.concatenate([t.gsr for t in trials]), str(job), "--gsr-unit")


def process_job(
    read: Callable[[Any], list[Trial]], job: Any, opts: CleanOptions
) -> JobResult:
    """Read one job's trials and clean them; errors become a JobResult with ``error`` set.

    Module-level so it can run in a worker process.
    """
    res = JobResult(job=str(job))
    try:
        trials = read(job)
        skips = list(getattr(trials, "skipped", ()))
        if not trials:
            raise SkipRecord(f"{job}: no trials" + "".join(f"; {r}" for r in skips))
        res.trial_skips = skips
        unit, reason = _job_unit(trials, opts, job)
        res.gsr_unit, res.gsr_unit_reason = unit, reason
        cleaned = [clean_trial(t, opts, unit) for t in trials]
        res.trials = [t for t in cleaned if not t.problem]
        res.trial_skips += [f"subject {t.subject}, trial {t.trial}: {t.problem}; left out"
                            for t in cleaned if t.problem]
        if not res.trials:
            raise SkipRecord(f"{job}: no usable trials; {res.trial_skips[0]}")
    except SkipRecord as exc:
        res.error, res.skipped, res.exception = str(exc), True, exc
        res.expected = exc.expected
    except DataFormatError as exc:
        res.error, res.exception = str(exc), exc
    return res


# ---------------------------------------------------------------------------------------------
# the run


def run_pipeline(
    *,
    jobs: Sequence[Any],
    read: Callable[[Any], list[Trial]],
    out: str | os.PathLike,
    source: str,
    eeg_channels: Sequence[str],
    rating_names: Sequence[str],
    fs: float,
    opts: CleanOptions,
    rating_scales: Sequence[Sequence[float] | None] | None = None,
    preprocessing: dict[str, Any],
    overwrite: bool = False,
    skip_bad: bool = False,
    strict: bool = False,
    workers: int = 1,
    stray: Sequence[str] = (),
    progress: Callable[..., None] | None = None,
    latent: dict[tuple[int, int], np.ndarray] | None = None,
    inputs: Sequence[str | os.PathLike] = (),
    need_bytes: float = 0,
) -> PreprocessReport:
    """Process ``jobs`` in order and stream the cleaned trials into a new store at ``out``.

    A job that fails with a data error stops the run (nothing is written) unless ``skip_bad``;
    a :class:`SkipRecord` job is skipped with its reason unless ``strict``. ``latent`` (the
    latent-emotion table of synthetic data) is stored per trial when given. ``out`` must not
    be one of the ``inputs``; ``need_bytes`` (an estimate of the store's size) must be free
    on its disk before any work starts. ``rating_scales`` gives each rating's [min, max]
    (None for a category); trials a reader left out (``TrialList.skipped``) are skips."""
    from emotionkd.outputs import check_free_space, check_output
    from emotionkd.store import StoreWriter

    check_output(out, overwrite=overwrite, inputs=inputs)
    check_free_space(out, need_bytes)
    check_number(workers, "--workers", low=1, integer=True)
    t0 = time.perf_counter()
    report = PreprocessReport(out=str(out), source=source, stray=list(stray),
                              eeg_channels=list(eeg_channels))
    out_fs = opts.target_fs or fs
    report.sampling_rate = out_fs
    subjects: set[int] = set()
    with StoreWriter(out, source=source, sampling_rate=out_fs, eeg_channels=eeg_channels,
                     rating_names=rating_names, overwrite=overwrite, inputs=inputs,
                     rating_scales=rating_scales) as writer:
        for k, res in enumerate(_results(jobs, read, opts, workers), start=1):
            subjects |= _take(writer, res, report, latent, out_fs, skip_bad=skip_bad,
                              strict=strict)
            if progress is not None:
                progress(k, len(jobs), info=f"{writer.n_trials} trials")
        if writer.n_trials == 0:
            reasons = "; ".join(f"{j}: {r}" for j, r in report.skipped[:3])
            raise DataFormatError(f"no usable trials: every input was skipped ({reasons}); "
                                  "nothing was written")
        writer.preprocessing = _record(preprocessing, opts, out_fs, fs, report)
        report.n_trials = writer.n_trials
    report.n_subjects = len(subjects)
    report.seconds = time.perf_counter() - t0
    return report


def _record(preprocessing: dict[str, Any], opts: CleanOptions, out_fs: float, fs: float,
            report: PreprocessReport) -> dict[str, Any]:
    """The store's preprocessing record: the reader's entries and every cleaning decision."""
    # a reader that settles the unit itself records the option it was given
    unit_option = preprocessing.get("gsr_unit_option", opts.gsr_unit)
    return {**preprocessing, "baseline": opts.baseline, "gsr_unit_option": unit_option,
            "sampling_rate": out_fs, "raw_sampling_rate": fs, "eeg_filter": opts.eeg_filter,
            "gsr_units": report.gsr_units, "skipped": [f"{j}: {r}" for j, r in report.skipped]}


def _add_trials(writer: StoreWriter, res: JobResult, report: PreprocessReport,
                latent: dict[tuple[int, int], np.ndarray] | None, out_fs: float) -> set[int]:
    """Write a job's cleaned trials; returns their subjects."""
    report.gsr_units[res.job] = f"{res.gsr_unit} ({res.gsr_unit_reason})"
    for ct in res.trials:
        first = report.digests.setdefault(ct.digest, (res.job, ct.trial))
        if first != (res.job, ct.trial) and ct.digest:
            raise DataFormatError(
                f"{res.job}: trial {ct.trial} holds the same signals as trial {first[1]} of "
                f"{first[0]}: one recording stored twice would fall on both sides of a split "
                "(leakage); remove the copy and preprocess again")
        writer.add_trial(subject=ct.subject, trial=ct.trial, eeg=ct.eeg, gsr=ct.gsr,
                         ratings=ct.ratings, onset=ct.onset,
                         latent=_latent_for(latent, ct.subject, ct.trial, res.job))
        report.total_duration_s += (ct.eeg.shape[1] - ct.onset) / out_fs
    return {ct.subject for ct in res.trials}


def _take(writer: StoreWriter, res: JobResult, report: PreprocessReport,
          latent: dict[tuple[int, int], np.ndarray] | None, out_fs: float, *, skip_bad: bool,
          strict: bool) -> set[int]:
    """One job's result: the trials its reader left out (``TrialList.skipped``) reported as
    skips (the end of the run with ``strict``), then its trials written, or the job skipped
    or refused. Returns the subjects written."""
    if res.trial_skips and strict:
        raise DataFormatError(f"{res.trial_skips[0]} (an error because of --strict)")
    report.skipped += [(res.job, reason) for reason in res.trial_skips]
    if res.error:
        _refuse_or_skip(res, report, skip_bad=skip_bad, strict=strict)
        return set()
    return _add_trials(writer, res, report, latent, out_fs)


def _refuse_or_skip(res: JobResult, report: PreprocessReport, *, skip_bad: bool,
                    strict: bool) -> None:
    """A failed job: ignored (an input that is not a recording), skipped with its reason, or
    the end of the run."""
    if res.expected:
        report.ignored.append(res.job)
    elif (res.skipped and not strict) or (not res.skipped and skip_bad):
        report.skipped.append((res.job, res.error))
    elif res.skipped:
        raise DataFormatError(f"{res.error} (an error because of --strict)")
    else:
        raise res.exception or DataFormatError(res.error)


def _results(jobs: Sequence[Any], read: Callable, opts: CleanOptions, workers: int):
    """Yield JobResults in job order, with at most ``workers`` jobs in flight."""
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            yield process_job(read, job, opts)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: list[Future] = []
        it = iter(jobs)
        for job in it:
            pending.append(pool.submit(process_job, read, job, opts))
            if len(pending) >= workers:
                break
        while pending:
            fut = pending.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(process_job, read, nxt, opts))
            yield fut.result()


# ---------------------------------------------------------------------------------------------
# DEAP


def _read_deap(job: Job) -> list[Trial]:
    from emotionkd.datasets.deap import iter_trials

    return list(iter_trials(Path(job.path), job.subject, list(job.channels)))


def preprocess_deap(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    eeg_channels: Sequence[str] | None = None,
    baseline: str = "subtract",
    gsr_unit: str = "auto",
    fmt: str = "auto",
    overwrite: bool = False,
    skip_bad: bool = False,
    workers: int = 1,
    progress: Callable[..., None] | None = None,
) -> PreprocessReport:
    """DEAP ``data_preprocessed_python``/``_matlab`` folder → store (see docs/cli.md)."""
    from emotionkd.datasets.deap import DEAP_FS, scan_folder
    from emotionkd.datasets.records import DEAP_RATING_NAMES, resolve_eeg_channels
    from emotionkd.datasets.synthetic import LATENT_FILE, read_latent_table

    channels = resolve_eeg_channels(eeg_channels)
    opts = CleanOptions(baseline=baseline, gsr_unit=gsr_unit, screen=True)
    folder = scan_folder(raw, fmt)
    latent = read_latent_table(raw)
    jobs = [Job(str(p), tuple(channels), subject=s) for s, p in folder.files]
    inputs = [p for _, p in folder.files] + [Path(raw) / LATENT_FILE]
    # float64 rows of 40 channels in the raw files → float32 rows of the kept EEG and the GSR
    need = input_bytes(inputs) * (len(channels) + 1) / 40 / 2 + 4 * 2**20
    return run_pipeline(
        jobs=jobs, read=_read_deap, out=out, source="deap", eeg_channels=channels,
        rating_names=DEAP_RATING_NAMES, fs=DEAP_FS, opts=opts,
        rating_scales=[(1.0, 9.0)] * len(DEAP_RATING_NAMES),
        preprocessing={"reader": f"deap-{folder.kind}", "raw": str(Path(raw).resolve()),
                       "baseline_s": 3.0, "files": [p.name for _, p in folder.files]},
        overwrite=overwrite, skip_bad=skip_bad, workers=workers,
        stray=[p.name for p in folder.stray if p.name != LATENT_FILE], progress=progress,
        latent=latent, inputs=inputs, need_bytes=need,
    )


# ---------------------------------------------------------------------------------------------
# MAHNOB-HCI


def _read_hci(job: Job) -> list[Trial]:
    from emotionkd.datasets.hci import read_session

    return read_session(Path(job.path), list(job.channels))


def preprocess_hci(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    eeg_channels: Sequence[str] | None = None,
    baseline: str = "subtract",
    gsr_unit: str = "auto",
    target_fs: float = 128.0,
    eeg_filter: str = "deap",
    overwrite: bool = False,
    strict: bool = False,
    workers: int = 1,
    progress: Callable[..., None] | None = None,
) -> PreprocessReport:
    """MAHNOB-HCI ``Sessions/`` → store: rated emotional sessions, EEG by label in DEAP's
    order, GSR1 in µS, the 30-s pre-stimulus baseline, resampled to ``target_fs``.

    HCI's EEG is stored unreferenced and unfiltered, DEAP's preprocessed EEG is band-passed
    4–45 Hz and common-average referenced; ``eeg_filter="deap"`` (default) applies DEAP's
    conditioning so both datasets reach the models alike, ``"none"`` keeps the raw EEG."""
    from emotionkd.datasets.hci import HCI_CHANNELS, HCI_FS, HCI_RATING_NAMES, scan_sessions
    from emotionkd.datasets.records import DEAP_EEG_CHANNELS, resolve_eeg_channels
    from emotionkd.datasets.synthetic import LATENT_FILE, read_latent_table
    from emotionkd.errors import require_module

    channels = resolve_eeg_channels(eeg_channels)
    opts = CleanOptions(baseline=baseline, gsr_unit=gsr_unit, target_fs=target_fs, screen=True,
                        eeg_filter=eeg_filter, keep_channels=tuple(channels))
    require_module("mne", "bdf", "Reading MAHNOB-HCI BDF files")  # the options first
    scan = scan_sessions(raw)
    latent = read_latent_table(raw)
    # the common average reference needs every electrode: read all 32, keep the chosen ones
    read = tuple(DEAP_EEG_CHANNELS) if eeg_filter == "deap" else tuple(channels)
    jobs = [Job(str(p), read) for p in scan.sessions]
    inputs = [Path(raw) / LATENT_FILE]  # --out must not replace any of these
    for p in scan.sessions:
        with contextlib.suppress(OSError):  # an unreadable session is reported when read
            inputs += list(p.iterdir())
    # 24-bit samples of every recorded channel at 256 Hz → float32 EEG + GSR at target_fs
    need = (input_bytes([f for f in inputs if f.suffix.lower() == ".bdf"]) * 4 / 3
            * (len(channels) + 1) / len(HCI_CHANNELS) * target_fs / HCI_FS + 4 * 2**20)
    return run_pipeline(
        jobs=jobs, read=_read_hci, out=out, source="hci", eeg_channels=channels,
        rating_names=HCI_RATING_NAMES, fs=HCI_FS, opts=opts,
        rating_scales=[None if n == "emotion" else (1.0, 9.0) for n in HCI_RATING_NAMES],
        preprocessing={"reader": "hci-sessions", "raw": str(Path(raw).resolve()),
                       "baseline_s": 30.0, "eeg_conditioning": (
                           "4-45 Hz band-pass (4th-order Butterworth, zero phase) and common "
                           "average reference over all 32 EEG channels, after resampling"
                           if eeg_filter == "deap" else "none (raw, unreferenced)"),
                       "resampler": "scipy.signal.resample_poly "
                       "(Kaiser-windowed FIR anti-aliasing, linear edge padding)",
                       "sessions": len(jobs)},
        overwrite=overwrite, skip_bad=False, strict=strict, workers=workers,
        stray=[p.name for p in scan.stray if p.name != LATENT_FILE], progress=progress,
        latent=latent, inputs=inputs, need_bytes=need,
    )
