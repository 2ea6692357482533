"""GroupQueryAttention (Keras's GroupedQueryAttention) and ReversibleEmbedding against
Keras 3 itself: the same builder code for both libraries, Keras's weights copied; the
outputs (masks from Embedding(mask_zero=True), an explicit attention_mask,
use_causal_mask, sliding_window, return_attention_scores, dropout in inference), a short
fit, a .keras file Keras wrote loaded by graphc, and the ONNX export in onnxruntime."""

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

import graphc  # noqa: E402
from graphc.errors import ArgumentValueError, ShapeError  # noqa: E402

VOCAB, T, S, D = 20, 7, 5, 8
_rng = np.random.default_rng(3)
TOKENS = _rng.integers(1, VOCAB, (8, T))
TOKENS[0:2, 5:] = 0  # padded at the end
TOKENS[2, :2] = 0  # padded at the start
TOKENS[3, [1, 4]] = 0  # holes
TOKENS[4] = 0  # a fully padded row
TARGETS = (_rng.random((8, 1)) < 0.5).astype("float32")
NEXT_TOKENS = _rng.integers(0, VOCAB, (8, T))
QUERY = _rng.standard_normal((4, T, D)).astype("float32")
VALUE = _rng.standard_normal((4, S, D)).astype("float32")
KEY = _rng.standard_normal((4, S, 3)).astype("float32")
ATTN = _rng.random((4, T, S)) < 0.7
ATTN[1, 2] = False  # one query row sees no key


# ---- GroupQueryAttention alone -------------------------------------------------------------
def _cross(kwargs, call=None, with_key=False, with_mask=False, scores=False):
    call = call or {}

    def build(lib):
        q = lib.Input((T, D))
        v = lib.Input((S, D))
        inputs = [q, v]
        extra = dict(call)
        if with_key:
            inputs.append(lib.Input((S, 3)))
            extra["key"] = inputs[-1]
        if with_mask:
            inputs.append(lib.Input((T, S), dtype="bool"))
            extra["attention_mask"] = inputs[-1]
        layer = lib.layers.GroupQueryAttention(**kwargs)
        out = layer(q, v, return_attention_scores=scores, **extra)
        return lib.Model(inputs, list(out) if scores else out)

    return build


GQA = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}
CROSS_CASES = {
    "default": (_cross(GQA), {}),
    "multi_query": (_cross({**GQA, "num_key_value_heads": 1}), {}),
    "multi_head": (_cross({**GQA, "num_key_value_heads": 4}), {}),
    "no_bias_key": (_cross({**GQA, "use_bias": False}, with_key=True), {"key": True}),
    "gate": (_cross({**GQA, "use_gate": True}), {}),
    "attention_mask": (_cross(GQA, with_mask=True), {"mask": True}),
    "attention_mask_scores": (_cross(GQA, with_mask=True, scores=True), {"mask": True}),
    "causal": (_cross(GQA, {"use_causal_mask": True}), {}),
    "causal_scores": (_cross(GQA, {"use_causal_mask": True}, scores=True), {}),
    "causal_mask_scores": (
        _cross(GQA, {"use_causal_mask": True}, with_mask=True, scores=True),
        {"mask": True},
    ),
    "sliding_window": (_cross({**GQA, "sliding_window": 2}, {"use_causal_mask": True}), {}),
    "sliding_window_scores": (_cross({**GQA, "sliding_window": 3}, scores=True), {}),
    "dropout_inference": (_cross({**GQA, "dropout": 0.3}, with_mask=True), {"mask": True}),
}


def _cross_inputs(data):
    return (
        [QUERY, VALUE] + ([KEY] if data.get("key") else []) + ([ATTN] if data.get("mask") else [])
    )


@pytest.mark.parametrize("name", sorted(CROSS_CASES))
def test_group_query_attention_predicts_like_keras(name):
    build, data = CROSS_CASES[name]
    k, g = pair(build, count=True)
    x = _cross_inputs(data)
    assert_close(g.predict(x, verbose=0), k.predict(x, verbose=0))


