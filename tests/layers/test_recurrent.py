"""Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional): the harness, numbers against
textbook NumPy loops, weights and initializers, return_state / initial_state, errors,
configs and saving, whole-model float64 gradients, training and ONNX export."""

from __future__ import annotations

import numpy as np
import pytest
from harness import assert_onnx_matches, check_gradients, check_layer

import graphc
from graphc import Input, Model, Sequential, layers
from graphc.errors import ShapeError
from graphc.ops import ExecContext

RNG = np.random.default_rng(0)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _hard_sigmoid(z):
    return np.clip(z + 3, 0, 6) / 6


# ---- textbook references (Keras 3 formulas, one step at a time, float64) ----------------
def ref_simple_rnn(x, w, r, b, act=np.tanh, go_backwards=False, h0=None):
    x = x.astype(np.float64)[:, ::-1] if go_backwards else x.astype(np.float64)
    h = np.zeros((x.shape[0], r.shape[0])) if h0 is None else h0
    seq = []
    for t in range(x.shape[1]):
        h = act(x[:, t] @ w + h @ r + (0 if b is None else b))
        seq.append(h)
    return np.stack(seq, 1), h


def ref_lstm(x, w, r, b, act=np.tanh, rec=_sigmoid, go_backwards=False, h0=None, c0=None):
    x = x.astype(np.float64)[:, ::-1] if go_backwards else x.astype(np.float64)
    u = r.shape[0]
    h = np.zeros((x.shape[0], u)) if h0 is None else h0
    c = np.zeros((x.shape[0], u)) if c0 is None else c0
    seq = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w + h @ r + (0 if b is None else b)
        i, f, g, o = (
            rec(z[:, :u]),
            rec(z[:, u : 2 * u]),
            act(z[:, 2 * u : 3 * u]),
            rec(z[:, 3 * u :]),
        )
        c = f * c + i * g
        h = o * act(c)
        seq.append(h)
    return np.stack(seq, 1), h, c


def ref_gru(x, w, r, b, act=np.tanh, rec=_sigmoid, go_backwards=False, reset_after=True, h0=None):
    x = x.astype(np.float64)[:, ::-1] if go_backwards else x.astype(np.float64)
    u = r.shape[0]
    h = np.zeros((x.shape[0], u)) if h0 is None else h0
    if b is None:
        b_in, b_rec = 0, 0
    else:
        b_in, b_rec = (b[0], b[1]) if reset_after else (b, 0)
    seq = []
    for t in range(x.shape[1]):
        xw = x[:, t] @ w + b_in
        if reset_after:
            hr = h @ r + b_rec
            z = rec(xw[:, :u] + hr[:, :u])
            rr = rec(xw[:, u : 2 * u] + hr[:, u : 2 * u])
            hh = act(xw[:, 2 * u :] + rr * hr[:, 2 * u :])
        else:
            z = rec(xw[:, :u] + h @ r[:, :u])
            rr = rec(xw[:, u : 2 * u] + h @ r[:, u : 2 * u])
            hh = act(xw[:, 2 * u :] + (rr * h) @ r[:, 2 * u :])
        h = z * h + (1 - z) * hh
        seq.append(h)
    return np.stack(seq, 1), h


def _randomize(layer, scale=0.5):
    layer.set_weights(
        [RNG.uniform(-scale, scale, w.shape).astype("float32") for w in layer.get_weights()]
    )
    return [w.astype(np.float64) for w in layer.get_weights()]


