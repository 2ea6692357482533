"""GaussianNoise, GaussianDropout and AlphaDropout against Keras 3 itself (torch backend):
in inference both libraries (and onnxruntime) give the same predictions with Keras's
weights copied; in training the noise is random in each library, so the comparison is of
what the draws can give: AlphaDropout's two affine values exactly, the Gaussian layers'
mean and spread within sampling error; and the configs match."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.onnx import Runtime, export  # noqa: E402

R = np.random.default_rng(0)

LAYERS = {
    "gaussian_noise": lambda L: L.GaussianNoise(0.2, seed=3),
    "gaussian_dropout": lambda L: L.GaussianDropout(0.3, seed=3),
    "alpha_dropout": lambda L: L.AlphaDropout(0.25, seed=3),
    "alpha_dropout_noise_shape": lambda L: L.AlphaDropout(0.4, noise_shape=(None, 1, 4)),
}


def _model(lib, name):
    return lib.Sequential(
        [
            lib.Input(shape=(3, 4)),
            lib.layers.Dense(4, activation="selu"),
            LAYERS[name](lib.layers),
            lib.layers.Flatten(),
            lib.layers.Dense(2),
        ]
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inference_is_the_identity_like_keras(name):
    k, g = _model(keras, name), _model(graphc, name)
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    x = R.standard_normal((5, 3, 4)).astype("float32")
    want = np.asarray(k.predict(x, verbose=0))
    np.testing.assert_allclose(g.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Runtime(export(g)).predict(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_configs_match_keras(name):
    kc = LAYERS[name](keras.layers).get_config()
    gc = LAYERS[name](graphc.layers).get_config()
    for key in kc:
        if key in ("name", "dtype"):
            continue
        assert key in gc, key
        want = kc[key]
        want = list(want) if isinstance(want, tuple) else want
        got = list(gc[key]) if isinstance(gc[key], tuple) else gc[key]
        assert got == want, key


def _training(lib, layer, x):
    return (
        np.asarray(keras.ops.convert_to_numpy(layer(x, training=True)))
        if lib is keras
        else (layer(x, training=True))
    )


def test_alpha_dropout_gives_keras_values_in_training():
    x = R.standard_normal((200, 6)).astype("float32")
    for noise_shape in (None, (None, 1)):
        k = _training(keras, keras.layers.AlphaDropout(0.3, noise_shape=noise_shape), x)
        g = _training(graphc, graphc.layers.AlphaDropout(0.3, noise_shape=noise_shape), x)
        # both maps are a*x + b where kept, one constant where dropped
        dropped_k = np.unique(k[~np.isclose(k, _kept(k, x))])
        dropped_g = np.unique(g[~np.isclose(g, _kept(g, x))])
        np.testing.assert_allclose(dropped_g, dropped_k, rtol=1e-6)
        assert len(dropped_k) == 1


def _kept(y, x):
    """The affine map a*x + b fitted where most entries are kept (the mode of y - a*x)."""
    rate, alpha_p = 0.3, -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    return a * x - a * alpha_p * rate


@pytest.mark.parametrize(
    "make",
    [lambda L: L.GaussianNoise(0.3), lambda L: L.GaussianDropout(0.2)],
    ids=["GaussianNoise", "GaussianDropout"],
)
def test_gaussian_layers_draw_like_keras(make):
    x = np.full((20000, 4), 0.7, "float32")
    k = _training(keras, make(keras.layers), x)
    g = _training(graphc, make(graphc.layers), x)
    assert g.dtype == k.dtype and g.shape == k.shape
    assert abs(g.mean() - k.mean()) < 0.01
    assert abs(g.std() - k.std()) < 0.01
