"""The cost of a store's content digest (emotionkd.store.digest), which every evaluation run
computes once to record and check where its folds came from.

    python benchmarks/store_digest.py [--mb 100] [--rounds 5] [--work DIR]

Writes a store of about MB megabytes (32 EEG channels + GSR at 128 Hz, random signals) and
times ``content_digest`` (read from the page cache after the first round) against a plain read
of the same signals and against ``open_store``; prints the fastest and the median round.
docs/evaluation.md quotes the result.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from emotionkd.store import StoreWriter, open_store
from emotionkd.store.digest import content_digest

FS, N_EEG, TRIAL_S = 128, 32, 60


def write_store(path: Path, megabytes: float) -> None:
    per_trial = (N_EEG + 1) * FS * TRIAL_S * 4
    n_trials = max(1, round(megabytes * 1e6 / per_trial))
    rng = np.random.default_rng(0)
    with StoreWriter(path, source="synthetic", sampling_rate=FS,
                     eeg_channels=[f"E{i}" for i in range(N_EEG)],
                     rating_names=["valence", "arousal"], overwrite=True) as w:
        for k in range(n_trials):
            n = FS * TRIAL_S
            w.add_trial(subject=k // 20 + 1, trial=k % 20 + 1,
                        eeg=rng.standard_normal((N_EEG, n), dtype=np.float32),
                        gsr=rng.standard_normal((1, n), dtype=np.float32), ratings=[5, 5])


def plain_read(path: Path) -> None:
    with h5py.File(path, "r") as f:
        for name in ("eeg", "gsr"):
            ds = f[name]
            for a in range(0, ds.shape[1], 8192 * 32):
                ds[:, a:a + 8192 * 32]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        path = Path(tmp) / "store.h5"
        write_store(path, args.mb)
        size = path.stat().st_size / 1e6
        times: dict[str, list[float]] = {"content_digest": [], "plain read": [],
                                         "open_store": []}
        for _ in range(args.rounds):  # the three take turns in every round
            for name, fn in (("content_digest", content_digest), ("plain read", plain_read),
                             ("open_store", open_store)):
                t0 = time.perf_counter()
                fn(path)
                times[name].append(time.perf_counter() - t0)
        d = content_digest(path)
        print(f"store {size:.1f} MB on disk, digest over {d.bytes / 1e6:.1f} MB of data "
              f"({d.algorithm} {d.short})")
        for name, ts in times.items():
            print(f"{name:15s} fastest {min(ts):.3f} s, median {statistics.median(ts):.3f} s "
                  f"({size / min(ts):.0f} MB/s at the fastest)")


if __name__ == "__main__":
    main()