# ---- the harness -------------------------------------------------------------------------
HARNESS = [
    (layers.SimpleRNN, {"units": 3}, (None, 5, 4), (None, 3), 4 * 3 + 3 * 3 + 3),
    (
        layers.SimpleRNN,
        {"units": 3, "return_sequences": True, "activation": "relu"},
        (None, 5, 4),
        (None, 5, 3),
        24,
    ),
    (
        layers.SimpleRNN,
        {"units": 2, "use_bias": False, "go_backwards": True},
        (None, None, 4),
        (None, 2),
        12,
    ),
    (layers.LSTM, {"units": 3}, (None, 5, 4), (None, 3), 4 * (4 * 3 + 3 * 3 + 3)),
    (
        layers.LSTM,
        {"units": 3, "return_sequences": True, "go_backwards": True},
        (None, None, 4),
        (None, None, 3),
        96,
    ),
    (
        layers.LSTM,
        {"units": 2, "use_bias": False, "recurrent_activation": "hard_sigmoid"},
        (None, 5, 4),
        (None, 2),
        4 * (4 * 2 + 2 * 2),
    ),
    (layers.GRU, {"units": 3}, (None, 5, 4), (None, 3), 3 * (4 * 3 + 3 * 3) + 2 * 9),
    (
        layers.GRU,
        {"units": 3, "reset_after": False, "return_sequences": True},
        (None, 5, 4),
        (None, 5, 3),
        3 * (4 * 3 + 3 * 3) + 9,
    ),
    (layers.GRU, {"units": 3, "go_backwards": True}, (7, 5, 4), (7, 3), 81),
]


@pytest.mark.parametrize(
    "cls,kwargs,input_shape,expected_shape,params",
    HARNESS,
    ids=[f"{c[0].__name__}{c[1]}" for c in HARNESS],
)
def test_harness(cls, kwargs, input_shape, expected_shape, params):
    r = check_layer(cls, kwargs, input_shape, expected_shape, params)
    weights = _randomize(r.layer)
    y = np.asarray(r.layer(r.x))
    if len(weights) == 2:
        weights.append(None)
    if cls is layers.SimpleRNN:
        act = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[
            kwargs.get("activation", "tanh")
        ]
        seq, h = ref_simple_rnn(
            r.x, *weights, act=act, go_backwards=kwargs.get("go_backwards", False)
        )
    elif cls is layers.LSTM:
        rec = _hard_sigmoid if kwargs.get("recurrent_activation") == "hard_sigmoid" else _sigmoid
        seq, h, _ = ref_lstm(r.x, *weights, rec=rec, go_backwards=kwargs.get("go_backwards", False))
    else:
        seq, h = ref_gru(
            r.x,
            *weights,
            go_backwards=kwargs.get("go_backwards", False),
            reset_after=kwargs.get("reset_after", True),
        )
    want = seq if kwargs.get("return_sequences") else h
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


BIDIRECTIONAL = [
    ({"units": 3, "return_sequences": True}, "concat", (None, 5, 6)),
    ({"units": 3}, "concat", (None, 6)),
    ({"units": 3, "return_sequences": True}, "sum", (None, 5, 3)),
    ({"units": 3}, "mul", (None, 3)),
    ({"units": 3, "return_sequences": True}, "ave", (None, 5, 3)),
]


@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
@pytest.mark.parametrize("inner,merge_mode,expected", BIDIRECTIONAL)
def test_bidirectional_harness_and_numbers(cls, inner, merge_mode, expected):
    one = {layers.SimpleRNN: 24, layers.LSTM: 96, layers.GRU: 81}[cls]
    r = check_layer(
        layers.Bidirectional,
        {"layer": cls(**inner), "merge_mode": merge_mode},
        (None, 5, 4),
        expected,
        2 * one,
    )
    fwd, bwd = r.layer.forward_layer, r.layer.backward_layer
    assert (fwd.go_backwards, bwd.go_backwards) == (False, True)
    assert fwd.name.startswith("forward_") and bwd.name.startswith("backward_")
    # weights: the forward layer's, then the backward layer's (Keras's order)
    assert [p for p in r.layer.weights] == fwd.weights + bwd.weights
    _randomize(r.layer)
    y = np.asarray(r.layer(r.x))
    a, b = np.asarray(fwd(r.x)), np.asarray(bwd(r.x))
    if inner.get("return_sequences"):
        b = b[:, ::-1]
    want = {
        "concat": lambda: np.concatenate([a, b], -1),
        "sum": lambda: a + b,
        "mul": lambda: a * b,
        "ave": lambda: (a + b) / 2,
    }[merge_mode]()
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)


