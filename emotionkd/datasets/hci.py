"""Reader of MAHNOB-HCI-Tagging ``Sessions/`` (one folder per stimulus presentation: a BDF
with the physiology and ``session.xml`` with the self-reports).

Facts (docs/data-formats.md; sources in docs/index.md): 47 channels at 256 Hz; 32 EEG
channels of a BioSemi cap (selected and ordered *by label*, never by position), EXG1–8, GSR1
(skin resistance in Ohm), GSR2, Erg1/2, Resp, Temp, Status. The Status channel's low 16 bits
rise at the stimulus onset, 30 s into the file, and again at the stimulus end; system bits
live in the high byte. Only emotional sessions carry ratings (``feltArsl`` …); neutral clips,
sessions without a BDF, unrated sessions and damaged files are skipped with a reason.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotionkd.datasets.records import DEAP_EEG_CHANNELS, Trial
from emotionkd.errors import DataFormatError, SkipRecord

#: stored rating columns ← session.xml attributes (dominance = feltCtrl, as DEAP's naming)
HCI_RATINGS = (("valence", "feltVlnc"), ("arousal", "feltArsl"), ("dominance", "feltCtrl"),
               ("predictability", "feltPred"), ("emotion", "feltEmo"))
HCI_RATING_NAMES = [name for name, _ in HCI_RATINGS]
#: the 32 EEG labels in the BioSemi cap order in which HCI (and DEAP Twente) files store them
BIOSEMI32_CAP_ORDER = [
    "Fp1", "AF3", "F7", "F3", "FC1", "FC5", "T7", "C3", "CP1", "CP5", "P7", "P3", "Pz", "PO3",
    "O1", "Oz", "O2", "PO4", "P4", "P8", "CP6", "CP2", "C4", "T8", "FC6", "FC2", "F4", "F8",
    "AF4", "Fp2", "Fz", "Cz",
]  # fmt: skip
HCI_CHANNELS = BIOSEMI32_CAP_ORDER + [f"EXG{i}" for i in range(1, 9)] + [
    "GSR1", "GSR2", "Erg1", "Erg2", "Resp", "Temp", "Status"]
HCI_FS = 256.0
BASELINE_S = 30.0
ONSET_TOLERANCE_S = 1.0
_TRIAL = re.compile(r"_Trial(\d+)_", re.IGNORECASE)


class SkipSession(SkipRecord):
    """A session that is left out with a reason (an error only with --strict)."""


class NeutralSession(SkipRecord):
    """A neutral-clip session: no ratings by design, never an error."""

    expected = True


@dataclass
class SessionScan:
    sessions: list[Path]  # folders, sorted by numeric id where possible
    stray: list[Path]  # files directly in Sessions/ and other non-folders


def scan_sessions(root: str | Path) -> SessionScan:
    """The session folders of a ``Sessions/`` tree (anything else is stray)."""
    r = Path(root)
    if not r.exists():
        raise DataFormatError(f"{r}: no such folder; point --raw at MAHNOB-HCI's Sessions/")
    if not r.is_dir():
        raise DataFormatError(f"{r}: is a file; --raw expects the Sessions/ folder")
    dirs, stray = [], []
    for p in r.iterdir():
        (dirs if p.is_dir() else stray).append(p)
    if not dirs:
        raise DataFormatError(f"{r}: no session folders found; point --raw at MAHNOB-HCI's "
                              "Sessions/ folder (one sub-folder per session)")

    def key(p: Path) -> tuple[int, str]:
        return (int(p.name), "") if p.name.isdigit() else (1 << 30, p.name)

    return SessionScan(sorted(dirs, key=key), sorted(stray))


def parse_session_xml(path: Path) -> dict:
    """Attributes of ``<session>``, the subject id and the physiological file name."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise SkipSession(f"{path}: malformed session.xml ({exc})") from None
    if root.tag != "session":
        raise SkipSession(f"{path}: root element is <{root.tag}>, not <session>")
    info = dict(root.attrib)
    subj = root.find("subject")
    info["subject_id"] = subj.get("id") if subj is not None else None
    for track in root.findall("track"):
        if track.get("type", "").lower() == "physiological":
            info["bdf"] = track.get("filename")
    return info


def session_ratings(info: dict, path: Path) -> np.ndarray:
    """The rating vector (valence, arousal, dominance, predictability, emotion keyword)."""
    if "feltArsl" not in info:
        raise SkipSession(f"{path.parent}: no ratings in session.xml (a neutral or "
                          "unrated session)")
    vals = []
    for name, attr in HCI_RATINGS:
        try:
            v = float(info[attr])
        except (KeyError, ValueError):
            raise SkipSession(f"{path.parent}: session.xml lacks a numeric {attr}") from None
        if not np.isfinite(v):
            raise SkipSession(f"{path}: {attr} is {info[attr]!r}, not a finite number; fix "
                              "session.xml or leave the session out")
        if name != "emotion" and not 1 <= v <= 9:
            raise SkipSession(f"{path.parent}: {attr}={v:g} outside 1-9")
        vals.append(v)
    return np.asarray(vals, dtype=np.float64)


