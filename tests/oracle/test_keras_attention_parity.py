"""MultiHeadAttention against Keras 3 itself: self- and cross-attention, value_dim /
output_shape / use_bias / use_gate variants, masks from Embedding(mask_zero=True) (with
fully padded query rows, where Keras's two softmax paths differ), an explicit
attention_mask, use_causal_mask, sliding_window and return_attention_scores; then the
Transformer encoder of Deep Learning with Python (chapter 11) trained in both libraries,
and its ONNX export. The same builder code for both libraries, Keras's weights copied."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import (  # noqa: E402
    assert_close,
    assert_onnx_matches,
    assert_trains_alike,
    compile_both,
    pair,
    torch_math_attention,
)

VOCAB, T, S = 50, 10, 6
_rng = np.random.default_rng(0)
TOKENS = _rng.integers(1, VOCAB, (12, T))
TOKENS[0:3, 6:] = 0  # padded at the end
TOKENS[3:5, :2] = 0  # padded at the start
TOKENS[5, [1, 4, 7]] = 0  # holes
TOKENS[6] = 0  # a fully padded row
TARGETS = (_rng.random((12, 1)) < 0.5).astype("float32")
QUERY = _rng.standard_normal((4, T, 6)).astype("float32")
VALUE = _rng.standard_normal((4, S, 5)).astype("float32")
KEY = _rng.standard_normal((4, S, 3)).astype("float32")
ATTN = _rng.random((4, T, S)) < 0.7
ATTN[1, 2] = False  # one query row sees no key


# ---- the layer alone ---------------------------------------------------------------------
def _cross(kwargs, call=None, with_key=False, with_mask=False, scores=False):
    call = call or {}

    def build(lib):
        q = lib.Input((T, 6))
        v = lib.Input((S, 5))
        inputs = [q, v]
        extra = dict(call)
        if with_key:
            inputs.append(lib.Input((S, 3)))
            extra["key"] = inputs[-1]
        if with_mask:
            inputs.append(lib.Input((T, S), dtype="bool"))
            extra["attention_mask"] = inputs[-1]
        layer = lib.layers.MultiHeadAttention(**kwargs)
        out = layer(q, v, return_attention_scores=scores, **extra)
        return lib.Model(inputs, list(out) if scores else out)

    return build


CROSS_CASES = {
    "default": (_cross({"num_heads": 2, "key_dim": 3}), {}),
    "value_dim_output_shape": (
        _cross({"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": 7}),
        {},
    ),
    "output_shape_2d": (_cross({"num_heads": 2, "key_dim": 2, "output_shape": (2, 3)}), {}),
    "no_bias_key": (
        _cross({"num_heads": 2, "key_dim": 3, "use_bias": False}, with_key=True),
        {"key": True},
    ),
    "gate": (_cross({"num_heads": 2, "key_dim": 3, "use_gate": True}), {}),
    "attention_mask": (_cross({"num_heads": 2, "key_dim": 3}, with_mask=True), {"mask": True}),
    "attention_mask_scores": (
        _cross({"num_heads": 2, "key_dim": 3}, with_mask=True, scores=True),
        {"mask": True},
    ),
    "causal": (_cross({"num_heads": 2, "key_dim": 3}, {"use_causal_mask": True}), {}),
    "causal_mask_scores": (
        _cross(
            {"num_heads": 2, "key_dim": 3}, {"use_causal_mask": True}, with_mask=True, scores=True
        ),
        {"mask": True},
    ),
    "sliding_window": (
        _cross({"num_heads": 2, "key_dim": 3, "sliding_window": 2}, {"use_causal_mask": True}),
        {},
    ),
    "dropout_inference": (
        _cross({"num_heads": 2, "key_dim": 3, "dropout": 0.3}, with_mask=True),
        {"mask": True},
    ),
}


@pytest.mark.parametrize("name", sorted(CROSS_CASES))
def test_cross_attention_predicts_like_keras(name):
    build, data = CROSS_CASES[name]
    k, g = pair(build, count=True)
    x = [QUERY, VALUE] + ([KEY] if data.get("key") else []) + ([ATTN] if data.get("mask") else [])
    assert_close(g.predict(x, verbose=0), k.predict(x, verbose=0))


def _embedded_self_attention(kwargs, scores=False):
    """Embedding(mask_zero=True) -> self-attention: the query's and value's masks."""

    def build(lib):
        ids = lib.Input((T,), dtype="int64")
        x = lib.layers.Embedding(VOCAB, 8, mask_zero=True)(ids)
        out = lib.layers.MultiHeadAttention(**kwargs)(x, x, return_attention_scores=scores)
        return lib.Model(ids, list(out) if scores else out)

    return build


@pytest.mark.parametrize(
    "kwargs,scores",
    [
        ({"num_heads": 2, "key_dim": 4}, False),  # dot_product_attention path
        ({"num_heads": 2, "key_dim": 4}, True),  # Softmax-layer path
        ({"num_heads": 2, "key_dim": 4, "dropout": 0.2}, False),  # Softmax-layer path
    ],
)
def test_masks_from_embedding_like_keras(kwargs, scores):
    k, g = pair(_embedded_self_attention(kwargs, scores), count=True)
    assert_close(g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))


# ---- the Transformer encoder of Deep Learning with Python --------------------------------
def transformer_encoder_class(lib):
    """The book's TransformerEncoder (chapter 11), in its Keras 3 form."""
    layers, ops = lib.layers, lib.ops

    class TransformerEncoder(layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim = embed_dim
            self.dense_dim = dense_dim
            self.num_heads = num_heads
            self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = lib.Sequential(
                [layers.Dense(dense_dim, activation="relu"), layers.Dense(embed_dim)]
            )
            self.layernorm_1 = layers.LayerNormalization()
            self.layernorm_2 = layers.LayerNormalization()

        def call(self, inputs, mask=None):
            if mask is not None:
                mask = ops.expand_dims(mask, axis=1)
            attention_output = self.attention(inputs, inputs, attention_mask=mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            proj_output = self.dense_proj(proj_input)
            return self.layernorm_2(proj_input + proj_output)

    return TransformerEncoder


def transformer_model(lib, rate=0.5, mask_zero=True):
    inputs = lib.Input(shape=(None,), dtype="int64")
    x = lib.layers.Embedding(VOCAB, 8, mask_zero=mask_zero)(inputs)
    x = transformer_encoder_class(lib)(8, 16, 2)(x)
    x = lib.layers.GlobalMaxPooling1D()(x)
    x = lib.layers.Dropout(rate)(x)
    outputs = lib.layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs, outputs)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*does not support masking")
@pytest.mark.parametrize("mask_zero", [True, False])
def test_transformer_encoder_predicts_trains_and_exports_like_keras(mask_zero):
    k, g = pair(lambda lib: transformer_model(lib, mask_zero=mask_zero), count=True)
    assert_close(g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))
    # ONNX export agreeing with NumPy, with an unknown sequence length.
    assert_onnx_matches(g, [TOKENS, TOKENS[:, :7]])
    # Training without dropout (the libraries' random numbers differ).
    k, g = pair(lambda lib: transformer_model(lib, rate=0.0, mask_zero=mask_zero), count=True)
    compile_both(k, g, lambda lib: lib.optimizers.RMSprop(0.01), loss="binary_crossentropy")
    with torch_math_attention():  # Keras's fit; graphc's does not use torch
        assert_trains_alike(k, g, TOKENS, TARGETS, epochs=3, batch_size=4)