def test_bidirectional_merge_none_and_return_state():
    x = Input((5, 4))
    pair = layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode=None)(x)
    assert [v.shape for v in pair] == [(None, 5, 3), (None, 5, 3)]
    out = layers.Bidirectional(layers.LSTM(3, return_state=True))(x)
    assert [v.shape for v in out] == [(None, 6)] + [(None, 3)] * 4
    out = layers.Bidirectional(layers.LSTM(3, return_state=True), merge_mode=None)(x)
    assert [v.shape for v in out] == [(None, 3)] * 6


def test_bidirectional_custom_backward_layer_and_weights():
    fwd = layers.GRU(2, return_sequences=True)
    bwd = layers.SimpleRNN(2, return_sequences=True, go_backwards=True, name="my_backward")
    layer = layers.Bidirectional(fwd, backward_layer=bwd)
    y = layer(Input((4, 3)))
    assert y.shape == (None, 4, 4)
    assert layer.backward_layer is bwd
    assert [w.shape for w in layer.get_weights()] == [(3, 6), (2, 6), (2, 6), (3, 2), (2, 2), (2,)]
    twin = layers.Bidirectional.from_config(layer.get_config())
    assert type(twin.backward_layer) is layers.SimpleRNN
    assert twin.backward_layer.name == "my_backward"
    weights = [RNG.standard_normal(w.shape).astype("float32") for w in layer.get_weights()]
    given = layers.Bidirectional(
        layers.LSTM(2),
        weights=[RNG.standard_normal(s).astype("f4") for s in [(3, 8), (2, 8), (8,)] * 2],
    )
    given(Input((4, 3)))
    assert len(given.get_weights()) == 6
    layer.set_weights(weights)
    for a, b in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(a, b)


# ---- weights and initializers ------------------------------------------------------------
def test_weight_names_shapes_and_initializers():
    graphc.utils.set_random_seed(3)
    lstm = layers.LSTM(4)
    lstm(Input((6, 5)))
    assert [p.path.split("/")[-1] for p in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    kernel, recurrent, bias = lstm.get_weights()
    assert kernel.shape == (5, 16) and recurrent.shape == (4, 16) and bias.shape == (16,)
    np.testing.assert_array_equal(bias, [0] * 4 + [1] * 4 + [0] * 8)  # unit_forget_bias
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(4), atol=1e-5)  # orthogonal
    limit = np.sqrt(6 / (5 + 16))  # glorot_uniform
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > limit / 2
    plain = layers.LSTM(4, unit_forget_bias=False, bias_initializer="ones")
    plain(Input((6, 5)))
    np.testing.assert_array_equal(plain.get_weights()[2], np.ones(16))
    gru = layers.GRU(4)
    gru(Input((6, 5)))
    assert gru.get_weights()[2].shape == (2, 12)
    assert layers.GRU(4, reset_after=False).compute_output_shape((None, 6, 5)) == (None, 4)


# ---- return_state and initial_state ------------------------------------------------------
def test_return_state_outputs():
    x = RNG.standard_normal((2, 5, 4)).astype("float32")
    layer = layers.LSTM(3, return_state=True, return_sequences=True)
    seq, h, c = layer(x)
    assert seq.shape == (2, 5, 3) and h.shape == c.shape == (2, 3)
    np.testing.assert_array_equal(seq[:, -1], h)
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    _, _, want_c = ref_lstm(x, *weights)
    np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-6)
    out, h = layers.GRU(3, return_state=True)(x)
    np.testing.assert_array_equal(out, h)
    sym = layers.SimpleRNN(2, return_state=True)(Input((5, 4)))
    assert isinstance(sym, tuple) and [v.shape for v in sym] == [(None, 2), (None, 2)]


