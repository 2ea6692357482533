"""``graphc.ops.scan`` and ``fori_loop`` on symbolic tensors: one ``scan`` node whose body
is the step recorded once (``graphc/ops/control_flow.py``, time axis 0), so the leading
length may be unknown. Checked against the eager Python loop on the same inputs, trained,
exported to onnxruntime, and its refusals."""

import numpy as np
import pytest

import graphc
from graphc import layers, ops
from graphc.errors import ArgumentTypeError, ArgumentValueError, ShapeError

RNG = np.random.default_rng(0)
N, F, U = 3, 4, 5


def _ops_in(model):
    return [n.op for n in model.graph.nodes]


class ScanRNN(layers.Layer):
    """A tanh RNN written with ``ops.scan`` over a time-major copy of ``(batch, time, F)``;
    the carry is a pytree ``(h, running sum)``, xs a dict, ys a list and a tensor."""

    def __init__(self, reverse=False, **kwargs):
        super().__init__(**kwargs)
        self.reverse = reverse

    def get_config(self):
        return {**super().get_config(), "reverse": self.reverse}

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], U), initializer="glorot_uniform")
        self.u = self.add_weight(shape=(U, U), initializer="orthogonal")

    def call(self, x):
        xs = {"x": ops.transpose(x, (1, 0, 2)), "sq": ops.transpose(ops.square(x), (1, 0, 2))}
        h0 = ops.matmul(ops.zeros_like(xs["x"][0]), self.w)  # (batch, U)

        def step(carry, inp):
            h, total = carry
            h = ops.tanh(ops.matmul(inp["x"] + 0.1 * inp["sq"], self.w) + ops.matmul(h, self.u))
            return (h, total + ops.sum(h, axis=-1)), [h, ops.mean(inp["x"], axis=-1)]

        init = (h0, ops.sum(h0, axis=-1))
        (h, total), ys = ops.scan(step, init, xs, reverse=self.reverse)
        hs = ops.transpose(ys[0], (1, 0, 2))
        return h, total, hs, ops.transpose(ys[1])


def _scan_model(reverse):
    inp = graphc.Input(shape=(None, F))
    layer = ScanRNN(reverse=reverse)
    return graphc.Model(inp, list(layer(inp))), layer


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_pytree_matches_eager_on_unknown_lengths(reverse):
    model, layer = _scan_model(reverse)
    assert _ops_in(model).count("scan") == 1
    for steps in (1, 4, 9):
        x = RNG.standard_normal((N, steps, F)).astype("float32")
        got = model.predict(x, verbose=0)
        want = layer(x)  # arrays: the eager Python loop
        assert [g.shape for g in got] == [(N, U), (N,), (N, steps, U), (N, steps)]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_scan_reverse_keeps_outputs_in_input_order():
    """Keras's reverse: ``ys[t]`` comes from ``xs[t]`` (the carry runs from the end)."""
    inp = graphc.Input(shape=(None,))
    xs = ops.transpose(inp)  # (time, batch)
    carry, ys = ops.scan(lambda c, x: (c + x, c + x), ops.zeros_like(xs[0]), xs, reverse=True)
    model = graphc.Model(inp, [carry, ops.transpose(ys)])
    x = np.arange(8, dtype="float32").reshape(2, 4)
    c, y = model.predict(x, verbose=0)
    np.testing.assert_array_equal(y, np.cumsum(x[:, ::-1], axis=1)[:, ::-1])
    np.testing.assert_array_equal(c, x.sum(1))


def test_scan_without_xs_and_a_python_number_init():
    """``xs=None`` with ``length``; a Python-number leaf of init takes the step's dtype."""
    inp = graphc.Input(shape=(U,))

    def step(c, x):
        assert x is None
        h, k = c
        return (ops.sin(h) * 0.9 + 0.5, ops.cast(k, "float32") + ops.mean(h)), h

    (h, k), hs = ops.scan(step, (inp, 0), length=4)
    model = graphc.Model(inp, [h, k, hs])
    assert _ops_in(model).count("scan") == 1
    x = RNG.standard_normal((N, U)).astype("float32")
    got = model(x)  # one call: the outputs are not all per sample
    (eh, ek), ehs = ops.scan(step, (x, np.float32(0)), length=4)
    for g, w in zip(got, [eh, ek, ehs]):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_fori_loop_with_a_symbolic_trip_count():
    inp = graphc.Input(shape=(None, F))

    def body(i, c):
        return c + ops.take(inp, i, axis=1) * ops.cast(i + 1, "float32")

    out = ops.fori_loop(0, ops.shape(inp)[1], body, ops.zeros_like(inp[:, 0]))
    model = graphc.Model(inp, out)
    assert _ops_in(model).count("scan") == 1
    for steps in (1, 6):
        x = RNG.standard_normal((N, steps, F)).astype("float32")
        want = (x * np.arange(1, steps + 1, dtype="float32")[None, :, None]).sum(1)
        np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)


def test_fori_loop_zero_trips_returns_init():
    inp = graphc.Input(shape=(None, F))
    n = ops.shape(inp)[1]
    out = ops.fori_loop(n, n, lambda i, c: c * 2.0, ops.ones_like(inp[:, 0]))
    model = graphc.Model(inp, out)
    x = RNG.standard_normal((N, 3, F)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.ones((N, F), "float32"))


def test_python_bounds_still_unroll():
    inp = graphc.Input(shape=(F,))
    out = ops.fori_loop(0, 3, lambda i, v: ops.add(v, inp), inp)
    model = graphc.Model(inp, out)
    assert "scan" not in _ops_in(model)
    x = RNG.standard_normal((N, F)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), 4 * x, rtol=1e-6)


