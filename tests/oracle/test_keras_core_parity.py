"""Embedding, LayerNormalization, Permute, RepeatVector, the activation layers and Dot
against Keras 3 itself (torch backend): the same builder code for both libraries, Keras's
initial weights copied across, the same predictions and the same training losses; and
onnxruntime on graphc's export agreeing with both."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import (  # noqa: E402
    assert_onnx_matches,
    assert_same_history,
    assert_trains_alike,
    compile_both,
    fit_both,
    pair,
)

import graphc  # noqa: E402
from graphc.layers import merging  # noqa: E402


def _dot(lib, **kwargs):
    # graphc.layers re-exports Dot once graphc/layers/__init__.py lists it.
    cls = lib.layers.Dot if hasattr(lib.layers, "Dot") else merging.Dot
    return cls(**kwargs)


# ---- builders: the same code for keras and graphc -----------------------------------------
def imdb_embedding(lib):
    """Deep Learning with Python, chapter 6: Embedding(10000, 8) on sequences of 20 words,
    flattened into one sigmoid unit."""
    return lib.Sequential(
        [
            lib.Input(shape=(20,)),
            lib.layers.Embedding(10000, 8),
            lib.layers.Flatten(),
            lib.layers.Dense(1, activation="sigmoid"),
        ]
    )


def layer_norm_mlp(lib):
    inputs = lib.Input(shape=(12,))
    x = lib.layers.Dense(16, activation="relu")(inputs)
    x = lib.layers.LayerNormalization()(x)
    x = lib.layers.Dense(8)(x)
    x = lib.layers.LayerNormalization(epsilon=0.01, center=False)(x)
    return lib.Model(inputs, lib.layers.Dense(3, activation="softmax")(x))


def layer_norm_sequence(lib):
    inputs = lib.Input(shape=(5, 4))
    x = lib.layers.Dense(6)(inputs)
    x = lib.layers.LayerNormalization(axis=[1, 2])(x)
    # Not axis=1 alone: Keras's torch fast path (F.layer_norm) then normalises the wrong
    # axis and fails (keras/src/ops/nn.py, is_continuous_axis); graphc's NumPy formula
    # tests cover non-trailing axes.
    x = lib.layers.LayerNormalization(axis=-1, scale=False)(x)
    return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.Flatten()(x)))


def repeat_permute(lib):
    inputs = lib.Input(shape=(6,))
    x = lib.layers.Dense(4, activation="tanh")(inputs)
    x = lib.layers.RepeatVector(3)(x)  # (None, 3, 4)
    x = lib.layers.Permute((2, 1))(x)  # (None, 4, 3)
    x = lib.layers.Dense(5, activation="relu")(x)  # (None, 4, 5)
    x = lib.layers.Permute((2, 1))(x)  # (None, 5, 4)
    return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.Flatten()(x)))


def activation_layers(lib):
    inputs = lib.Input(shape=(10,))
    x = lib.layers.Dense(16)(inputs)
    x = lib.layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.05)(x)
    x = lib.layers.Dense(12)(x)
    x = lib.layers.LeakyReLU()(x)
    x = lib.layers.Dense(12)(x)
    x = lib.layers.ELU(alpha=0.5)(x)
    x = lib.layers.Dense(8)(x)
    x = lib.layers.ReLU(max_value=6.0)(x)
    x = lib.layers.Dense(4)(x)
    return lib.Model(inputs, lib.layers.Softmax()(x))


def multi_axis_softmax(lib):
    inputs = lib.Input(shape=(3, 4))
    x = lib.layers.Dense(5)(inputs)
    x = lib.layers.Softmax(axis=[1, 2])(x)
    x = lib.layers.ReLU(threshold=0.1, negative_slope=0.3)(x)
    return lib.Model(inputs, lib.layers.Dense(2)(lib.layers.Flatten()(x)))


def dot_towers(lib):
    a = lib.Input(shape=(8,))
    b = lib.Input(shape=(6,))
    ha = lib.layers.Dense(5, activation="tanh")(a)
    hb = lib.layers.Dense(5, activation="tanh")(b)
    score = _dot(lib, axes=1)([ha, hb])
    cosine = _dot(lib, axes=1, normalize=True)([lib.layers.Dense(4)(a), lib.layers.Dense(4)(b)])
    x = lib.layers.concatenate([score, cosine])
    return lib.Model([a, b], lib.layers.Dense(1, activation="sigmoid")(x))


def dot_attention(lib):
    inputs = lib.Input(shape=(5, 4))
    q = lib.layers.Dense(6, name="query")(inputs)
    k = lib.layers.Dense(6, name="key")(inputs)
    weights = lib.layers.Softmax()(_dot(lib, axes=2)([q, k]))  # (None, 5, 5)
    context = _dot(lib, axes=(2, 1))([weights, inputs])  # (None, 5, 4)
    return lib.Model(inputs, lib.layers.Dense(1, name="readout")(lib.layers.Flatten()(context)))


# ---- data ---------------------------------------------------------------------------------
def _x(builder, n, rng):
    if builder is imdb_embedding:
        return rng.integers(0, 10000, (n, 20))
    if builder is dot_towers:
        return [
            rng.standard_normal((n, 8)).astype("float32"),
            rng.standard_normal((n, 6)).astype("float32"),
        ]
    shape = {layer_norm_mlp: (12,), activation_layers: (10,), repeat_permute: (6,)}.get(
        builder, (5, 4) if builder in (layer_norm_sequence, dot_attention) else (3, 4)
    )
    return (rng.standard_normal((n,) + shape) * 2).astype("float32")


CASES = {
    # builder: (y maker, loss, optimizer name and arguments)
    imdb_embedding: (
        lambda rng, n: rng.integers(0, 2, (n, 1)).astype("float32"),
        "binary_crossentropy",
        ("RMSprop", {"learning_rate": 0.01}),
    ),
    layer_norm_mlp: (
        lambda rng, n: np.eye(3, dtype="float32")[rng.integers(0, 3, n)],
        "categorical_crossentropy",
        ("Adam", {"learning_rate": 0.01}),
    ),
    layer_norm_sequence: (
        lambda rng, n: rng.standard_normal((n, 2)).astype("float32"),
        "mse",
        ("Adam", {"learning_rate": 0.01}),
    ),
    repeat_permute: (
        lambda rng, n: rng.standard_normal((n, 2)).astype("float32"),
        "mse",
        ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ),
    activation_layers: (
        lambda rng, n: np.eye(4, dtype="float32")[rng.integers(0, 4, n)],
        "categorical_crossentropy",
        ("Adam", {"learning_rate": 0.01}),
    ),
    multi_axis_softmax: (
        lambda rng, n: rng.standard_normal((n, 2)).astype("float32"),
        "mse",
        ("Adam", {"learning_rate": 0.01}),
    ),
    dot_towers: (
        lambda rng, n: rng.integers(0, 2, (n, 1)).astype("float32"),
        "binary_crossentropy",
        ("Adam", {"learning_rate": 0.01}),
    ),
    dot_attention: (
        lambda rng, n: rng.standard_normal((n, 1)).astype("float32"),
        "mse",
        ("SGD", {"learning_rate": 0.01}),
    ),
}


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(4321)
    graphc.utils.set_random_seed(4321)


def _pair_in_call_order(builder):
    k_model, g_model = pair(builder, count=True)
    # Layer order (and so weight order) follows the order each layer was called with, as
    # in Keras, even where an op reads its inputs in another order (Dot transposes its
    # second input before it reads the first).
    named = ("query", "key", "readout")
    assert [layer.name for layer in g_model.layers if layer.name in named] == [
        layer.name for layer in k_model.layers if layer.name in named
    ]
    return k_model, g_model


@pytest.mark.slow
@pytest.mark.parametrize("builder", list(CASES), ids=lambda b: b.__name__)
def test_predictions_training_and_onnx_match_keras(builder):
    make_y, loss, (opt_name, opt_args) = CASES[builder]
    k_model, g_model = _pair_in_call_order(builder)
    rng = np.random.default_rng(0)
    x = _x(builder, 96, rng)
    y = make_y(rng, 96)

    k_pred = k_model.predict(x, verbose=0)
    np.testing.assert_allclose(g_model.predict(x, verbose=0), k_pred, rtol=1e-4, atol=1e-5)

    assert_onnx_matches(
        g_model,
        [[a[:n] for a in x] if isinstance(x, list) else x[:n].astype("float32") for n in (1, 17)],
    )

    compile_both(
        k_model, g_model, lambda lib: getattr(lib.optimizers, opt_name)(**opt_args), loss=loss
    )
    assert_trains_alike(k_model, g_model, x, y, epochs=3, batch_size=16)


def test_imdb_book_model_with_keras2_input_length():
    """The book writes Embedding(10000, 8, input_length=maxlen) first in a Sequential;
    Keras 3 ignores input_length (the model builds on first use), graphc takes it as the
    input shape. Both end with the same layers, shapes and parameter count."""

    def book(lib):
        model = lib.Sequential()
        model.add(lib.layers.Embedding(10000, 8, input_length=20))
        model.add(lib.layers.Flatten())
        model.add(lib.layers.Dense(1, activation="sigmoid"))
        return model

    with pytest.warns(UserWarning, match="input_length"):
        k_model = book(keras)
    k_model.build((None, 20))
    g_model = book(graphc)
    assert g_model.count_params() == k_model.count_params() == 80161
    assert g_model.output_shape == tuple(k_model.output_shape) == (None, 1)
    g_model.set_weights(k_model.get_weights())
    x = np.random.default_rng(1).integers(0, 10000, (8, 20))
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_value": 6.0},
        {"negative_slope": 0.2},
        {"threshold": 0.5},
        {"max_value": 0.7, "threshold": 0.2, "negative_slope": 0.1},
    ],
    ids=str,
)
def test_relu_variants_match_keras(kwargs):
    x = np.linspace(-3, 8, 45, dtype="float32").reshape(5, 9)
    np.testing.assert_allclose(
        graphc.layers.ReLU(**kwargs)(x),
        keras.ops.convert_to_numpy(keras.layers.ReLU(**kwargs)(x)),
        rtol=1e-6,
        atol=1e-7,
    )


def test_layer_configs_carry_keras_arguments():
    """graphc's configs hold every argument Keras's configs hold for these layers (names
    and values), so a config written by one reads naturally in the other."""
    pairs = [
        ("Embedding", {"input_dim": 7, "output_dim": 3}),
        ("LayerNormalization", {"axis": -1, "epsilon": 0.01}),
        ("Permute", {"dims": (2, 1)}),
        ("RepeatVector", {"n": 3}),
        ("ReLU", {"max_value": 2.0}),
        ("LeakyReLU", {"negative_slope": 0.1}),
        ("Softmax", {"axis": 1}),
    ]
    for name, kwargs in pairs:
        k_config = getattr(keras.layers, name)(**kwargs).get_config()
        g_config = getattr(graphc.layers, name)(**kwargs).get_config()
        for key in kwargs:
            k_value, g_value = k_config[key], g_config[key]
            if isinstance(k_value, tuple):
                k_value = list(k_value)
            assert g_value == k_value, (name, key)


@pytest.mark.slow
def test_dot_attention_matches_keras_with_weights_copied_by_layer_name():
    """Dot's numbers and gradients, whatever order model.layers lists the layers in."""
    k_model, g_model = dot_attention(keras), dot_attention(graphc)
    for layer in k_model.layers:
        if layer.weights:
            g_model.get_layer(layer.name).set_weights(layer.get_weights())
    rng = np.random.default_rng(0)
    x = _x(dot_attention, 96, rng)
    y = rng.standard_normal((96, 1)).astype("float32")
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    compile_both(k_model, g_model, lambda lib: lib.optimizers.SGD(0.01), loss="mse")
    k_hist, g_hist = fit_both(k_model, g_model, x, y, epochs=3, batch_size=16)
    assert_same_history(k_hist, g_hist, keys=["loss"])
    for layer in (la for la in k_model.layers if la.weights):
        for g, k in zip(g_model.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_allclose(g, k, rtol=1e-3, atol=1e-4)
