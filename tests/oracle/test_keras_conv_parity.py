"""Convolution and pooling against Keras 3 itself (torch backend): the same builder code for
both libraries, Keras's initial weights copied across, the same predictions, the same
training losses and weights; plus the "Deep Learning with Python" MNIST convnet's
summary numbers, and grouped, depthwise and separable convolutions up to the book's
chapter 9 mini-Xception."""

from __future__ import annotations

import importlib.util
import pathlib

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


def small_cnn(lib):
    inputs = lib.Input(shape=(12, 12, 3))
    x = lib.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = lib.layers.MaxPooling2D(2)(x)
    x = lib.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = lib.layers.GlobalAveragePooling2D()(x)
    outputs = lib.layers.Dense(4, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def text_cnn(lib):
    inputs = lib.Input(shape=(20, 6))
    x = lib.layers.Conv1D(12, 5, activation="relu")(inputs)
    x = lib.layers.MaxPooling1D(2)(x)
    x = lib.layers.Conv1D(12, 3, strides=2, padding="same", activation="relu")(x)
    x = lib.layers.GlobalMaxPooling1D()(x)
    outputs = lib.layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs, outputs)


def variants(lib):
    """Every argument that changes the arithmetic, in one model (forward parity)."""
    img = lib.Input(shape=(9, 8, 3))
    seq = lib.Input(shape=(11, 4))
    a = lib.layers.Conv2D(4, 3, strides=2, padding="same")(img)  # pads (0, 1)/(0, 1)
    b = lib.layers.Conv2D(4, (3, 2), dilation_rate=2, padding="same", use_bias=False)(img)
    c = lib.layers.Conv2D(4, 3, strides=(2, 1), activation="tanh")(img)
    d = lib.layers.MaxPooling2D(3, strides=2, padding="same")(img)
    # Average pooling with "same": Keras 3 on torch replicates the edge when the padding
    # is uneven (keras/src/backend/torch/nn.py `_apply_same_padding`, mode="replicate")
    # where TensorFlow, ONNX and graphc average the input elements only. The two agree
    # when the padding is even, or when a window holds a single padded element.
    e = lib.layers.AveragePooling2D(3, strides=1, padding="same")(img)  # pads (1, 1)
    f = lib.layers.AveragePooling2D(2, padding="same")(img)  # one padded pixel
    g = lib.layers.Conv1D(3, 3, padding="causal", dilation_rate=2)(seq)
    h = lib.layers.Conv1D(3, 4, strides=3, padding="same")(seq)
    i = lib.layers.AveragePooling1D(2, strides=1)(seq)
    j = lib.layers.GlobalAveragePooling1D(keepdims=True)(seq)
    k = lib.layers.GlobalMaxPooling2D(keepdims=True)(img)
    outs = [a, b, c, d, e, f, g, h, i, j, k]
    return lib.Model([img, seq], outs)


def channels_first(lib):
    img = lib.Input(shape=(3, 9, 8))
    seq = lib.Input(shape=(4, 11))
    a = lib.layers.Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")(img)
    a = lib.layers.MaxPooling2D(2, padding="same", data_format="channels_first")(a)
    a = lib.layers.GlobalAveragePooling2D(data_format="channels_first")(a)
    b = lib.layers.Conv1D(3, 3, data_format="channels_first")(seq)
    b = lib.layers.AveragePooling1D(3, strides=2, padding="same", data_format="channels_first")(b)
    b = lib.layers.GlobalMaxPooling1D(data_format="channels_first")(b)
    return lib.Model([img, seq], [a, b])


@pytest.mark.parametrize("builder", [small_cnn, text_cnn, variants, channels_first])
def test_predictions_match_keras(builder):
    k_model, g_model = pair(builder)
    x = random_inputs(g_model, 16)
    want = as_list(k_model.predict(x, verbose=0))
    got = as_list(g_model.predict(x, verbose=0))
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def _trains_like_keras(builder, loss, y, optimizer, epochs=3):
    k_model, g_model = pair(builder)
    x = random_inputs(g_model, len(y), seed=1)
    compile_both(k_model, g_model, optimizer, loss=loss)
    assert_trains_alike(k_model, g_model, x, y, epochs=epochs, batch_size=16)
    return g_model