def read_session(folder: Path, eeg_channels: Sequence[str] | None = None) -> list[Trial]:
    """One rated emotional session as a Trial (30 s baseline + stimulus), or SkipSession."""
    from emotionkd.datasets.bdf import read_bdf_header, read_digital
    from emotionkd.errors import require_module

    folder = Path(folder)
    xml = folder / "session.xml"
    if not xml.exists():
        raise SkipSession(f"{folder}: no session.xml")
    info = parse_session_xml(xml)
    named = info.get("bdf") or ""
    if info.get("isStim") == "0" or "_N_Trial" in named:
        raise NeutralSession(f"{folder}: neutral clip (no ratings by design)")
    ratings = session_ratings(info, xml)
    bdf = _session_bdf(folder, info)
    try:
        hdr = read_bdf_header(bdf)
    except DataFormatError as exc:
        raise SkipSession(str(exc)) from None
    flat = hdr.flat(list(eeg_channels or DEAP_EEG_CHANNELS) + ["GSR1"])
    if flat:
        raise SkipSession(f"{bdf}: channel(s) {', '.join(flat[:4])} have physical minimum = "
                          "maximum in the header, so every sample is one value: a flat "
                          "recording, left out")
    mne = require_module("mne", "bdf", "Reading MAHNOB-HCI BDF files")
    try:
        raw = mne.io.read_raw_bdf(bdf, preload=False, verbose="error")
    except Exception as exc:  # MNE raises many exception types on damaged files
        raise SkipSession(f"{bdf}: unreadable BDF ({type(exc).__name__}: {exc})") from None
    fs = float(raw.info["sfreq"])
    labels = {c.lower(): c for c in raw.ch_names}
    names = list(eeg_channels) if eeg_channels is not None else list(DEAP_EEG_CHANNELS)
    missing = [c for c in names if c.lower() not in labels] + \
        [c for c in ("GSR1", "Status") if c.lower() not in labels]
    if missing:
        raise SkipSession(f"{bdf}: missing channel(s) {', '.join(missing)}")
    onset, end = _stimulus(bdf, read_digital(bdf, labels["status"], hdr), fs)
    first = onset - int(round(BASELINE_S * fs))
    first = max(first, 0)
    try:
        picks = [labels[c.lower()] for c in names] + [labels["gsr1"]]
        data = raw.get_data(picks=picks, start=first, stop=end)
    except Exception as exc:
        raise SkipSession(f"{bdf}: cannot read the signals ({type(exc).__name__}: {exc})") \
            from None
    units = {c: (raw._orig_units or {}).get(c, "") for c in picks}
    eeg = data[:-1]
    # MNE returns volts for µV channels: back to µV as in DEAP
    if all(units[c].lower() in ("uv", "µv") for c in picks[:-1]):
        eeg = eeg * 1e6
    subject = _subject(info, bdf)
    trial = _trial_number(info, bdf, xml)
    return [Trial(subject=subject, trial=trial, eeg=eeg, gsr=data[-1], fs=fs, ratings=ratings,
                  onset=onset - first, eeg_channels=names,
                  gsr_unit=(units[labels["gsr1"]] or "ohm").lower(), source_file=str(bdf),
                  extra={"session": folder.name, "feltEmo": ratings[-1]})]


def _trial_number(info: dict, bdf: Path, xml: Path) -> int:
    """The trial number: from the BDF name (``_TrialN_``), else session.xml's sessionId."""
    m = _TRIAL.search(bdf.name)
    if m:
        return int(m.group(1))
    sid = info.get("sessionId", "0") or "0"
    if not sid.strip().isdigit():
        raise SkipSession(f"{xml}: sessionId is {sid!r}, not a whole number, and the BDF name "
                          f"{bdf.name} has no _TrialN_; fix session.xml or rename the file")
    return int(sid)


def _session_bdf(folder: Path, info: dict) -> Path:
    """The session's BDF file (the one session.xml names when there are several)."""
    bdfs = sorted(folder.glob("*.bdf"))
    if not bdfs:
        raise SkipSession(f"{folder}: no BDF file (physiology not recorded)")
    if len(bdfs) == 1:
        return bdfs[0]
    named = [b for b in bdfs if b.name == info.get("bdf")]
    if not named:
        raise SkipSession(f"{folder}: several BDF files and session.xml names none")
    return named[0]


def _stimulus(bdf: Path, status: np.ndarray, fs: float) -> tuple[int, int]:
    """The stimulus onset and end (samples) from the Status channel's edges."""
    from emotionkd.datasets.bdf import status_edges

    edges = status_edges(status)
    if len(edges) < 2:
        raise SkipSession(f"{bdf}: Status has {len(edges)} stimulus edge(s), expected 2 "
                          "(onset and end)")
    onset, end = int(edges[0]), int(edges[1])
    if abs(onset / fs - BASELINE_S) > ONSET_TOLERANCE_S:
        raise SkipSession(f"{bdf}: stimulus onset at {onset / fs:.2f} s, expected "
                          f"{BASELINE_S:g} ± {ONSET_TOLERANCE_S:g} s")
    return onset, end


def _subject(info: dict, bdf: Path) -> int:
    sid = info.get("subject_id")
    m = re.match(r"Part_(\d+)_", bdf.name)
    try:
        subject = int(sid) if sid is not None else int(m.group(1)) if m else None
    except ValueError:
        subject = None
    if subject is None:
        raise SkipSession(f"{bdf}: no subject id in session.xml or the file name")
    if m and int(m.group(1)) != subject:
        raise SkipSession(f"{bdf}: session.xml says subject {subject} but the file name says "
                          f"{m.group(1)}")
    return subject
