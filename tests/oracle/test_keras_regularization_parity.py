"""Regularizers and constraints against Keras 3 itself (torch backend): the same builder
code for both libraries, Keras's initial weights copied across, then per-epoch losses,
evaluate() and final weights compared. Covers L1, L2 and L1L2 on Dense, Conv2D,
Embedding and LSTM kernels, biases and recurrent kernels, an activity regularizer, the
orthogonal regularizer, and the MaxNorm, NonNeg, UnitNorm and MinMaxNorm constraints."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import assert_trains_alike, compile_both, pair  # noqa: E402

import graphc  # noqa: E402


def dense_book(lib):
    """ "Deep Learning with Python" ch. 5, plus the other penalties and an activity one."""
    r = lib.regularizers
    inputs = lib.Input(shape=(10,))
    x = lib.layers.Dense(16, kernel_regularizer=r.l2(0.002), activation="relu")(inputs)
    x = lib.layers.Dense(
        16,
        kernel_regularizer=r.L1L2(l1=0.001, l2=0.002),
        bias_regularizer=r.L1(0.01),
        activity_regularizer=r.L2(0.01),
        activation="tanh",
    )(x)
    x = lib.layers.Dense(
        8, kernel_regularizer=r.OrthogonalRegularizer(0.05, "columns"), bias_regularizer="l2"
    )(x)
    outputs = lib.layers.Dense(1, activation="sigmoid", kernel_regularizer="l1")(x)
    return lib.Model(inputs, outputs)


def conv(lib):
    r = lib.regularizers
    inputs = lib.Input(shape=(8, 8, 2))
    x = lib.layers.Conv2D(
        4,
        3,
        activation="relu",
        kernel_regularizer=r.L2(0.01),
        bias_regularizer=r.L1(0.01),
        activity_regularizer=r.L1(0.001),
    )(inputs)
    x = lib.layers.GlobalAveragePooling2D()(x)
    outputs = lib.layers.Dense(3, activation="softmax", kernel_regularizer=r.L1(0.01))(x)
    return lib.Model(inputs, outputs)


def text(lib):
    r = lib.regularizers
    inputs = lib.Input(shape=(7,), dtype="int32")
    x = lib.layers.Embedding(20, 6, embeddings_regularizer=r.L2(0.01))(inputs)
    x = lib.layers.LSTM(
        5,
        kernel_regularizer=r.L1(0.001),
        recurrent_regularizer=r.L2(0.01),
        bias_regularizer=r.L1L2(0.001, 0.01),
    )(x)
    outputs = lib.layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs, outputs)


def constrained(lib):
    c = lib.constraints
    inputs = lib.Input(shape=(6,))
    x = lib.layers.Dense(
        8, activation="relu", kernel_constraint=c.MaxNorm(0.8), bias_constraint=c.NonNeg()
    )(inputs)
    x = lib.layers.Dense(8, activation="tanh", kernel_constraint=c.UnitNorm(axis=1))(x)
    x = lib.layers.Dense(
        4, kernel_constraint=c.MinMaxNorm(0.5, 1.0, rate=0.7), kernel_regularizer="l2"
    )(x)
    outputs = lib.layers.Dense(1, kernel_constraint="non_neg")(x)
    return lib.Model(inputs, outputs)


def conv_constrained(lib):
    inputs = lib.Input(shape=(6, 6, 2))
    x = lib.layers.Conv2D(
        3, 3, kernel_constraint=lib.constraints.MaxNorm(0.5, axis=[0, 1, 2]), activation="relu"
    )(inputs)
    x = lib.layers.Flatten()(x)
    return lib.Model(inputs, lib.layers.Dense(1)(x))


def _data(builder, n, seed):
    rng = np.random.default_rng(seed)
    if builder is text:
        x = rng.integers(0, 20, (n, 7)).astype("int32")
    else:
        shape = {
            dense_book: (10,),
            conv: (8, 8, 2),
            constrained: (6,),
            conv_constrained: (6, 6, 2),
        }[builder]
        x = rng.standard_normal((n, *shape)).astype("float32")
    if builder is conv:
        y = rng.integers(0, 3, n)
    elif builder in (dense_book, text):
        y = (rng.random((n, 1)) > 0.5).astype("float32")
    else:
        y = rng.standard_normal((n, 1)).astype("float32") * 3
    return x, y


LOSSES = {
    dense_book: "binary_crossentropy",
    conv: "sparse_categorical_crossentropy",
    text: "binary_crossentropy",
    constrained: "mse",
    conv_constrained: "mse",
}


@pytest.mark.slow
@pytest.mark.parametrize("builder", [dense_book, conv, text, constrained, conv_constrained])
def test_training_matches_keras(builder):
    k_model, g_model = pair(builder, shapes=False)
    x, y = _data(builder, 40, seed=1)
    # the penalties before any training, as model.losses shows them
    np.testing.assert_allclose(
        sum(float(v) for v in g_model.losses),
        sum(float(keras.ops.convert_to_numpy(v)) for v in k_model.losses),
        rtol=1e-5,
    )
    compile_both(k_model, g_model, lambda lib: lib.optimizers.Adam(0.02), loss=LOSSES[builder])
    assert_trains_alike(k_model, g_model, x, y, epochs=3, batch_size=16)
    xv, yv = _data(builder, 20, seed=2)
    np.testing.assert_allclose(
        g_model.evaluate(xv, yv, batch_size=8, verbose=0),
        k_model.evaluate(xv, yv, batch_size=8, verbose=0),
        rtol=1e-3,
    )


@pytest.mark.parametrize("name", ["l1", "l2", "l1l2", "orthogonal_regularizer"])
def test_names_and_configs_match_keras(name):
    g, k = graphc.regularizers.get(name), keras.regularizers.get(name)
    assert graphc.regularizers.serialize(g) == {
        **keras.regularizers.serialize(k),
        "module": "keras.regularizers",
    }
    w = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    np.testing.assert_allclose(float(g(w)), float(keras.ops.convert_to_numpy(k(w))), rtol=1e-5)


@pytest.mark.parametrize("name", ["max_norm", "non_neg", "unit_norm", "min_max_norm"])
def test_constraints_match_keras(name):
    g, k = graphc.constraints.get(name), keras.constraints.get(name)
    assert graphc.constraints.serialize(g) == keras.constraints.serialize(k)
    w = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    np.testing.assert_allclose(g(w), keras.ops.convert_to_numpy(k(w)), rtol=1e-5, atol=1e-7)


def test_layer_configs_match_keras():
    def build(lib):
        return [
            lib.layers.Dense(
                3,
                kernel_regularizer="l2",
                bias_constraint="non_neg",
                activity_regularizer=lib.regularizers.L1(0.1),
            ),
            lib.layers.LSTM(2, recurrent_regularizer="l1"),
            lib.layers.Embedding(4, 2, embeddings_constraint="unit_norm"),
            lib.layers.Conv2D(2, 3, kernel_constraint=lib.constraints.MaxNorm(3)),
        ]

    keys = ("regularizer", "constraint")
    for g, k in zip(build(graphc), build(keras)):
        gc, kc = g.get_config(), k.get_config()
        wanted = {key: v for key, v in kc.items() if key.endswith(keys)}
        assert {key: v for key, v in gc.items() if key.endswith(keys)} == wanted
