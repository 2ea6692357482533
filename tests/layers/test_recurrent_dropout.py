"""``dropout`` / ``recurrent_dropout`` of SimpleRNN, LSTM, GRU and Bidirectional (Keras 3
semantics): inference and export unchanged, one input and one recurrent mask per call
shared by every step (checked by construction with linear SimpleRNNs), the rates, float64
gradients with the masks held fixed, configs and the rates' clipping, and the book's
``Bidirectional(LSTM(16, recurrent_dropout=0.5))`` training and exporting."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_gradients, check_layer

import graphc
from graphc import Input, Model, Sequential, layers, ops
from graphc.backends.numpy import Executor
from graphc.errors import ShapeError
from graphc.ops import ExecContext

RNG = np.random.default_rng(0)

# name -> f(**dropout arguments) making the layer; the same names for both twins, so the
# exports can be compared node for node
MAKERS = {
    "simple_rnn": lambda **kw: layers.SimpleRNN(4, return_sequences=True, name="r", **kw),
    "lstm": lambda **kw: layers.LSTM(4, name="r", **kw),
    "gru": lambda **kw: layers.GRU(4, return_sequences=True, name="r", **kw),
    "gru_reset_before": lambda **kw: layers.GRU(
        4, reset_after=False, go_backwards=True, name="r", **kw
    ),
    "bidirectional_lstm": lambda **kw: layers.Bidirectional(layers.LSTM(3, **kw), name="r"),
}
RATES = {"dropout": 0.3, "recurrent_dropout": 0.4}


def _twins(make, rates=RATES, mask_zero=False):
    """A model with dropout and the same model without it, sharing the weights."""
    models = []
    for kw in (rates, {}):
        graphc.utils.set_random_seed(3)
        x = Input((5,), dtype="int32", name="x") if mask_zero else Input((5, 3), name="x")
        h = layers.Embedding(6, 3, mask_zero=True, name="e")(x) if mask_zero else x
        models.append(Model(x, layers.Dense(2, name="d")(make(**kw)(h))))
    models[1].set_weights(models[0].get_weights())
    return models


def _train_forward(model, x, seed=0):
    """The model's outputs in training mode (what fit runs), masks drawn from ``seed``."""
    ctx = ExecContext(training=True, rng=np.random.default_rng(seed))
    return Executor(model.graph).forward([x], ctx)


def _data(mask_zero=False, n=6):
    if mask_zero:
        x = RNG.integers(1, 6, (n, 5))
        x[:, 3:] = 0
        return x
    return RNG.standard_normal((n, 5, 3)).astype("float32")


# ---- inference and export are the plain layer's ----------------------------------------
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_inference_equals_the_layer_without_dropout(name):
    mask_zero = name == "lstm"
    drop, plain = _twins(MAKERS[name], mask_zero=mask_zero)
    x = _data(mask_zero)
    np.testing.assert_array_equal(drop.predict(x, verbose=0), plain.predict(x, verbose=0))
    np.testing.assert_array_equal(np.asarray(drop(x)), np.asarray(plain(x)))
    y = RNG.standard_normal((len(x),) + drop.output_shape[1:]).astype("float32")
    for m in (drop, plain):
        m.compile(optimizer="sgd", loss="mse")
    assert drop.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    # ... while training mode drops
    assert not np.allclose(_train_forward(drop, x)[0], _train_forward(plain, x)[0])


def _canonical(graph):
    """An ONNX graph with its tensor names replaced by their order of appearance (weight
    names carry per-process counters)."""
    import onnx

    names: dict = {}

    def name(n):
        return names.setdefault(n, f"t{len(names)}") if n else n

    inits = [
        (name(t.name), onnx.numpy_helper.to_array(t).tobytes(), tuple(t.dims))
        for t in graph.initializer
    ]
    nodes = [
        (
            n.op_type,
            [name(i) for i in n.input],
            [name(o) for o in n.output],
            [a.SerializeToString() for a in n.attribute],
        )
        for n in graph.node
    ]
    io = [(name(v.name), v.type.SerializeToString()) for v in (*graph.input, *graph.output)]
    return inits, nodes, io


