"""Benchmark: training throughput and memory of the teacher and the student at the paper's
shapes (28 EEG channels × 512 samples, 1 GSR channel, batch 64), plus forward FLOPs per sample
and the machine's measured float32 matmul peak, so the achieved fraction can be read.

    python benchmarks/train_throughput.py [--rounds 5] [--steps 8] [--device auto]
                                          [--reference-python /path/to/tf-env/bin/python]

The configurations take turns in rounds (with the matmul peak measured in every round), because
a shared machine's speed drifts between runs by ±30 % and more; each rate is reported as the
median over rounds and as the fastest round.

The student is measured the way ``distill`` trains it: without feedback the frozen teacher's
outputs are computed once per run and looked up per batch, so a step is the student's forward,
loss and backward; the one-time teacher pass is reported separately and amortised over the
default number of epochs. The student step that runs the teacher on every batch (what a
feedback-free loop without the cache would do) is printed too.

Reference (the original TensorFlow code on the same 2-core CPU, as the project's goal quotes it):
teacher ≈ 240 samples/s, student with its distillation loss ≈ 445 samples/s at batch 64. With
``--reference-python`` (an interpreter that has ``tensorflow-cpu``) the reference graphs of
``reference_tf.py`` are trained in a child process that takes its turn in every round, so both
frameworks are compared on the same machine at the same moments.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from reference_tf_child import ReferenceTF


def matmul_peak(device: torch.device, n: int = 2048, reps: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    _sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_flops(model: torch.nn.Module, inputs: tuple) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*inputs)
    model.train()
    return fc.get_total_flops() / inputs[0].shape[0]


def bench(step, batch: int, steps: int, device: torch.device) -> float:
    """Samples per second over ``steps`` calls of ``step`` (after one warm-up call)."""
    step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--steps", type=int, default=8, help="training steps per round")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reference-python", metavar="PYTHON",
                    help="interpreter with tensorflow-cpu: time reference_tf.py in every round")
    args = ap.parse_args()
    reference = ReferenceTF(args.reference_python, "--batch", str(args.batch), "--steps",
                            str(args.steps + 1)) if args.reference_python else None
    from emotionkd.config import DistillConfig
    from emotionkd.distill.losses import HintAdapter
    from emotionkd.distill.methods import Outputs
    from emotionkd.models.registry import build_model, default_config
    from emotionkd.training import TrainConfig, make_adam, resolve_device, tune_cpu_allocator

    dev = resolve_device(args.device)
    tune_cpu_allocator()  # as fit() does
    cfg = default_config("emotionnet-teacher", 128, 4, 28)
    teacher = build_model("emotionnet-teacher", cfg).to(dev)
    student = build_model("emotionnet-student", cfg).to(dev)
    adapter = HintAdapter(64, 64).to(dev)
    B = args.batch
    eeg = torch.randn(B, 28, 512, device=dev)
    gsr = torch.randn(B, 1, 512, device=dev)
    y = torch.randint(0, 2, (B,), device=dev)
    opt_t = make_adam(list(teacher.parameters()), 1e-4)
    opt_s = make_adam(list(student.parameters()) + list(adapter.parameters()), 1e-4)
    w = DistillConfig(method="emotionkd").method_object()

    def teacher_step() -> None:
        z, _ = teacher(eeg, gsr)
        loss = F.cross_entropy(z, y) + teacher.head_l2_penalty()
        opt_t.zero_grad()
        loss.backward()
        opt_t.step()

    # teacher outputs of a small "training set" (4 batches), looked up per step like the cache
    teacher.eval()
    with torch.no_grad():
        cached = [teacher(eeg.roll(k, 0), gsr.roll(k, 0)) for k in range(4)]
    teacher.train()
    counter = [0]

    def student_update(zt: torch.Tensor, ft: torch.Tensor) -> None:
        zs, fs = student(gsr)
        loss, _ = w.loss(Outputs(y, zs, fs, zt, ft), adapter)
        opt_s.zero_grad()
        (loss + student.head_l2_penalty()).backward()
        opt_s.step()

    def student_step_cached() -> None:
        counter[0] += 1
        zt, ft = cached[counter[0] % 4]
        student_update(zt, ft)

    def student_step_live() -> None:
        teacher.eval()
        with torch.no_grad():
            zt, ft = teacher(eeg, gsr)
        student_update(zt, ft)

    def teacher_pass() -> None:  # the one-time cache pass (eval mode, batch 512 in distill)
        with torch.no_grad():
            teacher(big_eeg, big_gsr)

    print(f"device {dev}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"batch {B}, paper shapes (28 x 512 EEG, 1 x 512 GSR)")
    ft = forward_flops(teacher, (eeg, gsr))
    fs_ = forward_flops(student, (gsr,))
    teacher.train()
    student.train()
    configs = (("teacher", teacher_step), ("student", student_step_cached),
               ("live", student_step_live))
    rates: dict[str, list[float]] = {k: [] for k, _ in configs}
    peaks: list[float] = []
    rss: dict[str, float] = {}
    tf_rates: dict[str, list[float]] = {"teacher": [], "student": []}
    for _ in range(args.rounds):
        peaks.append(matmul_peak(dev, reps=3))
        for key, fn in configs:
            rates[key].append(bench(fn, B, args.steps, dev))
            rss[key] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if reference is not None:
            for key, rate in reference.round().items():
                tf_rates[key].append(rate)
    teacher.eval()
    big = 512
    big_eeg, big_gsr = eeg.repeat(big // B, 1, 1), gsr.repeat(big // B, 1, 1)
    pass_rate = bench(teacher_pass, big, 2, dev)
    med = {k: float(np.median(v)) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    peak = float(np.median(peaks))
    print(f"float32 matmul peak per round: {min(peaks) / 1e9:.0f}–{max(peaks) / 1e9:.0f} GFLOP/s "
          f"(median {peak / 1e9:.0f}); {args.rounds} rounds × {args.steps} steps; rates: median "
          f"round (fastest round)")
    # training ≈ 3 × forward FLOPs (forward + backward)
    for name, key, flops, ref in (("teacher", "teacher", ft, 240),
                                  ("student (emotionkd loss)", "student", fs_, 445)):
        achieved = med[key] * 3 * flops
        print(f"{name:26s} {med[key]:5.0f} ({best[key]:.0f}) samples/s (reference TF ≈ {ref}, "
              f"×{med[key] / ref:.2f} (×{best[key] / ref:.2f})); forward {flops / 1e6:.1f} "
              f"MFLOP/sample; ≈ {achieved / 1e9:.1f} GFLOP/s = {100 * achieved / peak:.0f} % of "
              f"the median peak; peak RSS so far {rss[key]:.0f} MiB")
    epochs = TrainConfig().epochs
    amortised = 1.0 / (1.0 / med["student"] + 1.0 / (epochs * pass_rate))
    print(f"  one-time teacher pass for the cache: {pass_rate:.0f} windows/s; student amortised "
          f"over {epochs} epochs: {amortised:.0f} samples/s (×{amortised / 445:.2f})")
    print(f"  student step running the teacher on every batch: {med['live']:.0f} "
          f"({best['live']:.0f}) samples/s (×{med['live'] / 445:.2f})")
    if reference is not None:
        reference.close()
        h = reference.header
        print(f"reference graphs in TensorFlow {h['tensorflow']} (Keras {h['keras']}), same "
              f"rounds, after each round of ours; ratio = ours / TF within a round (median):")
        for name, key in (("teacher", "teacher"), ("student (emotionkd loss)", "student")):
            tf_r = tf_rates[key]
            ratio = float(np.median([a / b for a, b in zip(rates[key], tf_r)]))
            print(f"{name:26s} TF {np.median(tf_r):5.0f} ({max(tf_r):.0f}) samples/s; emotionkd "
                  f"×{ratio:.2f} faster")
    if dev.type == "cuda":
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
