"""Keras masks in graphc: which layers pass, make, consume or drop a mask; the Masking
layer; configs; shapes with an unknown time dimension; the mask is part of the graph."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.layers.base import get_keras_mask


def _tokens():
    return graphc.Input(shape=(None,), dtype="int64")


def test_embedding_mask_zero_makes_a_boolean_mask():
    x = _tokens()
    y = layers.Embedding(10, 4, mask_zero=True)(x)
    mask = get_keras_mask(y)
    assert mask is not None and mask.dtype == "bool" and mask.shape == (None, None)
    assert get_keras_mask(layers.Embedding(10, 4)(x)) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.Dense(3),
        lambda: layers.Dropout(0.5),
        lambda: layers.Activation("relu"),
        lambda: layers.ReLU(),
        lambda: layers.LeakyReLU(),
        lambda: layers.ELU(),
        lambda: layers.LayerNormalization(),
        lambda: layers.Identity(),
        lambda: layers.LSTM(3, return_sequences=True),
    ],
)
def test_layers_that_support_masking_pass_it_on(make):
    e = layers.Embedding(10, 4, mask_zero=True)(_tokens())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = make()(e)
    assert get_keras_mask(y) is get_keras_mask(e)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.LSTM(3),
        lambda: layers.GlobalAveragePooling1D(),
        lambda: layers.Bidirectional(layers.GRU(2)),
    ],
)
def test_layers_that_consume_the_mask_return_none(make):
    e = layers.Embedding(10, 4, mask_zero=True)(_tokens())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = make()(e)
    assert get_keras_mask(y) is None


@pytest.mark.parametrize(
    "make",
    [lambda: layers.GlobalMaxPooling1D(), lambda: layers.Flatten(), lambda: layers.Conv1D(2, 3)],
)
def test_layers_without_masking_drop_it_with_keras_warning(make):
    x = graphc.Input(shape=(6,), dtype="int64")
    e = layers.Embedding(10, 4, mask_zero=True)(x)
    layer = make()
    with pytest.warns(UserWarning, match=f"Layer '{layer.name}' .* does not support masking"):
        y = layer(e)
    assert get_keras_mask(y) is None


def test_ops_outside_layers_drop_the_mask_silently():
    e = layers.Embedding(10, 4, mask_zero=True)(_tokens())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = e * 2.0
    assert get_keras_mask(y) is None


def test_bidirectional_forces_zero_output_for_mask_when_returning_sequences():
    b = layers.Bidirectional(layers.LSTM(3, return_sequences=True))
    assert b.forward_layer.zero_output_for_mask and b.backward_layer.zero_output_for_mask
    b = layers.Bidirectional(layers.LSTM(3))
    assert not b.forward_layer.zero_output_for_mask
    e = layers.Embedding(10, 4, mask_zero=True)(_tokens())
    pair = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode=None)(e)
    assert [get_keras_mask(v) for v in pair] == [get_keras_mask(e)] * 2


def test_merges_or_the_masks():
    x = _tokens()
    a = layers.Embedding(10, 4, mask_zero=True)(x)
    b = layers.Embedding(10, 4, mask_zero=True)(x)
    for y in (layers.Add()([a, b]), layers.Concatenate()([a, b])):
        m = graphc.Model(x, get_keras_mask(y))
        tokens = np.array([[1, 0, 2]])
        np.testing.assert_array_equal(m.predict(tokens, verbose=0), [[True, False, True]])
    assert get_keras_mask(layers.Add()([a, layers.Dense(4)(graphc.Input((None, 4)))])) is None


def test_masking_layer_zeroes_and_masks_padded_steps():
    x = np.array([[[1, 2], [0, 0], [0, 3]]], dtype="float32")
    inp = graphc.Input(shape=(None, 2))
    y = layers.Masking(mask_value=0.0)(inp)
    assert get_keras_mask(y).shape == (None, None)
    model = graphc.Model(inp, [y, get_keras_mask(y)])
    out, mask = model.predict(x, verbose=0)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(mask, [[True, False, True]])
    y = layers.Masking(mask_value=1.0)(inp)
    out = graphc.Model(inp, y).predict(np.array([[[1, 1], [1, 2]]], "float32"), verbose=0)
    np.testing.assert_array_equal(out, [[[0, 0], [1, 2]]])
    with pytest.raises(TypeError, match="mask_value"):
        layers.Masking(mask_value="zero")


def test_configs_round_trip_and_masks_come_back():
    x = _tokens()
    e = layers.Embedding(10, 4, mask_zero=True)(x)
    y = layers.Dense(1)(layers.LSTM(3)(layers.Masking(0.5)(layers.Dropout(0.1)(e))))
    model = graphc.Model(x, y)
    config = model.get_config()
    emb = next(layer for layer in config["layers"] if layer["class_name"] == "Embedding")
    assert emb["config"]["mask_zero"] is True
    assert json.loads(json.dumps(config)) == config
    again = graphc.Model.from_config(config)
    again.set_weights(model.get_weights())
    tokens = np.array([[1, 2, 0, 0], [0, 3, 4, 5]])
    np.testing.assert_allclose(
        again.predict(tokens, verbose=0), model.predict(tokens, verbose=0), rtol=1e-6
    )
    assert layers.Masking(0.5).get_config()["mask_value"] == 0.5
    assert layers.Masking.from_config(layers.Masking(2.0).get_config()).mask_value == 2.0


def test_the_mask_adds_no_layer_connection():
    x = _tokens()
    e = layers.Embedding(10, 4, mask_zero=True)(x)
    d = layers.Dropout(0.5)(e)
    y = layers.LSTM(2)(d)
    model = graphc.Model(x, y)
    assert [layer_.name for layer_ in model.layers] == [
        x.layer.name,
        e.producer.top[0].name,
        d.producer.top[0].name,
        y.producer.top[0].name,
    ]
    lstm = model.get_config()["layers"][-1]
    assert lstm["inbound_nodes"] == [[d.producer.top[0].name, 0, 0]]  # not the embedding
    assert model.count_params() == 40 + 4 * (4 * 2 + 2 * 2 + 2)


def test_masked_shapes_with_unknown_time_and_batch():
    e = layers.Embedding(10, 4, mask_zero=True)(_tokens())
    assert layers.GRU(3, return_sequences=True)(e).shape == (None, None, 3)
    assert layers.Bidirectional(layers.LSTM(3))(e).shape == (None, 6)
    assert layers.GlobalAveragePooling1D(keepdims=True)(e).shape == (None, 1, 4)


def test_masked_predict_runs_the_mask_from_the_data():
    x = _tokens()
    y = layers.SimpleRNN(2, return_sequences=True)(layers.Embedding(10, 3, mask_zero=True)(x))
    model = graphc.Model(x, y)
    assert "not_equal" in [n.op for n in model.graph.nodes]
    out = model.predict(np.array([[0, 4, 0, 5, 0]]), verbose=0)[0]
    np.testing.assert_array_equal(out[0], 0)  # nothing processed yet: zeros
    np.testing.assert_array_equal(out[2], out[1])  # a masked step repeats the output
    np.testing.assert_array_equal(out[4], out[3])
    assert not np.array_equal(out[3], out[1])


def test_explicit_mask_argument_and_initial_state():
    seq = graphc.Input(shape=(4, 2))
    mask = graphc.Input(shape=(4,), dtype="bool")
    h0 = graphc.Input(shape=(3,))
    y = layers.SimpleRNN(3)(seq, initial_state=h0, mask=mask)
    model = graphc.Model([seq, mask, h0], y)
    rng = np.random.default_rng(0)
    s, h = rng.standard_normal((2, 4, 2)).astype("float32"), np.ones((2, 3), "float32")
    m = np.array([[True, True, False, False], [False] * 4])
    out = model.predict([s, m, h], verbose=0)
    # A fully masked row's last output is zeros (Keras), not its initial state.
    np.testing.assert_array_equal(out[1], 0)


def test_a_model_whose_output_has_a_mask_trains_on_the_valid_steps():
    # The masked loss itself is checked in tests/training/test_masked_outputs.py.
    x = _tokens()
    y = layers.Dense(1)(
        layers.LSTM(2, return_sequences=True)(layers.Embedding(10, 3, mask_zero=True)(x))
    )
    model = graphc.Model(x, y)
    model.compile("adam", "mse")
    # The padded step's target is huge: left out of the loss, it changes nothing.
    a = model.evaluate(np.array([[1, 0]]), np.array([[[0.5], [1e6]]]), verbose=0)
    b = model.evaluate(np.array([[1, 0]]), np.array([[[0.5], [0.0]]]), verbose=0)
    assert a == b
    model.fit(np.array([[1, 0]]), np.zeros((1, 2, 1)), verbose=0)
    assert model.predict(np.array([[1, 0]]), verbose=0).shape == (1, 2, 1)


def test_softmax_with_a_mask_says_so():
    e = layers.Embedding(10, 4, mask_zero=True)(_tokens())
    with pytest.raises(NotImplementedError, match="Softmax"):
        layers.Softmax()(e)
