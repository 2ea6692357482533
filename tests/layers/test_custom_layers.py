"""Custom layers that compute from their weights in ``call`` (Keras's
``ops.exp(self.log_scale)`` idiom): the computation is part of the graph, so training
updates the weights through it; calling the layer or model on arrays still runs at once."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches

import graphc
from graphc import layers, ops


def make_scale_layer(lib):
    """``x * exp(log_scale) + shift * shift``: ops on weights alone, then on the input."""

    class LogScale(lib.layers.Layer):
        def build(self, input_shape):
            self.log_scale = self.add_weight(
                shape=(input_shape[-1],), initializer="zeros", name="log_scale"
            )
            self.shift = self.add_weight(shape=(), initializer="ones", name="shift")

        def call(self, x):
            scale = lib.ops.exp(self.log_scale)
            offset = lib.ops.multiply(self.shift, self.shift)
            return lib.ops.add(lib.ops.multiply(x, scale), offset)

    return LogScale


def scale_model(lib):
    inputs = lib.Input(shape=(3,))
    return lib.Model(inputs, make_scale_layer(lib)(name="log_scale_layer")(inputs))


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype("float32")
    return x, x * np.array([2.0, 0.5, 1.0], "float32") + 0.25


def test_ops_on_weights_are_recorded_and_trained():
    graphc.utils.set_random_seed(0)
    model = scale_model(graphc)
    assert [n.op for n in model.graph.nodes] == ["exp", "multiply", "multiply", "add"]
    model.compile(optimizer=graphc.optimizers.SGD(0.1), loss="mse")
    x, y = _data()
    history = model.fit(x, y, epochs=150, batch_size=16, verbose=0)
    log_scale, shift = model.layers[1].get_weights()
    np.testing.assert_allclose(np.exp(log_scale), [2.0, 0.5, 1.0], rtol=1e-2)
    assert shift * shift == pytest.approx(0.25, rel=1e-2)
    assert history.history["loss"][-1] < 1e-4 < history.history["loss"][0]


def test_eager_calls_on_arrays_still_compute_at_once():
    graphc.utils.set_random_seed(0)
    model = scale_model(graphc)
    layer = model.layers[1]
    layer.set_weights([np.log(np.array([2.0, 3.0, 4.0], "float32")), np.float32(0.5)])
    x = np.ones((2, 3), "float32")
    expected = np.tile([2.25, 3.25, 4.25], (2, 1))
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)
    np.testing.assert_allclose(model(x), expected, rtol=1e-6)  # the model's replay
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)
    assert isinstance(ops.exp(layer.log_scale), np.ndarray)  # outside any layer call


def test_ops_on_weights_export_to_onnx(tmp_path):
    graphc.utils.set_random_seed(0)
    model = scale_model(graphc)
    model.layers[1].set_weights([np.array([0.1, -0.2, 0.3], "float32"), np.float32(-1.5)])
    x, _ = _data(8)
    proto = graphc.onnx.export(model, str(tmp_path / "m.onnx"))
    assert_onnx_matches(model, [x], proto=proto, rtol=1e-6, atol=0)


def test_layer_weights_used_directly_and_through_ops_get_one_gradient():
    """A weight read by an op on weights and by an op on the input: both contributions."""

    class Both(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(), initializer="ones", name="w")

        def call(self, x):
            return ops.add(ops.multiply(x, self.w), ops.multiply(self.w, self.w))

    inputs = graphc.Input(shape=(1,))
    model = graphc.Model(inputs, Both()(inputs))
    model.compile(optimizer=graphc.optimizers.SGD(1.0), loss="mse")
    x = np.array([[2.0]], "float32")
    # loss = (2w + w^2 - 0)^2; d/dw = 2 (2w + w^2)(2 + 2w) = 24 at w = 1
    model.fit(x, np.zeros((1, 1), "float32"), epochs=1, verbose=0)
    assert model.layers[1].get_weights()[0] == pytest.approx(1.0 - 24.0)


@pytest.mark.oracle
def test_custom_layer_with_ops_on_weights_trains_as_in_keras():
    """The same layer code for both libraries (``lib.ops``): the same losses and weights."""
    keras = pytest.importorskip("keras")
    k_model, g_model = scale_model(keras), scale_model(graphc)
    start = [np.array([0.3, -0.2, 0.1], "float32"), np.array(0.8, "float32")]
    k_model.layers[1].set_weights(start)
    g_model.layers[1].set_weights(start)
    x, y = _data()
    fits = []
    for model, lib in ((k_model, keras), (g_model, graphc)):
        model.compile(optimizer=lib.optimizers.Adam(0.05), loss="mse")
        fits.append(model.fit(x, y, epochs=4, batch_size=16, shuffle=False, verbose=0))
    np.testing.assert_allclose(fits[1].history["loss"], fits[0].history["loss"], rtol=1e-3)
    for g, k in zip(g_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(g, k, rtol=1e-3, atol=1e-4)
    assert not np.allclose(g_model.get_weights()[0], start[0])  # it did train


def test_one_tensor_calls_record_as_the_general_path():
    """``layer(x)`` on one unmasked symbolic tensor takes ``Layer.__call__``'s fast path;
    ``layer(x, training=None)`` the general one. Both record the same nodes: a
    pass-through gets its identity node, a list return keeps its structure, and a
    non-tensor return is refused."""

    class PassThrough(layers.Layer):
        def call(self, x, training=None):
            return x

    class Split(layers.Layer):
        def call(self, x, training=None):
            return [ops.relu(x), x]

    class Bad(layers.Layer):
        def call(self, x, training=None):
            return 3

    def record(**kwargs):
        inp = graphc.Input(shape=(4,))
        y = PassThrough()(inp, **kwargs)
        a, b = Split()(y, **kwargs)
        out = layers.Dense(2)(a)
        model = graphc.Model(inp, [out, b])
        return [(n.op, type(n.layer).__name__) for n in model.graph.nodes]

    fast, general = record(), record(training=None)
    assert fast == general
    assert fast[:3] == [("identity", "PassThrough"), ("relu", "Split"), ("identity", "Split")]
    for kwargs in ({}, {"training": None}):
        with pytest.raises(TypeError, match="returned int from call"):
            Bad()(graphc.Input(shape=(4,)), **kwargs)
