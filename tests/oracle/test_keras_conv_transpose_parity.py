"""Transposed convolutions against Keras 3 itself (torch backend): the same builder code
for both libraries, Keras's initial weights copied across, the same predictions, the same
training losses and weights; and the "Deep Learning with Python" (2nd ed., ch. 9)
image-segmentation model (without its Rescaling layer) at 32x32: parameter count,
predictions, a short fit and ONNX export."""

from __future__ import annotations

import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import (  # noqa: E402
    as_list,
    assert_onnx_matches,
    assert_trains_alike,
    compile_both,
    pair,
    random_inputs,
    summary_rows,
)

import graphc  # noqa: E402


def variants(lib):
    """Every argument that changes the arithmetic (forward parity)."""
    img = lib.Input(shape=(5, 4, 3))
    seq = lib.Input(shape=(6, 4))
    vol = lib.Input(shape=(2, 3, 2, 2))
    L = lib.layers
    outs = [
        L.Conv2DTranspose(4, 3, strides=2, padding="same")(img),  # DLwP's
        L.Conv2DTranspose(4, 3, padding="same", activation="relu")(img),
        L.Conv2DTranspose(3, (3, 2), strides=(2, 3))(img),
        L.Conv2DTranspose(2, 2, strides=3, use_bias=False)(img),  # s > k: zeros
        L.Conv2DTranspose(2, 4, strides=2, padding="same")(img),  # even kernel
        L.Conv2DTranspose(2, 3, strides=3, padding="same", output_padding=(2, 0))(img),
        L.Conv2DTranspose(2, 3, strides=2, output_padding=1)(img),
        L.Conv2DTranspose(2, 1, strides=2, padding="same", output_padding=1)(img),
        L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same")(img),
        L.Conv2DTranspose(2, 2, dilation_rate=(1, 2))(img),
        L.Conv1DTranspose(3, 4, strides=2, padding="same", activation="tanh")(seq),
        L.Conv1DTranspose(3, 3, strides=3, output_padding=2)(seq),
        L.Conv1DTranspose(2, 5, dilation_rate=2)(seq),
        L.Conv3DTranspose(2, 2, strides=(1, 2, 2), padding="same")(vol),
        L.UpSampling2D((2, 3))(img),
        L.UpSampling1D(3)(seq),
    ]
    return lib.Model([img, seq, vol], outs)


def channels_first(lib):
    img = lib.Input(shape=(3, 5, 4))
    seq = lib.Input(shape=(4, 6))
    a = lib.layers.Conv2DTranspose(
        4, 3, strides=2, padding="same", output_padding=(0, 1), data_format="channels_first"
    )(img)
    b = lib.layers.Conv1DTranspose(3, 3, strides=2, data_format="channels_first")(seq)
    c = lib.layers.UpSampling2D((3, 2), data_format="channels_first")(img)
    return lib.Model([img, seq], [a, b, c])


def small_decoder(lib):
    """Trains: a 1-D encoder-decoder with a transposed convolution and a dense head."""
    inputs = lib.Input(shape=(10, 3))
    x = lib.layers.Conv1D(6, 3, strides=2, padding="same", activation="relu")(inputs)
    x = lib.layers.Conv1DTranspose(4, 3, strides=2, padding="same", activation="tanh")(x)
    x = lib.layers.Conv1DTranspose(4, 2, strides=3, output_padding=1)(x)
    x = lib.layers.UpSampling1D(2)(x)
    x = lib.layers.GlobalAveragePooling1D()(x)
    outputs = lib.layers.Dense(3, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def dlwp_segmentation(lib, img_size=(32, 32), num_classes=3):
    """DLwP listing 9.4 (``get_model``), unchanged but for the missing Rescaling."""
    layers = lib.layers
    inputs = lib.Input(shape=img_size + (3,))
    x = layers.Conv2D(64, 3, strides=2, activation="relu", padding="same")(inputs)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(256, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same", strides=2)(x)
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    return lib.Model(inputs, outputs)


@pytest.mark.parametrize("builder", [variants, channels_first])
def test_predictions_match_keras(builder):
    k_model, g_model = pair(builder)
    x = random_inputs(g_model, 8)
    want, got = as_list(k_model.predict(x, verbose=0)), as_list(g_model.predict(x, verbose=0))
    assert [g.shape for g in got] == [w.shape for w in want]
    assert [tuple(o.shape) for o in g_model.outputs] == [tuple(o.shape) for o in k_model.outputs]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_layer_names_and_aliases_match_keras():
    def base(name):  # "conv2d_transpose_3" -> "conv2d_transpose"
        return re.sub(r"_\d+$", "", name)

    for name, args in [
        ("Conv1DTranspose", (2, 3)),
        ("Conv2DTranspose", (2, 3)),
        ("Conv3DTranspose", (2, 3)),
        ("UpSampling1D", ()),
        ("UpSampling2D", ()),
    ]:
        k_layer = getattr(keras.layers, name)(*args)
        g_layer = getattr(graphc.layers, name)(*args)
        assert base(g_layer.name) == base(k_layer.name)
    for alias in ("Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose"):
        assert getattr(graphc.layers, alias).__name__ == getattr(keras.layers, alias).__name__


@pytest.mark.slow
def test_small_decoder_trains_like_keras():
    k_model, g_model = pair(small_decoder)
    x = random_inputs(g_model, 48, seed=1)
    y = np.random.default_rng(2).integers(0, 3, 48)
    compile_both(
        k_model,
        g_model,
        lambda lib: lib.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
    )
    assert_trains_alike(k_model, g_model, x, y, epochs=3, batch_size=16)


@pytest.mark.slow
def test_dlwp_segmentation_model_matches_keras():
    keras.utils.set_random_seed(0)  # Keras's initial weights, copied to graphc
    k_model, g_model = pair(dlwp_segmentation)
    # Independent of the image size: 1,145,408 in the encoder, 1,733,504 in the decoder
    # (each transposed kernel is 3*3*filters*in_channels) and 1,731 in the classifier.
    assert g_model.count_params() == k_model.count_params() == 2_880_643
    assert summary_rows(g_model) == summary_rows(k_model)
    assert g_model.output_shape == (None, 32, 32, 3)

    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")  # in [0, 1), as after Rescaling
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )

    # The book's targets are one class index per pixel, shape (32, 32, 1), with
    # sparse_categorical_crossentropy. Keras 3.15 on torch fails in that loss's backward
    # through this model ("RuntimeError: grad_input must be contiguous", a torch-backend
    # issue), so the fit uses the same targets one-hot with categorical_crossentropy —
    # the same numbers, which graphc's own sparse loss is checked to give. SGD rather than
    # the book's RMSprop: RMSprop's first step is about lr * sign(gradient), so weights
    # whose gradient is nearly zero (float noise) would differ by ~lr between libraries.
    y = rng.integers(0, 3, (4, 32, 32, 1))
    y_hot = np.eye(3, dtype="float32")[y[..., 0]]
    compile_both(
        k_model,
        g_model,
        lambda lib: lib.optimizers.SGD(0.05, momentum=0.9),
        loss="categorical_crossentropy",
    )
    assert_trains_alike(k_model, g_model, x, y_hot, epochs=2, batch_size=2)
    g_model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    sparse = g_model.evaluate(x, y, verbose=0)
    g_model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    np.testing.assert_allclose(sparse, g_model.evaluate(x, y_hot, verbose=0), rtol=1e-5)

    assert_onnx_matches(g_model, [x[:2]])