@pytest.mark.parametrize("go_backwards", [False, True])
def test_initial_state_eager_and_symbolic(go_backwards):
    x = RNG.standard_normal((2, 5, 4)).astype("float32")
    h0, c0 = RNG.standard_normal((2, 2, 3)).astype("float32")
    layer = layers.LSTM(3, return_sequences=True, go_backwards=go_backwards)
    y = layer(x, initial_state=[h0, c0])
    want, _, _ = ref_lstm(
        x,
        *[w.astype(np.float64) for w in layer.get_weights()],
        go_backwards=go_backwards,
        h0=h0,
        c0=c0,
    )
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    xi, hi, ci = Input((5, 4)), Input((3,)), Input((3,))
    model = Model([xi, hi, ci], layer(xi, initial_state=[hi, ci]))
    np.testing.assert_allclose(model.predict([x, h0, c0], verbose=0), y, rtol=1e-6)
    gru = layers.GRU(3, go_backwards=go_backwards)
    gru(x)
    weights = [w.astype(np.float64) for w in gru.get_weights()]
    _, want_h = ref_gru(x, *weights, go_backwards=go_backwards, h0=h0)
    np.testing.assert_allclose(gru(x, initial_state=h0), want_h, rtol=1e-5, atol=1e-6)


# ---- errors ------------------------------------------------------------------------------
def test_argument_errors():
    with pytest.raises(ValueError, match="units"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="units"):
        layers.GRU(2.5)
    with pytest.raises(NotImplementedError, match="stateful"):
        layers.SimpleRNN(3, stateful=True)
    with pytest.raises(NotImplementedError, match="selu"):
        layers.SimpleRNN(3, activation="selu")
    with pytest.raises(ValueError, match="Unknown activation"):
        layers.LSTM(3, recurrent_activation="nope")
    with pytest.raises(TypeError, match="recurrent_activation"):
        layers.SimpleRNN(3, recurrent_activation="sigmoid")
    with pytest.raises(ValueError, match="use_cudnn"):
        layers.LSTM(3, use_cudnn="yes")
    with pytest.raises(ValueError, match="Bidirectional"):
        layers.Bidirectional("lstm")
    with pytest.raises(ValueError, match="merge mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3))
    with pytest.raises(ValueError, match="return_sequences"):
        layers.Bidirectional(
            layers.LSTM(3), backward_layer=layers.LSTM(3, go_backwards=True, return_sequences=True)
        )


def test_shape_errors():
    with pytest.raises(ShapeError, match=r"3-D input .*\(None, 8\)"):
        layers.LSTM(3)(Input((8,)))
    layer = layers.GRU(3)
    layer(Input((5, 4)))
    with pytest.raises(ShapeError, match="4 features"):
        layer(Input((5, 6)))
    with pytest.raises(ValueError, match="initial state"):
        layers.LSTM(3)(Input((5, 4)), initial_state=[Input((3,))])


# ---- configs, Sequential, summary, saving --------------------------------------------------
def test_config_has_keras_keys():
    config = layers.LSTM(4, return_sequences=True).get_config()
    for key in (
        "units",
        "activation",
        "recurrent_activation",
        "use_bias",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "unit_forget_bias",
        "dropout",
        "recurrent_dropout",
        "seed",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "unroll",
    ):
        assert key in config, key
    assert config["recurrent_initializer"]["class_name"] == "Orthogonal"
    assert layers.GRU(2).get_config()["reset_after"] is True
    assert "recurrent_activation" not in layers.SimpleRNN(2).get_config()


def test_sequential_with_input_shape_and_summary():
    model = Sequential(
        [
            layers.Bidirectional(layers.LSTM(8, return_sequences=True), input_shape=(10, 4)),
            layers.GRU(5),
            layers.Dense(1),
        ]
    )
    assert model.output_shape == (None, 1)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 10, 16)" in text and model.layers[0].name in text
    assert f"{2 * 4 * (4 * 8 + 8 * 8 + 8):,}" in text
    keras2 = Sequential(
        [layers.Bidirectional(layers.SimpleRNN(3, input_shape=(6, 2))), layers.Dense(1)]
    )
    assert keras2.output_shape == (None, 1)
    assert model.layers[0].name.startswith("bidirectional")


