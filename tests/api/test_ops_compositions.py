"""The keras.ops functions made of registered ops (graphc/ops/composite.py): on arrays
they give NumPy's numbers; on symbolic tensors they record a graph that predicts the same,
trains, and exports to ONNX with the same outputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_reference import assert_reference_matches

import graphc
from graphc import layers, ops

R = np.random.default_rng(1)
X = R.standard_normal((3, 4)).astype("float32")
P = R.uniform(0.1, 2.0, (3, 4)).astype("float32")


# ---- eager: NumPy's numbers ----------------------------------------------------------
NUMPY = {
    "reciprocal": (lambda: ops.reciprocal(P), lambda: 1 / P),
    "log1p": (lambda: ops.log1p(P), lambda: np.log1p(P)),
    "power": (lambda: ops.power(X, 3), lambda: X**3),
    "power_frac": (lambda: ops.power(P, 1.5), lambda: P**1.5),
    "sign": (lambda: ops.sign(X), lambda: np.sign(X)),
    "greater": (lambda: ops.greater(X, 0.1), lambda: X > 0.1),
    "less_equal": (lambda: ops.less_equal(X, P), lambda: X <= P),
    "equal": (lambda: ops.equal(X, X), lambda: X == X),
    "where": (lambda: ops.where(X > 0, X, -1.0), lambda: np.where(X > 0, X, -1.0)),
    "min": (lambda: ops.min(X, axis=0), lambda: X.min(0)),
    "var": (lambda: ops.var(X, axis=1), lambda: X.var(1)),
    "std": (lambda: ops.std(X), lambda: X.std()),
    "all": (lambda: ops.all(X > -5), lambda: np.all(X > -5)),
    "squeeze": (lambda: ops.squeeze(X[None]), lambda: X),
    "stack": (lambda: ops.stack([X, P], axis=-1), lambda: np.stack([X, P], -1)),
    "tile": (lambda: ops.tile(X, (2, 3)), lambda: np.tile(X, (2, 3))),
    "flip": (lambda: ops.flip(X), lambda: np.flip(X)),
    "roll": (lambda: ops.roll(X, 2), lambda: np.roll(X, 2)),
    "diff": (lambda: ops.diff(X, n=2, axis=0), lambda: np.diff(X, n=2, axis=0)),
    "moveaxis": (lambda: ops.moveaxis(X[None], 0, 2), lambda: np.moveaxis(X[None], 0, 2)),
    "tril": (lambda: ops.tril(X), lambda: np.tril(X)),
    "one_hot": (
        lambda: ops.one_hot(np.array([2, 0, 5]), 4),
        lambda: np.eye(5, 4, dtype="float32")[[2, 0, 4]] * [[1], [1], [0]],
    ),
    "logsumexp": (lambda: ops.logsumexp(X, axis=1), lambda: np.log(np.exp(X).sum(1))),
    "log_softmax": (
        lambda: ops.log_softmax(X),
        lambda: X - np.log(np.exp(X).sum(-1, keepdims=True)),
    ),
    "trace": (lambda: ops.trace(X), lambda: np.trace(X)),
    "rot90": (lambda: ops.rot90(X, 3), lambda: np.rot90(X, 3)),
    "meshgrid_ij": (
        lambda: ops.meshgrid(X[0], X[1, :2], indexing="ij")[0],
        lambda: np.meshgrid(X[0], X[1, :2], indexing="ij")[0],
    ),
    "ones": (lambda: ops.ones((2, 3)), lambda: np.ones((2, 3), "float32")),
    "full": (lambda: ops.full((2,), 7), lambda: np.full((2,), 7, "int32")),
    "linalg.norm": (lambda: ops.linalg.norm(X, axis=1), lambda: np.linalg.norm(X, axis=1)),
}


@pytest.mark.parametrize("name", sorted(NUMPY))
def test_eager_matches_numpy(name):
    got, want = (f() for f in NUMPY[name])
    got = np.asarray(got)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(
        got.astype("float64"), np.asarray(want, "float64"), rtol=1e-5, atol=1e-6
    )


def test_submodules_are_reexports():
    assert ops.nn.relu is ops.relu and ops.nn.log_softmax is ops.log_softmax
    assert ops.numpy.stack is ops.stack and ops.core.fori_loop is ops.fori_loop
    assert set(ops.nn.__all__) <= set(ops.nn.KERAS_NAMES)


# ---- symbolic: the recorded graph predicts what the arrays give --------------------------
SYMBOLIC = {
    "celu": lambda x: ops.celu(x),
    "mish": lambda x: ops.mish(x),
    "hard_silu": lambda x: ops.hard_silu(x),
    "sparse_plus": lambda x: ops.sparse_plus(x),
    "soft_shrink": lambda x: ops.soft_shrink(x),
    "log_softmax": lambda x: ops.log_softmax(x),
    "glu": lambda x: ops.glu(x),
    "var": lambda x: ops.var(x, axis=-1, keepdims=True),
    "min": lambda x: ops.min(x, axis=-1),
    "stack": lambda x: ops.stack([x, ops.square(x)], axis=1),
    "tile": lambda x: ops.tile(x, (1, 2)),
    "split": lambda x: ops.split(x, 2, axis=-1)[1],
    "flip_roll": lambda x: ops.roll(ops.flip(x, -1), 1, axis=-1),
    "where": lambda x: ops.where(ops.greater(x, 0.0), x, ops.multiply(x, 0.1)),
    "rms_norm": lambda x: ops.rms_normalization(x),
    "expm1_log1p": lambda x: ops.log1p(ops.expm1(ops.abs(x))),
    "power": lambda x: ops.power(x, 3),
    "squeeze": lambda x: ops.squeeze(ops.expand_dims(x, 1), 1),
    "tril": lambda x: ops.tril(ops.reshape(x, (-1, 2, 2))),
    "fori_loop": lambda x: ops.fori_loop(0, 3, lambda i, v: ops.add(v, x), x),
}


def _model(fn):
    inp = graphc.Input(shape=(4,))
    return graphc.Model(inp, fn(inp))


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_symbolic_matches_eager(name):
    fn = SYMBOLIC[name]
    model = _model(fn)
    np.testing.assert_allclose(model.predict(X, verbose=0), fn(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "name", ["celu", "log_softmax", "stack", "split", "where", "var", "tile", "rms_norm"]
)
def test_onnx_export_matches(name):
    from graphc.onnx import Runtime, export

    model = _model(SYMBOLIC[name])
    proto = export(model)
    runtime = Runtime(proto)
    want = model.predict(X, verbose=0)
    np.testing.assert_allclose(runtime.predict(X), want, rtol=1e-5, atol=1e-5)
    assert_reference_matches(
        proto, runtime, X, lambda x: model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_compositions_train():
    """Gradients flow through the compositions (the VJPs of the ops they are made of)."""
    graphc.utils.set_random_seed(0)
    inp = graphc.Input(shape=(4,))
    h = layers.Dense(8)(inp)
    h = ops.mish(h)
    h = ops.concatenate(ops.split(h, 2, axis=-1)[::-1], axis=-1)
    out = layers.Dense(1)(ops.log_softmax(h))
    model = graphc.Model(inp, out)
    model.compile(optimizer="adam", loss="mse")
    x = R.standard_normal((64, 4)).astype("float32")
    y = x.sum(1, keepdims=True)
    hist = model.fit(x, y, epochs=15, verbose=0).history["loss"]
    assert hist[-1] < hist[0] * 0.8


def test_control_flow():
    assert ops.cond(True, lambda: 1, lambda: 2) == 1
    assert ops.switch(1, [lambda v: v + 1, lambda v: v * 10], 2) == 20
    assert ops.while_loop(lambda i: i < 5, lambda i: i + 2, 0) == 6
    assert ops.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s + i), (0, 0)) == (3, 3)
    carry, ys = ops.scan(lambda c, x: (c + x, c * x), np.float32(0), np.arange(4.0))
    assert carry == 6 and list(ys) == [0, 0, 2, 9]
    np.testing.assert_allclose(ops.map(lambda v: v * 2, X), X * 2)
    inp = graphc.Input(shape=(4,))
    with pytest.raises(ValueError, match="symbolic"):
        ops.cond(ops.greater(inp, 0), lambda: 1, lambda: 2)


def test_shape_errors_are_plain():
    inp = graphc.Input(shape=(None,))
    with pytest.raises(ValueError, match="known size"):
        ops.split(inp, 2, axis=1)
    with pytest.raises(ValueError, match="equal parts"):
        ops.split(X, 3, axis=1)


def test_pad():
    np.testing.assert_array_equal(
        ops.pad(X, [(1, 0), (0, 2)], constant_values=3),
        np.pad(X, [(1, 0), (0, 2)], constant_values=3),
    )
    inp = graphc.Input(shape=(4,))
    model = graphc.Model(inp, ops.pad(inp, [(0, 0), (2, 1)]))
    assert model.output_shape == (None, 7) if hasattr(model, "output_shape") else True
    np.testing.assert_array_equal(model.predict(X, verbose=0), np.pad(X, [(0, 0), (2, 1)]))
    # The pad op pads an unknown size too (the batch here), as Keras does.
    both = graphc.Model(inp, ops.pad(inp, 1))
    np.testing.assert_array_equal(both.predict(X, verbose=0), np.pad(X, 1))
    with pytest.raises(NotImplementedError, match="reflect"):
        ops.pad(X, 1, mode="reflect")
