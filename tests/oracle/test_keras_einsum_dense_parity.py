"""EinsumDense against Keras 3 itself (torch backend): for the equation forms Keras
accepts (plain, "..." on the left, "..." on the right) with and without bias axes, the
same weight names, shapes and order, the same predictions (1e-5) with Keras's weights
copied, onnxruntime's too, a short fit (1e-3), the same config, and Keras's fan counting
for the kernel initializer."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.onnx import Runtime, export  # noqa: E402

R = np.random.default_rng(0)

CASES = {
    "matrix": ((6,), dict(equation="ab,bc->ac", output_shape=4, bias_axes="c")),
    "sequence": ((3, 6), dict(equation="abc,cd->abd", output_shape=(None, 4), bias_axes="d")),
    "heads": (
        (3, 6),
        dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de"),
    ),
    "heads_bias_e": (
        (3, 6),
        dict(equation="abc,cde->abde", output_shape=(None, 2, 3), bias_axes="e"),
    ),
    "left_ellipsis": ((3, 6), dict(equation="...b,bc->...c", output_shape=5, bias_axes="c")),
    "right_ellipsis": (
        (6, 2),
        dict(equation="ab...,bc->ac...", output_shape=4, bias_axes="c", activation="tanh"),
    ),
    "no_bias": ((3, 6), dict(equation="abc,cd->abd", output_shape=(3, 4))),
}


def _build(lib, name):
    shape, kwargs = CASES[name]
    inp = lib.Input(shape=shape)
    return lib.Model(inp, lib.layers.EinsumDense(**kwargs)(inp))


@pytest.mark.parametrize("name", sorted(CASES))
def test_weights_and_predictions_match_keras(name):
    k, g = _build(keras, name), _build(graphc, name)
    kl, gl = k.layers[-1], g.layers[-1]
    assert [w.path.split("/")[-1] for w in gl.weights] == [w.name for w in kl.weights]
    assert [tuple(w.shape) for w in gl.weights] == [tuple(w.shape) for w in kl.weights]
    assert gl.compute_output_shape((None, *CASES[name][0])) == tuple(
        kl.compute_output_shape((None, *CASES[name][0]))
    )
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    x = R.standard_normal((5, *CASES[name][0])).astype("float32")
    want = np.asarray(k.predict(x, verbose=0))
    np.testing.assert_allclose(g.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Runtime(export(g)).predict(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["heads", "right_ellipsis"])
def test_short_fit_matches_keras(name):
    def compiled(lib):
        m = _build(lib, name)
        m.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        return m

    k, g = compiled(keras), compiled(graphc)
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    x = R.standard_normal((32, *CASES[name][0])).astype("float32")
    y = np.tanh(np.asarray(k.predict(x, verbose=0)) + 0.5)
    hk = k.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    hg = g.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(hg, hk, rtol=1e-3)
    for wg, wk in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(wg, np.asarray(wk), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_matches_keras(name):
    kc = _build(keras, name).layers[-1].get_config()
    gc = _build(graphc, name).layers[-1].get_config()
    for key in kc:
        if key in ("name", "dtype", "kernel_initializer", "bias_initializer"):
            continue
        assert key in gc, key
        want, got = kc[key], gc[key]
        if isinstance(want, (list, tuple)):
            want, got = list(want), list(got)
        assert got == want, key
    back = graphc.layers.EinsumDense.from_config(gc)
    assert back.get_config() == gc


def test_kernel_initializer_counts_fans_on_the_equation_axes():
    """Keras 3: glorot over (fan_in=6, fan_out=2*3), not the last two kernel axes."""
    layer = graphc.layers.EinsumDense("abc,cde->abde", (None, 40, 50), bias_axes="de")
    layer(graphc.Input(shape=(3, 60)))
    kernel = layer.get_weights()[0]
    limit = np.sqrt(6 / (60 + 40 * 50))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.95 * limit
    klayer = keras.layers.EinsumDense("abc,cde->abde", (None, 40, 50), bias_axes="de")
    klayer.build((None, 3, 60))
    want = np.abs(np.asarray(klayer.get_weights()[0])).max()
    assert abs(np.abs(kernel).max() - want) < 0.05 * limit
