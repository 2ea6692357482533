"""RNN over a user cell and ConvLSTM2D: one ``scan`` node (``Input((None, f))``) beside
the unrolled graph (``Input((T, f))``, ``unroll=True``), same weights and data. Build
time (layer call and Model), a training step (fit, one batch) and predict, each the best
of interleaved rounds in CPU time (steadier than the wall clock on a shared machine; run
with OPENBLAS_NUM_THREADS=1, as CPU time counts every BLAS thread); and onnxruntime on
each export (ONNX ``Scan`` beside the unrolled graph), wall clock.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_scan.py
"""

from __future__ import annotations

import time

import numpy as np

import graphc
import graphc.onnx
from graphc import Input, Model, layers, ops


class MinimalRNNCell(layers.Layer):
    """keras.io's "Working with RNNs" cell."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, self.units), name="rk")

    def call(self, inputs, states):
        h = ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent_kernel)
        h = ops.tanh(h)
        return h, [h]


def _cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def _wall(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _case(name, build, x, y, rounds=5):
    models = {}
    build_s = {}
    for t in (None, x.shape[1]):
        start = time.process_time()
        models[t] = build(t)
        build_s[t] = time.process_time() - start
        models[t].compile(optimizer="sgd", loss="mse")
    models[x.shape[1]].set_weights(models[None].get_weights())
    n = len(x)
    best = {t: [np.inf, np.inf] for t in models}
    for _ in range(rounds + 1):  # the first round warms up
        for t, m in models.items():
            fit = _cpu(lambda m=m: m.fit(x, y, batch_size=n, epochs=1, verbose=0))
            pred = _cpu(lambda m=m: m.predict(x, batch_size=n, verbose=0))
            best[t] = [min(best[t][0], fit), min(best[t][1], pred)]
    ort = {}
    for t, m in models.items():
        runtime = graphc.onnx.Runtime(graphc.onnx.export(m))
        runtime.predict(x)
        ort[t] = min(_wall(lambda r=runtime: r.predict(x)) for _ in range(rounds))
    for t, m in models.items():
        label = "scan    " if t is None else "unrolled"
        print(
            f"{name:34s} {label} build {build_s[t] * 1e3:6.1f} ms  train step "
            f"{best[t][0] * 1e3:6.1f} ms  predict {best[t][1] * 1e3:6.1f} ms  "
            f"onnxruntime {ort[t] * 1e3:6.2f} ms  nodes {len(m.graph.nodes)}"
        )


def main():
    rng = np.random.default_rng(0)
    warm = Input((None, 2))  # first-use imports out of the build times
    Model(warm, layers.RNN(MinimalRNNCell(2))(warm)).predict(np.zeros((1, 2, 2)), verbose=0)
    for steps, units in ((20, 32), (100, 32)):
        x = rng.standard_normal((64, steps, 8)).astype("float32")
        y = rng.standard_normal((64, 1)).astype("float32")

        def build(t, units=units):
            i = Input((t, 8))
            rnn = layers.RNN(MinimalRNNCell(units), unroll=t is not None)
            return Model(i, layers.Dense(1)(rnn(i)))

        _case(f"MinimalRNNCell({units}), T={steps}, N=64", build, x, y)
    x = rng.standard_normal((16, 10, 8, 8, 3)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")

    def build(t):
        i = Input((t, 8, 8, 3))
        h = layers.ConvLSTM2D(8, 3, padding="same", unroll=t is not None)(i)
        return Model(i, layers.Dense(1)(layers.Flatten()(h)))

    _case("ConvLSTM2D(8, 3), T=10, 8x8x3, N=16", build, x, y)


if __name__ == "__main__":
    main()
