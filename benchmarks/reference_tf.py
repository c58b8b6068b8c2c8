"""The EmotionKD reference models in TensorFlow/Keras, timed the way train_throughput.py times ours.

    # in a separate environment (TensorFlow is not an emotionkd dependency), e.g. TF 2.15.1, the
    # last release whose tf.keras (Keras 2) runs the original reference code unmodified:
    python3.11 -m venv tf215 && tf215/bin/pip install tensorflow-cpu==2.15.1
    tf215/bin/python benchmarks/reference_tf.py [--rounds 5] [--steps 8] [--batch 64] [--infer N]
    python benchmarks/train_throughput.py --reference-python tf215/bin/python
    python benchmarks/inference_latency.py --reference-python tf215/bin/python

It runs with TensorFlow 2.5 (the reference's own version: ``python3.8 -m venv tf25 &&
tf25/bin/pip install tensorflow-cpu==2.5.0 numpy==1.19.5``), 2.15 (Keras 2.15 from the separate
``keras`` package) and 2.16 or later (Keras 3, or Keras 2 with ``pip install tf_keras`` and
``TF_USE_LEGACY_KERAS=1``); the header line names the Keras it ran with.

emotionkd's speed goal is "at least the reference TensorFlow implementation on the same CPU".
A number measured once, on another day, on a machine whose speed drifts by ±30 % says little,
so this script rebuilds the reference graphs layer by layer from the reference code's
architecture as docs/method.md describes it (Conv2D heads with L2(0.001), learned position
table, three post-norm blocks of Keras ``MultiHeadAttention(8, key_dim=64)``, score-gated IMF
with the reference's ``E_b`` concatenation, the linear classifier; the student's MLKD loss
CE + 0.1·KL + 1·MSE) and trains them with ``model.fit`` at batch 64. The parameter counts
are checked against the reference's 2,047,490 (teacher) and 993,986 (student) before timing.

With ``--infer N`` it times the student's inference on one thread instead (batch-1 latency
compiled as a ``tf.function`` graph, compiled with XLA and eager; batch-256 throughput of both
compiled forms), the reference side of inference_latency.py. With ``--serve`` it measures one
round per line read from stdin and answers with a JSON line, so that train_throughput.py and
inference_latency.py can interleave the two frameworks' rounds on one machine.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# the reference's teacher leaves its third EEG block without gradients (docs/method.md, "the IMF
# bug"): Keras 2 warns about it at every traced step
tf.get_logger().setLevel("ERROR")
keras = tf.keras
layers = keras.layers

TEACHER_PARAMS = 2_047_490
STUDENT_PARAMS = 993_986


def conv_head(x: Any, n_channels: int) -> Any:
    l2 = keras.regularizers.l2(1e-3)
    x = layers.Conv2D(64, (1, 32), strides=(1, 8), kernel_regularizer=l2)(x)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.Conv2D(64, (n_channels, 1), kernel_regularizer=l2)(x)  # (1, L, 64)
    x = layers.Reshape((x.shape[2], 64))(x)  # squeeze the channel axis
    return layers.Dropout(0.3)(x)


class PositionEmbedding(layers.Layer):
    """Learned Embedding(64, 64) whose rows 0..L-1 are added to the L tokens."""

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(shape=(64, 64), name="table",
                                     initializer=keras.initializers.RandomUniform(-0.05, 0.05))

    def call(self, x: Any) -> Any:
        return x + self.table[: x.shape[1]]


def transformer_block(x: Any) -> Any:
    a = layers.MultiHeadAttention(num_heads=8, key_dim=64)(x, x)
    h = layers.LayerNormalization(epsilon=1e-6)(x + layers.Dropout(0.1)(a))
    f = layers.Dense(64)(layers.Dense(64, activation="relu")(h))
    return layers.LayerNormalization(epsilon=1e-6)(h + layers.Dropout(0.1)(f))


def encoder(x: Any) -> Any:
    x = PositionEmbedding()(x)
    outs = []
    for _ in range(3):
        x = transformer_block(x)
        outs.append(x)
    return outs


class ScoreGenerationBlock(layers.Layer):
    """Dense → BN → ReLU → Dense → BN → softsign, per token (returns the score only)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.fc1, self.fc2 = layers.Dense(64), layers.Dense(64)
        self.bn1, self.bn2 = layers.BatchNormalization(), layers.BatchNormalization()

    def call(self, x: Any, training: Any = None) -> Any:
        s = tf.nn.relu(self.bn1(self.fc1(x), training=training))
        return tf.nn.softsign(self.bn2(self.fc2(s), training=training))


