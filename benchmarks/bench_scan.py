"""RNN over a user cell and ConvLSTM2D: one ``scan`` node (``Input((None, f))``) beside the
unrolled graph (``Input((T, f))``), same weights and data. Build time (layer call and
Model), a training step (fit, one batch) and predict, each the best of interleaved rounds
in CPU time (steadier than the wall clock on a shared machine).

    python benchmarks/bench_scan.py
"""

from __future__ import annotations

import time

import numpy as np

import graphc
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
    for t, m in models.items():
        label = "scan    " if t is None else "unrolled"
        print(
            f"{name:34s} {label} build {build_s[t] * 1e3:7.1f} ms  train step "
            f"{best[t][0] * 1e3:7.1f} ms  predict {best[t][1] * 1e3:7.1f} ms  "
            f"nodes {len(m.graph.nodes)}"
        )


def main():
    rng = np.random.default_rng(0)
    for steps, units in ((20, 32), (100, 32)):
        x = rng.standard_normal((64, steps, 8)).astype("float32")
        y = rng.standard_normal((64, 1)).astype("float32")

        def build(t, units=units):
            i = Input((t, 8))
            return Model(i, layers.Dense(1)(layers.RNN(MinimalRNNCell(units))(i)))

        _case(f"MinimalRNNCell({units}), T={steps}, N=64", build, x, y)
    x = rng.standard_normal((16, 10, 8, 8, 3)).astype("float32")
    y = rng.standard_normal((16, 1)).astype("float32")

    def build(t):
        i = Input((t, 8, 8, 3))
        h = layers.ConvLSTM2D(8, 3, padding="same")(i)
        return Model(i, layers.Dense(1)(layers.Flatten()(h)))

    _case("ConvLSTM2D(8, 3), T=10, 8x8x3, N=16", build, x, y)
    graphc.utils.clear_session() if hasattr(graphc.utils, "clear_session") else None


if __name__ == "__main__":
    main()
