"""Benchmark: `preprocess deap` versus a bare pickle.load of the same files.

Writes N full-size DEAP-layout subjects (40 trials × 40 channels × 8064 samples, float64,
≈98 MiB each) to a temporary folder, then measures, each in a fresh process:

* bare:        ``pickle.load(f, encoding='latin1')`` of every file, one after the other;
* preprocess:  ``emotionkd preprocess deap`` (safe unpickling, validation, channel selection,
               GSR conversion, baseline subtraction, float32, HDF5 write) on the folder.

It prints seconds per subject and the peak RSS of each process for every N, so that one can
see the overhead ratio (goal: ≤ 1.3×) and that peak memory stays flat as N grows.

    python benchmarks/preprocess_deap.py --subjects 2 4 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
import pickle, resource, sys, time, json
from pathlib import Path
files = sorted(Path(sys.argv[1]).glob('s*.dat'))
t = time.perf_counter()
for p in files:
    with open(p, 'rb') as fh:
        d = pickle.load(fh, encoding='latin1')
    del d
dt = time.perf_counter() - t
print(json.dumps({'seconds': dt, 'n': len(files),
                  'rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PRE = """
import resource, sys, time, json
from pathlib import Path
# module imports are a one-off per process, not a per-subject cost: do them before timing
import emotionkd.store, emotionkd.datasets.deap, emotionkd.datasets.safe_pickle
from emotionkd.preprocess import preprocess_deap
Path(sys.argv[2]).unlink(missing_ok=True)  # deleting an old output is not preprocessing work
t = time.perf_counter()
rep = preprocess_deap(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]))
dt = time.perf_counter() - t
print(json.dumps({'seconds': dt, 'n': rep.n_subjects,
                  'rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--repeats", type=int, default=3, help="best of R runs per measurement")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--tmp", default=None, help="folder for the temporary data")
    args = ap.parse_args()

    from emotionkd.datasets.synthetic import write_deap

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        raw = Path(tmp) / "raw"
        n_max = max(args.subjects)
        t = time.perf_counter()
        write_deap(raw, n_subjects=n_max, n_trials=40, seconds=60.0, seed=0)
        print(f"wrote {n_max} full-size subjects in {time.perf_counter() - t:.1f} s "
              f"({sum(p.stat().st_size for p in raw.iterdir()) / 2**20:.0f} MiB)")
        print(f"{'N':>3} {'bare s/subj':>12} {'prep s/subj':>12} {'ratio':>6} "
              f"{'bare RSS MiB':>13} {'prep RSS MiB':>13}")
        for n in sorted(args.subjects):
            sub = Path(tmp) / f"n{n}"
            sub.mkdir()
            for k in range(1, n + 1):
                (sub / f"s{k:02d}.dat").symlink_to(raw / f"s{k:02d}.dat")
            out = str(Path(tmp) / f"n{n}.h5")
            bare = min((run(BARE, str(sub)) for _ in range(args.repeats)),
                       key=lambda r: r["seconds"])
            pre = min((run(PRE, str(sub), out, str(args.workers)) for _ in range(args.repeats)),
                      key=lambda r: r["seconds"])
            b, p = bare["seconds"] / n, pre["seconds"] / n
            print(f"{n:>3} {b:>12.3f} {p:>12.3f} {p / b:>6.2f} {bare['rss_mib']:>13.0f} "
                  f"{pre['rss_mib']:>13.0f}")


if __name__ == "__main__":
    main()
