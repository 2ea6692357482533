"""The conv and max-pool fast paths of the training step: the im2col matrix a training
forward keeps for the weight gradient, the bias folded into the GEMMs, the pooling
gradient of tiled windows, and the fresh outputs the compiled plan works in place on."""

from __future__ import annotations

import gc
import sys

import numpy as np

import graphc
import graphc.ops.conv  # noqa: F401  (the module, not the function graphc.ops.conv)
from graphc.ops.registry import ExecContext, get_op

conv_mod = sys.modules["graphc.ops.conv"]

ATTRS = {
    "strides": (1, 1),
    "padding": "valid",
    "dilation_rate": (1, 1),
    "data_format": "channels_last",
    "groups": 1,
}


def _arrays(seed=0, c_in=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 6, 5, c_in)).astype(np.float32)
    w = rng.standard_normal((3, 3, c_in, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    return x, w, b


def test_kept_im2col_gives_the_same_gradients():
    op = get_op("conv")
    x, w, b = _arrays()
    y = op.kernel(ATTRS, x, w, b, ctx=ExecContext(training=True))
    assert conv_mod._KEPT  # the training forward kept its matrix
    g = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    kept = op.vjp(ATTRS, [x, w, b], [y], [g], (True, True, True), None)
    assert not conv_mod._KEPT  # the VJP took it
    rebuilt = op.vjp(ATTRS, [x, w, b], [y], [g], (True, True, True), None)
    for a, c in zip(kept, rebuilt):
        np.testing.assert_array_equal(a, c)
    # against the plain formulas (float32 rounding apart)
    cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    cols = cols.transpose(0, 1, 2, 4, 5, 3).reshape(-1, 27)
    g2 = g.reshape(-1, 4)
    np.testing.assert_allclose(kept[1], (cols.T @ g2).reshape(w.shape), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(kept[2], g2.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.reshape(-1, 4), cols @ w.reshape(27, 4) + b, rtol=1e-5, atol=1e-5)


def test_kept_im2col_goes_with_its_input_and_respects_the_cap(monkeypatch):
    op = get_op("conv")
    x, w, b = _arrays(c_in=1)
    op.kernel(ATTRS, x, w, b, ctx=ExecContext(training=True))
    assert conv_mod._KEPT and conv_mod._kept_bytes[0] > 0
    del x  # a forward never followed by a backward
    gc.collect()
    assert not conv_mod._KEPT and conv_mod._kept_bytes[0] == 0
    x, w, b = _arrays()
    op.kernel(ATTRS, x, w, b, ctx=ExecContext(training=False))  # inference keeps nothing
    assert not conv_mod._KEPT
    monkeypatch.setattr(conv_mod, "_KEEP_BYTES", 16)
    op.kernel(ATTRS, x, w, b, ctx=ExecContext(training=True))
    assert not conv_mod._KEPT


def test_tiled_max_pool_gradient_zeroes_the_uncovered_tail():
    op = get_op("max_pool")
    attrs = {"pool_size": (2, 2), "strides": (2, 2), "padding": "valid"}
    x = np.random.default_rng(0).standard_normal((2, 5, 7, 3)).astype(np.float32)
    x[0, :2, :2, 0] = 1.0  # a tie: the first maximum takes the gradient
    y = op.kernel(attrs, x, ctx=None)
    g = np.ones_like(y)
    (gx,) = op.vjp(attrs, [x], [y], [g], (True,), None)
    assert not gx[:, 4:].any() and not gx[:, :, 6:].any()
    assert gx[0, 0, 0, 0] == 1 and gx[0, :2, :2, 0].sum() == 1
    # every window sends its gradient to exactly one element
    np.testing.assert_array_equal(gx[:, :4, :6].reshape(2, 2, 2, 3, 2, 3).sum(axis=(2, 4)), g)


def test_compiled_cnn_runs_relu_in_place_over_conv_and_pool_outputs():
    inputs = graphc.Input(shape=(8, 8, 1))
    x = graphc.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = graphc.layers.MaxPooling2D(2)(x)
    x = graphc.layers.Flatten()(x)
    model = graphc.Model(inputs, graphc.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    data = rng.random((4, 8, 8, 1), dtype=np.float32)
    labels = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    model.fit(data, labels, batch_size=4, epochs=1, verbose=0)
    source = model.generated_source()
    # relu over the conv's output, and its VJP over the pool's gradient, in place
    assert "v4 = relu(v3, out=v3)" in source
    assert "g3 = np.multiply(g4, v4 > 0, out=g4)" in source