@pytest.mark.parametrize("scores", [False, True])
def test_group_query_attention_explicit_query_and_value_masks_like_keras(scores):
    """``query_mask`` / ``value_mask`` passed as tensors (Keras's GQA takes a given
    ``query_mask``, where MultiHeadAttention reads the query's own mask)."""

    def build(lib):
        q, v = lib.Input((T, D)), lib.Input((S, D))
        qm, vm = lib.Input((T,), dtype="bool"), lib.Input((S,), dtype="bool")
        out = lib.layers.GroupQueryAttention(**GQA)(
            q, v, query_mask=qm, value_mask=vm, return_attention_scores=scores
        )
        return lib.Model([q, v, qm, vm], list(out) if scores else out)

    k, g = pair(build)
    x = [QUERY, VALUE, ATTN[:, :, 0], ATTN[:, 0, :]]
    assert_close(g.predict(x, verbose=0), k.predict(x, verbose=0))


@pytest.mark.parametrize("name", ["default", "gate", "causal_mask_scores", "no_bias_key"])
def test_group_query_attention_exports_to_onnx(name):
    build, data = CROSS_CASES[name]
    _, g = pair(build)
    assert_onnx_matches(g, [_cross_inputs(data)])


def _embedded_gqa(kwargs, scores=False, causal=False):
    """Embedding(mask_zero=True) -> self-attention: the query's and value's masks."""

    def build(lib):
        ids = lib.Input((T,), dtype="int64")
        x = lib.layers.Embedding(VOCAB, D, mask_zero=True)(ids)
        out = lib.layers.GroupQueryAttention(**kwargs)(
            x, x, return_attention_scores=scores, use_causal_mask=causal
        )
        return lib.Model(ids, list(out) if scores else out)

    return build


@pytest.mark.filterwarnings("ignore:.*does not support masking")
@pytest.mark.parametrize(
    "kwargs,scores,causal",
    [
        (GQA, False, False),  # dot_product_attention path
        (GQA, True, False),  # Softmax-layer path
        ({**GQA, "dropout": 0.2}, False, False),  # Softmax-layer path
        (GQA, False, True),
    ],
)
def test_group_query_attention_masks_from_embedding_like_keras(kwargs, scores, causal):
    k, g = pair(_embedded_gqa(kwargs, scores, causal), count=True)
    assert_close(g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))


def _gqa_classifier(lib, causal=False):
    ids = lib.Input((T,), dtype="int64")
    x = lib.layers.Embedding(VOCAB, D, mask_zero=True)(ids)
    x = lib.layers.GroupQueryAttention(use_gate=True, **GQA)(x, x, use_causal_mask=causal)
    x = lib.layers.GlobalMaxPooling1D()(x)
    return lib.Model(ids, lib.layers.Dense(1, activation="sigmoid")(x))


