"""Attention (dot and concat scores) and AdditiveAttention against Keras 3 itself (torch
backend): the same weights (names, shapes, order), the same predictions with Keras's
weights copied (1e-5), onnxruntime's too, with [query, value] and [query, value, key]
inputs, Keras masks from Embedding(mask_zero=True), use_causal_mask and
return_attention_scores; a short fit (1e-3); the same configs."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402
from graphc.onnx import Runtime, export  # noqa: E402

R = np.random.default_rng(0)

LAYERS = {
    "dot": lambda L: L.Attention(),
    "dot_scaled": lambda L: L.Attention(use_scale=True),
    "concat": lambda L: L.Attention(score_mode="concat"),
    "concat_scaled": lambda L: L.Attention(use_scale=True, score_mode="concat"),
    "additive": lambda L: L.AdditiveAttention(),
    "additive_unscaled": lambda L: L.AdditiveAttention(use_scale=False),
}


def _dense(lib, name, *, key=False, causal=False, scores=False):
    q, v = lib.Input(shape=(3, 4)), lib.Input(shape=(5, 4))
    qq = lib.layers.Dense(4)(q)
    inputs = [qq, v, lib.layers.Dense(4)(v)] if key else [qq, v]
    out = LAYERS[name](lib.layers)(inputs, use_causal_mask=causal, return_attention_scores=scores)
    return lib.Model([q, v], out)


def _masked(lib, name):
    q, v = lib.Input(shape=(4,), dtype="int32"), lib.Input(shape=(6,), dtype="int32")
    emb = lib.layers.Embedding(10, 4, mask_zero=True)
    x = LAYERS[name](lib.layers)([emb(q), emb(v)])
    return lib.Model([q, v], lib.layers.Dense(1)(lib.layers.GlobalAveragePooling1D()(x)))


def _same(k, g, xs):
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    want = k.predict(xs, verbose=0)
    got = g.predict(xs, verbose=0)
    want, got = (want, got) if isinstance(want, (list, tuple)) else ([want], [got])
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)
    onnx = Runtime(export(g)).predict(xs)
    for a, b in zip(onnx if isinstance(onnx, (list, tuple)) else [onnx], want):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)


X = [R.standard_normal((2, 3, 4)).astype("float32"), R.standard_normal((2, 5, 4)).astype("float32")]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_predictions_match_keras(name):
    k, g = _dense(keras, name), _dense(graphc, name)
    kw = k.layers[-1].weights
    gw = g.layers[-1].weights
    assert [w.path.split("/")[-1] for w in gw] == [w.name for w in kw]
    assert [tuple(w.shape) for w in gw] == [tuple(w.shape) for w in kw]
    _same(k, g, X)


@pytest.mark.parametrize("name", ["dot_scaled", "concat", "additive"])
def test_key_causal_mask_and_scores_match_keras(name):
    kwargs = dict(key=True, causal=True, scores=True)
    _same(_dense(keras, name, **kwargs), _dense(graphc, name, **kwargs), X)


@pytest.mark.parametrize("name", ["dot", "concat_scaled", "additive"])
def test_keras_masks_match_keras(name):
    xs = [
        np.array([[1, 2, 0, 0], [3, 0, 0, 0]], "int32"),
        np.array([[4, 5, 6, 0, 0, 0], [7, 8, 9, 1, 2, 0]], "int32"),
    ]
    _same(_masked(keras, name), _masked(graphc, name), xs)


@pytest.mark.parametrize("name", ["dot_scaled", "additive"])
def test_short_fit_matches_keras(name):
    def compiled(lib):
        m = _masked(lib, name)
        m.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        return m

    k, g = compiled(keras), compiled(graphc)
    g.set_weights([np.asarray(w) for w in k.get_weights()])
    xs = [R.integers(0, 10, (16, 4)).astype("int32"), R.integers(0, 10, (16, 6)).astype("int32")]
    y = R.standard_normal((16, 1)).astype("float32")
    hk = k.fit(xs, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    hg = g.fit(xs, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(hg, hk, rtol=1e-3)
    for wg, wk in zip(g.get_weights(), k.get_weights()):
        np.testing.assert_allclose(wg, np.asarray(wk), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_configs_match_keras(name):
    kc = LAYERS[name](keras.layers).get_config()
    gc = LAYERS[name](graphc.layers).get_config()
    for key in ("name", "dtype"):
        kc.pop(key, None)
        gc.pop(key, None)
    assert gc == kc
