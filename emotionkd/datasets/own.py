"""Your own recordings: the parts every own-data reader shares.

A reader (MNE-readable files, EEG-BIDS, XDF, numpy arrays) turns one recording into
:class:`Signals` (GSR in µS, optional EEG in µV, one sampling rate, the recording's events);
:func:`cut_trials` then cuts trials at the events, takes their ratings from a BIDS-style
events table (onset, duration, trial_type and one column per rating) and yields
:class:`~emotionkd.datasets.records.Trial` records for the common pipeline.

The GSR unit is settled per recording (:func:`resolve_gsr_unit`): the caller's unit when
given, else the one rule of :func:`emotionkd.signals.infer_gsr_unit` (the unit under which
the values are a plausible skin conductance, the unit the file declares deciding between
several); it is recorded with its reason.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotionkd.datasets.records import Trial, TrialList
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.signals import GSR_UNIT_NAMES, plain_unit, to_microsiemens
from emotionkd.store.layout import check_rating_scales
from emotionkd.validation import check_choice, check_number

#: BIDS events.tsv columns that are not ratings
BIDS_EVENT_COLUMNS = ("onset", "duration", "trial_type", "sample", "value", "response_time",
                      "HED", "stim_file")
MAX_TRIALS_PER_RECORDING = 999


def resolve_gsr_unit(values: np.ndarray, declared: str | None, unit: str, source: str,
                     option: str = "--gsr-unit") -> tuple[np.ndarray, str, str]:
    """(GSR of one recording in µS, unit, reason): ``unit`` as given, else the one rule
    (:func:`~emotionkd.signals.infer_gsr_unit`) with the unit the file ``declared`` as its
    hint."""
    us, used, why = to_microsiemens(values, unit, source, option, declared)
    return us, used, why or f"{GSR_UNIT_NAMES[used]}, given by {option}"


# ---------------------------------------------------------------------------------------------
# recordings and events


@dataclass
class Event:
    """An event of a recording: onset and duration in seconds from its first sample."""

    onset: float
    duration: float
    name: str


@dataclass
class Signals:
    """One recording on one timeline: GSR in µS, EEG in µV (or none), its events."""

    gsr: np.ndarray  # (n,) µS
    fs: float
    source: str
    eeg: np.ndarray | None = None  # (C, n) µV
    eeg_channels: list[str] = field(default_factory=list)
    gsr_unit_reason: str = ""
    events: list[Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.gsr.shape[0])


def eeg_to_uv(unit: str | None, source: str, channel: str) -> float:
    """The factor that turns EEG in ``unit`` into µV (V, mV, µV, nV; no unit: µV)."""
    u = plain_unit(unit)
    table = {"v": 1e6, "volt": 1e6, "volts": 1e6, "mv": 1e3, "millivolt": 1e3,
             "millivolts": 1e3, "uv": 1.0, "microvolt": 1.0, "microvolts": 1.0, "": 1.0,
             "nv": 1e-3, "nanovolt": 1e-3, "nanovolts": 1e-3}
    if u not in table:
        raise DataFormatError(f"{source}: EEG channel '{channel}' is in {unit!r}, not a voltage; "
                              "leave it out of the EEG channels")
    return table[u]


# ---------------------------------------------------------------------------------------------
# events tables (BIDS events.tsv style)


@dataclass
class EventsTable:
    """Rows of a BIDS-style events table: dicts of column → value (None for n/a)."""

    rows: list[dict[str, Any]]
    columns: list[str]
    source: str

    def select(self, trial_type: str | Sequence[str] | None) -> list[tuple[int, dict]]:
        """(1-based row number, row) of the rows whose trial_type is selected (every row of
        a table without a trial_type column: a list of the trials' ratings)."""
        names = _names(trial_type)
        if names is None or "trial_type" not in self.columns:
            return list(enumerate(self.rows, start=1))
        return [(i, r) for i, r in enumerate(self.rows, start=1)
                if label(r.get("trial_type")) in names]


def label(v: Any) -> str:
    """An event name or trial_type as text (a whole number without ".0")."""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        v = int(v)
    return str(v).strip()


def _names(trial_type: str | Sequence[str] | None) -> list[str] | None:
    if trial_type is None:
        return None
    if isinstance(trial_type, str):
        return [s.strip() for s in trial_type.split(",") if s.strip()]
    return [label(s) for s in trial_type]


def _cell(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        s = v.strip()
        if s in ("", "n/a", "N/A", "NaN", "nan"):
            return None
        try:
            return float(s)
        except ValueError:
            return s
    if isinstance(v, (int, float, np.integer, np.floating)):
        f = float(v)
        return None if math.isnan(f) else f
    return v


def read_events_table(table: str | Path | Mapping[str, Sequence] | Sequence[Mapping],
                      source: str = "ratings table") -> EventsTable:
    """A BIDS-style events table from a TSV file (header row, tab-separated, ``n/a`` for
    missing values), a mapping of column → values, or a sequence of row mappings."""
    if isinstance(table, (str, Path)):
        p = Path(table)
        try:
            with open(p, newline="", encoding="utf-8-sig") as fh:
                reader = csv.reader(fh, delimiter="\t")
                header = next(reader, None)
                body = [row for row in reader if any(c.strip() for c in row)]
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"{p}: cannot read the events table ({exc})") from None
        if not header:
            raise DataFormatError(f"{p}: empty events table; expected a header row "
                                  "(onset, duration, trial_type, ratings …)")
        header = [h.strip() for h in header]
        for k, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise DataFormatError(f"{p}: line {k} has {len(row)} fields, the header "
                                      f"{len(header)}; the table must be tab-separated")
        rows = [{h: _cell(c) for h, c in zip(header, row)} for row in body]
        return EventsTable(rows, header, str(p))
    if isinstance(table, Mapping):
        columns = [str(c) for c in table]
        lengths = {len(v) for v in table.values()}
        if len(lengths) > 1:
            raise ConfigError(f"{source}: columns differ in length ({sorted(lengths)})")
        n = lengths.pop() if lengths else 0
        rows = [{c: _cell(table[c][i]) for c in table} for i in range(n)]
        return EventsTable(rows, columns, source)
    rows = [{str(k): _cell(v) for k, v in r.items()} for r in table]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return EventsTable(rows, columns, source)


# ---------------------------------------------------------------------------------------------
# trials


@dataclass(frozen=True)
class TrialRules:
    """How trials are found in a recording and what is kept of them.

    ``rating_scales`` names the ratings to store (columns of the events table), in order,
    with their [min, max] (None for a category). ``trial_type`` selects the events that are
    trials (annotation descriptions, marker strings and the table's trial_type; None: every
    event, but BAD_/EDGE/boundary annotations); with ``trial_end`` a trial event lasts until
    the next ``trial_end`` event. ``baseline_s`` seconds before each onset are
    kept as its baseline. A trial's duration is the table's, else the event's, else
    ``trial_duration_s``. Table rows are matched to the recording's events by onset (within
    ``onset_tolerance_s``) when ``match="onset"``, by order when ``match="order"``."""

    rating_scales: tuple[tuple[str, tuple[float, float] | None], ...]
    trial_type: tuple[str, ...] | None = None
    baseline_s: float = 0.0
    trial_duration_s: float | None = None
    onset_tolerance_s: float = 0.05
    match: str = "onset"
    trial_end: str | None = None

    @property
    def rating_names(self) -> list[str]:
        return [n for n, _ in self.rating_scales]

    @property
    def scales(self) -> list[tuple[float, float] | None]:
        return [s for _, s in self.rating_scales]


def make_rules(rating_scales: Mapping[str, Sequence[float] | None], *,
               trial_type: str | Sequence[str] | None = None, baseline_s: float = 0.0,
               trial_duration_s: float | None = None, onset_tolerance_s: float = 0.05,
               match: str = "onset", trial_end: str | None = None) -> TrialRules:
    """Validated :class:`TrialRules` (a ConfigError names the bad argument)."""
    if not isinstance(rating_scales, Mapping) or not rating_scales:
        raise ConfigError("rating_scales: give the ratings to store and their scales, e.g. "
                          "{'valence': (1, 9), 'arousal': (1, 9)}")
    names = [str(k) for k in rating_scales]
    scales = check_rating_scales(list(rating_scales.values()), names)
    check_number(baseline_s, "baseline_s", low=0, high=3600, why=" (seconds before onset)")
    if trial_duration_s is not None:
        check_number(trial_duration_s, "trial_duration_s", low=0, low_open=True, high=86400)
    check_number(onset_tolerance_s, "onset_tolerance_s", low=0, high=60)
    check_choice(match, "match", ("onset", "order"))
    tt = _names(trial_type)
    return TrialRules(
        rating_scales=tuple((n, None if s is None else (s[0], s[1]))
                            for n, s in zip(names, scales)),
        trial_type=tuple(tt) if tt is not None else None, baseline_s=float(baseline_s),
        trial_duration_s=None if trial_duration_s is None else float(trial_duration_s),
        onset_tolerance_s=float(onset_tolerance_s), match=match,
        trial_end=None if trial_end is None else str(trial_end))


_IGNORED_EVENT = re.compile(r"^(bad|edge|boundary)", re.IGNORECASE)


def _selected_events(events: Sequence[Event], rules: TrialRules) -> list[Event]:
    """The trial events; with ``trial_end`` each lasts until the next end event."""
    end = rules.trial_end
    out = []
    for k, e in enumerate(events):
        if e.name == end or (_IGNORED_EVENT.match(e.name) if rules.trial_type is None
                             else e.name not in rules.trial_type):
            continue
        if end is not None:
            stop = next((x.onset for x in events[k + 1:] if x.name == end), None)
            e = Event(e.onset, 0.0 if stop is None else stop - e.onset, e.name)
        out.append(e)
    return out


def _plan(sig: Signals, table: EventsTable | None, rules: TrialRules
          ) -> list[tuple[str, float, float, dict[str, Any] | None]]:
    """(label, onset s, duration s, table row) of every trial, in order."""
    events = _selected_events(sig.events, rules)
    if table is None:
        return [(f"event {e.name!r} at {e.onset:.3f} s", e.onset, e.duration, None)
                for e in events]
    rows = table.select(rules.trial_type)
    has_onset = "onset" in table.columns
    plan = []
    if events and rules.match == "onset" and has_onset:
        onsets = np.array([e.onset for e in events])
        for i, row in rows:
            t = row.get("onset")
            if not isinstance(t, float):
                raise DataFormatError(f"{table.source}: row {i} has no numeric onset")
            j = int(np.argmin(np.abs(onsets - t)))
            if abs(onsets[j] - t) > rules.onset_tolerance_s:
                raise DataFormatError(
                    f"{table.source}: row {i} (onset {t:g} s) has no event of {sig.source} "
                    f"within {rules.onset_tolerance_s:g} s (nearest: {events[j].name!r} at "
                    f"{onsets[j]:.3f} s); is the table for this recording? (or widen the "
                    "onset tolerance)")
            plan.append((f"row {i} (onset {t:g} s)", events[j].onset, events[j].duration, row))
    elif events:
        if len(events) != len(rows):
            raise DataFormatError(
                f"{sig.source}: {len(events)} trial event(s) but {table.source} has "
                f"{len(rows)} row(s){' of that trial_type' if rules.trial_type else ''}; "
                "they are matched in order, so the counts must agree")
        for (i, row), e in zip(rows, events):
            if "trial_type" in table.columns and row.get("trial_type") is not None \
                    and rules.trial_type is not None and label(row["trial_type"]) != e.name:
                raise DataFormatError(f"{table.source}: row {i} is {row['trial_type']!r} but "
                                      f"the {i}th trial event is {e.name!r}")
            plan.append((f"row {i} ({e.name!r} at {e.onset:.3f} s)", e.onset, e.duration, row))
    else:
        if not has_onset:
            raise DataFormatError(f"{sig.source}: has no events to cut trials at and "
                                  f"{table.source} has no onset column")
        for i, row in rows:
            t = row.get("onset")
            if not isinstance(t, float):
                raise DataFormatError(f"{table.source}: row {i} has no numeric onset")
            plan.append((f"row {i} (onset {t:g} s)", t, 0.0, row))
    return plan


def _duration(row: dict | None, event_s: float, rules: TrialRules, where: str) -> float:
    d = row.get("duration") if row is not None else None
    if isinstance(d, float) and d > 0:
        return d
    if event_s > 0:
        return event_s
    if rules.trial_duration_s is not None:
        return rules.trial_duration_s
    raise DataFormatError(f"{where}: the trial has no duration (neither the table nor the "
                          "event gives one); pass trial_duration_s (--trial-seconds)")


def _row_ratings(row: dict | None, ratings: Mapping[str, Sequence] | None, k: int,
                 rules: TrialRules, where: str, source: str) -> np.ndarray | None:
    vals = []
    for name, scale in rules.rating_scales:
        if row is not None:
            if name not in row:
                raise DataFormatError(f"{source}: no rating column '{name}' (columns: "
                                      f"{', '.join(row)})")
            v = row[name]
        else:
            if ratings is None or name not in ratings:
                raise DataFormatError(f"{where}: no rating '{name}': give an events table "
                                      "with a column per rating")
            v = _cell(ratings[name][k])
        if v is None:
            return None
        if not isinstance(v, float):
            raise DataFormatError(f"{where}: rating {name} = {v!r} is not a number")
        if scale is not None and not scale[0] <= v <= scale[1]:
            raise DataFormatError(f"{where}: rating {name} = {v:g} is outside its scale "
                                  f"{scale[0]:g}-{scale[1]:g}; check the table or the scale")
        vals.append(v)
    return np.asarray(vals, dtype=np.float64)


def cut_trials(sig: Signals, subject: int, rules: TrialRules,
               table: EventsTable | None = None, *, first_trial: int = 1,
               ratings: Mapping[str, Sequence] | None = None) -> TrialList:
    """The trials of one recording (numbered from ``first_trial``), ratings from ``table``
    (or, without one, from ``ratings``: name → one value per trial event, in order). Trials
    that run past the recording, have no baseline when one is asked for, hold NaN samples or
    an ``n/a`` rating are left out with a reason."""
    plan = _plan(sig, table, rules)
    if len(plan) > MAX_TRIALS_PER_RECORDING:
        raise DataFormatError(f"{sig.source}: {len(plan)} trials in one recording; at most "
                              f"{MAX_TRIALS_PER_RECORDING} are supported")
    if ratings is not None and table is None:
        for name, vals in ratings.items():
            if len(vals) != len(plan):
                raise ConfigError(f"ratings['{name}'] has {len(vals)} values for "
                                  f"{len(plan)} trial events of {sig.source}")
    out = TrialList()
    fs, n = sig.fs, sig.n_samples
    base = int(round(rules.baseline_s * fs))
    for k, (label, onset_s, event_s, row) in enumerate(plan):
        where = f"{sig.source} {label}"
        r = _row_ratings(row, ratings, k, rules, where, table.source if table else "")
        if r is None:
            out.skipped.append(f"{where}: a rating is n/a")
            continue
        dur = _duration(row, event_s, rules, where)
        start = int(round(onset_s * fs))
        stop = start + int(round(dur * fs))
        if start < 0 or stop > n:
            out.skipped.append(f"{where}: the trial ({onset_s:.3f}-{onset_s + dur:.3f} s) "
                               f"lies outside the recording (0-{n / fs:.3f} s)")
            continue
        first = max(start - base, 0)
        if base and first == start:
            out.skipped.append(f"{where}: no baseline before the onset (the trial starts "
                               "the recording)")
            continue
        eeg = (sig.eeg[:, first:stop] if sig.eeg is not None
               else np.zeros((0, stop - first)))
        gsr = sig.gsr[first:stop]
        if not (np.isfinite(gsr).all() and np.isfinite(eeg).all()):
            out.skipped.append(f"{where}: NaN samples (a gap in the recording)")
            continue
        out.append(Trial(subject=subject, trial=first_trial + k, eeg=eeg, gsr=gsr, fs=fs,
                         ratings=r, onset=start - first, eeg_channels=list(sig.eeg_channels),
                         gsr_unit="us", source_file=sig.source,
                         extra={"gsr_unit_reason": sig.gsr_unit_reason}))
    return out


def subject_from_name(path: str | Path) -> int:
    """The subject number in a file name (``sub-07``, ``subject_7``, ``s07``, ``P07`` …)."""
    m = re.search(r"(?:^|[^a-z])(?:sub|subject|part|participant|s|p)[-_]?(\d+)",
                  Path(path).name, re.IGNORECASE)
    if not m:
        raise ConfigError(f"{path}: no subject number in the file name (like sub-01 or s01); "
                          "pass the subjects explicitly (--subjects)")
    return int(m.group(1))
