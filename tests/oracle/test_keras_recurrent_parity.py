"""Recurrent layers against Keras 3 itself: the same builder code for both libraries,
Keras's weights copied over, the same predictions, the same training losses and weights,
and onnxruntime running graphc's export gives the same numbers again."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import (  # noqa: E402
    assert_onnx_matches,
    assert_same_predictions,
    assert_trains_alike,
    compile_both,
    onnx_opsets,
    pair,
)

import graphc  # noqa: E402

N, T, F = 32, 6, 3
RNG = np.random.default_rng(0)
X = RNG.standard_normal((N, T, F)).astype("float32")


# name -> f(lib) making the recurrent layer under test
LAYERS = {
    "simple_rnn_last": lambda L: L.SimpleRNN(5),
    "simple_rnn_seq_relu": lambda L: L.SimpleRNN(5, activation="relu", return_sequences=True),
    "simple_rnn_backwards_seq": lambda L: L.SimpleRNN(5, go_backwards=True, return_sequences=True),
    "lstm_last": lambda L: L.LSTM(5),
    "lstm_seq": lambda L: L.LSTM(5, return_sequences=True),
    "lstm_backwards_seq": lambda L: L.LSTM(5, go_backwards=True, return_sequences=True),
    "lstm_backwards_last": lambda L: L.LSTM(5, go_backwards=True),
    "lstm_no_bias_hard_sigmoid": lambda L: L.LSTM(
        4, use_bias=False, recurrent_activation="hard_sigmoid"
    ),
    "gru_last": lambda L: L.GRU(5),
    "gru_seq": lambda L: L.GRU(5, return_sequences=True),
    "gru_backwards_seq": lambda L: L.GRU(5, go_backwards=True, return_sequences=True),
    "gru_reset_before_seq": lambda L: L.GRU(5, reset_after=False, return_sequences=True),
    "bidirectional_lstm_seq": lambda L: L.Bidirectional(L.LSTM(4, return_sequences=True)),
    "bidirectional_lstm_last": lambda L: L.Bidirectional(L.LSTM(4)),
    "bidirectional_gru_sum_seq": lambda L: L.Bidirectional(
        L.GRU(4, return_sequences=True), merge_mode="sum"
    ),
    "bidirectional_simple_ave": lambda L: L.Bidirectional(L.SimpleRNN(4), merge_mode="ave"),
    "bidirectional_lstm_mul_seq": lambda L: L.Bidirectional(
        L.LSTM(4, return_sequences=True), merge_mode="mul"
    ),
}


def one_layer_model(lib, make):
    x = lib.Input(shape=(T, F))
    y = make(lib.layers)(x)
    return lib.Model(x, lib.layers.Dense(2)(y))


def _check_fit(k, g, x, y):
    compile_both(k, g, lambda lib: lib.optimizers.Adam(0.01), loss="mse")
    assert_trains_alike(k, g, x, y, epochs=3, batch_size=16)


OPSETS = (13, 14)  # the ONNX checks' opsets, with the newest: onnx_opsets(*OPSETS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_predicts_and_trains_like_keras(name):
    k, g = pair(lambda lib: one_layer_model(lib, LAYERS[name]))
    assert_same_predictions(k, g, X)
    # Toy sequence task: running sums of two features (per step, or at the end).
    sums = np.tanh(np.cumsum(X[..., :2], axis=1) / 2)
    y = sums if len(k.output.shape) == 3 else sums[:, -1]
    _check_fit(k, g, X, np.ascontiguousarray(y, dtype="float32"))
    assert_onnx_matches(g, [X[:1], X[:7]], opsets=[13, onnx_opsets()[-1]])


def test_go_backwards_sequence_is_in_processing_order():
    """Keras returns a go_backwards layer's sequence in the order it read the input: the
    first entry belongs to the last input step, so it equals the final state."""
    k, g = pair(
        lambda lib: one_layer_model(
            lib, lambda L: L.LSTM(3, go_backwards=True, return_sequences=True)
        )
    )
    layer = g.layers[1]
    seq = np.asarray(layer(X[:4]))
    _, h, _ = graphc.ops.lstm(X[:4], *layer.get_weights(), go_backwards=True)
    np.testing.assert_allclose(seq[:, -1], h, rtol=1e-6)
    keras_seq = keras.Model(k.inputs, k.layers[1].output).predict(X[:4], verbose=0)
    np.testing.assert_allclose(seq, keras_seq, rtol=1e-4, atol=1e-5)


def return_state_model(lib):
    x = lib.Input(shape=(T, F))
    out, h, c = lib.layers.LSTM(4, return_state=True)(x)
    seq, h2 = lib.layers.GRU(3, return_sequences=True, return_state=True, go_backwards=True)(x)
    s_out, s_h = lib.layers.SimpleRNN(2, return_state=True)(x)
    return lib.Model(x, [out, h, c, seq, h2, s_out, s_h])


def test_return_state_matches_keras():
    k, g = pair(return_state_model)
    assert_same_predictions(k, g, X)
    assert_onnx_matches(g, [X[:3]], onnx_opsets(*OPSETS))


def bidirectional_state_model(lib):
    x = lib.Input(shape=(T, F))
    out, hf, cf, hb, cb = lib.layers.Bidirectional(
        lib.layers.LSTM(3, return_sequences=True, return_state=True)
    )(x)
    both = lib.layers.Bidirectional(lib.layers.GRU(2), merge_mode=None)(x)
    return lib.Model(x, [out, hf, cf, hb, cb, *both])


def test_bidirectional_states_and_merge_none_match_keras():
    k, g = pair(bidirectional_state_model)
    assert_same_predictions(k, g, X)
    assert_onnx_matches(g, [X[:3]], onnx_opsets(*OPSETS))


def encoder_decoder(lib):
    """The seq2seq pattern: the encoder's final states start the decoder."""
    enc_in = lib.Input(shape=(T, F))
    dec_in = lib.Input(shape=(4, 2))
    _, h, c = lib.layers.LSTM(5, return_state=True)(enc_in)
    dec = lib.layers.LSTM(5, return_sequences=True)(dec_in, initial_state=[h, c])
    _, gh = lib.layers.GRU(3, return_state=True)(enc_in)
    dec2 = lib.layers.GRU(3, return_sequences=True, go_backwards=True)(dec_in, initial_state=[gh])
    y = lib.layers.concatenate([dec, dec2])
    return lib.Model([enc_in, dec_in], lib.layers.Dense(2)(y))