@pytest.mark.filterwarnings("ignore:.*does not support masking")
@pytest.mark.parametrize("causal", [False, True])
def test_group_query_attention_trains_like_keras(causal):
    k, g = pair(lambda lib: _gqa_classifier(lib, causal), count=True)
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="binary_crossentropy")
    with torch_math_attention():  # Keras's fit; graphc's does not use torch
        assert_trains_alike(k, g, TOKENS, TARGETS, epochs=2, batch_size=4)


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_group_query_attention_keras_file_loads(tmp_path):
    k = _gqa_classifier(keras, causal=True)
    k.save(tmp_path / "k.keras")
    g = graphc.models.load_model(tmp_path / "k.keras")
    layer = next(x for x in g.layers if isinstance(x, graphc.layers.GroupQueryAttention))
    assert layer.get_config()["num_key_value_heads"] == 2
    assert_close(g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))
    assert_onnx_matches(g, [TOKENS])
    g.save(tmp_path / "g.keras")  # and back: graphc's file loads in Keras
    k2 = keras.saving.load_model(tmp_path / "g.keras")
    assert_close(k2.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_gated_multi_head_attention_keras_file_loads(tmp_path):
    """Keras saves MultiHeadAttention's gate under ``_gate_dense`` (no public property)."""
    q = keras.Input((T, D))
    k = keras.Model(q, keras.layers.MultiHeadAttention(2, 3, use_gate=True)(q, q))
    k.save(tmp_path / "k.keras")
    g = graphc.models.load_model(tmp_path / "k.keras")
    assert_close(g.predict(QUERY, verbose=0), k.predict(QUERY, verbose=0))
    g.save(tmp_path / "g.keras")
    k2 = keras.saving.load_model(tmp_path / "g.keras")
    assert_close(k2.predict(QUERY, verbose=0), k.predict(QUERY, verbose=0))


def _comparable(config):
    """A layer config without its name and dtype, initializers by class name."""
    out = {k: v for k, v in config.items() if k not in ("name", "dtype", "quantization_config")}
    for key in out:
        if key.endswith("_initializer"):
            out[key] = out[key]["class_name"]
    return out


def test_group_query_attention_config_matches_keras():
    kl = keras.layers.GroupQueryAttention(sliding_window=2, use_gate=True, seed=4, **GQA)
    gl = graphc.layers.GroupQueryAttention(sliding_window=2, use_gate=True, seed=4, **GQA)
    kc, gc = _comparable(kl.get_config()), _comparable(gl.get_config())
    assert list(gc) == list(kc) and gc == kc


def test_group_query_attention_refuses_bad_arguments():
    with pytest.raises(ArgumentValueError, match="num_key_value_heads=3"):
        graphc.layers.GroupQueryAttention(head_dim=2, num_query_heads=4, num_key_value_heads=3)
    with pytest.raises(ShapeError, match="must be equal"):
        graphc.layers.GroupQueryAttention(**GQA)(graphc.Input((T, D)), graphc.Input((S, 5)))


# ---- ReversibleEmbedding -------------------------------------------------------------------
def _language_model(lib, tie_weights=True, cap=None, mask_zero=False):
    ids = lib.Input((T,), dtype="int64")
    emb = lib.layers.ReversibleEmbedding(
        VOCAB, D, tie_weights=tie_weights, logit_soft_cap=cap, mask_zero=mask_zero
    )
    x = emb(ids)
    x = lib.layers.Dense(D, activation="tanh")(x)
    return lib.Model(ids, emb(x, reverse=True))


REV_CASES = {
    "tied": {},
    "untied": {"tie_weights": False},
    "soft_cap": {"cap": 0.5},
    "untied_soft_cap_mask_zero": {"tie_weights": False, "cap": 2.0, "mask_zero": True},
}


@pytest.mark.parametrize("name", sorted(REV_CASES))
def test_reversible_embedding_predicts_trains_and_exports_like_keras(name):
    kwargs = REV_CASES[name]
    k, g = pair(lambda lib: _language_model(lib, **kwargs), count=True)
    assert_close(g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))
    assert_onnx_matches(g, [TOKENS])
    for m, lib in ((k, keras), (g, graphc)):
        m.compile(
            optimizer=lib.optimizers.Adam(0.01),
            loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    assert_trains_alike(k, g, TOKENS, NEXT_TOKENS, epochs=2, batch_size=4)


def test_reversible_embedding_mask_like_keras():
    """The embedded output carries ``ids != 0``; the logits none."""
    for lib in (keras, graphc):
        layer = lib.layers.ReversibleEmbedding(VOCAB, D, mask_zero=True)
        h = layer(np.asarray(TOKENS))
        logits = layer(h, reverse=True)
        np.testing.assert_array_equal(
            np.asarray(h._keras_mask if lib is graphc else h._keras_mask.cpu()), TOKENS != 0
        )
        assert getattr(logits, "_keras_mask", None) is None


@pytest.mark.parametrize("tie_weights", [True, False])
def test_reversible_embedding_keras_file_loads(tie_weights, tmp_path):
    k = _language_model(keras, tie_weights=tie_weights, cap=1.5)
    k.save(tmp_path / "k.keras")
    g = graphc.models.load_model(tmp_path / "k.keras")
    assert [w.shape for w in g.weights] == [tuple(w.shape) for w in k.weights]
    assert_close(g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))
    g.save(tmp_path / "g.keras")  # and back: graphc's file loads in Keras
    k2 = keras.saving.load_model(tmp_path / "g.keras")
    assert_close(k2.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0))


def test_reversible_embedding_config_matches_keras():
    kwargs = {"tie_weights": False, "logit_soft_cap": 3.0, "mask_zero": True}
    kc = _comparable(keras.layers.ReversibleEmbedding(VOCAB, D, **kwargs).get_config())
    gc = _comparable(graphc.layers.ReversibleEmbedding(VOCAB, D, **kwargs).get_config())
    assert gc == kc


def test_reversible_embedding_refuses_quantization():
    layer = graphc.layers.ReversibleEmbedding(VOCAB, D)
    with pytest.raises(ArgumentValueError, match="'int8'.*'int4'"):
        layer.quantize("int8")
    with pytest.raises(ArgumentValueError, match="dtype='int8_from_float32'"):
        graphc.layers.ReversibleEmbedding(VOCAB, D, dtype="int8_from_float32")