@pytest.mark.parametrize("optimize", [True, False])
@pytest.mark.parametrize("name", sorted(MAKERS))
def test_onnx_export_equals_the_export_without_dropout(name, optimize):
    drop, plain = _twins(MAKERS[name], mask_zero=name == "lstm")
    a = graphc.onnx.export(drop, optimize=optimize)
    b = graphc.onnx.export(plain, optimize=optimize)
    assert _canonical(a.graph) == _canonical(b.graph)
    assert any(n.op_type in ("RNN", "LSTM", "GRU") for n in a.graph.node)


def test_inference_mode_pass_strips_the_dropout():
    from passes.export import InferenceMode

    drop, plain = _twins(MAKERS["bidirectional_lstm"])
    graph = drop.graph.clone()
    result = InferenceMode().run(graph)
    assert result.changed and "removed the dropout of 2 lstm node(s)" in result.reason
    assert [(n.op, n.attrs) for n in graph.nodes] == [(n.op, n.attrs) for n in plain.graph.nodes]
    # the recurrent outputs keep their names; the masks are gone
    for old, new in zip(drop.graph.nodes[:2], graph.nodes[:2]):
        assert [v.name for v in new.outputs] == [v.name for v in old.outputs[:3]]
        assert len(old.outputs) == 5
    # the model's own graph keeps its dropout
    assert drop.graph.nodes[0].attrs["recurrent_dropout"] == 0.4


# ---- masks: once per call, shared by every step -----------------------------------------
def _linear_rnn(units, kernel, recurrent_kernel, **kw):
    layer = layers.SimpleRNN(
        units, activation="linear", use_bias=False, return_sequences=True, **kw
    )
    layer.build((None, None, kernel.shape[0]))
    layer.built = True
    layer.set_weights([kernel, recurrent_kernel])
    return layer


def test_input_mask_is_drawn_per_call_and_shared_by_the_steps():
    # kernel I, recurrent kernel 0: h_t = x_t * mask, so with x = 1 every step shows the mask
    graphc.utils.set_random_seed(1)
    layer = _linear_rnn(8, np.eye(8, dtype="float32"), np.zeros((8, 8), "float32"), dropout=0.5)
    x = np.ones((16, 6, 8), "float32")
    y = np.asarray(layer(x, training=True))
    mask = y[:, 0]
    assert set(np.unique(mask)) == {0.0, 2.0}  # inverted dropout: kept values times 1/(1-rate)
    np.testing.assert_array_equal(y, np.repeat(mask[:, None], 6, axis=1))
    assert len({tuple(row) for row in mask}) > 1  # per sample, not one for the batch
    again = np.asarray(layer(x, training=True))[:, 0]
    assert not np.array_equal(again, mask)  # a new mask for the next batch
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # inference: no dropout


def test_recurrent_mask_is_drawn_per_call_and_shared_by_the_steps():
    # kernel I, recurrent kernel I, input only at step 0: h_t = h_0 * mask ** t
    graphc.utils.set_random_seed(2)
    layer = _linear_rnn(
        8, np.eye(8, dtype="float32"), np.eye(8, dtype="float32"), recurrent_dropout=0.5
    )
    x = np.zeros((16, 5, 8), "float32")
    x[:, 0] = 1
    y = np.asarray(layer(x, training=True))
    mask = y[:, 1]
    assert set(np.unique(mask)) == {0.0, 2.0}
    for t in range(5):
        np.testing.assert_array_equal(y[:, t], mask**t)