def test_save_and_load_keep_the_numbers(tmp_path):
    enc_in, dec_in = Input((5, 3)), Input((4, 2))
    _, h, c = layers.LSTM(4, return_state=True)(enc_in)
    dec = layers.LSTM(4, return_sequences=True)(dec_in, initial_state=[h, c])
    dec = layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="ave")(dec)
    model = Model([enc_in, dec_in], layers.Dense(2)(dec))
    xs = [
        RNG.standard_normal((3, 5, 3)).astype("float32"),
        RNG.standard_normal((3, 4, 2)).astype("float32"),
    ]
    path = str(tmp_path / "seq2seq.graphc")
    model.save(path)
    loaded = graphc.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(xs, verbose=0), model.predict(xs, verbose=0), rtol=1e-6
    )
    again = graphc.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(
        again.predict(xs, verbose=0), model.predict(xs, verbose=0), rtol=1e-6
    )


# ---- gradients through whole models, float64 -----------------------------------------------
def test_model_gradients_through_states_and_bidirectional():
    graphc.utils.set_random_seed(5)
    x = Input((4, 3))
    seq, h, c = layers.LSTM(
        2, return_sequences=True, return_state=True, bias_initializer="random_normal"
    )(x)
    g = layers.GRU(2, go_backwards=True, bias_initializer="random_normal")(seq, initial_state=[c])
    b = layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True), merge_mode="mul")(seq)
    r = layers.GRU(2, reset_after=False, return_state=True)(b)
    model = Model(x, [h, g, r[0], r[1], layers.Dense(1)(b)])
    # a random projection of all outputs: some outputs of the recurrent ops are unused,
    # some read twice
    check_gradients(
        model,
        [RNG.standard_normal((2, 4, 3))],
        lambda outs: [RNG.standard_normal(o.shape) for o in outs],
        context=lambda: ExecContext(training=True),
    )


# ---- training and ONNX -------------------------------------------------------------------
def test_training_learns_a_sequence_task():
    graphc.utils.set_random_seed(0)
    x = RNG.standard_normal((256, 8, 2)).astype("float32")
    y = (x[:, :, 0].sum(axis=1, keepdims=True) > 0).astype("float32")
    model = Sequential([Input((8, 2)), layers.GRU(8), layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=graphc.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.85


def _opsets():
    from graphc.backends.onnx.builder import newest_opset

    return sorted({13, 14, newest_opset()})


@pytest.mark.parametrize("opset", _opsets())
def test_onnx_export_uses_onnx_recurrent_operators(opset):
    x = Input((5, 3))
    a = layers.LSTM(4, return_sequences=True, go_backwards=True)(x)
    b = layers.GRU(4, return_sequences=True, recurrent_activation="hard_sigmoid")(a)
    c = layers.Bidirectional(layers.SimpleRNN(3, activation="relu"))(b)
    d = layers.GRU(2, reset_after=False)(b)
    model = Model(x, [c, d])
    proto = graphc.onnx.export(model, opset=opset)
    nodes = {n.op_type: n for n in proto.graph.node if n.op_type in ("LSTM", "GRU", "RNN")}
    assert set(nodes) == {"LSTM", "GRU", "RNN"}
    attrs = {n.name: {a.name: a for a in n.attribute} for n in proto.graph.node}
    lstm = attrs[nodes["LSTM"].name]
    assert lstm["direction"].s == b"reverse"
    assert [s.decode() for s in lstm["activations"].strings] == ["Sigmoid", "Tanh", "Tanh"]
    assert ("layout" in lstm) == (opset >= 14)
    grus = [attrs[n.name] for n in proto.graph.node if n.op_type == "GRU"]
    assert sorted(g["linear_before_reset"].i for g in grus) == [0, 1]
    batches = [RNG.standard_normal((batch, 5, 3)).astype("float32") for batch in (1, 6)]
    assert_onnx_matches(model, batches, proto=proto)
