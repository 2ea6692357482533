"""Core layers through the harness, plus their numbers, weights and configs."""

import math

import numpy as np
import pytest
from harness import check_layer

import graphc
from graphc import Input, layers
from graphc.ops import ExecContext, get_op

_erf = np.vectorize(math.erf)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# Every activation API.md lists, with its Keras 3 formula.
ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": _softmax,
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "selu": lambda z: 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * np.expm1(z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "softsign": lambda z: z / (1 + np.abs(z)),
    "swish": lambda z: z * _sigmoid(z),
    "silu": lambda z: z * _sigmoid(z),
    "gelu": lambda z: 0.5 * z * (1 + _erf(z / np.sqrt(2))),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.2 * z),
    "hard_sigmoid": lambda z: np.clip(z + 3, 0, 6) / 6,
    "exponential": np.exp,
}


# ---- Dense --------------------------------------------------------------------------
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_dense_with_every_activation(activation):
    r = check_layer(layers.Dense, {"units": 3, "activation": activation}, (None, 4), (None, 3), 15)
    kernel, bias = r.layer.get_weights()
    z = r.x.astype(np.float64) @ kernel + bias
    np.testing.assert_allclose(r.y, ACTIVATIONS[activation](z), rtol=1e-5, atol=1e-6)
    assert r.layer.get_config()["activation"] == activation


def test_dense_activation_by_function():
    r = check_layer(
        layers.Dense, {"units": 2, "activation": graphc.activations.tanh}, (None, 3), (None, 2), 8
    )
    assert r.layer.get_config()["activation"] == "tanh"


def test_dense_without_bias():
    r = check_layer(layers.Dense, {"units": 3, "use_bias": False}, (None, 4), (None, 3), 12)
    (kernel,) = r.layer.get_weights()
    np.testing.assert_allclose(r.y, r.x @ kernel, rtol=1e-6)
    assert [p.short_name for p in r.layer.weights] == ["kernel"]


def test_dense_on_a_three_dimensional_input():
    r = check_layer(layers.Dense, {"units": 5}, (None, 2, 3, 4), (None, 2, 3, 5), 25)
    kernel, bias = r.layer.get_weights()
    assert kernel.shape == (4, 5)
    np.testing.assert_allclose(r.y, r.x @ kernel + bias, rtol=1e-5, atol=1e-6)


def test_dense_with_a_fixed_batch():
    check_layer(layers.Dense, {"units": 2}, (7, 3), (7, 2), 8)


def test_dense_weights_in_keras_order_and_shapes():
    d = layers.Dense(5, name="ly_order")
    d(Input(shape=(3,)))
    assert [p.short_name for p in d.weights] == ["kernel", "bias"]
    assert [p.path for p in d.weights] == ["ly_order/kernel", "ly_order/bias"]
    assert [w.shape for w in d.get_weights()] == [(3, 5), (5,)]
    assert d.kernel is d.weights[0] and d.bias is d.weights[1]
    np.testing.assert_array_equal(d.get_weights()[1], np.zeros(5))  # bias starts at zeros
    assert d.get_weights()[0] is not d.kernel.data  # a copy


def test_dense_initializers_by_name():
    d = layers.Dense(3, kernel_initializer="ones", bias_initializer="ones")
    d(Input(shape=(2,)))
    np.testing.assert_array_equal(d.get_weights()[0], np.ones((2, 3)))
    np.testing.assert_array_equal(d.get_weights()[1], np.ones(3))
    config = d.get_config()
    assert config["kernel_initializer"] == {"class_name": "Ones", "config": {}}


def test_dense_rejects_bad_units():
    with pytest.raises(ValueError, match="units"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="units"):
        layers.Dense(2.5)


def test_set_weights_roundtrip_and_hand_computation():
    d = layers.Dense(2, activation="relu")
    d(Input(shape=(3,)))
    kernel = np.arange(6, dtype="float32").reshape(3, 2) - 2.5
    bias = np.array([0.5, -1.0], dtype="float32")
    d.set_weights([kernel, bias])
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], dtype="float32")
    np.testing.assert_allclose(d(x), np.maximum(x @ kernel + bias, 0))
    w = d.get_weights()
    np.testing.assert_array_equal(w[0], kernel)
    np.testing.assert_array_equal(w[1], bias)