class MultiModalFusion(layers.Layer):
    """The reference IMF layer on [E_b, G_b, E_a, G_a], with its "after" branch built from
    cat[E_b, G_a] (sic), so E_a is an input of the layer but unused."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sgb1, self.sgb2 = ScoreGenerationBlock(), ScoreGenerationBlock()

    def call(self, inputs: Any, training: Any = None) -> Any:
        e_b, g_b, _e_a, g_a = inputs
        before = tf.concat([e_b, g_b], axis=1)
        after = tf.concat([e_b, g_a], axis=1)
        return (self.sgb1(before, training=training) * before
                + self.sgb2(after, training=training) * after)


class MultiDepthFusion(layers.Layer):
    """Σ_d SGB_d(x_d) ⊙ x_d over the three blocks' outputs (the student's fusion)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.sgbs = [ScoreGenerationBlock() for _ in range(3)]

    def call(self, xs: Any, training: Any = None) -> Any:
        return tf.add_n([sgb(x, training=training) * x for sgb, x in zip(self.sgbs, xs)])


def classifier(tokens: Any) -> Any:
    h = layers.Dropout(0.5)(layers.Flatten()(tokens))
    for _ in range(3):
        h = layers.Dense(128)(h)
    return layers.Dense(2)(h)


def teacher_model(n_eeg: int = 28, n_samples: int = 512) -> keras.Model:
    eeg = keras.Input((n_eeg, n_samples, 1))
    gsr = keras.Input((1, n_samples, 1))
    e = encoder(conv_head(eeg, n_eeg))
    g = encoder(conv_head(gsr, 1))
    fused = layers.Add()([MultiModalFusion()([e[0], g[0], e[1], g[1]]),
                          MultiModalFusion()([e[1], g[1], e[2], g[2]])])
    return keras.Model([eeg, gsr], layers.Softmax()(classifier(fused)))


def student_model(n_samples: int = 512) -> keras.Model:
    gsr = keras.Input((1, n_samples, 1))
    xs = encoder(conv_head(gsr, 1))
    fused = MultiDepthFusion()(xs)
    features = layers.Flatten()(fused)
    probs = layers.Softmax()(classifier(fused))
    # MLKD: CE(y, p_S) + 0.1·KL(p_T ‖ p_S) + 1·MSE(f_T, f_S), as three outputs' losses
    return keras.Model(gsr, [probs, probs, features])


def check_count(model: keras.Model, what: str, expected: int) -> None:
    """Refuse to time a graph that is not the reference's (its parameter count differs)."""
    if model.count_params() != expected:
        raise SystemExit(f"reference_tf.py: the {what} has {model.count_params():,} "
                         f"parameters, not the reference's {expected:,}")


def keras_version() -> str:
    """The version of the Keras behind ``tf.keras``: "2.15.0" (TensorFlow 2.6–2.15 load it from
    the separate ``keras`` package, and their ``tf.keras`` has no ``__version__``), "3.x"
    (TensorFlow ≥ 2.16), "tf_keras 2.x" (``TF_USE_LEGACY_KERAS=1``), or TensorFlow's own version
    for the Keras built into TensorFlow ≤ 2.5."""
    version = getattr(keras, "__version__", None)
    if version:
        return str(version)
    package = keras.Model.__module__.split(".")[0]  # keras, tf_keras or tensorflow
    if package == "tensorflow":
        return f"{tf.__version__} (built into TensorFlow)"
    version = getattr(importlib.import_module(package), "__version__", "unknown")
    return version if package == "keras" else f"{package} {version}"