@pytest.mark.slow
def test_small_cnn_trains_like_keras():
    y = np.random.default_rng(2).integers(0, 4, 64)
    model = _trains_like_keras(
        small_cnn, "sparse_categorical_crossentropy", y, lambda lib: lib.optimizers.Adam(0.01)
    )
    assert_onnx_matches(model, [random_inputs(model, 5)])


@pytest.mark.slow
def test_text_cnn_trains_like_keras():
    y = (np.random.default_rng(3).random((64, 1)) > 0.5).astype("float32")
    _trains_like_keras(
        text_cnn, "binary_crossentropy", y, lambda lib: lib.optimizers.SGD(0.05, momentum=0.9)
    )


# ---- "Deep Learning with Python", listing 8.1 ---------------------------------------------
def _dlwp_builder():
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "dlwp_convnet.py"
    spec = importlib.util.spec_from_file_location("dlwp_convnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model


def _keras_dlwp():
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(pool_size=2)(x)
    x = keras.layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = keras.layers.MaxPooling2D(pool_size=2)(x)
    x = keras.layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def test_dlwp_convnet_matches_keras_summary_and_numbers():
    g_model, k_model = _dlwp_builder()(), _keras_dlwp()
    assert g_model.count_params() == k_model.count_params() == 104_202
    assert summary_rows(g_model) == summary_rows(k_model)
    g_model.set_weights(k_model.get_weights())
    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )


# ---- grouped, depthwise and separable convolutions --------------------------------------
def grouped_variants(lib):
    """Forward parity of every grouped layer and the arguments that change its numbers."""
    img = lib.Input(shape=(9, 8, 4))
    seq = lib.Input(shape=(11, 4))
    img_cf = lib.Input(shape=(4, 7, 6))
    L = lib.layers
    outs = [
        L.Conv2D(6, 3, groups=2, padding="same")(img),
        L.Conv2D(8, (3, 2), groups=4, strides=2, activation="tanh")(img),
        L.DepthwiseConv2D(3)(img),
        L.DepthwiseConv2D((3, 2), depth_multiplier=2, strides=2, padding="same")(img),
        L.DepthwiseConv2D(2, dilation_rate=2, use_bias=False)(img),
        L.SeparableConv2D(5, 3, padding="same")(img),
        L.SeparableConv2D(6, 3, depth_multiplier=3, strides=(2, 1), activation="relu")(img),
        L.SeparableConv2D(3, 2, dilation_rate=2, padding="same", use_bias=False)(img),
        L.Conv1D(4, 3, groups=2, padding="causal")(seq),
        L.DepthwiseConv1D(3, depth_multiplier=2, strides=2, padding="same")(seq),
        L.SeparableConv1D(5, 3, dilation_rate=2)(seq),
        L.Conv2D(4, 3, groups=4, data_format="channels_first")(img_cf),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", data_format="channels_first")(
            img_cf
        ),
        L.SeparableConv2D(3, 3, strides=2, data_format="channels_first")(img_cf),
    ]
    return lib.Model([img, seq, img_cf], outs)


def grouped_cnn(lib):
    inputs = lib.Input(shape=(10, 10, 4))
    x = lib.layers.Conv2D(8, 3, groups=2, activation="relu")(inputs)
    x = lib.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")(x)
    x = lib.layers.SeparableConv2D(8, 3, strides=2, activation="relu")(x)
    x = lib.layers.GlobalAveragePooling2D()(x)
    outputs = lib.layers.Dense(3, activation="softmax")(x)
    return lib.Model(inputs, outputs)


