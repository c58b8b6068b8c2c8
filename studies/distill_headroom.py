"""Headroom and capture of every distillation method on synthetic worlds (docs/method.md,
"Headroom").

For each world (a synthetic DEAP-layout store with a latent truth) it runs ``emotionkd
evaluate`` over seeds with the student alone (``none``), the ceiling (the student alone on the
latent truth, ``student-ceiling``) and each method, and prints per run: the latent-truth
balanced accuracy of every row, the headroom (ceiling − none) and each method's gain and
capture (gain / headroom) with 95 % subject-bootstrap intervals — the numbers of the report's
headroom section.

    python studies/distill_headroom.py --work runs/headroom --world confounded \\
        --seeds 0,1,2 [--methods emotionkd,kd,none] [-- --no-feedback ...]
    python studies/distill_headroom.py --table runs/headroom/headroom-41/run   # print only

Worlds: ``confounded`` (the suite's family, ``synth deap --world confounded``: the EEG of
``broadband``, a GSR cue 2.5 times the other families', arousal ratings confounded by a bodily
state that raises the tonic skin conductance), ``own-noisy`` (emotionkd's own generator with
--gsr-cue 2 and rating noise of 5 SD: 77 % agreement), ``noisy`` (the default cues,
--label-noise 2.5: 84 % agreement) and ``default`` (the generator's defaults, label noise
1). Sized for two shared CPU cores: 8 subjects × 12 trials × 30 s, the tiny models, 4 folds
over subjects, 10 epochs. A run folder that exists is resumed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

WORLDS = {
    "confounded": ["--world", "confounded"],
    "own-noisy": ["--gsr-cue", "2", "--label-noise", "5"],
    "noisy": ["--label-noise", "2.5"],
    "default": [],
}
RECIPE = ["--kfold", "4", "--size", "tiny", "--lr", "1e-3", "--batch-size", "32",
          "--epochs", "10", "--baselines", "none"]


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def make_store(work: Path, world: str, seed: int, subjects: int, trials: int,
               seconds: float) -> Path:
    """The world's store (written once)."""
    store = work / f"{world}-{seed}.h5"
    if store.exists():
        return store
    raw = work / f"{world}-{seed}-raw"
    run(["emotionkd", "synth", "deap", "--out", str(raw), "--subjects", str(subjects),
         "--trials", str(trials), "--seconds", str(seconds), "--seed", str(seed),
         "--overwrite", *WORLDS[world]])
    run(["emotionkd", "preprocess", "deap", "--raw", str(raw), "--out", str(store)])
    return store


def pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:+.1f}"


def table(run_dir: Path) -> str:
    """The headroom table of a finished run, from its results.json."""
    res = json.loads((run_dir / "results.json").read_text())
    lines = []
    for target, t in res["targets"].items():
        h = t.get("headroom")
        lines.append(f"{run_dir} — {target}: {len(res['seeds'])} seeds × {res['folds_total']} "
                     "folds; balanced accuracy against the latent truth")
        lines.append(f"{'row':32s} {'latent bal. acc.':>18s}  {'gain over none [95 % CI]':>26s}"
                     f"  capture [95 % CI]")
        caps = h["captures"] if h else {}
        for label, m in t["models"].items():
            lat = (m.get("latent") or {}).get("mean_std", {}).get("balanced_accuracy")
            acc = "–" if not lat or not lat["n"] else \
                f"{100 * lat['mean']:.1f} ± {100 * lat['std']:.1f}"
            c = caps.get(label)
            gain = f"{pct(c['gain'])} [{pct(c['gain_ci'][0])}, {pct(c['gain_ci'][1])}]" \
                if c else ""
            cap = "" if not c else ("undefined" if c["capture"] is None else
                                    f"{100 * c['capture']:.0f} % [{100 * c['capture_ci'][0]:.0f}"
                                    f", {100 * c['capture_ci'][1]:.0f}]")
            lines.append(f"{label:32s} {acc:>18s}  {gain:>26s}  {cap}")
        if h:
            lines.append(f"headroom {h['yardstick']} − student-none: {pct(h['headroom'])} pp "
                         f"[{pct(h['headroom_ci'][0])}, {pct(h['headroom_ci'][1])}] over "
                         f"{h['subjects']} subjects ({h['units']} subject × seed units)"
                         + ("" if h["defined"] else f" — {h['note']}"))
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("runs/headroom"))
    p.add_argument("--world", choices=sorted(WORLDS), default="confounded")
    p.add_argument("--world-seed", type=int, default=41)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--methods", default="emotionkd,kd,none")
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--name", default="run", help="run folder name inside the world's folder")
    p.add_argument("--table", type=Path, nargs="*", help="only print the tables of these runs")
    p.add_argument("extra", nargs="*", help="more evaluate flags, after --")
    a = p.parse_args(argv)
    if a.table:
        print("\n".join(table(r) for r in a.table))
        return 0
    a.work.mkdir(parents=True, exist_ok=True)
    store = make_store(a.work, a.world, a.world_seed, a.subjects, a.trials, a.seconds)
    out = a.work / f"{a.world}-{a.world_seed}" / a.name
    out.parent.mkdir(parents=True, exist_ok=True)
    run(["emotionkd", "evaluate", "--data", str(store), *RECIPE, "--seeds", a.seeds,
         "--methods", a.methods, "--out", str(out), *(["--resume"] if out.exists() else []),
         *a.extra])
    print(table(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
