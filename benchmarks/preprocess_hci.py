"""Benchmark: `preprocess hci` on synthetic sessions of real length (30 s + 90 s stimulus +
30 s at 256 Hz, 47 channels, BioSemi BDF): seconds per session and peak RSS, for N sessions,
in a fresh process per N (so the RSS is that run's own).

    python benchmarks/preprocess_hci.py --sessions 4 8 16 [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
import emotionkd.store, emotionkd.datasets.hci, mne  # imports are not per-session work
from emotionkd.preprocess import preprocess_hci
t = time.perf_counter()
rep = preprocess_hci(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]), overwrite=True)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "trials": rep.n_trials,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[4, 8, 16])
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    from emotionkd.datasets.synthetic_hci import write_hci

    n_max = max(args.sessions)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "all"
        t = time.perf_counter()
        per_subject = 20
        subjects = -(-n_max // per_subject)
        write_hci(src, n_subjects=subjects, n_trials=min(n_max, per_subject), seed=0,
                  stimulus_s=(90.0, 90.0), neutral_s=(1.0, 1.0))
        emo = sorted((p for p in src.iterdir() if any(p.glob("*_S_*.bdf"))),
                     key=lambda p: int(p.name))
        size = sum(f.stat().st_size for f in next(iter(emo)).iterdir()) / 2**20
        print(f"wrote {len(emo)} emotional sessions of 150 s in {time.perf_counter() - t:.1f} s "
              f"({size:.1f} MiB each)")
        print(f"{'sessions':>8s} {'s/session':>10s} {'peak RSS MiB':>13s}")
        for n in sorted(args.sessions):
            sub = Path(tmp) / f"n{n}"
            sub.mkdir()
            for p in emo[:n]:
                (sub / p.name).symlink_to(p, target_is_directory=True)
            out = subprocess.run([sys.executable, "-c", CHILD, str(sub), str(Path(tmp) /
                                  f"n{n}.h5"), str(args.workers)], capture_output=True, text=True,
                                 check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            assert r["trials"] == n, r
            print(f"{n:>8d} {r['seconds'] / n:>10.3f} {r['rss_mib']:>13.0f}")


if __name__ == "__main__":
    main()
