"""Activation layers ReLU, LeakyReLU, Softmax, ELU: harness, Keras 3's formulas in NumPy,
argument errors, gradients and ONNX parity."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from harness import assert_onnx_matches, check_layer

import graphc
from graphc import Input, Model, layers


def keras_relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras/src/activations/activations.py ReLU.static_call, in NumPy."""
    pos = np.where(x > threshold, x, 0) if threshold != 0 else np.maximum(x, 0)
    if max_value is not None:
        pos = np.clip(pos, 0, max_value)
    return pos - negative_slope * np.maximum(threshold - x, 0)


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


RELU_CASES = [
    {},
    {"max_value": 6.0},
    {"max_value": 0.5},
    {"negative_slope": 0.1},
    {"threshold": 0.5},
    {"negative_slope": 0.2, "threshold": 0.4},
    {"max_value": 1.0, "negative_slope": 0.3, "threshold": 0.25},
    {"max_value": 1.5, "negative_slope": 0.05},
]


@pytest.mark.parametrize("kwargs", RELU_CASES, ids=str)
def test_relu(kwargs):
    r = check_layer(layers.ReLU, kwargs, (None, 3, 4), (None, 3, 4), 0)
    np.testing.assert_allclose(r.y, keras_relu(r.x, **kwargs), rtol=1e-6, atol=1e-7)
    config = r.layer.get_config()
    assert {k: config[k] for k in ("max_value", "negative_slope", "threshold")} == {
        "max_value": None,
        "negative_slope": 0.0,
        "threshold": 0.0,
        **kwargs,
    }


@pytest.mark.parametrize("kwargs,slope", [({}, 0.3), ({"negative_slope": 0.1}, 0.1)])
def test_leaky_relu(kwargs, slope):
    r = check_layer(layers.LeakyReLU, kwargs, (None, 5), (None, 5), 0)
    np.testing.assert_allclose(r.y, np.where(r.x >= 0, r.x, slope * r.x), rtol=1e-6)
    assert r.layer.get_config()["negative_slope"] == slope


def test_leaky_relu_keras2_alpha():
    with pytest.warns(UserWarning, match="`alpha` is deprecated"):
        layer = layers.LeakyReLU(alpha=0.2)
    assert layer.negative_slope == 0.2
    assert "alpha" not in layer.get_config()


@pytest.mark.parametrize("axis", [-1, 1, [2], [1, 2], [1, 3]])
def test_softmax(axis):
    r = check_layer(layers.Softmax, {"axis": axis}, (None, 3, 4, 2), (None, 3, 4, 2), 0)
    np_axis = tuple(axis) if isinstance(axis, list) else axis
    np.testing.assert_allclose(r.y, softmax(r.x.astype(np.float64), np_axis), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu(alpha):
    r = check_layer(layers.ELU, {"alpha": alpha}, (None, 6), (None, 6), 0)
    np.testing.assert_allclose(
        r.y, np.where(r.x > 0, r.x, alpha * np.expm1(r.x)), rtol=1e-6, atol=1e-7
    )
    assert r.layer.get_config()["alpha"] == alpha


def test_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"max_value of a ReLU layer cannot be a negative "
        r"value. Received: max_value=-1",
    ):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match=r"Received: negative_slope=-0.1"):
        layers.ReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match=r"Received: threshold=None"):
        layers.ReLU(threshold=None)
    with pytest.raises(ValueError, match=r"Received: negative_slope=-1"):
        layers.LeakyReLU(negative_slope=-1)
    with pytest.raises(TypeError, match="axis"):
        layers.Softmax(axis="last")


def test_activation_layer_gradients_train_a_model():
    """One SGD step equals the float64 finite-difference gradient of the loss."""
    graphc.utils.set_random_seed(6)
    inp = Input(shape=(4,))
    h = layers.Dense(6)(inp)
    h = layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2)(h)
    h = layers.Dense(5)(h)
    h = layers.ELU(alpha=0.7)(layers.LeakyReLU()(h))
    out = layers.Softmax()(layers.Dense(3)(h))
    model = Model(inp, out)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 8)]
    w0 = model.get_weights()

    def loss(weights):
        model.set_weights(weights)
        p = np.clip(model.predict(x, verbose=0).astype(np.float64), 1e-7, 1 - 1e-7)
        return float(-(y * np.log(p)).sum(axis=1).mean())

    eps = 1e-2  # float32 model: a coarse step, checked loosely
    k = 0  # the first Dense kernel: its gradient passes through every activation layer
    num = np.zeros_like(w0[k], dtype=np.float64)
    for idx in np.ndindex(*w0[k].shape):
        up = [w.copy() for w in w0]
        up[k][idx] += eps
        down = [w.copy() for w in w0]
        down[k][idx] -= eps
        num[idx] = (loss(up) - loss(down)) / (2 * eps)
    model.set_weights(w0)
    model.compile(optimizer=graphc.optimizers.SGD(1.0), loss="categorical_crossentropy")
    model.train_on_batch(x, y)
    step = w0[k] - model.get_weights()[k]
    np.testing.assert_allclose(step, num, rtol=0.05, atol=2e-3)


def test_activation_layers_onnx_parity():
    graphc.utils.set_random_seed(7)
    inp = Input(shape=(3, 4))
    h = layers.Dense(5)(inp)
    a = layers.ReLU(max_value=0.8, negative_slope=0.2, threshold=0.1)(h)
    b = layers.ReLU(max_value=6.0)(h)
    c = layers.LeakyReLU()(h)
    d = layers.ELU(alpha=0.5)(h)
    e = layers.Softmax(axis=[1, 2])(h)
    f = layers.Softmax(axis=1)(h)
    out = layers.concatenate([a, b, c, d, e, f])
    model = Model(inp, out)
    for opset in (13, None):
        batches = [
            np.random.default_rng(n).standard_normal((n, 3, 4)).astype(np.float32) * 3
            for n in (1, 6)
        ]
        assert_onnx_matches(model, batches, proto=graphc.onnx.export(model, opset=opset))


def test_layers_are_exported_by_name():
    for name in ("ReLU", "LeakyReLU", "Softmax", "ELU"):
        assert getattr(graphc.layers, name).__name__ == name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layers.LeakyReLU().name.startswith("leaky_re_lu")
