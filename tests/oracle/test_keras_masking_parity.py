"""Masks against Keras 3 itself: Embedding(mask_zero=True) and Masking in front of
SimpleRNN/LSTM/GRU/Bidirectional and GlobalAveragePooling1D, with padding at the end, at
the start, holes in the middle and fully padded rows; the same builder code for both
libraries, Keras's weights copied over, predictions, training losses and weights compared,
and onnxruntime running graphc's export gives NumPy's numbers."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

from oracle_harness import assert_onnx_matches, assert_trains_alike, compile_both, onnx_opsets, pair  # noqa: E402

MAX_TOKENS, T = 50, 7
_rng = np.random.default_rng(0)
TOKENS = _rng.integers(1, MAX_TOKENS, (16, T))
TOKENS[0:4, 4:] = 0  # padded at the end
TOKENS[4:8, :3] = 0  # padded at the start
TOKENS[8:11, [1, 3, 4]] = 0  # holes in the middle
TOKENS[11:13] = 0  # fully padded rows
TOKENS[13, -1] = 0
TARGETS = (_rng.random((16, 1)) < 0.5).astype("float32")
# No fully padded rows for models that average over the steps (0 / 0 is NaN in both).
TRAIN_ROWS = np.r_[0:11, 13:16]


OPSETS = (13, 17, 18)  # the ONNX checks' opsets, with the newest: onnx_opsets(*OPSETS)


def listing_11_17(lib, rate=0.5):
    """Deep Learning with Python (2nd ed.), listing 11.17, at a small size."""
    layers = lib.layers
    inputs = lib.Input(shape=(None,), dtype="int64")
    embedded = layers.Embedding(input_dim=MAX_TOKENS, output_dim=8, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(4))(embedded)
    x = layers.Dropout(rate)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return lib.Model(inputs, outputs)


def _check_fit(k, g, x, y, loss="binary_crossentropy", epochs=3):
    compile_both(k, g, lambda lib: lib.optimizers.RMSprop(0.01), loss=loss)
    assert_trains_alike(k, g, x, y, epochs=epochs, batch_size=8)


@pytest.mark.slow
def test_listing_11_17_predicts_and_trains_like_keras():
    k, g = pair(listing_11_17)
    np.testing.assert_allclose(
        g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0), rtol=1e-4, atol=1e-5
    )
    assert_onnx_matches(g, [TOKENS], onnx_opsets(*OPSETS))
    # Training without dropout (random numbers differ between libraries).
    k, g = pair(lambda lib: listing_11_17(lib, rate=0.0))
    _check_fit(k, g, TOKENS, TARGETS)


# name -> f(layers) making the layer after Embedding(mask_zero=True)
LAYERS = {
    "simple_rnn_seq": lambda L: L.SimpleRNN(3, return_sequences=True),
    "simple_rnn_last": lambda L: L.SimpleRNN(3),
    "simple_rnn_backwards_last": lambda L: L.SimpleRNN(3, go_backwards=True),
    "lstm_seq": lambda L: L.LSTM(3, return_sequences=True),
    "lstm_seq_zero_output": lambda L: L.LSTM(3, return_sequences=True, zero_output_for_mask=True),
    "lstm_backwards_seq": lambda L: L.LSTM(3, go_backwards=True, return_sequences=True),
    "lstm_last_zero_output": lambda L: L.LSTM(3, zero_output_for_mask=True),
    "gru_last": lambda L: L.GRU(3),
    "gru_backwards_seq": lambda L: L.GRU(3, go_backwards=True, return_sequences=True),
    "gru_reset_before_seq": lambda L: L.GRU(3, reset_after=False, return_sequences=True),
    "bidirectional_lstm_seq": lambda L: L.Bidirectional(L.LSTM(3, return_sequences=True)),
    "bidirectional_gru_last": lambda L: L.Bidirectional(L.GRU(3), merge_mode="sum"),
    "global_average_pooling": lambda L: L.GlobalAveragePooling1D(),
}


def _masked_model(lib, make, head):
    L = lib.layers
    inputs = lib.Input(shape=(None,), dtype="int64")
    y = make(L)(L.Embedding(MAX_TOKENS, 4, mask_zero=True)(inputs))
    if head:
        if len(y.shape) == 3:
            y = L.GlobalAveragePooling1D()(y)
        y = L.Dense(1, activation="sigmoid")(y)
    return lib.Model(inputs, y)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_masked_layer_matches_keras(name):
    # The layer's own output (a masked sequence or the last output) ...
    x = TOKENS[TRAIN_ROWS] if "pooling" in name else TOKENS
    k, g = pair(lambda lib: _masked_model(lib, LAYERS[name], head=False))
    np.testing.assert_allclose(
        g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    assert_onnx_matches(g, [x], opsets=[13, onnx_opsets()[-1]])
    # ... and training through it.
    k, g = pair(lambda lib: _masked_model(lib, LAYERS[name], head=True))
    _check_fit(k, g, TOKENS[TRAIN_ROWS], TARGETS[TRAIN_ROWS], epochs=2)


def masking_model(lib):
    L = lib.layers
    x = lib.Input(shape=(None, 3))
    y = L.LSTM(4, return_sequences=True)(L.Masking(mask_value=0.0)(x))
    y = L.GRU(3, go_backwards=True)(L.Dense(5, activation="relu")(y))
    return lib.Model(x, L.Dense(1)(y))


@pytest.mark.slow
def test_masking_layer_matches_keras():
    x = np.where((TOKENS > 0)[..., None], _rng.standard_normal((16, T, 3)), 0.0)
    x = x.astype("float32")
    k, g = pair(masking_model)
    np.testing.assert_allclose(
        g.predict(x, verbose=0), k.predict(x, verbose=0), rtol=1e-4, atol=1e-5
    )
    assert_onnx_matches(g, [x], opsets=[13, onnx_opsets()[-1]])
    _check_fit(k, g, x, TARGETS, loss="mse", epochs=2)


def test_sequential_embedding_mask_matches_keras():
    def build(lib):
        L = lib.layers
        return lib.Sequential(
            [
                lib.Input(shape=(T,), dtype="int64"),
                L.Embedding(MAX_TOKENS, 4, mask_zero=True),
                L.Dropout(0.0),
                L.SimpleRNN(3),
                L.Dense(1),
            ]
        )

    k, g = pair(build)
    np.testing.assert_allclose(
        g.predict(TOKENS, verbose=0), k.predict(TOKENS, verbose=0), rtol=1e-4, atol=1e-5
    )