class StepClock(keras.callbacks.Callback):
    """Wall-clock time at the end of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.ends.append(time.perf_counter())


class Bench:
    def __init__(self, batch: int, steps: int) -> None:
        rng = np.random.default_rng(0)
        n = batch * steps
        self.batch, self.n = batch, n
        eeg = rng.standard_normal((n, 28, 512, 1), dtype=np.float32)
        gsr = rng.standard_normal((n, 1, 512, 1), dtype=np.float32)
        y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, n)]
        soft = np.full((n, 2), 0.5, dtype=np.float32)
        feats = rng.standard_normal((n, 61 * 64), dtype=np.float32)
        self.teacher = teacher_model()
        self.teacher.compile(keras.optimizers.Adam(5e-5), "categorical_crossentropy")
        self.student = student_model()
        self.student.compile(keras.optimizers.Adam(1e-6),
                             ["categorical_crossentropy", keras.losses.KLDivergence(), "mse"],
                             loss_weights=[1.0, 0.1, 1.0])
        check_count(self.teacher, "teacher", TEACHER_PARAMS)
        check_count(self.student, "student", STUDENT_PARAMS)
        self.t_args = ([eeg, gsr], y)
        self.s_args = (gsr, [y, soft, feats])
        for m, (x, t) in ((self.teacher, self.t_args), (self.student, self.s_args)):
            m.fit(x, t, batch_size=batch, epochs=1, verbose=0, shuffle=False)  # trace, warm up

    def round(self) -> dict[str, float]:
        """Samples/s of each model's training steps after the first of a ``fit`` epoch (the
        clock runs from the end of step 1 to the end of the last step, so ``fit``'s set-up
        and the input conversion are not counted against TensorFlow)."""
        out = {}
        for key, m, (x, t) in (("teacher", self.teacher, self.t_args),
                               ("student", self.student, self.s_args)):
            clock = StepClock()
            m.fit(x, t, batch_size=self.batch, epochs=1, verbose=0, shuffle=False,
                  callbacks=[clock])
            out[key] = self.batch * (len(clock.ends) - 1) / (clock.ends[-1] - clock.ends[0])
        return out


class InferBench:
    """The reference student's inference on one thread: batch-1 latency and batch-256
    throughput of the model compiled as a ``tf.function`` graph and with XLA
    (``jit_compile=True``), and batch-1 latency in eager mode."""

    def __init__(self, repeats: int) -> None:
        student = student_model()
        check_count(student, "student", STUDENT_PARAMS)
        model = keras.Model(student.inputs, student.outputs[0])  # class probabilities
        self.modes = {
            "graph": tf.function(lambda x: model(x, training=False)),
            "xla": tf.function(lambda x: model(x, training=False), jit_compile=True),
            "eager": lambda x: model(x, training=False),
        }
        rng = np.random.default_rng(0)
        self.x1 = tf.constant(rng.standard_normal((1, 1, 512, 1), dtype=np.float32))
        self.x256 = tf.constant(rng.standard_normal((256, 1, 512, 1), dtype=np.float32))
        self.repeats = repeats
        for fn in self.modes.values():  # trace and compile
            for _ in range(10):
                fn(self.x1).numpy()
            fn(self.x256).numpy()

    @staticmethod
    def _times(fn: Any, x: Any, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn(x).numpy()
            out.append(time.perf_counter() - t0)
        return out

    def round(self) -> dict[str, list[float]]:
        """Seconds per call: ``b1_<mode>`` for every mode (eager: a tenth as many calls, it is
        slow) and ``b256_<mode>`` for the compiled ones."""
        out = {}
        for mode, fn in self.modes.items():
            n = self.repeats if mode != "eager" else max(5, self.repeats // 10)
            out[f"b1_{mode}"] = self._times(fn, self.x1, n)
            if mode != "eager":
                out[f"b256_{mode}"] = self._times(fn, self.x256, 3)
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=8, help="batches per timed fit call")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--serve", action="store_true", help="one round per line on stdin (JSON out)")
    ap.add_argument("--infer", type=int, metavar="REPEATS", default=0,
                    help="time the student's inference on one thread instead of training "
                         "(REPEATS batch-1 calls per round)")
    args = ap.parse_args()
    if args.infer:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    bench = InferBench(args.infer) if args.infer else Bench(args.batch, args.steps)
    header = {"tensorflow": tf.__version__, "keras": keras_version(),
              "threads": [tf.config.threading.get_intra_op_parallelism_threads(),
                          tf.config.threading.get_inter_op_parallelism_threads()]}
    if args.serve:
        print(json.dumps(header), flush=True)
        for _ in sys.stdin:
            print(json.dumps(bench.round()), flush=True)
        return
    what = "student inference, one thread" if args.infer else f"training, batch {args.batch}"
    print(f"TensorFlow {header['tensorflow']}, Keras {header['keras']}, {what}; reference "
          f"parameter counts checked")
    rates = [bench.round() for _ in range(args.rounds)]
    if args.infer:
        for mode in bench.modes:
            b1 = np.concatenate([r[f"b1_{mode}"] for r in rates]) * 1e3
            line = (f"{mode:6s} batch-1 median {np.median(b1):7.3f} ms "
                    f"(p95 {np.percentile(b1, 95):.3f})")
            if f"b256_{mode}" in rates[0]:
                b256 = 256 / np.median(np.concatenate([r[f"b256_{mode}"] for r in rates]))
                line += f"; batch-256 {b256:.0f} windows/s"
            print(line)
        return
    for key in ("teacher", "student"):
        r = [x[key] for x in rates]
        print(f"{key:8s} {np.median(r):5.0f} ({max(r):.0f}) samples/s: median round (fastest)")


if __name__ == "__main__":
    main()
