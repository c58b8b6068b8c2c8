"""Bring your own data: a store from numpy arrays, and one from recordings in files.

    python examples/own_data.py [--out DIR]

Part 1 writes a store straight from arrays (skin conductance of three participants, eight
trials each, rated on a 1-5 scale). Part 2 writes each participant's recording as a FIF file
with its trials as annotations and a BIDS-style events table beside it (onset, duration,
trial_type, valence, arousal), then reads the folder back with ``preprocess_files``; EDF,
BDF, BrainVision, EEGLAB and XDF recordings are read the same way. Part 3 does part 2 with
``emotionkd preprocess files`` and checks that the store is the same. Every store is ready
for training: the default threshold is the scale's midpoint (3 on 1-5).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import emotionkd as ek
from emotionkd.config import DataConfig
from emotionkd.ingest import preprocess_files
from emotionkd.labels import check_two_classes, default_threshold
from emotionkd.metrics import class_balance
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset

FS = 32.0  # Hz, a wristband's rate
TRIAL_S, REST_S, BASELINE_S = 20.0, 10.0, 3.0


def participant(rng: np.random.Generator, n_trials: int = 8) -> tuple[np.ndarray, list]:
    """A continuous skin conductance (µS) with an arousal-driven rise in every trial, and
    the trials as (start, stop, valence, arousal) with ratings on 1-5."""
    n = int((n_trials * (TRIAL_S + REST_S) + REST_S) * FS)
    t = np.arange(n) / FS
    gsr = 3.0 + 0.2 * np.sin(2 * np.pi * t / 300) + rng.normal(0, 0.01, n)
    trials = []
    for k in range(n_trials):
        start = int((REST_S + k * (TRIAL_S + REST_S)) * FS)
        stop = start + int(TRIAL_S * FS)
        arousal = int(rng.integers(1, 6))
        gsr[start:stop] += 0.08 * arousal * (1 - np.exp(-np.arange(stop - start) / (4 * FS)))
        trials.append((start, stop, int(rng.integers(1, 6)), arousal))
    return gsr, trials


def from_arrays(out: Path, data: dict[int, tuple[np.ndarray, list]]) -> Path:
    gsr = [g[a - int(BASELINE_S * FS):b] for g, tr in data.values() for a, b, _, _ in tr]
    rows = [(s, v, a) for s, (_, tr) in data.items() for _, _, v, a in tr]
    report = ek.write_store(
        out / "own-arrays.h5", gsr=gsr, fs=FS, gsr_unit="us", baseline_s=BASELINE_S,
        subjects=[s for s, _, _ in rows],
        ratings={"valence": [v for _, v, _ in rows], "arousal": [a for _, _, a in rows]},
        rating_scales={"valence": (1, 5), "arousal": (1, 5)}, overwrite=True)
    print(f"from arrays: {report.out} ({report.n_subjects} subjects, {report.n_trials} "
          f"trials at {report.sampling_rate:g} Hz)")
    return Path(report.out)


def from_files(out: Path, data: dict[int, tuple[np.ndarray, list]]) -> Path:
    import mne

    folder = out / "recordings"
    folder.mkdir(exist_ok=True)
    for s, (gsr, trials) in data.items():
        info = mne.create_info(["EDA"], FS, ["gsr"])
        raw = mne.io.RawArray(gsr[None, :] * 1e-6, info, verbose="error")  # MNE keeps S
        onsets = [a / FS for a, _, _, _ in trials]
        raw.set_annotations(mne.Annotations(onsets, [TRIAL_S] * len(trials),
                                            ["video"] * len(trials)))
        raw.save(folder / f"sub-{s:02d}_raw.fif", overwrite=True, verbose="error")
        lines = ["onset\tduration\ttrial_type\tvalence\tarousal"]
        lines += [f"{a / FS:g}\t{TRIAL_S:g}\tvideo\t{v}\t{ar}" for a, _, v, ar in trials]
        (folder / f"sub-{s:02d}_events.tsv").write_text("\n".join(lines) + "\n")
    report = preprocess_files(folder, out / "own-files.h5", trial_type="video",
                              rating_scales={"valence": (1, 5), "arousal": (1, 5)},
                              baseline_s=BASELINE_S, eeg_channels=[], overwrite=True)
    print(f"from files: {report.out} ({report.n_subjects} subjects, {report.n_trials} "
          f"trials at {report.sampling_rate:g} Hz); GSR unit of sub-01: "
          f"{next(iter(report.gsr_units.values()))}")
    return Path(report.out)


def from_the_command_line(out: Path) -> Path:
    """The folder of part 2 again, through ``emotionkd preprocess files``: the same store."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "emotionkd", "preprocess", "files", str(out / "recordings"),
           "--out", str(out / "own-cli.h5"), "--ratings", "valence=1-5,arousal=1-5",
           "--trial-type", "video", "--baseline-seconds", f"{BASELINE_S:g}",
           "--eeg-channels", "none", "--source", "mylab", "--overwrite"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    cli, lib = open_store(out / "own-cli.h5"), open_store(out / "own-files.h5")
    _, g_cli, _ = cli.load_signals(np.arange(cli.n_trials), load_eeg=False)
    _, g_lib, _ = lib.load_signals(np.arange(lib.n_trials), load_eeg=False)
    assert np.array_equal(g_cli, g_lib) and np.array_equal(cli.ratings, lib.ratings)
    print(f"from the command line: {cli.path} (dataset {cli.source}), the same trials")
    return Path(cli.path)


def main(out: Path) -> None:
    rng = np.random.default_rng(0)
    data = {s: participant(rng) for s in (1, 2, 3)}
    stores = [from_arrays(out, data), from_files(out, data)]
    stores.append(from_the_command_line(out))
    for path in stores:
        store = open_store(path)
        threshold = default_threshold(store, "arousal")  # midpoint of 1-5
        data = DataConfig(window=4, step=4, target="arousal", threshold=threshold)
        ds = WindowDataset(store, data, load_eeg=False)
        check_two_classes(ds.labels, target="arousal", threshold=threshold)
        print(f"  {path.name}: scales {store.rating_scales}, threshold {threshold:g}, "
              f"{len(ds)} windows, class balance {class_balance(ds.labels)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="folder to keep the files in")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        main(folder)