def grouped_text_cnn(lib):
    inputs = lib.Input(shape=(16, 4))
    x = lib.layers.Conv1D(8, 3, groups=4, padding="causal", activation="relu")(inputs)
    x = lib.layers.DepthwiseConv1D(3, strides=2, activation="relu")(x)
    x = lib.layers.SeparableConv1D(6, 3, depth_multiplier=2, padding="same")(x)
    x = lib.layers.GlobalMaxPooling1D()(x)
    outputs = lib.layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs, outputs)


def test_grouped_predictions_match_keras():
    test_predictions_match_keras(grouped_variants)


@pytest.mark.slow
def test_grouped_cnn_trains_like_keras():
    y = np.random.default_rng(4).integers(0, 3, 32)
    _trains_like_keras(
        grouped_cnn,
        "sparse_categorical_crossentropy",
        y,
        lambda lib: lib.optimizers.Adam(0.01),
        epochs=2,
    )


@pytest.mark.slow
def test_grouped_text_cnn_trains_like_keras():
    y = (np.random.default_rng(5).random((32, 1)) > 0.5).astype("float32")
    _trains_like_keras(
        grouped_text_cnn,
        "binary_crossentropy",
        y,
        lambda lib: lib.optimizers.SGD(0.05, momentum=0.9),
        epochs=2,
    )


# ---- "Deep Learning with Python", ch. 9: the mini-Xception ------------------------------
def mini_xception(lib, dropout=0.5, image_size=32):
    """The book's model code (chapter 9's mini-Xception, two blocks fewer) with the data
    augmentation and rescaling left out and a small image: the same builder for Keras
    and graphc."""
    keras_, layers = lib, lib.layers
    inputs = keras_.Input(shape=(image_size, image_size, 3))
    x = layers.Conv2D(filters=32, kernel_size=5, use_bias=False)(inputs)
    for size in [32, 64, 128]:
        residual = x
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras_.Model(inputs=inputs, outputs=outputs)


@pytest.mark.slow
def test_mini_xception_matches_keras(tmp_path):
    k_model, g_model = pair(mini_xception)
    assert g_model.count_params() == k_model.count_params()
    assert summary_rows(g_model) == summary_rows(k_model)
    assert [w.path.split("/")[-1] for w in g_model.weights] == [
        w.name.split("/")[-1] for w in k_model.weights
    ]
    lines = []
    g_model.summary(print_fn=lines.append)
    assert f"Total params: {k_model.count_params():,}" in "\n".join(lines)
    x = random_inputs(g_model, 4)
    want = k_model.predict(x, verbose=0)
    np.testing.assert_allclose(g_model.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    runtime = graphc.onnx.Runtime(graphc.onnx.export(g_model))
    np.testing.assert_allclose(runtime.predict(x), want, rtol=1e-4, atol=1e-5)
    path = tmp_path / "xception.graphc"
    g_model.save(path)
    np.testing.assert_allclose(
        graphc.models.load_model(path).predict(x, verbose=0), want, rtol=1e-4, atol=1e-5
    )


@pytest.mark.slow
def test_mini_xception_trains_like_keras():
    """Dropout draws different masks in each library: the fit compares the same model
    with rate 0 (the forward parity above keeps the book's 0.5). Plain SGD with a small
    step rather than the book's RMSprop: behind three BatchNormalizations some gradient
    components of the first kernel are rounding noise around zero, which RMSprop's
    normalised first step turns into +-lr/sqrt(1 - rho) either way, and which a large
    step with momentum amplifies past the weights' tolerance (seen: 3e-4 at lr 0.05
    with momentum 0.9, 1e-5 at lr 0.01)."""

    def builder(lib):
        return mini_xception(lib, dropout=0.0)

    k_model, g_model = pair(builder)
    rng = np.random.default_rng(6)
    x = rng.random((16, 32, 32, 3)).astype("float32")
    y = (rng.random((16, 1)) > 0.5).astype("float32")
    compile_both(k_model, g_model, lambda lib: lib.optimizers.SGD(0.01), loss="binary_crossentropy")
    assert_trains_alike(k_model, g_model, x, y, epochs=2, batch_size=8)
    np.testing.assert_allclose(
        g_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-3, atol=1e-4
    )