def test_set_weights_with_wrong_count_raises_and_changes_nothing():
    d = layers.Dense(2)
    d(Input(shape=(3,)))
    before = d.get_weights()
    with pytest.raises(
        ValueError, match="weight list of length 1, but the layer was expecting 2 weights"
    ):
        d.set_weights([np.ones((3, 2))])
    for a, b in zip(before, d.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_set_weights_with_wrong_shape_raises_and_changes_nothing():
    d = layers.Dense(2)
    d(Input(shape=(3,)))
    before = d.get_weights()
    # The kernel is fine, the bias is not: the kernel must not be written either.
    with pytest.raises(
        ValueError,
        match=r"weight shape \(2,\) is not compatible with "
        r"provided weight shape \(3,\)",
    ):
        d.set_weights([np.full((3, 2), 7.0), np.ones(3)])
    for a, b in zip(before, d.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_shared_weights_are_updated_in_place():
    d = layers.Dense(2)
    i = Input(shape=(3,))
    m = graphc.Model(i, d(i))
    kernel = d.kernel
    d.set_weights([np.ones((3, 2)), np.zeros(2)])
    assert d.kernel is kernel
    np.testing.assert_allclose(m(np.ones((1, 3), "float32")), [[3.0, 3.0]])


# ---- Activation, Dropout, Flatten, Reshape, Identity -------------------------------
@pytest.mark.parametrize("activation", ["relu", "softmax", "gelu", "hard_sigmoid"])
def test_activation_layer(activation):
    r = check_layer(layers.Activation, {"activation": activation}, (None, 5), (None, 5), 0)
    np.testing.assert_allclose(
        r.y, ACTIVATIONS[activation](r.x.astype(np.float64)), rtol=1e-5, atol=1e-6
    )


def test_dropout_is_the_identity_in_inference():
    r = check_layer(layers.Dropout, {"rate": 0.5}, (None, 6), (None, 6), 0)
    np.testing.assert_array_equal(r.y, r.x)
    assert r.layer.get_config()["rate"] == 0.5


def test_dropout_in_training_applies_a_scaled_mask():
    x = np.ones((400, 50), dtype="float32")
    op = get_op("dropout")
    y, mask = op.run({"rate": 0.25}, [x], ExecContext(training=True, rng=np.random.default_rng(0)))
    scale = np.float32(1 / 0.75)
    assert set(np.unique(y)) == {0.0, scale}
    np.testing.assert_array_equal(y, x * mask)
    assert abs((y == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation
    y2, mask2 = op.run({"rate": 0.25}, [x], ExecContext(training=False))
    assert y2 is x and mask2 is None


def test_dropout_training_flag_and_seed_repeatability():
    x = np.ones((20, 30), dtype="float32")
    d = layers.Dropout(0.5)
    np.testing.assert_array_equal(d(x, training=False), x)
    graphc.utils.set_random_seed(11)
    a = d(x, training=True)
    graphc.utils.set_random_seed(11)
    b = d(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {0.0, 2.0}


def test_dropout_rejects_bad_rate():
    with pytest.raises(ValueError, match="rate=1.5"):
        layers.Dropout(1.5)


def test_flatten():
    r = check_layer(layers.Flatten, {}, (None, 2, 3), (None, 6), 0)
    np.testing.assert_array_equal(r.y, r.x.reshape(2, 6))
    check_layer(layers.Flatten, {}, (None, 2, 3, 4), (None, 24), 0)


@pytest.mark.parametrize(
    "target, expected",
    [((3, 4), (None, 3, 4)), ((3, -1), (None, 3, 4)), ((-1, 2), (None, 6, 2)), ((12,), (None, 12))],
)
def test_reshape(target, expected):
    r = check_layer(layers.Reshape, {"target_shape": target}, (None, 12), expected, 0)
    np.testing.assert_array_equal(r.y, r.x.reshape((2,) + expected[1:]))


def test_reshape_from_three_dims():
    check_layer(layers.Reshape, {"target_shape": (-1,)}, (None, 2, 3), (None, 6), 0)


def test_identity():
    r = check_layer(layers.Identity, {}, (None, 3, 2), (None, 3, 2), 0)
    np.testing.assert_array_equal(r.y, r.x)


def test_identity_records_a_node():
    i = Input(shape=(3,))
    out = layers.Identity()(i)
    assert out is not i and out.producer.op == "identity"


# ---- config ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (
            layers.Dense,
            {
                "units": 3,
                "activation": "relu",
                "use_bias": False,
                "kernel_initializer": "he_normal",
                "name": "ly_cfg_dense",
            },
        ),
        (layers.Dense, {"units": 2, "input_shape": (4,)}),
        (layers.Dense, {"units": 2, "bias_initializer": graphc.initializers.Constant(0.5)}),
        (layers.Activation, {"activation": "softmax"}),
        (layers.Dropout, {"rate": 0.3, "seed": 7}),
        (layers.Flatten, {}),
        (layers.Reshape, {"target_shape": (2, -1)}),
        (layers.Identity, {"trainable": False}),
    ],
)
def test_get_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    again = cls.from_config(config)
    assert again.get_config() == config
    assert config["name"] == layer.name
    assert config["trainable"] == layer.trainable
    for key, value in kwargs.items():
        if key in ("units", "activation", "use_bias", "rate", "seed"):
            assert config[key] == value


def test_input_shape_kwarg_is_kept_in_config():
    d = layers.Dense(2, input_shape=(4,))
    assert d.get_config()["batch_input_shape"] == [None, 4]


def test_unknown_kwargs_are_rejected():
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        layers.Dense(2, frobnicate=True)


def test_a_dense_call_leaves_few_objects_for_the_garbage_collector():
    # Python's cyclic collector walks every container a model keeps, again and again
    # while a deep model is built: a Dense called on a symbolic tensor keeps 15 (the
    # layer, its two initializers, two weights, the node and its output, five lists and
    # three tuples). A weight keeps no list of uses, a layer has no sub-layer list until
    # it has a sub-layer, and its attributes stay inline (no separate __dict__).
    import gc

    x = Input(shape=(8,))
    for _ in range(3):  # warm: memo tables, interned shapes
        x = layers.Dense(8)(x)
    gc.collect()
    before = len(gc.get_objects())
    for _ in range(20):
        x = layers.Dense(8)(x)
    per_layer = (len(gc.get_objects()) - before) / 20
    assert per_layer <= 15.5, per_layer
    dense = x.producer.scope[0][0]
    assert dense._sublayers == () and dense.kernel.uses == ()
    parent = layers.Dense(8)
    parent.inner = layers.Dense(4)  # tracked at the first sub-layer
    assert parent._sublayers == [parent.inner] and parent.inner._sublayers == ()


def test_a_layer_with_a_read_only_dtype_property_still_initialises():
    # Layer.__init__ writes such a layer's attributes into its dict, past the property,
    # as before (other layers keep theirs inline).
    class Wide(layers.Layer):
        @property
        def dtype(self):
            return "float64"

        def call(self, x):
            return x

    layer = Wide(name="wide")
    assert layer.dtype == "float64" and layer.name == "wide" and not layer.built
