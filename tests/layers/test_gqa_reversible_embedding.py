"""GroupQueryAttention and ReversibleEmbedding without Keras: what they compute in terms
of the layers they build on, and graphc's own files replaying their call options
(``reverse=True``, ``use_causal_mask=True``). Keras parity:
tests/oracle/test_keras_gqa_reversible_embedding_parity.py."""

from __future__ import annotations

import numpy as np

import graphc
from graphc import layers

RNG = np.random.default_rng(5)
Q = RNG.standard_normal((3, 6, 8)).astype("float32")
V = RNG.standard_normal((3, 4, 8)).astype("float32")
IDS = RNG.integers(0, 12, (3, 6))


def _model(layer, causal=False):
    q, v = graphc.Input((6, 8)), graphc.Input((4, 8))
    return graphc.Model([q, v], layer(q, v, use_causal_mask=causal))


def test_gqa_with_as_many_key_value_heads_is_multi_head_attention():
    g = _model(layers.GroupQueryAttention(head_dim=3, num_query_heads=2, num_key_value_heads=2))
    m = _model(layers.MultiHeadAttention(num_heads=2, key_dim=3))
    m.set_weights(g.get_weights())
    np.testing.assert_allclose(g.predict([Q, V], verbose=0), m.predict([Q, V], verbose=0))


def test_gqa_repeats_each_key_value_head_for_its_query_heads():
    """2 key/value heads for 4 query heads: the same as MultiHeadAttention with each
    key/value head's weights copied to two consecutive heads."""
    g = _model(layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2))
    m = _model(layers.MultiHeadAttention(num_heads=4, key_dim=3))
    w = g.get_weights()
    for i in (2, 3, 4, 5):  # key kernel, key bias, value kernel, value bias
        w[i] = np.repeat(w[i], 2, axis=-2)
    m.set_weights(w)
    np.testing.assert_allclose(
        g.predict([Q, V], verbose=0), m.predict([Q, V], verbose=0), rtol=1e-5, atol=1e-6
    )


def test_graphc_file_replays_call_options(tmp_path):
    ids = graphc.Input((6,), dtype="int64")
    emb = layers.ReversibleEmbedding(12, 8, logit_soft_cap=2.0)
    x = emb(ids)
    x = layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1)(
        x, x, use_causal_mask=True
    )
    model = graphc.Model(ids, emb(x, reverse=True))
    model.save(tmp_path / "m.graphc")
    loaded = graphc.models.load_model(tmp_path / "m.graphc")
    assert loaded.output_shape == (None, 6, 12)
    np.testing.assert_allclose(loaded.predict(IDS, verbose=0), model.predict(IDS, verbose=0))
    # the causal mask was replayed: the first position sees only itself
    later = IDS.copy()
    later[:, 1:] = (later[:, 1:] + 1) % 12
    np.testing.assert_allclose(
        loaded.predict(later, verbose=0)[:, 0], model.predict(IDS, verbose=0)[:, 0], atol=1e-6
    )


def test_reversible_embedding_eager_and_soft_cap():
    layer = layers.ReversibleEmbedding(12, 4, tie_weights=False, logit_soft_cap=0.1)
    h = np.asarray(layer(IDS))
    np.testing.assert_array_equal(h, layer.get_weights()[0][IDS])
    logits = np.asarray(layer(h, reverse=True))
    raw = h @ layer.get_weights()[1]
    np.testing.assert_allclose(logits, np.tanh(raw / 0.1) * 0.1, rtol=1e-5, atol=1e-7)
    assert np.abs(logits).max() < 0.1
