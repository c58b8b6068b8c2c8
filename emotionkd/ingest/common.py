"""What the writers of stores from your own recordings share: :class:`RecordingOptions`, the
subjects and trial numbers of the recordings, their common channels and rate, and the run of
the common pipeline over their jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from emotionkd.datasets.own import TrialRules, make_rules
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.preprocess import CleanOptions, Job, PreprocessReport, input_bytes, run_pipeline
from emotionkd.signals import check_gsr_unit

Progress = Callable[..., None] | None


@dataclass(frozen=True)
class RecordingOptions:
    """How trials, channels and conditioning are taken from recordings: the settings
    :func:`~emotionkd.ingest.preprocess_files`, :func:`~emotionkd.ingest.preprocess_bids` and
    :func:`~emotionkd.ingest.write_store_from_raw` share (each also takes them as keywords).

    ``rating_scales`` names the ratings to store (columns of the events table), in order,
    with their (min, max) (None for a category). ``trial_type`` selects the events that are
    trials (annotation descriptions, stim-channel codes, XDF markers; None: every event but
    BAD_/EDGE/boundary annotations); with ``trial_end`` each lasts until the next such event.
    A trial lasts the table's duration, else the event's, else ``trial_duration_s``; table
    rows are matched to events by onset within ``onset_tolerance_s`` (XDF: in order).
    ``baseline_s`` seconds before each onset are its baseline; ``baseline`` is subtract
    (default when ``baseline_s`` > 0), none (default otherwise) or keep. EEG by name
    (default: every 10-05-named EEG channel; ``[]`` for GSR only), GSR by ``gsr_channel`` or
    by type and name, its unit ``gsr_unit`` (auto: settled per recording), events from
    ``stim_channel`` instead of annotations; XDF streams by name or type. Resampled to
    ``target_fs`` (None: the recordings' rate); ``eeg_filter="deap"`` band-passes 4-45 Hz and
    re-references to the common average (raw recordings need it; "none" keeps the EEG)."""

    rating_scales: dict[str, Sequence[float] | None]
    trial_type: str | Sequence[str] | None = None
    trial_end: str | None = None
    baseline_s: float = 0.0
    baseline: str | None = None
    trial_duration_s: float | None = None
    onset_tolerance_s: float = 0.05
    eeg_channels: Sequence[str] | None = None
    gsr_channel: str | None = None
    gsr_unit: str = "auto"
    stim_channel: str | None = None
    eeg_stream: str | None = None
    gsr_stream: str | None = None
    marker_stream: str | None = None
    target_fs: float | None = 128.0
    eeg_filter: str = "deap"

    def reading(self) -> dict[str, Any]:
        """The options a reader needs, as a plain (picklable) dict."""
        return {"eeg_channels": None if self.eeg_channels is None else list(self.eeg_channels),
                "gsr_channel": self.gsr_channel,
                "gsr_unit": check_gsr_unit(self.gsr_unit, "--gsr-unit"),
                "stim_channel": self.stim_channel, "eeg_stream": self.eeg_stream,
                "gsr_stream": self.gsr_stream, "marker_stream": self.marker_stream,
                "xdf_fs": self.target_fs}

    def rules(self, match: str) -> TrialRules:
        """The checked rules that find the trials of a recording."""
        return make_rules(self.rating_scales, trial_type=self.trial_type,
                          baseline_s=self.baseline_s, trial_duration_s=self.trial_duration_s,
                          onset_tolerance_s=self.onset_tolerance_s, match=match,
                          trial_end=self.trial_end)


def recording_options(options: RecordingOptions | None, settings: dict[str, Any]
                      ) -> RecordingOptions:
    """``options`` with ``settings`` (keywords named like its fields) applied."""
    known = [f.name for f in fields(RecordingOptions)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if options is not None:
        return replace(options, **settings)
    if "rating_scales" not in settings:
        raise ConfigError("rating_scales: give the ratings to store and their scales, e.g. "
                          "rating_scales={'valence': (1, 9), 'arousal': (1, 9)}")
    return RecordingOptions(**settings)


def baseline_mode(baseline: str | None, baseline_s: float) -> str:
    """``baseline`` None: subtract when there is a baseline (``baseline_s`` > 0), else none."""
    if baseline is None:
        return "subtract" if baseline_s > 0 else "none"
    if baseline in ("subtract", "keep") and baseline_s <= 0:
        raise ConfigError(f"--baseline {baseline} needs a pre-stimulus baseline: pass "
                          "baseline_s > 0 (--baseline-seconds), the seconds before each onset")
    return baseline


@dataclass
class Run:
    """How a run of own-data jobs goes: where it writes and how it treats bad inputs."""

    out: Any
    source: str = "own"
    overwrite: bool = False
    strict: bool = False
    skip_bad: bool = False
    workers: int = 1
    progress: Progress = None


def own_pipeline(jobs: Sequence[Job], read: Callable[[Job], Any], run: Run, *,
                 eeg_channels: Sequence[str], rules: TrialRules, fs: float,
                 target_fs: float | None, baseline: str | None, eeg_filter: str, reader: str,
                 extra: dict[str, Any], inputs: Sequence[Path] = ()) -> PreprocessReport:
    """Run the common pipeline over own-data jobs (each reading a TrialList in µS)."""
    mode = baseline_mode(baseline, rules.baseline_s)
    if not eeg_channels:
        eeg_filter = "none"  # nothing to condition
    opts = CleanOptions(baseline=mode, gsr_unit="auto", target_fs=target_fs,
                        eeg_filter=eeg_filter)
    meta = {"reader": reader, "baseline_s": rules.baseline_s,
            "trial_rules": {k: v for k, v in asdict(rules).items() if k != "rating_scales"},
            "eeg_conditioning": (
                "4-45 Hz band-pass (4th-order Butterworth, zero phase) and common average "
                "reference over the stored EEG channels, after resampling"
                if eeg_filter == "deap" else "none (as recorded)"),
            "resampler": "scipy.signal.resample_poly (Kaiser-windowed FIR anti-aliasing, "
                         "linear edge padding)", **extra}
    return run_pipeline(
        jobs=jobs, read=read, out=run.out, source=run.source, eeg_channels=list(eeg_channels),
        rating_names=rules.rating_names, rating_scales=rules.scales, fs=fs, opts=opts,
        preprocessing=meta, overwrite=run.overwrite, skip_bad=run.skip_bad,
        strict=run.strict, workers=run.workers, progress=run.progress, inputs=list(inputs),
        need_bytes=2 * input_bytes(list(inputs)) + 4 * 2**20)


def first_trials(subjects: Sequence[int]) -> list[int]:
    """Trial numbers start at 1 for a subject's first recording, 1001 for its second …"""
    seen: dict[int, int] = {}
    out = []
    for s in subjects:
        out.append(1 + 1000 * seen.get(s, 0))
        seen[s] = seen.get(s, 0) + 1
    return out


def _common_channels(found: Sequence[tuple[str, list[str], float]]) -> list[str]:
    """The EEG channels every recording has under the same names (the first one's order)."""
    first_src, first, _ = found[0]
    for src, names, _ in found[1:]:
        if {n.lower() for n in names} != {n.lower() for n in first}:
            only = sorted(set(names) ^ set(first))
            raise DataFormatError(
                f"{src}: EEG channels differ from {first_src}'s ({', '.join(only[:8])}); "
                "pass the channels to keep (--eeg-channels) or eeg_channels=[] for GSR only")
    return list(first)


def _common_rate(found: Sequence[tuple[str, list[str], float]], target_fs: float | None
                 ) -> float:
    rates = sorted({fs for _, _, fs in found})
    if len(rates) > 1 and target_fs is None:
        raise ConfigError(f"the recordings have different sampling rates ({rates} Hz); pass "
                          "target_fs (--fs) to resample them to one")
    return rates[0] if len(rates) == 1 else float(target_fs)


def from_recordings(items: Sequence[tuple[str, Any]], o: RecordingOptions, run: Run, *,
                    subject_ids: Sequence[int], scan: Callable[[Any, dict], tuple],
                    read: Callable[[Job], Any], match: str, reader: str,
                    extra: dict[str, Any], inputs: Sequence[Path] = ()) -> PreprocessReport:
    """Scan every recording's channels and rate, make one job per recording, run them.

    ``items`` are (name, what the reader needs: picklable) per recording; a job carries the
    latter as ``options["item"]``, with its first trial number, the rules and the reading
    options; ``scan(item, reading)`` gives (source, EEG channels, sampling rate)."""
    rules = o.rules(match)
    ro = o.reading()
    found = [scan(item, ro) for _, item in items]
    names = _common_channels(found)
    fs = _common_rate(found, o.target_fs)
    ro["eeg_channels"] = names  # every recording read with the same channels, in one order
    jobs = [Job(name, tuple(names), subject=s,
                options={"item": item, "first_trial": first, "rules": rules, "reading": ro})
            for (name, item), s, first in zip(items, subject_ids, first_trials(subject_ids))]
    return own_pipeline(
        jobs, read, run, eeg_channels=names, rules=rules, fs=fs, target_fs=o.target_fs,
        baseline=o.baseline, eeg_filter=o.eeg_filter, reader=reader,
        extra={**extra, "gsr_unit_option": o.gsr_unit}, inputs=inputs)
