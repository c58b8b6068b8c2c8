"""Benchmark: the wall time and peak memory of ``emotionkd demo`` as a user runs it.

Runs ``emotionkd demo`` (or ``--quick``) in a fresh process into a new temporary folder, with
the environment as it is — the number of OpenMP threads the user gets (``OMP_NUM_THREADS``
unset: one per core), progress bars off — and prints the wall time, the CPU time of the
process (user + system), its peak resident memory, the machine's load average before and
after, and the demo's own "done in" line. The wall time of a demo depends on what else the
machine runs: the load averages say how busy it was (on a 2-core machine, a load of 1 before
the run is one core busy). The demo's target is at most 180 s on a quiet 2-core machine and
at most 300 s with one core busy (docs/cli.md#emotionkd-demo).

    python benchmarks/demo_time.py [--quick] [--rounds 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(quick: bool, out: Path) -> dict[str, float | str]:
    """One demo in its own process: wall and CPU seconds, peak MiB, load, its last lines."""
    env = {**os.environ, "EMOTIONKD_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "emotionkd", "demo", "--out", str(out), "--overwrite"]
    if quick:
        cmd.append("--quick")
    load0 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"emotionkd demo failed ({res.returncode}): {res.stderr.strip()}")
    done = re.search(r"done in [^.]*\.[^.]*", res.stdout)
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_mib": after.ru_maxrss / 1024,  # kB on Linux; the largest child so far
        "load_before": load0, "load_after": os.getloadavg()[0],
        "done": done.group(0) if done else "?", "stdout": res.stdout,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="time `emotionkd demo --quick`")
    ap.add_argument("--rounds", type=int, default=1, help="demos run one after the other")
    ap.add_argument("--keep", type=Path, default=None,
                    help="write the demo here and keep it (default: a temporary folder)")
    ap.add_argument("--print-output", action="store_true", help="print the demo's output")
    args = ap.parse_args()
    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="emotionkd-demo-time."))
    out = args.keep or tmp / "demo"
    threads = os.environ.get("OMP_NUM_THREADS", f"unset ({os.cpu_count()} cores)")
    print(f"emotionkd demo{' --quick' if args.quick else ''}: OMP_NUM_THREADS {threads}, "
          f"{args.rounds} round(s)")
    try:
        for k in range(1, args.rounds + 1):
            r = run_once(args.quick, out)
            print(f"round {k}: wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, peak memory "
                  f"{r['peak_mib']:.0f} MiB, load average {r['load_before']:.2f} before / "
                  f"{r['load_after']:.2f} after; the demo says: {r['done']}")
            if args.print_output:
                print(r["stdout"])
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