def test_scan_trains():
    graphc.utils.set_random_seed(0)
    inp = graphc.Input(shape=(None, F))
    _, _, hs, _ = ScanRNN()(inp)
    out = layers.Dense(1)(ops.mean(hs, axis=1))
    model = graphc.Model(inp, out)
    model.compile(optimizer=graphc.optimizers.Adam(0.02), loss="mse")
    x = RNG.standard_normal((32, 6, F)).astype("float32")
    y = np.tanh(x[:, :, :2].sum((1, 2)))[:, None].astype("float32")
    w_before = [w.copy() for w in model.get_weights()[:2]]
    hist = model.fit(x, y, epochs=10, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0] * 0.7
    assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(model.get_weights()[:2], w_before))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_exports_to_onnxruntime(reverse):
    from graphc.onnx import Runtime, export

    model, _ = _scan_model(reverse)
    runtime = Runtime(export(model))
    for steps in (2, 7):
        x = RNG.standard_normal((N, steps, F)).astype("float32")
        for g, w in zip(runtime.predict(x), model.predict(x, verbose=0)):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_fori_loop_exports_to_onnxruntime():
    from graphc.onnx import Runtime, export

    inp = graphc.Input(shape=(None, F))
    out = ops.fori_loop(
        0,
        ops.shape(inp)[1],
        lambda i, c: ops.tanh(c + ops.take(inp, i, axis=1)),
        ops.zeros_like(inp[:, 0]),
    )
    model = graphc.Model(inp, out)
    runtime = Runtime(export(model))
    x = RNG.standard_normal((N, 5, F)).astype("float32")
    np.testing.assert_allclose(runtime.predict(x), model.predict(x, verbose=0), rtol=1e-5)


def test_refusals():
    inp = graphc.Input(shape=(None, F))
    xs = ops.transpose(inp, (1, 0, 2))
    with pytest.raises(ShapeError, match="a step changed a carried state"):
        ops.scan(lambda c, x: (c + x, x), ops.zeros_like(xs[0])[:, :1], xs)
    with pytest.raises(ArgumentValueError, match="no xs to scan over and no length"):
        ops.scan(lambda c, x: (c, c), inp)
    with pytest.raises(ArgumentTypeError, match="must return a pair"):
        ops.scan(lambda c, x: c + x, ops.zeros_like(xs[0]), xs)
    with pytest.raises(ShapeError, match="a carry of 1 tensor"):
        ops.scan(lambda c, x: (c[0], x), (xs[0], xs[0]), xs)
    with pytest.raises(ShapeError, match="cond must return a bool scalar"):
        ops.while_loop(lambda c: c < 3, lambda c: c + 1, inp)


def _halving_model():
    """Halve x until its largest magnitude is below 1: a data-dependent trip count."""
    inp = graphc.Input(shape=(F,))

    def cond(x, k):
        return ops.max(ops.abs(x)) >= 1.0

    x, k = ops.while_loop(cond, lambda x, k: (x * 0.5, k + 1), (inp, 0))
    return graphc.Model(inp, [x, k]), cond


def test_while_loop_on_a_symbolic_condition_matches_eager():
    model, cond = _halving_model()
    assert "while" in _ops_in(model)
    for scale in (0.5, 3.0, 40.0):
        x = (RNG.standard_normal((1, F)) * scale).astype("float32")
        got = model(x)
        want = ops.while_loop(
            lambda x, k: np.max(np.abs(x)) >= 1.0, lambda x, k: (x * 0.5, k + 1), (x, 0)
        )
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        assert int(got[1]) == want[1]


def test_while_loop_trains_and_exports():
    from graphc.onnx import Runtime, export

    graphc.utils.set_random_seed(0)
    inp = graphc.Input(shape=(F,))
    dense = layers.Dense(F, activation="tanh")
    h = dense(inp)

    def cond(h, k):
        return ops.logical_and(ops.less(k, 3), ops.max(ops.abs(h)) > 0.05)

    h, k = ops.while_loop(cond, lambda h, k: (dense(h), k + 1), (h, 0), maximum_iterations=2)
    model = graphc.Model(inp, layers.Dense(1)(h))
    model.compile(optimizer=graphc.optimizers.Adam(0.02), loss="mse")
    x = RNG.standard_normal((32, F)).astype("float32")
    y = x[:, :1] * 0.5
    hist = model.fit(x, y, epochs=10, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < hist[0] * 0.7
    runtime = Runtime(export(model))
    np.testing.assert_allclose(runtime.predict(x), model.predict(x, verbose=0), atol=1e-5)


def test_map_over_an_unknown_leading_length():
    inp = graphc.Input(shape=(None, F))
    out = ops.transpose(
        ops.map(lambda x: ops.sum(ops.square(x), axis=-1), ops.transpose(inp, (1, 0, 2)))
    )
    model = graphc.Model(inp, out)
    assert _ops_in(model).count("scan") == 1
    x = RNG.standard_normal((N, 5, F)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), (x**2).sum(-1), rtol=1e-6)


@pytest.mark.parametrize("ext", [".keras", ".graphc"])
def test_model_files(tmp_path, ext):
    """A loop inside a custom layer is recorded again on load; one outside any layer is
    refused with the reason (its step is a Python function)."""
    model, _ = _scan_model(reverse=True)
    path = str(tmp_path / f"m{ext}")
    model.save(path)
    loaded = graphc.saving.load_model(path, custom_objects={"ScanRNN": ScanRNN})
    x = RNG.standard_normal((N, 5, F)).astype("float32")
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    inp = graphc.Input(shape=(None,))
    _, ys = ops.scan(lambda c, x: (c + x, c), ops.zeros_like(inp[:, 0]), ops.transpose(inp))
    with pytest.raises(NotImplementedError, match="applied outside a layer"):
        graphc.Model(inp, ys).save(str(tmp_path / "outside.graphc"))