def test_rates():
    graphc.utils.set_random_seed(4)
    n, f = 400, 50
    x = np.ones((n, 2, f), "float32")
    eye = np.eye(f, dtype="float32")
    y = np.asarray(_linear_rnn(f, eye, np.zeros((f, f), "float32"), dropout=0.3)(x, training=True))
    assert abs((y[:, 0] == 0).mean() - 0.3) < 0.02
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    x[:, 1] = 0
    y = np.asarray(_linear_rnn(f, eye, eye, recurrent_dropout=0.8)(x, training=True))
    assert abs((y[:, 1] == 0).mean() - 0.8) < 0.02
    np.testing.assert_allclose(y[:, 1][y[:, 1] != 0], 5.0, rtol=1e-6)


def test_rate_one():
    x = RNG.standard_normal((3, 4, 2)).astype("float32")
    # SimpleRNN drops everything (Keras's dropout at rate 1 gives zeros) ...
    layer = _linear_rnn(2, np.eye(2, dtype="float32"), np.eye(2, dtype="float32"), dropout=1.0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), 0)
    # ... LSTM and GRU apply masks only for 0 < rate < 1
    for cls in (layers.LSTM, layers.GRU):
        layer = cls(3, dropout=1.0, recurrent_dropout=1.0)
        np.testing.assert_array_equal(np.asarray(layer(x, training=True)), np.asarray(layer(x)))


def test_lstm_and_gru_draw_one_mask_per_gate_with_recurrent_dropout():
    """Keras's cells switch to implementation 1 (a mask per gate, inputs too) when
    recurrent_dropout is set; with dropout alone one input mask serves every gate."""
    x = Input((5, 3))
    for cls, gates in ((layers.LSTM, 4), (layers.GRU, 3)):
        for kw, k in (
            ({"dropout": 0.2}, 1),
            ({"recurrent_dropout": 0.2}, gates),
            ({"dropout": 0.2, "recurrent_dropout": 0.2}, gates),
        ):
            cls(4, **kw)(x)
            node = x.uses[-1]
            assert [v.shape for v in node.outputs[-2:]] == [(k, None, 3), (k, None, 4)]
    layers.SimpleRNN(4, recurrent_dropout=0.2)(x)
    assert [v.shape for v in x.uses[-1].outputs[-2:]] == [(1, None, 3), (1, None, 4)]


def test_training_false_records_the_plain_op():
    x = Input((5, 3))
    layers.GRU(4, dropout=0.5)(x, training=False)
    node = x.uses[-1]
    assert "dropout" not in node.attrs and len(node.outputs) == 2


def test_bidirectional_directions_draw_their_own_masks():
    graphc.utils.set_random_seed(6)
    x = Input((5, 3))
    model = Model(x, layers.Bidirectional(layers.SimpleRNN(8, dropout=0.5), merge_mode=None)(x))
    fwd, bwd = model.layers[1].forward_layer, model.layers[1].backward_layer
    bwd.set_weights(fwd.get_weights())
    xs = np.ones((4, 5, 3), "float32")  # the same input both ways
    a, b = _train_forward(model, xs)
    assert not np.allclose(a, b)
    a, b = model.predict(xs, verbose=0)
    np.testing.assert_allclose(a, b, rtol=1e-6)


# ---- gradients, float64, masks held fixed -----------------------------------------------
@pytest.mark.slow
def test_model_gradients_with_fixed_masks():
    graphc.utils.set_random_seed(5)
    x = Input((4, 3))
    seq = layers.LSTM(
        2,
        return_sequences=True,
        dropout=0.3,
        recurrent_dropout=0.4,
        bias_initializer="random_normal",
    )(x)
    g = layers.GRU(2, dropout=0.5, go_backwards=True, bias_initializer="random_normal")(seq)
    b = layers.Bidirectional(
        layers.GRU(2, reset_after=False, recurrent_dropout=0.5, return_sequences=True)
    )(seq)
    s = layers.SimpleRNN(2, dropout=0.2, recurrent_dropout=0.3)(b)
    model = Model(x, [g, s])
    ex = Executor(model.graph, model.trainable_weights)
    base = {p: p.data.astype(np.float64) for p in model.weights}
    xs = [RNG.standard_normal((3, 4, 3))]

    def ctx():  # the same masks at every evaluation
        return ExecContext(training=True, rng=np.random.default_rng(7))

    outs = ex.forward(xs, ctx(), leaf_values=base)
    plain = ex.forward(xs, ExecContext(training=False), leaf_values=base)
    assert not np.allclose(outs[1], plain[1])  # the masks are in play
    check_gradients(
        model,
        xs,
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
        leaf_values=base,
        context=ctx,
    )


