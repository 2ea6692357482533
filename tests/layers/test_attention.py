"""MultiHeadAttention: shapes with unknown batch and sequence length, weights and param
counts (Keras 3's numbers), config round trip, masks (Keras masks, attention_mask, causal,
sliding window; fully masked rows), returned scores, bad arguments, eager calls, training
and ONNX export agreeing with NumPy. Keras's own numbers: tests/oracle/."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from harness import assert_onnx_matches

import graphc
from graphc import layers

rng = np.random.default_rng(0)
Q = rng.standard_normal((3, 5, 6)).astype("float32")
V = rng.standard_normal((3, 4, 8)).astype("float32")


def reference(layer, q, v, k=None, keep=None, zero_fully_masked=False):
    """NumPy multi-head attention from the layer's weights (Keras's einsums)."""
    w = dict(zip([p.path for p in layer.weights], layer.get_weights()))
    k = v if k is None else k

    def proj(x, name):
        return np.einsum("abc,cde->abde", x, w[f"{name}/kernel"]) + w[f"{name}/bias"]

    qp = proj(q, "query") / math.sqrt(layer.key_dim)
    scores = np.einsum("aecd,abcd->acbe", proj(k, "key"), qp)  # (B, H, T, S)
    if keep is not None:
        scores = np.where(keep, scores, -1e30)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if keep is not None and zero_fully_masked:
        p = np.where(keep, p, 0)
    out = np.einsum("acbe,aecd->abcd", p, proj(v, "value"))
    y = np.einsum("abcd,cde->abe", out, w["attention_output/kernel"])
    return y + w["attention_output/bias"], p


def test_shapes_with_unknown_batch_and_length_weights_and_params():
    q, v = graphc.Input((None, 6)), graphc.Input((None, 8))
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    out, scores = layer(q, v, return_attention_scores=True)
    assert out.shape == (None, None, 6) and scores.shape == (None, 2, None, None)
    assert [(p.path, p.shape) for p in layer.weights] == [
        ("query/kernel", (6, 2, 4)),
        ("query/bias", (2, 4)),
        ("key/kernel", (8, 2, 4)),
        ("key/bias", (2, 4)),
        ("value/kernel", (8, 2, 4)),
        ("value/bias", (2, 4)),
        ("attention_output/kernel", (2, 4, 6)),
        ("attention_output/bias", (6,)),
    ]
    assert layer.count_params() == 254
    model = graphc.Model([q, v], out)
    model.graph.lint()
    assert model.count_params() == 254
    assert layer.compute_output_shape([(None, 5, 6), (None, 4, 8)]) == (None, 5, 6)
    y = model.predict([Q, V], verbose=0)
    np.testing.assert_allclose(y, reference(layer, Q, V)[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(Q, V)), y, rtol=1e-6, atol=1e-6)


def test_variants_param_counts_match_keras():
    q, v, k = graphc.Input((5, 6)), graphc.Input((4, 8)), graphc.Input((4, 3))
    # Keras 3.15 counts: 391 (gate, output_shape (3, 5)), 136 (no bias, key, value_dim 3)
    gated = layers.MultiHeadAttention(2, 4, use_gate=True, output_shape=(3, 5))
    assert gated(q, v).shape == (None, 5, 3, 5)
    assert gated.count_params() == 391
    assert [p.short_name for p in gated.weights][4:6] == ["kernel", "bias"]
    assert gated.weights[4].path == "gate/kernel"
    plain = layers.MultiHeadAttention(2, 4, value_dim=3, use_bias=False, output_shape=7)
    assert plain(q, v, key=k).shape == (None, 5, 7)
    assert [p.shape for p in plain.weights] == [(6, 2, 4), (3, 2, 4), (8, 2, 3), (2, 3, 7)]
    assert plain.count_params() == 48 + 24 + 48 + 42


def test_config_round_trip_is_json_and_rebuilds_the_same_numbers():
    layer = layers.MultiHeadAttention(
        3, 2, value_dim=4, dropout=0.1, output_shape=5, sliding_window=3, seed=7, name="mha"
    )
    assert layer.get_config()["attention_axes"] is None
    q, v = graphc.Input((5, 6)), graphc.Input((4, 8))
    model = graphc.Model([q, v], layer(q, v))
    config = layer.get_config()
    assert config["attention_axes"] == [1]  # Keras fills in the default when building
    assert json.loads(json.dumps(config)) == config
    assert config["value_dim"] == 4 and config["output_shape"] == [5]
    twin = layers.MultiHeadAttention.from_config(config)
    assert twin.get_config() == config
    model2 = graphc.Model([q, v], twin(q, v))
    model2.set_weights(model.get_weights())
    np.testing.assert_allclose(
        model2.predict([Q, V], verbose=0), model.predict([Q, V], verbose=0), rtol=1e-6
    )
    rebuilt = graphc.models.saving.model_from_config(graphc.models.saving.serialize_layer(model))
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(
        rebuilt.predict([Q, V], verbose=0), model.predict([Q, V], verbose=0), rtol=1e-6
    )


def test_kernel_initializer_uses_einsum_dense_fans():
    graphc.utils.set_random_seed(3)
    layer = layers.MultiHeadAttention(4, 16)
    layer(graphc.Input((5, 32)), graphc.Input((5, 32)))
    kernel = layer.weights[0].numpy()  # (32, 4, 16): fan_in 32, fan_out 64
    limit = math.sqrt(6 / (32 + 64))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit


def _embedded(mask_zero=True):
    ids = graphc.Input((None,), dtype="int64")
    return ids, layers.Embedding(20, 6, mask_zero=mask_zero)(ids)


TOKENS = np.array([[3, 4, 5, 0, 0], [0, 7, 8, 9, 1]])


@pytest.mark.parametrize("scores", [False, True])
def test_keras_masks_and_fully_masked_rows(scores):
    ids, x = _embedded()
    layer = layers.MultiHeadAttention(2, 3)
    out = layer(x, x, return_attention_scores=scores)
    y = out[0] if scores else out
    assert graphc.layers.base.get_keras_mask(y) is graphc.layers.base.get_keras_mask(x)
    model = graphc.Model(ids, list(out) if scores else out)
    got = model.predict(TOKENS, verbose=0)
    emb = model.layers[1].get_weights()[0][TOKENS]
    m = TOKENS != 0
    keep = m[:, None, :, None] & m[:, None, None, :]
    # Keras: dot_product_attention (no scores) leaves padded queries uniform; the
    # Softmax-layer path (scores returned) zeroes them.
    want, probs = reference(layer, emb, emb, keep=keep, zero_fully_masked=scores)
    np.testing.assert_allclose(got[0] if scores else got, want, rtol=1e-5, atol=1e-5)
    if scores:
        np.testing.assert_allclose(got[1], probs, rtol=1e-5, atol=1e-6)
        assert np.all(got[1][0, :, 3:] == 0)  # padded query rows
    else:
        padded = want[0, 3]  # attends uniformly to every key (padding included)
        np.testing.assert_allclose(got[0, 3], padded, rtol=1e-5, atol=1e-5)


def test_attention_mask_causal_and_sliding_window():
    q, v = graphc.Input((5, 6)), graphc.Input((4, 8))
    am = graphc.Input((5, 4), dtype="bool")
    layer = layers.MultiHeadAttention(2, 3, sliding_window=2)
    out, scores = layer(q, v, attention_mask=am, use_causal_mask=True, return_attention_scores=True)
    model = graphc.Model([q, v, am], [out, scores])
    mask = rng.random((3, 5, 4)) < 0.8
    got, probs = model.predict([Q, V, mask], verbose=0)
    t, s = np.arange(5)[:, None], np.arange(4)[None, :]
    band = (t >= s) & (np.abs(t - s) < 2)
    keep = (mask & band)[:, None]
    want, want_p = reference(layer, Q, V, keep=keep, zero_fully_masked=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs, want_p, rtol=1e-5, atol=1e-6)
    assert np.all(probs[:, :, ~band] == 0)
    # A constant (NumPy) mask of shape (T, S) broadcasts over batch and heads.
    y = graphc.Model([q, v], layer(q, v, attention_mask=band)).predict([Q, V], verbose=0)
    np.testing.assert_allclose(y, reference(layer, Q, V, keep=band & band)[0], rtol=1e-5, atol=1e-5)


def test_dropout_trains_and_is_off_in_inference():
    graphc.utils.set_random_seed(1)
    q = graphc.Input((5, 6))
    layer = layers.MultiHeadAttention(2, 3, dropout=0.5)
    model = graphc.Model(q, layers.GlobalAveragePooling1D()(layer(q, q)))
    np.testing.assert_allclose(
        model.predict(Q, verbose=0), reference(layer, Q, Q)[0].mean(1), rtol=1e-5, atol=1e-5
    )
    want = reference(layer, Q, Q)[0]
    np.testing.assert_allclose(np.asarray(layer(Q, Q, training=False)), want, rtol=1e-5, atol=1e-5)
    dropped = np.asarray(layer(Q, Q, training=True))  # the probabilities dropped
    assert np.abs(dropped - want).max() > 1e-2
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(Q, np.zeros((3, 6), "float32"), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(model.predict(Q, verbose=0), want.mean(1))  # it trained


@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_export_with_unknown_length_masks_and_causal(opset):
    ids, x = _embedded()
    layer = layers.MultiHeadAttention(2, 3)
    y = layer(x, x, use_causal_mask=True)
    out, scores = layers.MultiHeadAttention(2, 3, output_shape=4)(
        y, x, return_attention_scores=True
    )
    model = graphc.Model(ids, [out, scores])
    proto = graphc.onnx.export(model, opset=opset)
    assert_onnx_matches(model, [TOKENS, TOKENS[:, :3]], proto=proto, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,error,text",
    [
        ({"num_heads": 0, "key_dim": 2}, ValueError, "Received: num_heads=0"),
        ({"num_heads": 2, "key_dim": "a"}, ValueError, "Received: key_dim=a"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": -1}, ValueError, "value_dim=-1"),
        (
            {"num_heads": 2, "key_dim": 2, "output_shape": "ab"},
            ValueError,
            "Invalid `output_shape`",
        ),
        (
            {"num_heads": 2, "key_dim": 2, "attention_axes": "x"},
            ValueError,
            "Received: attention_axes=x",
        ),
        ({"num_heads": 2, "key_dim": 2, "sliding_window": 0}, ValueError, "sliding_window=0"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 1.5}, ValueError, "dropout=1.5"),
        (
            {"num_heads": 2, "key_dim": 2, "dropout": 0.1, "flash_attention": True},
            ValueError,
            "Dropout is not supported when flash attention is enabled",
        ),
        (
            {"num_heads": 2, "key_dim": 2, "kernel_regularizer": "l2"},
            NotImplementedError,
            "kernel_regularizer",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs, error, text):
    with pytest.raises(error, match=text.replace("[", r"\[").replace("`", ".")):
        layers.MultiHeadAttention(**kwargs)


def test_bad_calls():
    q, v = graphc.Input((5, 6)), graphc.Input((4, 8))
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'value'"):
        layers.MultiHeadAttention(2, 2)(q)
    with pytest.raises(
        ValueError,
        match=r"value_shape=\(None, 4, 8\) and "
        r"key_shape=\(None, 3, 8\)",
    ):
        layers.MultiHeadAttention(2, 2)(q, v, key=graphc.Input((3, 8)))
    with pytest.raises(NotImplementedError, match=r"attention_axes=\(2,\)"):
        layers.MultiHeadAttention(2, 2, attention_axes=2)(q, v)
    with pytest.raises(NotImplementedError, match=r"rank-3 inputs .* \(None, 2, 5, 6\)"):
        x = graphc.Input((2, 5, 6))
        layers.MultiHeadAttention(2, 2)(x, x)
    with pytest.raises(ValueError, match="Returning attention scores is not supported"):
        layers.MultiHeadAttention(2, 2, flash_attention=True)(q, v, return_attention_scores=True)
    with pytest.raises(graphc.errors.ShapeError, match="does not broadcast"):
        layers.MultiHeadAttention(2, 2)(q, v, attention_mask=np.ones((5, 3), bool))
