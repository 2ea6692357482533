"""RNN over user cells and ConvLSTM on sequences of unknown length (``Input((None, f))``):
the step is recorded once as the body of a ``scan`` node. Against the unrolled graph of
the same layer on a known length (the same numbers), gradients against central
differences, fit, ONNX (``Scan``) in onnxruntime, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_gradients, randomize_weights
from test_rnn_cells import MinimalCell

import graphc
from graphc import Input, Model, layers
from graphc.errors import ShapeError
from graphc.ops import ExecContext

RNG = np.random.default_rng(0)
T = 5


def _ops(model):
    return [n.op for n in model.graph.nodes]


def _pair(build):
    """The model on unknown and on known length, with the same weights."""
    scanned = build(None)
    unrolled = build(T)
    randomize_weights(scanned)
    unrolled.set_weights(scanned.get_weights())
    assert "scan" in _ops(scanned) and "scan" not in _ops(unrolled)
    return scanned, unrolled


def _flat(x):
    if isinstance(x, (list, tuple)):
        return [a for item in x for a in _flat(item)]
    return [x]


def _assert_same(a, b, xs, atol=1e-6):
    for p, q in zip(_flat(a.predict(xs, verbose=0)), _flat(b.predict(xs, verbose=0))):
        np.testing.assert_allclose(p, q, rtol=0, atol=atol)


def _padded(n=4, f=3):
    x = RNG.standard_normal((n, T, f)).astype("float32")
    x[0, 3:] = 0  # padded at the end
    x[1, :2] = 0  # at the start
    x[2, 2] = 0  # a hole
    return x


class TwoStateCell(layers.Layer):
    """Two states of different sizes; the output is not a state."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, 2]
        self.output_size = units

    def build(self, input_shape):
        self.w = self.add_weight((input_shape[-1], self.units), name="w")
        self.u = self.add_weight((2, self.units), name="u")

    def call(self, inputs, states):
        h, s = states
        ops = graphc.ops
        out = ops.sigmoid(ops.matmul(inputs, self.w) + ops.matmul(s, self.u))
        out = out * h + out
        return out * 2.0, [out, s + inputs[:, :2]]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


OPTIONS = [
    {},
    {"return_sequences": True},
    {"go_backwards": True, "return_sequences": True},
    {"return_state": True},
    {"go_backwards": True, "return_state": True, "return_sequences": True},
]


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("options", OPTIONS)
def test_user_cell_matches_the_unrolled_graph(options, masked):
    def build(t):
        x = Input((t, 3))
        y = layers.Masking()(x) if masked else x
        return Model(x, layers.RNN(MinimalCell(4), **options)(y))

    scanned, unrolled = _pair(build)
    _assert_same(scanned, unrolled, _padded())


@pytest.mark.parametrize("zero_output", [False, True])
def test_stacked_user_cells_with_mask_match(zero_output):
    def build(t):
        x = Input((t, 3))
        cells = [MinimalCell(4), TwoStateCell(3)]
        rnn = layers.RNN(
            cells, return_sequences=True, return_state=True, zero_output_for_mask=zero_output
        )
        return Model(x, rnn(layers.Masking()(x)))

    scanned, unrolled = _pair(build)
    _assert_same(scanned, unrolled, _padded())


def test_initial_state_and_varying_lengths():
    def build(t):
        x, h0 = Input((t, 3)), Input((4,))
        return Model(
            [x, h0], layers.RNN(MinimalCell(4), return_sequences=True)(x, initial_state=h0)
        )

    scanned, unrolled = _pair(build)
    h0 = RNG.standard_normal((4, 4)).astype("float32")
    _assert_same(scanned, unrolled, [_padded(), h0])
    for t in (1, 2, 9):  # one graph for every length
        out = scanned.predict([RNG.standard_normal((4, t, 3)).astype("float32"), h0], verbose=0)
        assert out.shape == (4, t, 4)


@pytest.mark.parametrize("cls,shape", [("ConvLSTM1D", (6, 2)), ("ConvLSTM2D", (4, 4, 2))])
def test_conv_lstm_matches_the_unrolled_graph(cls, shape):
    def build(t):
        x = Input((t, *shape))
        layer = getattr(layers, cls)(
            3, 3, padding="same", return_sequences=True, return_state=True, go_backwards=True
        )
        return Model(x, layer(x))

    scanned, unrolled = _pair(build)
    _assert_same(scanned, unrolled, RNG.standard_normal((2, T, *shape)).astype("float32"))