@pytest.mark.slow
def test_initial_state_matches_keras():
    k, g = pair(encoder_decoder)
    xd = RNG.standard_normal((N, 4, 2)).astype("float32")
    assert_same_predictions(k, g, [X, xd])
    y = RNG.standard_normal((N, 4, 2)).astype("float32")
    _check_fit(k, g, [X, xd], y)
    assert_onnx_matches(g, [[X[:2], xd[:2]], [X[:5], xd[:5]]], onnx_opsets(*OPSETS))


def stacked(lib):
    return lib.Sequential(
        [
            lib.Input(shape=(T, F)),
            lib.layers.LSTM(8, return_sequences=True),
            lib.layers.GRU(6, return_sequences=True),
            lib.layers.Bidirectional(lib.layers.SimpleRNN(4)),
            lib.layers.Dense(1, activation="sigmoid"),
        ]
    )


@pytest.mark.slow
def test_stacked_recurrent_model_trains_like_keras():
    k, g = pair(stacked)
    assert_same_predictions(k, g, X)
    y = (X[:, :, 0].mean(axis=1, keepdims=True) > 0).astype("float32")
    compile_both(
        k,
        g,
        lambda lib: lib.optimizers.RMSprop(0.01),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    assert_trains_alike(k, g, X, y, epochs=3, batch_size=16)
    assert_onnx_matches(g, [X[:1], X[:9]], onnx_opsets(*OPSETS))


def test_onnx_with_unknown_sequence_length():
    """Variable-length input: the exported model takes any number of time steps."""
    g = graphc.Sequential(
        [graphc.Input(shape=(None, F)), graphc.layers.GRU(4), graphc.layers.Dense(1)]
    )
    runtime = graphc.onnx.Runtime(graphc.onnx.export(g))
    for steps in (2, 9):
        x = RNG.standard_normal((3, steps, F)).astype("float32")
        np.testing.assert_allclose(
            runtime.predict(x), g.predict(x, verbose=0), rtol=1e-4, atol=1e-5
        )


def imdb_lstm(lib):
    """ "Deep Learning with Python" (1st ed.), listing 6.27: Embedding -> LSTM(32) ->
    Dense(1, sigmoid) on integer word sequences."""
    model = lib.Sequential(
        [
            lib.Input(shape=(20,), dtype="int32"),
            lib.layers.Embedding(200, 32),
            lib.layers.LSTM(32),
            lib.layers.Dense(1, activation="sigmoid"),
        ]
    )
    return model


@pytest.mark.slow
def test_dlwp_embedding_lstm_classifier():
    if not hasattr(graphc.layers, "Embedding"):
        pytest.skip("graphc.layers.Embedding is not there yet")
    k, g = pair(imdb_lstm)
    assert g.count_params() == k.count_params() == 200 * 32 + 4 * (32 * 32 + 32 * 32 + 32) + 33
    tokens = RNG.integers(0, 200, (64, 20)).astype("int32")
    y = (tokens[:, :5] < 100).mean(axis=1, keepdims=True).round().astype("float32")
    assert_same_predictions(k, g, tokens)
    compile_both(k, g, "rmsprop", loss="binary_crossentropy", metrics=["acc"])
    assert_trains_alike(k, g, tokens, y, epochs=3, batch_size=16)
    assert_onnx_matches(g, [tokens[:1], tokens[:10]], onnx_opsets(*OPSETS))
