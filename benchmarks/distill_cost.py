"""Benchmark: cost of one distillation training step per method at the paper's shapes
(batch 64): none (student alone), kd, emotionkd without feedback, emotionkd with feedback
(feedback step + real student step). Each configuration runs in a fresh process so that its
peak RSS is its own.

    python benchmarks/distill_cost.py [--steps 8]

Goal: a feedback step costs at most 3x a plain KD step.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
from emotionkd.config import DistillConfig, FeedbackConfig
from emotionkd.distill.feedback import FeedbackUpdater
from emotionkd.distill.losses import HintAdapter
from emotionkd.distill.methods import Outputs
from emotionkd.models.registry import build_model, default_config
method, fb, steps, B = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
cfg = default_config("emotionnet-teacher", 128, 4, 28)
teacher = build_model("emotionnet-teacher", cfg).eval()
student = build_model("emotionnet-student", cfg).train()
w = DistillConfig(method=method).method_object()
adapter = HintAdapter(64, 64) if w.params["hint_weight"] else None
params = list(student.parameters()) + (list(adapter.parameters()) if adapter else [])
from emotionkd.training import make_adam, tune_cpu_allocator
tune_cpu_allocator()  # as fit() does
opt = make_adam(params, 1e-4)
upd = FeedbackUpdater(teacher, student, adapter, w, FeedbackConfig()) if fb else None
eeg, gsr = torch.randn(B, 28, 512), torch.randn(B, 1, 512)
y = torch.randint(0, 2, (B,))
qg, qy = torch.randn(B, 1, 512), torch.randint(0, 2, (B,))
for p in teacher.parameters():
    p.requires_grad_(fb)
def step():
    if upd is not None:
        upd.step(eeg, gsr, y, qg, qy)
    if method == "none":
        z, f = student(gsr); loss = torch.nn.functional.cross_entropy(z, y)
    else:
        with torch.no_grad():
            zt, ft = teacher(eeg, gsr)
        zs, fs = student(gsr)
        loss, _ = w.loss(Outputs(y, zs, fs, zt, ft), adapter)
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(2):
    step()
times = []
for _ in range(steps):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({"median": times[len(times) // 2], "min": times[0],
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    rows = []
    for label, method, fb in (("none", "none", 0), ("kd", "kd", 0),
                              ("emotionkd (no feedback)", "emotionkd", 0),
                              ("emotionkd + feedback", "emotionkd", 1)):
        out = subprocess.run([sys.executable, "-c", CHILD, method, str(fb), str(args.steps),
                              str(args.batch)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((label, r))
    kd = rows[1][1]["median"]
    print(f"batch {args.batch}, paper shapes, median of {args.steps} steps")
    print(f"{'method':26s} {'s/step':>8s} {'vs kd':>6s} {'peak RSS MiB':>13s}")
    for label, r in rows:
        print(f"{label:26s} {r['median']:8.3f} {r['median'] / kd:6.2f} {r['rss_mib']:13.0f}")


if __name__ == "__main__":
    main()