def test_gradients_against_central_differences():
    x = Input((None, 3))
    m = Input((None,), dtype="bool")
    y = layers.RNN(TwoStateCell(2), return_sequences=True, go_backwards=True)(x, mask=m)
    model = Model([x, m], layers.Dense(1)(y))
    randomize_weights(model)
    mask = np.ones((2, 4), bool)
    mask[0, 2:] = False
    mask[1, 1] = False
    check_gradients(
        model,
        [RNG.standard_normal((2, 4, 3)), mask],
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
    )


def test_conv_lstm_gradients_against_central_differences():
    graphc.utils.set_random_seed(3)
    x = Input((None, 4, 2))
    y = layers.ConvLSTM1D(2, 2, bias_initializer="random_normal")(x)
    model = Model(x, y)
    check_gradients(
        model,
        [RNG.standard_normal((2, 3, 4, 2))],
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
        context=lambda: ExecContext(training=True),
    )


def test_fit_on_unknown_length_trains_as_the_unrolled_graph():
    def build(t):
        x = Input((t, 3))
        y = layers.RNN([MinimalCell(4), TwoStateCell(3)])(layers.Masking()(x))
        model = Model(x, layers.Dense(1)(y))
        model.compile(optimizer="adam", loss="mse")
        return model

    scanned, unrolled = _pair(build)
    x, y = _padded(8), RNG.standard_normal((8, 1)).astype("float32")
    h1 = scanned.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    h2 = unrolled.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-6)
    assert h1[-1] < h1[0]
    _assert_same(scanned, unrolled, x)
    # and another length, in the same model
    longer = RNG.standard_normal((8, 9, 3)).astype("float32")
    assert scanned.fit(longer, y, epochs=1, verbose=0).history["loss"][0] > 0


