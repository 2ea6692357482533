"""Example models for the ONNX tests: every available layer, every activation, the
functional shapes (multi-input/output, shared layers, nested models) and the edge cases of
output naming. Each builder returns a fresh model with seeded weights."""

from __future__ import annotations

import numpy as np

import graphc
from graphc import Input, Model, Sequential, layers
from graphc.activations import _BY_NAME as ACTIVATIONS
from graphc.layers.base import flatten_struct


def _seed(fn):
    def build():
        graphc.utils.set_random_seed(1234)
        model = fn()
        # Non-zero biases, so a fused Gemm that dropped its bias would show.
        rng = np.random.default_rng(7)
        for p in model.graph.parameters:
            p.assign(rng.uniform(-0.5, 0.5, p.shape).astype(p.dtype))
        return model

    build.__name__ = fn.__name__
    return build


def dense_with(activation):
    @_seed
    def build():
        x = Input(shape=(6,), name="features")
        # glu halves its last axis, so it needs an even width.
        y = layers.Dense(4 if activation == "glu" else 5, activation=activation, name="out")(x)
        return Model(x, y)

    return build


@_seed
def dense_no_bias():
    x = Input(shape=(6,), name="features")
    return Model(x, layers.Dense(5, use_bias=False, name="out")(x))


@_seed
def mlp_dropout():
    return Sequential(
        [
            layers.Dense(16, activation="relu", input_shape=(8,)),
            layers.Dropout(0.3),
            layers.Dense(8, activation="tanh", use_bias=False),
            layers.Dropout(0.5),
            layers.Dense(4, activation="softmax"),
        ]
    )


@_seed
def dropout_last():
    return Sequential([layers.Dense(4, input_shape=(3,)), layers.Dropout(0.2)])


@_seed
def dropout_on_input():
    x = Input(shape=(3,), name="x")
    return Model(x, layers.Dropout(0.5, name="drop")(x))


@_seed
def flatten_reshape_identity():
    x = Input(shape=(4, 3, 2), name="image")
    h = layers.Flatten()(x)
    h = layers.Dense(6, activation="elu")(h)
    h = layers.Reshape((2, 3))(h)
    h = layers.Identity()(h)
    h = layers.Dense(5, activation="sigmoid")(h)  # rank 3: MatMul + Add, not Gemm
    return Model(x, layers.Identity(name="final")(h))


@_seed
def unknown_dims():
    x = Input(shape=(None, 4), name="sequence")
    return Model(x, layers.Dense(3, activation="relu", name="proj")(x))


@_seed
def multi_io():
    a = Input(shape=(4,), name="left")
    b = Input(shape=(3,), name="right")
    h = layers.Dense(8, activation="relu")(a) + layers.Dense(8, activation="relu")(b)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    return Model([a, b], [cls, reg])


@_seed
def shared_layer():
    a = Input(shape=(5,), name="a")
    b = Input(shape=(5,), name="b")
    shared = layers.Dense(4, activation="tanh", name="shared")
    return Model([a, b], [shared(a), shared(b)])


@_seed
def nested():
    xi = Input(shape=(4,), name="inner_in")
    inner = Model(xi, layers.Dense(5, activation="relu")(layers.Dense(6)(xi)), name="inner")
    seq = Sequential([layers.Dense(3, activation="softplus", input_shape=(5,))], name="inner_seq")
    x = Input(shape=(7,), name="x")
    h = layers.Dense(4, activation="selu")(x)
    h = seq(inner(h))
    return Model(x, layers.Dense(2, name="head")(h))


@_seed
def identity_of_input():
    x = Input(shape=(3,), name="x")
    return Model(x, layers.Identity(name="same")(x))


@_seed
def input_as_output():
    a = Input(shape=(3,), name="a")
    return Model(a, [layers.Dense(2, name="d")(a), a])


@_seed
def same_output_twice():
    x = Input(shape=(3,), name="x")
    h = layers.Dense(2, name="d")(x)
    return Model(x, [h, h])


@_seed
def unnamed_arithmetic_output():
    x = Input(shape=(4,), name="x")
    return Model(x, layers.Dense(4)(x) * 2.0 - 1.0)


MODELS = {f"dense_{name}": dense_with(name) for name in sorted(ACTIVATIONS)}
for _fn in (
    dense_no_bias,
    mlp_dropout,
    dropout_last,
    dropout_on_input,
    flatten_reshape_identity,
    unknown_dims,
    multi_io,
    shared_layer,
    nested,
    identity_of_input,
    input_as_output,
    same_output_twice,
    unnamed_arithmetic_output,
):
    MODELS[_fn.__name__] = _fn


def sample_inputs(model, batch: int, seed: int = 0):
    """Random data fitting the model's inputs: ``batch`` samples, 3 for other unknown dims.
    One array for a one-input model, else a list."""
    rng = np.random.default_rng(seed)
    xs = []
    for v in model.inputs:
        dims = [
            batch if i == 0 else (d if isinstance(d, int) else 3) for i, d in enumerate(v.shape)
        ]
        xs.append(rng.uniform(-2, 2, dims).astype(v.dtype))
    return xs[0] if len(xs) == 1 else xs


def reference(model, x) -> list:
    """The NumPy backend's outputs (an eager call is inference mode), as a list."""
    return [np.asarray(o) for o in flatten_struct(model(x))]
