"""Cropping1D/2D/3D, ZeroPadding1D/2D/3D, UpSampling3D, UnitNormalization, RMSNormalization, PReLU,
SpatialDropout1D/2D/3D and Lambda against Keras 3 itself: the same builder code, Keras's
weights copied, the same predictions (1e-5), a short fit (1e-3), and onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.onnx import Runtime, export  # noqa: E402

R = np.random.default_rng(0)


def _double_relu(x):
    return x * 2


BUILDERS = {
    "cropping1d": ((7, 3), lambda L: [L.Cropping1D((2, 1))]),
    "cropping2d": ((6, 5, 2), lambda L: [L.Cropping2D(((1, 2), (0, 1)))]),
    "cropping2d_cf": ((2, 6, 5), lambda L: [L.Cropping2D(1, data_format="channels_first")]),
    "cropping3d": ((5, 5, 4, 2), lambda L: [L.Cropping3D(((1, 0), (1, 1), (0, 2)))]),
    "upsampling3d": ((2, 3, 2, 2), lambda L: [L.UpSampling3D((2, 1, 3))]),
    "unitnorm": ((5,), lambda L: [L.Dense(4), L.UnitNormalization()]),
    "unitnorm_axes": ((3, 4), lambda L: [L.UnitNormalization(axis=[1, 2])]),
    "rmsnorm": ((6,), lambda L: [L.Dense(5), L.RMSNormalization()]),
    "prelu": ((6,), lambda L: [L.Dense(5), L.PReLU(alpha_initializer="random_normal")]),
    "prelu_shared": (
        (4, 4, 3),
        lambda L: [L.PReLU(alpha_initializer="random_uniform", shared_axes=[1, 2])],
    ),
    "spatialdropout": ((5, 4), lambda L: [L.Dense(4), L.SpatialDropout1D(0.5), L.Dense(1)]),
    "spatialdropout2d": ((4, 4, 3), lambda L: [L.SpatialDropout2D(0.5)]),
    "spatialdropout3d": ((2, 2, 2, 3), lambda L: [L.SpatialDropout3D(0.5)]),
    "lambda": ((5,), lambda L: [L.Dense(3), L.Lambda(_double_relu)]),
    "zeropad1d": ((5, 3), lambda L: [L.ZeroPadding1D((2, 1))]),
    "zeropad2d": ((4, 4, 2), lambda L: [L.ZeroPadding2D(((1, 0), (2, 3)))]),
    "zeropad2d_cf": ((2, 4, 4), lambda L: [L.ZeroPadding2D(1, data_format="channels_first")]),
    "zeropad3d": ((2, 3, 2, 2), lambda L: [L.ZeroPadding3D(1)]),
    "zeropad_conv": ((6, 6, 2), lambda L: [L.ZeroPadding2D(1), L.Conv2D(3, 3), L.Cropping2D(1)]),
}


def _build(lib, name):
    shape, layers = BUILDERS[name]
    return lib.Sequential([lib.Input(shape=shape), *layers(lib.layers)])


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_predictions_match_keras(name):
    k = _build(keras, name)
    g = _build(graphc, name)
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    x = R.standard_normal((4, *BUILDERS[name][0])).astype("float32")
    want = np.asarray(k.predict(x, verbose=0))
    got = g.predict(x, verbose=0)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Runtime(export(g)).predict(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["prelu", "rmsnorm", "unitnorm", "zeropad_conv"])
def test_short_fit_matches_keras(name):
    def head(lib):
        m = _build(lib, name)
        if len(BUILDERS[name][0]) > 1:
            m.add(lib.layers.Flatten())
        m.add(lib.layers.Dense(1))
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        return m

    k, g = head(keras), head(graphc)
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    x = R.standard_normal((32, *BUILDERS[name][0])).astype("float32")
    y = x.reshape(len(x), -1).mean(1, keepdims=True)
    hk = k.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    hg = g.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(hg, hk, rtol=1e-3)
    for wg, wk in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(wg, np.asarray(wk), rtol=1e-3, atol=1e-4)


def _flat(v):
    return (
        [int(u) if isinstance(u, (int, np.integer)) else u for u in np.ravel(v)]
        if isinstance(v, (list, tuple, int)) and not isinstance(v, bool)
        else v
    )


@pytest.mark.parametrize(
    "name",
    ["prelu", "rmsnorm", "cropping2d", "spatialdropout", "unitnorm", "zeropad1d", "zeropad3d"],
)
def test_configs_match_keras(name):
    def own(lib):
        return [layer for layer in _build(lib, name).layers if type(layer).__name__ != "Dense"][
            0
        ].get_config()

    kl, gl = own(keras), own(graphc)
    for key in kl:
        if key in ("name", "dtype", "trainable", "seed", "alpha_initializer"):
            continue
        assert key in gl, key
        assert _flat(gl[key]) == _flat(kl[key]), key