def test_conv_lstm_dropout_draws_as_the_unrolled_graph():
    def build(t):
        graphc.utils.set_random_seed(5)
        x = Input((t, 4, 2))
        y = layers.ConvLSTM1D(2, 2, dropout=0.3, recurrent_dropout=0.3)(x)
        model = Model(x, layers.Dense(1)(layers.Flatten()(y)))
        model.compile(optimizer="sgd", loss="mse")
        return model

    data = RNG.standard_normal((4, T, 4, 2)).astype("float32")
    target = RNG.standard_normal((4, 1)).astype("float32")
    losses = []
    for t in (None, T):
        model = build(t)
        graphc.utils.set_random_seed(7)
        losses.append(model.fit(data, target, epochs=2, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


@pytest.mark.parametrize("options", [{}, {"return_sequences": True, "go_backwards": True}])
def test_onnx_export_runs_in_onnxruntime(options):
    x = Input((None, 3))
    y = layers.RNN([MinimalCell(4), TwoStateCell(3)], **options)(layers.Masking()(x))
    model = Model(x, y)
    randomize_weights(model)
    proto = graphc.onnx.export(model)
    assert "Scan" in [n.op_type for n in proto.graph.node]
    assert_onnx_matches(model, [_padded(), RNG.standard_normal((3, 8, 3)).astype("float32")])


def test_conv_lstm_onnx_export():
    x = Input((None, 5, 2))
    model = Model(x, layers.ConvLSTM1D(3, 3, return_sequences=True, return_state=True)(x))
    randomize_weights(model)
    batches = [RNG.standard_normal((2, t, 5, 2)).astype("float32") for t in (4, 2)]
    assert_onnx_matches(model, batches)


def test_saved_model_keeps_unknown_length(tmp_path):
    x = Input((None, 3))
    model = Model(x, layers.RNN(TwoStateCell(4), return_sequences=True)(x))
    randomize_weights(model)
    path = str(tmp_path / "m.keras")
    model.save(path)
    back = graphc.saving.load_model(path, custom_objects={"TwoStateCell": TwoStateCell})
    assert "scan" in _ops(back)
    data = RNG.standard_normal((2, 7, 3)).astype("float32")
    np.testing.assert_allclose(back.predict(data, verbose=0), model.predict(data, verbose=0))


def test_a_cell_changing_its_state_shape_is_refused():
    class Bad(MinimalCell):
        def call(self, inputs, states):
            h, _ = super().call(inputs, states)
            return h, [graphc.ops.concatenate([h, h], axis=-1)]

    with pytest.raises(ShapeError, match=r"changed a carried state from \(None, 2\) float32"):
        layers.RNN(Bad(2))(Input((None, 3)))


def test_vjp_recomputes_when_the_tape_lacks_a_gradient():
    """The training forward records its tape for the gradients the last VJP wanted; a VJP
    wanting more (here the sequence's) runs the forward again, with the same result."""
    from graphc.ops import get_op

    x = Input((None, 3))
    model = Model(x, layers.RNN(TwoStateCell(2), return_sequences=True)(x))
    randomize_weights(model)
    node = next(n for n in model.graph.nodes if n.op == "scan")
    op = get_op("scan")
    n_in = len(node.inputs)
    xs = [RNG.standard_normal(s) for s in ((2, 2), (2, 2), (2, 3, 3))]
    xs += [p.data.astype(np.float64) for p in node.inputs[3:]]
    all_needed = (True,) * n_in
    weights_only = (False,) * 3 + (True,) * (n_in - 3)

    def vjp(needs, training):
        ys = op.run(node.attrs, xs, ExecContext(training=training))
        gys = [np.ones_like(y) for y in ys]
        return op.vjp(node.attrs, xs, ys, gys, needs=needs, out=(None,) * n_in)

    reference = vjp(all_needed, training=False)  # no tape: the forward runs again
    vjp(weights_only, training=True)  # the next tape records the weights' gradients only
    for got, want in zip(vjp(all_needed, training=True), reference):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(vjp(weights_only, training=True)[3:], reference[3:]):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_long_known_lengths_scan_unless_unroll():
    long = layers.RNN.SCAN_ABOVE_STEPS + 1

    def ops_of(t, **kwargs):
        x = Input((t, 3))
        return _ops(Model(x, layers.RNN(MinimalCell(2), **kwargs)(x)))

    assert "scan" not in ops_of(layers.RNN.SCAN_ABOVE_STEPS)
    assert ops_of(long).count("scan") == 1
    assert "scan" not in ops_of(long, unroll=True)
    assert "scan" in ops_of(None, unroll=True)  # nothing to unroll over


def test_long_known_length_matches_the_unrolled_graph():
    def build(unroll):
        x = Input((40, 3))
        y = layers.RNN(MinimalCell(3), return_sequences=True, unroll=unroll)(layers.Masking()(x))
        return Model(x, y)

    scanned, unrolled = build(False), build(True)
    randomize_weights(scanned)
    unrolled.set_weights(scanned.get_weights())
    data = RNG.standard_normal((3, 40, 3)).astype("float32")
    data[0, 30:] = 0
    _assert_same(scanned, unrolled, data)


def test_cell_penalties_unroll_or_are_refused():
    class Penalised(MinimalCell):
        def call(self, inputs, states):
            h, new = super().call(inputs, states)
            self.add_loss(graphc.ops.mean(h))
            return h, new

    regularized = MinimalCell(2, activity_regularizer="l2")
    x = Input((layers.RNN.SCAN_ABOVE_STEPS + 2, 3))
    assert "scan" not in _ops(Model(x, layers.RNN(regularized)(x)))  # a known length unrolls
    penalised = Penalised(2)
    assert "scan" not in _ops(Model(x, layers.RNN(penalised)(x)))
    assert len(penalised._symbolic_losses) == layers.RNN.SCAN_ABOVE_STEPS + 2  # one a step
    for cell, what in ((MinimalCell(2, activity_regularizer="l2"), "activity_regularizer"),
                       (Penalised(2), "calls add_loss")):  # fmt: skip
        with pytest.raises(NotImplementedError, match=f"{what}.*fixed number of time steps"):
            layers.RNN(cell)(Input((None, 3)))


def test_freezing_a_batch_norm_inside_the_cell_takes_effect():
    class NormedCell(MinimalCell):
        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.norm = layers.BatchNormalization(center=False, scale=False)  # no weights

        def build(self, input_shape):
            super().build(input_shape)
            self.norm.build((None, self.units))

        def call(self, inputs, states, training=None):
            h, _ = super().call(inputs, states)
            h = self.norm(h, training=training)
            return h, [h]

    cell = NormedCell(2)
    x = Input((None, 3))
    model = Model(x, layers.Dense(1)(layers.RNN(cell)(x)))
    model.compile(optimizer="sgd", loss="mse")
    data, target = _padded(), RNG.standard_normal((4, 1)).astype("float32")
    model.fit(data, target, epochs=2, verbose=0)  # the body's executors are made
    moved = cell.norm.moving_mean.numpy()
    assert np.abs(moved).max() > 0
    cell.norm.trainable = False
    model.fit(data, target, epochs=1, verbose=0)
    np.testing.assert_array_equal(cell.norm.moving_mean.numpy(), moved)
