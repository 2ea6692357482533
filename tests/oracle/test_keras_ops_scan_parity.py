"""``keras.ops.scan`` against Keras 3 (torch backend) on inputs of unknown length: inside a
custom layer with weights (predictions on several lengths, a short fit, ONNX) and applied
outside any layer in a functional model. graphc records the step once as one ``scan``
node (``graphc/ops/control_flow.py``); Keras on torch runs its Python loop."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import (  # noqa: E402
    assert_onnx_matches,
    assert_same_predictions,
    assert_trains_alike,
    compile_both,
    pair,
)

import graphc  # noqa: E402

N, F, U = 8, 3, 4
RNG = np.random.default_rng(0)


def scan_layer(lib):
    """A tanh RNN with a running sum in its carry, written with ``ops.scan``."""

    class ScanRNN(lib.layers.Layer):
        def __init__(self, units, reverse=False, **kwargs):
            super().__init__(**kwargs)
            self.units, self.reverse = units, reverse

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
            self.u = self.add_weight(
                shape=(self.units, self.units), initializer="orthogonal", name="u"
            )

        def call(self, x):
            ops = lib.ops
            xs = ops.transpose(x, (1, 0, 2))
            h0 = ops.matmul(ops.zeros_like(xs[0]), self.w)

            def step(carry, x_t):
                h, total = carry
                h = ops.tanh(ops.matmul(x_t, self.w) + ops.matmul(h, self.u))
                return (h, total + h), h

            (h, total), hs = ops.scan(step, (h0, h0), xs, reverse=self.reverse)
            return ops.concatenate([h, total * 0.1, ops.mean(hs, axis=0)], axis=-1)

    return ScanRNN


def build(reverse):
    def make(lib):
        inp = lib.Input(shape=(None, F))
        h = scan_layer(lib)(U, reverse=reverse)(inp)
        return lib.Model(inp, lib.layers.Dense(1)(h))

    return make


@pytest.mark.slow  # a few seconds: Keras on torch trains too
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_in_a_custom_layer_predicts_trains_and_exports(reverse):
    k, g = pair(build(reverse))
    assert [n.op for n in g.graph.nodes].count("scan") == 1
    batches = [RNG.standard_normal((N, t, F)).astype("float32") for t in (1, 5, 9)]
    for x in batches:
        assert_same_predictions(k, g, x)
    x = batches[1]
    y = np.tanh(x.sum((1, 2)))[:, None].astype("float32")
    compile_both(k, g, "adam", loss="mse")
    assert_trains_alike(k, g, x, y, epochs=3, batch_size=4)
    assert_onnx_matches(g, batches[1:])


def test_scan_outside_a_layer_in_a_functional_model():
    """``ops.scan`` on the model's symbolic tensors: a cumulative product and sum over the
    time axis of ``(batch, time)``, reversed."""

    def make(lib):
        inp = lib.Input(shape=(None,))
        xs = lib.ops.transpose(inp)

        def step(c, x):
            return c * 0.5 + x, c * x

        carry, ys = lib.ops.scan(step, lib.ops.zeros_like(xs[0]), xs, reverse=True)
        out = lib.ops.concatenate([lib.ops.transpose(ys), lib.ops.expand_dims(carry, -1)], 1)
        return lib.Model(inp, out)

    k, g = make(keras), make(graphc)
    for t in (2, 6):
        x = RNG.standard_normal((N, t)).astype("float32")
        np.testing.assert_allclose(
            g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-5, atol=1e-6
        )
