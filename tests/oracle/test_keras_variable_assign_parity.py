"""``Variable.assign`` / ``assign_add`` / ``assign_sub`` inside a layer's ``call``, against
Keras 3 (torch backend): the same layers in both libraries, Keras's weights copied, then
predict, fit, evaluate and direct calls; the assigned variables, the outputs and the
trained weights agree to 1e-5."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import pair  # noqa: E402

import graphc  # noqa: E402


def _layers(lib):
    ops = lib.ops

    class Counter(lib.layers.Layer):
        """Counts its calls in every mode; passes its input on scaled."""

        def build(self, input_shape):
            self.count = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="count"
            )

        def call(self, x):
            self.count.assign_add(1.0)
            return x * 2.0

    class RunningMean(lib.layers.Layer):
        """The mean moves in training only; the output reads it after the move."""

        def build(self, input_shape):
            self.mean = self.add_weight(
                shape=(input_shape[-1],), initializer="zeros", trainable=False, name="mean"
            )

        def call(self, x, training=None):
            if training:
                self.mean.assign(0.9 * self.mean + 0.1 * ops.mean(x, axis=0))
            return x - self.mean

    class Tracker(lib.layers.Layer):
        """Metric-like state: a running total and a decaying maximum of its input."""

        def build(self, input_shape):
            self.total = self.add_weight(
                shape=(), initializer="zeros", trainable=False, name="total"
            )
            self.peak = self.add_weight(
                shape=(input_shape[-1],), initializer="ones", trainable=False, name="peak"
            )

        def call(self, x):
            self.total.assign_add(ops.sum(ops.abs(x)))
            self.peak.assign_sub(0.5 * (self.peak - ops.max(x, axis=0)))
            return x

    return Counter, RunningMean, Tracker


def _build(lib):
    Counter, RunningMean, Tracker = _layers(lib)
    inputs = lib.Input((4,))
    h = RunningMean(name="running")(Counter(name="counter")(inputs))
    h = lib.layers.Dense(3, activation="tanh", name="hidden")(h)
    h = Tracker(name="tracker")(h)
    return lib.Model(inputs, lib.layers.Dense(2, name="head")(h))


STATE = [("counter", "count"), ("running", "mean"), ("tracker", "total"), ("tracker", "peak")]


def _assert_same_state(k, g):
    for layer, name in STATE:
        got = getattr(g.get_layer(layer), name).numpy()
        want = keras.ops.convert_to_numpy(getattr(k.get_layer(layer), name))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"{layer}/{name}")


def _data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def test_predict_fit_evaluate_and_calls_update_the_variables_as_keras():
    k, g = pair(_build)
    x, y = _data()
    np.testing.assert_allclose(
        g.predict(x, batch_size=4, verbose=0),
        k.predict(x, batch_size=4, verbose=0),
        rtol=1e-5,
        atol=1e-5,
    )
    _assert_same_state(k, g)
    assert float(g.get_layer("counter").count.numpy()) == 3.0
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    k_hist = k.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    g_hist = g.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(g_hist["loss"], k_hist["loss"], rtol=1e-5)
    _assert_same_state(k, g)
    assert g.get_layer("running").mean.numpy().any()
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        g.evaluate(x, y, batch_size=6, verbose=0),
        k.evaluate(x, y, batch_size=6, verbose=0),
        rtol=1e-5,
    )
    _assert_same_state(k, g)
    for training in (False, True):
        np.testing.assert_allclose(
            np.asarray(g(x, training=training)),
            keras.ops.convert_to_numpy(k(x, training=training)),
            rtol=1e-5,
            atol=1e-5,
        )
        _assert_same_state(k, g)
    assert float(g.get_layer("counter").count.numpy()) == 3 + 6 + 2 + 2


def _subclassed(lib):
    Counter, RunningMean, _ = _layers(lib)

    class Net(lib.Model):
        def __init__(self):
            super().__init__()
            self.counter = Counter(name="counter")
            self.running = RunningMean(name="running")
            self.head = lib.layers.Dense(2, name="head")

        def call(self, x, training=None):
            h = self.running(self.counter(x), training=training)
            if training:
                h = h * 0.5
            return self.head(h)

    net = Net()
    net(np.zeros((1, 4), "float32"))  # builds it (Keras: a call on data; one count)
    return net


def test_a_subclassed_model_branching_on_training_updates_as_keras():
    k, g = _subclassed(keras), _subclassed(graphc)
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    x, y = _data()
    np.testing.assert_allclose(
        g.predict(x, batch_size=6, verbose=0), k.predict(x, batch_size=6, verbose=0), atol=1e-5
    )
    for model, lib in ((k, keras), (g, graphc)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
    k_hist = k.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    g_hist = g.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(g_hist["loss"], k_hist["loss"], rtol=1e-5)
    for layer, name in STATE[:2]:
        np.testing.assert_allclose(
            getattr(getattr(g, layer), name).numpy(),
            keras.ops.convert_to_numpy(getattr(getattr(k, layer), name)),
            rtol=1e-5,
            atol=1e-5,
        )
    for a, b in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)
    assert float(g.counter.count.numpy()) == 1 + 2 + 6