# ---- configs and arguments --------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,kwargs,params",
    [
        (layers.SimpleRNN, {"units": 3, "dropout": 0.2, "recurrent_dropout": 0.1}, 24),
        (layers.LSTM, {"units": 3, "recurrent_dropout": 0.25}, 96),
        (layers.GRU, {"units": 3, "dropout": 0.5, "reset_after": False}, 72),
    ],
)
def test_harness_and_config(cls, kwargs, params):
    checked = check_layer(cls, kwargs, (None, 5, 4), (None, 3), params)
    config = checked.layer.get_config()
    assert config["dropout"] == kwargs.get("dropout", 0.0)
    assert config["recurrent_dropout"] == kwargs.get("recurrent_dropout", 0.0)


def test_bidirectional_config_round_trip():
    layer = layers.Bidirectional(layers.LSTM(16, recurrent_dropout=0.5))
    twin = layers.Bidirectional.from_config(layer.get_config())
    assert twin.forward_layer.recurrent_dropout == 0.5
    assert twin.backward_layer.recurrent_dropout == 0.5
    assert twin.get_config() == layer.get_config()


def test_rates_are_clipped_as_keras_does():
    layer = layers.LSTM(3, dropout=-0.5, recurrent_dropout=1.5)
    assert (layer.dropout, layer.recurrent_dropout) == (0.0, 1.0)
    assert layers.SimpleRNN(3, dropout=1).get_config()["dropout"] == 1.0
    with pytest.raises(TypeError, match="not supported between"):
        layers.GRU(3, dropout="0.5")


def test_op_rejects_rates_outside_0_1():
    x = Input((5, 3))
    w, r = np.zeros((3, 4), "float32"), np.zeros((1, 4), "float32")
    with pytest.raises(ShapeError, match=r"recurrent_dropout must be in \[0, 1\], got 1.5"):
        ops.simple_rnn(x, w[:, :1], r[:, :1], recurrent_dropout=1.5)
    with pytest.raises(ShapeError, match=r"dropout must be in \[0, 1\], got -0.1"):
        ops.lstm(x, w, r, dropout=-0.1)


# ---- Deep Learning with Python, ch. 10 ----------------------------------------------------
def test_book_bidirectional_lstm_with_recurrent_dropout_trains_and_exports():
    graphc.utils.set_random_seed(0)
    x = RNG.standard_normal((96, 12, 4)).astype("float32")
    y = x[:, :, :2].sum(axis=(1, 2))[:, None].astype("float32") / 4
    inputs = Input((12, 4))
    h = layers.Bidirectional(layers.LSTM(16, recurrent_dropout=0.5))(inputs)
    h = layers.Dropout(0.5)(h)
    model = Model(inputs, layers.Dense(1)(h))
    model.compile(optimizer=graphc.optimizers.RMSprop(0.01), loss="mse")
    loss = model.fit(x, y, epochs=8, batch_size=32, verbose=0).history["loss"]
    assert loss[-1] < 0.6 * loss[0]
    assert_onnx_matches(model, [x[:7]])


def test_book_lstm_with_recurrent_dropout_in_sequential():
    model = Sequential(
        [
            Input((None, 14)),
            layers.LSTM(32, recurrent_dropout=0.25),
            layers.Dropout(0.5),
            layers.Dense(1),
        ]
    )
    x = RNG.standard_normal((4, 9, 14)).astype("float32")
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    assert model.count_params() == 4 * (14 * 32 + 32 * 32 + 32) + 33
