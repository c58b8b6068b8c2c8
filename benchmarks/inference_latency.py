"""Benchmark: inference of the GSR student (paper size, 1 × 512 at 128 Hz) on ONE CPU thread:
batch-1 latency (median, p95) and batch-256 throughput in PyTorch eager (as trained, and
folded for inference as ``predict`` runs it), TorchScript and ONNX Runtime (both exported from
the folded model, :mod:`emotionkd.models.inference`), and the model file sizes.

    python benchmarks/inference_latency.py [--repeats 300] [--rounds 5]
                                           [--reference-python /path/to/tf-env/bin/python]

Goals: batch-1 latency ≤ 0.6 ms with ONNX Runtime (the reference TensorFlow student needs
1.15 ms compiled, 19 ms eager) and batch-256 throughput ≥ 2 × 1,405 windows/s. With
``--reference-python`` (an interpreter that has ``tensorflow-cpu``) the reference student of
``reference_tf.py`` runs on one thread in a child process that takes its turn in every round,
so the reference figures are measured on this machine at the same moments.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: windows per call in ``emotionkd predict`` (emotionkd.predict.predict_recording)
CHUNK = 64


def timeit(fn, x, repeats: int, warmup: int = 20) -> np.ndarray:
    for _ in range(warmup):
        fn(x)
    out = np.empty(repeats)
    for i in range(repeats):
        t = time.perf_counter()
        fn(x)
        out[i] = time.perf_counter() - t
    return out


def ort_matmul_peak(n: int = 1024, reps: int = 10) -> float:
    """Single-thread float32 GEMM rate of ONNX Runtime (FLOP/s) on an n³ product."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(k, TensorProto.FLOAT, [n, n]) for k in "ab"]
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak", ins,
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {k: rng.random((n, n), dtype=np.float32) for k in "ab"}
    sess.run(None, feed)
    best = min(timeit(lambda f: sess.run(None, f), feed, reps, warmup=2))
    return 2 * n**3 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=300, help="batch-1 runs per engine")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--reference-python", metavar="PYTHON",
                    help="interpreter with tensorflow-cpu: time the reference student too")
    args = ap.parse_args()
    per_round = max(1, args.repeats // args.rounds)
    reference = None
    if args.reference_python:
        from reference_tf_child import ReferenceTF

        reference = ReferenceTF(args.reference_python, "--infer", str(per_round))
    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    from emotionkd.checkpoint import save_checkpoint
    from emotionkd.export import export_model
    from emotionkd.models.registry import build_model, default_config

    cfg = default_config("emotionnet-student", 128, 4, 28)
    model = build_model("emotionnet-student", cfg).eval()
    data = {"sampling_rate": 128.0, "window_s": 4.0, "step_s": 4.0, "window": 512,
            "eeg_channels": [], "target": "arousal", "threshold": 5.0, "tie": "low",
            "norm": "subject"}
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "s.pt"
        save_checkpoint(ck, role="student", model="emotionnet-student", model_config=cfg,
                        state_dict=model.state_dict(), data=data, training={})
        onnx_path, ts_path = Path(tmp) / "s.onnx", Path(tmp) / "s.ts"
        export_model(ck, "onnx", onnx_path)
        export_model(ck, "torchscript", ts_path)
        ts = torch.jit.load(str(ts_path))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        from emotionkd.models.inference import fold_for_inference

        folded = fold_for_inference(model)

        def eager(x):
            with torch.no_grad():
                return model(torch.from_numpy(x))[0]

        def eager_folded(x):  # what `emotionkd predict` runs for a .pt checkpoint
            with torch.no_grad():
                return folded(torch.from_numpy(x))[0]

        def script(x):
            with torch.no_grad():
                return ts(torch.from_numpy(x))

        def onnx(x):
            return sess.run(None, {name: x})[0]

        sizes = {"checkpoint (.pt)": ck.stat().st_size, "ONNX": onnx_path.stat().st_size,
                 "TorchScript": ts_path.stat().st_size}
        x1 = np.random.default_rng(0).normal(size=(1, 1, 512)).astype(np.float32)
        x256 = np.random.default_rng(1).normal(size=(256, 1, 512)).astype(np.float32)
        print(f"student {sum(p.numel() for p in model.parameters()):,} parameters; one CPU "
              f"thread; torch {torch.__version__}, onnxruntime {ort.__version__}")
        engines = (("eager", eager), ("eager folded", eager_folded), ("TorchScript", script),
                   ("ONNX Runtime", onnx))
        # engines take turns in rounds, so that a shared machine's slow spells hit all of them
        lat: dict[str, list[np.ndarray]] = {k: [] for k, _ in engines}
        thr: dict[str, list[np.ndarray]] = {k: [] for k, _ in engines}
        chunked: dict[str, list[np.ndarray]] = {k: [] for k, _ in engines}

        def in_chunks(fn: Callable[[np.ndarray], object]) -> Callable[[np.ndarray], object]:
            """The 256 windows in chunks, as ``predict`` feeds them."""
            return lambda x: [fn(x[a:a + CHUNK]) for a in range(0, len(x), CHUNK)]
        for _ in range(args.rounds):
            for label, fn in engines:
                lat[label].append(timeit(fn, x1, per_round) * 1e3)
                thr[label].append(timeit(fn, x256, 3, warmup=1))
                chunked[label].append(timeit(in_chunks(fn), x256, 3, warmup=1))
            if reference is not None:
                r = reference.round()
                for mode in ("graph", "xla", "eager"):
                    lat.setdefault(f"TF {mode}", []).append(np.array(r[f"b1_{mode}"]) * 1e3)
                    if f"b256_{mode}" in r:
                        thr.setdefault(f"TF {mode}", []).append(np.array(r[f"b256_{mode}"]))
        print(f"{args.rounds} interleaved rounds; 'best round' is the fastest round's median")
        print(f"{'engine':13s} {'b1 median ms':>13s} {'b1 p95 ms':>10s} {'best round':>11s} "
              f"{'b256 windows/s':>15s} {f'256 as {CHUNK}s':>11s}")
        for label in lat:
            all_lat = np.concatenate(lat[label])
            best = min(float(np.median(r)) for r in lat[label])
            b256 = f"{256 / float(np.median(np.concatenate(thr[label]))):15.0f}" \
                if label in thr else f"{'–':>15s}"
            per_chunk = f"{256 / float(np.median(np.concatenate(chunked[label]))):11.0f}" \
                if chunked.get(label) else f"{'–':>11s}"
            print(f"{label:13s} {np.median(all_lat):13.3f} {np.percentile(all_lat, 95):10.3f} "
                  f"{best:11.3f} {b256} {per_chunk}")
        if reference is not None:
            reference.close()
            h = reference.header
            # TensorFlow's faster compiled mode (graph or XLA) in each round, against ONNX Runtime
            # in the same round; the median over rounds
            def faster_tf(i: int, stat: str) -> float:
                return min(float(np.median(thr[f"TF {m}"][i] if stat == "b256" else
                                           lat[f"TF {m}"][i])) for m in ("graph", "xla"))

            rounds = range(args.rounds)
            b1_ratio = np.median([faster_tf(i, "b1") / np.median(lat["ONNX Runtime"][i])
                                  for i in rounds])
            b256_ratio = np.median([faster_tf(i, "b256") / np.median(thr["ONNX Runtime"][i])
                                    for i in rounds])
            print(f"TF = the reference student in TensorFlow {h['tensorflow']} (Keras "
                  f"{h['keras']}), one thread, same rounds. Against TF's faster compiled mode "
                  f"per round: ONNX Runtime batch-1 latency ×{b1_ratio:.1f} lower, batch-256 "
                  f"throughput ×{b256_ratio:.2f} (goal ×2)")
        for k, v in sizes.items():
            print(f"size {k}: {v / 2**20:.2f} MiB")
        from torch.utils.flop_counter import FlopCounterMode

        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            folded(torch.from_numpy(x1))
        flops = fc.get_total_flops()
        peak = ort_matmul_peak()
        print(f"folded student: {flops / 1e6:.1f} MFLOP per window; ONNX Runtime single-thread "
              f"float32 GEMM peak (1024³): {peak / 1e9:.0f} GFLOP/s → at most "
              f"{peak / flops:,.0f} windows/s even at 100 % of peak (goal 2,810)")


if __name__ == "__main__":
    main()
