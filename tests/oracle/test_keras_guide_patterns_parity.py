"""Patterns of the keras.io guides, against Keras 3 itself (tests/api/test_guide_patterns.py
has the rest): the same code for both libraries, Keras's weights copied over."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

TOKENS = np.array([[5, 3, 9, 0, 0, 0], [7, 8, 2, 5, 1, 0], [4, 9, 1, 6, 2, 3]])


def _eager_masked_lstm(lib):
    embedding = lib.layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)
    lstm = lib.layers.LSTM(3)
    embedding.build((None, None))
    lstm.build((None, None, 4))
    return embedding, lstm


def test_eager_mask_flows_from_embedding_to_lstm():
    (ke, kl), (ge, gl) = _eager_masked_lstm(keras), _eager_masked_lstm(graphc)
    ge.set_weights(ke.get_weights())
    gl.set_weights(kl.get_weights())
    k_out = keras.ops.convert_to_numpy(kl(ke(TOKENS)))
    g_out = gl(ge(TOKENS))
    np.testing.assert_allclose(g_out, k_out, rtol=1e-4, atol=1e-5)
    # the mask made a difference: without it the padded steps would count
    g_unmasked = gl(np.asarray(ge(TOKENS)))
    assert not np.allclose(g_unmasked[0], g_out[0])
