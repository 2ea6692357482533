"""RNN with cells, ConvLSTM and SpectralNormalization without Keras: shapes, configs,
gradients against central differences, masks on unrolled cells, errors."""

from __future__ import annotations

import numpy as np
import pytest
from harness import check_gradients, check_layer

import graphc
from graphc import Input, Model, layers
from graphc.ops import ExecContext

RNG = np.random.default_rng(0)


class MinimalCell(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight((input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, self.units), name="rk")

    def call(self, inputs, states):
        h = graphc.ops.tanh(
            graphc.ops.matmul(inputs, self.kernel)
            + graphc.ops.matmul(states[0], self.recurrent_kernel)
        )
        return h, [h]


@pytest.mark.parametrize(
    "kwargs,expected,params",
    [
        ({"cell": layers.LSTMCell(3)}, (None, 3), 4 * (2 * 3 + 3 * 3 + 3)),
        (
            {"cell": [layers.GRUCell(3), layers.SimpleRNNCell(2)], "return_sequences": True},
            (None, 4, 2),
            3 * (2 * 3 + 3 * 3) + 2 * 9 + (2 * 3 + 2 * 2 + 2),
        ),
    ],
)
def test_rnn_with_builtin_cells_checks(kwargs, expected, params):
    kwargs = dict(kwargs)
    cell = kwargs.pop("cell")
    layer = layers.RNN(cell, **kwargs)
    y = layer(Input((4, 2)))
    assert y.shape == expected
    assert layer.count_params() == params
    config = layer.get_config()
    again = layers.RNN.from_config(config)
    assert again.get_config()["cell"]["class_name"] == config["cell"]["class_name"]
    again(Input((4, 2)))
    again.set_weights(layer.get_weights())
    data = RNG.standard_normal((2, 4, 2)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(data)), np.asarray(layer(data)), atol=1e-6)


def test_conv_lstm_layer_checks():
    check_layer(
        layers.ConvLSTM1D,
        {"filters": 2, "kernel_size": 2, "return_sequences": True},
        (None, 3, 5, 2),
        (None, 3, 4, 2),
        2 * 2 * 8 + 2 * 2 * 8 + 8,
    )
    check_layer(
        layers.ConvLSTM2D,
        {"filters": 2, "kernel_size": 3, "padding": "same", "strides": 2},
        (None, 2, 4, 4, 1),
        (None, 2, 2, 2),
        9 * 1 * 8 + 9 * 2 * 8 + 8,
    )


def test_user_cell_gradients_with_mask():
    x = Input((4, 3))
    m = Input((4,), dtype="bool")
    y = layers.RNN(MinimalCell(2), return_sequences=True, go_backwards=True)(x, mask=m)
    model = Model([x, m], layers.Dense(1)(y))
    mask = np.ones((2, 4), bool)
    mask[0, 2:] = False
    check_gradients(
        model,
        [RNG.standard_normal((2, 4, 3)), mask],
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
    )


@pytest.mark.slow
def test_conv_lstm_gradients():
    graphc.utils.set_random_seed(3)
    x = Input((3, 4, 2))
    y = layers.ConvLSTM1D(2, 2, bias_initializer="random_normal", return_sequences=True)(x)
    model = Model(x, y)
    check_gradients(
        model,
        [RNG.standard_normal((2, 3, 4, 2))],
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
        context=lambda: ExecContext(training=True),
    )


@pytest.mark.slow
def test_spectral_normalization_inference_gradients_and_export():
    x = Input((3,))
    y = layers.SpectralNormalization(layers.Dense(2))(x)
    model = Model(x, y)
    check_gradients(
        model,
        [RNG.standard_normal((4, 3))],
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
    )
    data = RNG.standard_normal((4, 3)).astype("float32")
    runtime = graphc.onnx.Runtime(graphc.onnx.export(model))
    np.testing.assert_allclose(runtime.predict(data), model.predict(data, verbose=0), atol=1e-6)


def test_spectral_normalization_training_normalizes_the_kernel():
    layer = layers.SpectralNormalization(layers.Dense(3), power_iterations=30)
    data = RNG.standard_normal((5, 4)).astype("float32")
    layer(data)
    layer(data, training=True)
    sigma = np.linalg.svd(layer.layer.kernel.data, compute_uv=False)[0]
    assert abs(sigma - 1) < 1e-4


def test_stateful_and_bad_cells_are_refused():
    with pytest.raises(NotImplementedError, match="stateful=True"):
        layers.RNN(layers.LSTMCell(2), stateful=True)
    with pytest.raises(ValueError, match="state_size"):
        layers.RNN(layers.Dense(2))
    with pytest.raises(NotImplementedError, match="dropout"):
        layers.LSTMCell(2, dropout=0.5)(np.zeros((1, 3), "float32"), [np.zeros((1, 2))] * 2)


def test_builtin_cell_dropout_trains_and_is_off_in_inference():
    graphc.utils.set_random_seed(1)
    x = RNG.standard_normal((8, 4, 2)).astype("float32")
    model = graphc.Sequential(
        [
            Input((4, 2)),
            layers.RNN([layers.LSTMCell(3, dropout=0.3, recurrent_dropout=0.3), layers.GRUCell(2)]),
            layers.Dense(1),
        ]
    )
    model.compile("adam", "mse")
    model.fit(x, np.ones((8, 1), "float32"), epochs=1, verbose=0)
    a = model.predict(x, verbose=0)
    np.testing.assert_array_equal(a, model.predict(x, verbose=0))
    assert not np.allclose(np.asarray(model(x, training=True)), a)
