"""LayerNormalization: harness, Keras 3's formula in NumPy over one or several axes,
weights (gamma then beta), options, gradients of a whole model, ONNX parity at opsets
with and without ONNX's LayerNormalization."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_layer

import graphc
from graphc import Input, Model, layers, ops
from graphc.backends.numpy import Executor
from graphc.errors import ShapeError
from graphc.ops import ExecContext


def layer_norm(x, gamma, beta, axes, eps=1e-3):
    """keras/src/ops/nn.py _layer_normalization, in NumPy (float64)."""
    x = x.astype(np.float64)
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    if gamma is not None:
        inv = inv * gamma.reshape(shape)
    res = -mean * inv
    if beta is not None:
        res = res + beta.reshape(shape)
    return x * inv + res


@pytest.mark.parametrize(
    "kwargs,in_shape,axes,params",
    [
        ({}, (None, 5), (1,), 10),
        ({}, (None, 3, 4), (2,), 8),
        ({"axis": 1}, (None, 3, 4), (1,), 6),
        ({"axis": [1, 2]}, (None, 3, 4), (1, 2), 24),
        ({"axis": [-1, 1]}, (None, 3, 2, 4), (1, 3), 24),
        ({"epsilon": 0.1, "center": False}, (None, 5), (1,), 5),
        ({"scale": False}, (None, 5), (1,), 5),
        ({"scale": False, "center": False}, (None, 2, 5), (2,), 0),
    ],
)
def test_layer_normalization(kwargs, in_shape, axes, params):
    kwargs = {"gamma_initializer": "random_normal", "beta_initializer": "random_normal", **kwargs}
    r = check_layer(layers.LayerNormalization, kwargs, in_shape, in_shape, params)
    weights = r.layer.get_weights()
    names = [p.path.split("/")[-1] for p in r.layer.weights]
    gamma = weights[names.index("gamma")] if "gamma" in names else None
    beta = weights[names.index("beta")] if "beta" in names else None
    assert names == [
        n
        for n, on in (("gamma", kwargs.get("scale", True)), ("beta", kwargs.get("center", True)))
        if on
    ]
    for w in weights:
        assert w.shape == tuple(in_shape[a] for a in axes)
    want = layer_norm(r.x, gamma, beta, axes, kwargs.get("epsilon", 1e-3))
    np.testing.assert_allclose(r.y, want, rtol=1e-5, atol=1e-5)


def test_defaults_and_config():
    layer = layers.LayerNormalization()
    layer(Input(shape=(4,)))
    gamma, beta = layer.get_weights()
    np.testing.assert_array_equal(gamma, np.ones(4))
    np.testing.assert_array_equal(beta, np.zeros(4))
    config = layer.get_config()
    assert (config["axis"], config["epsilon"], config["center"], config["scale"]) == (
        -1,
        1e-3,
        True,
        True,
    )
    assert config["gamma_initializer"]["class_name"] == "Ones"
    assert layers.LayerNormalization.from_config(config).get_config() == config


def test_errors():
    with pytest.raises(TypeError, match="'axis'"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ShapeError, match=r"axis 3 is out of bounds"):
        layers.LayerNormalization(axis=3)(Input(shape=(2, 3)))
    with pytest.raises(NotImplementedError, match="rms_scaling"):
        layers.LayerNormalization(rms_scaling=True)
    with pytest.raises(ShapeError, match="must be known"):
        layers.LayerNormalization()(Input(shape=(3, None)))


def test_ops_layer_normalization_defaults_to_keras_epsilon():
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_allclose(
        ops.layer_normalization(x),
        [-1.4142135, -0.70710677, 0.0, 0.7071067, 1.4142135],
        rtol=1e-6,
        atol=1e-6,
    )


def test_model_gradient_matches_finite_differences():
    graphc.utils.set_random_seed(8)
    inp = Input(shape=(3, 4))
    h = layers.LayerNormalization(
        axis=[1, 2], gamma_initializer="random_normal", beta_initializer="random_normal"
    )(layers.Dense(4)(inp))
    h = layers.LayerNormalization(axis=1, center=False)(h)
    model = Model(inp, layers.Dense(2)(layers.Flatten()(h)))
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((5, 3, 4))]
    y = rng.standard_normal((5, 2))
    ex = Executor(model.graph, model.trainable_weights)
    base = {p: p.data.astype(np.float64) for p in model.weights}

    def loss(leaf):
        out = ex.forward(xs, ExecContext(), leaf_values=leaf)[0]
        return float(((out - y) ** 2).mean())

    out, env = ex.forward(xs, ExecContext(), keep_for_backward=True, leaf_values=base)
    grads = {p: np.full(p.shape, np.nan) for p in model.trainable_weights}
    ex.backward(env, [2 * (out[0] - y) / y.size], grads)
    for p in model.trainable_weights:
        num = np.zeros(p.shape)
        for idx in np.ndindex(*p.shape):
            arr = base[p].copy()
            arr[idx] += 1e-6
            up = loss({**base, p: arr})
            arr[idx] -= 2e-6
            num[idx] = (up - loss({**base, p: arr})) / 2e-6
        np.testing.assert_allclose(grads[p], num, rtol=1e-5, atol=1e-9, err_msg=p.path)


@pytest.mark.parametrize("opset", [13, 17, None])
def test_onnx_parity(opset):
    graphc.utils.set_random_seed(9)
    inp = Input(shape=(3, 4))
    h = layers.LayerNormalization(beta_initializer="random_normal")(layers.Dense(4)(inp))
    h = layers.LayerNormalization(axis=1, gamma_initializer="random_normal")(h)
    h = layers.LayerNormalization(axis=[1, 2], scale=False)(h)
    model = Model(inp, layers.Dense(2)(layers.Flatten()(h)))
    proto = graphc.onnx.export(model, opset=opset)
    kinds = [n.op_type for n in proto.graph.node]
    assert ("LayerNormalization" in kinds) == (opset is None or opset >= 17)
    batches = [
        np.random.default_rng(n).standard_normal((n, 3, 4)).astype(np.float32) for n in (1, 7)
    ]
    assert_onnx_matches(model, batches, proto=proto)
